"""Forced inclusion (``ForcedInclusion`` in the L1 contract): the queue as the L1 shows it, a
user's ``forceInclude``, and the EXECUTE witness that shows a due entry invalid on L2.

Rule ("included or provably invalid"): every settled block opens with the queue's due
entries in order; an entry the L2 rejects (its node refuses it: spent nonce, no funds, fee
below the base fee...) is left out only with a witness under which EXECUTE, run on the
block's header fields over the forced transactions included before it and then the entry,
answers "invalid transaction" (reason 6). ``invalidity_witness`` builds that witness from
the real block's ``debug_executionWitness`` plus ``eth_getProof`` of the entry's sender at
the parent block (the only state the failed validation reads beyond the block's own).
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_abi import decode
from eth_account import Account
from eth_hash.auto import keccak

from sequencer.advance import Witness
from sequencer.client import RpcClient, Signer, b2h, h2b, h2i
from sequencer.messages import FORCE_INCLUDE, FORCED_TX_QUEUED, calldata, topic
from sequencer.rollup import Rollup

EIP1559_TYPE = 0x02


@dataclass(frozen=True)
class ForcedEntry:
    """One ``forceInclude`` as logged: its queue index, the L2 tx and when it is due."""

    index: int
    tx_hash: bytes
    payer: bytes
    due_block: int
    l2_tx: bytes

    @property
    def sender(self) -> bytes:
        """The L2 sender the transaction's signature names."""
        return h2b(Account.recover_transaction(self.l2_tx))

    @property
    def nonce(self) -> int:
        return int.from_bytes(rlp.decode(self.l2_tx[1:])[1], "big")


def queued_entries(rollup: Rollup, from_index: int = 0) -> list[ForcedEntry]:
    """Every ``ForcedTxQueued`` entry from queue index ``from_index`` on, in order."""
    from sequencer.derive import rollup_logs

    logs = rollup_logs(rollup, [topic(FORCED_TX_QUEUED)])
    out = []
    for entry in logs:
        index = h2i(entry["topics"][1])
        if index < from_index:
            continue
        due, l2_tx = decode(["uint256", "bytes"], h2b(entry["data"]))
        out.append(
            ForcedEntry(index, h2b(entry["topics"][2]), h2b(entry["topics"][3])[12:], due, l2_tx)
        )
    return sorted(out, key=lambda e: e.index)


def pending_entries(rollup: Rollup, tag: int | str = "latest") -> list[ForcedEntry]:
    """The entries still in the queue (from its head), in order."""
    return queued_entries(rollup, rollup.forced_head(tag))


def force_include(signer: Signer, rollup: Rollup, l2_tx: bytes, fee: int | None = None) -> dict:
    """``forceInclude(l2Tx)`` paying ``fee`` (default: the contract's ``forceFee``); returns
    the L1 receipt (raises ``TxFailed`` with the contract's error if it refuses)."""
    if fee is None:
        fee = rollup.force_fee()
    return signer.send(rollup.address, calldata(FORCE_INCLUDE, l2_tx), fee, what="forceInclude")


def entry_from_receipt(rollup: Rollup, receipt: dict) -> ForcedEntry:
    """The entry a ``forceInclude`` receipt queued."""
    wanted = topic(FORCED_TX_QUEUED)
    for log in receipt["logs"]:
        if h2b(log["address"]) == rollup.address and log["topics"][0] == wanted:
            due, l2_tx = decode(["uint256", "bytes"], h2b(log["data"]))
            return ForcedEntry(
                h2i(log["topics"][1]), h2b(log["topics"][2]), h2b(log["topics"][3])[12:], due, l2_tx
            )
    raise ValueError("no ForcedTxQueued event in the receipt")


def invalidity_witness(
    l2: RpcClient, number: int, block_witness: Witness, sender: bytes
) -> Witness:
    """Witness for EXECUTE over block ``number``'s header fields with its forced prefix and
    then a transaction from ``sender``: the block's own witness plus the sender's account
    proof at the parent (``eth_getProof``, an absence proof if it has no account)."""
    proof = l2.call("eth_getProof", b2h(sender), [], hex(number - 1))
    nodes = tuple(h2b(n) for n in proof["accountProof"])
    known = {keccak(n) for n in block_witness.state}
    extra = tuple(n for n in nodes if keccak(n) not in known)
    return Witness(
        block_witness.headers,
        block_witness.codes,
        block_witness.state + extra,
        block_witness.keys,
    )


def tx_hashes_in(transactions: bytes) -> list[bytes]:
    """keccak of each transaction in a block body (``advance``'s ``transactions``)."""
    out = []
    for item in rlp.decode(transactions):
        out.append(keccak(item if isinstance(item, bytes) else rlp.encode(item)))
    return out
