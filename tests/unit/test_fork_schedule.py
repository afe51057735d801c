"""The fork schedule: genesis parsing, the chain forking at a timestamp on the L1 and on a
native-rollup L2, EXECUTE choosing the L2 rules by the L2 header's timestamp from the L1's
schedule and refusing an L2 block from the L1's future (reason 5), the pool's gas cap,
``eth_config`` and ``anvil_nodeInfo``."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from devtools.execute_inputs import encoded
from devtools.l2_blocks import L2Builder, l2_genesis
from node.chain import Chain
from node.devnet import Devnet, MiningConfig, MiningMode
from node.errors import InvalidTransaction
from node.fork import DevnetPragueVM
from node.fork.osaka import DevnetOsakaVM
from node.fork.osaka.constants import MAX_TX_GAS
from node.fork.schedule import ForkSchedule, fork_id
from node.genesis import (
    DEFAULT_L1_GENESIS,
    DEFAULT_L2_GENESIS,
    GenesisAccount,
    GenesisError,
    parse_genesis,
)
from node.simulation import CallRequest
from precompiles.execute import verify
from precompiles.execute_wire import EXECUTE_ADDRESS, Reason, encode_invalid
from rpc.server import RpcServer
from tests.unit.conftest import with_alloc

CLZ_CONTRACT = bytes(19) + b"\xc1"
CLZ_CODE = bytes.fromhex("6000351e60005260206000f3")  # return clz(calldata word 0)
L2_START = 1_700_000_000  # devtools' L2 blocks: L2_START + 12, + 24, ...
FORK = L2_START + 30  # between the second (…024) and third (…036) L2 block


def shipped(path) -> dict:
    return json.loads(path.read_text())


# -- genesis ------------------------------------------------------------------------------


def test_shipped_genesis_files_carry_one_schedule():
    l1, l2 = shipped(DEFAULT_L1_GENESIS)["config"], shipped(DEFAULT_L2_GENESIS)["config"]
    assert (l1["pragueTime"], l1["osakaTime"]) == (l2["pragueTime"], l2["osakaTime"]) == (0, 0)


def test_genesis_schedule_parsing():
    doc = shipped(DEFAULT_L1_GENESIS)
    assert parse_genesis(doc).fork_schedule == ForkSchedule(osaka_time=0)
    later = copy.deepcopy(doc)
    later["config"]["osakaTime"] = "0x10"
    assert parse_genesis(later).fork_schedule.osaka_time == 16
    never = copy.deepcopy(doc)
    del never["config"]["osakaTime"]
    assert parse_genesis(never).fork_schedule == ForkSchedule(osaka_time=None)
    for bad in ({"osakaTime": "soon"}, {"osakaTime": -1}, {"pragueTime": 5, "osakaTime": 1}):
        broken = copy.deepcopy(doc)
        broken["config"].update(bad)
        with pytest.raises(GenesisError):
            parse_genesis(broken)
    future_prague = copy.deepcopy(doc)
    future_prague["config"]["pragueTime"] = 100
    del future_prague["config"]["osakaTime"]
    with pytest.raises(GenesisError, match="Prague"):
        parse_genesis(future_prague).validate()


def test_schedule_queries():
    s = ForkSchedule(osaka_time=100)
    assert [s.fork_at(t) for t in (0, 99, 100, 10**9)] == ["prague", "prague", "osaka", "osaka"]
    assert s.next_after(50) == ("osaka", 100) and s.next_after(100) is None
    assert s.describe(0) == "prague (osaka at 100)" and s.describe(100) == "osaka"
    assert ForkSchedule.pinned("prague").fork_at(10**12) == "prague"
    with pytest.raises(ValueError):
        ForkSchedule.pinned("cancun")


def test_fork_id_changes_at_a_fork_after_genesis():
    genesis_hash = bytes(32)
    s = ForkSchedule(osaka_time=100)
    assert fork_id(genesis_hash, 0, s, 99) == fork_id(genesis_hash, 0, s, 0)
    assert fork_id(genesis_hash, 0, s, 100) != fork_id(genesis_hash, 0, s, 99)
    # Forks at genesis do not count (EIP-6122).
    assert fork_id(genesis_hash, 0, ForkSchedule(osaka_time=0), 5) == fork_id(
        genesis_hash, 0, ForkSchedule.pinned("prague"), 5
    )


# -- the upgrade: an L2 forks with its L1 ---------------------------------------------------


class Upgrade:
    """An L1 and an L2 on one schedule (Osaka at FORK); the L2 holds a CLZ contract."""

    def __init__(self, genesis):
        schedule = ForkSchedule(osaka_time=FORK)
        l1_genesis = replace(genesis, fork_schedule=schedule, timestamp=L2_START - 1000)
        self.l1 = Chain(l1_genesis)
        l2 = replace(
            with_alloc(l2_genesis(), {CLZ_CONTRACT: GenesisAccount(code=CLZ_CODE)}),
            fork_schedule=schedule,
        )
        self.l2 = L2Builder(chain=Chain(l2))
        self.blocks = [
            self.l2.build(
                [self.l2.tx(0, to=CLZ_CONTRACT, data=bytes(31) + b"\x01", gas=60_000)],
                expect_all=False,
            )
            for _ in range(4)
        ]

    def execute_at(self, l1_timestamp: int, payload: bytes):
        """EXECUTE called directly (eth_call) in the context of an L1 block at
        ``l1_timestamp``: the L1 is mined up to it first."""
        if self.l1.head.timestamp < l1_timestamp:
            self.l1.build_block([], timestamp=l1_timestamp)
        return self.l1.call(
            CallRequest(sender=bytes(19) + b"\x01", to=EXECUTE_ADDRESS, data=payload),
            self.l1.head,
        )


@pytest.fixture(scope="module")
def upgrade():
    from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
    from node.genesis import load_genesis

    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
    genesis = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in accounts], 10**24)
    return Upgrade(genesis)


def test_l2_clz_fails_before_the_fork_and_succeeds_after(upgrade):
    stamps = [b.block.header.timestamp for b in upgrade.blocks]
    assert stamps[1] < FORK <= stamps[2]
    statuses = [b.receipts[0].status for b in upgrade.blocks]
    assert statuses == [0, 0, 1, 1]
    # eth_call at an L2 block on each side answers under that block's rules.
    word = bytes(31) + b"\x01"
    before = upgrade.l2.chain.call(
        CallRequest(to=CLZ_CONTRACT, data=word), upgrade.blocks[1].block.header
    )
    after = upgrade.l2.chain.call(
        CallRequest(to=CLZ_CONTRACT, data=word), upgrade.blocks[2].block.header
    )
    assert before.error is not None and "Osaka" in str(before.error)
    assert after.error is None and after.output == (255).to_bytes(32, "big")


def test_execute_settles_both_sides_under_each_blocks_rules(upgrade):
    for built in upgrade.blocks:
        payload = encoded(upgrade.l2.input_for(built.block))
        result = upgrade.execute_at(FORK + 1000, payload)
        assert result.error is None, (built.block.header.timestamp, result.error, result.output)
        assert result.output[5 * 32 : 6 * 32] == built.block.hash  # the L2 block hash


def test_the_other_forks_rules_disagree(upgrade):
    # The same inputs re-executed under the wrong fork do not verify: the rules matter.
    before = upgrade.l2.input_for(upgrade.blocks[1].block)
    after = upgrade.l2.input_for(upgrade.blocks[2].block)
    assert verify(before, DevnetPragueVM).valid and not verify(before, DevnetOsakaVM).valid
    assert verify(after, DevnetOsakaVM).valid and not verify(after, DevnetPragueVM).valid


def test_execute_refuses_an_l2_block_from_the_l1s_future(upgrade):
    block = upgrade.blocks[3].block
    payload = encoded(upgrade.l2.input_for(block))
    chain = Chain(replace(upgrade.l1.genesis))
    chain.build_block([], timestamp=block.header.timestamp - 1)
    result = chain.call(
        CallRequest(sender=bytes(19) + b"\x01", to=EXECUTE_ADDRESS, data=payload), chain.head
    )
    assert result.error is not None and result.output == encode_invalid(Reason.HEADER_RULE)
    # One second later the same input settles.
    chain.build_block([], timestamp=block.header.timestamp)
    ok = chain.call(
        CallRequest(sender=bytes(19) + b"\x01", to=EXECUTE_ADDRESS, data=payload), chain.head
    )
    assert ok.error is None


def test_execute_rejects_a_transaction_above_the_gas_cap_as_reason_6(upgrade):
    # An L2 block whose one transaction asks for 2^24 + 1 gas: valid under Prague's rules
    # (built by a Prague-pinned L2), invalid under Osaka's.
    schedule = ForkSchedule.pinned("prague")
    big = replace(l2_genesis(), fork_schedule=schedule, gas_limit=30_000_000)
    prague_l2 = L2Builder(chain=Chain(big))
    built = prague_l2.build([prague_l2.tx(0, gas=MAX_TX_GAS + 1)])
    inp = prague_l2.input_for(built.block)
    assert verify(inp, DevnetPragueVM).valid
    assert verify(inp, DevnetOsakaVM).reason == Reason.INVALID_TRANSACTION


# -- the pool and RPC --------------------------------------------------------------------------


@pytest.fixture
async def node(genesis, dev_accounts):
    devnet = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    yield devnet
    await devnet.stop()


async def test_pool_refuses_a_transaction_above_the_cap(node, txs, dev_accounts):
    tx = txs.dynamic(dev_accounts[0].private_key, 0, gas=MAX_TX_GAS + 1)
    with pytest.raises(InvalidTransaction, match="transaction gas limit too high"):
        await node.submit(tx)
    assert await node.submit(txs.dynamic(dev_accounts[0].private_key, 0, gas=MAX_TX_GAS))


async def test_send_raw_transaction_error_is_clear(node, txs, dev_accounts):
    server = RpcServer(node)
    raw = txs.dynamic(dev_accounts[0].private_key, 0, gas=MAX_TX_GAS + 1).encode()
    answer = await server.handle_one(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + raw.hex()],
        }
    )
    message = answer["error"]["message"]
    assert "transaction gas limit too high" in message and str(MAX_TX_GAS) in message


async def test_send_transaction_with_a_gas_above_the_cap(node, dev_accounts):
    server = RpcServer(node)
    sender = "0x" + dev_accounts[0].address.hex()
    answer = await server.handle_one(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendTransaction",
            "params": [{"from": sender, "to": sender, "gas": hex(MAX_TX_GAS + 1)}],
        }
    )
    assert "transaction gas limit too high" in answer["error"]["message"]


async def test_pool_cap_follows_the_next_blocks_fork(genesis, dev_accounts, txs):
    pinned = replace(genesis, fork_schedule=ForkSchedule.pinned("prague"))
    devnet = Devnet(pinned, dev_accounts, MiningConfig(MiningMode.MANUAL))
    try:
        assert await devnet.submit(txs.dynamic(dev_accounts[0].private_key, 0, gas=MAX_TX_GAS + 1))
    finally:
        await devnet.stop()


async def test_eth_config_and_node_info(genesis, dev_accounts):
    later = replace(genesis, timestamp=1000, fork_schedule=ForkSchedule(osaka_time=2000))
    devnet = Devnet(later, dev_accounts, MiningConfig(MiningMode.MANUAL))
    server = RpcServer(devnet)

    async def ask(method):
        answer = await server.handle_one(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
        )
        assert "error" not in answer, answer
        return answer["result"]

    try:
        config = await ask("eth_config")
        assert config["current"]["activationTime"] == 0
        assert "P256VERIFY" not in config["current"]["precompiles"]
        assert config["current"]["precompiles"]["EXECUTE"] == "0x" + EXECUTE_ADDRESS.hex()
        assert config["current"]["chainId"] == hex(genesis.chain_id)
        assert config["next"]["activationTime"] == 2000
        assert config["next"]["precompiles"]["P256VERIFY"] == "0x" + "00" * 18 + "0100"
        assert config["next"]["forkId"] != config["current"]["forkId"]
        assert config["last"] == config["next"]
        assert set(config["current"]["systemContracts"]) >= {
            "BEACON_ROOTS_ADDRESS",
            "HISTORY_STORAGE_ADDRESS",
        }
        assert (await ask("anvil_nodeInfo"))["hardFork"] == "prague"
        mined = await server.handle_one(
            {"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": [2000]}
        )
        assert "error" not in mined, mined
        config = await ask("eth_config")
        assert config["current"]["activationTime"] == 2000 and config["next"] is None
        assert "P256VERIFY" in config["current"]["precompiles"]
        assert (await ask("anvil_nodeInfo"))["hardFork"] == "osaka"
    finally:
        await devnet.stop()


def test_the_l1_time_rule_comes_after_reasons_1_to_4(upgrade):
    block = upgrade.blocks[3].block
    inp = upgrade.l2.input_for(block)
    chain = Chain(replace(upgrade.l1.genesis))
    chain.build_block([], timestamp=block.header.timestamp - 1)

    def reason(payload: bytes) -> bytes:
        result = chain.call(
            CallRequest(sender=bytes(19) + b"\x01", to=EXECUTE_ADDRESS, data=payload), chain.head
        )
        return result.output

    assert reason(encoded(inp, witness=b"\xff")) == encode_invalid(Reason.WITNESS_ENCODING)
    assert reason(encoded(inp, parent_hash=bytes(32))) == encode_invalid(
        Reason.PARENT_NOT_IN_WITNESS
    )
    # A later failure (the post-state root) is answered as the header rule it follows.
    assert reason(encoded(inp, post_state_root=bytes(32))) == encode_invalid(Reason.HEADER_RULE)


def test_a_data_directory_keeps_its_schedule(tmp_path):
    from node.fork.schedule import check_stored_schedule
    from node.storage import open_database

    db = open_database(tmp_path / "chain")
    check_stored_schedule(db, ForkSchedule(osaka_time=100))
    check_stored_schedule(db, ForkSchedule(osaka_time=100))  # the same: fine
    for other in (ForkSchedule.pinned("prague"), ForkSchedule(osaka_time=0)):
        with pytest.raises(GenesisError, match="fork schedule"):
            check_stored_schedule(db, other)
    db.close()


async def test_traces_name_clz_as_each_fork_does(genesis, dev_accounts):
    from tests.unit.conftest import with_alloc

    clz = {CLZ_CONTRACT: GenesisAccount(code=CLZ_CODE)}
    later = replace(
        with_alloc(genesis, clz), timestamp=1000, fork_schedule=ForkSchedule(osaka_time=2000)
    )
    devnet = Devnet(later, dev_accounts, MiningConfig(MiningMode.MANUAL))
    server = RpcServer(devnet)

    async def ops() -> list[str]:
        call = {"to": "0x" + CLZ_CONTRACT.hex(), "data": "0x" + "00" * 31 + "01"}
        answer = await server.handle_one(
            {"jsonrpc": "2.0", "id": 1, "method": "debug_traceCall", "params": [call, "latest"]}
        )
        return [log["op"] for log in answer["result"]["structLogs"]]

    try:
        assert (await ops())[-1] == "opcode 0x1e not defined"  # geth's words, before Osaka
        await server.handle_one({"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": [2000]})
        assert "CLZ" in await ops()
    finally:
        await devnet.stop()


async def test_simulate_v1_runs_each_block_under_its_fork(genesis, dev_accounts):
    from tests.unit.conftest import with_alloc

    clz = {CLZ_CONTRACT: GenesisAccount(code=CLZ_CODE)}
    later = replace(
        with_alloc(genesis, clz), timestamp=1000, fork_schedule=ForkSchedule(osaka_time=2000)
    )
    devnet = Devnet(later, dev_accounts, MiningConfig(MiningMode.MANUAL))
    server = RpcServer(devnet)
    call = {"to": "0x" + CLZ_CONTRACT.hex(), "data": "0x" + "00" * 31 + "01"}
    blocks = [
        {"blockOverrides": {"time": hex(1500)}, "calls": [call]},
        {"blockOverrides": {"time": hex(2000)}, "calls": [call]},
    ]
    try:
        for trace_transfers in (False, True):
            request = {"blockStateCalls": blocks, "traceTransfers": trace_transfers}
            answer = await server.handle_one(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_simulateV1", "params": [request]}
            )
            before, after = (block["calls"][0] for block in answer["result"])
            assert before["status"] == "0x0" and after["status"] == "0x1", answer
            assert after["returnData"] == "0x" + "00" * 31 + "ff"
    finally:
        await devnet.stop()
