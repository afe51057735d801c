"""What settling one L2 block on L1 cost and produced: the ``Settlement`` record, read from the
``advance`` receipt and calldata alone, and the split of its L1 gas (calldata, EXECUTE's
charge, the contract's logic, EIP-7623's floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_abi import decode

from precompiles.execute_wire import execute_gas_cost, execute_input_length
from sequencer.client import RpcClient, RpcError, h2b, h2i
from sequencer.messages import ADVANCE_TO, BLOCK_SETTLED, Revert, arg_types, selector, topic

TX_BASE_GAS = 21_000


class SettlementError(RuntimeError):
    """The L1 refused (or would refuse) an ``advance``."""

    def __init__(self, message: str, revert: Revert | None = None) -> None:
        super().__init__(message)
        self.revert = revert


# -- L1 gas of an advance ------------------------------------------------------------------------


@dataclass(frozen=True)
class GasSplit:
    """Where an ``advance`` transaction's L1 gas went.

    ``calldata_standard`` is 16/4 gas per non-zero/zero byte, ``calldata_floor`` EIP-7623's
    10 per token (a non-zero byte is 4 tokens). ``execute`` is EXECUTE's L1 charge
    (100000 + 6 per input word). ``execution`` is all the EVM gas of the call (EXECUTE plus
    the contract's logic) when a trace measured it. When the floor binds, the receipt shows
    ``21000 + floor`` and the execution gas is inside it (``floor_surcharge`` is the excess).
    """

    total: int
    calldata_bytes: int
    calldata_standard: int
    calldata_floor: int
    execute: int
    execution: int | None

    @property
    def floor_binds(self) -> bool:
        return self.total == TX_BASE_GAS + self.calldata_floor and (
            self.execution is None or self.calldata_floor > self.calldata_standard + self.execution
        )

    @property
    def logic(self) -> int | None:
        """Contract logic: execution gas minus EXECUTE's charge."""
        if self.execution is not None:
            return self.execution - self.execute
        if not self.floor_binds:
            return self.total - TX_BASE_GAS - self.calldata_standard - self.execute
        return None

    @property
    def floor_surcharge(self) -> int:
        """Gas paid beyond 21000 + standard calldata + execution (EIP-7623)."""
        if not self.floor_binds:
            return 0
        if self.execution is None:
            return self.total - TX_BASE_GAS - self.calldata_standard - self.execute
        return self.total - TX_BASE_GAS - self.calldata_standard - self.execution


def calldata_gas(data: bytes) -> tuple[int, int]:
    """(standard 16/4 gas, EIP-7623 floor) of transaction data."""
    zeros = data.count(0)
    nonzero = len(data) - zeros
    return 4 * zeros + 16 * nonzero, 10 * (zeros + 4 * nonzero)


def measured_execution_gas(l1: RpcClient, tx_hash: str) -> int | None:
    """EVM gas of a transaction's execution from geth's struct logger, if the node has it."""
    try:
        trace = l1.call(
            "debug_traceTransaction",
            tx_hash,
            {"disableStack": True, "disableStorage": True, "enableMemory": False},
        )
    except RpcError:
        return None
    logs = trace.get("structLogs") or []
    if not logs:
        return None
    top = [s for s in logs if s.get("depth") == 1]
    last = top[-1]
    return h2i(logs[0]["gas"]) - (h2i(last["gas"]) - h2i(last["gasCost"]))


# -- settlements ---------------------------------------------------------------------------------


@dataclass
class Settlement:
    """One L2 block settled on L1."""

    number: int
    l2_hash: bytes
    l1_tx: str
    l1_block: int
    tx_count: int
    l2_gas_used: int
    witness_bytes: int
    transactions_bytes: int
    gas: GasSplit
    burned_fees: int
    execute_fee: int
    execute_base_fee: int
    l1_gas_price: int
    seconds: float  # from the start of the block (mining or catch-up) to the checked hash
    mine_seconds: float = 0.0

    @property
    def l1_cost(self) -> int:
        """Wei the sequencer spent on L1 for this block (gas + execute fee)."""
        return self.gas.total * self.l1_gas_price + self.execute_fee


ADVANCE_ARGS = [
    "bytes32",
    "bytes32",
    "uint256",
    "uint256",
    "address",
    "bytes32",
    "bytes32",
    "bytes",
    "bytes",
]


def settled_event(receipt: dict, rollup_address: bytes) -> dict:
    """The ``BlockSettled`` event of an ``advance`` receipt."""
    wanted = topic(BLOCK_SETTLED)
    for entry in receipt["logs"]:
        if h2b(entry["address"]) == rollup_address and entry["topics"][0] == wanted:
            _, gas_used, burned, fee = decode(
                ["bytes32", "uint256", "uint256", "uint256"], h2b(entry["data"])
            )
            return {
                "number": h2i(entry["topics"][1]),
                "blockHash": h2b(entry["topics"][2]),
                "gasUsed": gas_used,
                "burnedFees": burned,
                "executeFee": fee,
            }
    raise SettlementError("advance succeeded without a BlockSettled event")


def settlement_of(
    l1: RpcClient,
    rollup_address: bytes,
    receipt: dict,
    data: bytes,
    seconds: float = 0.0,
    mine_seconds: float = 0.0,
    measure_execution: bool = True,
) -> Settlement:
    """Describe a successful ``advance`` from its L1 receipt and calldata alone."""
    event = settled_event(receipt, rollup_address)
    if data[:4] == selector(ADVANCE_TO):
        transactions, witness = decode(arg_types(ADVANCE_TO), data[4:])[2:4]
    else:
        transactions, witness = decode(ADVANCE_ARGS, data[4:])[7:9]
    l1_block = l1.block(h2i(receipt["blockNumber"]))
    standard, floor = calldata_gas(data)
    execution = (
        measured_execution_gas(l1, receipt["transactionHash"]) if measure_execution else None
    )
    input_length = execute_input_length(len(transactions), len(witness))
    return Settlement(
        number=event["number"],
        l2_hash=event["blockHash"],
        l1_tx=receipt["transactionHash"],
        l1_block=h2i(receipt["blockNumber"]),
        tx_count=len(rlp.decode(transactions)),
        l2_gas_used=event["gasUsed"],
        witness_bytes=len(witness),
        transactions_bytes=len(transactions),
        gas=GasSplit(
            total=h2i(receipt["gasUsed"]),
            calldata_bytes=len(data),
            calldata_standard=standard,
            calldata_floor=floor,
            execute=execute_gas_cost(input_length),
            execution=execution,
        ),
        burned_fees=event["burnedFees"],
        execute_fee=event["executeFee"],
        execute_base_fee=h2i(l1_block.get("executeBaseFeePerGas") or "0x0"),
        l1_gas_price=h2i(receipt["effectiveGasPrice"]),
        seconds=seconds,
        mine_seconds=mine_seconds,
    )
