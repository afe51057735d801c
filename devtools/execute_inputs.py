"""Turn an L2 block into EXECUTE input: from a running L2 node over JSON-RPC (its block and
``debug_executionWitness``), or from an in-process ``node.chain.Chain``."""

from __future__ import annotations

import json
from dataclasses import replace

import rlp

from precompiles.execute_wire import (
    ExecuteInput,
    encode_body_transactions,
    encode_execute_input,
    encode_witness,
)


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str[2:])


def input_from_rpc(l2, number: int, witness_form: str = "rlp") -> ExecuteInput:
    """EXECUTE input for L2 block ``number`` fetched from node ``l2`` (a NodeProcess)."""
    block = l2.call("eth_getBlockByNumber", hex(number), False)
    parent = l2.call("eth_getBlockByNumber", hex(number - 1), False)
    raw_txs = [_b(l2.call("debug_getRawTransaction", h)) for h in block["transactions"]]
    witness = l2.call("debug_executionWitness", hex(number))
    if witness_form == "json":
        witness_bytes = json.dumps(witness).encode()
    else:
        witness_bytes = encode_witness(
            *([_b(x) for x in witness[part]] for part in ("headers", "codes", "state", "keys"))
        )
    return ExecuteInput(
        pre_state_root=_b(parent["stateRoot"]),
        post_state_root=_b(block["stateRoot"]),
        gas_used=int(block["gasUsed"], 16),
        receipts_root=_b(block["receiptsRoot"]),
        parent_hash=_b(block["parentHash"]),
        chain_id=int(l2.call("eth_chainId"), 16),
        number=number,
        gas_limit=int(block["gasLimit"], 16),
        timestamp=int(block["timestamp"], 16),
        coinbase=_b(block["miner"]),
        prev_randao=_b(block["mixHash"]),
        l1_anchor=_b(block["parentBeaconBlockRoot"]),
        transactions=encode_body_transactions(raw_txs),
        witness=witness_bytes,
    )


def input_from_chain(chain, block) -> ExecuteInput:
    """EXECUTE input for a block an in-process ``Chain`` built (with its recorded witness)."""
    parent = chain.header_by_hash(block.header.parent_hash)
    header = block.header
    return ExecuteInput(
        pre_state_root=parent.state_root,
        post_state_root=header.state_root,
        gas_used=header.gas_used,
        receipts_root=header.receipt_root,
        parent_hash=parent.hash,
        chain_id=chain.chain_id,
        number=header.block_number,
        gas_limit=header.gas_limit,
        timestamp=header.timestamp,
        coinbase=header.coinbase,
        prev_randao=header.mix_hash,
        l1_anchor=header.parent_beacon_block_root,
        transactions=rlp.encode(list(block.transactions)),
        witness=chain.witnesses[block.hash].encode_rlp(),
    )


def encoded(inp: ExecuteInput, **changes) -> bytes:
    """EXECUTE's input bytes for ``inp`` with ``changes`` to its fields."""
    return encode_execute_input(replace(inp, **changes) if changes else inp)


def catch_up_l1(l1, data: bytes) -> None:
    """NR-EXECUTE v1.1: an L2 block settles only in an L1 block at or after its timestamp
    (word 8 of the input). An L2 block mined in the second its node started, or soon after
    another, runs ahead of the clock: mine an empty L1 block (node ``l1``) at that time
    first, as the L1 would get there."""
    if len(data) < 9 * 32:
        return
    l2_time = int.from_bytes(data[8 * 32 : 9 * 32], "big")
    head = l1.call("eth_getBlockByNumber", "latest", False)
    if int(head["timestamp"], 16) < l2_time < 2**63:
        l1.call("evm_mine", l2_time)
