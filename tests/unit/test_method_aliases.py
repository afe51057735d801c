"""Aliases anvil 1.7.1 serves answer exactly as the method they name: hardhat_ spellings of
anvil controls, evm_setAccountNonce, and EIP-1102's eth_requestAccounts."""

from __future__ import annotations

import pytest

from rpc.server import METHODS

ALIASES = {
    "hardhat_getAutomine": "anvil_getAutomine",
    "hardhat_autoImpersonateAccount": "anvil_autoImpersonateAccount",
    "hardhat_dumpState": "anvil_dumpState",
    "hardhat_loadState": "anvil_loadState",
    "evm_setAccountNonce": "anvil_setNonce",
    "eth_requestAccounts": "eth_accounts",
}


@pytest.mark.parametrize(("alias", "name"), sorted(ALIASES.items()))
def test_alias_is_the_named_method(alias, name):
    assert METHODS[alias] is METHODS[name]


async def test_aliases_answer_through_the_server(server, devnet, dev_accounts):
    async def ask(method: str, *params):
        answer = await server.handle_one(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        )
        assert "error" not in answer, answer
        return answer["result"]

    assert await ask("eth_requestAccounts") == await ask("eth_accounts")
    assert await ask("hardhat_getAutomine") is False  # the fixture mines manually
    who = "0x" + dev_accounts[1].address.hex()
    await ask("evm_setAccountNonce", who, "0x7")
    assert await ask("eth_getTransactionCount", who, "latest") == "0x7"
