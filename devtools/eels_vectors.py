#!/usr/bin/env python3
"""The project's EXECUTE vector set (NR-EXECUTE v1.2 "Verifier diversity"), with EELS's
full-state execution as the oracle.

Builds L2 blocks with the node (Prague and Osaka L2 chains), imports each into an EELS
``BlockChain`` that holds the *whole* state (not a witness) with EELS's own
``state_transition``, and writes EXECUTE inputs with the verdict the oracle gives:

- every block the node built: EELS full-state accepts it; the vector expects valid with the
  header's words (post-state root, number, gas used, base fee, block hash);
- header mutations (post-state root, gas used, receipts root): EELS full-state refuses the
  block with that header; the vector expects the reason of the field (10, 8, 9);
- a transaction whose nonce is too high: EELS full-state refuses the block; reason 6;
- the witness without a node or code the block reads: reason 7 (by construction: a full
  state has every node).

Both verifiers (py-evm and EELS from the witness) must give each vector's verdict
(``tests/unit/test_verifiers_vectors.py``). Usage::

    .venv/bin/python devtools/eels_vectors.py tests/unit/data/execute_vectors.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import rlp  # noqa: E402
from eth.constants import CREATE_CONTRACT_ADDRESS  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402

from devtools.execute_inputs import encoded  # noqa: E402
from devtools.l2_blocks import L2Builder, contract_address, l2_genesis  # noqa: E402
from node.chain import Chain  # noqa: E402
from node.fork.schedule import ForkSchedule  # noqa: E402
from precompiles.execute_wire import ExecuteInput, Reason  # noqa: E402

FORMAT = 1


def initcode(runtime: bytes) -> bytes:
    """Creation code that returns ``runtime``."""
    n = len(runtime)
    return bytes([0x60, n, 0x60, 10, 0x5F, 0x39, 0x60, n, 0x5F, 0xF3]) + runtime


def push20(address: bytes) -> bytes:
    return b"\x73" + address


# Runtime codes (raw EVM; each ends in STOP).
STORE_CALLDATA = bytes.fromhex("6020355f35555f3560025f35015500")  # s[cd0]=cd1; s[cd0+2]=cd0
CLEAR_SLOT = bytes.fromhex("5f5f355500")  # s[cd0] = 0
LOGGER = bytes.fromhex("60ff5f5260205fa0") + b"\x00"  # log0 of one word
REVERTER = bytes.fromhex("60015f5560205ffd")  # sstore then revert
BLOCKHASHER = bytes.fromhex("6001430340") + bytes.fromhex("5f5500")  # s[0]=blockhash(n-1)


class EelsFullState:
    """EELS's ``BlockChain`` of one fork over the whole state of a node chain's genesis."""

    def __init__(self, fork: str, chain: Chain, genesis) -> None:
        import importlib

        base = f"ethereum.forks.{fork}"
        self.fork = importlib.import_module(f"{base}.fork")
        self.blocks = importlib.import_module(f"{base}.blocks")
        self.state_mod = importlib.import_module(f"{base}.state")
        self.trie = importlib.import_module(f"{base}.trie")
        Account = importlib.import_module(f"{base}.fork_types").Account  # noqa: N806
        from ethereum_rlp import rlp as eels_rlp
        from ethereum_types.bytes import Bytes32
        from ethereum_types.numeric import U64, U256, Uint

        self.rlp = eels_rlp
        state = self.state_mod.State()
        for address, account in genesis.alloc.items():
            self.state_mod.set_account(
                state, address, Account(Uint(account.nonce), U256(account.balance), account.code)
            )
            for slot, value in account.storage.items():
                self.state_mod.set_storage(
                    state, address, Bytes32(slot.to_bytes(32, "big")), U256(value)
                )
        header = eels_rlp.decode_to(self.blocks.Header, rlp.encode(chain.genesis_header))
        if self.state_mod.state_root(state) != header.state_root:
            raise ValueError("EELS and the node disagree on the genesis state root")
        genesis_block = self.blocks.Block(header=header, transactions=(), ommers=(), withdrawals=())
        self.chain = self.fork.BlockChain(
            blocks=[genesis_block], state=state, chain_id=U64(chain.chain_id)
        )

    def check(self, block_rlp: bytes, keep: bool) -> str | None:
        """None if EELS accepts the block (kept when ``keep``), else its refusal."""
        block = self.rlp.decode_to(self.blocks.Block, block_rlp)
        state = self.chain.state
        copy_trie = self.trie.copy_trie
        saved = self.state_mod.State(
            _main_trie=copy_trie(state._main_trie),
            _storage_tries={a: copy_trie(t) for a, t in state._storage_tries.items()},
        )
        blocks = list(self.chain.blocks)
        try:
            self.fork.state_transition(self.chain, block)
        except Exception as exc:  # noqa: BLE001 - EELS refuses with several exception types
            self.chain.state, self.chain.blocks = saved, blocks
            return f"{type(exc).__name__}: {exc}"
        if not keep:
            self.chain.state, self.chain.blocks = saved, blocks
        return None


def _valid(inp: ExecuteInput, header) -> dict:
    return {
        "valid": True,
        "postStateRoot": "0x" + header.state_root.hex(),
        "number": header.block_number,
        "gasUsed": header.gas_used,
        "baseFeePerGas": header.base_fee_per_gas,
        "blockHash": "0x" + header.hash.hex(),
    }


def block_rlp(block, transactions: list | None = None, **changes) -> bytes:
    """``block``'s RLP (header, body, no ommers, no withdrawals) with header ``changes`` (and
    other ``transactions``)."""
    header = rlp.decode(rlp.encode(block.header.copy(**changes) if changes else block.header))
    txs = block.transactions if transactions is None else transactions
    assert not block.uncles and not block.withdrawals
    return rlp.encode([header, [rlp.decode(rlp.encode(tx)) for tx in txs], [], []])


def _strip(witness: bytes, drop: bytes) -> bytes:
    headers, codes, state, keys = rlp.decode(witness)
    codes = [c for c in codes if keccak(c) != drop]
    state = [s for s in state if keccak(s) != drop]
    return rlp.encode([headers, codes, state, keys])


class Generator:
    def __init__(self, fork: str) -> None:
        self.fork = fork
        genesis = replace(l2_genesis(), fork_schedule=ForkSchedule.pinned(fork))
        self.b = L2Builder(chain=Chain(genesis))
        self.oracle = EelsFullState(fork, self.b.chain, genesis)
        self.vectors: list[dict] = []

    def add(self, name: str, inp: ExecuteInput, expect: dict) -> None:
        # witness entries in a fixed order (the node's order follows set iteration)
        inp = replace(inp, witness=rlp.encode([sorted(part) for part in rlp.decode(inp.witness)]))
        self.vectors.append(
            {
                "name": f"{self.fork}/{name}",
                "fork": self.fork,
                "input": "0x" + encoded(inp).hex(),
                "expect": expect,
            }
        )

    def block(self, name: str, txs: list, mutate: bool = False) -> tuple:
        built = self.b.build(txs)
        block = built.block
        inp = self.b.input_for(block)
        if mutate:
            for field, changes, reason in (
                ("post_state_root", {"state_root": b"\x42" * 32}, Reason.POST_STATE_ROOT),
                ("gas_used", {"gas_used": block.header.gas_used + 1}, Reason.GAS_USED),
                ("receipts_root", {"receipt_root": b"\x43" * 32}, Reason.RECEIPTS_ROOT),
            ):
                refusal = self.oracle.check(block_rlp(block, **changes), keep=False)
                assert refusal is not None, f"EELS accepted {name} with a wrong {field}"
                value = next(iter(changes.values()))
                self.add(
                    f"{name}/wrong-{field}",
                    replace(inp, **{field: value}),
                    {"valid": False, "reason": int(reason)},
                )
        refusal = self.oracle.check(block_rlp(block), keep=True)
        assert refusal is None, f"EELS full-state refuses the node's block {name}: {refusal}"
        self.add(name, inp, _valid(inp, block.header))
        return built, inp

    def run(self) -> list[dict]:
        b = self.b
        self.block(
            "transfers", [b.tx(0, value=10**15), b.tx(1, value=7), b.legacy_tx(2)], mutate=True
        )
        self.block("empty", [])
        n0 = b.next_nonce(0)
        b.nonces[b.address(0)] = n0  # the deploys below take n0 .. n0 + 4
        store, clear, logger, reverter, hasher = (
            contract_address(b.address(0), n0 + i) for i in range(5)
        )
        deploys = [
            b.tx(0, to=CREATE_CONTRACT_ADDRESS, data=initcode(code), gas=200_000)
            for code in (STORE_CALLDATA, CLEAR_SLOT, LOGGER, REVERTER, BLOCKHASHER)
        ]
        self.block("deploys", deploys, mutate=True)
        writes = [
            b.tx(i % 5, to=store, data=(i + 1).to_bytes(32, "big") + b"\x07" * 32, gas=100_000)
            for i in range(8)
        ]
        self.block("storage-writes", writes, mutate=True)
        _, inp = self.block(
            "clear-log-revert-blockhash",
            [
                b.tx(0, to=clear, data=(1).to_bytes(32, "big"), gas=100_000),
                b.tx(1, to=logger, gas=100_000),
                b.tx(2, to=hasher, gas=100_000),
                b.tx(3, to=store, data=(3).to_bytes(32, "big") + bytes(32), gas=100_000),
            ],
        )
        reverting = b.tx(4, to=reverter, gas=100_000)
        built = b.build([reverting], expect_all=False)
        assert built.receipts[0].status == 0
        refusal = self.oracle.check(block_rlp(built.block), keep=True)
        assert refusal is None, refusal
        self.add("reverted-tx", b.input_for(built.block), _valid(None, built.block.header))
        last = b.build(
            [b.tx(6, to=store, data=(9).to_bytes(32, "big") + b"\x01" * 32, gas=100_000)]
        )
        inp = b.input_for(last.block)
        # the same sender (in the witness) with a nonce ahead: EELS full state refuses it
        real = last.block.transactions[0]
        ahead = b.tx(6, to=store, data=real.data, gas=real.gas, nonce=real.nonce + 5)
        bad_body = rlp.encode([rlp.decode(rlp.encode(ahead))])
        refusal = self.oracle.check(block_rlp(last.block, [ahead]), keep=False)
        assert refusal is not None
        self.add(
            "nonce-ahead",
            replace(inp, transactions=bad_body),
            {"valid": False, "reason": int(Reason.INVALID_TRANSACTION)},
        )
        # the witness without the store contract's code, then without the state root node
        self.add(
            "witness-without-code",
            replace(inp, witness=_strip(inp.witness, keccak(STORE_CALLDATA))),
            {"valid": False, "reason": int(Reason.WITNESS_INCOMPLETE)},
        )
        self.add(
            "witness-without-root",
            replace(inp, witness=_strip(inp.witness, inp.pre_state_root)),
            {"valid": False, "reason": int(Reason.WITNESS_INCOMPLETE)},
        )
        assert self.oracle.check(block_rlp(last.block), keep=True) is None
        self.add("storage-write-after", inp, _valid(inp, last.block.header))
        return self.vectors


def generate() -> dict:
    vectors = []
    for fork in ("prague", "osaka"):
        vectors += Generator(fork).run()
    return {
        "format": FORMAT,
        "oracle": "ethereum-execution 2.20.0 full-state state_transition",
        "vectors": vectors,
    }


def selftest_subset(doc: dict) -> dict:
    """The vectors the node's start-up self-test runs (``precompiles.verifiers.selftest``)."""
    from precompiles.verifiers.selftest import SELFTEST_NAMES

    chosen = [v for v in doc["vectors"] if v["name"] in SELFTEST_NAMES]
    assert len(chosen) == len(SELFTEST_NAMES)
    return {**doc, "vectors": chosen}


def main() -> int:
    from precompiles.verifiers.selftest import SELFTEST_VECTORS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument(
        "--selftest", type=Path, default=SELFTEST_VECTORS, help="where the self-test subset goes"
    )
    args = parser.parse_args()
    doc = generate()
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(doc['vectors'])} vectors, {args.path.stat().st_size} bytes -> {args.path}")
    args.selftest.write_text(json.dumps(selftest_subset(doc), indent=1) + "\n")
    print(f"self-test subset -> {args.selftest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
