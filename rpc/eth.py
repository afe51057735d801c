"""The ``eth_`` namespace: one async function per method, each a thin parse → node → format."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from eth.abc import BlockHeaderAPI
from eth.constants import CREATE_CONTRACT_ADDRESS

from node.devnet import DEFAULT_PRIORITY_FEE, Devnet, SendRequest
from node.errors import UnknownBlock
from node.simulation import CallRequest, return_result_error
from rpc import params as parse
from rpc import shapes
from rpc.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    TRANSACTION_REJECTED,
    InvalidParams,
    RpcError,
)
from rpc.params import REQUIRED, parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb, qty

eth = Namespace()
method = eth.method
METHODS = eth.methods

ADDRESS_AT_BLOCK = [(parse.address, REQUIRED, "address"), (parse.block_id, "latest", "block")]

# Storage slots one eth_getStorageValues call may read, all accounts together (geth's and
# anvil's limit), and accounts it may name.
MAX_STORAGE_VALUES = 1_024
# Seconds eth_sendTransactionSync / eth_sendRawTransactionSync wait for the receipt (anvil's
# fixed wait; EIP-7966's optional timeout in milliseconds may only shorten it).
SYNC_RECEIPT_TIMEOUT = 30.0


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


async def resolve_state(devnet: Devnet, block: str | int | bytes) -> BlockHeaderAPI:
    """The header whose state a state read (balance, code, storage, proof, call, estimate,
    access list, simulation, traced call) reads: at ``pending``, the pending block's, so the
    read sees the pool's executable transactions applied (geth, anvil); else
    ``resolve_header``'s."""
    if block == "pending":
        return await devnet.pending_header()
    return resolve_header(devnet, block)


def maybe_header(devnet: Devnet, block: str | int | bytes) -> BlockHeaderAPI | None:
    """Like ``resolve_header`` but None for unknown blocks (block queries answer null)."""
    try:
        return resolve_header(devnet, block)
    except UnknownBlock:
        return None


def block_json(devnet: Devnet, header: BlockHeaderAPI, full: bool) -> dict[str, Any]:
    block = devnet.block(header)
    senders = [r.sender for r in devnet.receipts(header)] if full else None
    return shapes.block_json(block, full, senders)


# -- chain and network --------------------------------------------------------------------


@method("eth_chainId")
async def chain_id(devnet: Devnet, params: Any) -> str:
    return qty(devnet.chain_id)


@method("eth_networkId")
async def network_id(devnet: Devnet, params: Any) -> str:
    """``net_version``'s answer, the chain id in decimal (anvil's alias)."""
    parse_params(params, [])
    return str(devnet.chain_id)


@method("eth_blockNumber")
async def block_number(devnet: Devnet, params: Any) -> str:
    return qty(devnet.head.block_number)


@method("eth_accounts")
async def accounts(devnet: Devnet, params: Any) -> list[str]:
    return [hexb(a) for a in devnet.dev_accounts]


# EIP-1102: a wallet asks the user first; the node's unlocked dev accounts need no asking.
eth.alias("eth_requestAccounts", "eth_accounts")


@method("eth_coinbase")
async def coinbase(devnet: Devnet, params: Any) -> str:
    return hexb(devnet.coinbase)  # of the blocks to come (anvil_setCoinbase), as anvil


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
    return qty(devnet.blob_base_fee())


@method("eth_feeHistory")
async def fee_history(devnet: Devnet, params: Any) -> dict[str, Any]:
    count, newest, percentiles = parse_params(
        params,
        [
            (parse.uint64, REQUIRED, "blockCount"),
            (parse.block_id, REQUIRED, "newestBlock"),
            (_percentiles, None, "rewardPercentiles"),
        ],
    )
    history = await devnet.fee_history(count, resolve_header(devnet, newest), percentiles)
    blocks = len(history.gas_used_ratios)
    result: dict[str, Any] = {
        "oldestBlock": qty(history.oldest),
        "baseFeePerGas": [qty(fee) for fee in history.base_fees],
        "gasUsedRatio": history.gas_used_ratios,
        "baseFeePerBlobGas": [qty(1)] * (blocks + 1),
        "blobGasUsedRatio": [0.0] * blocks,
    }
    if history.rewards is not None:
        result["reward"] = [[qty(tip) for tip in block] for block in history.rewards]
    return result


