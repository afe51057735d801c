"""Simulated calls: ``eth_call``, ``eth_estimateGas`` and ``eth_createAccessList`` on a
throw-away state of the chain, with geth's state and block overrides and gas cap.

Nothing here commits: each run executes one spoofed transaction on a simulation state
(``VMFactory.simulation_state``, which the fork class prepares). A plain call reuses a warm
state of its block (``node.warm_state``: checkpoint, run, discard); a call with overrides, an
access recorder or a ``prepare`` gets a fresh one, with the overrides applied.
``prepare``, if given, sees that state before the call runs (a tracer installs itself there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS, UINT_64_MAX, ZERO_ADDRESS
from eth.exceptions import OutOfGas, Revert
from eth.vm.forks.cancun.state import CancunTransactionExecutor
from eth.vm.forks.london.constants import DYNAMIC_FEE_TRANSACTION_TYPE
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from node.errors import ExecutionHalted, ExecutionReverted, InvalidTransaction, TxRejection
from node.fork.l1 import L1TransactionExecutor
from node.interrupt import NO_DEADLINE, Deadline
from node.receipts import contract_address, effective_gas_price
from node.revert import decode_revert_reason
from node.warm_state import memoize_account_decoding, reset_transient_storage, warm_states

if TYPE_CHECKING:
    from node.chain import Chain

TRANSFER_GAS = 21_000
ACCESS_LIST_ROUNDS = 8
# The most gas one simulation (eth_call, eth_estimateGas, eth_createAccessList, a traced
# call) gets, as geth's --rpc.gascap: a request asking for more is capped without a word.
RPC_GAS_CAP = 50_000_000


@dataclass(frozen=True)
class AccountOverride:
    """One account's replacement fields for a simulated call (geth's state override)."""

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: tuple[tuple[int, int], ...] | None = None  # replaces the whole storage
    state_diff: tuple[tuple[int, int], ...] | None = None  # changes some slots


@dataclass(frozen=True)
class BlockOverride:
    """Block-context fields for a simulated call (geth's block override)."""

    number: int | None = None
    timestamp: int | None = None
    gas_limit: int | None = None
    coinbase: bytes | None = None
    base_fee_per_gas: int | None = None
    prev_randao: bytes | None = None


@dataclass(frozen=True)
class CallRequest:
    """An ``eth_call``/``eth_estimateGas`` request in Python values."""

    sender: bytes = ZERO_ADDRESS
    to: bytes = CREATE_CONTRACT_ADDRESS
    gas: int | None = None
    value: int = 0
    data: bytes = b""
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    nonce: int | None = None
    access_list: tuple = ()
    authorization_list: tuple = ()
    state_overrides: tuple[tuple[bytes, AccountOverride], ...] = ()
    block_override: BlockOverride | None = None


@dataclass(frozen=True)
class CallResult:
    output: bytes
    gas_used: int
    error: Exception | None  # None, or the computation's error (Revert, OutOfGas, ...)

    @property
    def is_revert(self) -> bool:
        return isinstance(self.error, Revert)


class AccessRecorder:
    """Collects the addresses and storage slots a simulated execution warms."""

    def __init__(self) -> None:
        self.addresses: set[bytes] = set()
        self.slots: dict[bytes, set[int]] = {}

    def attach(self, state: StateAPI) -> None:
        mark_address, mark_storage = state.mark_address_warm, state.mark_storage_warm

        def address_warm(address: bytes) -> None:
            self.addresses.add(address)
            mark_address(address)

        def storage_warm(address: bytes, slot: int) -> None:
            self.addresses.add(address)
            self.slots.setdefault(address, set()).add(slot)
            mark_storage(address, slot)

        state.mark_address_warm = address_warm  # this throw-away state only
        state.mark_storage_warm = storage_warm

    def access_list(self, excluded: set[bytes]) -> tuple:
        """Every address with the slots it touched; an ``excluded`` address only when it
        has slots (geth's and anvil's access-list tracers keep the slots of the sender,
        recipient and precompiles and leave out their address-only entries)."""
        return tuple(
            (address, tuple(sorted(self.slots.get(address, ()))))
            for address in sorted(self.addresses)
            if address not in excluded or self.slots.get(address)
        )


def unsigned_fee_market_transaction(
    builder,
    chain_id: int,
    nonce: int,
    tip: int,
    max_fee: int,
    gas: int,
    to: bytes,
    value: int,
    data: bytes,
    access_list: tuple = (),
    authorization_list: tuple = (),
):
    """A dynamic-fee transaction (type 2), or a set-code one (type 4) when it carries
    authorizations: what simulations run and what ``eth_sendTransaction`` signs."""
    if authorization_list:
        return builder.new_unsigned_set_code_transaction(
            chain_id,
            nonce,
            tip,
            max_fee,
            gas,
            to,
            value,
            data,
            list(access_list),
            list(authorization_list),
        )
    return builder.new_unsigned_dynamic_fee_transaction(
        chain_id, nonce, tip, max_fee, gas, to, value, data, list(access_list)
    )


def call(
    chain: Chain,
    request: CallRequest,
    header: BlockHeaderAPI,
    accessed: AccessRecorder | None = None,
    *,
    gas_cap: int = RPC_GAS_CAP,
    deadline: Deadline | None = None,
    prepare: Callable[[StateAPI], None] | None = None,
) -> CallResult:
    """Run a message call (or creation) after ``header``'s block without committing
    anything. ``accessed``, if given, collects the accounts and slots the execution touched;
    ``prepare``, if given, is handed the simulation state before anything runs on it. The
    call gets at most ``gas_cap`` gas; with a ``deadline`` it stops once that passes
    (``Deadline.run`` turns the interruption into its error)."""
    costless = request.max_fee_per_gas is None
    state_root = chain.state_root_after(header)
    if (
        accessed is None
        and prepare is None
        and not request.state_overrides
        and request.block_override is None
    ):
        # A plain call: on a warm state of this block (checkpoint, run, discard).
        head = chain.head
        key = (header.hash, state_root, head.hash, costless)

        def build() -> StateAPI:
            state = chain.vm_factory.simulation_state(header, state_root, head, costless)
            memoize_account_decoding(state)
            return state

        def reset(state: StateAPI) -> None:
            reset_transient_storage(state)
            chain.vm_factory.class_at(header.timestamp).prepare_simulation_state(state, head)
            if deadline is not None:
                deadline.install(state)
            else:
                state.simulation_deadline = NO_DEADLINE

        def run(state: StateAPI) -> CallResult:
            return _run_call(chain, state, request, header, costless, gas_cap)

        return warm_states(chain).run(key, build, reset, run)
    header = _override_header(header, request.block_override)
    state = chain.vm_factory.simulation_state(header, state_root, chain.head, costless)
    if prepare is not None:
        prepare(state)
    if deadline is not None:
        deadline.install(state)
    for address, override in request.state_overrides:
        override_account(state, address, override)
    if accessed is not None:
        accessed.attach(state)
    return _run_call(chain, state, request, header, costless, gas_cap, lean=prepare is None)


def _run_call(
    chain: Chain,
    state: StateAPI,
    request: CallRequest,
    header: BlockHeaderAPI,
    costless: bool,
    gas_cap: int,
    *,
    lean: bool = True,
) -> CallResult:
    """The spoofed transaction of ``request`` on ``state`` (prepared by ``call``). ``lean``
    (not for a traced call, whose tracer sees the whole transaction): where py-evm's steps
    are known, the same steps without its debug text and, for a costless call, without the
    final state changes nobody reads (``_build_message``, ``_settle_costless``)."""
    gas = min(request.gas if request.gas is not None else header.gas_limit, gas_cap)
    max_fee = request.max_fee_per_gas or 0
    tip = request.max_priority_fee_per_gas
    if tip is None:
        tip = max_fee if request.max_fee_per_gas is not None else 0
    nonce = request.nonce if request.nonce is not None else state.get_nonce(request.sender)
    unsigned = unsigned_fee_market_transaction(
        chain.transaction_builder,
        chain.chain_id,
        nonce,
        tip,
        max_fee,
        gas,
        request.to,
        request.value,
        request.data,
        request.access_list,
        request.authorization_list,
    )
    executor = state.get_transaction_executor()
    lean = lean and LEAN_CALLS and _has_known_message_builder(executor, unsigned)
    if lean:
        tx = _SimulatedTransaction(unsigned, request.sender)
    else:
        tx = SpoofTransaction(unsigned, sender=request.sender, type_id=unsigned._type_id)
    if tx.gas < tx.intrinsic_gas:
        raise InvalidTransaction(
            TxRejection.INTRINSIC_GAS, f"have {tx.gas}, want {tx.intrinsic_gas}"
        )
    _check_simulated_sender(state, request, tx, header, costless, gas)
    message = _build_message(executor, state, tx) if lean else executor.build_evm_message(tx)
    try:
        computation = executor.build_computation(message, tx)
    except InvalidTransaction:
        raise
    except ValidationError as exc:  # e.g. a transfer to an account set to 2**256-1 wei
        raise ExecutionHalted(f"execution failed: {exc}") from None
    if lean and costless and type(executor).finalize_computation in _KNOWN_FINALIZERS:
        _settle_costless(executor, tx, computation)
    else:
        computation = executor.finalize_computation(tx, computation)
    gas_used = chain.vm_class.finalize_gas_used(tx, computation)
    if computation.is_error:
        return CallResult(computation.output, gas_used, computation.error)
    return CallResult(computation.output, gas_used, None)


# The lean message path (``_build_message``, ``_SimulatedTransaction``); tests turn it off to
# compare it with py-evm's own (tests/unit/test_call_fast_path.py).
LEAN_CALLS = True


class _SimulatedTransaction:
    """The spoofed transaction of a simulation, as ``SpoofTransaction`` shows it (``unsigned``
    with ``sender`` and ``type_id`` set), with the fields the executor reads taken once:
    an RLP field is a property, and ``intrinsic_gas`` is worked out anew on each read
    (together about a tenth of a short call). Anything else is read from ``unsigned``."""

    def __init__(self, unsigned, sender: bytes) -> None:
        self._unsigned = unsigned
        self.sender = sender
        self.type_id = unsigned._type_id
        self.nonce = unsigned.nonce
        self.gas = unsigned.gas
        self.to = unsigned.to
        self.value = unsigned.value
        self.data = unsigned.data
        self.max_fee_per_gas = unsigned.max_fee_per_gas
        self.max_priority_fee_per_gas = unsigned.max_priority_fee_per_gas
        self.access_list = unsigned.access_list
        self.intrinsic_gas = unsigned.intrinsic_gas

    def __getattr__(self, name: str):
        return getattr(self._unsigned, name)


def _has_known_message_builder(executor, unsigned) -> bool:
    """Whether ``_build_message`` does what ``executor.build_evm_message`` would: py-evm's
    Cancun message building (Prague inherits it), for a transaction without authorizations
    or blobs (a dynamic-fee one)."""
    cls = type(executor)
    return (
        cls.build_evm_message is CancunTransactionExecutor.build_evm_message
        and cls.calc_message_refund in _NO_REFUND_WITHOUT_AUTHORIZATIONS
        and unsigned._type_id == DYNAMIC_FEE_TRANSACTION_TYPE
    )


_NO_REFUND_WITHOUT_AUTHORIZATIONS = (
    CancunTransactionExecutor.calc_message_refund,
    PragueTransactionExecutor.calc_message_refund,
)


def _build_message(executor, state: StateAPI, tx: _SimulatedTransaction) -> Message:
    """``CancunTransactionExecutor.build_evm_message`` for a dynamic-fee transaction, step for
    step (the fee drawn, the nonce raised, the code looked up through a delegation), less
    its debug line, whose text (a keccak of the data, hex of the code) is built even when
    nobody logs it."""
    sender = tx.sender
    fee = tx.gas * state.get_gas_price(tx)
    if fee:  # a zero change writes the account as it is; raising the nonce writes it anyway
        state.delta_balance(sender, -fee)
    state.increment_nonce(sender)
    refund = executor.calc_message_refund(tx)  # 0: no authorizations
    if tx.to == CREATE_CONTRACT_ADDRESS:
        create_address = generate_contract_address(sender, state.get_nonce(sender) - 1)
        data, code, is_delegation = b"", tx.data, False
    else:
        create_address = None
        data = tx.data
        code, delegation = executor.get_code_at_address(tx.to)
        is_delegation = delegation is not None
    return Message(
        gas=tx.gas - tx.intrinsic_gas,
        to=tx.to,
        sender=sender,
        value=tx.value,
        data=data,
        code=code,
        create_address=create_address,
        refund=refund,
        is_delegation=is_delegation,
    )


# py-evm's finalization (London's refund rule, Prague's calldata floor), as the L1 extends it
# (it burns the EXECUTE fee a run owes: a state change like the others).
_KNOWN_FINALIZERS = (
    PragueTransactionExecutor.finalize_computation,
    L1TransactionExecutor.finalize_computation,
)


def _settle_costless(executor, tx: _SimulatedTransaction, computation) -> None:
    """What ``finalize_computation`` leaves that outlives a simulation's state: the calldata
    floor the gas used includes (``finalize_gas_used`` reads it). The rest of it only
    changes that state, which is thrown away (or rolled back) unread: with a zero gas
    price (a costless call) the sender's refund and the coinbase's fee are zero, and the
    self-destructed and touched-empty accounts it deletes, like the EXECUTE fee the L1 burns,
    are never looked at again. A call with a tracer (``prepare``) never comes here."""
    gas_used = tx.gas - computation.get_gas_remaining()
    refund = executor.calculate_gas_refund(computation, gas_used)
    computation.data_floor_gas = executor.calc_data_floor_gas(tx, gas_used, refund)


def create_access_list(
    chain: Chain,
    request: CallRequest,
    header: BlockHeaderAPI,
    *,
    gas_cap: int = RPC_GAS_CAP,
    deadline: Deadline | None = None,
) -> tuple[tuple, CallResult]:
    """geth's ``eth_createAccessList``: run, collect what was touched (the sender,
    recipient, coinbase and precompiles only with the slots they have), run again with that list until it is stable.
    Every run shares ``deadline``."""
    sender = request.sender
    created = contract_address(
        sender, request.nonce if request.nonce is not None else chain.nonce(sender, header)
    )
    fork = chain.vm_factory.class_at(header.timestamp)  # this block's precompiles
    precompiles = fork.get_state_class().computation_class._precompiles
    excluded = {sender, request.to, created, header.coinbase, *precompiles}
    access_list = tuple(request.access_list)
    for _ in range(ACCESS_LIST_ROUNDS):
        recorder = AccessRecorder()
        result = call(
            chain,
            replace(request, access_list=access_list),
            header,
            recorder,
            gas_cap=gas_cap,
            deadline=deadline,
        )
        found = recorder.access_list(excluded)
        if found == access_list:
            break
        access_list = found
    return access_list, result


def estimate_gas(
    chain: Chain,
    request: CallRequest,
    header: BlockHeaderAPI,
    *,
    gas_cap: int = RPC_GAS_CAP,
    deadline: Deadline | None = None,
) -> int:
    """The least gas limit with which the call succeeds (geth's binary search, 1.5 %).
    The search looks no higher than ``gas_cap`` and, when the request names no gas, than the
    block's gas limit (the overridden one, if any); all its runs share one ``deadline``."""
    block_gas_limit = _override_header(header, request.block_override).gas_limit
    cap = min(request.gas if request.gas is not None else block_gas_limit, gas_cap)
    # The fork's transaction gas cap (Osaka's EIP-7825), as geth's search.
    cap = min(cap, getattr(chain.vm_factory.class_at(header.timestamp), "max_tx_gas", cap))

    def run(gas: int) -> CallResult:
        return call(chain, replace(request, gas=gas), header, gas_cap=cap, deadline=deadline)

    # A plain transfer to an account without code costs exactly the base charge.
    if (
        not request.data
        and not request.state_overrides
        and request.to != CREATE_CONTRACT_ADDRESS
        and not request.authorization_list
        and not chain.code(request.to, header)
    ):
        try:
            if run(TRANSFER_GAS).error is None:
                return TRANSFER_GAS
        except InvalidTransaction:
            pass
    first = run(cap)
    if first.error is not None:
        if _is_out_of_gas(first.error):
            raise ExecutionHalted(f"gas required exceeds allowance ({cap})")  # geth's words
        return_result_error(first)
    lo = max(first.gas_used - 1, 0)
    hi = cap
    # Most calls succeed with what they used plus the 1/64 rule's reserve.
    optimistic = min((first.gas_used + 2300) * 64 // 63, hi)
    if optimistic < hi and run(optimistic).error is None:
        hi = optimistic
    while hi - lo > 1 and (hi - lo) * 1000 > hi * 15:
        mid = (lo + hi) // 2
        try:
            ok = run(mid).error is None
        except InvalidTransaction:
            ok = False
        if ok:
            hi = mid
        else:
            lo = mid
    return hi


def return_result_error(result: CallResult) -> None:
    """Raise the user-facing error for a failed call result."""
    if result.is_revert:
        raise ExecutionReverted(result.output, decode_revert_reason(result.output))
    raise ExecutionHalted(str(result.error) or type(result.error).__name__)


def _check_simulated_sender(
    state, request: CallRequest, unsigned, header: BlockHeaderAPI, costless: bool, gas: int
) -> None:
    """The checks geth makes before it simulates a call, in its words: the sender's nonce can
    still grow, its fee cap covers the base fee, and it can pay the value (and, when the call
    names a gas price, the gas); anything else would surface as py-evm's internal errors."""
    sender = "0x" + request.sender.hex()
    nonce = unsigned.nonce
    if nonce >= UINT_64_MAX:
        raise InvalidTransaction(TxRejection.NONCE_MAX, f"address {sender}, nonce: {nonce}")
    if not costless:
        if unsigned.max_priority_fee_per_gas > unsigned.max_fee_per_gas:
            raise InvalidTransaction(
                TxRejection.TIP_ABOVE_FEE_CAP,
                f"address {sender}, maxPriorityFeePerGas: {unsigned.max_priority_fee_per_gas}, "
                f"maxFeePerGas: {unsigned.max_fee_per_gas}",
            )
        if unsigned.max_fee_per_gas < header.base_fee_per_gas:
            raise InvalidTransaction(
                TxRejection.FEE_CAP_TOO_LOW,
                f"address {sender}, maxFeePerGas: {unsigned.max_fee_per_gas}, "
                f"baseFee: {header.base_fee_per_gas}",
            )
    cost = request.value
    if not costless:
        cost += gas * effective_gas_price(unsigned, header.base_fee_per_gas)
    balance = state.get_balance(request.sender)
    if balance < cost:
        raise InvalidTransaction(
            TxRejection.INSUFFICIENT_FUNDS, f"address {sender} have {balance} want {cost}"
        )


def _override_header(header: BlockHeaderAPI, override: BlockOverride | None) -> BlockHeaderAPI:
    if override is None:
        return header
    changes = {
        "block_number": override.number,
        "timestamp": override.timestamp,
        "gas_limit": override.gas_limit,
        "coinbase": override.coinbase,
        "base_fee_per_gas": override.base_fee_per_gas,
        "mix_hash": override.prev_randao,
    }
    return header.copy(**{k: v for k, v in changes.items() if v is not None})


def override_account(state: StateAPI, address: bytes, override: AccountOverride) -> None:
    if override.balance is not None:
        state.set_balance(address, override.balance)
    if override.nonce is not None:
        state.set_nonce(address, override.nonce)
    if override.code is not None:
        state.set_code(address, override.code)
    if override.state is not None:
        state.delete_storage(address)
        for slot, value in override.state:
            state.set_storage(address, slot, value)
    for slot, value in override.state_diff or ():
        state.set_storage(address, slot, value)


def _is_out_of_gas(error: Exception) -> bool:
    """Plain lack of gas, which more gas would cure (py-evm also calls the code-size limits
    ``OutOfGas``; geth does not)."""
    return isinstance(error, OutOfGas) and not any(
        limit in str(error) for limit in ("EIP170", "EIP-3860")
    )
