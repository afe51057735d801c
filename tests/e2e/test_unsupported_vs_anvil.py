"""Every name in ``rpc/unsupported.py`` is a method anvil 1.7.1 knows (it answers anything but
-32601 to bad params), and the node answers it -32601 with its reason over HTTP; a name
neither knows gets the same generic answer from both."""

from __future__ import annotations

import pytest

from rpc.unsupported import UNSUPPORTED
from tests.procs import rpc, start_anvil

pytestmark = [pytest.mark.e2e, pytest.mark.requires_tools("anvil")]

BOGUS_PARAMS = [{"__bogus__": True}, "x", "y", "z", "w"]  # no method of either takes these


@pytest.fixture(scope="module")
def anvil(tmp_path_factory):
    node = start_anvil(log_dir=tmp_path_factory.mktemp("anvil"))
    yield node
    node.stop()


def test_every_unsupported_name_is_one_of_anvils_methods(anvil):
    unknown = [
        name
        for name in UNSUPPORTED
        if rpc(anvil.url, name, BOGUS_PARAMS).get("error", {}).get("code") == -32601
    ]
    assert not unknown, f"anvil 1.7.1 does not serve {unknown}"


def test_the_node_says_why_over_http(l1, anvil):
    for name, reason in UNSUPPORTED.items():
        error = rpc(l1.url, name, BOGUS_PARAMS)["error"]
        assert error["code"] == -32601 and error["message"].endswith(reason), name
    for node in (l1, anvil):
        assert rpc(node.url, "eth_noSuchMethod", [])["error"] == {
            "code": -32601,
            "message": "Method not found",
        }
