"""EXECUTE's stateless re-execution, tuned: the same verdicts as py-evm's ``import_block``
(``precompiles.execute_reference``, the oracle of ``tests/unit/test_execute_fast_path.py``)
without its generic overhead.

What py-evm's block import does that this path does not:

- deep copies: a header copy per transaction (gas used, bloom, blob gas), a block copy per
  step (configure, fill, post-process, pack, finalize), an ``Account.copy`` per balance or
  nonce write. Here the running gas and bloom live in one mutable record, the final header
  is made once, and account writes build the new ``Account`` from its four fields
  (``LightAccountWrites``; the encoding is RLP's, byte for byte);
- receipts read back from the database (``block.get_receipts``) for the deposit requests:
  py-evm's own deposit parsing runs on the receipts execution just made;
- the block's header rebuilt per step: the header is made once, from the block's header
  and what execution gave; the fork's ``validate_block`` then runs once on the final block,
  where the import runs it (after execution): its header rules (gas limit bounds, base fee,
  number, timestamp, merge constants; reason 6 as in the import) and whatever a fork adds
  (Osaka: the block's RLP size);
- signature recovery transaction by transaction: ``precompiles.senders`` recovers every
  sender in one pass before execution (in threads for a large block, coincurve releasing
  the GIL), each exactly as ``tx.sender`` would; a signature it does not recover is left
  to the lazy path, which fails at the transaction's turn as before.

Kept as py-evm does it, in the same order: the header from the fork's
``create_header_from_parent``,
the EIP-4788/2935 pre-processing, each transaction through the VM's ``apply_transaction``
(validation, execution, receipt), the transactions and receipts tries (their nodes stored
as the import stores them), the EIP-7002/7251 system calls as bytecode, the state root
(``persist``: the batched trie update of ``BatchAccountDB`` when the L2's state uses it),
the block validation, then the comparisons with the claimed head. The fast path is taken only for a VM class
whose block-import hooks are the ones reviewed here (``fast_path_supported``); any other
runs the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from hashlib import sha256

import rlp
from eth.consensus.context import ConsensusContext
from eth.constants import EMPTY_SHA256
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.rlp.accounts import Account
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.validation import (
    validate_canonical_address,
    validate_is_bytes,
    validate_uint64,
    validate_uint256,
)
from eth.vm.chain_context import ChainContext
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.interrupt import EVMMissingData
from eth_hash.auto import keccak
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError, get_extended_debug_logger
from trie.exceptions import MissingTrieNode

from precompiles.execute_reference import reexecute_reference
from precompiles.execute_wire import ExecuteInput, Reason
from precompiles.ordered_trie import ordered_trie_root_and_nodes
from precompiles.senders import recover_senders
from precompiles.verdict import UINT256_MAX, Invalid, Verdict
from precompiles.witness import Witness, WitnessDatabase

# -- which VM classes the fast path knows -----------------------------------------------

# The block-import hooks this path replaces or leaves out, and the classes whose version of
# each was reviewed (py-evm's, and the devnet's builder mode and fork, which add nothing a
# block import by another node runs: builder mode is off, no header field is chosen).
# A VM class that overrides any of them elsewhere is re-executed by the reference path.
REVIEWED_HOOKS: dict[str, frozenset[str]] = {
    name: frozenset(owners)
    for name, owners in {
        "import_block": {"eth.vm.base.VM"},
        "apply_all_transactions": {"eth.vm.base.VM", "node.fork.builder.BuilderMode"},
        "apply_transaction": {"eth.vm.base.VM", "node.fork.builder.BuilderMode"},
        "add_receipt_to_header": {"eth.vm.forks.byzantium.ByzantiumVM"},
        "increment_blob_gas_used": {"eth.vm.forks.cancun.CancunVM"},
        "transaction_applied_hook": {"eth.abc.VirtualMachineAPI"},
        "set_block_transactions_and_withdrawals": {
            "eth.vm.base.VM",
            "node.fork.builder.BuilderMode",
        },
        "block_preprocessing": {"eth.vm.forks.prague.PragueVM"},
        "block_postprocessing": {"eth.vm.forks.prague.PragueVM"},
        "process_deposit_request_data": {"eth.vm.forks.prague.PragueVM"},
        "process_withdrawal_request_data": {"eth.vm.forks.prague.PragueVM"},
        "process_consolidation_request_data": {"eth.vm.forks.prague.PragueVM"},
        "compute_requests_hash": {"eth.vm.forks.prague.PragueVM"},
        "mine_block": {"eth.vm.base.VM"},
        "pack_block": {"eth.vm.base.VM"},
        "finalize_block": {"eth.vm.base.VM", "node.fork.DevnetPragueVM"},
        "_assign_block_rewards": {"eth.vm.forks.paris.ParisVM"},
        "configure_header": {"eth.vm.forks.shanghai.ShanghaiVM"},
        "get_prev_hashes": {"eth.vm.base.VM"},
        "validate_block": {
            "eth.vm.forks.cancun.CancunVM",
            "node.fork.builder.BuilderMode",
            "node.fork.osaka.rules.OsakaVMRules",
        },
        "validate_block_blobs": {"eth.vm.forks.prague.PragueVM"},
        "validate_header": {"eth.vm.forks.paris.ParisVM"},
        "validate_gas": {"eth.vm.forks.london.LondonVM"},
    }.items()
}
# ``AccountDB`` writes ``LightAccountWrites`` replaces (only if the state's account database
# keeps py-evm's versions of them).
LIGHT_ACCOUNT_WRITES = ("set_balance", "set_nonce", "_set_storage_root", "set_code", "_set_account")


def _owner(cls: type, name: str) -> str | None:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return f"{klass.__module__}.{klass.__qualname__}"
    return None


@cache
def fast_path_supported(vm_class: type) -> bool:
    """Whether ``vm_class``'s block import is the one this path reproduces."""
    if getattr(vm_class, "chosen_header_fields", frozenset()):
        return False
    if getattr(vm_class, "skip_invalid_transactions", False):
        return False
    return all(_owner(vm_class, name) in owners for name, owners in REVIEWED_HOOKS.items())


