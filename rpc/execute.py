"""The ``execute_`` namespace: the L1's EXECUTE gas market as users query it.

- ``execute_params``: limit, target, fee bounds, and the pending block's price and use.
- ``execute_baseFee``: the execute base fee per gas of the pending block.
- ``execute_feeHistory(blockCount, newestBlock)``: like ``eth_feeHistory`` for execute gas.
- ``execute_transactionStatus(hash)``: mined, pending, deferred (with the reason), unknown.
- ``execute_disagreements``: the EXECUTE verifiers, their times, and their disagreements.
"""

from __future__ import annotations

from typing import Any

from node.devnet import Devnet
from precompiles.execute_wire import EXECUTE_ADDRESS
from rpc import params as parse
from rpc.errors import SERVER_ERROR, RpcError
from rpc.eth import resolve_header
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import qty

execute = Namespace()
METHODS = execute.methods


def _vm(devnet: Devnet):
    if not devnet.genesis.execute.enabled:
        raise RpcError(SERVER_ERROR, "this chain has no EXECUTE market (is it an L2?)")
    return devnet.vm_class


@execute.method("execute_params")
async def params(devnet: Devnet, _: Any) -> dict[str, Any]:
    vm_class = _vm(devnet)
    p = vm_class.market_params
    head = devnet.head
    return {
        "address": "0x" + EXECUTE_ADDRESS.hex(),
        "cumulativeGasLimit": qty(p.limit),
        "cumulativeGasTarget": qty(p.target),
        "initialBaseFee": qty(p.initial_base_fee),
        "minBaseFee": qty(p.min_base_fee),
        "baseFeeChangeDenominator": qty(8),
        "pendingBaseFee": qty(vm_class.expected_execute_base_fee(head)),
        "latestBlock": qty(head.block_number),
        "latestGasUsed": qty(head.execute_gas_used),
        "latestBaseFee": qty(head.execute_base_fee_per_gas),
        "delayedStateRoot": devnet.delayed_state_root,
    }


@execute.method("execute_baseFee")
async def base_fee(devnet: Devnet, _: Any) -> str:
    return qty(_vm(devnet).expected_execute_base_fee(devnet.head))


@execute.method("execute_feeHistory")
async def fee_history(devnet: Devnet, params_: Any) -> dict[str, Any]:
    _vm(devnet)
    count, newest = parse_params(
        params_,
        [(parse.quantity, REQUIRED, "blockCount"), (parse.block_id, "latest", "newestBlock")],
    )
    history = await devnet.execute_fee_history(count, resolve_header(devnet, newest))
    return {
        "oldestBlock": qty(history.oldest),
        "executeBaseFeePerGas": [qty(fee) for fee in history.base_fees],
        "executeGasUsed": [qty(gas) for gas in history.gas_used],
        "executeGasUsedRatio": history.gas_used_ratios,
    }


@execute.method("execute_transactionStatus")
async def transaction_status(devnet: Devnet, params_: Any) -> dict[str, Any]:
    """Why a transaction is (not yet) in a block: the builder defers an EXECUTE call that
    would overflow the cumulative limit, and says so here."""
    (tx_hash,) = parse_params(params_, [(parse.hash32, REQUIRED, "hash")])
    info = devnet.find_transaction(tx_hash)
    if info is not None and info.block_number <= devnet.head.block_number:
        return {"status": "mined", "blockNumber": qty(info.block_number)}
    pooled = devnet.pool.get(tx_hash)
    if pooled is None:
        if tx_hash in devnet.dropped:
            return {"status": "dropped", "reason": devnet.dropped[tx_hash]}
        return {"status": "unknown"}
    if pooled.last_error:
        return {"status": "deferred", "reason": pooled.last_error}
    return {"status": "pending"}


def _verifiers(devnet: Devnet):
    """The chain's EXECUTE verifier set (``precompiles.verifiers.VerifierSet``), or None when
    py-evm verifies alone."""
    table = devnet.vm_class.get_state_class().computation_class._precompiles
    precompile = table.get(EXECUTE_ADDRESS)
    return getattr(getattr(precompile, "verdicts", None), "verifiers", None)


def _hex(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


@execute.method("execute_disagreements")
async def disagreements(devnet: Devnet, _: Any) -> dict[str, Any]:
    """NR-EXECUTE v1.2: the chain's verifiers and mode, each verifier's calls and time, and
    the latest disagreements between verifiers (both verdicts, and what was decided)."""
    genesis = devnet.genesis
    _vm(devnet)
    verifiers = _verifiers(devnet)
    out: dict[str, Any] = {
        "verifiers": list(genesis.execute_verifiers),
        "mode": genesis.execute_verifier_mode,
        "count": 0,
        "disagreements": [],
        "timings": {},
    }
    if verifiers is None:
        return out
    out["count"] = verifiers.disagreement_count
    out["timings"] = {
        name: {"calls": t["calls"], "seconds": round(t["seconds"], 6)}
        for name, t in verifiers.timings().items()
    }
    for item in list(verifiers.disagreements):
        record = item.as_dict()
        record["inputHash"] = _hex(record["inputHash"])
        record["verdicts"] = {
            name: {k: _hex(v) for k, v in verdict.items()}
            for name, verdict in record["verdicts"].items()
        }
        out["disagreements"].append(record)
    return out
