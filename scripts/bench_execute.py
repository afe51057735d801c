"""Benchmark EXECUTE's stateless re-execution against py-evm's stateful block import.

In process, no servers. On ``genesis/l2.json`` (with the node's ten dev accounts funded, as
``native-devnet --genesis genesis/l2.json --accounts 10`` does) an ``node.chain.Chain``
builds:

1. a setup block deploying a few ``Counter`` contracts;
2. a block of ``--txs`` ETH transfers (default 200) from the ten dev keys;
3. a block of ``--writes`` ``Counter.increment()`` calls (default 100), round-robin over the
   counters: one SLOAD + SSTORE + LOG per transaction.

For blocks 2 and 3 it measures, each as the median of ``--repeat`` runs:

- ``execute_s``: EXECUTE's verification as the precompile runs it after its gas charge —
  ``decode_execute_input`` of the ABI input, then ``precompiles.execute.verify`` (witness
  parsing, hash-linked headers, re-execution on a witness-only database, root checks). The
  verdict cache is not involved. Both witness forms are timed (canonical RLP, and the JSON
  object ``debug_executionWitness`` returns).
- ``verifier_s``: the same EXECUTE verification with each verifier's re-execution
  (``pyevm``: the tuned path above; ``eels``: ``precompiles.verifiers.eels`` from the
  witness alone), and ``eels_over_pyevm``.
- ``stateful_import_s``: py-evm importing the same block with full state: a second, fresh
  chain from the same genesis replays the parent blocks (untimed), its database is copied
  per run, and ``chain._chain.import_block(block)`` is timed (header checks, execution,
  state/transaction/receipt roots, persistence). ``build_s`` is what the original chain
  took to build the block (block building plus witness recording), for context.

Reported per block: L2 gas re-executed per second by EXECUTE, the EXECUTE/stateful time
ratio, witness bytes (RLP and JSON forms, total and per L2 transaction), witness entry
counts, EXECUTE input size and its L1 gas. Output: one JSON object on stdout.

Usage::

    .venv/bin/python scripts/bench_execute.py [--txs 200] [--writes 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")  # what the node uses (rpc/cli.py)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rlp  # noqa: E402
from eth.db.atomic import AtomicDB  # noqa: E402
from eth.db.backends.memory import MemoryDB  # noqa: E402
from eth.db.trie import _make_trie_root_and_nodes  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402

from devtools.execute_inputs import encoded, input_from_chain  # noqa: E402
from devtools.l2_blocks import L2_VM  # noqa: E402
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts  # noqa: E402
from node.chain import Chain  # noqa: E402
from node.genesis import load_genesis  # noqa: E402
from precompiles.execute import verify  # noqa: E402
from precompiles.execute_reference import reexecute_reference  # noqa: E402
from precompiles.execute_wire import decode_execute_input, execute_gas_cost  # noqa: E402
from precompiles.reexecute import reexecute as reexecute_fast  # noqa: E402
from precompiles.verifiers.eels import reexecute_eels  # noqa: E402

L2_GENESIS = ROOT / "genesis" / "l2.json"
COUNTER = ROOT / "contracts" / "out" / "Counter.json"
DEV_ACCOUNTS = 10
DEV_BALANCE = 10_000 * 10**18
COUNTERS = 8
GWEI = 10**9
# The L2 the precompile re-executes follows the devnet's Prague rules minus EXECUTE
# (node/fork/l1.py: make_execute_precompile(l2_vm_class=DevnetPragueVM)).
L2_RULES = L2_VM


class Builder:
    """Signs transactions for the dev accounts and builds blocks on one Chain."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.accounts = derive_dev_accounts(DEFAULT_MNEMONIC, DEV_ACCOUNTS)
        self.nonces = [0] * len(self.accounts)
        self.blocks = []
        self.timestamp = 1_700_000_000

    def sign(self, index: int, to: bytes, data: bytes = b"", value: int = 0, gas: int = 21_000):
        account = self.accounts[index % len(self.accounts)]
        nonce = self.nonces[index % len(self.accounts)]
        self.nonces[index % len(self.accounts)] += 1
        max_fee = 4 * self.chain.next_base_fee() + GWEI
        unsigned = self.chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
            self.chain.chain_id, nonce, GWEI, max_fee, gas, to, value, data, []
        )
        return unsigned.as_signed_transaction(account.private_key)

    def build(self, transactions: list, what: str):
        self.timestamp += 12
        built = self.chain.build_block(
            transactions,
            timestamp=self.timestamp,
            parent_beacon_block_root=keccak(f"L1 anchor {self.timestamp}".encode()),
        )
        if built.skipped or len(built.receipts) != len(transactions):
            raise SystemExit(
                f"{what}: {len(built.skipped)} transactions left out: "
                f"{[str(s.error) for s in built.skipped[:3]]}"
            )
        if any(r.status != 1 for r in built.receipts):
            raise SystemExit(f"{what}: a transaction failed")
        self.blocks.append(built.block)
        return built


