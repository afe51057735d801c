"""An in-process native rollup for tests: an L1 ``node.chain.Chain`` carrying EXECUTE and the
``NativeRollup`` contract, and an L2 ``Chain`` on genesis/l2.json with the ``L2Messenger``
predeploy, driven the way the sequencer/relayer drives real nodes.

- ``MessageTree`` mirrors the L1 message tree (OpenZeppelin ``MerkleTree``: depth 32, empty
  leaf zero, commutative keccak pairs) so the relayer can prove a message on L2.
- ``Layer`` is one chain plus signing keys and a nonce book; every block gets the next tick
  of a clock the two layers share, so an L2 block is always older than the L1 block that
  settles it (``advance`` requires ``timestamp <= block.timestamp``).
- ``RollupEnv`` deploys the rollup contract with the L2 genesis hash and state root, and
  knows the protocol steps: deposit, relay (anchor + claim), settle (``advance``), withdraw,
  claim on L1 with ``eth_getProof``-shaped proofs.

The L2 genesis funds only the relayer, with ``RELAYER_SEED`` of gas money (a relayer
cannot send its first claim with an empty balance); the rollup contract is deployed with the
same amount so the L1 escrow backs every L2 wei in circulation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

import rlp  # noqa: E402
from eth.abc import BlockAPI, SignedTransactionAPI  # noqa: E402
from eth.constants import CREATE_CONTRACT_ADDRESS, ZERO_ADDRESS, ZERO_HASH32  # noqa: E402
from eth_abi import decode, encode  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from eth_keys import keys  # noqa: E402

from devtools.contracts import load  # noqa: E402
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts  # noqa: E402
from node.chain import BuiltBlock, Chain  # noqa: E402
from node.genesis import DEFAULT_L1_GENESIS, DEFAULT_L2_GENESIS, load_genesis  # noqa: E402
from node.receipts import ReceiptInfo  # noqa: E402
from node.simulation import CallRequest, CallResult  # noqa: E402
from sequencer.messages import (  # noqa: E402, F401  (the package's copy, re-exported for tests)
    L1_CLAIM,
    L1_SEND,
    L1_TO_L2,
    L2_CLAIM,
    L2_REFUND,
    L2_SEND,
    L2_TO_L1,
    MESSAGE_TYPE,
    Domain,
    Message,
    MessageTree,
    calldata,
    contract_address,
    hash_pair,
    selector,
    sent_message_slot,
    split_types,
    verify_proof,
)
from sequencer.relayer import claim_calldata  # noqa: E402

ETHER = 10**18
GWEI = 10**9
MESSENGER = bytes.fromhex("4200000000000000000000000000000000000007")
MESSAGE_TREE_DEPTH = 32
EMPTY_LEAF = ZERO_HASH32
L1_FUNDING = 10_000 * ETHER
RELAYER_SEED = 1 * ETHER
MAX_FEE = 10 * GWEI
TIP = GWEI
BLOCK_TIME = 12
START_TIME = 1_700_000_000
ADVANCE_GAS = 15_000_000

# Dev-key roles.
SEQUENCER, ALICE, RELAYER, BOB = 0, 1, 2, 3

ADVANCE = "advance(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes,bytes)"
ROLLUP_CONSTRUCTOR = [
    "bytes32",
    "bytes32",
    "uint256",
    "uint256",
    "address",
    "address",
    "uint8",
    "uint256",
    "uint256",
]


def error_data(signature: str, *args) -> bytes:
    """Revert data of custom error ``signature`` with ``args``."""
    return calldata(signature, *args)


# -- one layer --------------------------------------------------------------------------------


@dataclass
class Clock:
    now: int = START_TIME

    def tick(self) -> int:
        self.now += BLOCK_TIME
        return self.now


class TxFailed(AssertionError):
    pass


@dataclass
class Layer:
    """A chain plus the dev keys, a nonce book and the shared clock."""

    chain: Chain
    clock: Clock
    keys: list[keys.PrivateKey]
    nonces: dict[bytes, int] = field(default_factory=dict)
    blocks: list[BuiltBlock] = field(default_factory=list)

    def address(self, key: int) -> bytes:
        return self.keys[key].public_key.to_canonical_address()

    def _next_nonce(self, key: int) -> int:
        address = self.address(key)
        nonce = self.nonces.get(address, self.chain.nonce(address, self.chain.head))
        self.nonces[address] = nonce + 1
        return nonce

    def tx(
        self, key: int, to: bytes, data: bytes = b"", value: int = 0, gas: int = 2_000_000
    ) -> SignedTransactionAPI:
        unsigned = self.chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
            self.chain.chain_id, self._next_nonce(key), TIP, MAX_FEE, gas, to, value, data, []
        )
        return unsigned.as_signed_transaction(self.keys[key])

    def mine(self, transactions: Sequence[SignedTransactionAPI] = (), **header) -> BuiltBlock:
        """The next block with exactly ``transactions`` (each included; some may revert)."""
        built = self.chain.build_block(list(transactions), timestamp=self.clock.tick(), **header)
        assert not built.skipped, [s.error for s in built.skipped]
        self.blocks.append(built)
        return built

    def send(
        self,
        key: int,
        to: bytes,
        data: bytes = b"",
        value: int = 0,
        gas: int = 2_000_000,
        expect_success: bool = True,
    ) -> ReceiptInfo:
        """One transaction in its own block; by default it must succeed."""
        receipt = self.mine([self.tx(key, to, data, value, gas)]).receipts[0]
        if expect_success and receipt.status != 1:
            raise TxFailed(f"tx to 0x{to.hex()} reverted: {self.why(key, to, data, value)}")
        return receipt

    def create_tx(self, key: int, name: str, gas: int = 5_000_000) -> SignedTransactionAPI:
        """A transaction deploying artifact ``name`` (no constructor arguments)."""
        return self.tx(
            key, CREATE_CONTRACT_ADDRESS, bytes.fromhex(load(name).bytecode[2:]), gas=gas
        )

    def deploy(
        self,
        key: int,
        name: str,
        types: Sequence[str] = (),
        args: Sequence = (),
        value: int = 0,
        gas: int = 5_000_000,
    ) -> bytes:
        init = bytes.fromhex(load(name).bytecode[2:]) + encode(list(types), list(args))
        receipt = self.send(key, CREATE_CONTRACT_ADDRESS, init, value, gas)
        return receipt.contract_address

    def call(
        self,
        to: bytes,
        data: bytes,
        sender: bytes = ZERO_ADDRESS,
        value: int = 0,
        gas: int = 25_000_000,
    ) -> CallResult:
        """``eth_call`` on the latest block."""
        return self.chain.call(
            CallRequest(sender=sender, to=to, data=data, value=value, gas=gas),
            self.chain.head,
        )

    def why(self, key: int, to: bytes, data: bytes, value: int = 0) -> bytes:
        """The revert data the call gives on the latest state (diagnostics)."""
        return self.call(to, data, self.address(key), value).output

    def view(self, to: bytes, signature: str, out_types: Sequence[str], *args):
        result = self.call(to, calldata(signature, *args))
        assert result.error is None, (signature, result.output)
        values = decode(list(out_types), result.output)
        return values[0] if len(values) == 1 else values

    def balance(self, address: bytes) -> int:
        return self.chain.balance(address, self.chain.head)

    def events(
        self, receipt: ReceiptInfo, emitter: bytes, signature: str, data_types: Sequence[str]
    ) -> list[tuple[list[int], tuple]]:
        """``(indexed topics, decoded data)`` of each ``signature`` log ``emitter`` wrote."""
        topic = int.from_bytes(keccak(signature.encode()), "big")
        return [
            (list(log.topics[1:]), decode(list(data_types), log.data))
            for log in receipt.receipt.logs
            if log.address == emitter and log.topics and log.topics[0] == topic
        ]


def dev_keys() -> list[keys.PrivateKey]:
    return [a.private_key for a in derive_dev_accounts(DEFAULT_MNEMONIC, 10)]


# -- the rollup --------------------------------------------------------------------------


@dataclass
class RollupEnv:
    l1: Layer
    l2: Layer
    rollup: bytes
    tree: MessageTree = field(default_factory=MessageTree)

    @classmethod
    def create(cls, initial_escrow: int = RELAYER_SEED) -> RollupEnv:
        """Fresh chains and a rollup escrowing ``initial_escrow`` (default: exactly the L2
        genesis funding outside the messenger)."""
        clock, keys_ = Clock(), dev_keys()
        l1_genesis = load_genesis(DEFAULT_L1_GENESIS).with_accounts(
            [k.public_key.to_canonical_address() for k in keys_], L1_FUNDING
        )
        relayer = keys_[RELAYER].public_key.to_canonical_address()
        l2_genesis = load_genesis(DEFAULT_L2_GENESIS).with_accounts([relayer], RELAYER_SEED)
        l1 = Layer(Chain(l1_genesis), clock, keys_)
        l2 = Layer(Chain(l2_genesis), clock, keys_)
        genesis = l2.chain.head
        rollup = l1.deploy(
            SEQUENCER,
            "NativeRollup",
            ROLLUP_CONSTRUCTOR,
            [
                genesis.hash,
                l2.chain.state_root_after(genesis),
                l2.chain.chain_id,
                genesis.gas_limit,
                l1.address(SEQUENCER),
                MESSENGER,
                0,  # policy SEQUENCER
                10,  # forceDelay (L1 blocks)
                0,  # forceFee
            ],
            value=initial_escrow,
        )
        return cls(l1, l2, rollup)

    @property
    def domain(self) -> Domain:
        return Domain(self.l1.chain.chain_id, self.l2.chain.chain_id, self.rollup)

    # L1 -> L2

    def deposit(
        self,
        key: int,
        to: bytes,
        value: int,
        fee: int = 0,
        data: bytes = b"",
        min_gas_limit: int = 0,
    ) -> Message:
        """``sendMessage`` on L1; returns the message (and mirrors the tree)."""
        message = Message(
            self.l1.address(key),
            to,
            value,
            fee,
            data,
            len(self.tree.leaves),
            self.domain,
            L1_TO_L2,
            min_gas_limit,
        )
        self.l1.send(key, self.rollup, calldata(L1_SEND, to, min_gas_limit, fee, data), value + fee)
        self.tree.leaves.append(message.hash)
        return message

    def claim_tx(
        self,
        message: Message,
        anchor_timestamp: int,
        key: int = RELAYER,
        proof: Sequence[bytes] | None = None,
    ) -> SignedTransactionAPI:
        data = self.claim_data(message, anchor_timestamp, proof)
        return self.l2.tx(key, MESSENGER, data, gas=1_000_000)

    def claim_data(
        self, message: Message, anchor_timestamp: int, proof: Sequence[bytes] | None = None
    ) -> bytes:
        """``L2Messenger.claim`` calldata (proof from the mirrored tree unless given)."""
        return self._l2_call(L2_CLAIM, message, anchor_timestamp, proof)

    def refund_data(
        self, message: Message, anchor_timestamp: int, proof: Sequence[bytes] | None = None
    ) -> bytes:
        """``L2Messenger.refund`` calldata (proof from the mirrored tree unless given)."""
        return self._l2_call(L2_REFUND, message, anchor_timestamp, proof)

    def _l2_call(
        self,
        signature: str,
        message: Message,
        anchor_timestamp: int,
        proof: Sequence[bytes] | None,
    ) -> bytes:
        if proof is None:
            proof = self.tree.proof(message.index)
        return claim_calldata(message, proof, anchor_timestamp, signature)

    def next_l2_timestamp(self) -> int:
        return self.l2.clock.now + BLOCK_TIME

    def relay(self, messages: Sequence[Message]) -> BuiltBlock:
        """An L2 block anchoring the current tree root whose relayer claims ``messages``
        against that very anchor (the block's own timestamp)."""
        timestamp = self.next_l2_timestamp()
        txs = [self.claim_tx(m, timestamp) for m in messages]
        return self.l2_block(txs, self.tree.root)

    def l2_block(
        self, txs: Sequence[SignedTransactionAPI] = (), anchor: bytes = ZERO_HASH32
    ) -> BuiltBlock:
        """The sequencer's next L2 block (it takes the L2 tips); zero anchor: no new root."""
        return self.l2.mine(
            txs, coinbase=self.l1.address(SEQUENCER), parent_beacon_block_root=anchor
        )

    # settlement

    def advance_data(self, block: BlockAPI, **changes) -> bytes:
        """``advance(...)`` calldata for L2 ``block`` (fields overridable for forgeries)."""
        h = block.header
        fields = {
            "post_state_root": h.state_root,
            "receipts_root": h.receipt_root,
            "gas_used": h.gas_used,
            "timestamp": h.timestamp,
            "coinbase": h.coinbase,
            "prev_randao": h.mix_hash,
            "anchor": h.parent_beacon_block_root,
            "transactions": rlp.encode(list(block.transactions)),
            "witness": self.l2.chain.witnesses[block.hash].encode_rlp(),
        }
        fields.update(changes)
        return calldata(ADVANCE, *fields.values())

    def settle(self, built: BuiltBlock, key: int = SEQUENCER) -> ReceiptInfo:
        """Settle the L2 block through ``advance`` (must succeed)."""
        return self.l1.send(key, self.rollup, self.advance_data(built.block), gas=ADVANCE_GAS)

    # L2 -> L1

    def withdraw_tx(
        self,
        key: int,
        to: bytes,
        value: int,
        fee: int = 0,
        data: bytes = b"",
        index: int | None = None,
        min_gas_limit: int = 0,
    ) -> tuple[SignedTransactionAPI, Message]:
        """``sendMessage`` on the L2 messenger; ``index`` defaults to the next one at the
        head (pass it when one block holds several)."""
        if index is None:
            index = self.l2.view(MESSENGER, "sentMessageCount()", ["uint256"])
        message = Message(
            self.l2.address(key),
            to,
            value,
            fee,
            data,
            index,
            self.domain,
            L2_TO_L1,
            min_gas_limit,
        )
        send = calldata(L2_SEND, to, min_gas_limit, fee, data)
        tx = self.l2.tx(key, MESSENGER, send, value + fee)
        return tx, message

    def l1_claim_data(
        self,
        message: Message,
        l2_number: int,
        proof_number: int | None = None,
        proof_of: Message | None = None,
    ) -> bytes:
        """``claimL2Message`` calldata with proofs taken at L2 block ``proof_number``
        (default: the block named in the claim) of ``proof_of``'s slot (default: the
        message's own)."""
        header = self.l2.chain.header_by_number(l2_number if proof_number is None else proof_number)
        slot = sent_message_slot((proof_of or message).hash)
        proof = self.l2.chain.proof(MESSENGER, [slot], header)
        return calldata(
            L1_CLAIM, message.abi(), l2_number, proof.account_proof, proof.storage[0].proof
        )

    # views

    def rollup_view(self, signature: str, out_type: str, *args):
        return self.l1.view(self.rollup, signature, [out_type], *args)
