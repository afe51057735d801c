"""The optimistic mode (``OptimisticRollup``): its ABI, deployment, the proposer (an L2 block as
``propose(head, transactions, witness)`` with a bond, no EXECUTE), challenges and
finalization, and reading a proposal's data back from the L1 transaction that posted it.

The contract stores ``keccak256(abi.encode(head, keccak256(transactions), keccak256(witness)))``
per proposal (``commitment``); the data itself lives only in the ``propose`` calldata, which
is where a watcher (``sequencer.watcher``) reads it from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields, replace
from typing import Any

from eth_abi import decode, encode
from eth_hash.auto import keccak

from sequencer.advance import AdvanceInput, fetch_advance_input
from sequencer.artifacts import load_artifact
from sequencer.client import RpcClient, RpcError, Signer, TxFailed, b2h, h2b, h2i
from sequencer.messages import calldata, decode_revert, selector, topic
from sequencer.relayer import Relayer
from sequencer.rollup import MESSENGER, Rollup, RollupInfo, check_initial_escrow, l2_genesis

log = logging.getLogger("native_rollup.optimistic")

L2_HEAD_TYPE = "(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes32)"
PROPOSE = f"propose({L2_HEAD_TYPE},bytes,bytes)"
CHALLENGE = f"challenge(uint256,{L2_HEAD_TYPE},bytes,bytes)"
FINALIZE = "finalize(uint256)"
PROPOSED = "Proposed(uint256,bytes32,bytes32,bytes32,bytes32)"
DISCARDED = "ProposalsDiscarded(uint256,uint256,address,uint256,uint256)"
CHALLENGE_FAILED = "ChallengeFailed(uint256,address,uint256)"
CONSTRUCTOR = [
    "bytes32",  # L2 genesis hash
    "bytes32",  # L2 genesis state root
    "uint256",  # L2 chain id
    "uint256",  # L2 gas limit
    "address",  # sequencer (the only proposer)
    "address",  # L2 messenger
    "uint256",  # CHALLENGE_WINDOW (L1 blocks)
    "uint256",  # PROPOSER_BOND (wei)
    "uint256",  # CHALLENGER_BOND (wei)
]
DEPLOY_GAS = 8_000_000
L1_TIME_WAIT = 60.0  # seconds a proposal waits for L1 time to reach its L2 timestamp
EXECUTE_ADDRESS = bytes.fromhex("0000000000000000000000000000000000000101")
EXECUTE_HEAD_TYPE = "(bytes32,bytes32,uint256,bytes32,bytes32,uint256,uint256,uint256,uint256,address,bytes32,bytes32)"
EXECUTE_OUTPUT_TYPES = ["bytes32", "uint256", "uint256", "uint256", "uint256", "bytes32"] + [
    "uint256"
] * 2
EXECUTE_INVALID = selector("ExecuteInvalid(uint256)")


@dataclass(frozen=True)
class L2Head:
    """``OptimisticRollup.L2Head``: the L2 header's fields and the claimed block hash."""

    post_state_root: bytes
    receipts_root: bytes
    gas_used: int
    timestamp: int
    coinbase: bytes
    prev_randao: bytes
    anchor: bytes
    block_hash: bytes

    def abi(self) -> tuple:
        return astuple(self)

    def replace(self, **changes: Any) -> L2Head:
        return replace(self, **changes)

    @classmethod
    def of_header(cls, header: Any, block_hash: bytes) -> L2Head:
        """From a py-evm header (in-process chains)."""
        return cls(
            header.state_root,
            header.receipt_root,
            header.gas_used,
            header.timestamp,
            header.coinbase,
            header.mix_hash,
            header.parent_beacon_block_root,
            block_hash,
        )

    @classmethod
    def of_input(cls, inp: AdvanceInput) -> L2Head:
        """From the advance input the L2 node gives (``sequencer.advance``)."""
        return cls(
            inp.post_state_root,
            inp.receipts_root,
            inp.gas_used,
            inp.timestamp,
            inp.coinbase,
            inp.prev_randao,
            inp.anchor,
            inp.block_hash,
        )

    @classmethod
    def from_abi(cls, values: Sequence[Any]) -> L2Head:
        names = [f.name for f in fields(cls)]
        out = dict(zip(names, values, strict=True))
        out["coinbase"] = (
            h2b(out["coinbase"]) if isinstance(out["coinbase"], str) else out["coinbase"]
        )
        return cls(**out)