def new_chain() -> Chain:
    genesis = load_genesis(L2_GENESIS)
    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, DEV_ACCOUNTS)
    return Chain(genesis.with_accounts([a.address for a in accounts], DEV_BALANCE))


def timed(fn) -> float:
    """Seconds one call of ``fn`` takes (after collecting the previous run's garbage, and
    emptying py-evm's cache of transactions/receipts roots, which would otherwise serve
    every run after the first the roots of the same block)."""
    gc.collect()
    _make_trie_root_and_nodes.cache_clear()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def calldata_gas(data: bytes) -> int:
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def calldata_floor_gas(data: bytes) -> int:
    zeros = data.count(0)
    return 10 * (zeros + 4 * (len(data) - zeros))


def witness_json_bytes(witness) -> bytes:
    """The witness as ``debug_executionWitness`` returns it (rpc/debug.py)."""
    doc = {
        "state": ["0x" + n.hex() for n in witness.state],
        "codes": ["0x" + c.hex() for c in witness.codes],
        "keys": [],
        "headers": ["0x" + h.hex() for h in witness.headers],
    }
    return json.dumps(doc).encode()


def measure(source: Chain, built, parents: list, repeat: int) -> dict:
    block = built.block
    header = block.header
    witness = source.witnesses[block.hash]
    inp = input_from_chain(source, block)
    rlp_witness = witness.encode_rlp()
    json_witness = witness_json_bytes(witness)
    data_rlp = encoded(inp, witness=rlp_witness)
    data_json = encoded(inp, witness=json_witness)

    def execute(data: bytes, reexecute=reexecute_fast) -> None:
        verdict = verify(decode_execute_input(data), L2_RULES, reexecute=reexecute)
        if not verdict.valid or verdict.block_hash != block.hash:
            raise SystemExit(
                f"EXECUTE rejected block {header.block_number}: {verdict.reason!r} {verdict.detail}"
            )

    # Stateful: a second chain from the same genesis, replaying the parents (untimed).
    replica = new_chain()
    for parent in parents:
        replica._chain.import_block(parent)
    assert replica.head.hash == header.parent_hash
    snapshot = dict(replica.db.wrapped_db.items())
    chain_class = type(replica._chain)
    # The block as it travels: its header's RLP and each transaction's network encoding.
    header_rlp = rlp.encode(header)
    tx_bytes = [tx.encode() for tx in block.transactions]
    tx_builder = type(block).get_transaction_builder()

    def stateful_import(chain, received) -> None:
        result = chain.import_block(received)
        if result.imported_block.hash != block.hash:
            raise SystemExit("stateful import produced a different block")

    def import_received(chain) -> None:
        """What a node does with a block it receives: decode it, import it."""
        received = type(block)(
            rlp.decode(header_rlp, sedes=type(header)),
            transactions=[tx_builder.decode(raw) for raw in tx_bytes],
            uncles=[],
            withdrawals=[],
        )
        stateful_import(chain, received)

    def replica_at_parent():
        return chain_class(AtomicDB(MemoryDB(dict(snapshot))))

    # Interleaved runs (A/B: the tuned path and the reference, then the stateful imports),
    # so that load from elsewhere on the machine hits all of them alike.
    runs: dict[str, list[float]] = {
        "execute": [],
        "execute_reference": [],
        "execute_json": [],
        "execute_eels": [],
        "stateful": [],
        "stateful_prebuilt": [],
    }
    for _ in range(repeat):
        runs["execute"].append(timed(lambda: execute(data_rlp)))
        runs["execute_reference"].append(
            timed(lambda: execute(data_rlp, reexecute=reexecute_reference))
        )
        runs["execute_json"].append(timed(lambda: execute(data_json)))
        runs["execute_eels"].append(timed(lambda: execute(data_rlp, reexecute=reexecute_eels)))
        fresh = replica_at_parent()
        runs["stateful"].append(timed(lambda: import_received(fresh)))  # noqa: B023
        fresh = replica_at_parent()
        runs["stateful_prebuilt"].append(timed(lambda: stateful_import(fresh, block)))  # noqa: B023
    medians = {k: statistics.median(v) for k, v in runs.items()}
    execute_s = medians["execute"]
    stateful_s = medians["stateful"]
    tx_count = len(block.transactions)
    return {
        "block_number": header.block_number,
        "transactions": tx_count,
        "gas_used": header.gas_used,
        "build_s": round(built.seconds, 4),
        "execute_s": round(execute_s, 4),
        "execute_reference_s": round(medians["execute_reference"], 4),
        "execute_speedup_over_reference": round(medians["execute_reference"] / execute_s, 2),
        "execute_json_witness_s": round(medians["execute_json"], 4),
        # NR-EXECUTE v1.2: the same input through each verifier (precompiles/verifiers)
        "verifier_s": {
            "pyevm": round(execute_s, 4),
            "eels": round(medians["execute_eels"], 4),
        },
        "eels_over_pyevm": round(medians["execute_eels"] / execute_s, 2),
        "stateful_import_s": round(stateful_s, 4),
        "stateful_import_prebuilt_block_s": round(medians["stateful_prebuilt"], 4),
        "stateful_over_execute": round(stateful_s / execute_s, 2),
        "execute_over_stateful": round(execute_s / stateful_s, 3),
        "target_2x_met": stateful_s / execute_s >= 2,
        "min_s": {k: round(min(v), 4) for k, v in runs.items()},
        "stateful_over_execute_of_mins": round(min(runs["stateful"]) / min(runs["execute"]), 2),
        "execute_l2_mgas_per_s": round(header.gas_used / execute_s / 1e6, 1),
        "execute_l2_gas_per_s": round(header.gas_used / execute_s),
        "execute_l2_tx_per_s": round(tx_count / execute_s, 1),
        "witness": {
            "state_nodes": len(witness.state),
            "codes": len(witness.codes),
            "headers": len(witness.headers),
            "rlp_bytes": len(rlp_witness),
            "json_bytes": len(json_witness),
            "rlp_bytes_per_tx": round(len(rlp_witness) / tx_count, 1),
            "json_bytes_per_tx": round(len(json_witness) / tx_count, 1),
        },
        "execute_input_bytes": {"rlp": len(data_rlp), "json": len(data_json)},
        "execute_l1_gas": {
            "precompile_rlp": execute_gas_cost(len(data_rlp)),
            "precompile_json": execute_gas_cost(len(data_json)),
            # What carrying the input as L1 calldata costs on top (EIP-2028 / EIP-7623).
            "calldata_rlp": calldata_gas(data_rlp),
            "calldata_floor_rlp": calldata_floor_gas(data_rlp),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=200, help="transfers in the transfer block")
    parser.add_argument(
        "--writes",
        type=int,
        default=100,
        help="Counter.increment() calls in the storage-write block",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    if args.txs < 1 or args.writes < 1 or args.repeat < 1:
        parser.error("--txs, --writes and --repeat must be positive")

    started = time.perf_counter()
    source = new_chain()
    b = Builder(source)
    counter = json.loads(COUNTER.read_text())
    creation = bytes.fromhex(counter["bytecode"].removeprefix("0x")) + (0).to_bytes(32, "big")
    deploys = [b.sign(i, b"", creation, gas=400_000) for i in range(COUNTERS)]
    setup = b.build(deploys, "setup")
    counters = [r.contract_address for r in setup.receipts]

    transfers = [
        b.sign(i, keccak(i.to_bytes(4, "big"))[:20], value=10**15 + i) for i in range(args.txs)
    ]
    transfer_block = b.build(transfers, f"{args.txs} transfers")

    increment = keccak(b"increment()")[:4]
    writes = [b.sign(i, counters[i % COUNTERS], increment, gas=60_000) for i in range(args.writes)]
    write_block = b.build(writes, f"{args.writes} storage writes")

    report = {
        "what": "EXECUTE stateless re-execution (decode + precompiles.execute.verify, no "
        "cache) vs py-evm stateful import (fresh replica at the parent, "
        "chain._chain.import_block), medians",
        "l2_genesis": "genesis/l2.json",
        "l2_gas_limit": source.head.gas_limit,
        "repeat": args.repeat,
        "eth_hash_backend": os.environ.get("ETH_HASH_BACKEND"),
        "transfers": measure(source, transfer_block, b.blocks[:1], args.repeat),
        "storage_writes": measure(source, write_block, b.blocks[:2], args.repeat),
    }
    report["transfers"]["kind"] = "ETH transfers, 10 senders"
    report["storage_writes"]["kind"] = f"Counter.increment() over {COUNTERS} counters"
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
