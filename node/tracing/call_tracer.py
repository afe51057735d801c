"""geth's ``callTracer``: the tree of call frames, with their logs if asked."""

from __future__ import annotations

from eth.abc import StateAPI

from node.tracing.engine import CallFrame, CallLog, Outcome, Session, TracedTransaction, Tracer


class CallTracer(Tracer):
    """geth's ``callTracer``: the tree of call frames.

    As geth: the top frame's ``gas`` is the transaction's gas limit and its ``gasUsed`` the
    receipt's; a sub-frame's ``gas`` is what the callee was given (63/64 rule and stipend
    applied); DELEGATECALL carries the caller's value, STATICCALL none; a failed creation
    has no ``to``; with ``withLog`` each frame lists its logs with their ``position`` among
    the frame's sub-calls, and frames that failed (or whose caller failed) list none."""

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> CallFrame:
        root = session.root
        root.gas = tx.gas
        root.gas_used = outcome.gas_used
        if self.options.only_top_call:
            root.calls = []
            # Sub-calls are gone, so every log sits before the first of them.
            for log in root.logs:
                log.position = 0
        if self.options.with_log:
            _drop_failed_logs(root, parent_failed=False)
            surviving = sorted(_all_logs(root), key=lambda log: log.counter)
            for index, log in enumerate(surviving):
                log.index = index
        else:
            _clear_logs(root)
        return root


def _drop_failed_logs(frame: CallFrame, parent_failed: bool) -> None:
    failed = parent_failed or frame.error is not None
    if failed:
        frame.logs = []
    for call in frame.calls:
        _drop_failed_logs(call, failed)


def _clear_logs(frame: CallFrame) -> None:
    frame.logs = []
    for call in frame.calls:
        _clear_logs(call)


def _all_logs(frame: CallFrame) -> list[CallLog]:
    logs = list(frame.logs)
    for call in frame.calls:
        logs.extend(_all_logs(call))
    return logs
