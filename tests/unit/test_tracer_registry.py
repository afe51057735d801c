"""A new tracer is one ``Tracer`` subclass and one entry in ``node.tracing.registry.TRACERS``:
here a test-only tracer, registered in one line, answers ``debug_traceCall`` in process."""

from __future__ import annotations

import pytest
from eth.abc import StateAPI
from eth.exceptions import VMError

from node.devnet import Devnet, MiningConfig, MiningMode
from node.tracing import TRACERS, Tracer
from node.tracing.engine import Frame, Outcome, Session, Step, TracedTransaction
from rpc.server import RpcServer

CONTRACT = "0x" + "c0" * 20
# PUSH1 1, PUSH1 2, ADD, PUSH1 0, MSTORE, STOP
CODE = "0x60016002016000" + "52" + "00"


class OpcodeCounter(Tracer):
    """How many times each opcode ran, by geth's name."""

    def __init__(self, options, budget=None) -> None:
        super().__init__(options, budget)
        self.counts: dict[str, int] = {}

    def after_op(self, frame: Frame, step: Step, gas_cost: int, error: VMError | None) -> None:
        self.counts[step.op] = self.counts.get(step.op, 0) + 1

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


@pytest.fixture
async def server(genesis, dev_accounts):
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    yield RpcServer(node)
    await node.stop()


async def trace_call(server: RpcServer, tracer: str) -> dict:
    options = {"tracer": tracer, "stateOverrides": {CONTRACT: {"code": CODE}}}
    return await server.handle_one(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "debug_traceCall",
            "params": [{"to": CONTRACT}, "latest", options],
        }
    )


async def test_a_tracer_registered_in_one_line_answers_debug_trace_call(server, monkeypatch):
    monkeypatch.setitem(TRACERS, "opcodeCounter", OpcodeCounter)

    response = await trace_call(server, "opcodeCounter")

    assert response["result"] == {"ADD": 1, "MSTORE": 1, "PUSH1": 3, "STOP": 1}, response


async def test_an_unregistered_tracer_is_refused(server):
    response = await trace_call(server, "opcodeCounter")

    assert response["error"]["code"] == -32602, response
    assert "unknown tracer 'opcodeCounter'" in response["error"]["message"], response
