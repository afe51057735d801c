"""Responses in geth's shapes (anvil's where geth is silent): quantities, data, and the
JSON of blocks, headers, transactions, receipts and logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.cancun.transactions import BLOB_TX_TYPE
from eth.vm.forks.prague.constants import SET_CODE_TRANSACTION_TYPE

from node.logs import FoundLog
from node.receipts import ReceiptInfo, effective_gas_price


def qty(value: int) -> str:
    return hex(value)


def hexb(value: bytes) -> str:
    return "0x" + value.hex()


def addr(value: bytes | None) -> str | None:
    if value is None or value == CREATE_CONTRACT_ADDRESS:
        return None
    return "0x" + value.hex()


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def encode_transaction(tx: SignedTransactionAPI) -> bytes:
    """The canonical binary form: ``type || payload`` for typed transactions, RLP otherwise."""
    return tx.encode()


def transaction_json(
    tx: SignedTransactionAPI,
    header: BlockHeaderAPI | None = None,
    index: int | None = None,
    sender: bytes | None = None,
) -> dict[str, Any]:
    type_id = tx.type_id or 0
    out: dict[str, Any] = {"type": qty(type_id)}
    chain_id = tx.chain_id
    if chain_id is not None:
        out["chainId"] = qty(chain_id)
    out["nonce"] = qty(tx.nonce)
    out["gas"] = qty(tx.gas)
    if type_id in (0, 1):
        out["gasPrice"] = qty(tx.gas_price)
    else:
        out["maxFeePerGas"] = qty(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = qty(tx.max_priority_fee_per_gas)
    if type_id == BLOB_TX_TYPE:
        out["maxFeePerBlobGas"] = qty(tx.max_fee_per_blob_gas)
        out["blobVersionedHashes"] = [hexb(h) for h in tx.blob_versioned_hashes]
    out["to"] = addr(tx.to)
    out["value"] = qty(tx.value)
    if type_id != 0:
        out["accessList"] = [
            {"address": hexb(a), "storageKeys": [word(k) for k in keys]}
            for a, keys in tx.access_list
        ]
    if type_id == SET_CODE_TRANSACTION_TYPE:
        out["authorizationList"] = [
            {
                "chainId": qty(a.chain_id),
                "address": hexb(a.address),
                "nonce": qty(a.nonce),
                "yParity": qty(a.y_parity),
                "r": qty(a.r),
                "s": qty(a.s),
            }
            for a in tx.authorization_list
        ]
    out["input"] = hexb(tx.data)
    out["r"] = qty(tx.r)
    out["s"] = qty(tx.s)
    if type_id == 0:
        out["v"] = qty(tx.v)
    else:
        out["yParity"] = qty(tx.y_parity)
        out["v"] = qty(tx.y_parity)
    out["hash"] = hexb(tx.hash)
    out["blockHash"] = hexb(header.hash) if header is not None else None
    out["blockNumber"] = qty(header.block_number) if header is not None else None
    out["transactionIndex"] = qty(index) if index is not None else None
    out["from"] = hexb(sender if sender is not None else tx.sender)
    if type_id not in (0, 1):
        out["gasPrice"] = qty(
            effective_gas_price(tx, header.base_fee_per_gas)
            if header is not None
            else tx.max_fee_per_gas
        )
    if header is not None:
        out["blockTimestamp"] = qty(header.timestamp)
    return out


def log_json(info: ReceiptInfo, log_offset: int, log: Any) -> dict[str, Any]:
    return {
        "address": hexb(log.address),
        "topics": [word(t) if isinstance(t, int) else hexb(t) for t in log.topics],
        "data": hexb(log.data),
        "blockHash": hexb(info.block_hash),
        "blockNumber": qty(info.block_number),
        "blockTimestamp": qty(info.block_timestamp),
        "transactionHash": hexb(info.transaction_hash),
        "transactionIndex": qty(info.index),
        "logIndex": qty(info.first_log_index + log_offset),
        "removed": False,
    }


def receipt_json(info: ReceiptInfo, blob_gas_price: int = 1) -> dict[str, Any]:
    tx = info.transaction
    out = {
        "type": qty(tx.type_id or 0),
        "status": qty(info.status),
        "cumulativeGasUsed": qty(info.cumulative_gas_used),
        "logs": [log_json(info, i, log) for i, log in enumerate(info.receipt.logs)],
        "logsBloom": word_bloom(info.receipt.bloom),
        "transactionHash": hexb(info.transaction_hash),
        "transactionIndex": qty(info.index),
        "blockHash": hexb(info.block_hash),
        "blockNumber": qty(info.block_number),
        "gasUsed": qty(info.gas_used),
        "effectiveGasPrice": qty(info.effective_gas_price),
        "from": hexb(info.sender),
        "to": addr(tx.to),
        "contractAddress": hexb(info.contract_address) if info.contract_address else None,
    }
    if tx.type_id == BLOB_TX_TYPE:
        out["blobGasUsed"] = qty(len(tx.blob_versioned_hashes) * 2**17)
    # anvil 1.7.1 gives every receipt its block's blob base fee and timestamp. Both are hex
    # quantities here, as geth's timestamp and the logs' ``blockTimestamp`` (anvil writes
    # the receipt's as a JSON number).
    out["blobGasPrice"] = qty(blob_gas_price)
    out["blockTimestamp"] = qty(info.block_timestamp)
    return out


def word_bloom(bloom: int) -> str:
    return "0x" + bloom.to_bytes(256, "big").hex()


def header_json(header: BlockHeaderAPI) -> dict[str, Any]:
    out = {
        "hash": hexb(header.hash),
        "parentHash": hexb(header.parent_hash),
        "sha3Uncles": hexb(header.uncles_hash),
        "miner": hexb(header.coinbase),
        "stateRoot": hexb(header.state_root),
        "transactionsRoot": hexb(header.transaction_root),
        "receiptsRoot": hexb(header.receipt_root),
        "logsBloom": word_bloom(header.bloom),
        "difficulty": qty(header.difficulty),
        "number": qty(header.block_number),
        "gasLimit": qty(header.gas_limit),
        "gasUsed": qty(header.gas_used),
        "timestamp": qty(header.timestamp),
        "extraData": hexb(header.extra_data),
        "mixHash": hexb(header.mix_hash),
        "nonce": hexb(header.nonce),
        "baseFeePerGas": qty(header.base_fee_per_gas),
        "withdrawalsRoot": hexb(header.withdrawals_root),
        "blobGasUsed": qty(header.blob_gas_used),
        "excessBlobGas": qty(header.excess_blob_gas),
        "parentBeaconBlockRoot": hexb(header.parent_beacon_block_root),
        "requestsHash": hexb(header.requests_hash),
    }
    for field_name, json_name in (
        ("execute_gas_used", "executeGasUsed"),
        ("execute_base_fee_per_gas", "executeBaseFeePerGas"),
    ):
        if hasattr(header, field_name):
            out[json_name] = qty(getattr(header, field_name))
    return out


def block_json(
    block: BlockAPI, full: bool, senders: Sequence[bytes] | None = None
) -> dict[str, Any]:
    header = block.header
    out = header_json(header)
    out["totalDifficulty"] = "0x0"
    out["size"] = qty(len(rlp.encode(block)))
    out["uncles"] = []
    if full:
        out["transactions"] = [
            transaction_json(tx, header, i, senders[i] if senders else None)
            for i, tx in enumerate(block.transactions)
        ]
    else:
        out["transactions"] = [hexb(tx.hash) for tx in block.transactions]
    out["withdrawals"] = []
    return out


def found_log_json(found: FoundLog) -> dict[str, Any]:
    return log_json(found.receipt, found.offset, found.log)


def pending_block_json(block: BlockAPI, full: bool, senders: Sequence[bytes]) -> dict[str, Any]:
    """The ``pending`` block as geth answers it: not sealed, so ``hash``, ``nonce`` and
    ``miner`` are null (anvil's keys; anvil fills them)."""
    out = block_json(block, full, senders)
    out["hash"] = out["nonce"] = out["miner"] = None
    return out
