"""Test-node controls under anvil's names, with the ``evm_``/``hardhat_`` aliases anvil accepts."""

from __future__ import annotations

from typing import Any

from eth.constants import GAS_LIMIT_MINIMUM

from node.devnet import DEFAULT_PRIORITY_FEE, Devnet, MiningMode
from node.errors import LimitExceeded, SimulationTimeout, TraceLimitExceeded
from node.genesis import GenesisError
from node.mining import MAX_TIMESTAMP
from node.statefile import StateFileError, decode_state_bytes, encode_state_bytes, parse_state
from node.tracing import TraceOptions
from rpc import params as parse
from rpc.errors import InvalidParams
from rpc.eth import block_json
from rpc.net import CLIENT_VERSION
from rpc.params import parse_params
from rpc.registry import Namespace
from rpc.shapes import hexb, qty

# Blocks one evm_mine / anvil_mine call may mine: each is built on the one chain-writer thread,
# so a huge count would hold block production for as long as it takes.
MAX_MINE_BLOCKS = 10_000
# Blocks one anvil_mine_detailed / evm_mine_detailed call may mine: each is answered whole.
MAX_DETAILED_BLOCKS = 1_000

CLIENT_SEMVER = CLIENT_VERSION.split("/")[1].removeprefix("v")  # "0.1.0"

TOP_CALLS = TraceOptions(tracer="callTracer", only_top_call=True)

anvil = Namespace()
METHODS = anvil.methods


@anvil.method("anvil_nodeInfo")
async def node_info(devnet: Devnet, params: Any) -> dict[str, Any]:
    # anvil 1.7.1's shape, field by field: quantities in hex except the timestamp and the
    # chain id, which anvil writes as JSON numbers.
    head = devnet.head
    return {
        "currentBlockNumber": qty(head.block_number),
        "currentBlockTimestamp": head.timestamp,
        "currentBlockHash": hexb(head.hash),
        "hardFork": devnet.genesis.fork_schedule.fork_at(head.timestamp),
        "transactionOrder": "fees",
        "environment": {
            "baseFee": qty(devnet.next_base_fee()),
            "chainId": devnet.chain_id,
            "gasLimit": qty(devnet.next_gas_limit()),
            "gasPrice": qty(devnet.next_base_fee() + DEFAULT_PRIORITY_FEE),
        },
        "forkConfig": {"forkUrl": None, "forkBlockNumber": None, "forkRetryBackoff": None},
        "network": devnet.genesis.name,
        "mining": devnet.mining.mode.value,
    }


def _mine_options(value: Any, what: str) -> dict[str, Any]:
    """``evm_mine`` takes a timestamp or ``{"timestamp": t, "blocks": n}``; this devnet also
    takes ``parentBeaconBlockRoot`` (the L1 anchor of an L2 block), ``prevRandao`` and
    ``coinbase`` for the first block mined."""
    if not isinstance(value, dict):
        return {"timestamp": parse.quantity(value, what)}
    out: dict[str, Any] = {}
    if value.get("timestamp") is not None:
        out["timestamp"] = parse.quantity(value["timestamp"], f"{what}.timestamp")
    if value.get("blocks") is not None:
        out["blocks"] = parse.quantity(value["blocks"], f"{what}.blocks")
    for key, name, parser in (
        ("parentBeaconBlockRoot", "anchor", parse.hash32),
        ("prevRandao", "prev_randao", parse.hash32),
        ("coinbase", "coinbase", parse.address),
    ):
        if value.get(key) is not None:
            out[name] = parser(value[key], f"{what}.{key}")
    return out


def _next_block_fields(options: dict[str, Any]) -> dict[str, bytes]:
    return {k: options[k] for k in ("anchor", "prev_randao", "coinbase") if k in options}


