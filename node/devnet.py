"""The running devnet: chain, pool, dev accounts and block production, driven by asyncio.

EVM work (building blocks, simulating calls) runs on worker threads so that the event loop
keeps answering cheap requests while a block is being built. One thread writes the chain;
a small pool runs simulations, each under a gas cap and a wall-clock deadline that
interrupts the EVM (``node.interrupt``), so one endless call never holds the node. Readers
use the cached ``head`` header, which only moves once a block is fully persisted.

``Devnet`` is assembled from one mixin per concern: ``node.reads`` (plain reads),
``node.simulator`` (calls, gas estimates, traces), ``node.mining`` (block production and the
mining mode) and ``node.controls`` (snapshots, time travel, state edits, reset, state files).
This module keeps the shared state, the lifecycle, transaction submission and the pool's
restore after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS, EMPTY_SHA3, ZERO_ADDRESS

from node.accounts import DevAccount
from node.chain import Chain
from node.controls import NodeControls, Snapshot
from node.errors import InvalidInput, InvalidTransaction, TxRejection
from node.fork.validation import validate_against_state, validate_static
from node.genesis import Genesis
from node.impersonation import impersonate
from node.interrupt import Deadline
from node.logs import LogLimits
from node.mining import BlockListener, BlockProduction, MiningConfig, MiningMode
from node.pending import next_timestamp
from node.pool import PoolLimits, TxPool
from node.reads import ChainReads
from node.simulation import CallRequest, unsigned_fee_market_transaction
from node.simulator import SIMULATOR_THREADS, SimulationLimits, Simulations
from node.statefile import MAX_STATE_SIZE
from node.storage import MemoryDatabase, PoolJournal

log = logging.getLogger("native_devnet")

DEFAULT_PRIORITY_FEE = 1_000_000_000  # what eth_maxPriorityFeePerGas suggests, as anvil
STOP_GRACE = 2.0  # seconds stop() gives aborted simulations to leave their threads
# A block of at most this many pooled transactions and this much gas (bounding its EVM time),
# in memory, is built on the event loop when the chain writer is idle (Devnet._on_writer).
# On a chain with EXECUTE only when every transaction is a plain transfer (no code runs): a
# 200k-gas call reaching EXECUTE re-executes a whole L2 block (paid in execute gas, not in L1
# gas), seconds the loop cannot wait.
INLINE_BLOCK_TXS = 4
INLINE_BLOCK_GAS = 200_000


def _runs_no_code(tx, state) -> bool:
    """Whether ``tx`` is a plain transfer: a call (no creation, no 7702 authorizations) to an
    account without code that is not a precompile (EXECUTE's address has no code either)."""
    to = tx.to
    if not to or getattr(tx, "type_id", None) == 4 or int.from_bytes(to, "big") <= 0xFFFF:
        return False
    return state.get_code_hash(to) == EMPTY_SHA3


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
    authorization_list: tuple = ()  # signed EIP-7702 authorizations, taken as given
    legacy: bool = False  # a type-0 transaction paying gas_price (gasPrice, no accessList)


PendingListener = Callable[[SignedTransactionAPI, bytes], None]  # (transaction, sender)


class Devnet(ChainReads, Simulations, BlockProduction, NodeControls):
    """The one entry point ``rpc/`` calls: each RPC method is one public method here. Reads,
    simulations, block production and the test-node controls live in the mixins'
    modules (``node.reads``, ``node.simulator``, ``node.mining``, ``node.controls``); this class
    owns the state they share, the lifecycle and transaction submission."""

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
        self._writer_lock = threading.Lock()
        self._writer_jobs = 0  # submitted to the writer and not finished
        self._simulator = ThreadPoolExecutor(
            max_workers=SIMULATOR_THREADS, thread_name_prefix="simulator"
        )
        self._simulations: dict[Deadline, asyncio.Future] = {}  # running or waiting
        self._stopping = False
        self._wake = asyncio.Event()
        self._waiters: dict[bytes, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._next_timestamp: int | None = None
        self._next_fields: dict[str, bytes | int] = {}  # the next block's chosen header fields
        self.coinbase = ZERO_ADDRESS  # anvil_setCoinbase
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
        """``fn(*args)`` on the chain-writer thread, one job at a time. A small block (one
        ``mine`` or ``anvil_mine`` of one block, at most ``INLINE_BLOCK_TXS`` pooled
        transactions and ``INLINE_BLOCK_GAS`` gas, in memory, no EXECUTE) is built right here on the event
        loop when the writer has nothing to do: nothing else can reach the writer while the
        loop is busy, so writes stay one at a time, and the two thread switches (on a busy
        machine a third of a transfer's time) are saved."""
        with self._writer_lock:
            inline = self._writer_jobs == 0 and self._small_block_job(fn, args)
            if not inline:
                self._writer_jobs += 1
        if inline:
            return fn(*args)

        def job():
            try:
                return fn(*args)
            finally:
                with self._writer_lock:
                    self._writer_jobs -= 1

        try:
            future = self._writer.submit(job)
        except BaseException:
            with self._writer_lock:
                self._writer_jobs -= 1
            raise
        return await asyncio.wrap_future(future)

    def _small_block_job(self, fn, args: tuple) -> bool:
        func = getattr(fn, "__func__", None)
        one_block = func is BlockProduction._build_next_block or (
            func is BlockProduction._build_blocks and args[:1] == (1,)
        )
        if not one_block or not isinstance(self.chain.db, MemoryDatabase):
            return False
        if not len(self.pool):  # an empty block (no read view opened for it)
            return True
        state = self.chain.account_db(self.head)
        ready = self.pool.pending(state.get_nonce)
        small = (
            len(ready) <= INLINE_BLOCK_TXS
            and sum(p.transaction.gas for p in ready) <= INLINE_BLOCK_GAS
        )
        if not small or not self.genesis.execute.enabled:
            return small
        return all(_runs_no_code(p.transaction, state) for p in ready)

    # -- submission -------------------------------------------------------------------------

    def validate_for_pool(self, tx: SignedTransactionAPI) -> None:
        """Everything that makes a transaction unacceptable now, against the pending block."""
        validate_static(tx, self.chain_id, self.next_gas_limit())
        # The next block's fork rules (Osaka's EIP-7825 gas cap), by its timestamp.
        fork = self.chain.vm_factory.class_at(
            next_timestamp(self._next_timestamp, self.time_offset)
        )
        getattr(fork, "validate_fork_transaction", lambda tx: None)(tx)
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

    async def sign_transaction(self, request: SendRequest) -> bytes:
        """Fill as ``eth_sendTransaction`` does and sign with the dev key, without submitting
        (``eth_signTransaction``): the signed transaction in network form."""
        account = self.dev_accounts.get(request.sender)
        if account is None:
            raise InvalidInput(f"no key for sender 0x{request.sender.hex()}")
        self.pool.check_size(len(request.data))
        return (await self.fill_and_sign(request, account)).encode()

    def is_impersonating(self, address: bytes) -> bool:
        return self.auto_impersonate or address in self.impersonated

    def _fee_fields(self, request: SendRequest) -> tuple[int, int]:
        """(tip, fee cap) a filled transaction pays: what the request names, a legacy price for
        both, else anvil's defaults (a 1 gwei tip, a cap of twice the next base fee plus it)."""
        tip = request.max_priority_fee_per_gas
        max_fee = request.max_fee_per_gas
        if request.gas_price is not None:  # a legacy price pays both
            tip = tip if tip is not None else request.gas_price
            max_fee = max_fee if max_fee is not None else request.gas_price
        if tip is None:
            tip = DEFAULT_PRIORITY_FEE if max_fee is None else min(DEFAULT_PRIORITY_FEE, max_fee)
        if max_fee is None:
            max_fee = 2 * self.next_base_fee() + tip
        return tip, max_fee

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
                    authorization_list=request.authorization_list,
                ),
                self.head,
            )
        if request.legacy and request.gas_price is not None:
            legacy = builder.create_unsigned_transaction(
                nonce=nonce,
                gas_price=request.gas_price,
                gas=gas,
                to=request.to,
                value=request.value,
                data=request.data,
            )
            if account is None:
                return impersonate(legacy, request.sender, self.chain_id)
            return legacy.as_signed_transaction(account.private_key, chain_id=self.chain_id)
        if request.gas_price is not None and not request.authorization_list:
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
        else:  # type 2, or type 4 (EIP-7702 set code) with authorizations, as geth and anvil
            tip, max_fee = self._fee_fields(request)
            unsigned = unsigned_fee_market_transaction(
                builder,
                self.chain_id,
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
        if account is None:
            return impersonate(unsigned, request.sender)
        return unsigned.as_signed_transaction(account.private_key)

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
