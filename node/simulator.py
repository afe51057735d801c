"""Simulations on the devnet: ``eth_call``, ``eth_estimateGas``, ``eth_createAccessList``,
``eth_simulateV1`` and the ``debug_trace*`` entry points.

Each runs on a small pool of simulator threads, under a gas cap and a wall-clock deadline that
interrupts the EVM (``node.interrupt``), so one endless call never holds the node; a bounded
number may wait for a thread, more are refused. A plain ``eth_call``, ``eth_estimateGas`` or
``eth_createAccessList`` is first tried on the event loop itself for ``INLINE_SLICE_S`` (no
precompile allowed there): a short one is answered without two thread switches, a longer one
starts again on a simulator thread. Mixed into ``node.devnet.Devnet``, which
provides ``chain``, ``limits`` and the simulator thread pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from eth.abc import BlockHeaderAPI

from node import tracing
from node.chain import Chain
from node.errors import SimulationAborted, SimulatorBusy
from node.interrupt import RPC_EVM_TIMEOUT, TRACE_TIMEOUT, Deadline, InlineSlice, MovedToThread
from node.simulate_v1 import SimulatedBlock, SimulateRequest, simulate
from node.simulation import RPC_GAS_CAP, BlockOverride, CallRequest, CallResult

# Simulations run on a few threads: with the GIL they share one core, but a short eth_call
# is answered while a long trace runs instead of waiting up to its whole deadline.
SIMULATOR_THREADS = 2
# A plain eth_call/estimate/access list first runs on the event loop for at most this long
# (no precompile), then, if unfinished, again on a simulator thread (node.interrupt.InlineSlice).
INLINE_SLICE_S = 0.005
MAX_WAITING_SIMULATIONS = 64  # beyond the running ones; more is refused, not queued


@dataclass(frozen=True)
class SimulationLimits:
    """Bounds on every simulation: ``eth_call``, ``eth_estimateGas``,
    ``eth_createAccessList`` and ``debug_trace*`` (flags ``--rpc-gas-cap``,
    ``--rpc-evm-timeout``, ``--trace-timeout``, ``--trace-max-steps``)."""

    gas_cap: int = RPC_GAS_CAP
    timeout: float = RPC_EVM_TIMEOUT
    trace_timeout: float = TRACE_TIMEOUT
    trace_max_steps: int = tracing.TRACE_MAX_STEPS


class Simulations:
    """The simulation side of ``Devnet``."""

    chain: Chain
    limits: SimulationLimits
    _simulator: ThreadPoolExecutor
    _simulations: dict[Deadline, asyncio.Future]  # running or waiting
    _stopping: bool

    head: BlockHeaderAPI
    next_gas_limit: Callable[[], int]  # node.controls: the gas limit of the block to come
    chain_at: Callable[[BlockHeaderAPI], Chain]  # node.reads: the pending block's view or chain

    def abort_simulations(self) -> None:
        """The node is stopping: every simulation, running or waiting, ends at its next
        check, and no new one starts."""
        self._stopping = True
        for deadline in self._simulations:
            deadline.abort()

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

    async def _simulate_short(self, deadline: Deadline, fn, *args, **kwargs):
        """``_simulate``, tried first inline for ``INLINE_SLICE_S`` (``InlineSlice``): only
        for functions whose every run installs its deadline on its state
        (``node.simulation``'s call, estimate and access list)."""
        if not self._stopping and INLINE_SLICE_S > 0:
            inline = InlineSlice(deadline, INLINE_SLICE_S)
            try:
                return inline.run(fn, *args, deadline=inline, **kwargs)
            except MovedToThread:
                pass
        return await self._simulate(deadline, fn, *args, **kwargs)

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

    def _gas_limit_at(self, header: BlockHeaderAPI) -> int:
        """The block gas limit a simulation on ``header`` runs with: on the head, the one
        chosen for the next block (``evm_setBlockGasLimit``), as anvil."""
        if header.hash == self.head.hash:
            return self.next_gas_limit()
        return header.gas_limit

    def _with_block_gas_limit(self, request: CallRequest, header: BlockHeaderAPI) -> CallRequest:
        """``request`` whose block context has ``_gas_limit_at(header)`` (unless the request
        overrides the gas limit itself): the default gas of a call and the top of an
        estimate's search."""
        override = request.block_override or BlockOverride()
        limit = self._gas_limit_at(header)
        if override.gas_limit is not None or limit == header.gas_limit:
            return request
        return replace(request, block_override=replace(override, gas_limit=limit))

    async def call(self, request: CallRequest, header: BlockHeaderAPI) -> CallResult:
        return await self._simulate_short(
            self._call_deadline(),
            self.chain_at(header).call,
            self._with_block_gas_limit(request, header),
            header,
            gas_cap=self.limits.gas_cap,
        )

    async def create_access_list(self, request: CallRequest, header: BlockHeaderAPI):
        return await self._simulate_short(
            self._call_deadline(),
            self.chain_at(header).create_access_list,
            self._with_block_gas_limit(request, header),
            header,
            gas_cap=self.limits.gas_cap,
        )

    async def estimate_gas(self, request: CallRequest, header: BlockHeaderAPI) -> int:
        return await self._simulate_short(
            self._call_deadline(),
            self.chain_at(header).estimate_gas,
            self._with_block_gas_limit(request, header),
            header,
            gas_cap=self.limits.gas_cap,
        )

    async def simulate_v1(
        self, request: SimulateRequest, base: BlockHeaderAPI
    ) -> list[SimulatedBlock]:
        """``eth_simulateV1`` on top of ``base``, under the call deadline and gas cap."""
        return await self._simulate(
            self._call_deadline(),
            simulate,
            self.chain_at(base),
            request,
            base,
            gas_limit=self._gas_limit_at(base),
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
            self.chain_at(header),
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
