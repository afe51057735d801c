"""EXECUTE (NR-EXECUTE v1): re-execute an L2 block statelessly and say whether it lands on
the claimed post-state root.

The wire format (address, gas, input, output, reason codes) is ``precompiles.execute_wire``.
``verify`` is a pure function of the input and never raises: every failure of untrusted
bytes becomes a reason code. ``make_execute_precompile`` wraps it as a py-evm precompile:
it charges L1 gas, halts on malformed input, reverts with ``ExecuteInvalid(reason)`` on an
invalid block and returns 8 words on a valid one. The L2 rules are injected (the caller
passes its VM class), so this package depends on py-evm only.
"""

from __future__ import annotations

import gc
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import rlp
from eth.abc import ComputationAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert, VMError
from eth.vm.forks.prague.constants import SET_CODE_TRANSACTION_TYPE
from eth_hash.auto import keccak

from precompiles.execute_wire import (
    ExecuteInput,
    ExecuteOutput,
    MalformedInput,
    Reason,
    decode_execute_input,
    encode_invalid,
    execute_gas_cost,
)
from precompiles.nesting import rlp_depth_ok
from precompiles.preverified import ExecuteInputCaptured, PreverifiedVerdicts, capture_active
from precompiles.reexecute import reexecute as reexecute_stateless
from precompiles.verdict import UINT256_MAX, Invalid, Verdict
from precompiles.witness import Witness, WitnessEncodingError, parse_witness

log = logging.getLogger("native_devnet.execute")

GAS_LIMIT_BOUND_DIVISOR = 1024
MIN_GAS_LIMIT = 5000
RESULT_CACHE_SIZE = 256
NOT_KNOWN = object()  # no pre-verified total gas for an input
# A block body's transaction list holds typed transactions as byte strings and legacy ones
# as flat lists, so it nests two lists deep; anything deeper cannot decode (reason 1) and
# is refused before the decoder builds it.
MAX_TRANSACTION_LIST_DEPTH = 2

# The re-execution step of ``verify``: (input, decoded transactions, witness, linked
# headers parent first, L2 VM class) -> a valid Verdict, or raises ``Invalid``.
Reexecute = Callable[[ExecuteInput, list, Witness, list, type], Verdict]
__all__ = ["UINT256_MAX", "Verdict", "verify"]


# The exception verification steps raise (named here before it moved to precompiles.verdict).
_Invalid = Invalid


@contextmanager
def collector_paused() -> Iterator[None]:
    """Decoding untrusted bytes makes many objects and no reference cycles; garbage
    collections amid it would walk every object of the node again and again (they doubled
    the time of a 1 MB list of small lists). Never leaves the collector off: a thread that
    found it off does not turn it on, the one that turned it off does."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode_transactions(raw: bytes, vm_class: type) -> list:
    """The RLP list of a block body's transactions (legacy as lists, typed as bytes)."""
    builder = vm_class.get_transaction_builder()
    if not rlp_depth_ok(raw, MAX_TRANSACTION_LIST_DEPTH):
        raise _Invalid(Reason.TX_ENCODING, "transactions nest too deep")
    try:
        items = rlp.decode(raw)
    except Exception as exc:
        raise _Invalid(Reason.TX_ENCODING, f"transactions are not RLP: {exc}") from exc
    if not isinstance(items, list):
        raise _Invalid(Reason.TX_ENCODING, "transactions must be an RLP list")
    transactions = []
    for index, item in enumerate(items):
        if isinstance(item, bytes) and not rlp_depth_ok(item[1:]):
            raise _Invalid(Reason.TX_ENCODING, f"transaction {index} nests too deep")
        try:
            tx = builder.deserialize(item)
        except Exception as exc:
            raise _Invalid(
                Reason.TX_ENCODING, f"transaction {index} does not decode: {exc}"
            ) from exc
        if tx.type_id == SET_CODE_TRANSACTION_TYPE and tx.to == CREATE_CONTRACT_ADDRESS:
            raise _Invalid(Reason.TX_ENCODING, f"transaction {index}: type 4 without destination")
        transactions.append(tx)
    return transactions


