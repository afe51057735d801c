"""``eth_simulateV1``: calls run in a chain of simulated blocks on top of a base block, as geth
runs them (``internal/ethapi/simulate.go``), on one throw-away state.

Each simulated block may carry block overrides (number, time, gas limit, fee recipient, base
fee, prevRandao) and state overrides applied before its calls; the calls run in order and see
what the earlier ones (of this block and of the earlier blocks) did. Block numbers and
timestamps rise from the base block (12 seconds a block unless overridden); a gap in the
numbers is filled with empty blocks, which the answer holds too.

Two modes, as geth's ``validation`` flag:
- without validation (the default) the base fee is 0 unless overridden, nonces are not
  checked (a missing nonce is the sender's current one), and a call's fee fields default to
  0; the sender still needs the value it sends (and the gas it pays for when it names a fee);
- with validation the base fee follows EIP-1559 from the parent, and each call is checked as
  a transaction would be: nonce, fee cap against the base fee, funds, intrinsic gas.
A call that fails those checks, or that does not fit in its block's gas, fails the whole
request with the spec's code; a call that reverts or halts is answered in its result.

With ``trace_transfers`` every ether transfer (the call's value and every internal one)
appears among the call's logs as an ERC-20 ``Transfer`` from the ERC-7528 address, in order
with the real logs, and dropped with them when its frame reverts.

Nothing is stored: the state lives in memory (``make_state_root`` computes the roots without
writing to the database) and the chain, pool and head are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from hashlib import sha256
from itertools import islice

from eth.abc import BlockAPI, BlockHeaderAPI, ComputationAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS, UINT_64_MAX, ZERO_HASH32
from eth.db.trie import make_trie_root_and_nodes
from eth.vm.chain_context import ChainContext
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.opcode_values import SELFDESTRUCT
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_utils import ValidationError, to_checksum_address

from node.errors import ExecutionHalted, InvalidTransaction
from node.interrupt import Deadline
from node.simulation import (
    RPC_GAS_CAP,
    AccountOverride,
    BlockOverride,
    CallRequest,
    override_account,
    unsigned_fee_market_transaction,
)

# geth's maxSimulateBlocks: the last simulated block is at most this far past the base.
MAX_SIMULATE_BLOCKS = 256
# Calls in one request, over all its blocks (geth has no such bound; its gas cap and
# timeout bound the work, this bounds the answer's size and the parsing).
MAX_SIMULATE_CALLS = 1_000
TIMESTAMP_INCREMENT = 12  # geth's default seconds between simulated blocks
BLOCKHASH_WINDOW = 256

# ERC-7528's address for native ether, and the ERC-20 Transfer(address,address,uint256) topic.
TRANSFER_LOG_ADDRESS = b"\xee" * 20
TRANSFER_TOPIC = int.from_bytes(keccak(b"Transfer(address,address,uint256)"), "big")
EMPTY_REQUESTS_HASH = sha256(b"").digest()  # EIP-7685: a block without requests


class SimulateError(Enum):
    """Why a simulation request fails as a whole (the spec's error kinds)."""

    NONCE_TOO_LOW = "nonce too low"
    NONCE_TOO_HIGH = "nonce too high"
    FEE_CAP_TOO_LOW = "max fee per gas less than block base fee"
    INTRINSIC_GAS = "intrinsic gas too low"
    INSUFFICIENT_FUNDS = "insufficient funds for gas * price + value"
    BLOCK_GAS_LIMIT = "block gas limit reached"
    BLOCK_NUMBER_ORDER = "block numbers must be in order"
    BLOCK_TIMESTAMP_ORDER = "block timestamps must be in order"
    INIT_CODE_TOO_LARGE = "max initcode size exceeded"
    CLIENT_LIMIT = "client limit exceeded"
    INVALID_CALL = "invalid call"  # fee fields that contradict each other, nonce at its max


class SimulateFailure(Exception):
    """The request cannot be simulated: ``kind`` says why, the message says it in geth's words."""

    def __init__(self, kind: SimulateError, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class SimBlockRequest:
    """One entry of ``blockStateCalls``."""

    block_override: BlockOverride | None = None
    state_overrides: tuple[tuple[bytes, AccountOverride], ...] = ()
    calls: tuple[CallRequest, ...] = ()


@dataclass(frozen=True)
class SimulateRequest:
    blocks: tuple[SimBlockRequest, ...]
    validation: bool = False
    trace_transfers: bool = False


@dataclass(frozen=True)
class SimLog:
    address: bytes
    topics: tuple[int, ...]
    data: bytes
    index: int  # in the block


@dataclass(frozen=True)
class SimCallResult:
    output: bytes
    gas_used: int
    max_used_gas: int  # before refunds
    logs: tuple[SimLog, ...]
    error: Exception | None  # None, or the computation's error (Revert, OutOfGas, ...)

    @property
    def status(self) -> int:
        return 0 if self.error is not None else 1


@dataclass
class SimulatedBlock:
    block: BlockAPI
    senders: list[bytes] = field(default_factory=list)
    calls: list[SimCallResult] = field(default_factory=list)


def simulate(
    chain,
    request: SimulateRequest,
    base: BlockHeaderAPI,
    *,
    gas_limit: int | None = None,
    gas_cap: int = RPC_GAS_CAP,
    deadline: Deadline | None = None,
) -> list[SimulatedBlock]:
    """Run ``request`` on top of ``base`` (a block of ``chain``). ``gas_limit`` is the first
    block's gas limit unless overridden (default: the base block's); later blocks keep their
    parent's. All calls together get at most ``gas_cap`` gas (geth's gas pool); with a
    ``deadline`` the whole request stops once it passes."""
    plan = _plan_blocks(request.blocks, base)
    if sum(len(b.calls) for _, _, b in plan) > MAX_SIMULATE_CALLS:
        raise SimulateFailure(
            SimulateError.CLIENT_LIMIT, f"too many calls: at most {MAX_SIMULATE_CALLS}"
        )
    vm_class = chain.vm_class
    state = chain.vm_factory.simulation_state(base, chain.state_root_after(base), chain.head)

    def computation_at(timestamp: int) -> type:
        """The computation of the fork a simulated block at ``timestamp`` runs."""
        fork = chain.vm_factory.class_at(timestamp).get_state_class().computation_class
        if request.trace_transfers:
            fork = _transfer_logging(fork)
        return fork if deadline is None else deadline.computation_class(fork)

    base_hashes = list(
        islice(vm_class.get_prev_hashes(base.hash, chain.chaindb) or (), BLOCKHASH_WINDOW)
    )
    simulated_hashes: list[bytes] = []  # newest last
    budget = [gas_cap]  # what is left of the gas pool
    results: list[SimulatedBlock] = []
    parent = base
    for _number, timestamp, block in plan:
        if deadline is not None:
            deadline.check()
        override = block.block_override or BlockOverride()
        header = vm_class.create_header_from_parent(
            parent,
            timestamp=timestamp,
            gas_limit=override.gas_limit
            if override.gas_limit is not None
            else (gas_limit if parent is base and gas_limit is not None else parent.gas_limit),
            coinbase=override.coinbase if override.coinbase is not None else parent.coinbase,
        )
        base_fee = override.base_fee_per_gas
        if base_fee is None:
            base_fee = header.base_fee_per_gas if request.validation else 0
        header = header.copy(
            base_fee_per_gas=base_fee,
            mix_hash=override.prev_randao if override.prev_randao is not None else ZERO_HASH32,
            extra_data=b"",
            parent_beacon_block_root=ZERO_HASH32,
        )
        prev_hashes = [*reversed(simulated_hashes), *base_hashes][:BLOCKHASH_WINDOW]
        contexts = tuple(
            vm_class.create_execution_context(h, prev_hashes, ChainContext(chain.chain_id))
            for h in (header, header.copy(base_fee_per_gas=0))
        )
        state.execution_context = contexts[0]
        state.computation_class = computation_at(timestamp)  # each block under its fork
        for address, account in block.state_overrides:
            override_account(state, address, account)
        result = _run_block(chain, state, header, contexts, block, request, budget, deadline)
        results.append(result)
        simulated_hashes.append(result.block.header.hash)
        parent = result.block.header
    return results


def _plan_blocks(
    blocks: tuple[SimBlockRequest, ...], base: BlockHeaderAPI
) -> list[tuple[int, int, SimBlockRequest]]:
    """geth's ``sanitizeChain``: each block's number and timestamp, strictly rising from the
    base, with empty blocks filling gaps in the numbers."""
    plan: list[tuple[int, int, SimBlockRequest]] = []
    number, timestamp = base.block_number, base.timestamp
    for block in blocks:
        override = block.block_override or BlockOverride()
        wanted = override.number if override.number is not None else number + 1
        if wanted <= number:
            raise SimulateFailure(
                SimulateError.BLOCK_NUMBER_ORDER,
                f"block numbers must be in order: {wanted} <= {number}",
            )
        if wanted - base.block_number > MAX_SIMULATE_BLOCKS:
            raise SimulateFailure(SimulateError.CLIENT_LIMIT, "too many blocks")
        for gap in range(number + 1, wanted):
            timestamp += TIMESTAMP_INCREMENT
            _check_timestamp(timestamp)
            plan.append((gap, timestamp, SimBlockRequest()))
        if override.timestamp is None:
            chosen = timestamp + TIMESTAMP_INCREMENT
        elif override.timestamp <= timestamp:
            raise SimulateFailure(
                SimulateError.BLOCK_TIMESTAMP_ORDER,
                f"block timestamps must be in order: {override.timestamp} <= {timestamp}",
            )
        else:
            chosen = override.timestamp
        _check_timestamp(chosen)
        number, timestamp = wanted, chosen
        plan.append((number, timestamp, block))
    return plan


def _check_timestamp(timestamp: int) -> None:
    if timestamp > UINT_64_MAX:
        raise SimulateFailure(
            SimulateError.BLOCK_TIMESTAMP_ORDER, f"block timestamp {timestamp} exceeds 2^64-1"
        )


def _run_block(
    chain,
    state: StateAPI,
    header: BlockHeaderAPI,
    contexts: tuple,
    block: SimBlockRequest,
    request: SimulateRequest,
    budget: list[int],
    deadline: Deadline | None,
) -> SimulatedBlock:
    out = SimulatedBlock(block=None)  # type: ignore[arg-type]
    transactions, receipts = [], []
    gas_used = 0
    log_index = 0
    for call in block.calls:
        if deadline is not None:
            deadline.check()
        tx, sender, computation, used, max_used = _run_call(
            chain, state, header, contexts, call, request.validation, gas_used, budget
        )
        gas_used += used
        budget[0] = max(budget[0] - used, 0)
        entries = computation.get_log_entries()
        status = (
            EIP658_TRANSACTION_STATUS_CODE_FAILURE
            if computation.is_error
            else EIP658_TRANSACTION_STATUS_CODE_SUCCESS
        )
        receipt = tx.make_receipt(status, gas_used, entries)
        logs = tuple(
            SimLog(address, tuple(topics), data, log_index + i)
            for i, (address, topics, data) in enumerate(entries)
        )
        log_index += len(logs)
        transactions.append(tx)
        receipts.append(receipt)
        out.senders.append(sender)
        out.calls.append(
            SimCallResult(
                computation.output,
                used,
                max_used,
                logs,
                computation.error if computation.is_error else None,
            )
        )
    bloom = 0
    for receipt in receipts:
        bloom |= receipt.bloom
    tx_root, _ = make_trie_root_and_nodes(tuple(transactions))
    receipt_root, _ = make_trie_root_and_nodes(tuple(receipts))
    state.lock_changes()
    sealed = header.copy(
        state_root=state.make_state_root(),
        transaction_root=tx_root if transactions else BLANK_ROOT_HASH,
        receipt_root=receipt_root if receipts else BLANK_ROOT_HASH,
        bloom=bloom,
        gas_used=gas_used,
        withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=0,
        requests_hash=EMPTY_REQUESTS_HASH,
    )
    out.block = chain.vm_class.get_block_class()(sealed, transactions, [], [])
    return out


def _run_call(
    chain,
    state: StateAPI,
    header: BlockHeaderAPI,
    contexts: tuple,
    call: CallRequest,
    validation: bool,
    block_gas_used: int,
    budget: list[int],
) -> tuple[object, bytes, ComputationAPI, int, int]:
    """One call as a transaction of the block: the zero-signature transaction the block
    lists, its sender, its computation, the gas it used and the most it used before refunds."""
    sender = call.sender
    state_nonce = state.get_nonce(sender)
    nonce = call.nonce if call.nonce is not None else state_nonce
    gas = call.gas if call.gas is not None else header.gas_limit - block_gas_used
    if block_gas_used + gas > header.gas_limit:
        raise SimulateFailure(
            SimulateError.BLOCK_GAS_LIMIT,
            f"block gas limit reached: {block_gas_used} >= {header.gas_limit}",
        )
    gas = min(gas, budget[0])  # geth caps each call by what is left of its gas pool
    max_fee = call.max_fee_per_gas or 0
    tip = call.max_priority_fee_per_gas if call.max_priority_fee_per_gas is not None else 0
    if call.max_fee_per_gas is None and call.max_priority_fee_per_gas is not None:
        max_fee = tip + header.base_fee_per_gas  # geth fills the fee cap from the tip
    builder = chain.transaction_builder
    unsigned = unsigned_fee_market_transaction(
        builder,
        chain.chain_id,
        nonce,
        tip,
        max_fee,
        gas,
        call.to,
        call.value,
        call.data,
        call.access_list,
        call.authorization_list,
    )
    if call.authorization_list:
        tx = builder.new_set_code_transaction(
            chain.chain_id,
            nonce,
            tip,
            max_fee,
            gas,
            call.to,
            call.value,
            call.data,
            list(call.access_list),
            list(call.authorization_list),
            0,
            0,
            0,
        )
    else:  # py-evm builds it as London's type; the fork's block holds the fork's type
        tx = builder.decode(
            builder.new_dynamic_fee_transaction(
                chain.chain_id,
                nonce,
                tip,
                max_fee,
                gas,
                call.to,
                call.value,
                call.data,
                list(call.access_list),
                0,
                0,
                0,
            ).encode()
        )
    _check_call(state, header, unsigned, sender, state_nonce, validation)
    spoofed = SpoofTransaction(tx, sender=sender, type_id=unsigned._type_id)
    # geth: without validation a call that names no fee runs with BASEFEE 0, as eth_call.
    free = not validation and max_fee == 0 and tip == 0
    state.execution_context = contexts[1] if free else contexts[0]
    state.lock_changes()  # a new transaction starts: what came before cannot be reverted
    executor = state.get_transaction_executor()
    try:
        message = executor.build_evm_message(spoofed)
        computation = executor.build_computation(message, spoofed)
    except InvalidTransaction as exc:
        raise SimulateFailure(SimulateError.INVALID_CALL, _supplied(str(exc), gas)) from None
    except ValidationError as exc:  # e.g. a transfer to an account set to 2**256-1 wei
        raise ExecutionHalted(f"execution failed: {exc}") from None
    computation = executor.finalize_computation(spoofed, computation)
    state.clear_transient_storage()
    state.execution_context = contexts[0]
    used = chain.vm_class.finalize_gas_used(spoofed, computation)
    max_used = max(gas - computation.get_gas_remaining(), used)
    return tx, sender, computation, used, max_used


def _supplied(message: str, gas: int) -> str:
    return f"err: {message} (supplied gas {gas})"  # geth's wrapping of a failed call


def _check_call(
    state: StateAPI,
    header: BlockHeaderAPI,
    unsigned,
    sender: bytes,
    state_nonce: int,
    validation: bool,
) -> None:
    """geth's pre-checks of a simulated transaction, in its order and words."""
    who = to_checksum_address(sender)
    gas = unsigned.gas

    def fail(kind: SimulateError, detail: str) -> SimulateFailure:
        return SimulateFailure(kind, _supplied(detail, gas))

    if validation:
        if unsigned.nonce < state_nonce:
            raise fail(
                SimulateError.NONCE_TOO_LOW,
                f"nonce too low: address {who}, tx: {unsigned.nonce} state: {state_nonce}",
            )
        if unsigned.nonce > state_nonce:
            raise fail(
                SimulateError.NONCE_TOO_HIGH,
                f"nonce too high: address {who}, tx: {unsigned.nonce} state: {state_nonce}",
            )
    if state_nonce >= UINT_64_MAX:
        raise fail(
            SimulateError.INVALID_CALL, f"nonce has max value: address {who}, nonce: {state_nonce}"
        )
    if unsigned.max_priority_fee_per_gas > unsigned.max_fee_per_gas:
        raise fail(
            SimulateError.INVALID_CALL,
            f"max priority fee per gas higher than max fee per gas: address {who}, "
            f"maxPriorityFeePerGas: {unsigned.max_priority_fee_per_gas}, "
            f"maxFeePerGas: {unsigned.max_fee_per_gas}",
        )
    named_fee = unsigned.max_fee_per_gas or unsigned.max_priority_fee_per_gas
    if (validation or named_fee) and unsigned.max_fee_per_gas < header.base_fee_per_gas:
        raise fail(
            SimulateError.FEE_CAP_TOO_LOW,
            f"max fee per gas less than block base fee: address {who}, "
            f"maxFeePerGas: {unsigned.max_fee_per_gas}, baseFee: {header.base_fee_per_gas}",
        )
    cost = gas * unsigned.max_fee_per_gas + unsigned.value
    balance = state.get_balance(sender)
    if balance < cost:
        raise fail(
            SimulateError.INSUFFICIENT_FUNDS,
            f"insufficient funds for gas * price + value: address {who} have {balance} want {cost}",
        )
    if gas < unsigned.intrinsic_gas:
        raise fail(
            SimulateError.INTRINSIC_GAS,
            f"intrinsic gas too low: have {gas}, want {unsigned.intrinsic_gas}",
        )
    if unsigned.to == CREATE_CONTRACT_ADDRESS and len(unsigned.data) > 2 * 24_576:
        raise fail(
            SimulateError.INIT_CODE_TOO_LARGE,
            f"max initcode size exceeded: code size {len(unsigned.data)} limit {2 * 24_576}",
        )


def _transfer_logging(base: type) -> type:
    """``base`` (a computation class) logging each frame's ether transfer as an ERC-7528
    ``Transfer`` when the frame starts: it sorts with the frame's own logs and is dropped
    with them if the frame fails."""

    class TransferLoggingComputation(base):  # type: ignore[misc, valid-type]
        def __init__(self, state, message, transaction_context) -> None:
            super().__init__(state, message, transaction_context)
            if message.should_transfer_value and message.value:
                self.add_log_entry(
                    TRANSFER_LOG_ADDRESS,
                    (
                        TRANSFER_TOPIC,
                        int.from_bytes(message.sender, "big"),
                        int.from_bytes(message.storage_address, "big"),
                    ),
                    message.value.to_bytes(32, "big"),
                )

    opcodes = dict(base.opcodes)
    if SELFDESTRUCT in opcodes:
        opcodes[SELFDESTRUCT] = _logging_selfdestruct(opcodes[SELFDESTRUCT])
    TransferLoggingComputation.opcodes = opcodes
    TransferLoggingComputation.__name__ = f"TransferLogging{base.__name__}"
    TransferLoggingComputation.__qualname__ = TransferLoggingComputation.__name__
    return TransferLoggingComputation


def _logging_selfdestruct(fn):
    """SELFDESTRUCT logging the balance it sends to its beneficiary (the stack's top)."""

    def opcode(computation) -> None:
        stack = computation._stack.values
        balance = computation.state.get_balance(computation.msg.storage_address)
        if stack and balance:
            top = stack[-1]
            beneficiary = top if isinstance(top, int) else int.from_bytes(top, "big")
            computation.add_log_entry(
                TRANSFER_LOG_ADDRESS,
                (
                    TRANSFER_TOPIC,
                    int.from_bytes(computation.msg.storage_address, "big"),
                    beneficiary % 2**160,
                ),
                balance.to_bytes(32, "big"),
            )
        fn(computation=computation)

    opcode.mnemonic = getattr(fn, "mnemonic", None)  # type: ignore[attr-defined]
    return opcode