def _percentiles(value: Any, what: str) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 100 for p in value
    ):
        raise InvalidParams(f"{what}: expected a list of numbers in [0, 100]")
    if any(b < a for a, b in zip(value, value[1:], strict=False)):
        raise InvalidParams(f"{what}: percentiles must increase")
    return [float(p) for p in value]


# -- state --------------------------------------------------------------------------------


@method("eth_getBalance")
async def get_balance(devnet: Devnet, params: Any) -> str:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    return qty(devnet.balance(who, await resolve_state(devnet, block)))


@method("eth_getTransactionCount")
async def get_transaction_count(devnet: Devnet, params: Any) -> str:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    if block == "pending":
        return qty(devnet.pending_nonce(who))
    return qty(devnet.nonce(who, resolve_header(devnet, block)))


@method("eth_getCode")
async def get_code(devnet: Devnet, params: Any) -> str:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    return hexb(devnet.code(who, await resolve_state(devnet, block)))


@method("eth_getStorageAt")
async def get_storage_at(devnet: Devnet, params: Any) -> str:
    who, slot, block = parse_params(
        params,
        [
            (parse.address, REQUIRED, "address"),
            (parse.storage_slot, REQUIRED, "slot"),
            (parse.block_id, "latest", "block"),
        ],
    )
    return shapes.word(devnet.storage(who, slot, await resolve_state(devnet, block)))


@method("eth_getAccountInfo")
async def get_account_info(devnet: Devnet, params: Any) -> dict[str, str]:
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    balance, nonce, code = devnet.account(who, await resolve_state(devnet, block))
    return {"balance": qty(balance), "nonce": qty(nonce), "code": hexb(code)}


@method("eth_getAccount")
async def get_account(devnet: Devnet, params: Any) -> dict[str, str]:
    """geth's account object at a block: ``{balance, nonce, codeHash, storageRoot}``."""
    who, block = parse_params(params, ADDRESS_AT_BLOCK)
    account = devnet.proof(who, [], await resolve_state(devnet, block))
    return {
        "balance": qty(account.balance),
        "nonce": qty(account.nonce),
        "codeHash": hexb(account.code_hash),
        "storageRoot": hexb(account.storage_root),
    }


