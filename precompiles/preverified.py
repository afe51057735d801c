"""Verdicts worked out ahead of the block, and how EXECUTE finds them.

``node.preverify`` extracts the EXECUTE inputs of a transaction as it enters the pool and
verifies them in worker processes; ``PreverifiedVerdicts`` is where those verdicts wait for
the precompile (``VerdictCache.get_or_verify`` asks it on a miss). An entry is trusted only
for what a verdict is a function of:

- the input's exact bytes (the entry keeps them and compares them, not only their keccak);
- the L2 rules the verdict was computed under (``rules_key``: the VM class by import path,
  which the worker imported; on a scheduled L1 the rules follow the L2 header's timestamp,
  which is in the input);

and nothing else: the answers that depend on the calling L1 block (an L2 timestamp later
than the L1 block's, NR-EXECUTE v1.1) are decided before the cache is consulted and never
stored. A verdict still in the making is waited for, at most ``wait_timeout`` seconds; a
job that failed (a worker crashed) or is late gives no verdict, and the precompile
verifies inline, as without pre-verification.

``capturing_execute_inputs`` is the extraction side: while it is active on a thread, an
EXECUTE call on that thread records its input and unwinds the whole simulation
(``ExecuteInputCaptured``, not a VM error, so no contract can catch it).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from eth_hash.auto import keccak

from precompiles.verdict import Verdict

log = logging.getLogger("native_devnet.execute")

DEFAULT_PREVERIFIED_SIZE = 256
DEFAULT_WAIT_TIMEOUT = 30.0  # seconds the precompile waits for a verdict in the making

_capture = threading.local()


class ExecuteInputCaptured(Exception):  # noqa: N818 - a signal, not an error
    """Raised by EXECUTE on a capturing thread: the input of the call, in place of an answer."""

    def __init__(self, data: bytes, timestamp: int) -> None:
        super().__init__("EXECUTE input captured")
        self.data = data
        self.timestamp = timestamp  # the L2 header's (the rules follow it)


@contextmanager
def capturing_execute_inputs() -> Iterator[None]:
    """On this thread, the next EXECUTE call raises ``ExecuteInputCaptured``."""
    _capture.active = True
    try:
        yield
    finally:
        _capture.active = False


def capture_active() -> bool:
    return getattr(_capture, "active", False)


def rules_key(vm_class: type) -> str | None:
    """``module:qualname`` of an importable VM class (a worker process imports it by that
    name); None for a class made at run time, which no worker can rebuild."""
    path = f"{vm_class.__module__}:{vm_class.__qualname__}"
    try:
        found = resolve_rules(path)
    except Exception:
        return None
    return path if found is vm_class else None


def resolve_rules(path: str) -> type:
    module, _, qualname = path.partition(":")
    found: object = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type):
        raise TypeError(f"{path} is not a class")
    return found


@dataclass
class Preverification:
    """One input being (or having been) verified ahead of its block."""

    data: bytes
    rules: str
    done: threading.Event = field(default_factory=threading.Event)
    verdict: Verdict | None = None  # None: not yet, or the job failed
    # The sum of the L2 transactions' gas limits (None: they do not decode), which the
    # execute-gas market reserves on; worked out with the verdict, under the same rules.
    total_gas: int | None = None
    # Takes the job back if no worker started it (True), so the caller verifies inline.
    cancel: Callable[[], bool] | None = None


class PreverifiedVerdicts:
    """Verdicts by (keccak(input), rules), bounded, safe across threads."""

    def __init__(
        self, size: int = DEFAULT_PREVERIFIED_SIZE, wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    ) -> None:
        self.size = size
        self.wait_timeout = wait_timeout
        self._entries: OrderedDict[tuple[bytes, str], Preverification] = OrderedDict()
        self._lock = threading.Lock()
        # Waits (at most the seconds given) until the inputs of transactions already in the
        # pool are extracted: an input not registered yet may be on its way.
        self.settle: Callable[[float], bool] | None = None
        self.settle_timeout = 1.0
        self.parallelism = 1  # inputs verified at once (the workers)
        self.hits = 0
        self.waited = 0
        self.late = 0
        self.failed = 0

    def __len__(self) -> int:
        return len(self._entries)

    def expect(self, data: bytes, rules: str) -> Preverification | None:
        """Register ``data`` as being verified under ``rules``; None if it already is."""
        key = (keccak(data), rules)
        with self._lock:
            if key in self._entries:
                return None
            entry = self._entries[key] = Preverification(data, rules)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def fulfil(
        self, entry: Preverification, verdict: Verdict, total_gas: int | None = None
    ) -> None:
        if isinstance(verdict, Verdict):
            entry.verdict = verdict
            entry.total_gas = total_gas
        else:  # pragma: no cover - a worker only ever returns verdicts
            self.failed += 1
        entry.done.set()

    def fail(self, entry: Preverification) -> None:
        self.failed += 1
        entry.done.set()

    def _behind(self, entry: Preverification) -> int:
        """Unfinished inputs registered before ``entry``."""
        with self._lock:
            count = 0
            for other in self._entries.values():
                if other is entry:
                    return count
                if not other.done.is_set():
                    count += 1
        return count

    def pending(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries.values() if not e.done.is_set())

    def lookup(self, data: bytes, vm_class: type) -> Verdict | None:
        """The verdict for exactly ``data`` under ``vm_class``, waiting for one in the making
        at most ``wait_timeout`` seconds; None when there is none (verify inline)."""
        entry = self.ready(data, vm_class)
        if entry is None:
            return None
        self.hits += 1
        log.info("EXECUTE verdict for input %s found pre-verified", keccak(data)[:8].hex())
        return entry.verdict

    def ready(self, data: bytes, vm_class: type) -> Preverification | None:
        """The finished entry with a verdict for exactly ``data`` under ``vm_class`` (waiting
        as ``lookup`` does), or None."""
        rules = rules_key(vm_class)
        if rules is None:
            return None
        key = (keccak(data), rules)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None and self.settle is not None and self.settle(self.settle_timeout):
            with self._lock:
                entry = self._entries.get(key)
        if entry is None or entry.data != data or entry.rules != rules:
            return None
        if not entry.done.is_set():
            if self._behind(entry) >= self.parallelism and entry.cancel and entry.cancel():
                return None  # queued behind a full round of others: inline is sooner
            self.waited += 1
            if not entry.done.wait(self.wait_timeout):
                self.late += 1
                return None
        return entry if entry.verdict is not None else None
