"""Parallel pre-verification of EXECUTE inputs (node/preverify.py, precompiles/preverified.py).

In process: an L1 ``Chain`` (genesis/l1.json, dev accounts funded, ExecuteCaller in the
alloc, a genesis time after the L2 blocks'), small L2 blocks from ``devtools.l2_blocks``,
and real worker processes (spawned; one pool shared by most tests).

- a transaction calling EXECUTE directly, or through a contract (the extraction simulation),
  has its input verified by a worker; the block built afterwards finds the verdict, and is
  the block built without pre-verification;
- an entry is trusted only for the same bytes and the same L2 rules; the answer that
  depends on the calling L1 block (an L2 timestamp later than it) is never taken from it;
- a worker killed mid-job fails its job, the block is built with inline verification and
  holds the transaction, and the pool comes back;
- a verdict in the making is waited for at most the timeout; the queue limit and the
  flags' bounds hold.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from devtools.contracts import load
from devtools.execute_inputs import encoded
from devtools.l2_blocks import L2_VM, L2Builder
from node import preverify
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.genesis import DEFAULT_L1_GENESIS, DEFAULT_L2_GENESIS, GenesisAccount, load_genesis
from node.preverify import Preverifier, execute_precompile_of, rules_for, start_preverifier
from precompiles.execute import verify
from precompiles.execute_wire import EXECUTE_ADDRESS, decode_execute_input
from precompiles.preverified import PreverifiedVerdicts, rules_key
from precompiles.verdict import Verdict
from rpc import cli_flags
from rpc.cli_flags import build_parser
from rpc.cli_run import make_devnet

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
FUNDED = 10_000 * 10**18
GWEI = 10**9
CALLER = bytes.fromhex("ec" * 20)  # ExecuteCaller in the genesis alloc
L1_TIME = 2_000_000_000


def l1_genesis(timestamp: int = L1_TIME):
    genesis = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in DEV], FUNDED)
    alloc = dict(genesis.alloc)
    alloc[CALLER] = GenesisAccount(code=bytes.fromhex(load("ExecuteCaller").deployed_bytecode[2:]))
    genesis = replace(genesis, alloc=alloc, timestamp=timestamp)
    genesis.validate()
    return genesis


@pytest.fixture(scope="module")
def inputs() -> list[bytes]:
    """EXECUTE inputs of three different small L2 blocks."""
    l2 = L2Builder()
    out = []
    for i in range(3):
        block = l2.build([l2.tx(i, value=10**15 + i), l2.tx(i + 3, to=b"\x12" * 20)]).block
        out.append(encoded(l2.input_for(block)))
    return out


@pytest.fixture(scope="module")
def pool():
    """Two warm workers, shared (a preverifier handed a pool does not shut it down)."""
    warm = Preverifier(Chain(l1_genesis()), workers=2)
    warm.warm_up()
    shared = warm.detach_pool()
    warm.close()
    yield shared
    shared.shutdown(wait=True, cancel_futures=True)


def l1_tx(chain: Chain, key_index: int, data: bytes, to: bytes = EXECUTE_ADDRESS, nonce: int = 0):
    zeros = data.count(0)
    gas = 21_000 + 10 * (zeros + 4 * (len(data) - zeros)) + 400_000
    unsigned = chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
        chain.chain_id, nonce, GWEI, 4 * chain.next_base_fee() + GWEI, gas, to, 0, data, []
    )
    return unsigned.as_signed_transaction(DEV[key_index].private_key)


def call_through_caller(payload: bytes) -> bytes:
    return keccak(b"callExecute(bytes)")[:4] + encode(["bytes"], [payload])


def build(chain: Chain, txs: list, timestamp: int = L1_TIME + 12):
    built = chain.build_block(txs, timestamp=timestamp)
    assert not built.skipped, [str(s.error) for s in built.skipped]
    return built


# -- the happy paths ---------------------------------------------------------------------


def test_direct_calls_are_verified_by_workers_and_found_by_the_block(inputs, pool):
    inline_chain = Chain(l1_genesis())
    inline = build(inline_chain, [l1_tx(inline_chain, i, d) for i, d in enumerate(inputs)])

    chain = Chain(l1_genesis())
    pre = Preverifier(chain, workers=2, pool=pool)
    try:
        txs = [l1_tx(chain, i, d) for i, d in enumerate(inputs)]
        for tx in txs:
            pre.on_pending(tx, tx.sender)
        assert pre.stats["submitted"] == 3
        assert pre.idle(120)
        built = build(chain, txs)
        assert pre.store.hits == 3  # no inline verification
        assert pre.stats["verified"] == 3
    finally:
        pre.close()
    assert [r.status for r in built.receipts] == [1, 1, 1]
    assert built.block.header.state_root == inline.block.header.state_root
    assert built.block.header.receipt_root == inline.block.header.receipt_root
    # The market reserved on the workers' total gas (no decoding on the builder's thread):
    # the same execute gas and fees as inline.
    assert built.block.header.execute_gas_used == inline.block.header.execute_gas_used


def test_a_call_through_a_contract_is_extracted_by_simulation(inputs, pool):
    chain = Chain(l1_genesis())
    pre = Preverifier(chain, workers=2, pool=pool)
    try:
        tx = l1_tx(chain, 0, call_through_caller(inputs[0]), to=CALLER)
        assert pre.extract(tx, tx.sender) == [
            (inputs[0], decode_execute_input(inputs[0]).timestamp)
        ]
        pre.on_pending(tx, tx.sender)
        assert pre.idle(120)
        assert pre.stats["verified"] == 1
        built = build(chain, [tx])
        assert pre.store.hits == 1
        assert built.receipts[0].status == 1
    finally:
        pre.close()


def test_a_transaction_without_execute_extracts_nothing(pool):
    chain = Chain(l1_genesis())
    pre = Preverifier(chain, workers=2, pool=pool)
    try:
        tx = l1_tx(chain, 0, b"", to=b"\x42" * 20)
        assert pre.extract(tx, tx.sender) == []
    finally:
        pre.close()


# -- what an entry is trusted for --------------------------------------------------------


def test_entries_hold_only_for_the_same_bytes_and_rules(inputs):
    store = PreverifiedVerdicts(wait_timeout=0.1)
    rules = rules_key(L2_VM)
    assert rules is not None
    entry = store.expect(inputs[0], rules)
    verdict = verify(decode_execute_input(inputs[0]), L2_VM)
    store.fulfil(entry, verdict)
    assert store.lookup(inputs[0], L2_VM) == verdict
    assert store.lookup(inputs[1], L2_VM) is None  # other bytes

    class OtherRules(L2_VM):
        pass

    assert rules_key(OtherRules) is None  # made at run time: no worker can rebuild it
    assert store.lookup(inputs[0], OtherRules) is None
    # An entry whose bytes differ from the input's (a forged or colliding entry) is ignored.
    forged = store.expect(inputs[1], rules)
    forged.data = inputs[2]
    store.fulfil(forged, Verdict(reason=None, block_hash=b"\x66" * 32))
    assert store.lookup(inputs[1], L2_VM) is None


def test_an_l2_block_later_than_the_l1_block_is_refused_even_if_preverified(inputs, pool):
    """The v1.1 rule depends on the calling L1 block, not on the input: it is decided before
    the cache is consulted, whatever the pre-verified verdict says."""
    data = inputs[0]
    l2_time = decode_execute_input(data).timestamp
    outcomes = {}
    for l1_time in (l2_time - 50, l2_time + 50):
        chain = Chain(l1_genesis(timestamp=l2_time - 100))
        pre = Preverifier(chain, workers=2, pool=pool)
        try:
            tx = l1_tx(chain, 0, data)
            pre.on_pending(tx, tx.sender)
            assert pre.idle(120)
            rules = rules_for(pre.precompile, l2_time)
            assert pre.store.lookup(data, rules).valid  # the worker found the L2 block valid
            built = build(chain, [tx], timestamp=l1_time)
            outcomes[l1_time] = built.receipts[0].status
        finally:
            pre.close()
    # EXECUTE reverted in the L1 block before the L2 block's time, succeeded after it.
    assert outcomes == {l2_time - 50: 0, l2_time + 50: 1}


# -- failures ----------------------------------------------------------------------------


def test_a_worker_killed_mid_job_loses_nothing(inputs):
    chain = Chain(l1_genesis())
    pre = Preverifier(chain, workers=1)
    try:
        pre.warm_up()
        (pid,) = pre.worker_pids()
        tx = l1_tx(chain, 0, inputs[0])
        pre.on_pending(tx, tx.sender)
        os.kill(pid, signal.SIGKILL)
        assert pre.idle(120)
        assert pre.stats["worker_crashes"] == 1
        assert pre.stats["pool_restarts"] == 1
        built = build(chain, [tx])  # verified inline
        assert built.receipts[0].status == 1
        assert pre.store.hits == 0
        # The pool is back: the next input is verified by a worker again.
        later = l1_tx(chain, 1, inputs[1])
        pre.on_pending(later, later.sender)
        assert pre.idle(120)
        assert pre.stats["verified"] == 1
    finally:
        pre.close()


def test_a_verdict_in_the_making_is_waited_for_at_most_the_timeout(inputs):
    store = PreverifiedVerdicts(wait_timeout=0.05)
    rules = rules_key(L2_VM)
    store.expect(inputs[0], rules)  # never fulfilled: a stuck worker
    assert store.lookup(inputs[0], L2_VM) is None
    assert store.late == 1


def test_a_queued_job_behind_a_full_round_is_taken_back(inputs):
    store = PreverifiedVerdicts(wait_timeout=30)
    store.parallelism = 1
    rules = rules_key(L2_VM)
    store.expect(inputs[0], rules)  # running, never done
    queued = store.expect(inputs[1], rules)
    taken = threading.Event()

    def cancel() -> bool:
        taken.set()
        store.fail(queued)
        return True

    queued.cancel = cancel
    assert store.lookup(inputs[1], L2_VM) is None  # at once, not after 30 s
    assert taken.is_set()


def test_the_queue_limit_holds(inputs, pool):
    chain = Chain(l1_genesis())
    pre = Preverifier(chain, workers=2, queue_limit=1, pool=pool)
    try:
        assert pre.preverify(inputs[0], decode_execute_input(inputs[0]).timestamp)
        assert not pre.preverify(inputs[1], decode_execute_input(inputs[1]).timestamp)
        assert pre.stats["queue_full"] == 1
        assert pre.idle(120)
    finally:
        pre.close()


@pytest.mark.parametrize(
    "kwargs",
    [{"workers": 0}, {"workers": 65}, {"queue_limit": 0}, {"timeout": -1}],
)
def test_flags_out_of_bounds_are_refused(kwargs):
    with pytest.raises(ValueError):
        Preverifier(Chain(l1_genesis()), pool=ProcessPoolExecutor(1), **kwargs)


def test_a_chain_without_execute_is_refused():
    l2 = L2Builder()
    assert execute_precompile_of(l2.chain.vm_class) is None
    with pytest.raises(ValueError):
        Preverifier(l2.chain, workers=1)


# -- the node's flags --------------------------------------------------------------------


async def test_the_node_flag_preverifies_pooled_execute_calls(inputs):
    """``--preverify`` on an L1 node: a transaction entering the pool is pre-verified, and
    the block mined afterwards finds the verdict."""
    args = build_parser().parse_args(
        ["--genesis", str(DEFAULT_L1_GENESIS), "--silent", "--no-mining", "--preverify",
         "--preverify-workers", "1"]
    )  # fmt: skip
    devnet = make_devnet(args)
    pre = start_preverifier(
        devnet, args.preverify_workers, args.preverify_queue, args.preverify_timeout
    )
    try:
        assert pre is not None and devnet.pending_listeners[-1] == pre.on_pending
        tx = l1_tx(devnet.chain, 0, inputs[0])
        await devnet.send_raw_transaction(tx.encode())
        assert pre.idle(120)
        assert pre.stats["verified"] == 1
        built = await devnet.mine()
        assert [r.status for r in built.receipts] == [1]
        assert pre.store.hits == 1
    finally:
        pre.close()
        await devnet.stop()


def test_an_l2_node_has_nothing_to_preverify():
    args = build_parser().parse_args(["--genesis", str(DEFAULT_L2_GENESIS), "--silent"])
    devnet = make_devnet(args)
    assert start_preverifier(devnet, 1) is None


@pytest.mark.parametrize(
    "flags",
    [
        ["--preverify-workers", "0"],
        ["--preverify-workers", "65"],
        ["--preverify-queue", "0"],
        ["--preverify-timeout", "-1"],
    ],
)
def test_flag_values_out_of_bounds_are_usage_errors(flags):
    with pytest.raises(SystemExit):
        build_parser().parse_args(flags)


def test_flag_defaults_are_the_modules():
    assert cli_flags.PREVERIFY_QUEUE_LIMIT == preverify.DEFAULT_QUEUE_LIMIT
    assert cli_flags.PREVERIFY_TIMEOUT == preverify.DEFAULT_TIMEOUT
    assert cli_flags.MAX_PREVERIFY_WORKERS == preverify.MAX_WORKERS
