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
from eth.consensus.context import ConsensusContext
from eth.constants import CREATE_CONTRACT_ADDRESS, EMPTY_SHA256
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import Revert, VMError
from eth.vm.chain_context import ChainContext
from eth.vm.forks.prague.constants import SET_CODE_TRANSACTION_TYPE
from eth.vm.interrupt import EVMMissingData
from eth_hash.auto import keccak
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError
from trie.exceptions import MissingTrieNode

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
from precompiles.witness import Witness, WitnessDatabase, WitnessEncodingError, parse_witness

log = logging.getLogger("native_devnet.execute")

GAS_LIMIT_BOUND_DIVISOR = 1024
MIN_GAS_LIMIT = 5000
RESULT_CACHE_SIZE = 256
# A block body's transaction list holds typed transactions as byte strings and legacy ones
# as flat lists, so it nests two lists deep; anything deeper cannot decode (reason 1) and
# is refused before the decoder builds it.
MAX_TRANSACTION_LIST_DEPTH = 2
UINT256_MAX = 2**256 - 1


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one input. ``reason`` is None for a valid block."""

    reason: Reason | None
    detail: str = ""
    post_state_root: bytes = b""
    number: int = 0
    gas_used: int = 0
    base_fee_per_gas: int = 0
    block_hash: bytes = b""

    @property
    def valid(self) -> bool:
        return self.reason is None

    @property
    def burned_fees(self) -> int:
        return self.base_fee_per_gas * self.gas_used


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


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


def _with_linked_ancestors(vm_class: type, chain: list) -> type:
    """``vm_class`` whose BLOCKHASH window is exactly the hash-linked chain: the parent's
    hash, then each linked header's ``parent_hash`` (the hash of block k is known iff header
    k+1 is linked). py-evm would only yield hashes of headers it can load, one short."""
    hashes = [chain[0].hash] + [h.parent_hash for h in chain if h.block_number > 0]

    class WitnessVM(vm_class):  # type: ignore[misc, valid-type]
        @property
        def previous_hashes(self):
            return iter(hashes)

    return WitnessVM


def _reexecute(
    inp: ExecuteInput, transactions: list, witness: Witness, chain: list, vm_class: type
) -> Verdict:
    parent = chain[0]
    db = WitnessDatabase(witness.nodes)
    for header in chain:
        db[header.hash] = rlp.encode(header)
    atomic = AtomicDB(db)
    chaindb = ChainDB(atomic)
    header = vm_class.create_header_from_parent(
        parent,
        timestamp=inp.timestamp,
        gas_limit=inp.gas_limit,
        coinbase=inp.coinbase,
        mix_hash=inp.prev_randao,
        parent_beacon_block_root=inp.l1_anchor,
        extra_data=b"",
    )
    if header.base_fee_per_gas > UINT256_MAX:
        raise _Invalid(Reason.HEADER_RULE, "base fee per gas exceeds uint256")
    vm = _with_linked_ancestors(vm_class, chain)(
        header=header,
        chaindb=chaindb,
        chain_context=ChainContext(inp.chain_id),
        consensus_context=ConsensusContext(atomic),
    )
    block = vm.get_block_class()(header, transactions=transactions, uncles=[], withdrawals=[])
    try:
        result = vm.import_block(block).block
    except (EVMMissingData, MissingTrieNode) as exc:
        raise _Invalid(Reason.WITNESS_INCOMPLETE, f"{type(exc).__name__}: {exc}") from exc
    except (ValidationError, BadSignature) as exc:
        missing = exc.__context__
        if isinstance(missing, EVMMissingData | MissingTrieNode):
            raise _Invalid(Reason.WITNESS_INCOMPLETE, str(missing)) from exc
        raise _Invalid(Reason.INVALID_TRANSACTION, str(exc)) from exc
    built = result.header
    if built.base_fee_per_gas * built.gas_used > UINT256_MAX:  # an output word
        raise _Invalid(Reason.HEADER_RULE, "burned fees (base fee * gas used) exceed uint256")
    if built.requests_hash != EMPTY_SHA256:
        raise _Invalid(Reason.EXECUTION_REQUESTS, "the block produced execution requests")
    if built.gas_used != inp.gas_used:
        raise _Invalid(Reason.GAS_USED, f"block used {built.gas_used} gas, not {inp.gas_used}")
    if built.receipt_root != inp.receipts_root:
        raise _Invalid(Reason.RECEIPTS_ROOT, "receipts root differs")
    if built.state_root != inp.post_state_root:
        raise _Invalid(Reason.POST_STATE_ROOT, "post-state root differs")
    return Verdict(
        reason=None,
        post_state_root=built.state_root,
        number=built.block_number,
        gas_used=built.gas_used,
        base_fee_per_gas=built.base_fee_per_gas,
        block_hash=built.hash,
    )


def verify(
    inp: ExecuteInput, vm_class: type, transactions: list | _Invalid | None = None
) -> Verdict:
    """Re-execute the block ``inp`` describes under ``vm_class``'s rules. Never raises.
    ``transactions`` is what ``decoded_transactions`` already made of ``inp.transactions``
    (the precompile decodes them once for the market and once is enough)."""
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
        return _reexecute(inp, transactions, witness, chain, vm_class)
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
        verdict = verify(inp, vm_class, transactions)
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
        market = market_for(computation)
        transactions = decoded_transactions(inp.transactions, l2_vm_class)
        reservation = market.reserve(computation, inp, total_transaction_gas(transactions))
        verdict = verdicts.get_or_verify(data, inp, l2_vm_class, transactions)
        charge = market.settle(computation, reservation, verdict)
        if not verdict.valid:
            computation.output = encode_invalid(verdict.reason)
            raise Revert(computation.output)
        computation.output = encode_output(verdict, charge)
        return computation

    execute.verdicts = verdicts  # type: ignore[attr-defined]
    return execute
