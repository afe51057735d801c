"""The ``debug_`` namespace: raw RLP of headers, blocks, transactions and receipts."""

from __future__ import annotations

from typing import Any

import rlp

from node.devnet import Devnet
from rpc import params as parse
from rpc import shapes
from rpc.errors import InvalidParams
from rpc.eth import maybe_header, resolve_header
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb

debug = Namespace()
METHODS = debug.methods


@debug.method("debug_getRawHeader")
async def get_raw_header(devnet: Devnet, params: Any) -> str:
    (block,) = parse_params(params, [(parse.block_id, REQUIRED, "block")])
    return hexb(rlp.encode(resolve_header(devnet, block)))


@debug.method("debug_getRawBlock")
async def get_raw_block(devnet: Devnet, params: Any) -> str:
    (block,) = parse_params(params, [(parse.block_id, REQUIRED, "block")])
    return hexb(rlp.encode(devnet.block(resolve_header(devnet, block))))


@debug.method("debug_getRawTransaction")
async def get_raw_transaction(devnet: Devnet, params: Any) -> str | None:
    (tx_hash,) = parse_params(params, [(parse.hash32, REQUIRED, "hash")])
    info = devnet.find_transaction(tx_hash)
    if info is not None:
        return hexb(shapes.encode_transaction(info.transaction))
    pooled = devnet.pool.get(tx_hash)
    return hexb(shapes.encode_transaction(pooled.transaction)) if pooled else None


# geth serves the same answer under eth_ (a mined transaction, or one in the pool).
debug.alias("eth_getRawTransactionByHash", "debug_getRawTransaction")


@debug.method("debug_getRawReceipts")
async def get_raw_receipts(devnet: Devnet, params: Any) -> list[str] | None:
    (block,) = parse_params(params, [(parse.block_id, REQUIRED, "block")])
    header = maybe_header(devnet, block)
    if header is None:
        return None
    return [hexb(r.receipt.encode()) for r in devnet.receipts(header)]


async def _witness_json(devnet: Devnet, block_hash: bytes) -> dict[str, list[str]]:
    witness = await devnet.witness(block_hash)
    if witness is None:
        raise InvalidParams("no execution witness recorded for that block (genesis?)")
    return {
        "state": [hexb(n) for n in witness.state],
        "codes": [hexb(c) for c in witness.codes],
        "keys": [],
        "headers": [hexb(h) for h in witness.headers],
    }


@debug.method("debug_executionWitness")
async def execution_witness(devnet: Devnet, params: Any) -> dict[str, list[str]]:
    (block,) = parse_params(params, [(parse.block_id, "latest", "block")])
    return await _witness_json(devnet, resolve_header(devnet, block).hash)


@debug.method("debug_executionWitnessByBlockHash")
async def execution_witness_by_hash(devnet: Devnet, params: Any) -> dict[str, list[str]]:
    (block_hash,) = parse_params(params, [(parse.hash32, REQUIRED, "blockHash")])
    return await _witness_json(devnet, devnet.header_by_hash(block_hash).hash)
