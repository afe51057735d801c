"""State files: ``--dump-state``/``anvil_dumpState`` and ``--load-state``/``anvil_loadState``.

- A node's chain dumped on SIGTERM (``--dump-state PATH``) and with ``anvil_dumpState`` loads
  into a fresh node (``--load-state PATH``, and ``anvil_loadState`` on a running one) with
  the same head number and hash, genesis, balances, nonces, code, storage (slots written by
  ``anvil_setStorageAt`` too, even after the last block), receipts, proofs and pending pool;
  the loaded node mines on from the dumped head.
- The file is one JSON document with ``format``/``version`` keys, written atomically (no
  stray ``*.tmp`` next to it); ``anvil_dumpState`` is the same document gzip-compressed.
- A dump from another chain id (or another genesis) is refused with -32602 and a clear
  message, and changes nothing; ``--load-state`` of it exits non-zero with the reason.
- Corrupt input (not JSON, wrong format or version, malformed entries, truncated files) is
  refused with a clear error, never a crash.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address

from devtools.contracts import load
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from tests.procs import ROOT, NodeProcess, free_port, rpc, sign_transfer

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
GWEI = 10**9
ETH = 10**18
STATE_FORMAT = "native-devnet-state"
TIMESTAMP_READER = "0x4260005260206000f3"  # returns block.timestamp

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
DEV_KEYS = ["0x" + a.private_key.to_bytes().hex() for a in DEV]
DEV_ADDRESSES = [to_checksum_address(a.address) for a in DEV]
PLAIN = to_checksum_address(keccak(b"state-files-plain")[12:])
EDITED = to_checksum_address(keccak(b"state-files-edited")[12:])
WORD_99 = "0x" + "00" * 31 + "99"
WORD_42 = "0x" + "00" * 31 + "2a"
WORD_07 = "0x" + "00" * 31 + "07"


def q(value: str) -> int:
    return int(value, 16)


def error_of(node: NodeProcess, method: str, *params) -> dict:
    answer = rpc(node.url, method, list(params))
    assert "error" in answer, f"{method} should fail, answered {answer.get('result')!r}"
    return answer["error"]


def run_refused(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Start a node that must refuse to start; return its exit status and output."""
    env = dict(os.environ)
    env.setdefault("ETH_HASH_BACKEND", "pysha3")
    return subprocess.run(
        [sys.executable, "-m", "rpc.cli", "--port", str(free_port()), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def blob_document(blob: str) -> dict:
    """The document inside an ``anvil_dumpState`` answer (gzip-compressed JSON, hex)."""
    raw = bytes.fromhex(blob.removeprefix("0x"))
    assert raw[:2] == b"\x1f\x8b", "anvil_dumpState answers gzip-compressed JSON"
    return json.loads(gzip.decompress(raw))


def hex_of(data: bytes) -> str:
    return "0x" + data.hex()


def build_state(node: NodeProcess) -> dict:
    """Transfers, a contract, edited accounts and storage, one pending transaction."""
    assert node.call("anvil_getAutomine") is False
    transfers = []
    for n in range(3):
        raw, tx_hash = sign_transfer(DEV_KEYS[1], n, PLAIN, 10**15 + n)
        node.call("eth_sendRawTransaction", raw)
        transfers.append(tx_hash)
    deploy = node.call(
        "eth_sendTransaction",
        {
            "from": DEV_ADDRESSES[2],
            "data": load("Counter").deploy_data(["uint256"], [5]),
            "gas": hex(1_000_000),
        },
    )
    node.call("evm_mine")
    contract = node.call("eth_getTransactionReceipt", deploy)["contractAddress"]
    assert contract is not None
    node.call("anvil_setStorageAt", contract, "0x5", WORD_99)
    node.call("anvil_setCode", EDITED, TIMESTAMP_READER)
    node.call("anvil_setNonce", EDITED, "0x7")
    node.call("anvil_setBalance", EDITED, hex(5 * ETH))
    node.call("anvil_setStorageAt", EDITED, "0x1", WORD_42)
    node.call("evm_mine")
    node.call("evm_mine")
    # Edits after the last block live only in the head's post-state: they must travel too.
    node.call("anvil_setStorageAt", contract, "0x6", WORD_07)
    node.call("anvil_setBalance", PLAIN, hex(3 * ETH))
    raw, pending = sign_transfer(DEV_KEYS[3], 0, PLAIN, 1)
    node.call("eth_sendRawTransaction", raw)
    assert node.call("txpool_status") == {"pending": "0x1", "queued": "0x0"}
    return {"contract": contract, "mined": [*transfers, deploy], "pending": pending}


def observe(node: NodeProcess, built: dict) -> dict:
    contract = built["contract"]
    accounts = [*DEV_ADDRESSES[:4], PLAIN, EDITED, contract]
    return {
        "head": node.call("eth_getBlockByNumber", "latest", False),
        "genesis": node.call("eth_getBlockByNumber", "0x0", False),
        "block1": node.call("eth_getBlockByNumber", "0x1", True),
        "balances": [node.call("eth_getBalance", a, "latest") for a in accounts],
        "nonces": [node.call("eth_getTransactionCount", a, "latest") for a in accounts],
        "code": [node.call("eth_getCode", a, "latest") for a in (contract, EDITED, PLAIN)],
        "storage": [
            node.call("eth_getStorageAt", contract, "0x0", "latest"),
            node.call("eth_getStorageAt", contract, "0x5", "latest"),
            node.call("eth_getStorageAt", contract, "0x6", "latest"),
            node.call("eth_getStorageAt", EDITED, "0x1", "latest"),
        ],
        "proof": node.call("eth_getProof", contract, ["0x0", "0x5", "0x6"], "latest"),
        "receipts": [node.call("eth_getTransactionReceipt", h) for h in built["mined"]],
        "pool": node.call("txpool_content"),
        "pending_tx": node.call("eth_getTransactionByHash", built["pending"]),
    }


def check_expected_values(seen: dict, built: dict) -> None:
    """The state ``build_state`` made, in exact values."""
    assert q(seen["head"]["number"]) == 3
    assert seen["balances"][4] == hex(3 * ETH)
    assert seen["balances"][5] == hex(5 * ETH)
    assert seen["nonces"][1] == "0x3"
    assert seen["nonces"][2] == "0x1"
    assert seen["nonces"][3] == "0x0"
    assert seen["nonces"][5] == "0x7"
    assert seen["code"][1] == TIMESTAMP_READER
    assert seen["code"][2] == "0x"
    assert seen["code"][0] == load("Counter").deployed_bytecode
    assert seen["storage"][1:] == [WORD_99, WORD_07, WORD_42]
    assert all(r is not None and r["blockNumber"] == "0x1" for r in seen["receipts"])
    assert seen["pending_tx"]["blockNumber"] is None
    assert seen["pending_tx"]["hash"] == built["pending"]


def mines_on(node: NodeProcess, seen: dict, built: dict) -> None:
    """The loaded node builds block head+1 on the dumped head, with the pending tx."""
    node.call("evm_mine")
    block = node.call("eth_getBlockByNumber", "latest", False)
    assert q(block["number"]) == q(seen["head"]["number"]) + 1
    assert block["parentHash"] == seen["head"]["hash"]
    assert block["transactions"] == [built["pending"]]
    assert q(node.call("eth_getBalance", PLAIN, "latest")) == 3 * ETH + 1


# --------------------------------------------------------------------------- round trips


def test_dump_on_sigterm_and_dump_rpc_load_into_fresh_nodes(node_factory, tmp_path):
    state_dir = tmp_path / "state"
    path = state_dir / "chain.json"
    source = node_factory("--no-mining", "--dump-state", str(path))
    built = build_state(source)
    expected = observe(source, built)
    check_expected_values(expected, built)
    blob = source.call("anvil_dumpState")
    assert source.stop(signal.SIGTERM) == 0

    # The file: one JSON document with format and version, written atomically.
    assert sorted(p.name for p in state_dir.iterdir()) == ["chain.json"]
    doc = json.loads(path.read_text())
    assert doc["format"] == STATE_FORMAT
    assert doc["version"] == 1
    assert doc["chainId"] == CHAIN_ID
    assert doc["genesisHash"] == expected["genesis"]["hash"]
    assert doc["head"]["number"] == 3
    assert doc["head"]["hash"] == expected["head"]["hash"]
    assert blob_document(blob) == doc  # nothing happened between the two dumps

    # --load-state PATH
    loaded = node_factory("--no-mining", "--load-state", str(path))
    assert observe(loaded, built) == expected
    mines_on(loaded, expected, built)

    # anvil_loadState on a running fresh node, with a data directory: it also persists.
    data_dir = tmp_path / "fresh-chain"
    fresh = node_factory("--no-mining", "--data-dir", str(data_dir))
    assert fresh.call("eth_blockNumber") == "0x0"
    assert fresh.call("anvil_loadState", blob) is True
    assert observe(fresh, built) == expected
    assert fresh.stop(signal.SIGTERM) == 0
    resumed = node_factory("--no-mining", "--data-dir", str(data_dir))
    assert observe(resumed, built) == expected
    mines_on(resumed, expected, built)


def test_load_state_file_is_plain_or_gzip(node_factory, tmp_path):
    """``--load-state`` takes the ``anvil_dumpState`` bytes (gzip) as well as the JSON file."""
    source = node_factory("--no-mining")
    built = build_state(source)
    expected = observe(source, built)
    gz = tmp_path / "chain.json.gz"
    gz.write_bytes(bytes.fromhex(source.call("anvil_dumpState")[2:]))
    loaded = node_factory("--no-mining", "--load-state", str(gz))
    assert observe(loaded, built) == expected


def test_dump_of_an_evolving_chain_loads_at_its_moment(node_factory):
    """A dump is the state at the moment of the call; later blocks are not in it."""
    source = node_factory()
    raw, first = sign_transfer(DEV_KEYS[4], 0, PLAIN, 11)
    source.call("eth_sendRawTransaction", raw)
    head = source.call("eth_getBlockByNumber", "latest", False)
    blob = source.call("anvil_dumpState")
    raw, second = sign_transfer(DEV_KEYS[4], 1, PLAIN, 22)
    source.call("eth_sendRawTransaction", raw)
    assert source.call("eth_blockNumber") == "0x2"

    target = node_factory()
    assert target.call("anvil_loadState", blob) is True
    assert target.call("eth_getBlockByNumber", "latest", False) == head
    assert target.call("eth_getTransactionReceipt", first)["blockHash"] == head["hash"]
    assert target.call("eth_getTransactionReceipt", second) is None
    assert q(target.call("eth_getBalance", PLAIN, "latest")) == 11
    # The second transfer is valid on the loaded chain too and mines on its head.
    assert target.call("eth_sendRawTransaction", raw) == second
    receipt = target.call("eth_getTransactionReceipt", second)
    assert receipt["blockNumber"] == "0x2"
    assert target.call("eth_getBlockByNumber", "0x2", False)["parentHash"] == head["hash"]


# --------------------------------------------------------------------------- another chain


def test_dump_from_another_chain_is_refused_and_changes_nothing(node_factory, tmp_path):
    other = node_factory("--no-mining", "--chain-id", "999")
    other.call("evm_mine")
    foreign = other.call("anvil_dumpState")
    assert blob_document(foreign)["chainId"] == 999
    other_genesis = node_factory("--no-mining", "--balance", "5")
    other_genesis.call("evm_mine")
    foreign_genesis = other_genesis.call("anvil_dumpState")

    target = node_factory()
    raw, tx_hash = sign_transfer(DEV_KEYS[5], 0, PLAIN, 5)
    target.call("eth_sendRawTransaction", raw)
    target.call("anvil_setStorageAt", PLAIN, "0x3", WORD_42)
    before = (
        target.call("eth_getBlockByNumber", "latest", False),
        target.call("eth_getBalance", PLAIN, "latest"),
        target.call("eth_getStorageAt", PLAIN, "0x3", "latest"),
        target.call("eth_getTransactionReceipt", tx_hash),
        target.call("eth_chainId"),
    )

    error = error_of(target, "anvil_loadState", foreign)
    assert error["code"] == -32602
    assert error["message"] == "cannot load state: the stored chain has chain id 999, not 31337"
    error = error_of(target, "anvil_loadState", foreign_genesis)
    assert error["code"] == -32602
    assert "cannot load state: the data directory holds a chain with genesis" in error["message"]

    after = (
        target.call("eth_getBlockByNumber", "latest", False),
        target.call("eth_getBalance", PLAIN, "latest"),
        target.call("eth_getStorageAt", PLAIN, "0x3", "latest"),
        target.call("eth_getTransactionReceipt", tx_hash),
        target.call("eth_chainId"),
    )
    assert after == before
    raw, tx_hash = sign_transfer(DEV_KEYS[5], 1, PLAIN, 6)
    target.call("eth_sendRawTransaction", raw)
    assert target.call("eth_getTransactionReceipt", tx_hash)["blockNumber"] == "0x2"

    # The same file on the command line: the process exits non-zero and says why.
    path = tmp_path / "foreign.json.gz"
    path.write_bytes(bytes.fromhex(foreign[2:]))
    refused = run_refused("--load-state", str(path))
    assert refused.returncode == 2
    assert "native-devnet: the stored chain has chain id 999, not 31337" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_refused_load_state_leaves_the_data_dir_empty(node_factory, tmp_path):
    other = node_factory("--no-mining", "--chain-id", "999")
    other.call("evm_mine")
    path = tmp_path / "foreign.json.gz"
    path.write_bytes(bytes.fromhex(other.call("anvil_dumpState")[2:]))
    data_dir = tmp_path / "chain"
    refused = run_refused("--data-dir", str(data_dir), "--load-state", str(path))
    assert refused.returncode == 2
    assert "the stored chain has chain id 999, not 31337" in refused.stderr
    node = node_factory("--data-dir", str(data_dir))  # today: refused, chain id 999 stored
    assert node.call("eth_blockNumber") == "0x0"


# --------------------------------------------------------------------------- corrupt input


def test_corrupt_state_is_refused_with_a_clear_error(node_factory, tmp_path):
    source = node_factory("--no-mining")
    source.call("evm_mine")
    doc = blob_document(source.call("anvil_dumpState"))

    target = node_factory("--no-mining")
    target.call("evm_mine")
    before = target.call("eth_getBlockByNumber", "latest", False)
    cases = {
        hex_of(b"not json at all"): "cannot load state: state is not (gzip-compressed) JSON",
        hex_of(b"[1, 2]"): f"cannot load state: not a {STATE_FORMAT} document",
        hex_of(
            json.dumps(dict(doc, format="anvil")).encode()
        ): f"cannot load state: not a {STATE_FORMAT} document",
        hex_of(
            json.dumps(dict(doc, version=2)).encode()
        ): "cannot load state: unsupported state version 2, want 1",
        hex_of(
            json.dumps(dict(doc, entries={"a": 1})).encode()
        ): "cannot load state: state document has no entries list",
        hex_of(
            json.dumps(dict(doc, entries=[["0xzz", "0x00"]])).encode()
        ): "cannot load state: malformed entry",
        hex_of(
            json.dumps(dict(doc, entries=[["0x00"]])).encode()
        ): "cannot load state: malformed entry",
        hex_of(
            json.dumps(dict(doc, entries=[])).encode()
        ): "cannot load state: the state holds no chain",
        hex_of(
            json.dumps(doc).encode()[: len(json.dumps(doc)) // 2]
        ): "cannot load state: state is not (gzip-compressed) JSON",
    }
    for blob, message in cases.items():
        error = error_of(target, "anvil_loadState", blob)
        assert error["code"] == -32602, (message, error)
        assert error["message"].startswith(message), error
    assert error_of(target, "anvil_loadState", "0xzz")["code"] == -32602
    assert error_of(target, "anvil_loadState")["code"] == -32602
    assert target.call("eth_getBlockByNumber", "latest", False) == before
    target.call("evm_mine")
    assert target.call("eth_blockNumber") == "0x2"

    # On the command line: exit status 2 and the reason, no traceback.
    files = {
        "garbage.json": (b"\x00\x01garbage", "state is not (gzip-compressed) JSON"),
        "truncated.json": (json.dumps(doc).encode()[:1000], "state is not (gzip-compressed) JSON"),
        "version.json": (json.dumps(dict(doc, version=9)).encode(), "unsupported state version 9"),
    }
    for name, (content, message) in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        refused = run_refused("--load-state", str(path))
        assert refused.returncode == 2, (name, refused.stderr)
        assert f"native-devnet: {message}" in refused.stderr, (name, refused.stderr)
        assert "Traceback" not in refused.stderr
    missing = run_refused("--load-state", str(tmp_path / "absent.json"))
    assert missing.returncode == 2
    assert "native-devnet: cannot read" in missing.stderr


def damaged_gzip_blobs(node: NodeProcess) -> dict[str, bytes]:
    raw = bytes.fromhex(node.call("anvil_dumpState")[2:])
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    return {"truncated": raw[: len(raw) // 2], "bit-flipped": bytes(flipped)}


def test_damaged_gzip_state_over_rpc_is_invalid_params(node_factory):
    node = node_factory("--no-mining")
    node.call("evm_mine")
    head = node.call("eth_getBlockByNumber", "latest", False)
    for name, blob in damaged_gzip_blobs(node).items():
        error = error_of(node, "anvil_loadState", hex_of(blob))
        assert error["code"] == -32602, (name, error)
        assert error["message"].startswith("cannot load state"), (name, error)
    assert node.call("eth_getBlockByNumber", "latest", False) == head


def test_damaged_gzip_state_file_exits_with_a_clear_error(node_factory, tmp_path):
    node = node_factory("--no-mining")
    node.call("evm_mine")
    for name, blob in damaged_gzip_blobs(node).items():
        path = tmp_path / f"{name}.json.gz"
        path.write_bytes(blob)
        refused = run_refused("--load-state", str(path))
        assert "Traceback" not in refused.stderr, (name, refused.stderr[-400:])
        assert refused.returncode == 2, name
        assert "native-devnet: state is not (gzip-compressed) JSON" in refused.stderr


def test_state_missing_chain_records_is_invalid_params(node_factory):
    node = node_factory("--no-mining")
    node.call("evm_mine")
    doc = blob_document(node.call("anvil_dumpState"))
    chain_id_key = hex_of(b"native-devnet:chain-id")
    doc["entries"] = [e for e in doc["entries"] if e[0] != chain_id_key]
    error = error_of(node, "anvil_loadState", hex_of(json.dumps(doc).encode()))
    assert error["code"] == -32602, error
    assert error["message"].startswith("cannot load state"), error


def test_dump_state_file_replaces_an_old_one_atomically(node_factory, tmp_path):
    """A second run overwrites the file in one rename; no temporary file stays behind."""
    state_dir = tmp_path / "state"
    path = state_dir / "chain.json"
    first = node_factory("--dump-state", str(path))
    raw, _ = sign_transfer(DEV_KEYS[6], 0, PLAIN, 1)
    first.call("eth_sendRawTransaction", raw)
    assert first.stop(signal.SIGTERM) == 0
    assert json.loads(path.read_text())["head"]["number"] == 1
    old_inode = path.stat().st_ino

    second = node_factory("--load-state", str(path), "--dump-state", str(path))
    raw, _ = sign_transfer(DEV_KEYS[6], 1, PLAIN, 2)
    second.call("eth_sendRawTransaction", raw)
    head = second.call("eth_getBlockByNumber", "latest", False)
    assert second.stop(signal.SIGTERM) == 0
    doc = json.loads(path.read_text())
    assert (doc["format"], doc["version"]) == (STATE_FORMAT, 1)
    assert (doc["head"]["number"], doc["head"]["hash"]) == (2, head["hash"])
    assert path.stat().st_ino != old_inode  # a new file renamed into place
    assert sorted(p.name for p in state_dir.iterdir()) == ["chain.json"]
    assert not list(Path(state_dir).glob("*.tmp"))