# -- account writes without deep copies ------------------------------------------------


def _rlp_int(value: int) -> bytes:
    if value == 0:
        return b"\x80"
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if len(raw) == 1 and raw[0] < 0x80:
        return raw
    return bytes([0x80 + len(raw)]) + raw


def encode_account(account: Account) -> bytes:
    """``rlp.encode(account, sedes=Account)``, byte for byte, for the usual shape (32-byte
    roots, balances below 2**256); anything else goes through ``rlp``."""
    root, code_hash = account.storage_root, account.code_hash
    if len(root) != 32 or len(code_hash) != 32:
        return rlp.encode(account, sedes=Account)
    payload = (
        _rlp_int(account.nonce) + _rlp_int(account.balance) + b"\xa0" + root + b"\xa0" + code_hash
    )
    if len(payload) < 56:  # pragma: no cover - two 33-byte hashes make at least 66
        return bytes([0xC0 + len(payload)]) + payload
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


def _rlp_bytes(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    if len(value) < 56:
        return bytes([0x80 + len(value)]) + value
    size = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return bytes([0xB7 + len(size)]) + size + value


def _rlp_list(payload: bytes) -> bytes:
    if len(payload) < 56:
        return bytes([0xC0 + len(payload)]) + payload
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


def _receipt_payload(receipt: Receipt) -> bytes | None:
    """RLP of a receipt's four fields, or None for a shape this encoder does not know."""
    status, gas, bloom, logs = receipt.state_root, receipt.gas_used, receipt.bloom, receipt.logs
    if not (isinstance(status, bytes) and type(gas) is int and type(bloom) is int):
        return None
    if gas < 0 or not 0 <= bloom < 2**2048:
        return None
    encoded_logs = []
    for log_entry in logs:
        if type(log_entry) is not Log:
            return None
        address, topics, data = log_entry.address, log_entry.topics, log_entry.data
        if len(address) != 20 or not isinstance(data, bytes):
            return None
        encoded_topics = []
        for topic in topics:
            if type(topic) is not int or not 0 <= topic < 2**256:
                return None
            encoded_topics.append(b"\xa0" + topic.to_bytes(32, "big"))
        encoded_logs.append(
            _rlp_list(b"\x94" + address + _rlp_list(b"".join(encoded_topics)) + _rlp_bytes(data))
        )
    return _rlp_list(
        _rlp_bytes(status)
        + _rlp_int(gas)
        + b"\xb9\x01\x00"
        + bloom.to_bytes(256, "big")
        + _rlp_list(b"".join(encoded_logs))
    )


def encode_receipt(receipt) -> bytes:
    """``receipt.encode()``, byte for byte (a legacy receipt's RLP list, a typed one's type
    byte and payload), without the generic serializer; any other shape goes through it."""
    if type(receipt) is Receipt:
        payload = _receipt_payload(receipt)
        return receipt.encode() if payload is None else payload
    inner = getattr(receipt, "_inner", None)
    type_id = getattr(receipt, "type_id", None)
    if type(inner) is Receipt and type(type_id) is int and 0 < type_id < 0x80:
        payload = _receipt_payload(inner)
        if payload is not None:
            return bytes([type_id]) + payload
    return receipt.encode()


class LightAccountWrites:
    """An ``AccountDB`` mixin: py-evm's account writes (same validation, same journal
    entries) with the new ``Account`` built from its fields instead of deep-copied, and
    encoded without the generic serializer."""

    def set_balance(self, address, balance: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        a = self._get_account(address)
        self._set_account(address, Account(a.nonce, balance, a.storage_root, a.code_hash))

    def set_nonce(self, address, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        a = self._get_account(address)
        self._set_account(address, Account(nonce, a.balance, a.storage_root, a.code_hash))

    def _set_storage_root(self, address, new_storage_root: bytes) -> None:
        a = self._get_account(address)
        self._set_account(address, Account(a.nonce, a.balance, new_storage_root, a.code_hash))

    def set_code(self, address, code: bytes) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_is_bytes(code, title="Code")
        a = self._get_account(address)
        code_hash = keccak(code)
        self._journaldb[code_hash] = code
        self._set_account(address, Account(a.nonce, a.balance, a.storage_root, code_hash))

    def _set_account(self, address, account: Account) -> None:
        self._account_cache[address] = account
        self._journaltrie[address] = encode_account(account)


def _light_account_db(db_class: type) -> type:
    if any(
        getattr(db_class, name) is not getattr(AccountDB, name) for name in LIGHT_ACCOUNT_WRITES
    ):
        return db_class  # the state's database writes accounts its own way: keep it
    return type(f"Light{db_class.__name__}", (LightAccountWrites, db_class), {})


def _shared_jump_analysis(computation_class: type) -> type:
    """``computation_class`` whose code streams share, per state (one block), what they
    learnt of which positions are opcodes (JUMP destinations), by code: a pure function of
    the code bytes that py-evm works out again in every call of the same contract."""

    class SharedJumpAnalysis(computation_class):  # type: ignore[misc, valid-type]
        def __init__(self, state, message, transaction_context) -> None:
            super().__init__(state, message, transaction_context)
            code = self.code
            raw = getattr(code, "_raw_code_bytes", None)
            if not raw or not hasattr(code, "valid_positions"):
                return
            analyses = state.__dict__.setdefault("_jump_analyses", {})
            shared = analyses.get(raw)
            if shared is None:
                analyses[raw] = (code.valid_positions, code.invalid_positions)
            else:
                code.valid_positions, code.invalid_positions = shared

    SharedJumpAnalysis.__name__ = SharedJumpAnalysis.__qualname__ = computation_class.__name__
    return SharedJumpAnalysis


@cache
def stateless_vm_class(vm_class: type) -> type:
    """``vm_class`` with light account writes, whose BLOCKHASH window is the instance's
    ``linked_hashes`` (set per block: the witness's hash-linked header chain)."""
    state_class = vm_class.get_state_class()
    computation_class = _shared_jump_analysis(state_class.computation_class)
    # py-evm's state makes its logger anew on every access (a few per transaction); the
    # same logger, made once.
    logger = get_extended_debug_logger(f"eth.vm.state.{state_class.__name__}")
    state = type(
        f"Stateless{state_class.__name__}",
        (state_class,),
        {
            "account_db_class": _light_account_db(state_class.account_db_class),
            "logger": property(lambda self: logger),
            "computation_class": computation_class,
        },
    )

    class StatelessVM(vm_class):  # type: ignore[misc, valid-type]
        _state_class = state
        linked_hashes: Sequence[bytes] = ()

        @property
        def previous_hashes(self):
            return iter(self.linked_hashes)

    StatelessVM.__name__ = StatelessVM.__qualname__ = f"Stateless{vm_class.__name__}"
    return StatelessVM


# -- the block ---------------------------------------------------------------------------


class _RunningHeader:
    """The header as transactions are applied: gas used and bloom change, every other field
    is the block's header's (py-evm's per-transaction hooks read gas used and gas limit)."""

    __slots__ = ("template", "gas_used", "bloom", "blob_gas_used")

    def __init__(self, template) -> None:
        self.template = template
        self.gas_used = template.gas_used
        self.bloom = template.bloom
        self.blob_gas_used = template.blob_gas_used

    @property
    def gas_limit(self) -> int:
        return self.template.gas_limit

    def __getattr__(self, name: str):
        return getattr(self.template, name)


class _Requests:
    """What py-evm's request processing reads of a block: its requests so far, and the
    receipts (the ones execution made, not decoded again from the database)."""

    def __init__(self, receipts: list) -> None:
        self.block_requests: list[bytes] = []
        self._receipts = receipts

    def get_receipts(self, chaindb) -> list:
        return self._receipts


def _requests_hash(requests: list[bytes]) -> bytes:
    """EIP-7685, as py-evm's ``compute_requests_hash``."""
    outer = sha256()
    for request in requests:
        if len(request) > 1:
            outer.update(sha256(request).digest())
    return outer.digest()


def _run_block(vm, header, parent, transactions: list):
    """What ``import_block`` does for this block, in its order; returns the final header."""
    block = vm.get_block_class()(header, transactions=[], uncles=[], withdrawals=[])
    vm._block = block
    state = vm.state
    vm.block_preprocessing(block)
    running = _RunningHeader(header)
    receipts = []
    for transaction in transactions:
        # (import_block also records a journal checkpoint per transaction, reverted only
        # when the transaction misses witness data, which ends this verification anyway.)
        receipt, _computation = vm.apply_transaction(running, transaction)
        running.gas_used = receipt.gas_used
        running.bloom |= int(receipt.bloom)
        running.blob_gas_used += get_total_blob_gas(transaction)
        receipts.append(receipt)
    tx_root, tx_nodes = ordered_trie_root_and_nodes([tx.encode() for tx in transactions])
    vm.chaindb.persist_trie_data_dict(tx_nodes)
    receipt_root, receipt_nodes = ordered_trie_root_and_nodes([encode_receipt(r) for r in receipts])
    vm.chaindb.persist_trie_data_dict(receipt_nodes)
    # Post-processing: py-evm's request processing, the system calls as bytecode.
    requests = _Requests(receipts)
    vm.process_deposit_request_data(requests)
    vm.process_withdrawal_request_data(requests)
    vm.process_consolidation_request_data(requests)
    snapshot = state.snapshot()
    vm._assign_block_rewards(block)  # nothing after the merge; the import runs it
    state.commit(snapshot)
    state.persist()
    final = type(header)(
        **{
            **header.as_dict(),
            "gas_used": running.gas_used,
            "bloom": running.bloom,
            "blob_gas_used": running.blob_gas_used,
            "transaction_root": tx_root,
            "receipt_root": receipt_root,
            "requests_hash": _requests_hash(requests.block_requests),
            "state_root": state.state_root,
        }
    )
    _validate_block(vm, final, parent, transactions)
    return final


def _validate_block(vm, header, parent, transactions: list) -> None:
    """The fork's ``validate_block``, where the import runs it (after execution), less the
    checks that hold by construction here: the transactions root (just computed from these
    transactions), the uncles (none), the state root (just persisted), the excess blob gas
    (the formula that set it) and the blob gas used (zero: blob transactions are invalid on
    the L2, a rule execution enforces). What remains: Osaka's RLP size cap (EIP-7934), then
    the header rules (gas limit bounds, base fee, number, timestamp, merge constants)."""
    cap = getattr(vm, "max_rlp_block_size", None)
    if cap is not None:
        block = vm.get_block_class()(header, transactions=transactions, uncles=[], withdrawals=[])
        size = vm.block_rlp_size(block)
        if size > cap:
            raise ValidationError(f"block RLP is {size} bytes, above the {cap}-byte cap")
    vm.validate_header(header, parent)


def reexecute(
    inp: ExecuteInput, transactions: list, witness: Witness, chain: list, vm_class: type
) -> Verdict:
    """Re-execute the block ``inp`` describes on the witness alone; raises ``Invalid``."""
    if not fast_path_supported(vm_class):
        return reexecute_reference(inp, transactions, witness, chain, vm_class)
    parent = chain[0]
    db = WitnessDatabase(witness.nodes)
    for header in chain:  # as the reference: the linked headers are in its database too
        db[header.hash] = rlp.encode(header)
    atomic = AtomicDB(db)
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
        raise Invalid(Reason.HEADER_RULE, "base fee per gas exceeds uint256")
    vm = stateless_vm_class(vm_class)(
        header=header,
        chaindb=ChainDB(atomic),
        chain_context=ChainContext(inp.chain_id),
        consensus_context=ConsensusContext(atomic),
    )
    vm.linked_hashes = [parent.hash] + [h.parent_hash for h in chain if h.block_number > 0]
    recover_senders(transactions)
    try:
        built = _run_block(vm, header, parent, transactions)
    except (EVMMissingData, MissingTrieNode) as exc:
        raise Invalid(Reason.WITNESS_INCOMPLETE, f"{type(exc).__name__}: {exc}") from exc
    except (ValidationError, BadSignature) as exc:
        missing = exc.__context__
        if isinstance(missing, EVMMissingData | MissingTrieNode):
            raise Invalid(Reason.WITNESS_INCOMPLETE, str(missing)) from exc
        raise Invalid(Reason.INVALID_TRANSACTION, str(exc)) from exc
    if built.base_fee_per_gas * built.gas_used > UINT256_MAX:  # an output word
        raise Invalid(Reason.HEADER_RULE, "burned fees (base fee * gas used) exceed uint256")
    if built.requests_hash != EMPTY_SHA256:
        raise Invalid(Reason.EXECUTION_REQUESTS, "the block produced execution requests")
    if built.gas_used != inp.gas_used:
        raise Invalid(Reason.GAS_USED, f"block used {built.gas_used} gas, not {inp.gas_used}")
    if built.receipt_root != inp.receipts_root:
        raise Invalid(Reason.RECEIPTS_ROOT, "receipts root differs")
    if built.state_root != inp.post_state_root:
        raise Invalid(Reason.POST_STATE_ROOT, "post-state root differs")
    return Verdict(
        reason=None,
        post_state_root=built.state_root,
        number=built.block_number,
        gas_used=built.gas_used,
        base_fee_per_gas=built.base_fee_per_gas,
        block_hash=built.hash,
    )
