"""anvil 1.7.1 methods that native-devnet deliberately does not serve answer -32601 with the
reason (``rpc/unsupported.py``), on every port; a truly unknown method keeps anvil's generic
"Method not found"."""

from __future__ import annotations

from rpc.errors import METHOD_NOT_FOUND
from rpc.server import METHODS, RpcServer
from rpc.unsupported import UNSUPPORTED

# anvil 1.7.1's answer to a method it does not know (probed on the binary)
ANVIL_UNKNOWN = {"code": -32601, "message": "Method not found"}


async def ask(server: RpcServer, method: str, *params) -> dict:
    return await server.handle_one(
        {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
    )


async def test_every_unsupported_method_answers_its_reason(devnet):
    for server in (RpcServer(devnet), RpcServer(devnet, controls=False)):
        for name, reason in UNSUPPORTED.items():
            answer = await ask(server, name)
            assert answer["id"] == 7 and "result" not in answer
            assert answer["error"] == {
                "code": METHOD_NOT_FOUND,
                "message": f"the method {name} is not supported by native-devnet: {reason}",
            }


async def test_an_unknown_method_keeps_the_generic_answer(devnet):
    answer = await ask(RpcServer(devnet), "eth_noSuchMethod")
    assert answer["error"] == ANVIL_UNKNOWN


def test_the_table_names_no_served_method():
    served = set(METHODS) & set(UNSUPPORTED)
    assert not served, f"served now: remove {sorted(served)} from rpc/unsupported.py"


def test_each_reason_is_one_clear_sentence():
    for name, reason in UNSUPPORTED.items():
        assert reason and not reason.endswith("."), name
        assert "\n" not in reason and len(reason) < 160, name
