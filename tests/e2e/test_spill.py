"""``--spill-after``: the in-memory node moves older writes to a temporary SQLite file and
still answers everything about every block.

A node started with a tiny ``--spill-after`` sends a transfer at block 1, takes a snapshot,
mines 2 000 empty blocks in one ``anvil_mine`` (hundreds of moves to the file), then:
balances at block 0 and 1, the proof of the account at block 1 (checked against the root
block 2 carries: the state root is delayed one slot), block 1's header and receipt are what
they were; the file is held open by the node but has no name in the temporary directory;
``evm_revert`` to the snapshot goes back to block 1 over keys that live in the file, and
mining goes on; a SIGTERM leaves the temporary directory empty.
"""

from __future__ import annotations

import os

import pytest
from eth_utils import keccak, to_checksum_address

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from tests.procs import sign_transfer, start_node

pytestmark = pytest.mark.e2e

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 1)[0]
KEY = "0x" + DEV.private_key.to_bytes().hex()
RECIPIENT = to_checksum_address("0x" + "5e" * 20)
BLOCKS = 2_000


def open_deleted_files(pid: int, directory: str) -> list[str]:
    fd_dir = f"/proc/{pid}/fd"
    targets = []
    for fd in os.listdir(fd_dir):
        try:
            targets.append(os.readlink(f"{fd_dir}/{fd}"))
        except OSError:  # closed meanwhile
            continue
    return [t for t in targets if t.startswith(directory)]


def test_every_block_stays_readable_after_spills(tmp_path, monkeypatch):
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp_path))
    node = start_node(["--spill-after", "64KiB"])
    try:
        raw, tx_hash = sign_transfer(KEY, 0, RECIPIENT, 1234)
        node.call("eth_sendRawTransaction", raw)
        receipt = node.wait_receipt(tx_hash)
        assert int(receipt["blockNumber"], 16) == 1
        block1 = node.call("eth_getBlockByNumber", "0x1", False)
        snapshot = node.call("evm_snapshot")

        node.call("anvil_mine", hex(BLOCKS))
        assert int(node.call("eth_blockNumber"), 16) == 1 + BLOCKS

        opened = open_deleted_files(node.pid, str(tmp_path))
        assert opened, "the node moved older writes to a file in SQLITE_TMPDIR"
        assert all(name.endswith("(deleted)") for name in opened)
        assert list(tmp_path.iterdir()) == []

        assert node.call("eth_getBalance", RECIPIENT, "0x0") == "0x0"
        assert int(node.call("eth_getBalance", RECIPIENT, "0x1"), 16) == 1234
        assert node.call("eth_getBlockByNumber", "0x1", False) == block1
        assert node.call("eth_getTransactionReceipt", tx_hash) == receipt
        proof = node.call("eth_getProof", RECIPIENT, [], "0x1")
        assert int(proof["balance"], 16) == 1234
        first = bytes.fromhex(proof["accountProof"][0][2:])
        # The L1 genesis delays the state root one slot (EIP-7862): block 2 carries block 1's.
        block2 = node.call("eth_getBlockByNumber", "0x2", False)
        assert "0x" + keccak(first).hex() == block2["stateRoot"]

        assert node.call("evm_revert", snapshot) is True
        assert int(node.call("eth_blockNumber"), 16) == 1
        assert int(node.call("eth_getBalance", RECIPIENT, "latest"), 16) == 1234
        raw, tx_hash = sign_transfer(KEY, 1, RECIPIENT, 1)
        node.call("eth_sendRawTransaction", raw)
        assert int(node.wait_receipt(tx_hash)["blockNumber"], 16) == 2
        assert int(node.call("eth_getBalance", RECIPIENT, "latest"), 16) == 1235
    finally:
        assert node.stop() == 0
    assert list(tmp_path.iterdir()) == []
