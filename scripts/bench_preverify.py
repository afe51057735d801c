"""Block building with and without parallel pre-verification of EXECUTE (node/preverify.py).

In process, no servers. Four independent L2 chains (genesis/l2.json, the ten dev accounts
funded) each build one block of ``--txs`` ETH transfers (default 200); their EXECUTE inputs
(canonical RLP witnesses) become four L1 transactions from four dev accounts, each calling
EXECUTE directly. The L1 is genesis/l1.json with the dev accounts funded, its cumulative
execute gas raised so that the four calls fit one block, and a genesis time after the L2
blocks' (NR-EXECUTE v1.1).

Each round builds the same L1 block twice, on a fresh L1 chain each time (fresh EXECUTE
verdict caches), interleaved:

- ``inline``: ``Chain.build_block`` of the four transactions; the precompile re-executes
  the four L2 blocks one after another on the builder's thread;
- ``preverified``: the four transactions enter the pool (``Preverifier.on_pending``: the
  extraction simulation, then a worker process per input), then the same ``build_block``,
  whose precompile finds the verdicts ready or waits for the one in the making. Timed
  from the first transaction entering the pool to the block built (``total_s``), and the
  build alone (``build_s``).

The worker pool (``--workers``, default the cores) is started and warmed once, before the
rounds, as a node does at start. Both blocks must hold the four calls, all successful,
with the same state root. Output: one JSON object on stdout, medians over ``--rounds``.

Usage::

    .venv/bin/python scripts/bench_preverify.py [--txs 200] [--calls 4] [--rounds 3] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_hash.auto import keccak  # noqa: E402

from devtools.execute_inputs import encoded, input_from_chain  # noqa: E402
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts  # noqa: E402
from node.chain import Chain  # noqa: E402
from node.genesis import DEFAULT_L1_GENESIS, DEFAULT_L2_GENESIS, load_genesis  # noqa: E402
from node.preverify import Preverifier, default_workers  # noqa: E402
from precompiles.execute_wire import EXECUTE_ADDRESS, execute_gas_cost  # noqa: E402

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
FUNDED = 10_000 * 10**18
GWEI = 10**9
L1_TIMESTAMP = 2_000_000_000


def l2_input(salt: int, txs: int) -> bytes:
    """EXECUTE's input for one block of ``txs`` transfers on a fresh L2 chain."""
    chain = Chain(load_genesis(DEFAULT_L2_GENESIS).with_accounts([a.address for a in DEV], FUNDED))
    max_fee = 4 * chain.next_base_fee() + GWEI
    transfers = []
    for i in range(txs):
        account = DEV[i % len(DEV)]
        unsigned = chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
            chain.chain_id,
            i // len(DEV),
            GWEI,
            max_fee,
            21_000,
            keccak(f"{salt}:{i}".encode())[:20],
            10**15 + i,
            b"",
            [],
        )
        transfers.append(unsigned.as_signed_transaction(account.private_key))
    built = chain.build_block(
        transfers, timestamp=1_700_000_012, parent_beacon_block_root=keccak(b"anchor %d" % salt)
    )
    if built.skipped or len(built.receipts) != txs:
        raise SystemExit(f"L2 block {salt}: {len(built.skipped)} transfers left out")
    return encoded(input_from_chain(chain, built.block))


def l1_genesis(calls: int, l2_gas: int):
    genesis = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in DEV], FUNDED)
    limit = max(genesis.execute.gas_limit, 2 * calls * l2_gas)
    genesis = replace(
        genesis,
        timestamp=L1_TIMESTAMP,
        execute=replace(genesis.execute, gas_limit=limit, gas_target=limit // 2),
    )
    genesis.validate()
    return genesis


def l1_transactions(chain: Chain, inputs: list[bytes]) -> list:
    out = []
    for i, data in enumerate(inputs):
        zeros = data.count(0)
        floor = 21_000 + 10 * (zeros + 4 * (len(data) - zeros))
        gas = floor + execute_gas_cost(len(data)) + 200_000
        unsigned = chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
            chain.chain_id, 0, GWEI, 4 * chain.next_base_fee() + GWEI, gas, EXECUTE_ADDRESS, 0,
            data, [],
        )  # fmt: skip
        out.append(unsigned.as_signed_transaction(DEV[i].private_key))
    return out


