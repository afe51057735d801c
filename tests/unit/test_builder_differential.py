"""The owned block builder (``BuilderMode.build_block``) against py-evm's generic
``import_block``: the same random transaction streams give identical blocks.

A builder ``node.chain.Chain`` builds each block from a random stream of transactions —
transfers, deploys, storage writes (and clears), reverts, EIP-7702 authorizations, EIP-7002
withdrawal requests, EXECUTE calls on the L1 (valid and invalid), and transactions invalid at
their position, which the builder leaves out. A replica chain on the same genesis then
imports every block through py-evm's full ``vm.import_block`` (the fork's VM outside builder
mode: bytecode system calls, every header copy, ``validate_block``) while recording the
reads it makes, exactly as the builder records a witness. Per block: the same block hash,
the same post-state root, the same receipts and the same execution witness, both the one
the builder records as it builds (``record_witnesses``) and the one a chain that does not
record re-runs when asked (``Chain.execution_witness``).

Size: ``BUILDER_DIFF_BLOCKS`` blocks per chain kind (default 10, CI-sized) with up to
``BUILDER_DIFF_TXS`` transactions each (default 8); ``BUILDER_DIFF_SEED`` picks the streams.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from hashlib import sha256

import pytest
import rlp
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.prague.constants import WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS
from eth_abi import encode
from eth_hash.auto import keccak
from eth_keys import keys

from devtools.contracts import load
from devtools.execute_inputs import encoded
from devtools.l2_blocks import L2Builder
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.fork.l1 import L1ChainDB
from node.genesis import (
    DEFAULT_L1_GENESIS,
    DEFAULT_L2_GENESIS,
    Genesis,
    GenesisAccount,
    load_genesis,
)
from node.witness import RecordingDatabase, witness_headers

BLOCKS = int(os.environ.get("BUILDER_DIFF_BLOCKS", "10"))
MAX_TXS = int(os.environ.get("BUILDER_DIFF_TXS", "8"))
SEED = int(os.environ.get("BUILDER_DIFF_SEED", "7002"))

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 10)
GWEI = 10**9
FUNDED = 10**24
CALLER = bytes.fromhex("ec" * 20)  # ExecuteCaller in the L1 alloc
# Runtime: SSTORE(key=calldata[32:64], value=calldata[0:32]); STOP.
STORE_RUNTIME = bytes.fromhex("600035602035" + "55" + "00")
# Runtime: REVERT(0, 0).
REVERT_RUNTIME = bytes.fromhex("60006000fd")
STORE = bytes.fromhex("5e" * 20)  # a storage writer in the alloc
REVERTER = bytes.fromhex("4e" * 20)  # a contract that always reverts, in the alloc
EMPTY_REQUESTS_HASH = sha256().digest()  # a block without requests


def init_code(runtime: bytes) -> bytes:
    """Creation code returning ``runtime``: CODECOPY(0, 11, len); RETURN(0, len)."""
    assert len(runtime) < 256
    return bytes([0x60, len(runtime), 0x80, 0x60, 0x0B, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3]) + (
        runtime
    )


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def with_contracts(genesis: Genesis, execute: bool) -> Genesis:
    genesis = genesis.with_accounts([a.address for a in DEV], FUNDED)
    alloc = dict(genesis.alloc)
    alloc[STORE] = GenesisAccount(code=STORE_RUNTIME)
    alloc[REVERTER] = GenesisAccount(code=REVERT_RUNTIME)
    if execute:
        runtime = bytes.fromhex(load("ExecuteCaller").deployed_bytecode[2:])
        alloc[CALLER] = GenesisAccount(code=runtime)
    return replace(genesis, alloc=alloc)


def genesis_of(kind: str) -> Genesis:
    if kind == "l2":
        return with_contracts(load_genesis(DEFAULT_L2_GENESIS), execute=False)
    genesis = with_contracts(load_genesis(DEFAULT_L1_GENESIS), execute=True)
    return genesis.with_overrides(delayed_state_root=kind == "l1-delayed")


@pytest.fixture(scope="module")
def execute_payloads() -> tuple[bytes, bytes]:
    """A valid EXECUTE input (a real L2 block and its witness) and a tampered one."""
    l2 = L2Builder()
    block = l2.build([l2.tx(0, value=10**18, gas=30_000), l2.tx(1, value=7)]).block
    valid = encoded(l2.input_for(block))
    return valid, valid[:-40] + bytes(40)


@dataclass
class Stream:
    """Random transactions for one chain, with a nonce book."""

    chain: Chain
    rng: random.Random
    payloads: tuple[bytes, bytes] | None
    nonces: dict[bytes, int] = field(default_factory=dict)
    deployed: list[bytes] = field(default_factory=list)

    def nonce(self, key: keys.PrivateKey) -> int:
        address = key.public_key.to_canonical_address()
        if address not in self.nonces:
            self.nonces[address] = self.chain.nonce(address, self.chain.head)
        return self.nonces[address]

    def signed(self, key, to, value=0, data=b"", gas=100_000, authorizations=(), nonce=None):
        builder = self.chain.transaction_builder
        use = self.nonce(key) if nonce is None else nonce
        if nonce is None:
            self.nonces[key.public_key.to_canonical_address()] = use + 1
        args = (self.chain.chain_id, use, GWEI, 20 * GWEI, gas, to, value, data, [])
        if authorizations:
            unsigned = builder.new_unsigned_set_code_transaction(*args, list(authorizations))
        else:
            unsigned = builder.new_unsigned_dynamic_fee_transaction(*args)
        return unsigned.as_signed_transaction(key)

    def authorization(self, key: keys.PrivateKey, target: bytes, nonce: int) -> dict:
        message = b"\x05" + rlp.encode([self.chain.chain_id, target, nonce])
        signature = key.sign_msg_hash(keccak(message))
        return {
            "chain_id": self.chain.chain_id,
            "address": target,
            "nonce": nonce,
            "y_parity": signature.v,
            "r": signature.r,
            "s": signature.s,
        }

    def one(self):
        rng = self.rng
        key = DEV[rng.randrange(len(DEV))].private_key
        kinds = ["transfer", "deploy", "store", "revert", "7702", "withdrawal", "invalid"]
        if self.payloads is not None:
            kinds += ["execute", "execute"]
        kind = rng.choice(kinds)
        if kind == "transfer":
            to = rng.choice([b"\x11" * 20, bytes([rng.randrange(256)]) * 20, DEV[0].address])
            return self.signed(key, to, value=rng.randrange(10**18), gas=21_000)
        if kind == "deploy":
            runtime = rng.choice([STORE_RUNTIME, REVERT_RUNTIME])
            sender = key.public_key.to_canonical_address()
            nonce = self.nonce(key)
            self.deployed.append(keccak(rlp.encode([sender, nonce]))[12:])
            return self.signed(key, CREATE_CONTRACT_ADDRESS, data=init_code(runtime))
        if kind == "store":
            target = rng.choice([STORE, *self.deployed[-3:]])
            value = rng.choice([0, 1, rng.randrange(2**256)])
            slot = rng.randrange(4)
            return self.signed(key, target, data=encode(["uint256", "uint256"], [value, slot]))
        if kind == "revert":
            return self.signed(key, REVERTER, value=rng.choice([0, 5]))
        if kind == "7702":
            # An authority (not the sender) delegates to the storage writer, then the call
            # runs the writer's code in the authority's storage.
            authority = DEV[rng.randrange(len(DEV))].private_key
            # The sender's own authorization is checked after its nonce moved.
            auth_nonce = self.nonce(authority) + (1 if authority == key else 0)
            auth = self.authorization(authority, rng.choice([STORE, REVERTER]), auth_nonce)
            authority_address = authority.public_key.to_canonical_address()
            tx = self.signed(
                key,
                authority_address,
                data=encode(["uint256", "uint256"], [rng.randrange(1, 99), 0]),
                authorizations=[auth],
            )
            self.nonces[authority_address] = auth_nonce + 1
            return tx
        if kind == "withdrawal":
            pubkey_and_amount = bytes([rng.randrange(256)]) * 48 + rng.randrange(2**32).to_bytes(
                8, "big"
            )
            return self.signed(
                key,
                WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
                value=GWEI,
                data=pubkey_and_amount,
                gas=300_000,
            )
        if kind == "execute":
            payload = rng.choice(self.payloads)
            data = selector("callExecute(bytes)") + encode(["bytes"], [payload])
            return self.signed(key, CALLER, data=data, gas=3_000_000)
        # Invalid at its position: a nonce far ahead, or more value than anyone holds.
        if rng.random() < 0.5:
            return self.signed(key, b"\x11" * 20, nonce=self.nonce(key) + 50, gas=21_000)
        tx = self.signed(key, b"\x11" * 20, value=FUNDED * 2, gas=21_000)
        self.nonces[key.public_key.to_canonical_address()] -= 1  # it will be left out
        return tx


def import_generically(replica: Chain, block):
    """py-evm's generic ``import_block`` of ``block`` on ``replica``, recording the reads:
    (imported block, its receipts, post-state root, witness)."""
    parent = replica.header_by_hash(block.header.parent_hash)
    header = replica.vm_class.create_header_from_parent(
        parent,
        timestamp=block.header.timestamp,
        coinbase=block.header.coinbase,
        mix_hash=block.header.mix_hash,
        gas_limit=block.header.gas_limit,
        extra_data=block.header.extra_data,
        parent_beacon_block_root=block.header.parent_beacon_block_root,
        state_root=replica.state_root_after(parent),
    )
    recorder = RecordingDatabase(replica.db)
    vm = replica.vm_factory.vm(header, chaindb=L1ChainDB(recorder))
    assert header == replica.import_header(block, parent)
    assert not vm.skip_invalid_transactions
    with replica.db.block_transaction():
        imported = vm.import_block(block).block
        replica.post_state_roots.record(imported.hash, vm.post_state_root)
        replica.chaindb.persist_block(imported)
    state, codes = recorder.split_reads()
    headers = witness_headers(parent, vm.state.oldest_ancestor_read, replica.header_by_hash)
    receipts = [r.encode() for r in imported.get_receipts(replica.chaindb)]
    return imported, receipts, vm.post_state_root, (sorted(state), sorted(codes), headers)


@pytest.mark.parametrize("kind", ["l1", "l1-delayed", "l2"])
def test_builder_matches_generic_import(kind, execute_payloads):
    genesis = genesis_of(kind)
    builder = Chain(genesis.with_overrides(record_witnesses=True))
    lazy = Chain(genesis.with_overrides(record_witnesses=False))
    replica = Chain(genesis)
    rng = random.Random(f"{SEED}-{kind}")
    stream = Stream(builder, rng, execute_payloads if kind != "l2" else None)
    seen = {"included": 0, "skipped": 0, "requests": 0, "failed": 0}
    for number in range(1, BLOCKS + 1):
        txs = [stream.one() for _ in range(rng.randrange(MAX_TXS + 1))]
        built = builder.build_block(txs, timestamp=builder.head.timestamp + 12)
        # The nonce book follows what was really included.
        stream.nonces.clear()
        seen["included"] += len(built.receipts)
        seen["skipped"] += len(built.skipped)
        seen["failed"] += sum(1 for r in built.receipts if r.status == 0)
        # The block as stored and read back (its transactions in the block's own classes).
        block = builder.block_by_header(built.block.header)
        assert block.header.block_number == number and block.hash == built.block.hash
        imported, receipts, root, witness = import_generically(replica, block)
        assert imported.hash == block.hash, number
        assert root == builder.state_root_after(block.header), number
        assert receipts == [r.encode() for r in block.get_receipts(builder.chaindb)], number
        ours = builder.witnesses[block.hash]
        assert (sorted(ours.state), sorted(ours.codes), ours.headers) == witness, number
        # The same stream on a chain that records nothing: the same block, and the same
        # witness when asked for it.
        again = lazy.build_block(txs, timestamp=block.header.timestamp)
        assert again.block.hash == block.hash
        assert block.hash not in lazy.witnesses
        rerun = lazy.execution_witness(block.hash)
        assert (sorted(rerun.state), sorted(rerun.codes), rerun.headers) == witness, number
        if block.header.requests_hash != EMPTY_REQUESTS_HASH:
            seen["requests"] += 1
    # The streams really exercised what they claim.
    assert seen["included"] > BLOCKS and seen["failed"] > 0
    assert seen["skipped"] > 0
    if kind != "l2":
        assert seen["requests"] > 0  # withdrawal requests were dequeued (the bytecode path)


def test_request_queues_run_natively_only_when_empty(monkeypatch):
    """Five withdrawal requests in one block raise the queue's excess above the target; the
    following empty blocks run the queues' system calls natively (no bytecode) while the
    excess decays, and every block still equals py-evm's generic import."""
    genesis = genesis_of("l1")
    builder, replica = Chain(genesis.with_overrides(record_witnesses=True)), Chain(genesis)
    stream = Stream(builder, random.Random(1), None)
    bytecode_calls = []
    original = builder.vm_class.execute_bytecode

    def counting(vm, *args, **kwargs):
        bytecode_calls.append(kwargs.get("to"))
        return original(vm, *args, **kwargs)

    monkeypatch.setattr(builder.vm_class, "execute_bytecode", counting)
    requests = [
        stream.signed(
            DEV[i].private_key,
            WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
            value=GWEI,
            data=bytes([i]) * 48 + (i + 1).to_bytes(8, "big"),
            gas=300_000,
        )
        for i in range(5)
    ]
    excess = []
    for number, txs in enumerate([requests, [], [], [], []], start=1):
        bytecode_calls.clear()
        built = builder.build_block(txs, timestamp=builder.head.timestamp + 12)
        assert len(built.receipts) == len(txs) and all(r.status == 1 for r in built.receipts)
        block = builder.block_by_header(built.block.header)
        imported, receipts, root, witness = import_generically(replica, block)
        assert imported.hash == built.block.hash, number
        assert root == builder.state_root_after(built.block.header), number
        ours = builder.witnesses[built.block.hash]
        assert (sorted(ours.state), sorted(ours.codes), ours.headers) == witness, number
        excess.append(builder.storage(WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, 0, builder.head))
        if txs:  # a full queue: the withdrawal contract's bytecode ran, and dequeued them all
            assert bytecode_calls == [WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS]
            assert built.block.header.requests_hash != EMPTY_REQUESTS_HASH
        else:
            assert bytecode_calls == []
    assert excess == [3, 1, 0, 0, 0]  # 5 requests against a target of 2, then -2 a block
