"""Reads of this devnet's own that no standard method covers (``devnet_*``, read-only).

``devnet_genesisAlloc`` answers the alloc block 0 was built from (the genesis file's plus
any dev funding) in the genesis file's shape. A caller can check it against block 0's
``stateRoot`` and then trust sums over it, such as the L2 ETH that the rollup's L1 escrow
must back (``native-rollup deploy`` does exactly that).
"""

from __future__ import annotations

from typing import Any

from node.devnet import Devnet
from rpc.params import parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb, qty

info = Namespace()
METHODS = info.methods


@info.method("devnet_genesisAlloc")
async def genesis_alloc(devnet: Devnet, params: Any) -> dict[str, Any]:
    parse_params(params, [])
    return {
        hexb(address): {
            "balance": qty(acct.balance),
            "nonce": qty(acct.nonce),
            "code": hexb(acct.code),
            "storage": {qty(k): qty(v) for k, v in acct.storage.items()},
        }
        for address, acct in devnet.genesis.alloc.items()
    }
