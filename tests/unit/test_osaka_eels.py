"""Osaka against the Ethereum execution specs (EELS, ``ethereum-execution``), and EXECUTE on
the same blocks.

Random native-rollup L2 blocks (genesis/l2.json's chain, Osaka from genesis, the gas limit
raised to 100M so a block over EIP-7934's RLP cap fits) using CLZ, P256VERIFY (valid and
invalid inputs), MODEXP at and past EIP-7823's bounds at EIP-7883's prices and transfers at
and above 2^24 gas (``devtools/osaka_blocks.py``). For every block, EELS's Osaka
``state_transition`` (which checks the state root, receipts root, gas used and bloom) and the
node's import agree it is valid, and agree a copy with a wrong state root is not; the same
holds for a block holding a 2^24 + 1 gas transaction (built by a Prague twin) and for one
over EIP-7934's RLP cap. EXECUTE, called in an L1 Osaka block, accepts every valid block
and rejects the mutations with NR-EXECUTE's reasons: 10 (post-state root), 6 (a transaction
above the cap), 5 (the RLP cap).

Size: ``OSAKA_EELS_BLOCKS`` (default 24 blocks) and ``OSAKA_EELS_SEED`` (default 1).
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import rlp
from eth_hash.auto import keccak

from devtools.execute_inputs import encoded, input_from_chain
from devtools.l2_blocks import dev_keys, l2_genesis
from devtools.osaka_blocks import (
    CLZ_CONTRACT,
    MODEXP_CONTRACT,
    P256_CONTRACT,
    START,
    above_cap_block,
    build_blocks,
    eels_chain,
    eels_import,
    genesis_alloc,
    node_import,
    osaka_genesis,
    oversize_block,
    with_state_root,
)
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.fork import DevnetPragueVM
from node.fork.osaka.constants import MAX_TX_GAS
from node.genesis import DEFAULT_L1_GENESIS, load_genesis
from node.simulation import CallRequest
from precompiles.execute import verify
from precompiles.execute_wire import EXECUTE_ADDRESS, Reason, encode_invalid

BLOCKS = int(os.environ.get("OSAKA_EELS_BLOCKS", "24"))
SEED = int(os.environ.get("OSAKA_EELS_SEED", "1"))
WRONG_ROOT = keccak(b"not the state root")


class Run:
    """The L2 blocks, their mutations, and an L1 Osaka chain that runs EXECUTE."""

    def __init__(self) -> None:
        self.keys = dev_keys()[:4]
        self.genesis = osaka_genesis(l2_genesis(), gas_limit=100_000_000)
        self.chain, self.built = build_blocks(self.genesis, self.keys, SEED, BLOCKS)
        self.twin, self.above_cap = above_cap_block(self.genesis, self.keys[0])
        self.big_twin, self.oversize = oversize_block(self.genesis, self.keys[0])
        accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 2)
        l1 = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in accounts], 10**24)
        # Execute gas: a block with a transaction at the 2^24 cap reserves up to its gas limit.
        l1 = replace(l1, execute=replace(l1.execute, gas_limit=10**8, gas_target=5 * 10**7))
        assert l1.fork_schedule.fork_at(0) == "osaka" and l1.execute.enabled
        self.l1 = Chain(l1)
        self.l1.build_block([], timestamp=START + 12 * (BLOCKS + 1))  # after every L2 block
        self.caller = accounts[1].address

    def eels(self):
        header = rlp.encode(self.chain.header_by_number(0))
        return eels_chain(header, genesis_alloc(self.genesis), self.chain.chain_id)

    def execute(self, payload: bytes):
        request = CallRequest(sender=self.caller, to=EXECUTE_ADDRESS, data=payload)
        return self.l1.call(request, self.l1.head)


@pytest.fixture(scope="module")
def run() -> Run:
    return Run()


def test_the_blocks_use_every_osaka_feature(run):
    included = [tx for b in run.built for tx in b.block.transactions]
    targets = {tx.to for tx in included}
    assert {CLZ_CONTRACT, P256_CONTRACT, MODEXP_CONTRACT} <= targets
    assert any(tx.gas == MAX_TX_GAS for tx in included)
    assert not any(tx.gas > MAX_TX_GAS for tx in included)
    skipped = [s.transaction for b in run.built for s in b.skipped]
    assert any(tx.gas == MAX_TX_GAS + 1 for tx in skipped)
    # Block 1: MODEXP at EIP-7823's bound answers (its STATICCALL succeeds: slot 0x1000 is
    # 1), past it fails and takes the gas it was given (the transaction runs out of gas).
    first = run.built[0]
    modexp = [
        (len(tx.data), receipt.status)
        for tx, receipt in zip(first.block.transactions, first.receipts, strict=True)
        if tx.to == MODEXP_CONTRACT
    ]
    assert modexp == [(32 * 3 + 1, 1), (32 * 3 + 2 + 1024, 1), (32 * 3 + 2 + 1025, 0)]
    assert run.chain.storage(MODEXP_CONTRACT, 0x1000, first.block.header) == 1


def test_eels_and_the_node_agree_on_every_block(run):
    eels = run.eels()
    node = Chain(run.genesis)
    for built in run.built:
        block = built.block
        wrong = with_state_root(block, WRONG_ROOT)
        assert eels_import(eels, rlp.encode(wrong)) is not None
        assert node_import(node, wrong) is not None
        assert eels_import(eels, rlp.encode(block)) is None, block.header.block_number
        assert node_import(node, block) is None, block.header.block_number
    from ethereum.forks.osaka.state import state_root

    assert state_root(eels.state) == run.built[-1].block.header.state_root


def test_a_transaction_above_the_cap_is_invalid_for_both(run):
    eels_says = eels_import(run.eels(), rlp.encode(run.above_cap))
    node_says = node_import(Chain(run.genesis), run.above_cap)
    assert eels_says is not None and "GasLimit" in eels_says + repr(eels_says)
    assert node_says is not None and "transaction gas limit too high" in node_says
    # The check is sensitive: the Prague twin's block is fine under Prague.
    assert run.twin.head.hash == run.above_cap.hash


def test_a_block_over_the_rlp_cap_is_invalid_for_both(run):
    eels_says = eels_import(run.eels(), rlp.encode(run.oversize))
    node_says = node_import(Chain(run.genesis), run.oversize)
    assert eels_says is not None and "MAX_RLP_BLOCK_SIZE" in eels_says
    assert node_says is not None and "EIP-7934" in node_says


def test_execute_accepts_every_valid_block(run):
    for built in run.built:
        result = run.execute(encoded(input_from_chain(run.chain, built.block)))
        assert result.error is None, (built.block.header.block_number, result.output)
        assert result.output[5 * 32 : 6 * 32] == built.block.hash


def test_execute_rejects_each_mutation_with_its_reason(run):
    for built in run.built:
        inp = input_from_chain(run.chain, built.block)
        result = run.execute(encoded(inp, post_state_root=WRONG_ROOT))
        assert result.output == encode_invalid(Reason.POST_STATE_ROOT)
    result = run.execute(encoded(input_from_chain(run.twin, run.above_cap)))
    assert result.output == encode_invalid(Reason.INVALID_TRANSACTION)


def test_execute_rejects_a_block_over_the_rlp_cap_with_reason_5(run):
    # No L1 transaction can carry an 8 MiB EXECUTE input (its calldata gas is far above
    # the 2^24 cap), so this asks the L1 Osaka VM's EXECUTE precompile for its verdict.
    vm_class = run.l1.vm_factory.vm(run.l1.head).__class__
    precompile = vm_class.get_state_class().computation_class._precompiles[EXECUTE_ADDRESS]
    big = input_from_chain(run.big_twin, run.oversize)
    verdict = precompile.verdicts.get_or_verify(encoded(big), big, None)
    assert verdict.reason == Reason.HEADER_RULE and "EIP-7934" in verdict.detail, verdict
    # The same block is valid under Prague's rules: the size is what Osaka refuses.
    assert verify(big, DevnetPragueVM).valid