def commitment(head: L2Head, transactions: bytes, witness: bytes) -> bytes:
    """The contract's ``commitmentOf(head, transactions, witness)``."""
    return keccak(
        encode(
            [L2_HEAD_TYPE, "bytes32", "bytes32"],
            [head.abi(), keccak(transactions), keccak(witness)],
        )
    )


@dataclass(frozen=True)
class ProposalData:
    """A proposal as posted: its number, head and data (from the ``propose`` calldata)."""

    number: int
    head: L2Head
    transactions: bytes
    witness: bytes
    l1_tx: str
    l1_block: int

    def challenge_calldata(self) -> bytes:
        return calldata(CHALLENGE, self.number, self.head.abi(), self.transactions, self.witness)


@dataclass(frozen=True)
class StoredProposal:
    block_hash: bytes
    state_root: bytes
    commitment: bytes
    proposed_at: int
    anchored_count: int
    verified: bool


class OptimisticRollup(Rollup):
    """Reads and writes of one ``OptimisticRollup`` (its messaging views are ``Rollup``'s)."""

    # -- views ------------------------------------------------------------------------------

    def last_proposed_number(self, tag: int | str = "latest") -> int:
        return self.view("lastProposedNumber()", ["uint256"], tag=tag)

    def is_finalized(self, number: int, tag: int | str = "latest") -> bool:
        return self.view("isFinalized(uint256)", ["bool"], number, tag=tag)

    def finalized_number(self, tag: int | str = "latest") -> int:
        return self.view("finalizedNumber()", ["uint256"], tag=tag)

    def challenge_window(self) -> int:
        return self.view("CHALLENGE_WINDOW()", ["uint256"])

    def proposer_bond(self) -> int:
        return self.view("PROPOSER_BOND()", ["uint256"])

    def challenger_bond(self) -> int:
        return self.view("CHALLENGER_BOND()", ["uint256"])

    def l2_gas_limit(self) -> int:
        return self.view("l2GasLimit()", ["uint256"])

    def sequencer_credit(self, tag: int | str = "latest") -> int:
        return self.view("sequencerCredit()", ["uint256"], tag=tag)

    def proposal(self, number: int, tag: int | str = "latest") -> StoredProposal:
        out = self.l1.eth_call(self.address, calldata("proposal(uint256)", number), tag=tag)
        values = decode(["bytes32", "bytes32", "bytes32", "uint48", "uint40", "bool"], out)
        return StoredProposal(*values)

    # -- writes -----------------------------------------------------------------------------

    def propose(self, signer: Signer, inp: AdvanceInput, head: L2Head | None = None) -> dict:
        """``propose`` L2 block ``inp`` (``head`` overrides its fields: forgeries) with the bond."""
        head = head or L2Head.of_input(inp)
        data = calldata(PROPOSE, head.abi(), inp.transactions, inp.witness.encode())
        return signer.send(self.address, data, self.proposer_bond(), what=f"propose {inp.number}")

    def challenge(self, signer: Signer, proposal: ProposalData) -> dict:
        """``challenge`` with the challenger bond (the receipt; a revert raises ``TxFailed``).
        The gas is a bound, not an estimate: estimating would run EXECUTE once more, under
        the node's simulation deadline."""
        data = proposal.challenge_calldata()
        return signer.send(
            self.address,
            data,
            self.challenger_bond(),
            gas=challenge_gas(len(data)),
            what=f"challenge {proposal.number}",
        )

    def finalize(self, signer: Signer, number: int) -> dict:
        return signer.send(self.address, calldata(FINALIZE, number), what=f"finalize {number}")

    def withdraw_credit(self, signer: Signer) -> dict:
        """Pay the sequencer its credit (returned bonds, failed challengers' bonds)."""
        return signer.send(self.address, calldata("withdrawCredit()"), what="withdrawCredit")

    # -- reading proposals back -------------------------------------------------------------

    def proposed_logs(self, from_block: int, to_block: int | str = "latest") -> list[dict]:
        return self.l1.call(
            "eth_getLogs",
            {
                "address": b2h(self.address),
                "topics": [topic(PROPOSED)],
                "fromBlock": hex(from_block),
                "toBlock": to_block if isinstance(to_block, str) else hex(to_block),
            },
        )

    def proposal_data(self, log_entry: dict) -> ProposalData:
        """The head and data a ``Proposed`` log's transaction posted."""
        tx = self.l1.call("eth_getTransactionByHash", log_entry["transactionHash"])
        data = h2b(tx["input"])
        if data[:4] != selector(PROPOSE):
            raise ValueError(f"{log_entry['transactionHash']} is not a direct propose call")
        head, transactions, witness = decode([L2_HEAD_TYPE, "bytes", "bytes"], data[4:])
        return ProposalData(
            number=h2i(log_entry["topics"][1]),
            head=L2Head.from_abi(head),
            transactions=transactions,
            witness=witness,
            l1_tx=log_entry["transactionHash"],
            l1_block=h2i(log_entry["blockNumber"]),
        )

    def execute_input(self, proposal: ProposalData, tag: int | str = "latest") -> bytes:
        """``abi.encode(ExecuteHead, transactions, witness)`` exactly as ``challenge`` builds it."""
        parent = self.proposal(proposal.number - 1, tag)
        h = proposal.head
        head = (
            parent.state_root,
            h.post_state_root,
            h.gas_used,
            h.receipts_root,
            parent.block_hash,
            self.l2_chain_id(),
            proposal.number,
            self.l2_gas_limit(),
            h.timestamp,
            h.coinbase,
            h.prev_randao,
            h.anchor,
        )
        return encode(
            [EXECUTE_HEAD_TYPE, "bytes", "bytes"], [head, proposal.transactions, proposal.witness]
        )


