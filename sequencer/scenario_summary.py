"""The scenario's summary: balances on both layers and the escrow identity, blocks
settled, L1 gas of each ``advance`` and its split, execute fees, witness bytes, wall time."""

from __future__ import annotations

from pathlib import Path

from sequencer.rollup import RollupInfo
from sequencer.scenario_results import Report, eth, gwei


def summary(report: Report) -> str:
    """The readable summary the demo prints."""
    s = report.settlements
    lines = [
        "",
        "=" * 100,
        "Native rollup: summary",
        "=" * 100,
        f"L1 {report.l1_url}   L2 {report.l2_url}   rollup {report.rollup.address}",
        f"sequencing: {'external sequencer process' if report.external else 'this process'}; "
        f"wall time {report.seconds:.1f}s",
        "",
        f"Blocks settled: {len(s)} (L2 #{s[0].number}..#{s[-1].number}); after each advance the "
        f"L1 contract's lastBlockHash equals the L2 node's block hash "
        f"({sum(a == b for _, a, b in report.hashes_checked)}/{len(report.hashes_checked)} checked)",
        "",
        "Per settled block (L1 gas of advance = 21000 + calldata + EXECUTE + contract logic"
        " [+ EIP-7623 floor surcharge]):",
        f"{'L2#':>4} {'txs':>3} {'L2 gas':>8} {'witness B':>9} {'B/tx':>7} {'calldata B':>10} "
        f"{'L1 gas':>9} {'calldata':>8} {'floor':>8} {'EXECUTE':>8} {'logic':>7} "
        f"{'surcharge':>9} {'exec fee gwei':>13} {'burned gwei':>12} {'time s':>6}",
    ]
    for x in s:
        g = x.gas
        per_tx = f"{x.witness_bytes // x.tx_count:,}" if x.tx_count else "-"
        logic = f"{g.logic:,}" if g.logic is not None else "n/a"
        floor = f"{g.calldata_floor:,}" + ("*" if g.floor_binds else "")
        lines.append(
            f"{x.number:>4} {x.tx_count:>3} {x.l2_gas_used:>8,} {x.witness_bytes:>9,} "
            f"{per_tx:>7} {g.calldata_bytes:>10,} {g.total:>9,} {g.calldata_standard:>8,} "
            f"{floor:>8} {g.execute:>8,} {logic:>7} {g.floor_surcharge:>9,} "
            f"{gwei(x.execute_fee):>13} {gwei(x.burned_fees):>12} {x.seconds:>6.2f}"
        )
    n = len(s)
    txs = sum(x.tx_count for x in s)
    witness = sum(x.witness_bytes for x in s)
    gas = sum(x.gas.total for x in s)
    execute = sum(x.gas.execute for x in s)
    std = sum(x.gas.calldata_standard for x in s)
    logic_known = [x.gas.logic for x in s if x.gas.logic is not None]
    fees = sum(x.execute_fee for x in s)
    burned = sum(x.burned_fees for x in s)
    binds = sum(x.gas.floor_binds for x in s)
    surcharge = sum(x.gas.floor_surcharge for x in s)
    l1_gas_paid = sum(x.gas.total * x.l1_gas_price for x in s)
    lines += [
        "",
        f"Averages over {n} blocks ({txs} L2 txs):",
        f"  L1 gas per advance      {gas // n:,}  = 21,000 intrinsic ({21_000 * n * 100 // gas}%) "
        f"+ calldata {std // n:,} ({std * 100 // gas}%) + EXECUTE {execute // n:,} "
        f"({execute * 100 // gas}%) + contract logic "
        + (
            f"{sum(logic_known) // len(logic_known):,} ({sum(logic_known) * 100 // gas}%)"
            if logic_known
            else "n/a"
        ),
        f"  EIP-7623 floor          binds in {binds}/{n} blocks (10 gas/token, marked *): "
        f"surcharge {surcharge // n:,} per block on average ({surcharge * 100 // gas}%)",
        f"  execute fee per block   {fees // n:,} wei (output word 6; total {eth(fees)} ETH), "
        f"at execute base fee {s[-1].execute_base_fee:,} wei/gas at the end",
        f"  burned L2 base fees     {burned // n:,} wei per block, paid from escrow to the "
        f"sequencer (total {eth(burned)} ETH)",
        f"  sequencer on L1         paid {eth(l1_gas_paid)} ETH gas + {eth(fees)} ETH execute "
        f"fees for these advances, received {eth(burned)} ETH of burned L2 fees",
        f"  witness bytes           {witness // n:,} per L2 block, "
        f"{witness // max(txs, 1):,} per L2 tx",
        f"  wall time per block     {sum(x.seconds for x in s) / n:.2f}s "
        + (
            "(as the demo saw it: submit -> settled, incl. the sequencer's polling interval)"
            if report.external
            else "(anchor + claims + mine + witness + advance + hash check)"
        ),
    ]
    lines += ["", "Forged advances (rejected by EXECUTE, contract state unchanged):"]
    for f in report.forgeries:
        how = "eth_call" if f.simulated else f"L1 tx status {f.tx_status}"
        fee = "" if f.execute_fee_paid is None else f", execute fee paid {f.execute_fee_paid:,} wei"
        lines.append(f"  {'ok ' if f.ok else 'BAD'} {f.name:<22} {str(f.got):<45} {how}{fee}")
    lines += ["", "Claims that must fail (eth_call):"]
    for c in report.failed_claims:
        lines.append(f"  {'ok ' if c.ok else 'BAD'} {c.layer} {c.name:<42} {c.got}")
    w = report.alice_withdrawal
    if w:
        lines += [
            "",
            f"Alice's withdrawal: {eth(w['value'])} ETH sent in L2 #{w['sent_in']}, proven at "
            f"settled L2 #{w['proven_at']}; L1 balance {eth(w['before'])} -> {eth(w['after'])} "
            f"(+{eth(w['value'])} ETH - {w['gas']:,} wei gas)",
        ]
    lines += ["", "Balances (ETH):"]
    for layer, entries in report.balances.items():
        lines.append(f"  {layer:<18} " + "   ".join(f"{k} {eth(v)}" for k, v in entries.items()))
    e = report.escrow
    if e is not None:
        lines += [
            "",
            f"Escrow (L1 block {e.l1_block}, settled L2 #{e.l2_block}): "
            f"{'holds' if e.ok else 'DOES NOT HOLD'}",
            f"  escrowed {eth(e.escrowed)} = L2 circulation {eth(e.circulating)} "
            f"+ deposits in flight {eth(e.deposits_in_flight)} "
            f"+ withdrawals in flight {eth(e.withdrawals_in_flight)}",
            f"  L2 circulation = messenger pre-mint {eth(e.messenger_supply)} - its balance "
            f"{eth(e.messenger_balance)} + dev funding {eth(e.l2_dev_funding)} - burned "
            f"{eth(e.burned)}",
        ]
    lines += ["", "RESULT: " + ("all checks passed" if report.ok else "FAILED"), ""]
    return "\n".join(lines)


def load_rollup_file(path: Path | None) -> RollupInfo | None:
    if path is None:
        return None
    return RollupInfo.load(path)