async def _mine_blocks(devnet: Devnet, params: Any) -> list:
    """``evm_mine``'s work: the blocks mined, in order."""
    (options,) = parse_params(params, [(_mine_options, {}, "options")])
    timestamp = options.get("timestamp")
    blocks = max(1, options.get("blocks", 1))
    if blocks > MAX_MINE_BLOCKS:
        raise InvalidParams(f"blocks: at most {MAX_MINE_BLOCKS} per call")
    if timestamp is not None:
        devnet.check_block_timestamp(timestamp)  # before anything is set for the block
    devnet.set_next_block_fields(**_next_block_fields(options))
    mined = []
    for _ in range(blocks):
        mined.append((await devnet.mine(timestamp)).block.header)
        if timestamp is not None:  # as anvil: the clock continues from the chosen time
            devnet.rebase_clock(mined[-1].timestamp)
        timestamp = None
    return mined


@anvil.method("evm_mine")
async def evm_mine(devnet: Devnet, params: Any) -> str:
    await _mine_blocks(devnet, params)
    return "0x0"


@anvil.method("anvil_mine_detailed")
async def mine_detailed(devnet: Devnet, params: Any) -> list[dict[str, Any]]:
    """``evm_mine`` answering the blocks it mined, with their full transactions, as anvil
    (at most ``MAX_DETAILED_BLOCKS``: each is a whole block object in the answer)."""
    (options,) = parse_params(params, [(_mine_options, {}, "options")])
    if options.get("blocks", 1) > MAX_DETAILED_BLOCKS:
        raise InvalidParams(f"blocks: at most {MAX_DETAILED_BLOCKS} per detailed call")
    return [await _detailed_block(devnet, header) for header in await _mine_blocks(devnet, params)]


async def _detailed_block(devnet: Devnet, header) -> dict[str, Any]:
    """A mined block with full transactions, each with anvil's ``output`` (the return data,
    a creation's deployed code) and, when it reverted with a reason, ``revertReason``: read
    from a replay of the block (the top call frame of each transaction)."""
    block = block_json(devnet, header, True)
    if not block["transactions"]:
        return block
    try:
        frames = dict(await devnet.trace_block(header, TOP_CALLS))
    except (SimulationTimeout, TraceLimitExceeded, LimitExceeded):
        # The block is mined: answer it, without what a replay past the node's trace
        # bounds (--trace-timeout, --trace-max-steps) could not give.
        return block
    for tx in block["transactions"]:
        frame = frames.get(bytes.fromhex(tx["hash"][2:]))
        if frame is None:
            continue
        tx["output"] = hexb(frame.output)
        if frame.revert_reason:
            tx["revertReason"] = frame.revert_reason
    return block


@anvil.method("anvil_mine")
async def anvil_mine(devnet: Devnet, params: Any) -> None:
    blocks, interval = parse_params(
        params, [(parse.quantity, 1, "blocks"), (parse.quantity, None, "interval")]
    )
    if blocks > MAX_MINE_BLOCKS:
        raise InvalidParams(f"blocks: at most {MAX_MINE_BLOCKS} per call")
    if interval is not None and devnet.head.timestamp + blocks * interval > MAX_TIMESTAMP:
        raise InvalidParams(
            f"The timestamp is too big: {blocks} blocks {interval} seconds apart would pass "
            f"the largest uint64 timestamp {MAX_TIMESTAMP}"
        )
    # One trip to the chain writer for all of them; as anvil, an interval adds to the
    # clock's offset before each block.
    await devnet.mine_many(blocks, interval)
    return None


@anvil.method("evm_setAutomine")
async def set_automine(devnet: Devnet, params: Any) -> bool:
    (enabled,) = parse_params(params, [(parse.boolean, parse.REQUIRED, "enabled")])
    devnet.set_automine(enabled)
    return True


@anvil.method("anvil_getIntervalMining")
async def get_interval_mining(devnet: Devnet, params: Any) -> int | float | None:
    """Seconds between blocks under interval mining, else null (anvil's answer)."""
    parse_params(params, [])
    seconds = devnet.mining.block_time
    if devnet.mining.mode is not MiningMode.INTERVAL or not seconds:
        return None
    return int(seconds) if float(seconds).is_integer() else seconds


