"""Simulations are bounded: the RPC gas cap, the wall-clock limit that interrupts the EVM,
the struct logger's step cap, and a shutdown that never waits on a running simulation.

The loops are code put at an address with a state override, so nothing is compiled:
``JUMPDEST PUSH1 0 JUMP`` runs forever; a counter loop runs a chosen number of rounds.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.procs import rpc, under_test, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="native-devnet's own limits and flags"),
]

LOOP = "0x" + "55" * 20
FOREVER = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP
# GAS PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: the gas left when the code starts
RETURN_GAS = "0x5a60005260206000f3"
MAX_UINT64 = hex(2**64 - 1)


def counter_loop(rounds: int) -> str:
    """PUSH3 rounds; JUMPDEST PUSH1 1 SWAP1 SUB DUP1 PUSH1 4 JUMPI; STOP (26 gas a round)."""
    return "0x62" + rounds.to_bytes(3, "big").hex() + "5b600190038060045700"


def at_loop(code: str) -> dict:
    return {LOOP: {"code": code}}


def call_loop(node, code: str, method: str = "eth_call", gas: str | None = MAX_UINT64, **kw):
    tx = {"to": LOOP}
    if gas is not None:
        tx["gas"] = gas
    params = [tx, "latest", at_loop(code)]
    return rpc(node.url, method, params, timeout=kw.get("timeout", 60))


def test_endless_call_ends_with_geths_timeout_error_and_others_are_answered(node_factory):
    node = node_factory("--rpc-evm-timeout", "2")
    answers: dict[str, tuple[float, dict]] = {}

    def endless() -> None:
        response = call_loop(node, FOREVER)
        answers["endless"] = (time.monotonic(), response)

    started = time.monotonic()
    worker = threading.Thread(target=endless)
    worker.start()
    # Another client meanwhile: a cheap read and a finite call both answer before it ends.
    block_number = rpc(node.url, "eth_blockNumber", [])
    finite = call_loop(node, RETURN_GAS, gas=None)
    finite_done = time.monotonic()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the endless eth_call never answered"
    ended, response = answers["endless"]
    assert response["error"] == {"code": -32000, "message": "execution aborted (timeout = 2s)"}
    assert 1.5 < ended - started < 15  # about the limit, never unbounded
    assert "result" in block_number
    assert int(finite["result"], 16) > 0
    assert finite_done < ended


def test_endless_estimate_shares_one_deadline(node_factory):
    node = node_factory("--rpc-evm-timeout", "1")
    started = time.monotonic()
    response = call_loop(node, FOREVER, method="eth_estimateGas", gas=None)
    elapsed = time.monotonic() - started
    assert response["error"] == {"code": -32000, "message": "execution aborted (timeout = 1s)"}
    assert elapsed < 10  # one deadline for the whole search, not one per probe


def test_gas_above_the_cap_is_capped_silently_as_geth(node_factory):
    node = node_factory("--rpc-gas-cap", "1000000")
    left = int(call_loop(node, RETURN_GAS)["result"], 16)
    assert 900_000 < left < 1_000_000
    # Without a gas field the call also gets at most the cap.
    left = int(call_loop(node, RETURN_GAS, gas=None)["result"], 16)
    assert left < 1_000_000


def test_estimate_above_the_cap_is_gas_required_exceeds_allowance(node_factory):
    node = node_factory("--rpc-gas-cap", "100000")
    response = call_loop(node, FOREVER, method="eth_estimateGas", gas=None)
    assert response["error"] == {
        "code": -32000,
        "message": "gas required exceeds allowance (100000)",
    }


def test_big_but_finite_call_succeeds_with_huge_gas(node_factory):
    node = node_factory()
    response = call_loop(node, counter_loop(20_000))  # 520k gas, well inside 5 s
    assert response.get("result") == "0x", response
    estimate = call_loop(node, counter_loop(20_000), method="eth_estimateGas", gas=None)
    assert 520_000 < int(estimate["result"], 16) < 600_000


def test_struct_logs_past_the_step_cap_are_refused(node_factory):
    node = node_factory("--trace-max-steps", "1000")
    params = [{"to": LOOP, "gas": MAX_UINT64}, "latest", {"stateOverrides": at_loop(FOREVER)}]
    response = rpc(node.url, "debug_traceCall", params, timeout=60)
    error = response["error"]
    assert error["code"] == -32000
    assert "1000 steps" in error["message"] and "--trace-max-steps" in error["message"]
    # A "limit" within the cap is geth's truncation: the first steps, and the call's end.
    finite = {"to": LOOP, "gas": MAX_UINT64}
    options = {"stateOverrides": at_loop(counter_loop(500)), "limit": 100}
    trace = rpc(node.url, "debug_traceCall", [finite, "latest", options])["result"]
    assert len(trace["structLogs"]) == 100
    assert trace["failed"] is False and trace["gas"] > 500 * 26


def test_endless_call_trace_times_out_with_geths_tracer_error(node_factory):
    node = node_factory("--trace-timeout", "1")
    tx = {"to": LOOP, "gas": MAX_UINT64}
    options = {"tracer": "callTracer", "stateOverrides": at_loop(FOREVER)}
    response = rpc(node.url, "debug_traceCall", [tx, "latest", options], timeout=60)
    assert response["error"] == {"code": -32000, "message": "execution timeout"}
    # The trace config's "timeout" (geth's) may shorten the node's, never lengthen it.
    for asked in ("300ms", "1h"):
        started = time.monotonic()
        options["timeout"] = asked
        response = rpc(node.url, "debug_traceCall", [tx, "latest", options], timeout=60)
        assert response["error"] == {"code": -32000, "message": "execution timeout"}
        assert time.monotonic() - started < 10
    options["timeout"] = "soon"
    response = rpc(node.url, "debug_traceCall", [tx, "latest", options], timeout=60)
    assert response["error"]["code"] == -32602 and "options.timeout" in response["error"]["message"]


def test_sigterm_during_a_long_simulation_exits_promptly(node_factory):
    node = node_factory("--rpc-evm-timeout", "600")
    threads_before = _thread_count(node.pid)
    outcome: dict[str, object] = {}

    def endless() -> None:
        try:
            outcome["response"] = call_loop(node, FOREVER, timeout=120)
        except OSError as exc:  # the connection closes as the node exits
            outcome["error"] = exc

    worker = threading.Thread(target=endless, daemon=True)
    worker.start()
    # The simulation is running once its worker thread exists.
    wait_until(
        lambda: _thread_count(node.pid) > threads_before, "the simulation to start", interval=0.01
    )
    sent = time.monotonic()
    os.kill(node.pid, signal.SIGTERM)
    node.proc.wait(timeout=30)
    assert time.monotonic() - sent < 3
    assert node.proc.returncode == 0
    assert "Traceback" not in node.log()


def test_zero_gas_cap_and_timeout_are_refused(tmp_path):
    import subprocess
    import sys

    from tests.procs import ROOT, free_port

    for flag in ("--rpc-gas-cap", "--rpc-evm-timeout", "--trace-max-steps"):
        result = subprocess.run(
            [sys.executable, "-m", "rpc.cli", "--port", str(free_port()), flag, "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert flag in result.stderr and "Traceback" not in result.stderr


def _thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))