def _check_header_rules(inp: ExecuteInput, parent) -> None:
    if inp.pre_state_root != parent.state_root:
        raise _Invalid(Reason.PRE_STATE_ROOT, "preStateRoot differs from the parent's state root")
    if inp.number != parent.block_number + 1:
        raise _Invalid(Reason.HEADER_RULE, f"number {inp.number} is not parent + 1")
    if inp.timestamp <= parent.timestamp:
        raise _Invalid(Reason.HEADER_RULE, "timestamp not after the parent's")
    if parent.blob_gas_used or parent.excess_blob_gas:
        # L2 headers carry no blob gas (docs/EXECUTE.md). A forged parent's would become the block's
        # excess blob gas, and from 2**63 every BLOBBASEFEE would cost seconds.
        raise _Invalid(Reason.HEADER_RULE, "parent has blob gas; the L2 has no blobs")
    bound = parent.gas_limit // GAS_LIMIT_BOUND_DIVISOR
    if abs(inp.gas_limit - parent.gas_limit) >= bound or inp.gas_limit < MIN_GAS_LIMIT:
        raise _Invalid(Reason.HEADER_RULE, "gas limit outside the 1/1024 bound of the parent's")


def verify(
    inp: ExecuteInput,
    vm_class: type,
    transactions: list | _Invalid | None = None,
    *,
    reexecute: Reexecute = reexecute_stateless,
) -> Verdict:
    """Re-execute the block ``inp`` describes under ``vm_class``'s rules. Never raises.
    ``transactions`` is what ``decoded_transactions`` already made of ``inp.transactions``
    (the precompile decodes them once for the market and once is enough). ``reexecute`` is
    the re-execution step: the tuned stateless path (``precompiles.reexecute``) by default,
    ``precompiles.execute_reference.reexecute_reference`` (py-evm's block import) for the
    differential tests."""
    if isinstance(transactions, _Invalid):
        return Verdict(reason=transactions.reason, detail=transactions.detail)
    try:
        if transactions is None:
            with collector_paused():
                transactions = decode_transactions(inp.transactions, vm_class)
        header_class = dict(vm_class.get_block_class()._meta.fields)["header"]
        try:
            with collector_paused():
                witness = parse_witness(inp.witness, header_class)
        except WitnessEncodingError as exc:
            raise _Invalid(Reason.WITNESS_ENCODING, str(exc)) from exc
        chain = witness.linked_chain(inp.parent_hash)
        if not chain:
            raise _Invalid(Reason.PARENT_NOT_IN_WITNESS, "no witness header hashes to parentHash")
        _check_header_rules(inp, chain[0])
        return reexecute(inp, transactions, witness, chain, vm_class)
    except _Invalid as invalid:
        return Verdict(reason=invalid.reason, detail=invalid.detail)
    except Exception as exc:  # a py-evm failure on untrusted input: fail closed, log it
        log.warning("EXECUTE verification failed unexpectedly: %r", exc)
        return Verdict(reason=Reason.INVALID_TRANSACTION, detail=f"{type(exc).__name__}: {exc}")


class VerdictCache:
    """Results by ``keccak(input)``: verification depends on the input alone."""

    def __init__(self, size: int = RESULT_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, Verdict] = OrderedDict()
        self.hits = 0
        # Verdicts worked out ahead of the block (node.preverify), asked on a miss.
        self.preverified: PreverifiedVerdicts | None = None
        # The chain's verifiers (precompiles.verifiers.VerifierSet); None: py-evm alone.
        self.verifiers = None

    def preverified_total_gas(self, data: bytes, vm_class: type) -> int | None | object:
        """The transactions' total gas a pre-verification of exactly ``data`` under
        ``vm_class`` found (so the precompile need not decode them for the market), or
        ``NOT_KNOWN``. Waits for a verdict in the making as the lookup does."""
        if self.preverified is None or keccak(data) in self._entries:
            return NOT_KNOWN
        entry = self.preverified.ready(data, vm_class)
        return NOT_KNOWN if entry is None else entry.total_gas

    def get_or_verify(
        self,
        data: bytes,
        inp: ExecuteInput,
        vm_class: type,
        transactions: list | _Invalid | None = None,
    ) -> Verdict:
        key = keccak(data)
        verdict = self._entries.get(key)
        if verdict is not None:
            self.hits += 1
            self._entries.move_to_end(key)
            return verdict
        if self.preverified is not None:
            verdict = self.preverified.lookup(data, vm_class)
        if verdict is None:
            if self.verifiers is None:
                verdict = verify(inp, vm_class, transactions)
            else:
                verdict = self.verifiers.verify(inp, vm_class, transactions)
        self._entries[key] = verdict
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return verdict


