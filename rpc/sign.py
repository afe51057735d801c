"""Signing with the dev accounts' keys: ``eth_sign``, ``personal_sign``, ``eth_signTypedData_v4``,
``eth_signTransaction``.

Messages are signed as geth and anvil sign them: ``eth_sign`` and ``personal_sign`` hash the
EIP-191 personal message (``"\\x19Ethereum Signed Message:\\n" + len + message``), typed data
is hashed per EIP-712. Signatures are 65 bytes ``r || s || v`` with ``v`` 27 or 28. Messages
are hex data; a string without ``0x`` is taken as UTF-8 text, as wallets send it.

``eth_signTransaction`` fills a transaction as ``eth_sendTransaction`` does and answers it
signed, in network form, without submitting it: anvil's answer, the raw transaction as hex
(geth answers ``{raw, tx}``).
"""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct, encode_typed_data

from node.accounts import DevAccount
from node.devnet import Devnet
from precompiles.nesting import json_depth_ok
from rpc import params as parse
from rpc.errors import SERVER_ERROR, InvalidParams, RpcError
from rpc.eth import send_request
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb

signing = Namespace()
method = signing.method
METHODS = signing.methods


def _account(devnet: Devnet, address: bytes) -> DevAccount:
    account = devnet.dev_accounts.get(address)
    if account is None:
        raise RpcError(SERVER_ERROR, "unknown account")
    return account


def _sign(account: DevAccount, message: SignableMessage) -> str:
    signed = Account.sign_message(message, private_key=account.private_key.to_bytes())
    return hexb(bytes(signed.signature))


def _message(value: Any, what: str) -> bytes:
    if isinstance(value, str) and not value.startswith(("0x", "0X")):
        return value.encode()
    return parse.data(value, what)


def _typed_data(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, str):
        if not json_depth_ok(value.encode(), 64):
            raise InvalidParams(f"{what}: nested too deep")
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidParams(f"{what}: not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an EIP-712 typed data object")
    return value


def _ignored(value: Any, what: str) -> Any:
    return value


@method("eth_sign")
async def eth_sign(devnet: Devnet, params: Any) -> str:
    """Sign ``message`` with ``address``'s key, EIP-191 personal prefix (geth's eth_sign)."""
    address, message = parse_params(
        params, [(parse.address, REQUIRED, "address"), (_message, REQUIRED, "message")]
    )
    return _sign(_account(devnet, address), encode_defunct(primitive=message))


@method("personal_sign")
async def personal_sign(devnet: Devnet, params: Any) -> str:
    """``eth_sign`` with the arguments swapped; a trailing password is ignored."""
    message, address, _ = parse_params(
        params,
        [
            (_message, REQUIRED, "message"),
            (parse.address, REQUIRED, "address"),
            (_ignored, None, "password"),
        ],
    )
    return _sign(_account(devnet, address), encode_defunct(primitive=message))


@method("eth_signTypedData_v4")
async def sign_typed_data_v4(devnet: Devnet, params: Any) -> str:
    """Sign EIP-712 typed data (an object or its JSON string) with ``address``'s key."""
    address, typed = parse_params(
        params, [(parse.address, REQUIRED, "address"), (_typed_data, REQUIRED, "typedData")]
    )
    account = _account(devnet, address)
    try:
        message = encode_typed_data(full_message=typed)
    except Exception as exc:  # eth-account raises several types for malformed typed data
        raise InvalidParams(f"typedData: {exc}") from None
    return _sign(account, message)


@method("eth_signTransaction")
async def sign_transaction(devnet: Devnet, params: Any) -> str:
    """Fill and sign with ``from``'s dev key; the raw signed transaction, not submitted."""
    (fields,) = parse_params(params, [(parse.call_object, REQUIRED, "transaction")])
    sender = fields.get("sender")
    if sender is None:
        raise InvalidParams("transaction.from: missing sender")
    if sender not in devnet.dev_accounts:
        raise InvalidParams("No Signer available")  # anvil's words
    return hexb(await devnet.sign_transaction(send_request(fields)))
