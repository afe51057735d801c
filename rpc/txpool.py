"""The ``txpool_`` namespace in geth's shapes: what the pool holds, split into pending
(executable now: contiguous from the sender's on-chain nonce) and queued (waiting for a nonce
gap to fill).

``content`` and ``inspect`` key senders by checksummed address and transactions by decimal
nonce, as geth does; ``inspect`` summarises each transaction as
``"<to>: <value> wei + <gas> gas × <fee cap> wei"`` (``contract creation`` for deployments).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from eth.constants import CREATE_CONTRACT_ADDRESS
from eth_utils import to_checksum_address

from node.devnet import Devnet
from node.pool import PooledTransaction
from rpc import params as parse
from rpc import shapes
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import qty

txpool = Namespace()
method = txpool.method
METHODS = txpool.methods


def _split(devnet: Devnet) -> tuple[list[PooledTransaction], list[PooledTransaction]]:
    """(pending, queued) against the current head's nonces."""
    return devnet.pool.pending(devnet.state_nonce), devnet.pool.queued(devnet.state_nonce)


def _by_sender(
    pooled: Iterable[PooledTransaction], render: Callable[[PooledTransaction], Any]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(pooled, key=lambda p: (p.sender, p.nonce)):
        out.setdefault(to_checksum_address(p.sender), {})[str(p.nonce)] = render(p)
    return out


def _transaction(p: PooledTransaction) -> dict[str, Any]:
    return shapes.transaction_json(p.transaction, sender=p.sender)


def summary(p: PooledTransaction) -> str:
    """geth's one-line summary of a pooled transaction."""
    tx = p.transaction
    to = "contract creation" if tx.to == CREATE_CONTRACT_ADDRESS else to_checksum_address(tx.to)
    return f"{to}: {tx.value} wei + {tx.gas} gas × {tx.max_fee_per_gas} wei"


@method("txpool_status")
async def status(devnet: Devnet, params: Any) -> dict[str, str]:
    """How many transactions are pending and queued."""
    pending, queued = _split(devnet)
    return {"pending": qty(len(pending)), "queued": qty(len(queued))}


@method("txpool_content")
async def content(devnet: Devnet, params: Any) -> dict[str, Any]:
    """Every pooled transaction, by sender and nonce."""
    pending, queued = _split(devnet)
    return {
        "pending": _by_sender(pending, _transaction),
        "queued": _by_sender(queued, _transaction),
    }


@method("txpool_contentFrom")
async def content_from(devnet: Devnet, params: Any) -> dict[str, Any]:
    """One sender's pooled transactions, by nonce."""
    (sender,) = parse_params(params, [(parse.address, REQUIRED, "address")])
    pending, queued = _split(devnet)
    return {
        "pending": {str(p.nonce): _transaction(p) for p in pending if p.sender == sender},
        "queued": {str(p.nonce): _transaction(p) for p in queued if p.sender == sender},
    }


@method("txpool_inspect")
async def inspect(devnet: Devnet, params: Any) -> dict[str, Any]:
    """Every pooled transaction as a one-line summary, by sender and nonce."""
    pending, queued = _split(devnet)
    return {"pending": _by_sender(pending, summary), "queued": _by_sender(queued, summary)}
