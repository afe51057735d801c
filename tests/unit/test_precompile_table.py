"""The precompile table per fork (``node.fork.precompiles``) and the fork classes as the
place where rules change: a test-only precompile is one table entry, a test-only rule is
one overridden method, and both run through py-evm's own pipeline."""

from __future__ import annotations

from eth.abc import ComputationAPI, SignedTransactionAPI
from eth.vm.spoof import SpoofTransaction

from node.fork import DevnetPragueVM, L2PragueVM
from node.fork.l1 import L1_PRECOMPILES, L1PragueVM, execute_precompile
from node.fork.precompiles import (
    DEVNET_PRECOMPILES,
    MODEXP_ADDRESS,
    NATIVE_CURVE_PRECOMPILES,
    PRAGUE_PRECOMPILES,
    with_precompiles,
)
from precompiles.execute_wire import EXECUTE_ADDRESS
from tests.unit.conftest import DEFAULT_MAX_FEE

REVERSER = (0xF00D).to_bytes(20, "big")
REVERSER_GAS = 15


def reverse(computation: ComputationAPI) -> ComputationAPI:
    """A test-only precompile: returns its input backwards."""
    computation.consume_gas(REVERSER_GAS, reason="reverse")
    computation.output = bytes(reversed(computation.msg.data))
    return computation


def simulated_call(chain, sender: bytes, to: bytes, data: bytes) -> bytes:
    """What an ``eth_call`` returns, through py-evm's costless state."""
    unsigned = chain.vm_class.get_transaction_builder().create_unsigned_transaction(
        nonce=0, gas_price=DEFAULT_MAX_FEE, gas=100_000, to=to, value=0, data=data
    )
    spoofed = SpoofTransaction(unsigned, from_=sender)
    return chain.chain.get_transaction_result(spoofed, chain.head)


def test_each_fork_runs_its_table():
    assert L2PragueVM.get_state_class().computation_class._precompiles is DEVNET_PRECOMPILES
    assert L1PragueVM.get_state_class().computation_class._precompiles is L1_PRECOMPILES
    assert L1_PRECOMPILES == {**DEVNET_PRECOMPILES, EXECUTE_ADDRESS: execute_precompile}
    changed = {a for a in PRAGUE_PRECOMPILES if DEVNET_PRECOMPILES[a] is not PRAGUE_PRECOMPILES[a]}
    # The curves computed natively, and MODEXP's output fixed (0 ** 0 = 1, as EELS and geth).
    assert changed == set(NATIVE_CURVE_PRECOMPILES) | {MODEXP_ADDRESS}


def test_a_precompile_is_one_table_entry(pyevm_chain, dev_accounts):
    with_reverser = with_precompiles(DevnetPragueVM, {REVERSER: reverse})  # the one line

    sender = dev_accounts[0].address
    assert simulated_call(pyevm_chain(with_reverser), sender, REVERSER, b"abc") == b"cba"
    assert simulated_call(pyevm_chain(DevnetPragueVM), sender, REVERSER, b"abc") == b""
    computation = with_reverser.get_state_class().computation_class
    assert computation._precompiles[REVERSER] is reverse
    assert issubclass(computation, DevnetPragueVM.get_state_class().computation_class)


MINIMUM_RECEIPT_GAS = 50_000


class MinimumGasFork(DevnetPragueVM):
    """A test-only fork with one rule changed: a receipt reports at least 50 000 gas."""

    @classmethod
    def finalize_gas_used(
        cls, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> int:
        return max(MINIMUM_RECEIPT_GAS, super().finalize_gas_used(transaction, computation))


def test_a_fork_rule_is_one_overridden_method(pyevm_chain, dev_accounts, txs):
    def transfer_gas(vm_class: type) -> tuple[int, int]:
        chain = pyevm_chain(vm_class)
        imported = chain.import_transactions([txs.dynamic(dev_accounts[0].private_key, 0)])
        return imported.receipts[0].gas_used, imported.block.header.gas_used

    assert transfer_gas(DevnetPragueVM) == (21_000, 21_000)
    assert transfer_gas(MinimumGasFork) == (MINIMUM_RECEIPT_GAS, MINIMUM_RECEIPT_GAS)
