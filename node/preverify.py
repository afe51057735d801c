"""Parallel pre-verification of EXECUTE inputs: the re-executions a block will need, done
by worker processes while its transactions wait in the pool.

When a transaction enters the pool (``Preverifier.on_pending``, a pending-transaction
listener), a background thread simulates it on the head state with EXECUTE in capture mode
(``precompiles.preverified.capturing_execute_inputs``): the first EXECUTE call's input is
recorded and the simulation stops there. The input goes to a bounded pool of worker
processes, each running ``precompiles.execute.verify`` under the L2 rules the L1 gives the
input's L2 timestamp; the verdict lands in ``PreverifiedVerdicts``, which the L1's EXECUTE
verdict cache asks on a miss. Block building then finds the verdict ready (or waits for the
one in the making) instead of re-executing the L2 block on the builder's thread.

Bounds and failure:

- ``workers`` processes (default: the machine's cores), started once;
- at most ``queue_limit`` inputs waiting or running in them; beyond that, and for inputs
  no worker can verify (rules made at run time), nothing is pre-verified and the block
  builder verifies inline, as without pre-verification;
- the builder waits for a verdict in the making at most ``timeout`` seconds (an input not
  yet handed to a worker is taken back at once), then verifies inline;
- a worker that dies fails its jobs (inline verification again) and the pool is started
  afresh. The preverifier never holds a transaction: the pool keeps it whatever happens
  here, so no crash can lose one.

What a verdict depends on, and so what an entry is trusted for, is documented in
``precompiles.preverified``: the exact input bytes and the L2 rules.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from eth.abc import SignedTransactionAPI
from eth_hash.auto import keccak

from node.interrupt import Deadline
from node.simulation import CallRequest, call
from precompiles.execute_wire import EXECUTE_ADDRESS, MalformedInput, decode_execute_input
from precompiles.preverified import (
    ExecuteInputCaptured,
    Preverification,
    PreverifiedVerdicts,
    capturing_execute_inputs,
    resolve_rules,
    rules_key,
)

log = logging.getLogger("native_devnet.preverify")

DEFAULT_QUEUE_LIMIT = 64  # inputs waiting or running in the workers
DEFAULT_TIMEOUT = 30.0  # seconds block building waits for one verdict in the making
EXTRACTION_TIMEOUT = 5.0  # seconds one extraction simulation may run
MAX_WORKERS = 64


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def execute_precompile_of(vm_class: type):
    """The EXECUTE precompile of a fork class, or None (a chain without EXECUTE)."""
    table = vm_class.get_state_class().computation_class._precompiles
    return table.get(EXECUTE_ADDRESS)


def rules_for(precompile, l2_timestamp: int) -> type:
    """The L2 rules EXECUTE applies to an input with this L2 timestamp: the L1's schedule
    (``rules_at``) when it has one, else the one L2 class it was made with."""
    rules_at = getattr(precompile.verdicts, "rules_at", None)
    return rules_at(l2_timestamp) if rules_at is not None else precompile.l2_vm_class


# -- in the worker processes -------------------------------------------------------------


def _worker_ready(pause: float) -> int:
    """Imports what verification needs (and waits a little, so that each of a batch of
    these lands on a different worker)."""
    import precompiles.execute  # noqa: F401

    time.sleep(pause)
    return os.getpid()


def _worker_verify(data: bytes, rules: str, verifiers: tuple[str, str] | None = None):
    """(verdict, the sum of the L2 transactions' gas limits) for ``data`` under ``rules``,
    what the precompile would work out inline; then the job's CPU seconds and the worker's
    PID (accounting). With a verifier set (names, mode), the verdict is each verifier's
    (verdicts, seconds): the node decides (``VerifierSet.decide``)."""
    from precompiles.execute import decoded_transactions, total_transaction_gas, verify
    from precompiles.execute_wire import decode_execute_input

    started = time.process_time()
    vm_class = resolve_rules(rules)
    inp = decode_execute_input(data)
    transactions = decoded_transactions(inp.transactions, vm_class)
    if verifiers is None:
        verdict = verify(inp, vm_class, transactions)
    else:
        from precompiles.verifiers import VerifierSet

        names, mode = verifiers
        verdict = VerifierSet.named(names.split(","), mode).run_each(inp, vm_class, transactions)
    cpu = time.process_time() - started
    return verdict, total_transaction_gas(transactions), cpu, os.getpid()


# -- in the node -------------------------------------------------------------------------


class Preverifier:
    """Pre-verification of the EXECUTE inputs of pooled transactions for one L1 chain."""

    def __init__(
        self,
        chain,
        workers: int | None = None,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        timeout: float = DEFAULT_TIMEOUT,
        extraction_timeout: float = EXTRACTION_TIMEOUT,
        pool: ProcessPoolExecutor | None = None,
    ) -> None:
        precompile = execute_precompile_of(chain.vm_class)
        if precompile is None:
            raise ValueError("pre-verification needs a chain with EXECUTE (an L1)")
        workers = default_workers() if workers is None else workers
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}, not {workers}")
        if queue_limit < 1 or timeout < 0 or extraction_timeout <= 0:
            raise ValueError("queue_limit must be positive and the timeouts not negative")
        self.chain = chain
        self.precompile = precompile
        self.workers = workers
        self.queue_limit = queue_limit
        self.extraction_timeout = extraction_timeout
        self.store = PreverifiedVerdicts(wait_timeout=timeout)
        self.stats: Counter[str] = Counter()
        self.worker_cpu: Counter[int] = Counter()  # CPU seconds of verification, by worker
        self._lock = threading.Lock()
        self._extracted = threading.Condition(self._lock)
        self._extracting = 0
        self._in_flight = 0  # inputs handed to the workers and not finished
        self._closed = False
        # A pool handed in (already warm, shared) is the caller's to shut down.
        self._owns_pool = pool is None
        self._pool = self._new_pool() if pool is None else pool
        self._extractor = ThreadPoolExecutor(1, thread_name_prefix="preverify-extract")
        self.store.settle = self.wait_extracted
        self.store.parallelism = workers
        precompile.verdicts.preverified = self.store

    # -- the worker pool ----------------------------------------------------------------

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: a fresh interpreter per worker (forking a node that runs threads could
        # copy a lock some thread holds).
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def warm_up(self, timeout: float = 120.0) -> list[int]:
        """Start every worker and import verification there; returns their PIDs."""
        end = time.monotonic() + timeout
        pids: set[int] = set()
        pause = 0.2
        while len(pids) < self.workers and time.monotonic() < end:
            futures = [self._pool.submit(_worker_ready, pause) for _ in range(self.workers)]
            pids.update(f.result(timeout=max(1.0, end - time.monotonic())) for f in futures)
            pause *= 2  # a worker still starting leaves the jobs to the ones already up
        return sorted(pids)

    def detach_pool(self) -> ProcessPoolExecutor:
        """The worker pool, which ``close`` will then leave running (to hand it to another
        preverifier; the caller shuts it down)."""
        self._owns_pool = False
        return self._pool

    def worker_pids(self) -> list[int]:
        return sorted((getattr(self._pool, "_processes", None) or {}).keys())

    def _pool_broke(self, pool: ProcessPoolExecutor) -> None:
        """A worker died: the pool is broken for good; start another (once per pool)."""
        with self._lock:
            if self._pool is not pool or self._closed:
                return
            self.stats["pool_restarts"] += 1
            log.warning("pre-verification worker died; starting the pool afresh")
            self._pool = self._new_pool()
            self._owns_pool = True
        pool.shutdown(wait=False, cancel_futures=True)

    # -- entering the pool --------------------------------------------------------------

    def on_pending(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        """A pending-transaction listener: extract and pre-verify in the background."""
        if self._closed or (tx.to == b"" and not tx.data):
            return
        if tx.to == EXECUTE_ADDRESS:  # a direct call: its input is the calldata
            try:
                inp = decode_execute_input(bytes(tx.data))
            except MalformedInput:
                return  # EXECUTE halts on it, nothing to verify
            self.stats["extracted"] += 1
            self.preverify(bytes(tx.data), inp.timestamp)
            return
        with self._lock:
            if self._extracting >= self.queue_limit:
                self.stats["extraction_skipped"] += 1
                return
            self._extracting += 1
        try:
            self._extractor.submit(self._extract_and_submit, tx, sender)
        except RuntimeError:  # closed meanwhile
            with self._lock:
                self._extracting -= 1
                self._extracted.notify_all()

    def _extract_and_submit(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        try:
            for data, l2_timestamp in self.extract(tx, sender):
                self.preverify(data, l2_timestamp)
        except Exception:  # never let a listener's background work fail silently
            log.exception("pre-verification of 0x%s failed", tx.hash.hex())
        finally:
            with self._lock:
                self._extracting -= 1
                self._extracted.notify_all()

    def wait_extracted(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until no extraction is in flight; whether one
        was (so that a lookup is worth trying again)."""
        with self._lock:
            if not self._extracting:
                return False
            self._extracted.wait_for(lambda: not self._extracting, timeout)
            return True

    def extract(self, tx: SignedTransactionAPI, sender: bytes) -> list[tuple[bytes, int]]:
        """The input of the first EXECUTE call ``tx`` makes when simulated on the head
        state, with its L2 timestamp; [] if it makes none (or the simulation fails)."""
        request = CallRequest(
            sender=sender,
            to=tx.to,
            gas=tx.gas,
            value=tx.value,
            data=tx.data,
            access_list=tuple(getattr(tx, "access_list", ()) or ()),
        )
        deadline = Deadline(self.extraction_timeout)
        with capturing_execute_inputs():
            try:
                deadline.run(call, self.chain, request, self.chain.head, deadline=deadline)
            except ExecuteInputCaptured as captured:
                self.stats["extracted"] += 1
                return [(captured.data, captured.timestamp)]
            except Exception as exc:  # the simulation failed before any EXECUTE call
                log.debug("no EXECUTE input extracted from 0x%s: %s", tx.hash.hex(), exc)
        return []

    def preverify(self, data: bytes, l2_timestamp: int) -> bool:
        """Hand ``data`` to a worker; False when it is not (already there, the queue is
        full, rules no worker can rebuild, the node is stopping)."""
        rules = rules_key(rules_for(self.precompile, l2_timestamp))
        if rules is None:
            self.stats["not_preverifiable"] += 1
            return False
        with self._lock:  # the queue bound, taken atomically (two threads submit)
            if self._in_flight >= self.queue_limit:
                self.stats["queue_full"] += 1
                return False
            self._in_flight += 1
            pool = self._pool
            closed = self._closed
        entry = self.store.expect(data, rules) if not closed else None
        if entry is None:  # already there, or stopping
            self._release()
            return False
        try:
            chosen = self.precompile.verdicts.verifiers
            if chosen is None:
                future = pool.submit(_worker_verify, data, rules)
            else:
                names = (",".join(chosen.names), chosen.mode)
                future = pool.submit(_worker_verify, data, rules, names)
        except (BrokenProcessPool, RuntimeError):
            self._release()
            self.store.fail(entry)
            self._pool_broke(pool)
            return False
        entry.cancel = future.cancel
        self.stats["submitted"] += 1
        future.add_done_callback(lambda done: self._done(entry, done, pool))
        return True

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _done(self, entry: Preverification, future: Future, pool: ProcessPoolExecutor) -> None:
        self._release()
        if future.cancelled():
            self.stats["taken_back"] += 1
            self.store.fail(entry)
            return
        error = future.exception()
        if error is None:
            self.stats["verified"] += 1
            verdict, total_gas, cpu, pid = future.result()
            self.worker_cpu[pid] += cpu
            if isinstance(verdict, tuple):  # each verifier's: the chain's policy decides
                verdict = self.precompile.verdicts.verifiers.decide(
                    decode_execute_input(entry.data), *verdict
                )
            self.store.fulfil(entry, verdict, total_gas)
            log.info(
                "pre-verified EXECUTE input %s (%d bytes) in worker %d, %.3f s CPU: %s",
                keccak(entry.data)[:8].hex(),
                len(entry.data),
                pid,
                cpu,
                "valid" if verdict.valid else f"reason {int(verdict.reason)}",
            )
            return
        self.store.fail(entry)
        if isinstance(error, BrokenProcessPool):
            self.stats["worker_crashes"] += 1
            self._pool_broke(pool)
        else:
            self.stats["worker_errors"] += 1
            log.warning("pre-verification job failed: %r", error)

    def idle(self, timeout: float = 60.0) -> bool:
        """Wait until nothing is being extracted or verified (tests, benchmarks)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                busy = self._extracting or self._in_flight
            if not busy:
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool = self._pool
        if self.precompile.verdicts.preverified is self.store:
            self.precompile.verdicts.preverified = None
        self._extractor.shutdown(wait=False, cancel_futures=True)
        if self._owns_pool:
            pool.shutdown(wait=True, cancel_futures=True)  # running jobs: one verification each


def start_preverifier(
    devnet,
    workers: int | None = None,
    queue_limit: int = DEFAULT_QUEUE_LIMIT,
    timeout: float = DEFAULT_TIMEOUT,
) -> Preverifier | None:
    """Pre-verify the EXECUTE inputs of the transactions entering ``devnet``'s pool (a
    pending-transaction listener); None, with a log line, on a chain without EXECUTE."""
    if execute_precompile_of(devnet.chain.vm_class) is None:
        log.warning("--preverify: this chain has no EXECUTE (not an L1); nothing to do")
        return None
    preverifier = Preverifier(devnet.chain, workers, queue_limit, timeout)
    devnet.pending_listeners.append(preverifier.on_pending)
    log.info(
        "EXECUTE pre-verification: %d worker processes, queue %d, wait %.1f s",
        preverifier.workers,
        queue_limit,
        timeout,
    )
    return preverifier