def _storage_requests(value: Any, what: str) -> dict[bytes, list[bytes]]:
    """geth's ``{address: [32-byte slot, ...]}``, at most ``MAX_STORAGE_VALUES`` slots and
    accounts in all."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object of address -> storage slots")
    if len(value) > MAX_STORAGE_VALUES:
        raise InvalidParams(f"{what}: {len(value)} accounts exceed the limit {MAX_STORAGE_VALUES}")
    total = sum(len(slots) for slots in value.values() if isinstance(slots, list))
    if total > MAX_STORAGE_VALUES:
        raise RpcError(
            INVALID_PARAMS, f"total slot count {total} exceeds limit {MAX_STORAGE_VALUES}"
        )
    requests: dict[bytes, list[bytes]] = {}
    for key, slots in value.items():
        who = parse.address(key, f"{what} key")
        if not isinstance(slots, list):
            raise InvalidParams(f"{what}.{key}: expected a list of storage slots")
        requests[who] = [parse.hash32(slot, f"{what}.{key}[{i}]") for i, slot in enumerate(slots)]
    return requests


@method("eth_getStorageValues")
async def get_storage_values(devnet: Devnet, params: Any) -> dict[str, list[str]]:
    """Many ``eth_getStorageAt`` in one call (geth): ``{address: [slot]}`` ->
    ``{address: [value]}``, each value a 32-byte word."""
    requests, block = parse_params(
        params,
        [(_storage_requests, REQUIRED, "requests"), (parse.block_id, "latest", "block")],
    )
    header = await resolve_state(devnet, block)
    return {
        hexb(who): [
            shapes.word(devnet.storage(who, int.from_bytes(slot, "big"), header)) for slot in slots
        ]
        for who, slots in requests.items()
    }


@method("eth_getProof")
async def get_proof(devnet: Devnet, params: Any) -> dict[str, Any]:
    who, slots, block = parse_params(
        params,
        [
            (parse.address, REQUIRED, "address"),
            (_slot_list, REQUIRED, "storageKeys"),
            (parse.block_id, "latest", "block"),
        ],
    )
    proof = devnet.proof(who, slots, await resolve_state(devnet, block))
    return {
        "address": hexb(proof.address),
        "accountProof": [hexb(n) for n in proof.account_proof],
        "balance": qty(proof.balance),
        "codeHash": hexb(proof.code_hash),
        "nonce": qty(proof.nonce),
        "storageHash": hexb(proof.storage_root),
        "storageProof": [
            {"key": shapes.word(s.slot), "value": qty(s.value), "proof": [hexb(n) for n in s.proof]}
            for s in proof.storage
        ],
    }


def _slot_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list of storage keys")
    return [parse.storage_slot(v, what) for v in value]


# -- execution ----------------------------------------------------------------------------


async def _call_params(devnet: Devnet, params: Any) -> tuple[CallRequest, BlockHeaderAPI]:
    """``[transaction, block?, stateOverrides?, blockOverrides?]`` as geth takes them."""
    fields, block, overrides, block_override = parse_params(
        params,
        [
            (parse.call_object, REQUIRED, "transaction"),
            (parse.block_id, "latest", "block"),
            (parse.state_overrides, (), "stateOverrides"),
            (parse.block_override, None, "blockOverrides"),
        ],
    )
    request = parse.call_request(fields)
    if overrides or block_override is not None:
        request = replace(request, state_overrides=overrides, block_override=block_override)
    return request, await resolve_state(devnet, block)


@method("eth_call")
async def call(devnet: Devnet, params: Any) -> str:
    request, header = await _call_params(devnet, params)
    result = await devnet.call(request, header)
    if result.error is not None:
        return_result_error(result)
    return hexb(result.output)


@method("eth_estimateGas")
async def estimate_gas(devnet: Devnet, params: Any) -> str:
    request, header = await _call_params(devnet, params)
    return qty(await devnet.estimate_gas(request, header))


@method("eth_createAccessList")
async def create_access_list(devnet: Devnet, params: Any) -> dict[str, Any]:
    fields, block = parse_params(
        params, [(parse.call_object, REQUIRED, "transaction"), (parse.block_id, "latest", "block")]
    )
    header = await resolve_state(devnet, block)
    access, result = await devnet.create_access_list(parse.call_request(fields), header)
    out: dict[str, Any] = {
        "accessList": [
            {"address": hexb(a), "storageKeys": [shapes.word(k) for k in keys]}
            for a, keys in access
        ],
        "gasUsed": qty(result.gas_used),
    }
    if result.error is not None:
        out["error"] = "execution reverted" if result.is_revert else str(result.error)
    return out


@method("eth_sendRawTransaction")
async def send_raw_transaction(devnet: Devnet, params: Any) -> str:
    (raw,) = parse_params(params, [(parse.data, REQUIRED, "data")])
    return hexb(await devnet.send_raw_transaction(raw))


def send_request(fields: dict[str, Any]) -> SendRequest:
    """An ``eth_sendTransaction``/``eth_signTransaction`` object as a ``SendRequest``: with
    ``gasPrice`` and no ``accessList`` nor ``authorizationList`` it is a legacy (type 0)
    transaction, as anvil builds it (``accessList`` makes it type 1; EIP-1559 fee fields
    given with ``gasPrice`` are ignored, as anvil)."""
    if "sender" not in fields:
        raise InvalidParams("transaction.from: missing sender")
    if fields.get("authorization_list") and fields["to"] == CREATE_CONTRACT_ADDRESS:
        raise InvalidParams('transaction.to: missing "to" in set code transaction')  # as anvil
    legacy = (
        fields.get("gas_price") is not None
        and "access_list" not in fields
        and not fields.get("authorization_list")
    )
    return SendRequest(**fields, legacy=legacy)


@method("eth_sendTransaction")
async def send_transaction(devnet: Devnet, params: Any) -> str:
    (fields,) = parse_params(params, [(parse.call_object, REQUIRED, "transaction")])
    return hexb(await devnet.send_transaction(send_request(fields)))


def _sync_timeout(value: Any, what: str) -> float:
    """EIP-7966's optional timeout, in milliseconds; never beyond ``SYNC_RECEIPT_TIMEOUT``."""
    return min(parse.quantity(value, what, 64) / 1000, SYNC_RECEIPT_TIMEOUT)


