"""Each py-evm 0.12.1b1 defect fixed in ``node.fork`` (docs/DEPARTURES.md), proven both ways.

Every defect test asserts the correct behaviour and runs twice: on the devnet's classes
(``DevnetPragueVM`` / ``DevnetPragueState``), where it must pass, and on stock py-evm
(``PragueVM`` / ``PragueState``), where it is marked ``xfail(strict=True)``: if stock py-evm
ever behaved correctly, the XPASS would fail the suite and the fix could be dropped.

Transactions go through py-evm's full ``vm.import_block`` pipeline (as for a peer's block,
no builder mode), so a rejection surfaces as py-evm's ``ValidationError``. Tests that pin
behaviour which must *stay* valid after the fixes (pre-EIP-155 legacy, a 7702-delegated
sender, the init code limit itself, known ancestors) run on both classes without xfail.
"""

from __future__ import annotations

import pytest
from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.exceptions import OutOfGas
from eth.vm.chain_context import ChainContext
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth_utils import ValidationError

from node.chain import Chain
from node.errors import InvalidTransaction, MissingAncestorHash, TxRejection
from node.fork import DevnetPragueVM
from node.fork.state import DevnetPragueState
from node.fork.validation import calldata_floor_gas
from node.genesis import GenesisAccount
from tests.unit.conftest import CHAIN_ID, DEFAULT_MAX_FEE, PyEvmTestChain

DELEGATION_PREFIX = b"\xef\x01\x00"


# How a correct-behaviour test fails on stock py-evm: an assertion (or pytest.raises finding
# nothing). Anything else (a TypeError in the test itself, say) is a real error, not an xfail.
ASSERTION_FAILED = (AssertionError, pytest.fail.Exception)


def stock_defect(defect: str, raises=ASSERTION_FAILED):
    return pytest.mark.xfail(strict=True, raises=raises, reason=f"py-evm 0.12.1b1 defect: {defect}")


def vms(defect: str, raises=ASSERTION_FAILED) -> list:
    """Our VM (must pass) and stock py-evm's PragueVM (must fail because of ``defect``)."""
    return [
        pytest.param(DevnetPragueVM, id="devnet"),
        pytest.param(PragueVM, id="stock", marks=stock_defect(defect, raises)),
    ]


def states(defect: str) -> list:
    """Our state class (must pass) and stock py-evm's PragueState (must fail)."""
    return [
        pytest.param(DevnetPragueState, id="devnet"),
        pytest.param(PragueState, id="stock", marks=stock_defect(defect)),
    ]


BOTH_VMS = [pytest.param(DevnetPragueVM, id="devnet"), pytest.param(PragueVM, id="stock")]


def assert_rejected(chain, tx, kind: TxRejection) -> None:
    """Importing a block with ``tx`` fails as an invalid transaction; the head stays."""
    head = chain.head
    with pytest.raises(ValidationError) as caught:
        chain.import_transactions([tx])
    if isinstance(caught.value, InvalidTransaction):
        assert caught.value.kind is kind
    assert chain.head == head


# -- chain id (replay protection) -------------------------------------------------------------


