"""The ``eth_`` namespace: one async function per method, each a thin parse → node → format."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, replace
from typing import Any

from eth.abc import BlockHeaderAPI

from node.devnet import DEFAULT_PRIORITY_FEE, Devnet, SendRequest
from node.errors import UnknownBlock
from node.simulation import CallRequest, return_result_error
from rpc import codec
from rpc.codec import REQUIRED, hexb, parse_params, qty
from rpc.errors import LIMIT_EXCEEDED, InvalidParams, RpcError
from rpc.registry import Namespace

eth = Namespace()
method = eth.method
METHODS = eth.methods

MAX_FEE_HISTORY_BLOCKS = 1024
ADDRESS_AT_BLOCK = [(codec.address, REQUIRED, "address"), (codec.block_id, "latest", "block")]
# Log queries: blocks one eth_getLogs may scan, logs it may return (Infura's and Alchemy's
# 10 000, with their wording), and addresses or topics per position (geth's
# --rpc.logquerylimit and its wording). Flags --rpc-logs-max-range, --rpc-logs-max-results.
MAX_LOG_BLOCK_RANGE = 100_000
MAX_LOG_RESULTS = 10_000
MAX_LOG_ALTERNATIVES = 1_000


@dataclass(frozen=True)
class LogLimits:
    """Bounds on one log query (``eth_getLogs``, ``eth_getFilterLogs``/``Changes``)."""

    max_block_range: int = MAX_LOG_BLOCK_RANGE
    max_results: int = MAX_LOG_RESULTS


_LOG_LIMITS: weakref.WeakKeyDictionary[Devnet, LogLimits] = weakref.WeakKeyDictionary()


def set_log_limits(devnet: Devnet, limits: LogLimits) -> None:
    """The node's log query bounds (the CLI's flags; the defaults otherwise)."""
    _LOG_LIMITS[devnet] = limits


def log_limits_of(devnet: Devnet) -> LogLimits:
    return _LOG_LIMITS.get(devnet) or LogLimits()


# -- helpers shared by namespaces ---------------------------------------------------------


def resolve_header(devnet: Devnet, block: str | int | bytes) -> BlockHeaderAPI:
    """The header a block id names; raises ``UnknownBlock`` (state queries answer an error)."""
    if block in ("latest", "pending", "safe", "finalized"):
        return devnet.head
    if block == "earliest":
        return devnet.header_at(0)
    if isinstance(block, bytes):
        return devnet.header_by_hash(block)
    return devnet.header_at(block)


def maybe_header(devnet: Devnet, block: str | int | bytes) -> BlockHeaderAPI | None:
    """Like ``resolve_header`` but None for unknown blocks (block queries answer null)."""
    try:
        return resolve_header(devnet, block)
    except UnknownBlock:
        return None


def block_json(devnet: Devnet, header: BlockHeaderAPI, full: bool) -> dict[str, Any]:
    block = devnet.chain.block_by_header(header)
    senders = [r.sender for r in devnet.chain.receipts_of(header)] if full else None
    return codec.block_json(block, full, senders)


# -- chain and network --------------------------------------------------------------------


@method("eth_chainId")
async def chain_id(devnet: Devnet, params: Any) -> str:
    return qty(devnet.chain_id)


@method("eth_blockNumber")
async def block_number(devnet: Devnet, params: Any) -> str:
    return qty(devnet.head.block_number)


@method("eth_accounts")
async def accounts(devnet: Devnet, params: Any) -> list[str]:
    return [hexb(a) for a in devnet.dev_accounts]


@method("eth_coinbase")
async def coinbase(devnet: Devnet, params: Any) -> str:
    return hexb(devnet.head.coinbase)


@method("eth_syncing")
async def syncing(devnet: Devnet, params: Any) -> bool:
    return False


@method("eth_mining")
async def mining(devnet: Devnet, params: Any) -> bool:
    return devnet.mining.mode.value != "manual"


@method("eth_hashrate")
async def hashrate(devnet: Devnet, params: Any) -> str:
    return "0x0"


@method("eth_gasPrice")
async def gas_price(devnet: Devnet, params: Any) -> str:
    return qty(devnet.next_base_fee() + DEFAULT_PRIORITY_FEE)


@method("eth_maxPriorityFeePerGas")
async def max_priority_fee(devnet: Devnet, params: Any) -> str:
    return qty(DEFAULT_PRIORITY_FEE)


@method("eth_blobBaseFee")
async def blob_base_fee(devnet: Devnet, params: Any) -> str:
    return qty(devnet.chain.pending_state(devnet.head).blob_base_fee)


@method("eth_feeHistory")
async def fee_history(devnet: Devnet, params: Any) -> dict[str, Any]:
    count, newest, percentiles = parse_params(
        params,
        [
            (codec.uint64, REQUIRED, "blockCount"),
            (codec.block_id, REQUIRED, "newestBlock"),
            (_percentiles, None, "rewardPercentiles"),
        ],
    )
    newest_header = resolve_header(devnet, newest)
    count = min(count, MAX_FEE_HISTORY_BLOCKS, newest_header.block_number + 1)
    oldest = newest_header.block_number + 1 - count
    base_fees, ratios, blob_fees, blob_ratios, rewards = [], [], [], [], []
    for number in range(oldest, newest_header.block_number + 1):
        header = devnet.header_at(number)
        base_fees.append(qty(header.base_fee_per_gas))
        ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
        blob_fees.append(qty(1))
        blob_ratios.append(0.0)
        if percentiles is not None:
            rewards.append(_block_rewards(devnet, header, percentiles))
    base_fees.append(qty(devnet.chain.next_base_fee(newest_header)))
    blob_fees.append(qty(1))
    result: dict[str, Any] = {
        "oldestBlock": qty(oldest),
        "baseFeePerGas": base_fees,
        "gasUsedRatio": ratios,
        "baseFeePerBlobGas": blob_fees,
        "blobGasUsedRatio": blob_ratios,
    }
    if percentiles is not None:
        result["reward"] = rewards
    return result


def _percentiles(value: Any, what: str) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 100 for p in value
    ):
        raise InvalidParams(f"{what}: expected a list of numbers in [0, 100]")
    if any(b < a for a, b in zip(value, value[1:], strict=False)):
        raise InvalidParams(f"{what}: percentiles must increase")
    return [float(p) for p in value]


def _block_rewards(devnet: Devnet, header: BlockHeaderAPI, percentiles: list[float]) -> list[str]:
    receipts = devnet.chain.receipts_of(header)
    if not receipts:
        return [qty(0) for _ in percentiles]
    base_fee = header.base_fee_per_gas
    tips = sorted(
        (
            min(r.transaction.max_priority_fee_per_gas, r.transaction.max_fee_per_gas - base_fee),
            r.gas_used,
        )
        for r in receipts
    )
    total = sum(g for _, g in tips) or 1
    out = []
    for p in percentiles:
        threshold = total * p / 100
        cumulative = 0
        chosen = tips[-1][0]
        for tip, gas in tips:
            cumulative += gas
            if cumulative >= threshold:
                chosen = tip
                break
        out.append(qty(chosen))
    return out


# -- state --------------------------------------------------------------------------------


@method("eth_getBalance")
async def get_balance(devnet: Devnet, params: Any) -> str:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    return qty(devnet.chain.balance(who, resolve_header(devnet, block)))


@method("eth_getTransactionCount")
async def get_transaction_count(devnet: Devnet, params: Any) -> str:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    if block == "pending":
        return qty(devnet.pending_nonce(who))
    return qty(devnet.chain.nonce(who, resolve_header(devnet, block)))


@method("eth_getCode")
async def get_code(devnet: Devnet, params: Any) -> str:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    return hexb(devnet.chain.code(who, resolve_header(devnet, block)))


@method("eth_getStorageAt")
async def get_storage_at(devnet: Devnet, params: Any) -> str:
    who, slot, block = parse_params(
        params,
        [
            (codec.address, REQUIRED, "address"),
            (codec.storage_slot, REQUIRED, "slot"),
            (codec.block_id, "latest", "block"),
        ],
    )
    return codec.word(devnet.chain.storage(who, slot, resolve_header(devnet, block)))


@method("eth_getAccountInfo")
async def get_account_info(devnet: Devnet, params: Any) -> dict[str, str]:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    header = resolve_header(devnet, block)
    db = devnet.chain.account_db(header)
    return {
        "balance": qty(db.get_balance(who)),
        "nonce": qty(db.get_nonce(who)),
        "code": hexb(db.get_code(who)),
    }


@method("eth_getProof")
async def get_proof(devnet: Devnet, params: Any) -> dict[str, Any]:
    who, slots, block = parse_params(
        params,
        [
            (codec.address, REQUIRED, "address"),
            (_slot_list, REQUIRED, "storageKeys"),
            (codec.block_id, "latest", "block"),
        ],
    )
    proof = devnet.chain.proof(who, slots, resolve_header(devnet, block))
    return {
        "address": hexb(proof.address),
        "accountProof": [hexb(n) for n in proof.account_proof],
        "balance": qty(proof.balance),
        "codeHash": hexb(proof.code_hash),
        "nonce": qty(proof.nonce),
        "storageHash": hexb(proof.storage_root),
        "storageProof": [
            {"key": codec.word(s.slot), "value": qty(s.value), "proof": [hexb(n) for n in s.proof]}
            for s in proof.storage
        ],
    }


def _slot_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list of storage keys")
    return [codec.storage_slot(v, what) for v in value]


# -- execution ----------------------------------------------------------------------------


def _call_params(devnet: Devnet, params: Any) -> tuple[CallRequest, BlockHeaderAPI]:
    """``[transaction, block?, stateOverrides?, blockOverrides?]`` as geth takes them."""
    fields, block, overrides, block_override = parse_params(
        params,
        [
            (codec.call_object, REQUIRED, "transaction"),
            (codec.block_id, "latest", "block"),
            (codec.state_overrides, (), "stateOverrides"),
            (codec.block_override, None, "blockOverrides"),
        ],
    )
    request = replace(
        codec.call_request(fields), state_overrides=overrides, block_override=block_override
    )
    return request, resolve_header(devnet, block)


@method("eth_call")
async def call(devnet: Devnet, params: Any) -> str:
    request, header = _call_params(devnet, params)
    result = await devnet.call(request, header)
    if result.error is not None:
        return_result_error(result)
    return hexb(result.output)


@method("eth_estimateGas")
async def estimate_gas(devnet: Devnet, params: Any) -> str:
    request, header = _call_params(devnet, params)
    return qty(await devnet.estimate_gas(request, header))


@method("eth_createAccessList")
async def create_access_list(devnet: Devnet, params: Any) -> dict[str, Any]:
    fields, block = parse_params(
        params, [(codec.call_object, REQUIRED, "transaction"), (codec.block_id, "latest", "block")]
    )
    header = resolve_header(devnet, block)
    access, result = await devnet.create_access_list(codec.call_request(fields), header)
    out: dict[str, Any] = {
        "accessList": [
            {"address": hexb(a), "storageKeys": [codec.word(k) for k in keys]} for a, keys in access
        ],
        "gasUsed": qty(result.gas_used),
    }
    if result.error is not None:
        out["error"] = "execution reverted" if result.is_revert else str(result.error)
    return out


@method("eth_sendRawTransaction")
async def send_raw_transaction(devnet: Devnet, params: Any) -> str:
    (raw,) = parse_params(params, [(codec.data, REQUIRED, "data")])
    return hexb(await devnet.send_raw_transaction(raw))


@method("eth_sendTransaction")
async def send_transaction(devnet: Devnet, params: Any) -> str:
    (fields,) = parse_params(params, [(codec.call_object, REQUIRED, "transaction")])
    if "sender" not in fields:
        raise InvalidParams("transaction.from: missing sender")
    request = SendRequest(**{k: v for k, v in fields.items() if k != "authorization_list"})
    return hexb(await devnet.send_transaction(request))


# -- blocks -------------------------------------------------------------------------------


@method("eth_getBlockByNumber")
async def get_block_by_number(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block, full = parse_params(
        params, [(codec.block_id, REQUIRED, "block"), (codec.boolean, False, "fullTransactions")]
    )
    header = maybe_header(devnet, block)
    return block_json(devnet, header, full) if header is not None else None


@method("eth_getBlockByHash")
async def get_block_by_hash(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block_hash, full = parse_params(
        params, [(codec.hash32, REQUIRED, "blockHash"), (codec.boolean, False, "fullTransactions")]
    )
    header = maybe_header(devnet, block_hash)
    return block_json(devnet, header, full) if header is not None else None


@method("eth_getBlockTransactionCountByNumber")
async def tx_count_by_number(devnet: Devnet, params: Any) -> str | None:
    (block,) = parse_params(params, [(codec.block_id, REQUIRED, "block")])
    header = maybe_header(devnet, block)
    return qty(len(devnet.chain.receipts_of(header))) if header is not None else None


@method("eth_getBlockTransactionCountByHash")
async def tx_count_by_hash(devnet: Devnet, params: Any) -> str | None:
    (block_hash,) = parse_params(params, [(codec.hash32, REQUIRED, "blockHash")])
    header = maybe_header(devnet, block_hash)
    return qty(len(devnet.chain.receipts_of(header))) if header is not None else None


@method("eth_getUncleCountByBlockNumber")
async def uncle_count_by_number(devnet: Devnet, params: Any) -> str | None:
    (block,) = parse_params(params, [(codec.block_id, REQUIRED, "block")])
    return "0x0" if maybe_header(devnet, block) is not None else None


@method("eth_getUncleCountByBlockHash")
async def uncle_count_by_hash(devnet: Devnet, params: Any) -> str | None:
    (block_hash,) = parse_params(params, [(codec.hash32, REQUIRED, "blockHash")])
    return "0x0" if maybe_header(devnet, block_hash) is not None else None


@method("eth_getBlockReceipts")
async def get_block_receipts(devnet: Devnet, params: Any) -> list[dict[str, Any]] | None:
    (block,) = parse_params(params, [(codec.block_id, REQUIRED, "block")])
    header = maybe_header(devnet, block)
    if header is None:
        return None
    return [codec.receipt_json(r) for r in devnet.chain.receipts_of(header)]


# -- transactions and receipts ------------------------------------------------------------


@method("eth_getTransactionByHash")
async def get_transaction_by_hash(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    (tx_hash,) = parse_params(params, [(codec.hash32, REQUIRED, "hash")])
    info = devnet.chain.find_transaction(tx_hash)
    if info is not None and info.block_number <= devnet.head.block_number:
        header = devnet.header_at(info.block_number)
        return codec.transaction_json(info.transaction, header, info.index, info.sender)
    pooled = devnet.pool.get(tx_hash)
    if pooled is not None:
        return codec.transaction_json(pooled.transaction, sender=pooled.sender)
    return None


def _tx_at(devnet: Devnet, header: BlockHeaderAPI | None, index: int) -> dict[str, Any] | None:
    if header is None:
        return None
    receipts = devnet.chain.receipts_of(header)
    if index >= len(receipts):
        return None
    info = receipts[index]
    return codec.transaction_json(info.transaction, header, index, info.sender)


@method("eth_getTransactionByBlockNumberAndIndex")
async def tx_by_number_and_index(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block, index = parse_params(
        params, [(codec.block_id, REQUIRED, "block"), (codec.uint64, REQUIRED, "index")]
    )
    return _tx_at(devnet, maybe_header(devnet, block), index)


@method("eth_getTransactionByBlockHashAndIndex")
async def tx_by_hash_and_index(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block_hash, index = parse_params(
        params, [(codec.hash32, REQUIRED, "blockHash"), (codec.uint64, REQUIRED, "index")]
    )
    return _tx_at(devnet, maybe_header(devnet, block_hash), index)


@method("eth_getTransactionReceipt")
async def get_transaction_receipt(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    (tx_hash,) = parse_params(params, [(codec.hash32, REQUIRED, "hash")])
    info = devnet.chain.find_transaction(tx_hash)
    if info is None or info.block_number > devnet.head.block_number:
        return None
    return codec.receipt_json(info)


# -- logs ---------------------------------------------------------------------------------


@method("eth_getLogs")
async def get_logs(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    (criteria,) = parse_params(params, [(log_filter, REQUIRED, "filter")])
    return await query_logs(devnet, criteria)


async def query_logs(devnet: Devnet, criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """``logs_matching`` within the node's log limits, on a worker thread: a query over a
    long chain reads many blocks and must not hold up other requests (nor the chain
    writer, which keeps building blocks meanwhile)."""
    return await asyncio.to_thread(logs_matching, devnet, criteria, log_limits_of(devnet))


def log_filter(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    out: dict[str, Any] = {}
    if value.get("blockHash") is not None:
        if value.get("fromBlock") is not None or value.get("toBlock") is not None:
            raise InvalidParams(f"{what}: cannot specify both blockHash and fromBlock/toBlock")
        out["block_hash"] = codec.hash32(value["blockHash"], f"{what}.blockHash")
    out["from"] = codec.block_id(value.get("fromBlock") or "latest", f"{what}.fromBlock")
    out["to"] = codec.block_id(value.get("toBlock") or "latest", f"{what}.toBlock")
    raw_address = value.get("address")
    if raw_address is None:
        out["addresses"] = None
    elif isinstance(raw_address, list):
        _check_alternatives(raw_address)
        out["addresses"] = {codec.address(a, f"{what}.address") for a in raw_address} or None
    else:
        out["addresses"] = {codec.address(raw_address, f"{what}.address")}
    topics = value.get("topics") or []
    if not isinstance(topics, list) or len(topics) > 4:
        raise InvalidParams(f"{what}.topics: expected a list of at most 4 positions")
    parsed_topics: list[set[bytes] | None] = []
    for i, position in enumerate(topics):
        if position is None:
            parsed_topics.append(None)
        elif isinstance(position, list):
            _check_alternatives(position)
            parsed_topics.append({codec.hash32(t, f"{what}.topics[{i}]") for t in position} or None)
        else:
            parsed_topics.append({codec.hash32(position, f"{what}.topics[{i}]")})
    out["topics"] = parsed_topics
    return out


def _check_alternatives(options: list) -> None:
    if len(options) > MAX_LOG_ALTERNATIVES:
        raise InvalidParams(
            f"exceed max addresses or topics per search position ({MAX_LOG_ALTERNATIVES})"
        )


def _block_number_of(devnet: Devnet, block: str | int | bytes) -> int:
    return resolve_header(devnet, block).block_number


def logs_matching(
    devnet: Devnet, criteria: dict[str, Any], limits: LogLimits | None = None
) -> list[dict[str, Any]]:
    """Logs matching ``criteria``, in chain order; ``limits`` bounds the blocks scanned and
    the logs returned (None: unbounded, for one block's subscription)."""
    if "block_hash" in criteria:
        headers = [resolve_header(devnet, criteria["block_hash"])]
    else:
        start = _block_number_of(devnet, criteria["from"])
        end = _block_number_of(devnet, criteria["to"])
        if limits is not None and end - start >= limits.max_block_range:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"query exceeds max block range {limits.max_block_range} (blocks {start} to {end})",
            )
        headers = (devnet.header_at(n) for n in range(start, end + 1))
    max_results = limits.max_results if limits is not None else None
    addresses = criteria["addresses"]
    topics = criteria["topics"]
    found = []
    for header in headers:
        if header.bloom == 0:
            continue
        for info in devnet.chain.receipts_of(header):
            for offset, log in enumerate(info.receipt.logs):
                if addresses is not None and log.address not in addresses:
                    continue
                if not _topics_match(log.topics, topics):
                    continue
                if max_results is not None and len(found) == max_results:
                    raise RpcError(
                        LIMIT_EXCEEDED, f"query returned more than {max_results} results"
                    )
                found.append(codec.log_json(info, offset, log))
    return found


def _topics_match(log_topics: Any, wanted: list[set[bytes] | None]) -> bool:
    if len(wanted) > len(log_topics):
        return False
    for position, options in enumerate(wanted):
        if options is None:
            continue
        topic = log_topics[position]
        topic_bytes = topic.to_bytes(32, "big") if isinstance(topic, int) else topic
        if topic_bytes not in options:
            return False
    return True
