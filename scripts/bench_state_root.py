"""State-root time per block: py-evm's ``AccountDB`` against ``BatchAccountDB`` (A/B in one
run, interleaved), for a block of transfers and a block of storage writes.

The pre-state is a trie of ``--accounts`` funded accounts and a contract with ``--slots``
storage slots (built once, shared by both sides). Each round builds a fresh account database
on that pre-state for each side in turn, applies the block's state changes as its
transactions would (senders' nonce and balance, recipients' balance, the coinbase's tip, the
written slots; a lock between transactions), then times ``make_state_root`` (which is where
py-evm writes the account and storage tries) and ``persist``. The batch runs twice: with its
node cache emptied before the block (cold) and with the cache as the previous round left it
(warm: the chain's case for the upper trie levels, which every block rewrites).

Then the same two blocks as real transactions through the chain (an in-process L2 chain,
witness recording on, the project's block builder), one chain per side, built alternately:
the time of ``state.persist()`` (the state root and its commit) and of the whole block.

    .venv/bin/python scripts/bench_state_root.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")  # what the node uses (rpc/cli.py)

import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from eth.db.account import AccountDB  # noqa: E402
from eth.db.atomic import AtomicDB  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402

from node.fork.account_db import BatchAccountDB  # noqa: E402
from node.trie_batch import cache_for  # noqa: E402

COINBASE = b"\xc0" * 20
CONTRACT = b"\xcc" * 20
TRANSFER_FEE = 21_000 * 10**9


def address(n: int) -> bytes:
    return keccak(n.to_bytes(8, "big"))[:20]


def prestate(accounts: int, slots: int) -> tuple[AtomicDB, bytes]:
    db = AtomicDB()
    state = AccountDB(db)
    for n in range(accounts):
        state.set_balance(address(n), 10**24)
        state.set_nonce(address(n), n % 7)
    state.set_code(CONTRACT, b"\x00")
    for slot in range(slots):
        state.set_storage(CONTRACT, slot, slot + 1)
    state.persist()
    return db, state.state_root


def transfers_block(state, count: int, accounts: int, rng: random.Random) -> None:
    senders = rng.sample(range(accounts), count)
    for i, sender in enumerate(senders):
        src, dst = address(sender), address(10_000_000 + i)  # fresh recipients
        state.increment_nonce(src)
        state.set_balance(src, state.get_balance(src) - 10**15 - TRANSFER_FEE)
        state.set_balance(dst, state.get_balance(dst) + 10**15)
        state.set_balance(COINBASE, state.get_balance(COINBASE) + 21_000)
        state.lock_changes()


def storage_block(state, count: int, accounts: int, slots: int, rng: random.Random) -> None:
    senders = rng.sample(range(accounts), count)
    for sender in senders:
        src = address(sender)
        state.increment_nonce(src)
        state.set_balance(src, state.get_balance(src) - 50_000 * 10**9)
        slot = rng.randrange(slots * 2)  # half new slots, half updates
        value = 0 if rng.random() < 0.2 else rng.getrandbits(128)  # some deletions
        state.set_storage(CONTRACT, slot, value)
        state.set_balance(COINBASE, state.get_balance(COINBASE) + 50_000)
        state.lock_changes()


def timed_block(cls, db, root, block, seed: int) -> tuple[float, float, bytes]:
    state = cls(db, root)
    block(state, random.Random(seed))
    started = time.perf_counter()
    new_root = state.make_state_root()
    made = time.perf_counter()
    state.persist()
    persisted = time.perf_counter()
    return made - started, persisted - made, new_root


# Runtime: SSTORE(calldata[0:32], calldata[32:64]); constructor returns it.
WRITER_RUNTIME = bytes.fromhex("6020356000355500")
WRITER_INIT = bytes.fromhex("6008600c60003960086000f3") + WRITER_RUNTIME


def chain_blocks(rounds: int) -> None:
    from eth.constants import CREATE_CONTRACT_ADDRESS
    from eth.vm.state import BaseState

    from devtools.l2_blocks import L2Builder, contract_address
    from node.fork.state import DevnetPragueState

    persist_seconds = [0.0]
    persist = BaseState.persist

    def timed_persist(self):
        started = time.perf_counter()
        try:
            return persist(self)
        finally:
            persist_seconds[0] += time.perf_counter() - started

    BaseState.persist = timed_persist
    sides = {"py-evm": AccountDB, "batch": BatchAccountDB}
    builders = {side: L2Builder() for side in sides}
    writers = {}
    for side, builder in builders.items():
        DevnetPragueState.account_db_class = sides[side]
        nonce = builder.next_nonce(0)
        deploy = builder.tx(0, CREATE_CONTRACT_ADDRESS, data=WRITER_INIT, gas=200_000, nonce=nonce)
        builder.build([deploy])
        writers[side] = contract_address(builder.address(0), nonce)

    def transfers(builder, side, rnd):
        return [builder.tx(i % 10, to=keccak(bytes([rnd, i]))[:20], value=1) for i in range(200)]

    def storage(builder, side, rnd):
        rng = random.Random(rnd)
        txs = []
        for i in range(100):
            slot = rng.randrange(400).to_bytes(32, "big")
            value = (0 if rng.random() < 0.2 else rng.getrandbits(128)).to_bytes(32, "big")
            txs.append(builder.tx(i % 10, writers[side], data=slot + value, gas=60_000))
        return txs

    print(
        f"\n{'chain block':<20} {'side':<8} {'state.persist ms':>17} {'block ms':>9} {'speedup':>8}"
    )
    for name, make in (("200 transfers", transfers), ("100 storage writes", storage)):
        times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
        roots: dict[str, list[bytes]] = {side: [] for side in sides}
        for rnd in range(rounds):
            for side, builder in builders.items():
                DevnetPragueState.account_db_class = sides[side]
                txs = make(builder, side, rnd)
                persist_seconds[0] = 0.0
                started = time.perf_counter()
                built = builder.build(txs)
                times[side].append((persist_seconds[0], time.perf_counter() - started))
                roots[side].append(built.block.header.state_root)
        assert roots["py-evm"] == roots["batch"], "state roots differ"
        base = statistics.median(t[0] for t in times["py-evm"])
        for side, samples in times.items():
            root_ms = statistics.median(t[0] for t in samples) * 1000
            block_ms = statistics.median(t[1] for t in samples) * 1000
            print(
                f"{name:<20} {side:<8} {root_ms:>17.2f} {block_ms:>9.1f} {base * 1000 / root_ms:>7.2f}x"
            )
    DevnetPragueState.account_db_class = BatchAccountDB
    BaseState.persist = persist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--slots", type=int, default=5_000)
    args = parser.parse_args()

    print(f"pre-state: {args.accounts} accounts, a contract with {args.slots} slots ...")
    db, root = prestate(args.accounts, args.slots)
    blocks = {
        "200 transfers": lambda s, rng: transfers_block(s, 200, args.accounts, rng),
        "100 storage writes": lambda s, rng: storage_block(s, 100, args.accounts, args.slots, rng),
    }
    print(
        f"{'block':<20} {'side':<14} {'make_state_root ms':>19} {'persist ms':>11} "
        f"{'speedup vs py-evm':>16}"
    )
    for name, block in blocks.items():
        times: dict[str, list[tuple[float, float]]] = {
            "py-evm": [],
            "batch cold": [],
            "batch warm": [],
        }
        for round_ in range(args.rounds):
            seed = round_
            # Each round: a different block (seed) on the same pre-state; sides interleaved.
            stock = timed_block(AccountDB, db, root, block, seed)
            cache_for(db).clear()  # cold
            cold = timed_block(BatchAccountDB, db, root, block, seed)
            warm = timed_block(BatchAccountDB, db, root, block, seed + 1000)
            stock_warm = timed_block(AccountDB, db, root, block, seed + 1000)
            assert stock[2] == cold[2] and warm[2] == stock_warm[2], "roots differ"
            times["py-evm"] += [stock[:2], stock_warm[:2]]
            times["batch cold"].append(cold[:2])
            times["batch warm"].append(warm[:2])
        base = statistics.median(t[0] for t in times["py-evm"])
        for side, samples in times.items():
            make = statistics.median(t[0] for t in samples)
            persist = statistics.median(t[1] for t in samples)
            print(
                f"{name:<20} {side:<14} {make * 1000:>19.2f} {persist * 1000:>11.2f} "
                f"{base / make:>15.2f}x"
            )
    cache = cache_for(db)
    print(f"node cache after the run: {len(cache)} nodes (limit {cache.limit})")
    chain_blocks(max(args.rounds // 2, 3))


if __name__ == "__main__":
    main()
