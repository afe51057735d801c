"""``node.chain.Chain``: block building that skips invalid transactions, receipts, calls,
gas estimation, Merkle proofs and the Prague system contracts.

Each test builds a fresh in-memory chain on genesis/l1.json (dev accounts funded).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS
from eth.rlp.accounts import Account as RlpAccount
from eth.vm.forks.cancun.constants import (
    BEACON_ROOTS_ADDRESS,
    BEACON_ROOTS_CONTRACT_CODE,
    HISTORY_BUFFER_LENGTH,
)
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    HISTORY_SERVE_WINDOW,
    HISTORY_STORAGE_ADDRESS,
    HISTORY_STORAGE_CONTRACT_CODE,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
)
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth_abi import decode, encode
from eth_hash.auto import keccak
from trie import HexaryTrie

from node.chain import Chain
from node.errors import TxRejection
from node.simulation import CallRequest
from tests.unit.conftest import CHAIN_ID

COUNTER_ARTIFACT = Path(__file__).resolve().parents[2] / "contracts" / "out" / "Counter.json"


def _hex(value: str | dict) -> bytes:
    if isinstance(value, dict):  # forge's layout: {"object": "0x..."}
        value = value["object"]
    return bytes.fromhex(value.removeprefix("0x"))


@pytest.fixture(scope="module")
def counter() -> dict:
    artifact = json.loads(COUNTER_ARTIFACT.read_text())
    return {
        "init": _hex(artifact["bytecode"]) + encode(["uint256"], [5]),
        "runtime": _hex(artifact["deployedBytecode"]),
    }


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def contract_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


def next_block(chain: Chain, transactions, **kwargs):
    kwargs.setdefault("timestamp", chain.head.timestamp + 12)
    return chain.build_block(transactions, **kwargs)


@pytest.fixture
def deployed_counter(chain, dev_accounts, txs, counter) -> bytes:
    """Counter(5) deployed by dev account 9 in block 1; returns its address."""
    deployer = dev_accounts[9]
    tx = txs.create(deployer.private_key, 0, counter["init"], gas=1_000_000)
    built = next_block(chain, [tx])
    assert not built.skipped and built.receipts[0].status == 1
    return built.receipts[0].contract_address


# -- block building --------------------------------------------------------------------------


def test_build_block_skips_invalid_transactions_and_keeps_the_rest_in_order(
    chain, dev_accounts, unfunded_key, txs
):
    alice, bob, carol = dev_accounts[:3]
    a0 = txs.dynamic(alice.private_key, 0, value=1)
    wrong_chain = txs.dynamic(bob.private_key, 0, value=1, chain_id=CHAIN_ID + 1)
    a1 = txs.dynamic(alice.private_key, 1, value=1)
    nonce_gap = txs.dynamic(carol.private_key, 5, value=1)
    broke = txs.dynamic(unfunded_key, 0, value=1)
    a2 = txs.dynamic(alice.private_key, 2, value=1)

    built = next_block(chain, [a0, wrong_chain, a1, nonce_gap, broke, a2])

    assert [tx.hash for tx in built.block.transactions] == [a0.hash, a1.hash, a2.hash]
    assert [s.transaction.hash for s in built.skipped] == [
        wrong_chain.hash,
        nonce_gap.hash,
        broke.hash,
    ]
    kinds = [s.error.kind for s in built.skipped]
    assert kinds == [
        TxRejection.WRONG_CHAIN_ID,
        TxRejection.NONCE_TOO_HIGH,
        TxRejection.INSUFFICIENT_FUNDS,
    ]
    assert [s.error.retryable for s in built.skipped] == [False, True, False]
    assert [r.status for r in built.receipts] == [1, 1, 1]
    assert built.block.header.gas_used == 3 * 21_000
    assert chain.head == built.block.header
    head = chain.head
    assert chain.nonce(alice.address, head) == 3
    assert chain.nonce(bob.address, head) == 0
    assert chain.nonce(carol.address, head) == 0


def test_full_block_skips_as_retryable_and_the_next_block_takes_it(genesis, dev_accounts, txs):
    chain = Chain(genesis.with_overrides(gas_limit=60_000))
    first, second, third = (txs.dynamic(a.private_key, 0, value=1) for a in dev_accounts[:3])

    built = next_block(chain, [first, second, third])
    assert [tx.hash for tx in built.block.transactions] == [first.hash, second.hash]
    assert built.block.header.gas_limit == 60_000
    assert [s.transaction.hash for s in built.skipped] == [third.hash]
    assert built.skipped[0].error.kind is TxRejection.BLOCK_FULL
    assert built.skipped[0].error.retryable

    again = next_block(chain, [third])
    assert not again.skipped
    assert [tx.hash for tx in again.block.transactions] == [third.hash]


def test_tx_above_the_block_gas_limit_is_not_retryable(genesis, dev_accounts, txs):
    chain = Chain(genesis.with_overrides(gas_limit=60_000))
    too_big = txs.dynamic(dev_accounts[0].private_key, 0, value=1, gas=60_001)
    built = next_block(chain, [too_big])
    assert list(built.block.transactions) == []
    assert built.skipped[0].error.kind is TxRejection.GAS_LIMIT
    assert not built.skipped[0].error.retryable


@pytest.mark.parametrize(
    ("overrides", "kind", "retryable"),
    [
        pytest.param({"gas": 20_999}, TxRejection.INTRINSIC_GAS, False, id="intrinsic-gas"),
        pytest.param(
            {"data": b"\x01" * 100, "gas": 22_600}, TxRejection.FLOOR_DATA_GAS, False, id="floor"
        ),
        pytest.param({"max_fee": 1, "tip": 1}, TxRejection.FEE_CAP_TOO_LOW, True, id="fee-cap"),
        pytest.param({"tip": 11 * 10**9}, TxRejection.TIP_ABOVE_FEE_CAP, False, id="tip"),
        pytest.param({"value": 10**30}, TxRejection.INSUFFICIENT_FUNDS, False, id="funds"),
    ],
)
def test_build_block_reports_why_a_tx_was_skipped(
    chain, dev_accounts, txs, overrides, kind, retryable
):
    alice = dev_accounts[0]
    bad = txs.dynamic(alice.private_key, 0, **overrides)
    good = txs.dynamic(dev_accounts[1].private_key, 0, value=1)
    built = next_block(chain, [bad, good])
    assert [tx.hash for tx in built.block.transactions] == [good.hash]
    assert [(s.error.kind, s.error.retryable) for s in built.skipped] == [(kind, retryable)]
    assert kind.value in str(built.skipped[0].error)


def test_build_block_skips_oversized_init_code(chain, dev_accounts, txs):
    alice = dev_accounts[0]
    oversized = txs.create(alice.private_key, 0, b"\x00" * (MAX_INITCODE_SIZE + 1), gas=1_000_000)
    transfer = txs.dynamic(alice.private_key, 0, value=1)
    built = next_block(chain, [oversized, transfer])
    assert [s.error.kind for s in built.skipped] == [TxRejection.INITCODE_TOO_LARGE]
    assert [tx.hash for tx in built.block.transactions] == [transfer.hash]


# -- receipts -----------------------------------------------------------------------------------


def test_receipts_have_per_tx_gas_and_the_contract_address(chain, dev_accounts, txs, counter):
    deployer, payer = dev_accounts[4], dev_accounts[5]
    deploy = txs.create(deployer.private_key, 0, counter["init"], gas=1_000_000)
    transfer = txs.dynamic(payer.private_key, 0, value=1)
    built = next_block(chain, [deploy, transfer])
    header = built.block.header
    infos = chain.receipts_of(header)

    assert [i.transaction_hash for i in infos] == [deploy.hash, transfer.hash]
    assert [i.status for i in infos] == [1, 1]
    assert infos[1].gas_used == 21_000
    assert infos[0].gas_used == header.gas_used - 21_000 > 21_000
    assert [i.cumulative_gas_used for i in infos] == [infos[0].gas_used, header.gas_used]
    assert infos[0].contract_address == contract_address(deployer.address, 0)
    assert infos[1].contract_address is None
    assert chain.code(infos[0].contract_address, header) == counter["runtime"]
    assert chain.find_transaction(transfer.hash).gas_used == 21_000


def test_call_returns_counter_number(chain, deployed_counter, dev_accounts):
    result = chain.call(
        CallRequest(sender=dev_accounts[0].address, to=deployed_counter, data=selector("number()")),
        chain.head,
    )
    assert result.error is None
    assert decode(["uint256"], result.output) == (5,)


# -- gas estimation ------------------------------------------------------------------------------


def test_estimate_gas_for_a_transfer_is_21000(chain, dev_accounts):
    request = CallRequest(sender=dev_accounts[0].address, to=dev_accounts[1].address, value=1)
    assert chain.estimate_gas(request, chain.head) == 21_000


def test_estimate_gas_for_a_transfer_is_enough_and_close(chain, dev_accounts, txs):
    request = CallRequest(sender=dev_accounts[0].address, to=dev_accounts[1].address, value=1)
    estimate = chain.estimate_gas(request, chain.head)
    assert 21_000 <= estimate <= 21_000 * 1.015


def test_estimate_gas_for_a_deployment_covers_the_real_gas(chain, dev_accounts, txs, counter):
    deployer = dev_accounts[6]
    request = CallRequest(sender=deployer.address, to=CREATE_CONTRACT_ADDRESS, data=counter["init"])
    estimate = chain.estimate_gas(request, chain.head)
    tx = txs.create(deployer.private_key, 0, counter["init"], gas=estimate)
    built = next_block(chain, [tx])
    assert not built.skipped
    receipt = built.receipts[0]
    assert receipt.status == 1
    assert estimate >= receipt.gas_used


# -- proofs -------------------------------------------------------------------------------------


def _proven(root: bytes, key: bytes, proof: list[bytes]) -> bytes:
    assert keccak(proof[0]) == root or len(proof[0]) < 32
    return HexaryTrie.get_from_proof(root, key, [rlp.decode(node) for node in proof])


def test_account_and_storage_proofs_verify_against_the_state_root(
    chain, deployed_counter, dev_accounts
):
    header = chain.head
    proof = chain.proof(deployed_counter, [0, 1], header)
    assert proof.nonce == 1  # EIP-161: contracts start at nonce 1
    assert proof.code_hash == keccak(chain.code(deployed_counter, header))
    assert proof.storage_root != BLANK_ROOT_HASH

    account_rlp = _proven(
        chain.state_root_after(header), keccak(deployed_counter), proof.account_proof
    )
    expected = RlpAccount(proof.nonce, proof.balance, proof.storage_root, proof.code_hash)
    assert account_rlp == rlp.encode(expected)

    number, unset = proof.storage
    assert (number.slot, number.value) == (0, 5)
    assert _proven(proof.storage_root, keccak((0).to_bytes(32, "big")), number.proof) == rlp.encode(
        5
    )
    assert (unset.slot, unset.value) == (1, 0)
    assert _proven(proof.storage_root, keccak((1).to_bytes(32, "big")), unset.proof) == b""


def test_proof_of_an_eoa_and_of_an_absent_account(chain, dev_accounts, genesis):
    header = chain.head
    eoa = dev_accounts[0].address
    proof = chain.proof(eoa, [], header)
    assert proof.balance == genesis.alloc[eoa].balance
    account_rlp = _proven(chain.state_root_after(header), keccak(eoa), proof.account_proof)
    assert rlp.decode(account_rlp, sedes=RlpAccount).balance == proof.balance

    absent = b"\xde\xad" * 10
    empty = chain.proof(absent, [0], header)
    assert (empty.balance, empty.nonce, empty.storage_root) == (0, 0, BLANK_ROOT_HASH)
    assert _proven(header.state_root, keccak(absent), empty.account_proof) == b""


# -- Prague system contracts ----------------------------------------------------------------------


SYSTEM_CONTRACTS = [
    BEACON_ROOTS_ADDRESS,
    HISTORY_STORAGE_ADDRESS,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
]


@pytest.mark.parametrize("address", SYSTEM_CONTRACTS, ids=lambda a: "0x" + a.hex())
def test_genesis_has_code_at_the_system_contracts(chain, address):
    genesis_header = chain.header_by_number(0)
    assert chain.code(address, genesis_header)
    assert chain.nonce(address, genesis_header) == 1


def test_genesis_system_code_is_what_py_evm_writes_through(chain):
    # py-evm only updates the 4788/2935 contracts when their code is exactly this.
    genesis_header = chain.header_by_number(0)
    assert chain.code(BEACON_ROOTS_ADDRESS, genesis_header) == BEACON_ROOTS_CONTRACT_CODE
    assert chain.code(HISTORY_STORAGE_ADDRESS, genesis_header) == HISTORY_STORAGE_CONTRACT_CODE


def test_history_contract_stores_the_parent_hash(chain, dev_accounts):
    genesis_hash = chain.head.hash
    first = next_block(chain, []).block.header
    assert chain.storage(HISTORY_STORAGE_ADDRESS, 0, first) == int.from_bytes(genesis_hash, "big")
    second = next_block(chain, []).block.header
    assert chain.storage(HISTORY_STORAGE_ADDRESS, 1 % HISTORY_SERVE_WINDOW, second) == (
        int.from_bytes(first.hash, "big")
    )
    # And the contract serves it: get(1) in block 2's context.
    result = chain.call(
        CallRequest(
            sender=dev_accounts[0].address, to=HISTORY_STORAGE_ADDRESS, data=(1).to_bytes(32, "big")
        ),
        second,
    )
    assert result.error is None and result.output == first.hash


def test_beacon_roots_contract_stores_a_nonzero_parent_beacon_root(chain, dev_accounts):
    root = keccak(b"beacon block")
    timestamp = chain.head.timestamp + 1234
    header = next_block(chain, [], timestamp=timestamp, parent_beacon_block_root=root).block.header
    assert header.parent_beacon_block_root == root
    index = timestamp % HISTORY_BUFFER_LENGTH
    assert chain.storage(BEACON_ROOTS_ADDRESS, index, header) == timestamp
    assert chain.storage(BEACON_ROOTS_ADDRESS, index + HISTORY_BUFFER_LENGTH, header) == (
        int.from_bytes(root, "big")
    )
    result = chain.call(
        CallRequest(
            sender=dev_accounts[0].address,
            to=BEACON_ROOTS_ADDRESS,
            data=timestamp.to_bytes(32, "big"),
        ),
        header,
    )
    assert result.error is None and result.output == root
