"""Watch the EXECUTE gas market move: an in-process L1 with a small cumulative limit settles
real L2 blocks under varying demand.

In process, no servers. An L2 ``node.chain.Chain`` (genesis/l2.json, dev accounts funded)
builds one block of two transfers per EXECUTE call; each block's input is made from the
witness the L2 chain recorded (``devtools.execute_inputs.input_from_chain``), so every call
re-executes a distinct real L2 block. An L1 ``Chain`` (genesis/l1.json with ``ExecuteCaller``
in the alloc and one funded sender per call) gets, before each of its blocks, the number of
new ``ExecuteCaller.callExecute`` transactions that ``--calls-per-block`` says. Its builder
includes what fits under the cumulative limit and defers the rest (``EXECUTE_LIMIT``);
deferred calls are offered again to the next block, ahead of the new ones, as the node's
pool would. Once the schedule is over, empty-demand blocks drain what is left, and
``--tail`` more empty blocks (default 2) show the price falling back.

By default the target is one call's execute gas and the limit two calls', so a block with
one call keeps the price, two calls raise it by 12.5 % and none lowers it by 12.5 %.

Printed per L1 block: its number, new calls offered, EXECUTE calls included, calls deferred
to the next block, ``executeGasUsed``, ``executeBaseFeePerGas`` and its change from the
previous block. Every included call is checked: success, and an execute fee of exactly
``gasUsed * executeBaseFeePerGas``; the sender paid exactly L1 fee + execute fee.

Usage::

    .venv/bin/python scripts/execute_market_demo.py [--calls-per-block 0,1,2,4,4,4,0,0]
        [--limit GAS] [--target GAS] [--initial-fee WEI] [--no-drain] [--tail N]
        [--png PATH]

``--png`` draws the table as a chart and needs matplotlib (not a runtime dependency).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")  # what the node uses (rpc/cli.py)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_abi import decode, encode  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from eth_keys import keys  # noqa: E402

from devtools.contracts import load  # noqa: E402
from devtools.execute_inputs import encoded, input_from_chain  # noqa: E402
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts  # noqa: E402
from node.chain import Chain  # noqa: E402
from node.errors import TxRejection  # noqa: E402
from node.genesis import (  # noqa: E402
    DEFAULT_L1_GENESIS,
    DEFAULT_L2_GENESIS,
    GenesisAccount,
    load_genesis,
)
from precompiles.execute_wire import decode_output  # noqa: E402

DEFAULT_SCHEDULE = "0,1,2,4,4,4,0,0"
MAX_DRAIN_BLOCKS = 100
GWEI = 10**9
L1_GAS_PER_CALL = 2_000_000
CALLER = bytes.fromhex("ec" * 20)  # ExecuteCaller, placed in the L1 genesis alloc
EXECUTED_TOPIC = int.from_bytes(keccak(b"Executed(bool,bytes,uint256)"), "big")
CALL_EXECUTE = keccak(b"callExecute(bytes)")[:4]


@dataclass
class Row:
    number: int
    offered: int
    included: int
    deferred: int
    dropped: int
    execute_gas_used: int
    execute_base_fee: int
    change_percent: float | None


def parse_schedule(text: str) -> list[int]:
    try:
        schedule = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected e.g. {DEFAULT_SCHEDULE}, got {text!r}"
        ) from None
    if not schedule or any(n < 0 for n in schedule):
        raise argparse.ArgumentTypeError("calls per block must be non-negative integers")
    return schedule


def build_l2_inputs(count: int) -> tuple[list[bytes], int]:
    """``count`` real L2 blocks of two transfers each, as EXECUTE inputs; and the execute
    gas one call reserves (``W = max(gasUsed, min(gasLimit, sum(tx.gas)))``)."""
    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
    genesis = load_genesis(DEFAULT_L2_GENESIS)
    chain = Chain(genesis.with_accounts([a.address for a in accounts], 10_000 * 10**18))
    builder = chain.transaction_builder
    inputs, reserve = [], 0
    timestamp = 1_700_000_000
    for i in range(count):
        txs = []
        for j in range(2):
            account = accounts[(2 * i + j) % len(accounts)]
            nonce = chain.nonce(account.address, chain.head)
            unsigned = builder.new_unsigned_dynamic_fee_transaction(
                genesis.chain_id,
                nonce,
                GWEI,
                100 * GWEI,
                21_000,
                keccak(b"l2-recipient" + bytes([j]))[12:],
                10**15 + i,
                b"",
                [],
            )
            txs.append(unsigned.as_signed_transaction(account.private_key))
        timestamp += 12
        built = chain.build_block(txs, timestamp=timestamp)
        assert len(built.receipts) == 2 and not built.skipped
        header = built.block.header
        total_tx_gas = sum(tx.gas for tx in txs)
        reserve = max(reserve, header.gas_used, min(header.gas_limit, total_tx_gas))
        inputs.append(encoded(input_from_chain(chain, built.block)))
    return inputs, reserve


class L1:
    def __init__(
        self, senders: list[keys.PrivateKey], limit: int, target: int, initial_fee: int
    ) -> None:
        genesis = load_genesis(DEFAULT_L1_GENESIS)
        alloc = dict(genesis.alloc)
        alloc[CALLER] = GenesisAccount(
            code=bytes.fromhex(load("ExecuteCaller").deployed_bytecode[2:])
        )
        for key in senders:
            alloc[key.public_key.to_canonical_address()] = GenesisAccount(balance=10**21)
        execute = replace(
            genesis.execute, gas_limit=limit, gas_target=target, initial_base_fee=initial_fee
        )
        genesis = replace(genesis, alloc=alloc, execute=execute)
        genesis.validate()
        self.chain = Chain(genesis)

    def call_execute(self, key: keys.PrivateKey, payload: bytes):
        unsigned = self.chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
            self.chain.chain_id,
            0,
            GWEI,
            10 * GWEI,
            L1_GAS_PER_CALL,
            CALLER,
            0,
            CALL_EXECUTE + encode(["bytes"], [payload]),
            [],
        )
        return unsigned.as_signed_transaction(key)


def check_included(l1: L1, built, balances_before: dict[bytes, int]) -> None:
    """Every included call succeeded and paid exactly L1 fee + gasUsed * price."""
    header = built.block.header
    price = header.execute_base_fee_per_gas
    total = 0
    for info in built.receipts:
        (log,) = info.receipt.logs
        assert log.topics[0] == EXECUTED_TOPIC
        ok, out, _ = decode(["bool", "bytes", "uint256"], log.data)
        assert ok, f"EXECUTE said no to the L2 block of tx 0x{info.transaction_hash.hex()}"
        fields = decode_output(out)
        assert fields["executeBaseFeePerGas"] == price
        assert fields["executeFee"] == fields["gasUsed"] * price
        paid = balances_before[info.sender] - l1.chain.balance(info.sender, header)
        assert paid == info.gas_used * info.effective_gas_price + fields["executeFee"]
        total += fields["gasUsed"]
    assert header.execute_gas_used == total


def run(
    schedule: list[int],
    limit: int | None,
    target: int | None,
    initial_fee: int,
    drain: bool,
    tail: int = 0,
) -> tuple[list[Row], dict]:
    total_calls = sum(schedule)
    started = time.perf_counter()
    inputs, reserve = build_l2_inputs(total_calls)
    if reserve == 0:  # no calls at all: any small market will do
        reserve = 42_000
    target = target or reserve
    limit = limit or 2 * reserve
    senders = [
        keys.PrivateKey(keccak(b"demo-sender" + i.to_bytes(4, "big"))) for i in range(total_calls)
    ]
    l1 = L1(senders, limit, target, initial_fee)
    calls = [l1.call_execute(key, payload) for key, payload in zip(senders, inputs, strict=True)]
    backlog: list = []
    rows: list[Row] = []
    previous_fee: int | None = None
    demand = list(schedule)
    tail_left = tail
    while True:
        if not demand:
            if drain and backlog and len(rows) < len(schedule) + MAX_DRAIN_BLOCKS:
                pass  # another block to drain the deferred calls
            elif tail_left > 0 and not (drain and backlog):
                tail_left -= 1
            else:
                break
        offered = demand.pop(0) if demand else 0
        new, calls = calls[:offered], calls[offered:]
        proposal = backlog + new
        head = l1.chain.head
        balances = {tx.sender: l1.chain.balance(tx.sender, head) for tx in proposal}
        built = l1.chain.build_block(proposal, timestamp=head.timestamp + 12)
        check_included(l1, built, balances)
        deferred = [s for s in built.skipped if s.error.kind is TxRejection.EXECUTE_LIMIT]
        dropped = [s for s in built.skipped if s.error.kind is not TxRejection.EXECUTE_LIMIT]
        backlog = [s.transaction for s in deferred]
        header = built.block.header
        fee = header.execute_base_fee_per_gas
        change = None if previous_fee is None else (fee - previous_fee) * 100 / previous_fee
        rows.append(
            Row(
                header.block_number,
                offered,
                len(built.receipts),
                len(deferred),
                len(dropped),
                header.execute_gas_used,
                fee,
                change,
            )
        )
        previous_fee = fee
    info = {
        "limit": limit,
        "target": target,
        "initial_fee": initial_fee,
        "reserve": reserve,
        "calls": total_calls,
        "left_in_backlog": len(backlog),
        "seconds": time.perf_counter() - started,
    }
    return rows, info


def format_table(rows: list[Row], info: dict) -> str:
    lines = [
        f"EXECUTE market: limit {info['limit']}, target {info['target']} execute gas per L1 "
        f"block; initial fee {info['initial_fee']} wei; one call = {info['reserve']} execute gas",
        "",
        f"{'L1 block':>8}  {'offered':>7}  {'included':>8}  {'deferred':>8}  "
        f"{'executeGasUsed':>14}  {'executeBaseFeePerGas':>20}  {'change':>8}",
    ]
    for r in rows:
        change = "       -" if r.change_percent is None else f"{r.change_percent:+7.2f}%"
        dropped = f"  ({r.dropped} dropped)" if r.dropped else ""
        lines.append(
            f"{r.number:>8}  {r.offered:>7}  {r.included:>8}  {r.deferred:>8}  "
            f"{r.execute_gas_used:>14}  {r.execute_base_fee:>20}  {change}{dropped}"
        )
    lines += [
        "",
        f"{info['calls']} EXECUTE calls, each re-executing its own L2 block; "
        f"{info['left_in_backlog']} left deferred; {info['seconds']:.1f} s",
    ]
    return "\n".join(lines)


def draw_png(rows: list[Row], info: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--png needs matplotlib: .venv/bin/pip install matplotlib") from None
    numbers = [r.number for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    top.bar(numbers, [r.execute_gas_used for r in rows], color="tab:blue", label="executeGasUsed")
    top.bar(
        numbers,
        [r.deferred * info["reserve"] for r in rows],
        bottom=[r.execute_gas_used for r in rows],
        color="tab:orange",
        alpha=0.5,
        label="deferred (reserved gas)",
    )
    top.axhline(info["limit"], color="tab:red", linestyle="--", label="limit")
    top.axhline(info["target"], color="tab:green", linestyle=":", label="target")
    top.set_ylabel("execute gas")
    top.legend(loc="upper right", fontsize="small")
    bottom.step(numbers, [r.execute_base_fee / GWEI for r in rows], where="mid", marker="o")
    bottom.set_ylabel("executeBaseFeePerGas (gwei)")
    bottom.set_xlabel("L1 block")
    fig.suptitle("EXECUTE gas market")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--calls-per-block",
        type=parse_schedule,
        default=parse_schedule(DEFAULT_SCHEDULE),
        metavar="N,N,...",
        help=f"new EXECUTE calls per L1 block (default {DEFAULT_SCHEDULE})",
    )
    p.add_argument("--limit", type=int, help="cumulative execute gas limit (default: two calls)")
    p.add_argument("--target", type=int, help="execute gas target (default: one call)")
    p.add_argument("--initial-fee", type=int, default=GWEI, help="initial execute base fee, wei")
    p.add_argument(
        "--no-drain",
        dest="drain",
        action="store_false",
        help="stop after the schedule even if calls are still deferred",
    )
    p.add_argument(
        "--tail",
        type=int,
        default=2,
        metavar="N",
        help="empty blocks after the schedule and the drain (default 2)",
    )
    p.add_argument("--png", type=Path, metavar="PATH", help="also draw a chart (needs matplotlib)")
    args = p.parse_args(argv)
    rows, info = run(
        args.calls_per_block, args.limit, args.target, args.initial_fee, args.drain, args.tail
    )
    print(format_table(rows, info))
    if args.png:
        draw_png(rows, info, args.png)
        print(f"chart: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
