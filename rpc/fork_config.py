"""``eth_config`` (EIP-7910): the configuration of the current fork, the next scheduled one
and the last one known, from the chain's fork schedule (``node.fork.schedule``)."""

from __future__ import annotations

from typing import Any

from node.devnet import Devnet
from node.fork.schedule import (
    BLOB_SCHEDULE,
    fork_id,
    precompile_names,
    system_contracts,
)
from rpc.params import parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb, qty

config = Namespace()
METHODS = config.methods


def fork_config(devnet: Devnet, fork: str, activation: int) -> dict[str, Any]:
    chain = devnet.chain
    genesis = chain.genesis_header
    vm_class = chain.vm_factory.class_at(max(activation, genesis.timestamp))
    schedule = devnet.genesis.fork_schedule
    return {
        "activationTime": activation,
        "blobSchedule": dict(BLOB_SCHEDULE),
        "chainId": qty(devnet.chain_id),
        "forkId": hexb(fork_id(genesis.hash, genesis.timestamp, schedule, activation)),
        "precompiles": {
            name: hexb(address) for name, address in sorted(precompile_names(vm_class).items())
        },
        "systemContracts": {
            name: hexb(address) for name, address in sorted(system_contracts().items())
        },
    }


def hardfork_at(devnet: Devnet, timestamp: int) -> str:
    """The fork a block at ``timestamp`` runs ("prague" or "osaka")."""
    return devnet.genesis.fork_schedule.fork_at(timestamp)


@config.method("eth_config")
async def eth_config(devnet: Devnet, params: Any) -> dict[str, Any]:
    parse_params(params, [])
    schedule = devnet.genesis.fork_schedule
    now = devnet.head.timestamp
    current_fork = schedule.fork_at(now)
    activation = dict(schedule.activations())[current_fork]
    upcoming = [(f, t) for f, t in schedule.activations() if t > now]
    nxt = fork_config(devnet, *upcoming[0]) if upcoming else None
    last = fork_config(devnet, *upcoming[-1]) if upcoming else None
    return {"current": fork_config(devnet, current_fork, activation), "next": nxt, "last": last}