def build(chain: Chain, txs: list, calls: int):
    built = chain.build_block(txs, timestamp=L1_TIMESTAMP + 12)
    if built.skipped or len(built.receipts) != calls:
        raise SystemExit(f"L1 block left out {[str(s.error) for s in built.skipped]}")
    if any(r.status != 1 for r in built.receipts):
        raise SystemExit("an EXECUTE call failed")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=200, help="transfers per L2 block")
    parser.add_argument("--calls", type=int, default=4, help="EXECUTE calls in the L1 block")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes")
    args = parser.parse_args(argv)
    if min(args.txs, args.calls, args.rounds) < 1 or args.calls > len(DEV):
        parser.error("--txs, --calls, --rounds positive; --calls at most 10")

    started = time.perf_counter()
    inputs = [l2_input(salt, args.txs) for salt in range(args.calls)]
    genesis = l1_genesis(args.calls, 21_000 * args.txs)

    pool_chain = Chain(genesis)
    preverifier = Preverifier(pool_chain, workers=args.workers)
    warm = preverifier.warm_up()
    pool = preverifier.detach_pool()
    runs: dict[str, list[float]] = {"inline": [], "preverified_total": [], "preverified_build": []}
    cpu: dict[str, list[float]] = {
        "inline_main": [],
        "preverified_main": [],
        "busiest_worker": [],
        "all_workers": [],
    }
    roots = set()
    hits = []
    try:
        for _ in range(args.rounds):
            chain = Chain(genesis)
            txs = l1_transactions(chain, inputs)
            t0, c0 = time.perf_counter(), time.process_time()
            built = build(chain, txs, args.calls)
            runs["inline"].append(time.perf_counter() - t0)
            cpu["inline_main"].append(time.process_time() - c0)
            roots.add(built.block.header.state_root)

            chain = Chain(genesis)
            txs = l1_transactions(chain, inputs)
            pre = Preverifier(chain, workers=preverifier.workers, pool=pool)
            t0, c0 = time.perf_counter(), time.process_time()
            for tx in txs:
                pre.on_pending(tx, tx.sender)
            t1 = time.perf_counter()
            built = build(chain, txs, args.calls)
            t2 = time.perf_counter()
            runs["preverified_total"].append(t2 - t0)
            runs["preverified_build"].append(t2 - t1)
            cpu["preverified_main"].append(time.process_time() - c0)
            cpu["busiest_worker"].append(max(pre.worker_cpu.values(), default=0.0))
            cpu["all_workers"].append(sum(pre.worker_cpu.values()))
            roots.add(built.block.header.state_root)
            hits.append({"hits": pre.store.hits, "waited": pre.store.waited, **dict(pre.stats)})
            pre.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        preverifier.close()
    if len(roots) != 1:
        raise SystemExit("the two builds ended at different state roots")
    medians = {k: statistics.median(v) for k, v in runs.items()}
    report = {
        "what": f"L1 block of {args.calls} EXECUTE calls, each re-executing {args.txs} L2 "
        "transfers: built inline vs with parallel pre-verification, medians",
        "workers": preverifier.workers,
        "worker_pids": warm,
        "cores": default_workers(),
        "load_average": os.getloadavg(),
        "rounds": args.rounds,
        "input_bytes": [len(d) for d in inputs],
        "inline_build_s": round(medians["inline"], 4),
        "preverified_total_s": round(medians["preverified_total"], 4),
        "preverified_build_only_s": round(medians["preverified_build"], 4),
        "speedup_total": round(medians["inline"] / medians["preverified_total"], 2),
        "speedup_of_fastest_rounds": round(min(runs["inline"]) / min(runs["preverified_total"]), 2),
        # CPU seconds (medians): the node's process (builder, extraction, the pool's
        # threads) and the workers' verification. On idle cores the pre-verified wall time
        # tends to the larger of the node's and the busiest worker's.
        "cpu_s": {k: round(statistics.median(v), 4) for k, v in cpu.items()},
        "speedup_on_idle_cores_estimate": round(
            statistics.median(cpu["inline_main"])
            / max(
                statistics.median(cpu["preverified_main"]), statistics.median(cpu["busiest_worker"])
            ),
            2,
        ),
        "preverification": hits,
        "runs_s": {k: [round(x, 4) for x in v] for k, v in runs.items()},
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
