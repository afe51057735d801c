"""The chain: py-evm's chain and database under one object that speaks Python values.

It builds blocks with py-evm's full ``import_block`` pipeline on a template block, reads
state at any block, answers receipts with per-transaction gas, proves accounts and slots,
and simulates calls. It is synchronous and single-writer; ``node.devnet`` decides which
thread runs it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import rlp
from eth._utils.rlp import validate_imported_block_unchanged
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import Chain as PyEvmChain
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS, ZERO_ADDRESS, ZERO_HASH32
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.schema import SchemaV1
from eth.exceptions import BlockNotFound, HeaderNotFound, OutOfGas, Revert, TransactionNotFound
from eth.rlp.accounts import Account as RlpAccount
from eth.rlp.sedes import chain_gaps
from eth.vm.chain_context import ChainContext
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_utils import ValidationError
from trie import HexaryTrie

from node.errors import (
    ExecutionHalted,
    ExecutionReverted,
    InvalidTransaction,
    TxRejection,
    UnknownBlock,
)
from node.fork import DevnetPragueVM, L2PragueVM, SkippedTransaction
from node.fork.l1 import L1ChainDB, L1PragueVM
from node.genesis import Genesis, GenesisError
from node.impersonation import is_impersonated
from node.interrupt import Deadline
from node.revert import decode_revert_reason
from node.storage import MemoryDatabase
from node.witness import ExecutionWitness, RecordingDatabase, witness_headers
from precompiles.execute_market import BlockExecuteMarket, MarketParams
from precompiles.nesting import rlp_depth_ok

MAX_BLOCKHASH_DEPTH = 256
GENESIS_HASH_KEY = b"native-devnet:genesis-hash"
CHAIN_ID_KEY = b"native-devnet:chain-id"
SENDER_PREFIX = b"native-devnet:impersonated-sender:"
WITNESS_PREFIX = b"native-devnet:witness:"
POST_STATE_ROOT_PREFIX = b"native-devnet:post-state-root:"
TRANSFER_GAS = 21_000
ACCESS_LIST_ROUNDS = 8
# Blocks whose receipts (with per-transaction gas, sender and log offsets) stay decoded in
# memory, most recently used first; older ones are decoded again from the database.
MAX_CACHED_RECEIPT_BLOCKS = 128
# The most gas one simulation (eth_call, eth_estimateGas, eth_createAccessList, a traced
# call) gets, as geth's --rpc.gascap: a request asking for more is capped without a word.
RPC_GAS_CAP = 50_000_000


@dataclass(frozen=True)
class ReceiptInfo:
    """One transaction's receipt as users read it: per-tx gas, sender, contract address."""

    transaction: SignedTransactionAPI
    transaction_hash: bytes
    index: int
    block_hash: bytes
    block_number: int
    block_timestamp: int
    sender: bytes
    receipt: ReceiptAPI
    gas_used: int
    cumulative_gas_used: int
    effective_gas_price: int
    contract_address: bytes | None
    first_log_index: int

    @property
    def status(self) -> int:
        return 1 if self.receipt.state_root == b"\x01" else 0


@dataclass
class BuiltBlock:
    block: BlockAPI
    receipts: list[ReceiptInfo]
    skipped: list[SkippedTransaction] = field(default_factory=list)
    seconds: float = 0.0


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
class CallResult:
    output: bytes
    gas_used: int
    error: Exception | None  # None, or the computation's error (Revert, OutOfGas, ...)

    @property
    def is_revert(self) -> bool:
        return isinstance(self.error, Revert)


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int) -> int:
    return min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas + base_fee)