def challenge_gas(calldata_bytes: int) -> int:
    """L1 gas enough for a ``challenge`` with this much calldata: the EIP-7623 floor of every
    byte (40 gas), EXECUTE's ``100000 + 6 x words`` for its input (about the calldata again),
    the 1/64 EXECUTE's call keeps back, memory for the input, and the contract's own work."""
    words = calldata_bytes // 32 + 16
    execute = 100_000 + 6 * words
    memory = 3 * 2 * words + (2 * words) ** 2 // 512  # EXECUTE's input and its output
    return 21_000 + 40 * calldata_bytes + execute * 65 // 64 + memory + 200_000


def deploy_optimistic(
    deployer: Signer,
    l2: RpcClient,
    sequencer: bytes,
    initial_escrow: int,
    challenge_window: int,
    proposer_bond: int,
    challenger_bond: int,
) -> tuple[OptimisticRollup, RollupInfo, dict]:
    """Deploy ``OptimisticRollup`` for the L2 node's chain (escrow checked as for v1)."""
    genesis = l2_genesis(l2)
    check_initial_escrow(l2, initial_escrow, genesis)
    l2_chain_id = l2.chain_id()
    args = [
        h2b(genesis["hash"]),
        h2b(genesis["stateRoot"]),
        l2_chain_id,
        h2i(genesis["gasLimit"]),
        sequencer,
        MESSENGER,
        challenge_window,
        proposer_bond,
        challenger_bond,
    ]
    init = load_artifact("OptimisticRollup").bytecode + encode(CONSTRUCTOR, args)
    receipt = deployer.send(
        None, init, initial_escrow, gas=DEPLOY_GAS, what="deploy OptimisticRollup"
    )
    if h2i(receipt["status"]) != 1:
        raise TxFailed("deploy OptimisticRollup", receipt)
    address = h2b(receipt["contractAddress"])
    block = h2i(receipt["blockNumber"])
    info = RollupInfo(
        address=b2h(address),
        deploy_block=block,
        l1_chain_id=deployer.chain_id,
        l2_chain_id=l2_chain_id,
        l2_genesis_hash=genesis["hash"],
        sequencer=b2h(sequencer),
        initial_escrow=initial_escrow,
    )
    return OptimisticRollup(deployer.rpc, address, block), info, receipt