async def _receipt_when_mined(
    devnet: Devnet, send: Callable[[], Awaitable[bytes]], timeout: float
) -> dict[str, Any]:
    """Submit, then wait for the block that holds the transaction (EIP-7966): at once under
    automine; under manual or interval mining until a block takes it or ``timeout`` passes,
    which answers anvil's error (the transaction stays in the pool)."""
    mined: set[bytes] = set()
    new_block = asyncio.Event()

    def on_block(built) -> None:
        mined.update(info.transaction_hash for info in built.receipts)
        new_block.set()

    devnet.listeners.append(on_block)
    try:
        tx_hash = await send()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while tx_hash not in mined:
            dropped = devnet.dropped.get(tx_hash)
            if dropped is not None:
                # a block left it out for good: the pool's refusal, not an internal error
                raise RpcError(TRANSACTION_REJECTED, f"transaction dropped: {dropped}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise RpcError(INTERNAL_ERROR, "Transaction confirmation timeout")
            new_block.clear()
            try:
                await asyncio.wait_for(new_block.wait(), remaining)
            except TimeoutError:
                pass
    finally:
        devnet.listeners.remove(on_block)
    info = devnet.find_transaction(tx_hash)
    if info is None:  # reverted away (evm_revert) between the block and now
        raise RpcError(INTERNAL_ERROR, "Transaction confirmation timeout")
    return shapes.receipt_json(info)


@method("eth_sendTransactionSync")
async def send_transaction_sync(devnet: Devnet, params: Any) -> dict[str, Any]:
    """``eth_sendTransaction`` answering the receipt once mined (EIP-7966's shape)."""
    fields, timeout = parse_params(
        params,
        [
            (parse.call_object, REQUIRED, "transaction"),
            (_sync_timeout, SYNC_RECEIPT_TIMEOUT, "timeout"),
        ],
    )
    request = send_request(fields)
    return await _receipt_when_mined(devnet, lambda: devnet.send_transaction(request), timeout)


@method("eth_sendRawTransactionSync")
async def send_raw_transaction_sync(devnet: Devnet, params: Any) -> dict[str, Any]:
    """``eth_sendRawTransaction`` answering the receipt once mined (EIP-7966)."""
    raw, timeout = parse_params(
        params,
        [(parse.data, REQUIRED, "data"), (_sync_timeout, SYNC_RECEIPT_TIMEOUT, "timeout")],
    )
    return await _receipt_when_mined(devnet, lambda: devnet.send_raw_transaction(raw), timeout)


# -- blocks -------------------------------------------------------------------------------


@method("eth_getBlockByNumber")
async def get_block_by_number(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block, full = parse_params(
        params, [(parse.block_id, REQUIRED, "block"), (parse.boolean, False, "fullTransactions")]
    )
    if block == "pending":
        pending = await devnet.pending_block()
        return shapes.pending_block_json(pending.block, full, pending.senders)
    header = maybe_header(devnet, block)
    return block_json(devnet, header, full) if header is not None else None


@method("eth_getBlockByHash")
async def get_block_by_hash(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block_hash, full = parse_params(
        params, [(parse.hash32, REQUIRED, "blockHash"), (parse.boolean, False, "fullTransactions")]
    )
    header = maybe_header(devnet, block_hash)
    return block_json(devnet, header, full) if header is not None else None


@method("eth_getBlockTransactionCountByNumber")
async def tx_count_by_number(devnet: Devnet, params: Any) -> str | None:
    (block,) = parse_params(params, [(parse.block_id, REQUIRED, "block")])
    if block == "pending":
        return qty(len((await devnet.pending_block()).block.transactions))
    header = maybe_header(devnet, block)
    return qty(len(devnet.receipts(header))) if header is not None else None


@method("eth_getBlockTransactionCountByHash")
async def tx_count_by_hash(devnet: Devnet, params: Any) -> str | None:
    (block_hash,) = parse_params(params, [(parse.hash32, REQUIRED, "blockHash")])
    header = maybe_header(devnet, block_hash)
    return qty(len(devnet.receipts(header))) if header is not None else None


@method("eth_getUncleCountByBlockNumber")
async def uncle_count_by_number(devnet: Devnet, params: Any) -> str | None:
    (block,) = parse_params(params, [(parse.block_id, REQUIRED, "block")])
    return "0x0" if maybe_header(devnet, block) is not None else None


@method("eth_getUncleCountByBlockHash")
async def uncle_count_by_hash(devnet: Devnet, params: Any) -> str | None:
    (block_hash,) = parse_params(params, [(parse.hash32, REQUIRED, "blockHash")])
    return "0x0" if maybe_header(devnet, block_hash) is not None else None


@method("eth_getBlockReceipts")
async def get_block_receipts(devnet: Devnet, params: Any) -> list[dict[str, Any]] | None:
    (block,) = parse_params(params, [(parse.block_id, REQUIRED, "block")])
    if block == "pending":  # no receipts before the block is mined: null, as anvil
        return None
    header = maybe_header(devnet, block)
    if header is None:
        return None
    return [shapes.receipt_json(r) for r in devnet.receipts(header)]


# -- transactions and receipts ------------------------------------------------------------


@method("eth_getTransactionByHash")
async def get_transaction_by_hash(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    (tx_hash,) = parse_params(params, [(parse.hash32, REQUIRED, "hash")])
    info = devnet.find_transaction(tx_hash)
    if info is not None and info.block_number <= devnet.head.block_number:
        header = devnet.header_at(info.block_number)
        return shapes.transaction_json(info.transaction, header, info.index, info.sender)
    pooled = devnet.pool.get(tx_hash)
    if pooled is not None:
        return shapes.transaction_json(pooled.transaction, sender=pooled.sender)
    return None


def _tx_at(devnet: Devnet, header: BlockHeaderAPI | None, index: int) -> dict[str, Any] | None:
    if header is None:
        return None
    receipts = devnet.receipts(header)
    if index >= len(receipts):
        return None
    info = receipts[index]
    return shapes.transaction_json(info.transaction, header, index, info.sender)


@method("eth_getTransactionByBlockNumberAndIndex")
async def tx_by_number_and_index(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block, index = parse_params(
        params, [(parse.block_id, REQUIRED, "block"), (parse.uint64, REQUIRED, "index")]
    )
    return _tx_at(devnet, maybe_header(devnet, block), index)


@method("eth_getTransactionByBlockHashAndIndex")
async def tx_by_hash_and_index(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    block_hash, index = parse_params(
        params, [(parse.hash32, REQUIRED, "blockHash"), (parse.uint64, REQUIRED, "index")]
    )
    return _tx_at(devnet, maybe_header(devnet, block_hash), index)


def _raw_tx_at(devnet: Devnet, header: BlockHeaderAPI | None, index: int) -> str | None:
    if header is None:
        return None
    receipts = devnet.receipts(header)
    if index >= len(receipts):
        return None
    return hexb(shapes.encode_transaction(receipts[index].transaction))


@method("eth_getRawTransactionByBlockNumberAndIndex")
async def raw_tx_by_number_and_index(devnet: Devnet, params: Any) -> str | None:
    block, index = parse_params(
        params, [(parse.block_id, REQUIRED, "block"), (parse.uint64, REQUIRED, "index")]
    )
    return _raw_tx_at(devnet, maybe_header(devnet, block), index)


@method("eth_getRawTransactionByBlockHashAndIndex")
async def raw_tx_by_hash_and_index(devnet: Devnet, params: Any) -> str | None:
    block_hash, index = parse_params(
        params, [(parse.hash32, REQUIRED, "blockHash"), (parse.uint64, REQUIRED, "index")]
    )
    return _raw_tx_at(devnet, maybe_header(devnet, block_hash), index)


@method("eth_getTransactionReceipt")
async def get_transaction_receipt(devnet: Devnet, params: Any) -> dict[str, Any] | None:
    (tx_hash,) = parse_params(params, [(parse.hash32, REQUIRED, "hash")])
    info = devnet.find_transaction(tx_hash)
    if info is None or info.block_number > devnet.head.block_number:
        return None
    return shapes.receipt_json(info)


# -- logs ---------------------------------------------------------------------------------


@method("eth_getLogs")
async def get_logs(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    (query,) = parse_params(params, [(parse.log_filter, REQUIRED, "filter")])
    return [shapes.found_log_json(found) for found in await devnet.logs(query)]


# eth_simulateV1 lives in its own module (it uses the helpers above) and joins this namespace.
from rpc import simulate as _simulate  # noqa: E402, F401
