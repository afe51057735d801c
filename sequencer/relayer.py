"""Messages between the layers, as a relayer moves them.

L1 -> L2: ``MessageBook`` mirrors the L1 message tree from the rollup's ``MessageSent``
logs. ``Relayer`` claims every pending message on L2 against the root the sequencer
anchors in the block it is about to mine: the claim's ``anchorTimestamp`` is that block's
timestamp (EXECUTE writes the anchor into the EIP-4788 contract before the transactions).
Each claim is simulated first with the anchor put into the beacon-roots contract by a state
override, at the gas the relayer will send it with, so a message whose call would fail
(``claim`` answers false and records the failure) or whose fee is below ``min_fee`` costs the
relayer nothing; it is retried after ``retry_blocks`` blocks. The message's ``fee`` pays the
relayer for the L2 gas. The claim forwards at least the message's ``minGasLimit`` to the
recipient (the messenger reverts otherwise), so the gas estimate already covers it.

L2 -> L1: ``find_withdrawal`` locates a message in the messenger's logs, ``withdrawal_proof``
proves ``sent[messageHash]`` with ``eth_getProof`` at a settled L2 block, and
``claim_withdrawal`` sends ``claimL2Message`` on L1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sequencer.client import RpcClient, RpcError, Signer, b2h, h2b, h2i
from sequencer.messages import (
    L2_CLAIM,
    L2_REFUND,
    L2_SEND,
    L2_TO_L1,
    MESSAGE_SENT,
    Domain,
    Message,
    MessageTree,
    calldata,
    decode_revert,
    sent_message_slot,
    topic,
)
from sequencer.rollup import BEACON_ROOTS, MESSENGER, Rollup, messages_in

log = logging.getLogger("native_rollup.relayer")

HISTORY_BUFFER_LENGTH = 8191  # EIP-4788 ring
CLAIM_GAS_MARGIN = 30_000


class RelayError(RuntimeError):
    pass


def messenger_view(l2: RpcClient, signature: str, *args, tag: int | str = "latest") -> int:
    from eth_abi import decode

    out = l2.eth_call(MESSENGER, calldata(signature, *args), tag=tag)
    return decode(["uint256"], out)[0]


def is_claimed_on_l2(l2: RpcClient, message: Message, tag: int | str = "latest") -> bool:
    """Whether L1 -> L2 ``message`` was delivered (or refunded) on L2."""
    return bool(messenger_view(l2, "isDone(bytes32)", message.hash, tag=tag))


def beacon_root_override(timestamp: int, root: bytes) -> dict:
    """A state override that makes the EIP-4788 contract answer ``root`` for ``timestamp``."""
    slot = timestamp % HISTORY_BUFFER_LENGTH
    return {
        b2h(BEACON_ROOTS): {
            "stateDiff": {
                b2h(slot.to_bytes(32, "big")): b2h(timestamp.to_bytes(32, "big")),
                b2h((slot + HISTORY_BUFFER_LENGTH).to_bytes(32, "big")): b2h(root),
            }
        }
    }


@dataclass
class MessageBook:
    """The L1 -> L2 messages sent so far, mirrored from ``MessageSent`` logs."""

    rollup: Rollup
    messages: dict[int, Message] = field(default_factory=dict)
    _next_block: int | None = None

    def sync(self, count: int | None = None) -> int:
        """Fetch new logs until the first ``count`` messages (default: all) are known."""
        if count is None:
            count = self.rollup.message_count()
        for _ in range(10):
            if all(i in self.messages for i in range(count)):
                return count
            start = self.rollup.deploy_block if self._next_block is None else self._next_block
            head = self.rollup.l1.block_number()
            for message in self.rollup.message_logs(start, head):
                self.messages[message.index] = message
            self._next_block = head + 1
        missing = [i for i in range(count) if i not in self.messages]
        raise RelayError(f"L1 messages {missing[:5]} have no MessageSent log")

    def tree(self, count: int) -> MessageTree:
        return MessageTree([self.messages[i].hash for i in range(count)])


@dataclass
class ClaimAttempt:
    message: Message
    tx_hash: str
    timestamp: int


@dataclass
class Relayer:
    """Claims L1 -> L2 messages on L2, paid by each message's fee."""

    rollup: Rollup
    l2: RpcClient
    signer: Signer  # on L2
    min_fee: int = 0
    retry_blocks: int = 10
    book: MessageBook = field(init=False)
    in_flight: dict[int, ClaimAttempt] = field(default_factory=dict)
    backoff: dict[int, tuple[int, str]] = field(default_factory=dict)  # index -> (until, why)
    claimed: list[Message] = field(default_factory=list)
    failed: list[tuple[Message, str]] = field(default_factory=list)
    done: set[int] = field(default_factory=set)  # known claimed on L2

    def __post_init__(self) -> None:
        self.book = MessageBook(self.rollup)

    def pending(self, count: int, l2_number: int) -> list[Message]:
        """Messages ``< count`` not yet claimed on L2, not in flight, not backing off."""
        out = []
        for index in range(count):
            if index in self.in_flight or index in self.done:
                continue
            until = self.backoff.get(index)
            if until is not None and l2_number < until[0]:
                continue
            message = self.book.messages[index]
            if message.fee < self.min_fee:
                continue
            if is_claimed_on_l2(self.l2, message):
                self.done.add(index)
                continue
            out.append(message)
        return out

    def claim_data(
        self, message: Message, tree: MessageTree, timestamp: int, levels: list | None = None
    ) -> bytes:
        return claim_calldata(message, tree.proof(message.index, levels), timestamp)

    def submit_claims(
        self, tree: MessageTree, timestamp: int, l2_number: int
    ) -> list[ClaimAttempt]:
        """Send a claim for every pending message against the anchor ``tree.root`` that the
        next L2 block (at ``timestamp``) will carry."""
        levels = tree.levels()
        root = levels[-1][0]
        override = beacon_root_override(timestamp, root)
        # no margin may lift a claim above the block gas limit: the pool would refuse it
        # (a message asking for MAX_MIN_GAS_LIMIT needs about 4.2M of a 5M block)
        block_gas_limit = h2i(self.l2.block("latest")["gasLimit"])
        attempts = []
        for message in self.pending(len(tree.leaves), l2_number):
            data = self.claim_data(message, tree, timestamp, levels)
            request = {"from": self.signer.account.address, "to": b2h(MESSENGER), "data": b2h(data)}
            try:
                gas = h2i(self.l2.call("eth_estimateGas", request, "latest", override))
                gas = min(gas + gas // 4 + CLAIM_GAS_MARGIN, block_gas_limit)
                # the estimate only avoids a revert: the recipient's call must also succeed
                out = self.l2.call("eth_call", {**request, "gas": hex(gas)}, "latest", override)
                delivered = h2b(out)[-1:] == b"\x01"
                why = "the recipient's call fails"
            except RpcError as exc:
                delivered, why = False, str(decode_revert(exc.revert_data) or exc.message)
            if not delivered:
                log.warning("message %d would fail on L2 (%s); retry later", message.index, why)
                self.backoff[message.index] = (l2_number + self.retry_blocks, why)
                self.failed.append((message, why))
                continue
            tx_hash = self.signer.submit(MESSENGER, data, gas=gas)
            attempt = ClaimAttempt(message, tx_hash, timestamp)
            self.in_flight[message.index] = attempt
            attempts.append(attempt)
        return attempts

    def after_block(self, l2_number: int) -> None:
        """Settle the bookkeeping of claims mined so far."""
        for index, attempt in list(self.in_flight.items()):
            receipt = self.l2.receipt(attempt.tx_hash)
            if receipt is None:
                if self.l2.call("eth_getTransactionByHash", attempt.tx_hash) is None:
                    log.warning("claim of message %d was dropped from the L2 pool", index)
                    del self.in_flight[index]
                    self.signer.resync()
                continue  # still in the pool (e.g. deferred by the block gas limit)
            del self.in_flight[index]
            if h2i(receipt["status"]) == 1 and is_claimed_on_l2(self.l2, attempt.message):
                self.claimed.append(attempt.message)
                self.done.add(index)
                self.backoff.pop(index, None)
            else:
                why = "claim reverted" if h2i(receipt["status"]) != 1 else "delivery failed"
                self.backoff[index] = (l2_number + self.retry_blocks, why)
                self.failed.append((attempt.message, why))


def claim_calldata(
    message: Message, proof: Sequence[bytes], anchor_timestamp: int, signature: str = L2_CLAIM
) -> bytes:
    """``L2Messenger.claim`` (or, with ``L2_REFUND``, ``refund``) calldata for L1 -> L2
    ``message``, proven with ``proof`` against the anchor of the L2 block at
    ``anchor_timestamp`` (any anchor at or after the message: the tree only grows)."""
    d = message.domain
    return calldata(
        signature, d.l1_chain_id, d.rollup, message.abi(), list(proof), anchor_timestamp
    )


def refund_calldata(message: Message, proof: Sequence[bytes], anchor_timestamp: int) -> bytes:
    """``L2Messenger.refund`` calldata: for a message whose delivery failed at least
    ``REFUND_DELAY`` seconds ago; the refund is an L2 -> L1 message to its L1 sender."""
    return claim_calldata(message, proof, anchor_timestamp, L2_REFUND)


# -- L2 -> L1 ----------------------------------------------------------------------------------


def withdraw(
    signer: Signer,
    to: bytes,
    value: int,
    fee: int = 0,
    data: bytes = b"",
    wait: bool = True,
    min_gas_limit: int = 0,
) -> tuple[str, dict | None]:
    """``sendMessage`` on the L2 messenger; returns the tx hash and (if ``wait``) its receipt.

    On a ``--no-mining`` L2 the receipt arrives once the sequencer mines the block."""
    tx_hash = signer.submit(MESSENGER, calldata(L2_SEND, to, min_gas_limit, fee, data), value + fee)
    return tx_hash, (signer.rpc.wait_receipt(tx_hash) if wait else None)


def l2_domain(l2: RpcClient, tag: int | str = "latest") -> Domain:
    """The domain the L2 messenger is bound to (by the first delivered L1 message)."""
    from eth_abi import decode

    out = l2.eth_call(MESSENGER, calldata("boundRollup()"), tag=tag)
    l1_chain_id, rollup = decode(["uint256", "address"], out)
    if l1_chain_id == 0:
        raise RelayError("the L2 messenger is not bound to a rollup yet (no L1 message delivered)")
    return Domain(l1_chain_id, l2.chain_id(), h2b(rollup))


def withdrawal_from_receipt(receipt: dict, domain: Domain) -> Message:
    (message,) = messages_in(receipt, MESSENGER, domain, L2_TO_L1)
    return message


def find_withdrawal(l2: RpcClient, index: int, domain: Domain) -> tuple[Message, int]:
    """L2 -> L1 message ``index`` and the L2 block that sent it."""
    logs = l2.call(
        "eth_getLogs",
        {
            "address": b2h(MESSENGER),
            "topics": [topic(MESSAGE_SENT), b2h(index.to_bytes(32, "big"))],
            "fromBlock": "0x0",
            "toBlock": "latest",
        },
    )
    if not logs:
        raise RelayError(f"no L2 -> L1 message {index} on L2")
    return Message.from_log(logs[0], domain, L2_TO_L1), h2i(logs[0]["blockNumber"])


def withdrawal_proof(
    l2: RpcClient, message: Message, l2_block: int
) -> tuple[list[bytes], list[bytes]]:
    """``eth_getProof`` of the messenger's ``sent[message.hash]`` at L2 block ``l2_block``."""
    slot = sent_message_slot(message.hash).to_bytes(32, "big")
    proof = l2.call("eth_getProof", b2h(MESSENGER), [b2h(slot)], hex(l2_block))
    return [h2b(n) for n in proof["accountProof"]], [
        h2b(n) for n in proof["storageProof"][0]["proof"]
    ]


@dataclass(frozen=True)
class WithdrawalProof:
    message: Message
    sent_in: int
    l2_block: int
    account_proof: list[bytes]
    storage_proof: list[bytes]

    def calldata(self) -> bytes:
        return Rollup.claim_data(
            self.message, self.l2_block, self.account_proof, self.storage_proof
        )

    def to_json(self) -> dict:
        return {
            "message": self.message.to_json(),
            "sentInL2Block": self.sent_in,
            "l2BlockNumber": self.l2_block,
            "accountProof": [b2h(n) for n in self.account_proof],
            "storageProof": [b2h(n) for n in self.storage_proof],
        }


def prove_withdrawal(
    rollup: Rollup, l2: RpcClient, index: int, l2_block: int | None = None
) -> WithdrawalProof:
    """Proof of withdrawal ``index`` against a settled L2 block (default: the settled head,
    which must be at or after the block that sent it)."""
    message, sent_in = find_withdrawal(l2, index, rollup.domain)
    settled = rollup.last_block_number()
    if l2_block is None:
        l2_block = settled
    if sent_in > settled:
        raise RelayError(
            f"message {index} was sent in L2 block {sent_in}; the L1 has settled up to {settled}"
        )
    account_proof, storage_proof = withdrawal_proof(l2, message, l2_block)
    return WithdrawalProof(message, sent_in, l2_block, account_proof, storage_proof)


def claim_withdrawal(rollup: Rollup, signer: Signer, proof: WithdrawalProof) -> dict:
    """``claimL2Message`` on L1 (``signer`` receives the message's fee)."""
    return signer.send(rollup.address, proof.calldata(), what="claimL2Message")
