"""The one-slot delayed state root (EIP-7862) through a real node process, over JSON-RPC.

A default L1 node (genesis/l1.json: delayed root on, automine) receives 110 pre-signed
transfers, each to a fresh address, with ``eth_sendRawTransaction``: one block each. Then:

- ``eth_getBlockByNumber(n).stateRoot`` is the root ``eth_getProof(..., n-1)`` proves against
  (keccak of ``accountProof[0]``), and block 1 repeats genesis' root;
- ``eth_getProof(addr, [], n)`` verifies (``HexaryTrie.get_from_proof``) against block n+1's
  ``stateRoot``, not block n's;
- ``eth_getBalance`` at n and at ``latest`` sees the effects of block n / the latest block.

A node started with ``--no-delayed-state-root`` gives Prague semantics: block n's
``stateRoot`` is its own post-state, and ``eth_getProof`` at n verifies against it.
"""

from __future__ import annotations

import pytest
import rlp
from eth.rlp.accounts import Account as RlpAccount
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from trie import HexaryTrie

from tests.procs import DEV_KEYS, NodeProcess, start_node, under_test

pytestmark = pytest.mark.e2e

L1_CHAIN_ID = 31337
BLOCKS = 110
GWEI = 10**9


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def fresh(i: int) -> str:
    return to_checksum_address(keccak(b"e2e-fresh" + i.to_bytes(4, "big"))[12:])


def value(i: int) -> int:
    return 10**15 + i


def signed_transfers(count: int) -> list[str]:
    """Transfer i (1-based, nonce i-1) sends value(i) to fresh(i); pre-signed, 0x hex."""
    out = []
    for i in range(1, count + 1):
        tx = {
            "chainId": L1_CHAIN_ID,
            "nonce": i - 1,
            "to": fresh(i),
            "value": value(i),
            "gas": 21_000,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        }
        out.append("0x" + bytes(Account.sign_transaction(tx, DEV_KEYS[2]).raw_transaction).hex())
    return out


def send_all(node: NodeProcess, raws: list[str]) -> None:
    """Automine: each eth_sendRawTransaction answers once its block is mined."""
    for i, raw in enumerate(raws, start=1):
        node.call("eth_sendRawTransaction", raw)
        assert int(node.call("eth_blockNumber"), 16) == i


def block(node: NodeProcess, n: int) -> dict:
    return node.call("eth_getBlockByNumber", hex(n), False)


def proof_root(node: NodeProcess, address: str, n: int | str) -> tuple[bytes, list[bytes]]:
    """(keccak of accountProof[0], the proof nodes) of eth_getProof(address, [], n)."""
    tag = hex(n) if isinstance(n, int) else n
    proof = node.call("eth_getProof", address, [], tag)
    nodes = [_b(x) for x in proof["accountProof"]]
    return keccak(nodes[0]), nodes


def verified_balance(root: bytes, address: str, nodes: list[bytes]) -> int:
    raw = HexaryTrie.get_from_proof(root, keccak(_b(address)), [rlp.decode(x) for x in nodes])
    return rlp.decode(raw, sedes=RlpAccount).balance


@pytest.fixture(scope="module")
def delayed(tmp_path_factory) -> NodeProcess:
    if under_test() == "anvil":
        pytest.skip("anvil has no delayed state root")
    node = start_node([], log_dir=tmp_path_factory.mktemp("delayed-l1"))
    try:
        send_all(node, signed_transfers(BLOCKS))
        yield node
    finally:
        node.stop()


def test_header_n_carries_post_state_of_n_minus_1(delayed):
    assert delayed.call("execute_params")["delayedStateRoot"] is True
    blocks = [block(delayed, n) for n in range(BLOCKS + 1)]
    assert all(len(b["transactions"]) == (1 if n else 0) for n, b in enumerate(blocks))
    assert blocks[1]["stateRoot"] == blocks[0]["stateRoot"]  # block 1 repeats genesis' root
    roots = []
    for n in range(BLOCKS + 1):
        root, _ = proof_root(delayed, fresh(1), n)  # any account: the proof starts at the root
        roots.append(root)
    assert "0x" + roots[0].hex() == blocks[0]["stateRoot"]
    for n in range(1, BLOCKS + 1):
        assert blocks[n]["stateRoot"] == "0x" + roots[n - 1].hex(), n
        assert blocks[n]["stateRoot"] != "0x" + roots[n].hex(), n  # never its own
    assert len(set(roots)) == BLOCKS + 1  # every block changed the state


SAMPLE = [1, 2, 3, 17, 54, 99, BLOCKS - 1]


@pytest.mark.parametrize("n", SAMPLE)
def test_proof_at_n_verifies_against_header_n_plus_1(delayed, n):
    root, nodes = proof_root(delayed, fresh(n), n)
    next_root = _b(block(delayed, n + 1)["stateRoot"])
    assert root == next_root
    assert verified_balance(next_root, fresh(n), nodes) == value(n)
    assert root != _b(block(delayed, n)["stateRoot"])
    # The same account one block earlier: absent, proven against header n's root.
    before, before_nodes = proof_root(delayed, fresh(n), n - 1)
    assert before == _b(block(delayed, n)["stateRoot"])
    assert (
        HexaryTrie.get_from_proof(
            before, keccak(_b(fresh(n))), [rlp.decode(x) for x in before_nodes]
        )
        == b""
    )


def test_balances_read_the_state_after_the_block(delayed):
    for n in SAMPLE + [BLOCKS]:
        assert int(delayed.call("eth_getBalance", fresh(n), hex(n)), 16) == value(n)
        assert int(delayed.call("eth_getBalance", fresh(n), hex(n - 1)), 16) == 0
    sender = Account.from_key(DEV_KEYS[2]).address
    assert int(delayed.call("eth_getTransactionCount", sender, "latest"), 16) == BLOCKS
    assert int(delayed.call("eth_getTransactionCount", sender, hex(BLOCKS - 1)), 16) == BLOCKS - 1
    # The latest block's own effects are visible at "latest", though no header commits them.
    assert int(delayed.call("eth_getBalance", fresh(BLOCKS), "latest"), 16) == value(BLOCKS)
    root, nodes = proof_root(delayed, fresh(BLOCKS), "latest")
    assert root != _b(block(delayed, BLOCKS)["stateRoot"])
    assert verified_balance(root, fresh(BLOCKS), nodes) == value(BLOCKS)


PRAGUE_BLOCKS = 12


def test_no_delayed_state_root_flag_restores_prague(node_factory):
    if under_test() == "anvil":
        pytest.skip("anvil has no delayed state root")
    node = node_factory("--no-delayed-state-root")
    assert node.call("execute_params")["delayedStateRoot"] is False
    send_all(node, signed_transfers(PRAGUE_BLOCKS))
    genesis_root = block(node, 0)["stateRoot"]
    previous = genesis_root
    for n in range(1, PRAGUE_BLOCKS + 1):
        header_root = _b(block(node, n)["stateRoot"])
        root, nodes = proof_root(node, fresh(n), n)
        assert root == header_root, n  # its own post-state
        assert verified_balance(header_root, fresh(n), nodes) == value(n)
        assert "0x" + header_root.hex() != previous
        previous = "0x" + header_root.hex()
    latest_root, _ = proof_root(node, fresh(1), "latest")
    assert latest_root == _b(block(node, PRAGUE_BLOCKS)["stateRoot"])