@dataclass
class BlockBuilder:
    """Builds the optimistic rollup's next L2 block on the L2 node: anchors the L1 message
    root, lets the relayer claim pending messages against it, and mines the block through the
    L2's controls (``evm_mine`` with the timestamp, anchor, coinbase and prevRandao), as the
    v1 sequencer does but without its settlement-side duties (policies, forced inclusion)."""

    rollup: OptimisticRollup
    l2: RpcClient
    relayer: Relayer
    control: RpcClient | None = None  # the L2's authenticated endpoint (default: ``l2``)
    coinbase: bytes = b"\x00" * 20

    def produce_block(self, force: bool = False) -> dict | None:
        """The next L2 block; ``None`` when there is nothing to put in it unless ``force``."""
        l1 = self.rollup.l1
        count = self.rollup.message_count()
        anchored = self.rollup.anchored_message_count()
        parent = self.l2.block("latest")
        number = h2i(parent["number"]) + 1
        l1_head = l1.block("latest")
        timestamp = max(h2i(parent["timestamp"]) + 1, h2i(l1_head["timestamp"]))
        self.relayer.book.sync(count)
        tree = self.relayer.book.tree(count)
        if not self.rollup.is_message_root(tree.root):
            raise ValueError(f"mirrored message root 0x{tree.root.hex()} unknown to the L1")
        self.relayer.submit_claims(tree, timestamp, number)
        pending = h2i(self.l2.call("txpool_status").get("pending", "0x0"))
        if not (force or pending or count > anchored):
            return None
        (self.control or self.l2).call(
            "evm_mine",
            {
                "timestamp": timestamp,
                "parentBeaconBlockRoot": b2h(tree.root),
                "coinbase": b2h(self.coinbase),
                "prevRandao": l1_head.get("mixHash") or b2h(keccak(h2b(l1_head["hash"]))),
            },
        )
        block = self.l2.block("latest")
        if h2i(block["number"]) != number or h2b(block["parentBeaconBlockRoot"]) != tree.root:
            raise ValueError(f"the L2 node did not mine block {number} with the anchor given")
        self.relayer.after_block(number)
        log.info(
            "L2 block %d 0x%s: %d txs", number, block["hash"][2:18], len(block["transactions"])
        )
        return block


@dataclass
class Proposer:
    """Proposes every L2 block the contract has not got yet (the optimistic sequencer's
    settlement half; building blocks is ``Sequencer.produce_block``'s)."""

    rollup: OptimisticRollup
    l2: RpcClient
    signer: Signer

    def propose_pending(self) -> list[tuple[int, dict]]:
        out = []
        last = self.rollup.last_proposed_number()
        for number in range(last + 1, self.l2.block_number() + 1):
            inp = fetch_advance_input(self.l2, number)
            receipt = self._propose(inp)
            log.info(
                "proposed L2 block %d 0x%s: %d L1 gas",
                number,
                inp.block_hash.hex()[:16],
                h2i(receipt["gasUsed"]),
            )
            out.append((number, receipt))
        return out

    def _propose(self, inp: AdvanceInput) -> dict:
        """Propose, waiting (bounded) while the L1 clock is behind the L2 block."""
        deadline = time.monotonic() + L1_TIME_WAIT
        while True:
            try:
                return self.rollup.propose(self.signer, inp)
            except RpcError as exc:
                revert = decode_revert(exc.revert_data)
                if revert is None or revert.name != "TimestampInFuture":
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