@anvil.method("anvil_getGenesisTime")
async def get_genesis_time(devnet: Devnet, params: Any) -> int:
    """The genesis block's timestamp, a JSON number as anvil's."""
    parse_params(params, [])
    return devnet.header_at(0).timestamp


@anvil.method("anvil_metadata")
async def metadata(devnet: Devnet, params: Any) -> dict[str, Any]:
    """anvil's (and hardhat's) shape: the client, the chain, this run's id, the head, the
    live snapshots as ``{id: [block number, block hash]}``; never forked. anvil's
    ``clientCommitSha`` is left out: a checkout need not be a git repository."""
    parse_params(params, [])
    head = devnet.head
    return {
        "clientVersion": CLIENT_VERSION,
        "clientSemver": CLIENT_SEMVER,
        "chainId": devnet.chain_id,
        "instanceId": hexb(devnet.instance_id()),
        "latestBlockNumber": head.block_number,
        "latestBlockHash": hexb(head.hash),
        "forkedNetwork": None,
        "snapshots": {
            qty(i): [header.block_number, hexb(header.hash)]
            for i, header in devnet.snapshots().items()
        },
    }


@anvil.method("anvil_getAutomine")
async def get_automine(devnet: Devnet, params: Any) -> bool:
    return devnet.mining.mode is MiningMode.AUTO


@anvil.method("anvil_blockNumber")
async def block_number(devnet: Devnet, params: Any) -> str:
    return qty(devnet.head.block_number)


@anvil.method("devnet_setNextBlockFields")
async def set_next_block_fields(devnet: Devnet, params: Any) -> bool:
    """Header fields for the next block, however it is mined: ``{parentBeaconBlockRoot,
    prevRandao, coinbase}`` (a rollup sequencer sets the L1 anchor of its L2 block here)."""
    (options,) = parse_params(params, [(_mine_options, parse.REQUIRED, "fields")])
    devnet.set_next_block_fields(**_next_block_fields(options))
    return True


@anvil.method("evm_snapshot")
async def snapshot(devnet: Devnet, params: Any) -> str:
    parse_params(params, [])
    return qty(await devnet.snapshot())


@anvil.method("evm_revert")
async def revert(devnet: Devnet, params: Any) -> bool:
    (snapshot_id,) = parse_params(params, [(parse.quantity, parse.REQUIRED, "id")])
    return await devnet.revert(snapshot_id)


@anvil.method("evm_increaseTime")
async def increase_time(devnet: Devnet, params: Any) -> int:
    """The clock's whole offset in seconds, a JSON number as anvil's (negative after an
    ``evm_revert`` took the clock back to an older head)."""
    (seconds,) = parse_params(params, [(_seconds, parse.REQUIRED, "seconds")])
    return devnet.increase_time(seconds)


@anvil.method("evm_setNextBlockTimestamp")
async def set_next_block_timestamp(devnet: Devnet, params: Any) -> None:
    (timestamp,) = parse_params(params, [(_seconds, parse.REQUIRED, "timestamp")])
    devnet.set_next_timestamp(timestamp)  # after the head's and a uint64, or invalid params
    return None


@anvil.method("evm_setIntervalMining")
async def set_interval_mining(devnet: Devnet, params: Any) -> bool:
    (seconds,) = parse_params(params, [(_seconds, parse.REQUIRED, "seconds")])
    devnet.set_interval_mining(seconds)
    return True


def _seconds(value: Any, what: str) -> int:
    """Numbers as JSON integers or hex quantities (hardhat sends both)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return parse.quantity(value, what)


@anvil.method("anvil_setBalance")
async def set_balance(devnet: Devnet, params: Any) -> None:
    who, balance = parse_params(
        params,
        [(parse.address, parse.REQUIRED, "address"), (parse.quantity, parse.REQUIRED, "balance")],
    )
    await devnet.edit_state(lambda db: db.set_balance(who, balance))


@anvil.method("anvil_addBalance")
async def add_balance(devnet: Devnet, params: Any) -> None:
    """Add to an account's balance (saturating at 2**256 - 1, as anvil)."""
    who, amount = parse_params(
        params,
        [(parse.address, parse.REQUIRED, "address"), (parse.quantity, parse.REQUIRED, "balance")],
    )
    await devnet.add_balance(who, amount)


