"""Which methods a port serves: public methods versus test-node controls.

A *control* edits state or steers the node outside the transaction rules: every method of
the test-node namespaces (``anvil_*``, ``hardhat_*``, ``evm_*``, ``devnet_*``: balances,
code, storage, nonces, mining and its header fields such as an L2 block's L1 anchor,
snapshots and reverts, reset, state load/dump, time, impersonation) except the few that
only read (``READ_ONLY``). Everything else is *public*: reads, traces, filters,
subscriptions, signing with the node's own dev keys, and state changes by transactions
only. A new method of a control namespace is a control unless it is added to
``READ_ONLY``: the table fails closed.

The authenticated endpoint (``--auth-port``) serves every method. The public port serves
the controls only with ``--public-controls`` (the default on an L1, as anvil does; off on
an L2, whose users must not be able to mint ETH or move its blocks). Without them a
control answers "method not found" saying where it is served, and ``eth_sendTransaction``
signs only for the node's dev keys, never for an impersonated account.
"""

from __future__ import annotations

from typing import Any

from node.devnet import Devnet
from rpc import params as parse
from rpc.errors import METHOD_NOT_FOUND, InvalidParams, RpcError
from rpc.params import REQUIRED, parse_params
from rpc.registry import Method

# Namespaces of test-node controls.
CONTROL_PREFIXES = ("anvil_", "hardhat_", "evm_", "devnet_")

# Methods of those namespaces that only read, so every port serves them.
READ_ONLY = frozenset(
    {
        "anvil_nodeInfo",
        "anvil_blockNumber",
        "anvil_getAutomine",
        "anvil_getIntervalMining",
        "anvil_getGenesisTime",
        "anvil_metadata",
        "hardhat_metadata",
        "devnet_genesisAlloc",
    }
)


def is_control(name: str) -> bool:
    """Whether ``name`` edits state or steers the node (served on the auth endpoint only,
    unless ``--public-controls``)."""
    return name.startswith(CONTROL_PREFIXES) and name not in READ_ONLY


def not_served(name: str) -> Method:
    """The answer to a control called on a port that does not serve controls."""

    async def refuse(devnet: Devnet, params: Any) -> Any:
        raise RpcError(
            METHOD_NOT_FOUND,
            f"the method {name} is not available on this port: it is served on the "
            "authenticated endpoint (--auth-port with --jwt-secret), or here with "
            "--public-controls",
        )

    return refuse


def own_keys_only(send_transaction: Method) -> Method:
    """``eth_sendTransaction`` that signs with the node's dev keys only: impersonation is a
    control, so an account impersonated through the authenticated endpoint stays closed to
    public callers."""

    async def send(devnet: Devnet, params: Any) -> Any:
        first = params[:1] if isinstance(params, list) else params  # (the Sync one's timeout)
        (fields,) = parse_params(first, [(parse.call_object, REQUIRED, "transaction")])
        sender = fields.get("sender")
        if sender is not None and sender not in devnet.dev_accounts:
            raise InvalidParams(
                f"no key for 0x{sender.hex()} on this node; sending as an impersonated "
                "account is served on the authenticated endpoint (--auth-port) or with "
                "--public-controls"
            )
        return await send_transaction(devnet, params)

    return send


def public_methods(methods: dict[str, Method]) -> dict[str, Method]:
    """``methods`` as a public port without controls serves them."""
    out = {name: not_served(name) if is_control(name) else fn for name, fn in methods.items()}
    for name in ("eth_sendTransaction", "eth_sendTransactionSync"):
        if name in out:
            out[name] = own_keys_only(methods[name])
    return out
