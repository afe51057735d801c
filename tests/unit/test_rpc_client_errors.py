"""``RpcClient``: a node it cannot reach raises ``RpcUnreachable``, whose message names the
URL and what failed (refused, DNS, timeout), never a bare ``urlopen error``."""

from __future__ import annotations

import socket

import pytest

from sequencer.client import RpcClient, RpcError, RpcUnreachable
from tests.procs import free_port


def test_a_refused_connection_names_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RpcUnreachable) as caught:
        RpcClient(url, timeout=5).call("eth_chainId")
    assert url in str(caught.value) and "refused" in str(caught.value).lower()
    assert caught.value.url == url and not isinstance(caught.value, RpcError)


def test_an_unknown_host_names_the_url():
    url = "http://no-such-host.invalid:8545"
    with pytest.raises(RpcUnreachable) as caught:
        RpcClient(url, timeout=5).call("eth_chainId")
    assert url in str(caught.value)


def test_a_silent_server_times_out_naming_the_url():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(RpcUnreachable) as caught:
            RpcClient(url, timeout=0.3).call("eth_chainId")
    assert url in str(caught.value) and "timed out" in str(caught.value)


def test_a_malformed_url_names_the_url():
    with pytest.raises(RpcUnreachable) as caught:
        RpcClient("localhost:8545", timeout=1).call("eth_chainId")
    assert "localhost:8545" in str(caught.value)


def test_a_url_without_scheme_names_the_url():
    with pytest.raises(RpcUnreachable) as caught:
        RpcClient("127.0.0.1:8545", timeout=1).call("eth_chainId")
    assert "127.0.0.1:8545" in str(caught.value)
    assert "not an http:// or https:// URL" in str(caught.value)
