"""In-process L2 blocks for EXECUTE tests: a ``node.chain.Chain`` on genesis/l2.json with
the dev accounts funded (as ``rpc.cli.make_devnet`` does when asked with ``--accounts``),
transaction signing for the L2 chain id, and block building that keeps each block's
recorded execution witness.

No node process is started; blocks go through ``Chain.build_block`` (py-evm's full
``import_block`` pipeline), so the witness is the one ``debug_executionWitness`` serves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

import rlp  # noqa: E402
from eth.abc import BlockAPI, SignedTransactionAPI  # noqa: E402
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS  # noqa: E402
from eth.rlp.accounts import Account as RlpAccount  # noqa: E402
from eth_abi import encode  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from eth_keys import keys  # noqa: E402

from devtools.contracts import load  # noqa: E402
from devtools.execute_inputs import input_from_chain  # noqa: E402
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts  # noqa: E402
from node.chain import BuiltBlock, Chain  # noqa: E402
from node.fork import DevnetPragueVM  # noqa: E402
from node.fork.osaka import DevnetOsakaVM  # noqa: E402
from node.genesis import DEFAULT_L2_GENESIS, load_genesis  # noqa: E402
from precompiles.execute_wire import ExecuteInput  # noqa: E402

L2_CHAIN_ID = 31338
DEV_BALANCE = 10_000 * 10**18
GWEI = 10**9
MAX_FEE = 100 * GWEI
TIP = GWEI
BLOB_TX_TYPE = 3
WITHDRAWAL_REQUEST_ADDRESS = bytes.fromhex("00000961Ef480Eb55e80D19ad83579A64c007002")
# The rules EXECUTE applies to these blocks: the shipped schedules run Osaka from genesis.
L2_VM = DevnetOsakaVM


def l2_genesis():
    """genesis/l2.json with the ten dev accounts funded."""
    genesis = load_genesis(DEFAULT_L2_GENESIS)
    assert genesis.chain_id == L2_CHAIN_ID
    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
    return genesis.with_accounts([a.address for a in accounts], DEV_BALANCE)


def dev_keys() -> list[keys.PrivateKey]:
    return [a.private_key for a in derive_dev_accounts(DEFAULT_MNEMONIC, 10)]


def contract_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


def calldata(signature: str, types: Sequence[str] = (), args: Sequence = ()) -> bytes:
    return keccak(signature.encode())[:4] + (encode(list(types), list(args)) if types else b"")


@dataclass
class L2Builder:
    """An in-process L2 chain plus a per-key nonce book; every built block is kept."""

    chain: Chain = field(default_factory=lambda: Chain(l2_genesis()))
    keys: list[keys.PrivateKey] = field(default_factory=dev_keys)
    nonces: dict[bytes, int] = field(default_factory=dict)
    timestamp: int = 1_700_000_000

    @classmethod
    def permissive(cls) -> L2Builder:
        """A builder whose blocks may enqueue execution requests (EIP-7002/7251).

        The L2 builder refuses such transactions; EXECUTE must still reject such a block
        (reason 11) when someone else builds it, so tests build one with the plain devnet
        Prague rules, which do not refuse them.
        """
        built = cls()
        built.chain.vm_class = DevnetPragueVM
        built.chain.vm_factory.vm_class = DevnetPragueVM  # the VMs of its blocks
        return built

    @property
    def builder(self):
        return self.chain.transaction_builder

    def address(self, key_index: int = 0) -> bytes:
        return self.keys[key_index].public_key.to_canonical_address()

    def next_nonce(self, key_index: int = 0) -> int:
        addr = self.address(key_index)
        if addr not in self.nonces:
            self.nonces[addr] = self.chain.nonce(addr, self.chain.head)
        nonce = self.nonces[addr]
        self.nonces[addr] = nonce + 1
        return nonce

    def tx(
        self,
        key_index: int = 0,
        to: bytes = b"\x11" * 20,
        value: int = 0,
        data: bytes = b"",
        gas: int = 21_000,
        nonce: int | None = None,
        chain_id: int = L2_CHAIN_ID,
        max_fee: int = MAX_FEE,
        tip: int = TIP,
    ) -> SignedTransactionAPI:
        """A signed EIP-1559 transaction (nonce from the book unless given)."""
        if nonce is None:
            nonce = self.next_nonce(key_index)
        unsigned = self.builder.new_unsigned_dynamic_fee_transaction(
            chain_id, nonce, tip, max_fee, gas, to, value, data, []
        )
        return unsigned.as_signed_transaction(self.keys[key_index])

    def legacy_tx(
        self, key_index: int = 0, to: bytes = b"\x22" * 20, value: int = 1, gas: int = 21_000
    ) -> SignedTransactionAPI:
        unsigned = self.builder.create_unsigned_transaction(
            nonce=self.next_nonce(key_index),
            gas_price=MAX_FEE,
            gas=gas,
            to=to,
            value=value,
            data=b"",
        )
        return unsigned.as_signed_transaction(self.keys[key_index], chain_id=L2_CHAIN_ID)

    def deploy(
        self,
        name: str,
        init_args: tuple[list[str], list] | None = None,
        key_index: int = 0,
        gas: int = 1_000_000,
    ) -> tuple[SignedTransactionAPI, bytes]:
        """A creation tx for artifact ``name`` and the address it will deploy to."""
        artifact = load(name)
        code = bytes.fromhex(artifact.bytecode[2:])
        if init_args:
            code += encode(*init_args)
        nonce = self.next_nonce(key_index)
        tx = self.tx(key_index, to=CREATE_CONTRACT_ADDRESS, data=code, gas=gas, nonce=nonce)
        return tx, contract_address(self.address(key_index), nonce)

    def build(
        self, transactions: Sequence[SignedTransactionAPI] = (), expect_all: bool = True
    ) -> BuiltBlock:
        """Build the next block; by default every transaction must be included and succeed."""
        self.timestamp += 12
        built = self.chain.build_block(list(transactions), timestamp=self.timestamp)
        if expect_all:
            assert not built.skipped, [s.error for s in built.skipped]
            assert all(r.status == 1 for r in built.receipts), built.receipts
        return built

    def input_for(self, block: BlockAPI) -> ExecuteInput:
        return input_from_chain(self.chain, block)


def trie_nodes(db, state_root: bytes) -> set[bytes]:
    """Hashes of every node of the account trie at ``state_root`` and of its storage tries."""
    found: set[bytes] = set()
    pending = [(state_root, True)]
    while pending:
        root, is_account_trie = pending.pop()
        if root == BLANK_ROOT_HASH or root in found:
            continue
        stack = [root]
        while stack:
            node_hash = stack.pop()
            found.add(node_hash)
            node = rlp.decode(db[node_hash])
            children = node[:16] if len(node) == 17 else []
            if len(node) == 2:
                if node[0][0] >> 4 in (0, 1):  # extension: the second item is a child
                    children = [node[1]]
                elif is_account_trie:  # leaf of the account trie: follow the storage root
                    account = rlp.decode(node[1], sedes=RlpAccount)
                    pending.append((account.storage_root, False))
            stack.extend(c for c in children if isinstance(c, bytes) and len(c) == 32)
    return found


def blob_tx(
    key: keys.PrivateKey,
    nonce: int,
    chain_id: int = L2_CHAIN_ID,
    to: bytes = b"\x33" * 20,
    gas: int = 21_000,
    max_fee: int = MAX_FEE,
    tip: int = TIP,
    max_fee_per_blob_gas: int = 10 * GWEI,
    blob_versioned_hashes: Sequence[bytes] = (b"\x01" + b"\x00" * 31,),
) -> bytes:
    """A signed EIP-4844 transaction in network form ``0x03 || rlp(fields)`` (no sidecar)."""
    unsigned = [
        chain_id,
        nonce,
        tip,
        max_fee,
        gas,
        to,
        0,
        b"",
        [],
        max_fee_per_blob_gas,
        list(blob_versioned_hashes),
    ]
    digest = keccak(bytes([BLOB_TX_TYPE]) + rlp.encode(unsigned))
    signature = key.sign_msg_hash(digest)
    return bytes([BLOB_TX_TYPE]) + rlp.encode(unsigned + [signature.v, signature.r, signature.s])


def body_of(raw_items: Sequence[object]) -> bytes:
    """The transactions tail from raw items: typed txs as byte strings, legacy as lists."""
    return rlp.encode(list(raw_items))


def network_form(tx: SignedTransactionAPI) -> object:
    """A tx as an item of a block body: a list for legacy, ``type || payload`` bytes else."""
    return rlp.decode(rlp.encode(tx))