@anvil.method("anvil_setNonce")
async def set_nonce(devnet: Devnet, params: Any) -> None:
    who, nonce = parse_params(
        params,
        [(parse.address, parse.REQUIRED, "address"), (parse.uint64, parse.REQUIRED, "nonce")],
    )  # a nonce is a uint64 (py-evm's account refused more with an internal error)
    await devnet.edit_state(lambda db: db.set_nonce(who, nonce))


@anvil.method("anvil_setCode")
async def set_code(devnet: Devnet, params: Any) -> None:
    who, code = parse_params(
        params, [(parse.address, parse.REQUIRED, "address"), (parse.data, parse.REQUIRED, "code")]
    )
    await devnet.edit_state(lambda db: db.set_code(who, code))


@anvil.method("anvil_setStorageAt")
async def set_storage_at(devnet: Devnet, params: Any) -> bool:
    who, slot, value = parse_params(
        params,
        [
            (parse.address, parse.REQUIRED, "address"),
            (parse.storage_slot, parse.REQUIRED, "slot"),
            (parse.hash32, parse.REQUIRED, "value"),
        ],
    )
    await devnet.edit_state(lambda db: db.set_storage(who, slot, int.from_bytes(value, "big")))
    return True


@anvil.method("anvil_reset")
async def reset(devnet: Devnet, params: Any) -> None:
    """Back to genesis; the options object is validated (forking is refused) and unused."""
    parse_params(params, [(_reset_options, None, "options")])
    await devnet.reset()


