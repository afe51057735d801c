"""The running devnet: chain, pool, dev accounts and block production, driven by asyncio.

EVM work (building blocks, simulating calls) runs on worker threads so that the event loop
keeps answering cheap requests while a block is being built. One thread writes the chain;
a small pool runs simulations, each under a gas cap and a wall-clock deadline that
interrupts the EVM (``node.interrupt``), so one endless call never holds the node. Readers
use the cached ``head`` header, which only moves once a block is fully persisted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS, ZERO_HASH32

from node import fees, logs, tracing
from node.accounts import DevAccount
from node.chain import BuiltBlock, Chain
from node.errors import (
    InvalidInput,
    InvalidTimestamp,
    InvalidTransaction,
    SimulationAborted,
    SimulatorBusy,
    TooManySnapshots,
    TxRejection,
    UnknownBlock,
)
from node.fees import ExecuteFeeHistory, FeeHistory
from node.fork.validation import validate_against_state, validate_static
from node.genesis import Genesis
from node.impersonation import impersonate
from node.interrupt import RPC_EVM_TIMEOUT, TRACE_TIMEOUT, Deadline
from node.logs import FoundLog, LogFilter, LogLimits
from node.pool import PoolLimits, TxPool
from node.proofs import AccountProof
from node.receipts import ReceiptInfo
from node.simulation import RPC_GAS_CAP, CallRequest, CallResult
from node.statefile import MAX_STATE_SIZE, checked_entries, dump_state
from node.storage import PoolJournal
from node.witness import ExecutionWitness

log = logging.getLogger("native_devnet")

DEFAULT_PRIORITY_FEE = 1_000_000_000  # what eth_maxPriorityFeePerGas suggests, as anvil
MAX_DROPPED_REMEMBERED = 10_000
MAX_TIMESTAMP = 2**64 - 1  # header timestamps are uint64
# Simulations run on a few threads: with the GIL they share one core, but a short eth_call
# is answered while a long trace runs instead of waiting up to its whole deadline.
SIMULATOR_THREADS = 2
MAX_WAITING_SIMULATIONS = 64  # beyond the running ones; more is refused, not queued
STOP_GRACE = 2.0  # seconds stop() gives aborted simulations to leave their threads
# Live evm_snapshot ids: each holds the pool's transactions, so an endless loop of snapshots
# would grow without bound. Reverting uses up a snapshot and every newer one.
MAX_SNAPSHOTS = 1_000


class MiningMode(Enum):
    AUTO = "automine"
    INTERVAL = "interval"
    MANUAL = "manual"


@dataclass
class MiningConfig:
    mode: MiningMode = MiningMode.AUTO
    block_time: float | None = None


@dataclass(frozen=True)
class SimulationLimits:
    """Bounds on every simulation: ``eth_call``, ``eth_estimateGas``,
    ``eth_createAccessList`` and ``debug_trace*`` (flags ``--rpc-gas-cap``,
    ``--rpc-evm-timeout``, ``--trace-timeout``, ``--trace-max-steps``)."""

    gas_cap: int = RPC_GAS_CAP
    timeout: float = RPC_EVM_TIMEOUT
    trace_timeout: float = TRACE_TIMEOUT
    trace_max_steps: int = tracing.TRACE_MAX_STEPS


@dataclass(frozen=True)
class SendRequest:
    """An ``eth_sendTransaction`` request for a dev account, in Python values."""

    sender: bytes
    to: bytes = CREATE_CONTRACT_ADDRESS
    value: int = 0
    data: bytes = b""
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    nonce: int | None = None
    access_list: tuple = ()


BlockListener = Callable[[BuiltBlock], None]
PendingListener = Callable[[SignedTransactionAPI, bytes], None]  # (transaction, sender)


@dataclass
class Snapshot:
    head: BlockHeaderAPI
    post_state_root: bytes
    pool: list
    time_offset: int
    next_timestamp: int | None


class Devnet:
    def __init__(
        self,
        genesis: Genesis,
        dev_accounts: tuple[DevAccount, ...] = (),
        mining: MiningConfig | None = None,
        chain: Chain | None = None,
        limits: SimulationLimits | None = None,
        pool_limits: PoolLimits | None = None,
        max_state_size: int = MAX_STATE_SIZE,
    ) -> None:
        self.genesis = genesis
        self.limits = limits or SimulationLimits()
        self.chain = chain or Chain(genesis)
        self.pool = TxPool(limits=pool_limits or PoolLimits())
        self.max_state_size = max_state_size  # decompressed bytes anvil_loadState takes
        self.log_limits = LogLimits()  # bounds on one log query (the CLI's flags)
        self.dev_accounts = {a.address: a for a in dev_accounts}
        self.mining = mining or MiningConfig()
        self.head: BlockHeaderAPI = self.chain.head
        self.listeners: list[BlockListener] = []
        self.pending_listeners: list[PendingListener] = []  # called when the pool accepts a tx
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-writer")
        self._simulator = ThreadPoolExecutor(
            max_workers=SIMULATOR_THREADS, thread_name_prefix="simulator"
        )
        self._simulations: dict[Deadline, asyncio.Future] = {}  # running or waiting
        self._stopping = False
        self._wake = asyncio.Event()
        self._waiters: dict[bytes, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._next_timestamp: int | None = None
        self._next_fields: dict[str, bytes] = {}
        self.started_at = time.time()
        self.journal = PoolJournal(self.chain.db)
        self.pool.on_removed = self.journal.removed
        self.time_offset = 0  # evm_increaseTime
        self.impersonated: set[bytes] = set()
        self.auto_impersonate = False
        self.dropped: dict[bytes, str] = {}  # recent transactions the builder dropped, why
        self._snapshots: dict[int, Snapshot] = {}
        self._next_snapshot_id = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._restore_pool()
        self._tasks.append(asyncio.create_task(self._automine_loop(), name="automine"))
        if self.mining.mode is MiningMode.INTERVAL:
            self._tasks.append(asyncio.create_task(self._interval_loop(), name="interval"))

    def abort_simulations(self) -> None:
        """The node is stopping: every simulation, running or waiting, ends at its next
        check, and no new one starts."""
        self._stopping = True
        for deadline in self._simulations:
            deadline.abort()

    async def stop(self) -> None:
        self.abort_simulations()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        self._simulator.shutdown(wait=False, cancel_futures=True)
        self._writer.shutdown(wait=True)
        running = [future for future in self._simulations.values() if not future.done()]
        if running:
            await asyncio.wait(running, timeout=STOP_GRACE)
        if any(not future.done() for future in running):
            # Inside one long precompile call; the database must outlive its reads.
            log.warning("a simulation is still running at shutdown; database left open")
            return
        self.chain.db.close()

    async def _on_writer(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def _simulate(self, deadline: Deadline, fn, *args, **kwargs):
        """``fn(*args, deadline=deadline, **kwargs)`` on a simulator thread, ended by the
        deadline, by ``abort_simulations`` or when the client goes away."""
        if self._stopping:
            raise SimulationAborted("execution aborted (the node is shutting down)")
        waiting = len(self._simulations) - SIMULATOR_THREADS
        if waiting >= MAX_WAITING_SIMULATIONS:
            raise SimulatorBusy(
                f"too many simulations: {MAX_WAITING_SIMULATIONS} already wait for the "
                f"{SIMULATOR_THREADS} simulator threads of this node; retry later"
            )
        work = functools.partial(deadline.run, fn, *args, deadline=deadline, **kwargs)
        future = asyncio.get_running_loop().run_in_executor(self._simulator, work)
        self._simulations[deadline] = future
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            deadline.abort()  # nobody waits for the answer: free the thread
            raise
        finally:
            if future.done():
                del self._simulations[deadline]
            else:
                future.add_done_callback(lambda _: self._simulations.pop(deadline, None))

    def _call_deadline(self) -> Deadline:
        return Deadline(self.limits.timeout)

    def _trace_deadline(self, options: tracing.TraceOptions) -> Deadline:
        """The trace config's ``timeout`` (geth's), at most the node's trace timeout."""
        seconds = self.limits.trace_timeout
        if options.timeout is not None:
            seconds = min(seconds, options.timeout)
        return Deadline.for_trace(seconds)

    def _trace_budget(self) -> tracing.TraceBudget:
        return tracing.TraceBudget(max_steps=self.limits.trace_max_steps)

    # -- reads ------------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    def state_nonce(self, sender: bytes) -> int:
        return self.chain.nonce(sender, self.head)

    def pending_nonce(self, sender: bytes) -> int:
        return self.pool.next_nonce(sender, self.state_nonce(sender))

    def next_base_fee(self) -> int:
        return self.chain.next_base_fee(self.head)

    def header_at(self, number: int) -> BlockHeaderAPI:
        if number > self.head.block_number:
            raise UnknownBlock(f"block {number} not found")
        return self.chain.header_by_number(number)

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        header = self.chain.header_by_hash(block_hash)
        if header.block_number > self.head.block_number:
            raise UnknownBlock(f"block 0x{block_hash.hex()} not found")
        return header

    def block(self, header: BlockHeaderAPI) -> BlockAPI:
        return self.chain.block_by_header(header)

    def receipts(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        """The block's transactions with their receipts and senders, in block order."""
        return self.chain.receipts_of(header)

    def find_transaction(self, tx_hash: bytes) -> ReceiptInfo | None:
        """A mined transaction (on this chain or one ``evm_revert`` rewound: check the
        block number against the head)."""
        return self.chain.find_transaction(tx_hash)

    def balance(self, address: bytes, header: BlockHeaderAPI) -> int:
        return self.chain.balance(address, header)

    def nonce(self, address: bytes, header: BlockHeaderAPI) -> int:
        return self.chain.nonce(address, header)

    def code(self, address: bytes, header: BlockHeaderAPI) -> bytes:
        return self.chain.code(address, header)

    def storage(self, address: bytes, slot: int, header: BlockHeaderAPI) -> int:
        return self.chain.storage(address, slot, header)

    def account(self, address: bytes, header: BlockHeaderAPI) -> tuple[int, int, bytes]:
        """Balance, nonce and code of ``address``, read from one state."""
        db = self.chain.account_db(header)
        return db.get_balance(address), db.get_nonce(address), db.get_code(address)

    def proof(self, address: bytes, slots: list[int], header: BlockHeaderAPI) -> AccountProof:
        return self.chain.proof(address, slots, header)

    def blob_base_fee(self) -> int:
        return self.chain.pending_state(self.head).blob_base_fee

    def witness(self, block_hash: bytes) -> ExecutionWitness | None:
        return self.chain.witnesses.get(block_hash)

    @property
    def vm_class(self) -> type:
        """The VM class of the chain's fork (the L1's carries the EXECUTE market)."""
        return self.chain.vm_class

    @property
    def delayed_state_root(self) -> bool:
        return self.chain.delayed_state_root

    @property
    def data_directory(self) -> str | None:
        """Where the chain is stored; None in memory."""
        return getattr(self.chain.db, "directory", None)

    async def logs(self, query: LogFilter, since: int | None = None) -> list[FoundLog]:
        """Logs matching ``query`` (only in blocks after ``since`` when given), within
        ``log_limits``, on a worker thread: a query over a long chain reads many blocks and
        must hold up neither other requests nor the chain writer."""
        if since is None:
            return await asyncio.to_thread(logs.logs_matching, self, query, self.log_limits)
        return await asyncio.to_thread(logs.logs_since, self, query, since, self.log_limits)

    async def fee_history(
        self, count: int, newest: BlockHeaderAPI, percentiles: list[float] | None
    ) -> FeeHistory:
        """``eth_feeHistory`` over ``count`` blocks up to ``newest``, on a worker thread."""
        return await asyncio.to_thread(fees.fee_history, self, count, newest, percentiles)

    async def execute_fee_history(self, count: int, newest: BlockHeaderAPI) -> ExecuteFeeHistory:
        """``execute_feeHistory`` over ``count`` blocks up to ``newest``, on a worker thread."""
        return await asyncio.to_thread(fees.execute_fee_history, self, count, newest)

    async def call(self, request: CallRequest, header: BlockHeaderAPI) -> CallResult:
        return await self._simulate(
            self._call_deadline(), self.chain.call, request, header, gas_cap=self.limits.gas_cap
        )

    async def create_access_list(self, request: CallRequest, header: BlockHeaderAPI):
        return await self._simulate(
            self._call_deadline(),
            self.chain.create_access_list,
            request,
            header,
            gas_cap=self.limits.gas_cap,
        )

    async def estimate_gas(self, request: CallRequest, header: BlockHeaderAPI) -> int:
        return await self._simulate(
            self._call_deadline(),
            self.chain.estimate_gas,
            request,
            header,
            gas_cap=self.limits.gas_cap,
        )

    async def trace_transaction(
        self, tx_hash: bytes, options: tracing.TraceOptions
    ) -> tracing.TraceResult:
        return await self._simulate(
            self._trace_deadline(options),
            tracing.trace_transaction,
            self.chain,
            tx_hash,
            options,
            budget=self._trace_budget(),
        )

    async def trace_call(
        self, request: CallRequest, header: BlockHeaderAPI, options: tracing.TraceOptions
    ) -> tracing.TraceResult:
        return await self._simulate(
            self._trace_deadline(options),
            tracing.trace_call,
            self.chain,
            request,
            header,
            options,
            gas_cap=self.limits.gas_cap,
            budget=self._trace_budget(),
        )

    async def trace_block(
        self, header: BlockHeaderAPI, options: tracing.TraceOptions
    ) -> list[tuple[bytes, tracing.TraceResult]]:
        return await self._simulate(
            self._trace_deadline(options),
            tracing.trace_block,
            self.chain,
            header,
            options,
            budget=self._trace_budget(),
        )

    # -- submission -------------------------------------------------------------------------

    def validate_for_pool(self, tx: SignedTransactionAPI) -> None:
        """Everything that makes a transaction unacceptable now, against the pending block."""
        validate_static(tx, self.chain_id, self.head.gas_limit)
        validate_against_state(
            self.chain.account_db(self.head), tx, self.next_base_fee(), allow_future_nonce=True
        )

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        self.pool.check_size(len(raw))  # before any decoding work
        tx = self.chain.decode_transaction(raw)
        return await self.submit(tx)

    async def submit(self, tx: SignedTransactionAPI) -> bytes:
        if tx.hash in self.pool:
            raise InvalidTransaction(TxRejection.ALREADY_KNOWN)
        encoded = tx.encode()
        self.pool.check_size(len(encoded))
        self.validate_for_pool(tx)
        sender = tx.sender
        replaced = self.pool.add(tx, sender, self.state_nonce(sender))
        self.journal.added(tx.hash, encoded)
        if replaced is not None:
            self._settle(replaced.hash, None)
        log.info("tx 0x%s from 0x%s nonce %d accepted", tx.hash.hex(), sender.hex(), tx.nonce)
        for listener in list(self.pending_listeners):
            try:
                listener(tx, sender)
            except Exception:  # a listener must never fail a submission
                log.exception("pending-transaction listener failed")
        executable = tx.nonce < self.pool.next_nonce(sender, self.state_nonce(sender))
        if self.mining.mode is MiningMode.AUTO and executable:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[tx.hash] = waiter
            self._wake.set()
            await waiter  # raises if the block builder dropped it
        return tx.hash

    async def send_transaction(self, request: SendRequest) -> bytes:
        """Fill, sign with the dev key (or as an impersonated account) and submit
        (``eth_sendTransaction``)."""
        account = self.dev_accounts.get(request.sender)
        if account is None and not self.is_impersonating(request.sender):
            raise InvalidInput(
                f"no key for sender 0x{request.sender.hex()}: not a dev account and not "
                "impersonated (anvil_impersonateAccount)"
            )
        # The signed transaction is bigger than its data: refuse before estimating gas.
        self.pool.check_size(len(request.data))
        tx = await self.fill_and_sign(request, account)
        return await self.submit(tx)

    def is_impersonating(self, address: bytes) -> bool:
        return self.auto_impersonate or address in self.impersonated

    async def fill_and_sign(
        self, request: SendRequest, account: DevAccount | None
    ) -> SignedTransactionAPI:
        builder = self.chain.transaction_builder
        nonce = request.nonce if request.nonce is not None else self.pending_nonce(request.sender)
        gas = request.gas
        if gas is None:
            gas = await self.estimate_gas(
                CallRequest(
                    sender=request.sender,
                    to=request.to,
                    value=request.value,
                    data=request.data,
                    access_list=request.access_list,
                ),
                self.head,
            )
        if request.gas_price is not None:
            unsigned = builder.new_unsigned_access_list_transaction(
                self.chain_id,
                nonce,
                request.gas_price,
                gas,
                request.to,
                request.value,
                request.data,
                list(request.access_list),
            )
        else:
            tip = request.max_priority_fee_per_gas
            if tip is None:
                tip = DEFAULT_PRIORITY_FEE
                if request.max_fee_per_gas is not None:
                    tip = min(tip, request.max_fee_per_gas)
            max_fee = request.max_fee_per_gas
            if max_fee is None:
                max_fee = 2 * self.next_base_fee() + tip
            unsigned = builder.new_unsigned_dynamic_fee_transaction(
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
        if account is None:
            return impersonate(unsigned, request.sender)
        return unsigned.as_signed_transaction(account.private_key)

    # -- block production ---------------------------------------------------------------------

    def check_block_timestamp(self, timestamp: int) -> None:
        """A timestamp the next block may have: after the head's and a uint64."""
        if timestamp > MAX_TIMESTAMP:
            raise InvalidTimestamp(
                f"The timestamp is too big: {timestamp} is above the largest uint64 {MAX_TIMESTAMP}"
            )
        if timestamp <= self.head.timestamp:
            raise InvalidTimestamp(
                f"Timestamp error: {timestamp} is lower than or equal to previous block's "
                f"timestamp {self.head.timestamp}"
            )

    def set_next_timestamp(self, timestamp: int) -> None:
        """``evm_setNextBlockTimestamp``."""
        self.check_block_timestamp(timestamp)
        self._next_timestamp = timestamp

    def set_next_block_fields(
        self,
        anchor: bytes | None = None,
        prev_randao: bytes | None = None,
        coinbase: bytes | None = None,
    ) -> None:
        """Header fields of the next block only: the L1 anchor (``parent_beacon_block_root``)
        a rollup sequencer hands its L2, ``prevRandao`` and the fee recipient."""
        if anchor is not None:
            self._next_fields["parent_beacon_block_root"] = anchor
        if prev_randao is not None:
            self._next_fields["prev_randao"] = prev_randao
        if coinbase is not None:
            self._next_fields["coinbase"] = coinbase

    async def mine(self, timestamp: int | None = None) -> BuiltBlock:
        """Mine one block now with whatever the pool can execute."""
        if timestamp is not None:
            self.check_block_timestamp(timestamp)
        built = await self._on_writer(self._build_next_block, timestamp)
        self._after_block(built)
        return built

    def _build_next_block(self, timestamp: int | None) -> BuiltBlock:
        head = self.chain.head
        base_fee = self.chain.next_base_fee(head)
        ordered = self.pool.ordered_for_block(self.chain.account_db(head).get_nonce, base_fee)
        if timestamp is None:
            timestamp = self._next_timestamp
            self._next_timestamp = None
        if timestamp is None:
            timestamp = int(time.time()) + self.time_offset
        timestamp = max(timestamp, head.timestamp + 1)
        if timestamp > MAX_TIMESTAMP:  # the clock ran out: no block can follow
            raise InvalidTimestamp(
                f"The timestamp is too big: block {head.block_number + 1} would need "
                f"{timestamp}, above the largest uint64 {MAX_TIMESTAMP}"
            )
        fields, self._next_fields = self._next_fields, {}
        fields.setdefault("parent_beacon_block_root", ZERO_HASH32)
        built = self.chain.build_block(
            [p.transaction for p in ordered], timestamp=timestamp, **fields
        )
        for info in built.receipts:
            self.pool.remove(info.transaction_hash)
        for skipped in built.skipped:
            pooled = self.pool.get(skipped.transaction.hash)
            if pooled is None:
                continue
            if skipped.error.retryable:
                pooled.last_error = str(skipped.error)
            else:
                self.pool.remove(pooled.hash)
        new_head = built.block.header
        self.pool.prune(self.chain.account_db(new_head).get_nonce)
        return built

    def _after_block(self, built: BuiltBlock) -> None:
        self.head = built.block.header
        header = built.block.header
        log.info(
            "block %d 0x%s txs=%d gas=%d base_fee=%d in %.1f ms",
            header.block_number,
            built.block.hash.hex()[:16],
            len(built.receipts),
            header.gas_used,
            header.base_fee_per_gas,
            built.seconds * 1000,
        )
        for info in built.receipts:
            self._settle(info.transaction_hash, None)
        for skipped in built.skipped:
            if not skipped.error.retryable:
                log.info("tx 0x%s dropped: %s", skipped.transaction.hash.hex(), skipped.error)
                self.dropped[skipped.transaction.hash] = str(skipped.error)
                while len(self.dropped) > MAX_DROPPED_REMEMBERED:
                    self.dropped.pop(next(iter(self.dropped)))
                self._settle(skipped.transaction.hash, skipped.error)
            else:
                log.info("tx 0x%s deferred: %s", skipped.transaction.hash.hex(), skipped.error)
        for listener in list(self.listeners):
            try:
                listener(built)
            except Exception:  # a listener must never stop block production
                log.exception("block listener failed")

    def _settle(self, tx_hash: bytes, error: Exception | None) -> None:
        waiter = self._waiters.pop(tx_hash, None)
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _has_executable(self) -> bool:
        head = self.head
        return bool(self.pool.pending(self.chain.account_db(head).get_nonce))

    async def _automine_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.mining.mode is not MiningMode.AUTO:
                continue
            while self._has_executable():
                try:
                    built = await self.mine()
                except Exception:
                    log.exception("block production failed; pool left as it was")
                    break
                if not built.receipts:
                    break  # nothing could be included now; wait for the next change
            # Waiters whose tx is still pooled were deferred: answer them (tx is pending).
            for tx_hash in [h for h in self._waiters if h in self.pool]:
                self._settle(tx_hash, None)

    async def _interval_loop(self) -> None:
        interval = self.mining.block_time or 1.0
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            try:
                await self.mine()
            except Exception:
                log.exception("interval block production failed")

    # -- restart ----------------------------------------------------------------------------

    def _restore_pool(self) -> None:
        """Resubmit what the on-disk pool journal holds; drop, and say so, what is no
        longer valid."""
        saved = self.journal.saved()
        restored = dropped = 0
        decoded = []
        for raw in saved:
            try:
                decoded.append(self.chain.decode_transaction(raw))
            except InvalidTransaction as exc:
                dropped += 1
                log.info("pending tx from the previous run dropped: %s", exc)
        # In nonce order, so that executable transactions are never counted as queued.
        for tx in sorted(decoded, key=lambda tx: tx.nonce):
            try:
                self.journal.removed(tx.hash)
                raw = tx.encode()
                self.pool.check_size(len(raw))
                self.validate_for_pool(tx)
                self.pool.add(tx, tx.sender, self.state_nonce(tx.sender))
                self.journal.added(tx.hash, raw)
                restored += 1
            except InvalidTransaction as exc:
                dropped += 1
                log.info("pending tx from the previous run dropped: %s", exc)
        if saved:
            log.info(
                "pool: restored %d pending transactions from the previous run, dropped %d",
                restored,
                dropped,
            )
        if restored:
            self._wake.set()

    # -- test-node controls -----------------------------------------------------------------

    async def snapshot(self) -> int:
        """``evm_snapshot``: remember head, head state, pool and clock."""
        if len(self._snapshots) >= MAX_SNAPSHOTS:
            raise TooManySnapshots(
                f"too many snapshots: {MAX_SNAPSHOTS} are live; evm_revert one to free them"
            )
        snapshot_id = self._next_snapshot_id
        self._next_snapshot_id += 1
        head = self.head
        self._snapshots[snapshot_id] = Snapshot(
            head=head,
            post_state_root=self.chain.state_root_after(head),
            pool=[(p.transaction, p.sender) for p in self.pool.by_hash.values()],
            time_offset=self.time_offset,
            next_timestamp=self._next_timestamp,
        )
        return snapshot_id

    async def revert(self, snapshot_id: int) -> bool:
        """``evm_revert``: back to the snapshot; it and every newer one are used up."""
        snap = self._snapshots.get(snapshot_id)
        if snap is None:
            return False
        for newer in [i for i in self._snapshots if i >= snapshot_id]:
            del self._snapshots[newer]

        def rewind() -> None:
            self.chain.rewind_to(snap.head)
            self.chain.edit_head_state(lambda db: None, post_state_root=snap.post_state_root)
            self.pool.clear()
            for tx, sender in sorted(snap.pool, key=lambda pooled: pooled[0].nonce):
                try:
                    self.pool.add(tx, sender, self.chain.nonce(sender, snap.head))
                except InvalidTransaction as exc:  # the limits may have changed since
                    log.info("pooled tx 0x%s dropped on revert: %s", tx.hash.hex(), exc)
                    continue
                self.journal.added(tx.hash, tx.encode())

        await self._on_writer(rewind)
        self.head = snap.head
        self.time_offset = snap.time_offset
        self._next_timestamp = snap.next_timestamp
        log.info("reverted to snapshot %d (block %d)", snapshot_id, snap.head.block_number)
        return True

    def increase_time(self, seconds: int) -> int:
        """``evm_increaseTime``: move the clock forward (never back, as anvil)."""
        if seconds < 0:
            raise InvalidTimestamp(f"cannot increase time by a negative {seconds} seconds")
        clock = int(time.time()) + self.time_offset + seconds
        if clock > MAX_TIMESTAMP:
            raise InvalidTimestamp(
                f"The timestamp is too big: the clock would read {clock}, above the largest "
                f"uint64 {MAX_TIMESTAMP}"
            )
        self.time_offset += seconds
        return self.time_offset

    async def edit_state(self, edit) -> None:
        """Change the state after the head block (``anvil_setBalance`` and friends)."""
        await self._on_writer(self.chain.edit_head_state, edit)

    async def reset(self) -> None:
        """``anvil_reset``: a fresh chain from the same genesis, an empty pool."""

        # The genesis this chain really has (a resumed node's file may say "now").
        genesis = self.genesis.with_overrides(timestamp=self.chain.genesis_header.timestamp)

        def fresh() -> None:
            self.pool.clear()
            db = self.chain.db
            with db.block_transaction():
                db.clear()
                self.chain = Chain(genesis, db)

        await self._on_writer(fresh)
        self.head = self.chain.head
        self.time_offset = 0
        self._next_timestamp = None
        self._snapshots.clear()

    async def dump_state(self) -> dict:
        """The chain as a state document, taken between blocks (never of a half-built one)."""
        return await self._on_writer(dump_state, self.chain)

    async def load_state(self, entries: list[tuple[bytes, bytes]]) -> None:
        """Replace the whole chain with a state file's (``anvil_loadState``). The file must
        come from this genesis; otherwise nothing changes."""

        def load() -> None:
            checked_entries(lambda db: Chain(self.genesis, db), entries)
            self.pool.on_removed = None
            self.pool.clear()
            self.pool.on_removed = self.journal.removed
            db = self.chain.db
            with db.block_transaction():  # one commit: the old chain or the new one
                db.clear()
                for key, value in entries:
                    db[key] = value
            self.chain = Chain(self.genesis, db)

        await self._on_writer(load)
        self.head = self.chain.head
        self._snapshots.clear()
        self._restore_pool()
        log.info("loaded a state file: head is block %d", self.head.block_number)

    # -- mining controls --------------------------------------------------------------------

    def set_interval_mining(self, seconds: float) -> None:
        """``evm_setIntervalMining``: a block every ``seconds``; 0 turns it off."""
        for task in [t for t in self._tasks if t.get_name() == "interval"]:
            task.cancel()
            self._tasks.remove(task)
        if seconds > 0:
            self.mining = MiningConfig(MiningMode.INTERVAL, seconds)
            self._tasks.append(asyncio.create_task(self._interval_loop(), name="interval"))
        elif self.mining.mode is MiningMode.INTERVAL:
            self.mining = MiningConfig(MiningMode.MANUAL)

    def set_automine(self, enabled: bool) -> None:
        if enabled:
            self.set_interval_mining(0)  # automine replaces interval mining, as in anvil
            self.mining = MiningConfig(MiningMode.AUTO)
            self._wake.set()
        elif self.mining.mode is MiningMode.AUTO:
            self.mining = MiningConfig(MiningMode.MANUAL)