# -- the precompile ---------------------------------------------------------------------


class ExecuteHalt(VMError):
    """An exceptional halt of EXECUTE: all gas consumed, return data erased."""


@dataclass(frozen=True)
class Charge:
    """What the execute-gas market charged for one call (zero when no market is attached)."""

    fee: int = 0
    price: int = 0


class ExecuteMarket:
    """Hooks for the per-block execute-gas market. The default charges nothing.

    ``reserve`` runs before verification (may raise ``ExecuteHalt``) with the sum of the
    transactions' gas limits (None when they do not decode); ``settle`` runs after with the
    verdict and returns the final charge.
    """

    def reserve(
        self, computation: ComputationAPI, inp: ExecuteInput, total_tx_gas: int | None
    ) -> object:
        return None

    def settle(self, computation: ComputationAPI, reservation: object, verdict: Verdict) -> Charge:
        return Charge()


def encode_output(verdict: Verdict, charge: Charge) -> bytes:
    """EXECUTE's 8 output words for a valid block and what the market charged."""
    return ExecuteOutput(
        post_state_root=verdict.post_state_root,
        number=verdict.number,
        gas_used=verdict.gas_used,
        burned_fees=verdict.burned_fees,
        base_fee_per_gas=verdict.base_fee_per_gas,
        block_hash=verdict.block_hash,
        execute_fee=charge.fee,
        execute_base_fee_per_gas=charge.price,
    ).encode()


NO_MARKET = ExecuteMarket()


def decoded_transactions(raw: bytes, vm_class: type) -> list | _Invalid:
    """``decode_transactions``, with the failure as a value."""
    try:
        with collector_paused():
            return decode_transactions(raw, vm_class)
    except _Invalid as invalid:
        return invalid


def total_transaction_gas(transactions: list | _Invalid) -> int | None:
    """Sum of the gas limits of the block's transactions; None if they do not decode."""
    if isinstance(transactions, _Invalid):
        return None
    return sum(tx.gas for tx in transactions)


def make_execute_precompile(
    l2_vm_class: type,
    market_for: Callable[[ComputationAPI], ExecuteMarket] = lambda computation: NO_MARKET,
    cache: VerdictCache | None = None,
) -> Callable[[ComputationAPI], ComputationAPI]:
    """The EXECUTE precompile for an L1 whose L2 follows ``l2_vm_class``'s rules;
    ``market_for`` finds the execute-gas market of the block a call runs in."""
    verdicts = cache or VerdictCache()

    def execute(computation: ComputationAPI) -> ComputationAPI:
        data = bytes(computation.msg.data)
        computation.consume_gas(execute_gas_cost(len(data)), reason="EXECUTE")
        try:
            inp = decode_execute_input(data)
        except MalformedInput as exc:
            raise ExecuteHalt(f"EXECUTE: malformed input: {exc}") from None
        if capture_active():  # node.preverify extracting this input in a simulation
            raise ExecuteInputCaptured(data, inp.timestamp)
        market = market_for(computation)
        total_gas = verdicts.preverified_total_gas(data, l2_vm_class)
        if total_gas is NOT_KNOWN:
            transactions = decoded_transactions(inp.transactions, l2_vm_class)
            total_gas = total_transaction_gas(transactions)
        else:  # verified ahead (node.preverify): no decoding on the block builder's thread
            transactions = None
        reservation = market.reserve(computation, inp, total_gas)
        verdict = verdicts.get_or_verify(data, inp, l2_vm_class, transactions)
        charge = market.settle(computation, reservation, verdict)
        if not verdict.valid:
            computation.output = encode_invalid(verdict.reason)
            raise Revert(computation.output)
        computation.output = encode_output(verdict, charge)
        return computation

    execute.verdicts = verdicts  # type: ignore[attr-defined]
    execute.l2_vm_class = l2_vm_class  # type: ignore[attr-defined]
    return execute