def _reset_options(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    if value.get("forking"):
        raise InvalidParams(f"{what}: forking is not supported by this devnet")
    return value


@anvil.method("anvil_dumpState")
async def dump_state(devnet: Devnet, params: Any) -> str:
    """The chain as a gzip-compressed ``native-devnet-state`` document, hex-encoded."""
    parse_params(params, [])
    return hexb(encode_state_bytes(await devnet.dump_state()))


@anvil.method("anvil_loadState")
async def load_state(devnet: Devnet, params: Any) -> bool:
    (raw,) = parse_params(params, [(parse.data, parse.REQUIRED, "state")])
    try:
        entries = parse_state(decode_state_bytes(raw, devnet.max_state_size))
        await devnet.load_state(entries)
    except (StateFileError, GenesisError) as exc:
        raise InvalidParams(f"cannot load state: {exc}") from None
    return True


@anvil.method("anvil_impersonateAccount")
async def impersonate_account(devnet: Devnet, params: Any) -> None:
    (who,) = parse_params(params, [(parse.address, parse.REQUIRED, "address")])
    devnet.impersonated.add(who)


@anvil.method("anvil_stopImpersonatingAccount")
async def stop_impersonating(devnet: Devnet, params: Any) -> None:
    (who,) = parse_params(params, [(parse.address, parse.REQUIRED, "address")])
    devnet.impersonated.discard(who)


@anvil.method("anvil_autoImpersonateAccount")
async def auto_impersonate(devnet: Devnet, params: Any) -> None:
    (enabled,) = parse_params(params, [(parse.boolean, parse.REQUIRED, "enabled")])
    devnet.auto_impersonate = enabled


@anvil.method("anvil_setNextBlockBaseFeePerGas")
async def set_next_block_base_fee(devnet: Devnet, params: Any) -> None:
    """The next block's base fee; later blocks follow EIP-1559 from it. At most a uint64, as
    anvil's fee manager holds it."""
    (base_fee,) = parse_params(params, [(parse.uint64, parse.REQUIRED, "baseFee")])
    devnet.set_next_base_fee(base_fee)


@anvil.method("evm_setBlockGasLimit")
async def set_block_gas_limit(devnet: Devnet, params: Any) -> bool:
    """The gas limit of the next block and, pinned, of every later one. At least 5 000, the
    least any header may have (anvil takes less, but no block can follow such a limit here)."""
    (gas_limit,) = parse_params(params, [(parse.uint64, parse.REQUIRED, "gasLimit")])
    if gas_limit < GAS_LIMIT_MINIMUM:
        raise InvalidParams(f"gasLimit: {gas_limit} is below the minimum {GAS_LIMIT_MINIMUM}")
    devnet.set_block_gas_limit(gas_limit)
    return True


@anvil.method("anvil_setCoinbase")
async def set_coinbase(devnet: Devnet, params: Any) -> None:
    (coinbase,) = parse_params(params, [(parse.address, parse.REQUIRED, "address")])
    devnet.set_coinbase(coinbase)


@anvil.method("anvil_dropTransaction")
async def drop_transaction(devnet: Devnet, params: Any) -> str | None:
    """Remove one pooled transaction: its hash, or null when the pool does not hold it."""
    (tx_hash,) = parse_params(params, [(parse.hash32, parse.REQUIRED, "hash")])
    dropped = devnet.drop_transaction(tx_hash)
    return hexb(dropped) if dropped is not None else None


@anvil.method("anvil_dropAllTransactions")
async def drop_all_transactions(devnet: Devnet, params: Any) -> None:
    parse_params(params, [])
    devnet.drop_all_transactions()


@anvil.method("anvil_removePoolTransactions")
async def remove_pool_transactions(devnet: Devnet, params: Any) -> None:
    """Remove every pooled transaction of one sender."""
    (sender,) = parse_params(params, [(parse.address, parse.REQUIRED, "address")])
    devnet.remove_pool_transactions(sender)


@anvil.method("anvil_setLoggingEnabled")
async def set_logging_enabled(devnet: Devnet, params: Any) -> None:
    (enabled,) = parse_params(params, [(parse.boolean, parse.REQUIRED, "enabled")])
    devnet.set_logging_enabled(enabled)


@anvil.method("anvil_setMinGasPrice")
async def set_min_gas_price(devnet: Devnet, params: Any) -> None:
    """Refused as anvil refuses it: a minimum gas price has no meaning under EIP-1559."""
    parse_params(params, [(parse.quantity, parse.REQUIRED, "gasPrice")])
    raise InvalidParams("anvil_setMinGasPrice is not supported when EIP-1559 is active")


anvil.alias("hardhat_impersonateAccount", "anvil_impersonateAccount")
anvil.alias("hardhat_stopImpersonatingAccount", "anvil_stopImpersonatingAccount")
anvil.alias("hardhat_mine", "anvil_mine")
anvil.alias("evm_mine_detailed", "anvil_mine_detailed")
anvil.alias("evm_setAccountNonce", "anvil_setNonce")
for _name in (
    "setBalance",
    "setNonce",
    "setCode",
    "setStorageAt",
    "reset",
    "getAutomine",
    "autoImpersonateAccount",
    "dumpState",
    "loadState",
    "addBalance",
    "metadata",
):
    anvil.alias(f"hardhat_{_name}", f"anvil_{_name}")
anvil.alias("anvil_snapshot", "evm_snapshot")
anvil.alias("anvil_revert", "evm_revert")
anvil.alias("anvil_increaseTime", "evm_increaseTime")
anvil.alias("anvil_setNextBlockTimestamp", "evm_setNextBlockTimestamp")
anvil.alias("anvil_setIntervalMining", "evm_setIntervalMining")
anvil.alias("anvil_setAutomine", "evm_setAutomine")
anvil.alias("anvil_setBlockGasLimit", "evm_setBlockGasLimit")
for _name in (
    "setCoinbase",
    "dropTransaction",
    "dropAllTransactions",
    "setLoggingEnabled",
    "setMinGasPrice",
    "setNextBlockBaseFeePerGas",
):
    anvil.alias(f"hardhat_{_name}", f"anvil_{_name}")
