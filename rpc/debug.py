"""The ``debug_`` namespace: raw RLP of headers, blocks, transactions and receipts."""

from __future__ import annotations

from typing import Any

import rlp

from node.devnet import Devnet
from rpc import codec
from rpc.codec import REQUIRED, hexb, parse_params
from rpc.eth import maybe_header, resolve_header
from rpc.registry import Namespace

debug = Namespace()
METHODS = debug.methods


@debug.method("debug_getRawHeader")
async def get_raw_header(devnet: Devnet, params: Any) -> str:
    (block,) = parse_params(params, [(codec.block_id, REQUIRED, "block")])
    return hexb(rlp.encode(resolve_header(devnet, block)))


@debug.method("debug_getRawBlock")
async def get_raw_block(devnet: Devnet, params: Any) -> str:
    (block,) = parse_params(params, [(codec.block_id, REQUIRED, "block")])
    return hexb(rlp.encode(devnet.chain.block_by_header(resolve_header(devnet, block))))


@debug.method("debug_getRawTransaction")
async def get_raw_transaction(devnet: Devnet, params: Any) -> str | None:
    (tx_hash,) = parse_params(params, [(codec.hash32, REQUIRED, "hash")])
    info = devnet.chain.find_transaction(tx_hash)
    if info is not None:
        return hexb(codec.encode_transaction(info.transaction))
    pooled = devnet.pool.get(tx_hash)
    return hexb(codec.encode_transaction(pooled.transaction)) if pooled else None


@debug.method("debug_getRawReceipts")
async def get_raw_receipts(devnet: Devnet, params: Any) -> list[str] | None:
    (block,) = parse_params(params, [(codec.block_id, REQUIRED, "block")])
    header = maybe_header(devnet, block)
    if header is None:
        return None
    return [hexb(r.receipt.encode()) for r in devnet.chain.receipts_of(header)]
