"""The ``net_`` and ``web3_`` namespaces."""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak

from node.devnet import Devnet
from rpc import params as parse
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb

CLIENT_VERSION = "native-devnet/v0.1.0/python-py-evm"

net = Namespace()
method = net.method
METHODS = net.methods


@method("net_version")
async def version(devnet: Devnet, params: Any) -> str:
    return str(devnet.chain_id)


@method("net_listening")
async def listening(devnet: Devnet, params: Any) -> bool:
    return True


@method("net_peerCount")
async def peer_count(devnet: Devnet, params: Any) -> str:
    return "0x0"


@method("web3_clientVersion")
async def client_version(devnet: Devnet, params: Any) -> str:
    return CLIENT_VERSION


@method("web3_sha3")
async def sha3(devnet: Devnet, params: Any) -> str:
    (payload,) = parse_params(params, [(parse.data, REQUIRED, "data")])
    return hexb(keccak(payload))
