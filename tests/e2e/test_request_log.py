"""The node's request log, as anvil's: with ``-v`` one line per RPC method; with ``-vv`` each
line also gives the params size and the time taken. A refused transaction is logged with its
reason at the default level; without ``-v`` no request lines are printed (today's quiet output)."""

from __future__ import annotations

import re

import pytest

from tests.procs import DEV_ADDRESSES, rpc, start_node, under_test

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="native-devnet's own log"),
]

# A type-2 transaction whose signature is not a point on the curve: refused before the pool.
BAD_SIGNATURE_TX = (
    "0x02f86b827a6980843b9aca00847735940082520894f39fd6e51aad88f6f4ce6ab8827279cfffb9226601"
    "80c080a00000000000000000000000000000000000000000000000000000000000000001a000000000000000"
    "00000000000000000000000000000000000000000000000001"
)


def method_lines(log: str, method: str) -> list[str]:
    return [line for line in log.splitlines() if re.search(rf"\b{method}\b", line)]


def test_verbose_logs_one_line_per_method_and_the_rejected_transactions_reason(tmp_path):
    node = start_node(["-v"], log_dir=tmp_path)
    try:
        node.call("eth_blockNumber")
        node.call("eth_getBalance", DEV_ADDRESSES[0], "latest")
        node.call("eth_getBalance", DEV_ADDRESSES[1], "latest")
        rejected = rpc(
            node.url,
            "eth_sendTransaction",
            [{"from": DEV_ADDRESSES[0], "to": DEV_ADDRESSES[1], "value": hex(10**30)}],
        )
        assert "insufficient funds" in rejected["error"]["message"]
        log = node.log()
    finally:
        node.stop()
    assert len(method_lines(log, "eth_blockNumber")) == 1
    assert len(method_lines(log, "eth_getBalance")) == 2
    reason = [line for line in log.splitlines() if "rejected" in line]
    assert len(reason) == 1 and "eth_sendTransaction" in reason[0]
    assert "insufficient funds" in reason[0]
    assert "Traceback" not in log


def test_more_verbose_lines_give_params_size_and_duration(tmp_path):
    node = start_node(["-vv"], log_dir=tmp_path)
    try:
        node.call("eth_getBalance", DEV_ADDRESSES[0], "latest")
        log = node.log()
    finally:
        node.stop()
    (line,) = method_lines(log, "eth_getBalance")
    assert re.search(r"eth_getBalance .*\d+ bytes of params.* \d+(\.\d+)? ms", line), line


def test_default_level_prints_no_request_lines_but_does_print_rejections(tmp_path):
    node = start_node([], log_dir=tmp_path)
    try:
        node.call("eth_blockNumber")
        answer = rpc(node.url, "eth_sendRawTransaction", [BAD_SIGNATURE_TX])
        assert "error" in answer
        log = node.log()
    finally:
        node.stop()
    assert method_lines(log, "eth_blockNumber") == []
    (reason,) = [line for line in log.splitlines() if "rejected" in line]
    assert "eth_sendRawTransaction" in reason and answer["error"]["message"] in reason


def test_logging_switch_silences_and_restores_the_request_lines(tmp_path):
    node = start_node(["-v"], log_dir=tmp_path)
    try:
        node.call("anvil_setLoggingEnabled", False)
        node.call("eth_gasPrice")
        node.call("anvil_setLoggingEnabled", True)
        node.call("eth_chainId")
        log = node.log()
    finally:
        node.stop()
    assert method_lines(log, "eth_gasPrice") == []
    assert method_lines(log, "eth_chainId")  # the start-up polls and the call after


def test_silent_stays_silent(tmp_path):
    node = start_node(["--silent", "-v"], log_dir=tmp_path)
    try:
        node.call("eth_blockNumber")
        log = node.log()
    finally:
        node.stop()
    assert log.strip() == ""