@pytest.mark.parametrize("vm_class", vms("a typed tx signed for another chain is accepted"))
def test_typed_tx_for_another_chain_is_rejected(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(vm_class)
    tx = txs.dynamic(dev_accounts[0].private_key, 0, value=1, chain_id=1)
    assert_rejected(chain, tx, TxRejection.WRONG_CHAIN_ID)


@pytest.mark.parametrize("vm_class", vms("an EIP-155 legacy tx for another chain is accepted"))
def test_eip155_legacy_tx_for_another_chain_is_rejected(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(vm_class)
    tx = txs.legacy(dev_accounts[0].private_key, 0, value=1, chain_id=1)
    assert tx.chain_id == 1
    assert_rejected(chain, tx, TxRejection.WRONG_CHAIN_ID)


@pytest.mark.parametrize("vm_class", BOTH_VMS)
def test_pre_eip155_and_own_chain_legacy_txs_stay_valid(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(vm_class)
    key = dev_accounts[0].private_key
    unprotected = txs.legacy(key, 0, value=1, chain_id=None)
    protected = txs.legacy(key, 1, value=1, chain_id=CHAIN_ID)
    assert unprotected.chain_id is None
    imported = chain.import_transactions([unprotected, protected])
    assert list(imported.block.transactions) == [unprotected, protected]
    assert [r.state_root for r in imported.receipts] == [b"\x01", b"\x01"]


# -- EIP-3607: senders with code ----------------------------------------------------------------


@pytest.mark.parametrize("vm_class", vms("EIP-3607: a sender with code is accepted"))
def test_sender_with_code_is_rejected(vm_class, pyevm_chain, dev_accounts, txs):
    sender = dev_accounts[1]
    chain = pyevm_chain(
        vm_class, {sender.address: GenesisAccount(balance=10**21, code=b"\x60\x00\x00")}
    )
    assert_rejected(chain, txs.dynamic(sender.private_key, 0, value=1), TxRejection.SENDER_NOT_EOA)


@pytest.mark.parametrize("vm_class", BOTH_VMS)
def test_sender_with_7702_delegation_is_allowed(vm_class, pyevm_chain, dev_accounts, txs):
    sender = dev_accounts[1]
    delegation = DELEGATION_PREFIX + b"\x22" * 20
    chain = pyevm_chain(vm_class, {sender.address: GenesisAccount(balance=10**21, code=delegation)})
    tx = txs.dynamic(sender.private_key, 0, value=1)
    imported = chain.import_transactions([tx])
    assert list(imported.block.transactions) == [tx]
    assert imported.receipts[0].state_root == b"\x01"


# -- fee fields ------------------------------------------------------------------------------


@pytest.mark.parametrize("vm_class", vms("a priority fee above the fee cap is accepted"))
def test_priority_fee_above_fee_cap_is_rejected(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(vm_class)
    tx = txs.dynamic(
        dev_accounts[0].private_key, 0, value=1, max_fee=DEFAULT_MAX_FEE, tip=DEFAULT_MAX_FEE + 1
    )
    assert_rejected(chain, tx, TxRejection.TIP_ABOVE_FEE_CAP)


# -- EIP-7623 calldata floor -----------------------------------------------------------------


@pytest.mark.parametrize("vm_class", vms("EIP-7623: tx.gas below the calldata floor is accepted"))
def test_gas_below_calldata_floor_is_rejected(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(vm_class)
    data = b"\x01" * 1000
    floor = calldata_floor_gas(data)
    assert floor == 21_000 + 10 * 4 * 1000
    tx = txs.dynamic(dev_accounts[0].private_key, 0, data=data, gas=floor - 1)
    assert tx.intrinsic_gas == 21_000 + 16 * 1000 < tx.gas  # intrinsic gas alone is covered
    assert_rejected(chain, tx, TxRejection.FLOOR_DATA_GAS)


# A contract that clears storage slots 0, 1 and 2 (all non-zero in the genesis):
# 3 x (PUSH1 0, PUSH1 slot, SSTORE) then STOP. Each clear costs 3 + 3 + 2100 (cold) + 2900
# and earns the EIP-3529 refund of 4800.
SLOT_CLEARER_CODE = bytes.fromhex("60006000556000600155600060025500")
SLOT_CLEARER = b"\x5c" * 20
CLEARED_SLOTS = 3
CLEAR_EXECUTION_GAS = CLEARED_SLOTS * (3 + 3 + 2100 + 2900)
CLEAR_REFUND = CLEARED_SLOTS * 4800


@pytest.mark.parametrize(
    "vm_class",
    vms("finalize_gas_used caps the refund at (used + floor top-up) // 5 (receipt under-reports)"),
)
def test_gas_used_when_floor_applies_and_refund_cap_binds(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(
        vm_class,
        {SLOT_CLEARER: GenesisAccount(code=SLOT_CLEARER_CODE, storage={0: 1, 1: 1, 2: 1})},
    )
    sender = dev_accounts[0]
    data = b"\x01" * 1000  # large calldata: the floor (61000) exceeds used - refund
    tx = txs.dynamic(sender.private_key, 0, to=SLOT_CLEARER, data=data, gas=100_000)

    used = tx.intrinsic_gas + CLEAR_EXECUTION_GAS  # before refunds
    refund = min(used // 5, CLEAR_REFUND)
    floor = calldata_floor_gas(data)
    assert CLEAR_REFUND > used // 5, "the refund cap must bind"
    assert floor > used - refund, "the floor must apply"
    expected = max(floor, used - refund)

    before = chain.state().get_balance(sender.address)
    imported = chain.import_transactions([tx])
    header = imported.block.header
    assert imported.receipts[0].state_root == b"\x01"
    state = chain.state()
    assert [state.get_storage(SLOT_CLEARER, slot) for slot in range(3)] == [0, 0, 0]

    price = min(tx.max_fee_per_gas, header.base_fee_per_gas + tx.max_priority_fee_per_gas)
    charged = before - state.get_balance(sender.address)
    assert charged == expected * price  # py-evm's balance accounting follows the rule
    assert imported.receipts[0].gas_used == expected
    assert header.gas_used == expected


# -- EIP-3860 init code limit ------------------------------------------------------------------


@pytest.mark.parametrize(
    "vm_class",
    vms("oversized init code escapes import_block as OutOfGas, not a rejection", OutOfGas),
)
def test_oversized_init_code_is_an_invalid_transaction(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(vm_class)
    init_code = b"\x00" * (MAX_INITCODE_SIZE + 1)
    tx = txs.create(dev_accounts[0].private_key, 0, init_code, gas=1_000_000)
    assert tx.gas >= max(tx.intrinsic_gas, calldata_floor_gas(init_code))
    assert_rejected(chain, tx, TxRejection.INITCODE_TOO_LARGE)


@pytest.mark.parametrize("vm_class", BOTH_VMS)
def test_init_code_at_the_limit_is_valid(vm_class, pyevm_chain, dev_accounts, txs):
    chain = pyevm_chain(vm_class)
    tx = txs.create(dev_accounts[0].private_key, 0, b"\x00" * MAX_INITCODE_SIZE, gas=1_000_000)
    imported = chain.import_transactions([tx])
    assert list(imported.block.transactions) == [tx]
    assert imported.receipts[0].state_root == b"\x01"


# -- pinned gas limit ----------------------------------------------------------------------------


@pytest.mark.parametrize("vm_class", vms("the London gas limit drifts on every block"))
def test_gas_limit_stays_pinned_across_blocks(vm_class, pyevm_chain, genesis):
    chain = pyevm_chain(vm_class)
    for _ in range(3):  # real (empty) blocks through import_block
        assert chain.import_transactions([]).block.header.gas_limit == genesis.gas_limit
    header = chain.head
    for _ in range(200):  # and a long run of headers, empty and full
        header = vm_class.create_header_from_parent(
            header.copy(gas_used=header.gas_limit if header.block_number % 2 else 0),
            timestamp=header.timestamp + 12,
        )
        assert header.gas_limit == genesis.gas_limit


# -- per-transaction gas in receipts -------------------------------------------------------------


def _devnet_receipt_gas(genesis, transactions) -> list[int]:
    chain = Chain(genesis)
    built = chain.build_block(transactions, timestamp=chain.head.timestamp + 12)
    assert not built.skipped
    return [info.gas_used for info in chain.receipts_of(built.block.header)]


def _stock_receipt_gas(genesis, transactions) -> list[int]:
    imported = PyEvmTestChain(PragueVM, genesis).import_transactions(transactions)
    return [receipt.gas_used for receipt in imported.receipts]


@pytest.mark.parametrize(
    "receipt_gas",
    [
        pytest.param(_devnet_receipt_gas, id="devnet"),
        pytest.param(
            _stock_receipt_gas,
            id="stock",
            marks=stock_defect("receipt.gas_used is cumulative within the block"),
        ),
    ],
)
def test_receipt_gas_used_is_per_transaction(receipt_gas, genesis, dev_accounts, txs):
    transfers = [txs.dynamic(dev_accounts[i].private_key, 0, value=1) for i in range(3)]
    assert receipt_gas(genesis, transfers) == [21_000, 21_000, 21_000]


def test_devnet_receipts_keep_cumulative_gas_too(chain, dev_accounts, txs):
    transfers = [txs.dynamic(dev_accounts[i].private_key, 0, value=1) for i in range(3)]
    built = chain.build_block(transfers, timestamp=chain.head.timestamp + 12)
    infos = chain.receipts_of(built.block.header)
    assert [i.cumulative_gas_used for i in infos] == [21_000, 42_000, 63_000]
    assert [i.receipt.gas_used for i in infos] == [21_000, 42_000, 63_000]  # consensus field


# -- BLOCKHASH of unknown ancestors --------------------------------------------------------------


def _state_at_block(state_class, number: int, prev_hashes: list[bytes]):
    header = PragueVM.create_header_from_parent(
        None,
        gas_limit=30_000_000,
        timestamp=number * 12,
        difficulty=0,
        state_root=BLANK_ROOT_HASH,
        coinbase=ZERO_ADDRESS,
    ).copy(block_number=number)
    context = PragueVM.create_execution_context(header, prev_hashes, ChainContext(CHAIN_ID))
    return state_class(AtomicDB(), context, BLANK_ROOT_HASH)


def _hash_of(number: int) -> bytes:
    return number.to_bytes(32, "big")


@pytest.mark.parametrize(
    "state_class", states("get_ancestor_hash returns 0 for an unknown ancestor in the window")
)
def test_unknown_ancestor_inside_window_raises(state_class):
    # Block 100 knows only its two latest ancestors (99 and 98); 50 is inside the window.
    state = _state_at_block(state_class, 100, [_hash_of(99), _hash_of(98)])
    with pytest.raises(MissingAncestorHash) as caught:
        state.get_ancestor_hash(50)
    assert caught.value.block_number == 50


@pytest.mark.parametrize(
    "state_class",
    [pytest.param(DevnetPragueState, id="devnet"), pytest.param(PragueState, id="stock")],
)
def test_known_and_out_of_window_ancestors(state_class):
    state = _state_at_block(state_class, 300, [_hash_of(n) for n in range(299, 43, -1)])
    assert state.get_ancestor_hash(299) == _hash_of(299)
    assert state.get_ancestor_hash(44) == _hash_of(44)  # the oldest inside the window
    assert state.get_ancestor_hash(43) == b""  # 257 back: outside the window
    assert state.get_ancestor_hash(300) == b""  # the block itself
    assert state.get_ancestor_hash(-1) == b""