class Chain:
    """A single-node chain from a genesis. Not thread-safe for writers: one writer at a time."""

    def __init__(self, genesis: Genesis, db: AtomicDB | None = None) -> None:
        self.genesis = genesis
        # The L1 carries EXECUTE; an L2 (or a plain devnet) runs the same rules without it.
        if genesis.execute.enabled:
            e = genesis.execute
            self.vm_class = L1PragueVM.configure(
                __name__="L1PragueVM",
                market_params=MarketParams(
                    e.gas_limit, e.gas_target, e.initial_base_fee, e.min_base_fee
                ),
                delayed_state_root=genesis.delayed_state_root,
            )
        elif genesis.role == "l2":
            self.vm_class = L2PragueVM
        else:
            self.vm_class = DevnetPragueVM
        self.chain_id = genesis.chain_id
        chain_class = PyEvmChain.configure(
            __name__="DevnetChain",
            vm_configuration=((0, self.vm_class),),
            chain_id=genesis.chain_id,
            chaindb_class=L1ChainDB,
        )
        self.db = db if db is not None else MemoryDatabase()
        params = genesis.header_params()
        self.reopened = GENESIS_HASH_KEY in self.db
        if self.reopened:
            self._chain = chain_class(self.db)
            self._check_same_genesis(chain_class, params)
        else:
            with self.db.block_transaction():
                self._chain = chain_class.from_genesis(self.db, params, genesis.state_dict())
                genesis_header = self._chain.chaindb.get_canonical_head()
                self._record_post_state_root(genesis_header.hash, genesis_header.state_root)
                self.db[GENESIS_HASH_KEY] = genesis_header.hash
                self.db[CHAIN_ID_KEY] = rlp.encode(genesis.chain_id)
        self.chaindb = self._chain.chaindb
        self.transaction_builder = self.vm_class.get_transaction_builder()
        self._receipts_cache = RecentlyUsed(MAX_CACHED_RECEIPT_BLOCKS)
        self.witnesses = WitnessStore(self.db)

    def _check_same_genesis(self, chain_class, params) -> None:
        """A data directory belongs to one genesis; refuse to mix two chains."""
        stored_chain_id = rlp.decode(self.db[CHAIN_ID_KEY], sedes=rlp.sedes.big_endian_int)
        if stored_chain_id != self.chain_id:
            raise GenesisError(
                f"the stored chain has chain id {stored_chain_id}, not {self.chain_id}"
            )
        stored = self.db[GENESIS_HASH_KEY]
        stored_header = self._chain.chaindb.get_block_header_by_hash(stored)
        params = dict(params, timestamp=stored_header.timestamp)
        fresh = chain_class.from_genesis(MemoryDatabase(), params, self.genesis.state_dict())
        if fresh.get_canonical_head().hash != stored:
            raise GenesisError(
                f"the data directory holds a chain with genesis 0x{stored.hex()}, "
                "not the one this genesis file and these flags describe"
            )

    @property
    def genesis_header(self) -> BlockHeaderAPI:
        return self.header_by_hash(self.db[GENESIS_HASH_KEY])

    # -- blocks and headers ---------------------------------------------------------------

    @property
    def head(self) -> BlockHeaderAPI:
        return self.chaindb.get_canonical_head()

    def header_by_number(self, number: int) -> BlockHeaderAPI:
        try:
            return self.chaindb.get_canonical_block_header_by_number(number)
        except HeaderNotFound as exc:
            raise UnknownBlock(f"block {number} not found") from exc

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        try:
            return self.chaindb.get_block_header_by_hash(block_hash)
        except HeaderNotFound as exc:
            raise UnknownBlock(f"block 0x{block_hash.hex()} not found") from exc

    def block_by_header(self, header: BlockHeaderAPI) -> BlockAPI:
        try:
            return self._chain.get_block_by_header(header)
        except (BlockNotFound, HeaderNotFound) as exc:
            raise UnknownBlock(str(exc)) from exc

    @property
    def delayed_state_root(self) -> bool:
        return getattr(self.vm_class, "delayed_state_root", False)

    def state_root_after(self, header: BlockHeaderAPI) -> bytes:
        """The root of the state after ``header``'s block. With the delayed state root the
        header carries its parent's, so the chain keeps each block's own."""
        return self.db[POST_STATE_ROOT_PREFIX + header.hash]

    def _record_post_state_root(self, block_hash: bytes, root: bytes) -> None:
        self.db[POST_STATE_ROOT_PREFIX + block_hash] = root

    def next_base_fee(self, parent: BlockHeaderAPI | None = None) -> int:
        parent = parent or self.head
        return self.vm_class.create_header_from_parent(
            parent, timestamp=parent.timestamp + 1
        ).base_fee_per_gas

    # -- block production -----------------------------------------------------------------

    def build_block(
        self,
        transactions: Sequence[SignedTransactionAPI],
        timestamp: int | None = None,
        coinbase: bytes = ZERO_ADDRESS,
        prev_randao: bytes | None = None,
        parent_beacon_block_root: bytes = ZERO_HASH32,
    ) -> BuiltBlock:
        """Build, import and persist the next block from ``transactions`` in that order.

        Transactions that are invalid at their position are left out and returned in
        ``skipped``; one bad transaction never aborts a block.
        """
        started = time.perf_counter()
        parent = self.head
        if timestamp is None:
            timestamp = int(time.time())
        timestamp = max(timestamp, parent.timestamp + 1)
        if prev_randao is None:
            prev_randao = keccak(parent.hash + b"prevrandao")
        header = self.vm_class.create_header_from_parent(
            parent,
            timestamp=timestamp,
            coinbase=coinbase,
            mix_hash=prev_randao,
            parent_beacon_block_root=parent_beacon_block_root,
            state_root=self.state_root_after(parent),
        )
        recorder = RecordingDatabase(self.db)
        vm = self.vm_class(
            header=header,
            chaindb=L1ChainDB(recorder),
            chain_context=ChainContext(self.chain_id),
            consensus_context=self._chain.consensus_context,
        )
        vm.skip_invalid_transactions = True
        template = vm.get_block_class()(
            header, transactions=list(transactions), uncles=[], withdrawals=[]
        )
        with self.db.block_transaction():  # one commit: the whole block or nothing
            block = vm.import_block(template).block
            state_nodes, codes = recorder.split_reads()
            self.witnesses[block.hash] = ExecutionWitness(
                state=state_nodes,
                codes=codes,
                headers=witness_headers(parent, vm.state.oldest_ancestor_read, self.header_by_hash),
            )
            self._record_post_state_root(block.hash, vm.post_state_root)
            for tx in block.transactions:
                if is_impersonated(tx):
                    self.db[SENDER_PREFIX + tx.hash] = tx.sender
            self.chaindb.persist_block(block)  # moves the head: last
        receipts = self._make_receipt_infos(block, vm.receipts)  # no re-read of the trie
        self._receipts_cache.put(block.hash, receipts)
        return BuiltBlock(
            block=block,
            receipts=receipts,
            skipped=list(vm.skipped_transactions),
            seconds=time.perf_counter() - started,
        )

    def import_block(self, block: BlockAPI) -> BlockAPI:
        """Import a block built elsewhere, validating every rule (the delayed state root
        too); raises ``ValidationError`` and changes nothing if it is invalid."""
        parent = self.header_by_hash(block.header.parent_hash)
        pre_state_root = self.state_root_after(parent)
        if self.delayed_state_root and block.header.state_root != pre_state_root:
            raise ValidationError(
                "state root must be the post-state root of the parent (delayed state root)"
            )
        header = self.vm_class.create_header_from_parent(
            parent,
            timestamp=block.header.timestamp,
            coinbase=block.header.coinbase,
            mix_hash=block.header.mix_hash,
            gas_limit=block.header.gas_limit,
            extra_data=block.header.extra_data,
            parent_beacon_block_root=block.header.parent_beacon_block_root,
            state_root=pre_state_root,
        )
        self.vm_class.validate_header(block.header, parent)
        vm = self.vm_class(
            header=header,
            chaindb=self.chaindb,
            chain_context=ChainContext(self.chain_id),
            consensus_context=self._chain.consensus_context,
        )
        with self.db.block_transaction():
            imported = vm.import_block(block).block
            validate_imported_block_unchanged(imported, block)
            self._record_post_state_root(imported.hash, vm.post_state_root)
            self.chaindb.persist_block(imported)
        return imported

    def rewind_to(self, header: BlockHeaderAPI) -> None:
        """Make ``header`` the head again (``evm_revert``): later blocks stop being
        canonical and their transactions unknown; blocks built next extend ``header``."""
        head = self.head
        with self.db.block_transaction():
            for number in range(head.block_number, header.block_number, -1):
                old = self.header_by_number(number)
                for tx in self.block_by_header(old).transactions:
                    key = SchemaV1.make_transaction_hash_to_block_lookup_key(tx.hash)
                    if key in self.db:
                        del self.db[key]
                del self.db[SchemaV1.make_block_number_to_hash_lookup_key(number)]
            self.db[SchemaV1.make_canonical_head_hash_lookup_key()] = header.hash
            # py-evm tracks which block numbers it holds; the chain now ends at ``header``.
            no_gaps = rlp.encode(((), header.block_number + 1), sedes=chain_gaps)
            self.db[SchemaV1.make_header_chain_gaps_lookup_key()] = no_gaps
            self.db[SchemaV1.make_chain_gaps_lookup_key()] = no_gaps

    def edit_head_state(self, edit, post_state_root: bytes | None = None) -> None:
        """Apply ``edit(account_db)`` to the state after the head block (the test-node
        controls ``anvil_setBalance`` and friends). The next block builds on the result."""
        head = self.head
        account_db = AccountDB(self.db, post_state_root or self.state_root_after(head))
        edit(account_db)
        with self.db.block_transaction():
            account_db.persist()
            self._record_post_state_root(head.hash, account_db.state_root)

    # -- transactions and receipts ----------------------------------------------------------

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        """Decode network-form bytes; anything malformed is an ``InvalidTransaction``."""
        if not raw or not rlp_depth_ok(raw[1:] if raw[0] < 0x80 else raw):
            raise InvalidTransaction(TxRejection.MALFORMED, "empty or too deeply nested")
        try:
            tx = self.transaction_builder.decode(raw)
            tx.check_signature_validity()
            tx.sender  # noqa: B018  (recovering the sender is the last check of the signature)
        except InvalidTransaction:
            raise
        except (rlp.DecodingError, rlp.DeserializationError) as exc:
            raise InvalidTransaction(TxRejection.MALFORMED, str(exc)) from exc
        except ValidationError as exc:
            raise InvalidTransaction(TxRejection.INVALID_SIGNATURE, str(exc)) from exc
        except Exception as exc:  # untrusted bytes: every failure is a rejection
            raise InvalidTransaction(TxRejection.MALFORMED, f"{type(exc).__name__}: {exc}") from exc
        return tx

    def receipts_of(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        cached = self._receipts_cache.get(header.hash)
        if cached is None:
            block = self.block_by_header(header)
            cached = self._make_receipt_infos(block, block.get_receipts(self.chaindb))
            self._receipts_cache.put(header.hash, cached)
        return cached

    def _make_receipt_infos(
        self, block: BlockAPI, receipts: Iterable[ReceiptAPI]
    ) -> list[ReceiptInfo]:
        infos = []
        previous_cumulative = 0
        log_index = 0
        base_fee = block.header.base_fee_per_gas
        for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
            sender = self._recorded_sender(tx)
            contract = None
            if tx.to == CREATE_CONTRACT_ADDRESS:
                contract = _contract_address(sender, tx.nonce)
            infos.append(
                ReceiptInfo(
                    transaction=tx,
                    transaction_hash=tx.hash,
                    index=index,
                    block_hash=block.hash,
                    block_number=block.number,
                    block_timestamp=block.header.timestamp,
                    sender=sender,
                    receipt=receipt,
                    gas_used=receipt.gas_used - previous_cumulative,
                    cumulative_gas_used=receipt.gas_used,
                    effective_gas_price=effective_gas_price(tx, base_fee),
                    contract_address=contract,
                    first_log_index=log_index,
                )
            )
            previous_cumulative = receipt.gas_used
            log_index += len(receipt.logs)
        return infos

    def _recorded_sender(self, tx: SignedTransactionAPI) -> bytes:
        """The sender, also for a transaction sent by an impersonated account."""
        if is_impersonated(tx):
            return tx.sender
        try:
            return self.db[SENDER_PREFIX + tx.hash]
        except KeyError:
            return tx.sender

    def find_transaction(self, tx_hash: bytes) -> ReceiptInfo | None:
        """The mined transaction with this hash and its receipt, or None."""
        try:
            number, index = self.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        try:
            header = self.header_by_number(number)
        except UnknownBlock:
            return None
        receipts = self.receipts_of(header)
        if index < len(receipts) and receipts[index].transaction_hash == tx_hash:
            return receipts[index]
        return None

    # -- state ------------------------------------------------------------------------------

    def account_db(self, header: BlockHeaderAPI) -> AccountDB:
        return AccountDB(self.db, self.state_root_after(header))

    def balance(self, address: bytes, header: BlockHeaderAPI) -> int:
        return self.account_db(header).get_balance(address)

    def nonce(self, address: bytes, header: BlockHeaderAPI) -> int:
        return self.account_db(header).get_nonce(address)

    def code(self, address: bytes, header: BlockHeaderAPI) -> bytes:
        return self.account_db(header).get_code(address)

    def storage(self, address: bytes, slot: int, header: BlockHeaderAPI) -> int:
        return self.account_db(header).get_storage(address, slot)

    def proof(self, address: bytes, slots: Sequence[int], header: BlockHeaderAPI) -> AccountProof:
        """Merkle-Patricia proofs of an account and some of its slots (``eth_getProof``)."""
        state_root = self.state_root_after(header)
        state_trie = HexaryTrie(self.db, state_root)
        account_key = keccak(address)
        account_proof = [rlp.encode(node) for node in state_trie.get_proof(account_key)]
        raw_account = state_trie.get(account_key)
        account = rlp.decode(raw_account, sedes=RlpAccount) if raw_account else RlpAccount()
        storage_trie = HexaryTrie(self.db, account.storage_root)
        storage = []
        for slot in slots:
            slot_key = keccak(slot.to_bytes(32, "big"))
            nodes = (
                storage_trie.get_proof(slot_key) if account.storage_root != BLANK_ROOT_HASH else ()
            )
            raw_value = (
                storage_trie.get(slot_key) if account.storage_root != BLANK_ROOT_HASH else b""
            )
            value = rlp.decode(raw_value, sedes=rlp.sedes.big_endian_int) if raw_value else 0
            storage.append(StorageProof(slot, value, [rlp.encode(n) for n in nodes]))
        return AccountProof(
            address=address,
            balance=account.balance,
            nonce=account.nonce,
            code_hash=account.code_hash,
            storage_root=account.storage_root,
            account_proof=account_proof,
            storage=storage,
        )

    # -- simulation -------------------------------------------------------------------------

    def simulation_state(
        self, header: BlockHeaderAPI, costless: bool, state_root: bytes | None = None
    ):
        """A throw-away state after ``header``'s block, run in ``header``'s block context.

        EXECUTE calls see the pending block's market (its price, nothing used yet) and skip
        only the solvency check."""
        context_header = header
        if costless:
            context_header = header.copy(base_fee_per_gas=0)
        prev_hashes = self.vm_class.get_prev_hashes(header.parent_hash, self.chaindb)
        state = self.vm_class.build_state(
            self.db,
            context_header.copy(state_root=state_root or self.state_root_after(header)),
            ChainContext(self.chain_id),
            prev_hashes,
        )
        if hasattr(state, "execute_market"):
            state.execute_market = BlockExecuteMarket(
                self.vm_class.market_params,
                price=self.vm_class.expected_execute_base_fee(self.head),
                check_solvency=False,
            )
        return state

    def pending_header(self, parent: BlockHeaderAPI | None = None) -> BlockHeaderAPI:
        """The header context of the next block on ``parent``, on its post-state."""
        parent = parent or self.head
        return self.vm_class.create_header_from_parent(
            parent,
            timestamp=max(int(time.time()), parent.timestamp + 1),
            state_root=self.state_root_after(parent),
        )

    def pending_state(self, parent: BlockHeaderAPI | None = None):
        """A throw-away state for validating transactions against the next block."""
        parent = parent or self.head
        prev_hashes = self.vm_class.get_prev_hashes(parent.hash, self.chaindb)
        return self.vm_class.build_state(
            self.db, self.pending_header(parent), ChainContext(self.chain_id), prev_hashes
        )

    def call(
        self,
        request: CallRequest,
        header: BlockHeaderAPI,
        accessed: AccessRecorder | None = None,
        *,
        gas_cap: int = RPC_GAS_CAP,
        deadline: Deadline | None = None,
    ) -> CallResult:
        """Run a message call (or creation) without committing anything. ``accessed``, if
        given, collects the accounts and slots the execution touched. The call gets at most
        ``gas_cap`` gas; with a ``deadline`` it stops once that passes (``Deadline.run``
        turns the interruption into its error)."""
        costless = request.max_fee_per_gas is None
        state_root = self.state_root_after(header)
        header = _override_header(header, request.block_override)
        state = self.simulation_state(header, costless, state_root)
        if deadline is not None:
            deadline.install(state)
        for address, override in request.state_overrides:
            _override_account(state, address, override)
        if accessed is not None:
            accessed.attach(state)
        gas = min(request.gas if request.gas is not None else header.gas_limit, gas_cap)
        max_fee = request.max_fee_per_gas or 0
        tip = request.max_priority_fee_per_gas
        if tip is None:
            tip = max_fee if request.max_fee_per_gas is not None else 0
        nonce = request.nonce if request.nonce is not None else state.get_nonce(request.sender)
        if request.authorization_list:
            unsigned = self.transaction_builder.new_unsigned_set_code_transaction(
                self.chain_id,
                nonce,
                tip,
                max_fee,
                gas,
                request.to,
                request.value,
                request.data,
                list(request.access_list),
                list(request.authorization_list),
            )
        else:
            unsigned = self.transaction_builder.new_unsigned_dynamic_fee_transaction(
                self.chain_id,
                nonce,
                tip,
                max_fee,
                gas,
                request.to,
                request.value,
                request.data,
                list(request.access_list),
            )
        tx = SpoofTransaction(unsigned, sender=request.sender, type_id=unsigned._type_id)
        if tx.gas < unsigned.intrinsic_gas:
            raise InvalidTransaction(
                TxRejection.INTRINSIC_GAS, f"have {tx.gas}, want {unsigned.intrinsic_gas}"
            )
        if not costless:
            cost = gas * effective_gas_price(unsigned, header.base_fee_per_gas) + request.value
            balance = state.get_balance(request.sender)
            if balance < cost:
                raise InvalidTransaction(
                    TxRejection.INSUFFICIENT_FUNDS,
                    f"address 0x{request.sender.hex()} have {balance} want {cost}",
                )
        executor = state.get_transaction_executor()
        message = executor.build_evm_message(tx)
        computation = executor.build_computation(message, tx)
        computation = executor.finalize_computation(tx, computation)
        gas_used = self.vm_class.finalize_gas_used(tx, computation)
        if computation.is_error:
            return CallResult(computation.output, gas_used, computation.error)
        return CallResult(computation.output, gas_used, None)

    def create_access_list(
        self,
        request: CallRequest,
        header: BlockHeaderAPI,
        *,
        gas_cap: int = RPC_GAS_CAP,
        deadline: Deadline | None = None,
    ) -> tuple[tuple, CallResult]:
        """geth's ``eth_createAccessList``: run, collect what was touched (not the sender,
        recipient, coinbase or precompiles), run again with that list until it is stable.
        Every run shares ``deadline``."""
        sender = request.sender
        created = _contract_address(
            sender, request.nonce if request.nonce is not None else self.nonce(sender, header)
        )
        excluded = {sender, request.to, created, header.coinbase, *self._precompile_addresses()}
        access_list = tuple(request.access_list)
        for _ in range(ACCESS_LIST_ROUNDS):
            recorder = AccessRecorder()
            result = self.call(
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

    def _precompile_addresses(self) -> list[bytes]:
        return list(self.vm_class.get_state_class().computation_class._precompiles)

    def estimate_gas(
        self,
        request: CallRequest,
        header: BlockHeaderAPI,
        *,
        gas_cap: int = RPC_GAS_CAP,
        deadline: Deadline | None = None,
    ) -> int:
        """The least gas limit with which the call succeeds (geth's binary search, 1.5 %).
        The search looks no higher than ``gas_cap``; all its runs share one ``deadline``."""
        cap = min(request.gas if request.gas is not None else header.gas_limit, gas_cap)

        def run(gas: int) -> CallResult:
            return self.call(_with_gas(request, gas), header, gas_cap=cap, deadline=deadline)

        # A plain transfer to an account without code costs exactly the base charge.
        if (
            not request.data
            and not request.state_overrides
            and request.to != CREATE_CONTRACT_ADDRESS
            and not request.authorization_list
            and not self.code(request.to, header)
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


class RecentlyUsed:
    """A mapping that keeps its ``size`` most recently used entries (thread-safe: the
    chain writer fills it while the event loop reads it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class AccessRecorder:
    """Collects the addresses and storage slots a simulated execution warms."""

    def __init__(self) -> None:
        self.addresses: set[bytes] = set()
        self.slots: dict[bytes, set[int]] = {}

    def attach(self, state) -> None:
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
        return tuple(
            (address, tuple(sorted(self.slots.get(address, ()))))
            for address in sorted(self.addresses - excluded)
        )


class WitnessStore:
    """Execution witnesses by block hash, kept in the chain's database."""

    def __init__(self, db) -> None:
        self.db = db

    def __setitem__(self, block_hash: bytes, witness: ExecutionWitness) -> None:
        self.db[WITNESS_PREFIX + block_hash] = rlp.encode(
            [witness.state, witness.codes, witness.headers]
        )

    def get(self, block_hash: bytes) -> ExecutionWitness | None:
        try:
            raw = self.db[WITNESS_PREFIX + block_hash]
        except KeyError:
            return None
        state, codes, headers = rlp.decode(raw)
        return ExecutionWitness(state=state, codes=codes, headers=headers)

    def __getitem__(self, block_hash: bytes) -> ExecutionWitness:
        witness = self.get(block_hash)
        if witness is None:
            raise KeyError(block_hash)
        return witness

    def __contains__(self, block_hash: bytes) -> bool:
        return (WITNESS_PREFIX + block_hash) in self.db


@dataclass(frozen=True)
class StorageProof:
    slot: int
    value: int
    proof: list[bytes]


@dataclass(frozen=True)
class AccountProof:
    address: bytes
    balance: int
    nonce: int
    code_hash: bytes
    storage_root: bytes
    account_proof: list[bytes]
    storage: list[StorageProof]


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


def _override_account(state, address: bytes, override: AccountOverride) -> None:
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


def _with_gas(request: CallRequest, gas: int) -> CallRequest:
    return replace(request, gas=gas)


def _is_out_of_gas(error: Exception) -> bool:
    """Plain lack of gas, which more gas would cure (py-evm also calls the code-size limits
    ``OutOfGas``; geth does not)."""
    return isinstance(error, OutOfGas) and not any(
        limit in str(error) for limit in ("EIP170", "EIP-3860")
    )


def return_result_error(result: CallResult) -> None:
    """Raise the user-facing error for a failed call result."""
    if result.is_revert:
        raise ExecutionReverted(result.output, decode_revert_reason(result.output))
    raise ExecutionHalted(str(result.error) or type(result.error).__name__)


@lru_cache(maxsize=4096)
def _contract_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]
