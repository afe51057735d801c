"""Unit fixtures: dev keys, the L1 genesis, signed transactions and in-process chains.

Everything here runs in this process on py-evm directly; no node process is started.
``pyevm_chain`` builds a chain on any VM class (the devnet's or stock py-evm's) and imports
blocks through py-evm's full ``import_block`` pipeline the way ``node.chain.Chain.build_block``
does, so a fork fix can be checked against stock py-evm with the same code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pytest
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI, VirtualMachineAPI
from eth.chains.base import Chain as PyEvmChain
from eth.constants import CREATE_CONTRACT_ADDRESS, ZERO_ADDRESS, ZERO_HASH32
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth_keys import keys

from node.accounts import DEFAULT_MNEMONIC, DevAccount, derive_dev_accounts
from node.chain import Chain
from node.devnet import Devnet, MiningConfig, MiningMode
from node.genesis import DEFAULT_L1_GENESIS, Genesis, GenesisAccount, load_genesis
from rpc.server import RpcServer

CHAIN_ID = 31337
FUNDED_BALANCE = 10**24
GWEI = 10**9
DEFAULT_MAX_FEE = 10 * GWEI
DEFAULT_TIP = GWEI


@pytest.fixture(scope="session")
def dev_accounts() -> tuple[DevAccount, ...]:
    """Ten funded dev accounts (the anvil/hardhat mnemonic)."""
    return derive_dev_accounts(DEFAULT_MNEMONIC, 10)


@pytest.fixture(scope="session")
def unfunded_key() -> keys.PrivateKey:
    """A key whose address holds nothing in the genesis."""
    return keys.PrivateKey(b"\x42" * 32)


@pytest.fixture(scope="session")
def genesis(dev_accounts) -> Genesis:
    """genesis/l1.json with every dev account funded."""
    loaded = load_genesis(DEFAULT_L1_GENESIS)
    assert loaded.chain_id == CHAIN_ID
    return loaded.with_accounts([a.address for a in dev_accounts], FUNDED_BALANCE)


def with_alloc(genesis: Genesis, extra: dict[bytes, GenesisAccount]) -> Genesis:
    """``genesis`` with some accounts added or replaced."""
    alloc = dict(genesis.alloc)
    alloc.update(extra)
    return replace(genesis, alloc=alloc)


@pytest.fixture
def chain(genesis) -> Chain:
    """A fresh devnet ``node.chain.Chain`` on the funded L1 genesis."""
    return Chain(genesis)


class TxFactory:
    """Signs transactions with the Prague transaction builder (all forks share it here)."""

    builder = PragueVM.get_transaction_builder()

    def dynamic(
        self,
        key: keys.PrivateKey,
        nonce: int,
        to: bytes = b"\x11" * 20,
        value: int = 0,
        data: bytes = b"",
        gas: int = 21_000,
        max_fee: int = DEFAULT_MAX_FEE,
        tip: int = DEFAULT_TIP,
        chain_id: int = CHAIN_ID,
    ) -> SignedTransactionAPI:
        unsigned = self.builder.new_unsigned_dynamic_fee_transaction(
            chain_id, nonce, tip, max_fee, gas, to, value, data, []
        )
        return unsigned.as_signed_transaction(key)

    def create(
        self, key: keys.PrivateKey, nonce: int, init_code: bytes, gas: int, **kwargs
    ) -> SignedTransactionAPI:
        return self.dynamic(
            key, nonce, to=CREATE_CONTRACT_ADDRESS, data=init_code, gas=gas, **kwargs
        )

    def legacy(
        self,
        key: keys.PrivateKey,
        nonce: int,
        to: bytes = b"\x11" * 20,
        value: int = 0,
        data: bytes = b"",
        gas: int = 21_000,
        gas_price: int = DEFAULT_MAX_FEE,
        chain_id: int | None = CHAIN_ID,
    ) -> SignedTransactionAPI:
        """A legacy transaction: EIP-155 when ``chain_id`` is set, pre-EIP-155 when None."""
        unsigned = self.builder.create_unsigned_transaction(
            nonce=nonce, gas_price=gas_price, gas=gas, to=to, value=value, data=data
        )
        return unsigned.as_signed_transaction(key, chain_id=chain_id)


@pytest.fixture(scope="session")
def txs() -> TxFactory:
    return TxFactory()


@dataclass
class ImportedBlock:
    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    vm: VirtualMachineAPI


class PyEvmTestChain:
    """A py-evm chain on one VM class, fed blocks through ``vm.import_block``."""

    def __init__(self, vm_class: type, genesis: Genesis) -> None:
        self.vm_class = vm_class
        chain_class = PyEvmChain.configure(
            __name__="UnitTestChain", vm_configuration=((0, vm_class),), chain_id=genesis.chain_id
        )
        params = genesis.header_params()
        self.chain = chain_class.from_genesis(AtomicDB(), params, genesis.state_dict())
        self.chaindb = self.chain.chaindb

    @property
    def head(self):
        return self.chaindb.get_canonical_head()

    def next_header(self, parent_beacon_block_root: bytes = ZERO_HASH32):
        parent = self.head
        return self.vm_class.create_header_from_parent(
            parent,
            timestamp=parent.timestamp + 12,
            coinbase=ZERO_ADDRESS,
            mix_hash=b"\x01" * 32,
            parent_beacon_block_root=parent_beacon_block_root,
        )

    def import_transactions(
        self, transactions: Sequence[SignedTransactionAPI], **header_kwargs
    ) -> ImportedBlock:
        """Import the next block holding exactly ``transactions`` and make it the head.

        Any invalid transaction makes py-evm's ``import_block`` raise, as for a peer's block.
        """
        header = self.next_header(**header_kwargs)
        vm = self.chain.get_vm(header)
        template = vm.get_block_class()(
            header, transactions=list(transactions), uncles=[], withdrawals=[]
        )
        block = vm.import_block(template).block
        self.chaindb.persist_block(block)
        return ImportedBlock(block, tuple(block.get_receipts(self.chaindb)), vm)

    def state(self):
        """py-evm state at the head (read-only use)."""
        return self.chain.get_vm(self.head).state


@pytest.fixture
def pyevm_chain(genesis):
    """Factory: ``pyevm_chain(VMClass, extra_alloc=None)`` -> ``PyEvmTestChain``."""

    def factory(vm_class: type, extra_alloc: dict[bytes, GenesisAccount] | None = None):
        return PyEvmTestChain(vm_class, with_alloc(genesis, extra_alloc or {}))

    return factory


@pytest.fixture
async def devnet(genesis, dev_accounts) -> Devnet:
    """A manual-mining ``Devnet`` on the funded L1 genesis (blocks come from ``evm_mine``)."""
    node = Devnet(genesis, dev_accounts, MiningConfig(MiningMode.MANUAL))
    yield node
    await node.stop()


@pytest.fixture
def server(devnet) -> RpcServer:
    """The JSON-RPC dispatch over ``devnet`` (``handle_one``/``handle_payload``, no sockets)."""
    return RpcServer(devnet)
