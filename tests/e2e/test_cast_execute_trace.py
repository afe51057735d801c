"""The README's advice for Foundry users, checked with the real ``cast`` against the node:

``cast run`` replays a transaction in Foundry's own EVM, which has no EXECUTE, so a call into
it replays as a call to an empty account (success, no output), whatever the node decided;
``cast rpc debug_traceTransaction <hash> '{"tracer":"callTracer"}'`` asks the node, which
shows EXECUTE's real answer (here ``ExecuteInvalid(3)``: the parent is not in the witness).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import rlp
from eth_abi import encode
from eth_utils import keccak

from tests.procs import DEV_ADDRESSES, ROOT, require_tool

pytestmark = [pytest.mark.e2e, pytest.mark.requires_tools("cast")]

EXECUTE = "0x0000000000000000000000000000000000000101"
HEAD = "(bytes32,bytes32,uint256,bytes32,bytes32,uint256,uint256,uint256,uint256,address,bytes32,bytes32)"
EXECUTE_INVALID = keccak(text="ExecuteInvalid(uint256)")[:4].hex()
PARENT_NOT_IN_WITNESS = 3


def creation_code(name: str) -> str:
    artifact = json.loads((ROOT / "contracts" / "out" / f"{name}.json").read_text())
    code = artifact["bytecode"]
    return code["object"] if isinstance(code, dict) else code


def execute_input_without_parent() -> bytes:
    """A well-formed EXECUTE input whose witness is empty: EXECUTE answers reason 3."""
    head = (b"\x11" * 32, b"\x22" * 32, 21000, b"\x33" * 32, b"\x44" * 32, 31338, 1)
    head += (30_000_000, 1_700_000_000, b"\x00" * 20, b"\x00" * 32, b"\x00" * 32)
    witness = rlp.encode([[], [], [], []])
    return encode([HEAD, "bytes", "bytes"], [head, rlp.encode([]), witness])


def cast(node_url: str, home, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETH_", "FOUNDRY_"))}
    env.update(HOME=str(home), NO_COLOR="1", FOUNDRY_OFFLINE="true")
    out = subprocess.run(
        [str(require_tool("cast")), args[0], "--rpc-url", node_url, *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_debug_trace_transaction_shows_executes_answer_where_cast_run_cannot(l1, tmp_path):
    sender = DEV_ADDRESSES[0]
    deploy = l1.call(
        "eth_sendTransaction", {"from": sender, "data": creation_code("ExecuteCaller")}
    )
    caller = l1.wait_receipt(deploy)["contractAddress"]
    call = "0x" + keccak(text="callExecute(bytes)")[:4].hex()
    call += encode(["bytes"], [execute_input_without_parent()]).hex()
    tx_hash = l1.call("eth_sendTransaction", {"from": sender, "to": caller, "data": call})
    assert l1.wait_receipt(tx_hash)["status"] == "0x1"  # ExecuteCaller catches the revert

    # the README's command: the node's own trace, EXECUTE's revert in the inner call
    trace = json.loads(
        cast(l1.url, tmp_path, "rpc", "debug_traceTransaction", tx_hash, '{"tracer":"callTracer"}')
    )
    (inner,) = [c for c in trace["calls"] if c["to"] == EXECUTE]
    assert inner["type"] == "CALL" and inner["error"] == "execution reverted"
    reason = int(inner["output"][10:], 16)
    assert inner["output"][2:10] == EXECUTE_INVALID and reason == PARENT_NOT_IN_WITNESS

    # cast run replays without EXECUTE: the same call stops with no output, as an empty account
    replay = cast(l1.url, tmp_path, "run", tx_hash)
    assert "0x0000000000000000000000000000000000000101::" in replay
    assert EXECUTE_INVALID not in replay
