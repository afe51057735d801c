"""The chain: py-evm's chain and database under one object that speaks Python values.

It builds its own blocks with the builder (``BuilderMode.build_block``: py-evm's VM and
state, the header made once, no re-validation; the next block runs on the state the last one
left, ``WarmState``), imports blocks built elsewhere through py-evm's full ``import_block``,
rewinds blocks, and reads state at any block (shared read views, ``node.read_view``).
Execution witnesses are recorded as blocks are built on chains that need every one (an L2),
and otherwise re-run on the parent's state when asked (``execution_witness``). The rest has a module of its own, which
the chain wires to its database and fronts with a method or two: VMs for a header
(``node.vm``), simulated calls (``node.simulation``), receipts (``node.receipts``), proofs
(``node.proofs``), witnesses (``node.witness``) and the delayed state root
(``node.delayed_root``). It is synchronous and single-writer; ``node.devnet`` decides which
thread runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import rlp
from eth._utils.rlp import validate_imported_block_unchanged
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import Chain as PyEvmChain
from eth.constants import EMPTY_UNCLE_HASH, ZERO_ADDRESS, ZERO_HASH32
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.batch import BatchDB
from eth.db.schema import SchemaV1
from eth.exceptions import BlockNotFound, HeaderNotFound
from eth.rlp.sedes import chain_gaps
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_hash.auto import keccak
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError

from node import simulation
from node.delayed_root import PostStateRoots, check_header_state_root, uses_delayed_state_root
from node.errors import InvalidTransaction, TxRejection, UnknownBlock
from node.fork.builder import SkippedTransaction
from node.fork.empty_block import SettledQueues, empty_block_post_root
from node.fork.l1 import L1ChainDB
from node.genesis import Genesis, GenesisError
from node.interrupt import Deadline
from node.proofs import AccountProof, prove_account
from node.read_view import ReadView, ReadViews
from node.receipts import ReceiptInfo, ReceiptStore
from node.simulation import RPC_GAS_CAP, AccessRecorder, CallRequest, CallResult
from node.storage import MemoryDatabase
from node.trie_batch import encode_node
from node.vm import VMFactory, vm_class_for
from node.witness import ExecutionWitness, RecordingDatabase, WitnessStore, witness_headers
from precompiles.nesting import rlp_depth_ok

MAX_BLOCKHASH_DEPTH = 256
CANONICAL_HEAD_KEY = SchemaV1.make_canonical_head_hash_lookup_key()
HEADER_GAPS_KEY = SchemaV1.make_header_chain_gaps_lookup_key()
CHAIN_GAPS_KEY = SchemaV1.make_chain_gaps_lookup_key()
GENESIS_HASH_KEY = b"native-devnet:genesis-hash"
CHAIN_ID_KEY = b"native-devnet:chain-id"


WARM_STATE_MAX_BLOCKS = 256  # blocks one warm state runs before a fresh one (bounded caches)


@dataclass
class WarmState:
    """The state a built block left (its post-state, persisted, with py-evm's caches warm):
    the next block on that root runs on it instead of opening the state afresh. Trie nodes
    are content-addressed, so a state at a root is valid for any block starting there; a
    state edit, a rewind or an import start from another root and open a fresh state."""

    state: StateAPI
    root: bytes
    blocks: int

    @classmethod
    def after(cls, vm, previous: WarmState | None) -> WarmState | None:
        blocks = 1 if previous is None or previous.state is not vm.state else previous.blocks + 1
        if blocks >= WARM_STATE_MAX_BLOCKS:
            return None
        return cls(vm.state, vm.post_state_root, blocks)

    def resume(self, vm, header: BlockHeaderAPI) -> StateAPI:
        """The state, moved into ``header``'s block context."""
        state = self.state
        state.execution_context = vm.create_execution_context(
            header, vm.previous_hashes, vm.chain_context
        )
        state.oldest_ancestor_read = None
        return state


# Per header class: its fields in order, each with the byte length of an integer's
# encoding (0: the shortest, as rlp's unsized big-endian sedes) or None for a byte string;
# None for a class with another sedes (rlp's own serialization then).
_HEADER_PLANS: dict[type, tuple[tuple[str, int | None], ...] | None] = {}


def _header_plan(header_class: type) -> tuple[tuple[str, int | None], ...] | None:
    plan = []
    for name, sedes in header_class._meta.fields:
        if type(sedes) is rlp.sedes.BigEndianInt:
            plan.append((name, sedes.length or 0))
        elif type(sedes) is rlp.sedes.Binary:
            plan.append((name, None))
        else:
            return None
    return tuple(plan)


def header_rlp(header: BlockHeaderAPI) -> bytes:
    """``rlp.encode(header)``, byte for byte, without rlp's per-field sedes dispatch (a
    header made by the builder holds valid values: only their encoding is left)."""
    header_class = type(header)
    if header_class not in _HEADER_PLANS:
        _HEADER_PLANS[header_class] = _header_plan(header_class)
    plan = _HEADER_PLANS[header_class]
    if plan is None:
        return rlp.encode(header, cache=False)
    items = []
    for name, length in plan:
        value = getattr(header, name)
        if length is None:
            items.append(bytes(value))
        elif length:
            items.append(value.to_bytes(length, "big"))
        else:
            items.append(_int_bytes(value))
    return encode_node(items)


def _int_bytes(value: int) -> bytes:
    """An integer as RLP's unsized big-endian serialization (0 is empty)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""


def _no_gaps(tip_child: int) -> bytes:
    """``rlp.encode(((), tip_child), sedes=chain_gaps)``: py-evm's chain-gaps record of a
    chain with every block up to ``tip_child`` - 1."""
    return encode_node([[], tip_child.to_bytes(32, "big")])  # py-evm's uint32: 32 bytes


def _cache_header_rlp(header: BlockHeaderAPI) -> None:
    """Give a fresh header its RLP in rlp's own cache (``_cached_rlp``, which ``rlp.encode``
    returns as is): its hash and its stored form then cost no serialization."""
    if header._cached_rlp is None:
        header._cached_rlp = header_rlp(header)


@dataclass
class BuiltBlock:
    block: BlockAPI
    receipts: list[ReceiptInfo]
    skipped: list[SkippedTransaction] = field(default_factory=list)
    seconds: float = 0.0


class ChainQueries:
    """Reads and simulations at a header, in terms of ``account_db``, ``state_root_after`` and
    ``db``: shared by the chain and by its view with the pending block (node.pending)."""

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
        return prove_account(self.db, self.state_root_after(header), address, slots)

    def call(
        self,
        request: CallRequest,
        header: BlockHeaderAPI,
        accessed: AccessRecorder | None = None,
        *,
        gas_cap: int = RPC_GAS_CAP,
        deadline: Deadline | None = None,
        prepare: Callable[[StateAPI], None] | None = None,
    ) -> CallResult:
        """``node.simulation.call`` on this chain."""
        return simulation.call(
            self, request, header, accessed, gas_cap=gas_cap, deadline=deadline, prepare=prepare
        )

    def create_access_list(
        self,
        request: CallRequest,
        header: BlockHeaderAPI,
        *,
        gas_cap: int = RPC_GAS_CAP,
        deadline: Deadline | None = None,
    ) -> tuple[tuple, CallResult]:
        """``node.simulation.create_access_list`` on this chain."""
        return simulation.create_access_list(
            self, request, header, gas_cap=gas_cap, deadline=deadline
        )

    def estimate_gas(
        self,
        request: CallRequest,
        header: BlockHeaderAPI,
        *,
        gas_cap: int = RPC_GAS_CAP,
        deadline: Deadline | None = None,
    ) -> int:
        """``node.simulation.estimate_gas`` on this chain."""
        return simulation.estimate_gas(self, request, header, gas_cap=gas_cap, deadline=deadline)


class Chain(ChainQueries):
    """A single-node chain from a genesis. Not thread-safe for writers: one writer at a time."""

    def __init__(self, genesis: Genesis, db: AtomicDB | None = None) -> None:
        self.genesis = genesis
        self.vm_class = vm_class_for(genesis)
        self.chain_id = genesis.chain_id
        chain_class = PyEvmChain.configure(
            __name__="DevnetChain",
            vm_configuration=((0, self.vm_class),),
            chain_id=genesis.chain_id,
            chaindb_class=L1ChainDB,
        )
        self.db = db if db is not None else MemoryDatabase()
        self.post_state_roots = PostStateRoots(self.db)
        params = genesis.header_params()
        self.reopened = GENESIS_HASH_KEY in self.db
        if self.reopened:
            self._chain = chain_class(self.db)
            self._check_same_genesis(chain_class, params)
        else:
            with self.db.block_transaction():
                self._chain = chain_class.from_genesis(self.db, params, genesis.state_dict())
                genesis_header = self._chain.chaindb.get_canonical_head()
                self.post_state_roots.record(genesis_header.hash, genesis_header.state_root)
                self.db[GENESIS_HASH_KEY] = genesis_header.hash
                self.db[CHAIN_ID_KEY] = rlp.encode(genesis.chain_id)
        self.chaindb = self._chain.chaindb
        self.transaction_builder = self.vm_class.get_transaction_builder()
        self.vm_factory = VMFactory(
            self.vm_class, self.chain_id, self.chaindb, self._chain.consensus_context
        )
        self.receipts = ReceiptStore(
            self.db, self.chaindb, self.block_by_header, self.header_by_number
        )
        self.witnesses = WitnessStore(self.db)
        self.read_views = ReadViews(self.db, self.vm_class.get_state_class().get_account_db_class())
        self._head: tuple[bytes, BlockHeaderAPI] | None = None  # (hash, header), decoded once
        self._warm: WarmState | None = None  # the state the last block built left
        self.settled_queues = SettledQueues()  # request queues' settled storage roots
        record = genesis.record_witnesses
        self.record_witnesses = genesis.role == "l2" if record is None else record

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
        """The canonical head, decoded once per head (the head's hash is read each time)."""
        head_hash = self.db[CANONICAL_HEAD_KEY]
        cached = self._head
        if cached is None or cached[0] != head_hash:
            cached = self._head = (head_hash, self.header_by_hash(head_hash))
        return cached[1]

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
        return uses_delayed_state_root(self.vm_class)

    def state_root_after(self, header: BlockHeaderAPI) -> bytes:
        """The root of the state after ``header``'s block. With the delayed state root the
        header carries its parent's, so the chain keeps each block's own."""
        return self.post_state_roots.after(header)

    def next_base_fee(self, parent: BlockHeaderAPI | None = None) -> int:
        """EIP-1559's base fee of the block after ``parent``, by its formula."""
        return calculate_expected_base_fee_per_gas(parent or self.head)

    # -- block production -----------------------------------------------------------------

    def build_block(
        self,
        transactions: Sequence[SignedTransactionAPI],
        timestamp: int | None = None,
        coinbase: bytes = ZERO_ADDRESS,
        prev_randao: bytes | None = None,
        parent_beacon_block_root: bytes = ZERO_HASH32,
        base_fee_per_gas: int | None = None,
        gas_limit: int | None = None,
    ) -> BuiltBlock:
        """Build, import and persist the next block from ``transactions`` in that order.

        Transactions that are invalid at their position are left out and returned in
        ``skipped``; one bad transaction never aborts a block. A base fee or gas limit given
        here (test-node controls) replaces what the rules derive from the parent.
        """
        started = time.perf_counter()
        parent = self.head
        if timestamp is None:
            timestamp = int(time.time())
        timestamp = max(timestamp, parent.timestamp + 1)
        if prev_randao is None:
            prev_randao = keccak(parent.hash + b"prevrandao")
        # The fork class that runs a block at this timestamp (a chain with a fork schedule
        # picks it by time; otherwise the chain's one class).
        class_at = getattr(self.vm_factory, "class_at", None)
        vm_class = self.vm_class if class_at is None else class_at(timestamp)
        fields = dict(
            timestamp=timestamp,
            coinbase=coinbase,
            mix_hash=prev_randao,
            parent_beacon_block_root=parent_beacon_block_root,
            gas_limit=gas_limit,
            base_fee_per_gas=base_fee_per_gas,
        )
        pre_state_root = self.state_root_after(parent)
        if not transactions and not self.record_witnesses and vm_class.native_empty_blocks:
            built = self._build_empty_natively(vm_class, parent, pre_state_root, fields, started)
            if built is not None:
                return built
        header = vm_class.template_header(parent, state_root=pre_state_root, **fields)
        recorder = RecordingDatabase(self.db) if self.record_witnesses else None
        vm = self.vm_factory.vm(
            header, chaindb=None if recorder is None else L1ChainDB(recorder), builder=True
        )
        warm, self._warm = self._warm, None
        if (
            recorder is None
            and warm is not None
            and warm.root == header.state_root
            and type(warm.state) is vm.get_state_class()  # not across a fork boundary
        ):
            # The state the last block left, caches and all, runs this block in its context
            # (a recorded witness needs every read to reach the database: never then).
            vm._state = warm.resume(vm, header)
        with self.db.block_transaction():  # one commit: the whole block or nothing
            block = vm.build_block(transactions)
            if recorder is not None and not vm.skipped_transactions:
                state_nodes, codes = recorder.split_reads()
                self.witnesses[block.hash] = ExecutionWitness(
                    state=state_nodes,
                    codes=codes,
                    headers=witness_headers(
                        parent, vm.state.oldest_ancestor_read, self.header_by_hash
                    ),
                )
            self.post_state_roots.record(block.hash, vm.post_state_root)
            self.receipts.record_senders(block)
            self.chaindb.persist_block(block)  # moves the head: last
        self._head = (block.hash, block.header)
        if recorder is not None and vm.skipped_transactions:
            # The builder read the accounts of transactions it left out; the witness holds
            # only what the block itself reads: re-run it.
            # (The block as stored: its transactions in the block's own classes.)
            self.witnesses[block.hash] = self.rerun_for_witness(self.block_by_header(block.header))
        if recorder is None:
            self._warm = WarmState.after(vm, warm)
        receipts = self.receipts.add(block, vm.receipts)
        return BuiltBlock(
            block=block,
            receipts=receipts,
            skipped=list(vm.skipped_transactions),
            seconds=time.perf_counter() - started,
        )

    def _build_empty_natively(
        self, vm_class, parent: BlockHeaderAPI, pre_state_root: bytes, fields: dict, started: float
    ) -> BuiltBlock | None:
        """The transaction-less block on ``parent`` (header ``fields`` as
        ``template_header`` takes them) with its post-state root computed on the tries
        (``node.fork.empty_block``) before its header is made; None when the block needs
        the EVM (nothing is written then)."""
        try:
            with self.db.block_transaction():
                post_state_root = empty_block_post_root(
                    self.db,
                    pre_state_root,
                    parent.block_number + 1,
                    fields["timestamp"],
                    parent.hash,
                    fields["parent_beacon_block_root"],
                    self.settled_queues,
                )
                if post_state_root is None:
                    return None
                header_root = (
                    pre_state_root if uses_delayed_state_root(vm_class) else post_state_root
                )
                header = vm_class.template_header(parent, state_root=header_root, **fields)
                _cache_header_rlp(header)
                block = vm_class.get_block_class()(
                    header, transactions=[], uncles=[], withdrawals=[]
                )
                self.post_state_roots.record(block.hash, post_state_root)
                if not self._persist_extending_head(block):
                    self.chaindb.persist_block(block)  # moves the head: last
        except BaseException:
            self.settled_queues.last = None  # its root may not be stored
            raise
        self._head = (block.hash, block.header)
        self._warm = None  # the state moved on without it
        return BuiltBlock(
            block=block,
            receipts=self.receipts.add(block, []),
            skipped=[],
            seconds=time.perf_counter() - started,
        )

    def _persist_extending_head(self, block: BlockAPI) -> bool:
        """``chaindb.persist_block`` of a block with no transactions, withdrawals or uncles
        whose parent is the canonical head of a chain without gaps (every block built here
        on the head): the same six keys and values py-evm writes (header, score, the block
        number's hash, both chain-gap records, the head), without its generic walk. False,
        nothing written, for any other block: py-evm persists it."""
        header = block.header
        db = self.db
        number = header.block_number
        if block.transactions or block.uncles or block.withdrawals:
            return False
        if (
            header.uncles_hash != EMPTY_UNCLE_HASH
            or db.get(CANONICAL_HEAD_KEY) != header.parent_hash
        ):
            return False
        gaps = _no_gaps(number)
        if db.get(HEADER_GAPS_KEY) != gaps or db.get(CHAIN_GAPS_KEY) != gaps:
            return False  # a gap, or block 1 (no record yet): py-evm's path
        parent_score = db.get(SchemaV1.make_block_hash_to_score_lookup_key(header.parent_hash))
        if parent_score is None:
            return False
        score = int.from_bytes(rlp.decode(parent_score), "big")
        score += header.difficulty if header.difficulty != 0 else number
        block_hash = header.hash
        next_gaps = _no_gaps(number + 1)
        db[block_hash] = rlp.encode(header)
        db[SchemaV1.make_block_hash_to_score_lookup_key(block_hash)] = encode_node(
            _int_bytes(score)
        )
        db[HEADER_GAPS_KEY] = next_gaps
        db[SchemaV1.make_block_number_to_hash_lookup_key(number)] = encode_node(block_hash)
        db[CANONICAL_HEAD_KEY] = block_hash
        db[CHAIN_GAPS_KEY] = next_gaps
        return True

    def import_header(self, block: BlockAPI, parent: BlockHeaderAPI) -> BlockHeaderAPI:
        """The header a VM importing ``block`` on ``parent`` starts from."""
        return self.vm_class.create_header_from_parent(
            parent,
            timestamp=block.header.timestamp,
            coinbase=block.header.coinbase,
            mix_hash=block.header.mix_hash,
            gas_limit=block.header.gas_limit,
            extra_data=block.header.extra_data,
            parent_beacon_block_root=block.header.parent_beacon_block_root,
            state_root=self.state_root_after(parent),
        )

    # -- execution witnesses --------------------------------------------------------------

    def execution_witness(self, block_hash: bytes) -> ExecutionWitness | None:
        """The block's execution witness: recorded as it was built, else (a chain that does
        not record every witness) re-run on its parent's state now. None for the genesis."""
        witness = self.witnesses.get(block_hash)
        if witness is not None:
            return witness
        header = self.header_by_hash(block_hash)
        if header.block_number == 0:
            return None
        return self.rerun_for_witness(self.block_by_header(header))

    def rerun_for_witness(self, block: BlockAPI) -> ExecutionWitness:
        """Re-run ``block`` on its parent's post-state through py-evm's generic import on a
        throw-away overlay (nothing is written), recording every read."""
        parent = self.header_by_hash(block.header.parent_hash)
        recorder = RecordingDatabase(AtomicDB(BatchDB(self.db)))
        vm = self.vm_factory.vm(self.import_header(block, parent), chaindb=L1ChainDB(recorder))
        vm.import_block(block)
        state_nodes, codes = recorder.split_reads()
        return ExecutionWitness(
            state=state_nodes,
            codes=codes,
            headers=witness_headers(parent, vm.state.oldest_ancestor_read, self.header_by_hash),
        )

    def import_block(self, block: BlockAPI) -> BlockAPI:
        """Import a block built elsewhere, validating every rule (the delayed state root
        too); raises ``ValidationError`` and changes nothing if it is invalid."""
        parent = self.header_by_hash(block.header.parent_hash)
        check_header_state_root(self.vm_class, block.header, self.state_root_after(parent))
        header = self.import_header(block, parent)
        self.vm_class.validate_header(block.header, parent)
        vm = self.vm_factory.vm(header)
        with self.db.block_transaction():
            imported = vm.import_block(block).block
            validate_imported_block_unchanged(imported, block)
            self.post_state_roots.record(imported.hash, vm.post_state_root)
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
            self.post_state_roots.record(head.hash, account_db.state_root)

    # -- transactions and receipts ----------------------------------------------------------

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        """Decode network-form bytes; anything malformed is an ``InvalidTransaction``."""
        if not raw or not rlp_depth_ok(raw[1:] if raw[0] < 0x80 else raw):
            raise InvalidTransaction(TxRejection.MALFORMED, "empty or too deeply nested")
        try:
            tx = self.transaction_builder.decode(raw)
            # Recovering the sender checks the signature (py-evm's check_signature_validity
            # recovers it once more, then verifies against what it recovered): one recovery
            # per transaction, cached on it for the pool, the builder and the receipts.
            tx.sender  # noqa: B018
        except InvalidTransaction:
            raise
        except (rlp.DecodingError, rlp.DeserializationError) as exc:
            raise InvalidTransaction(TxRejection.MALFORMED, str(exc)) from exc
        except BadSignature as exc:  # the words py-evm's signature check used
            raise InvalidTransaction(
                TxRejection.INVALID_SIGNATURE, f"Bad Signature: {exc}"
            ) from exc
        except ValidationError as exc:
            raise InvalidTransaction(TxRejection.INVALID_SIGNATURE, str(exc)) from exc
        except Exception as exc:  # untrusted bytes: every failure is a rejection
            raise InvalidTransaction(TxRejection.MALFORMED, f"{type(exc).__name__}: {exc}") from exc
        return tx

    def receipts_of(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        return self.receipts.of(header)

    def find_transaction(self, tx_hash: bytes) -> ReceiptInfo | None:
        """The mined transaction with this hash and its receipt, or None."""
        return self.receipts.find_transaction(tx_hash)

    # -- state ------------------------------------------------------------------------------

    def account_db(self, header: BlockHeaderAPI) -> ReadView:
        """A read-only view of the state after ``header`` (``node.read_view``): one per state
        root, shared by the pool, nonce, automine and block-building checks."""
        return self.read_views.at(self.state_root_after(header))

    # -- simulation -------------------------------------------------------------------------

    def pending_header(self, parent: BlockHeaderAPI | None = None) -> BlockHeaderAPI:
        """The header context of the next block on ``parent``, on its post-state."""
        parent = parent or self.head
        return self.vm_class.create_header_from_parent(
            parent,
            timestamp=max(int(time.time()), parent.timestamp + 1),
            state_root=self.state_root_after(parent),
        )

    def pending_state(self, parent: BlockHeaderAPI | None = None) -> StateAPI:
        """A throw-away state for validating transactions against the next block."""
        return self.vm_factory.state(self.pending_header(parent))
