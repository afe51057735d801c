"""The optimistic watcher: re-executes every ``OptimisticRollup`` proposal through the EXECUTE
code path and challenges an invalid one by itself.

For each proposal still open (not final), in number order:

1. find the ``propose`` transaction behind its stored commitment (``Proposed`` logs) and read
   the head, transactions and witness from its calldata;
2. build EXECUTE's input exactly as ``challenge`` will (parent hash and pre-state root from
   the parent proposal, number, chain id and gas limit from the contract) and ``eth_call`` the
   EXECUTE precompile on the L1: the L1 node runs the same function the contract's call
   runs;
3. ``ExecuteInvalid(reason)``, or a valid block whose hash differs from the claimed one, is
   fraud: send ``challenge`` with the challenger bond. Every later proposal goes with it, so
   the pass stops there and the next poll starts over from the re-proposals.

A proposal judged valid is remembered by its commitment (a re-proposal of the same number
with other data is judged again). A halt (the call ran out of gas, the execute-gas limit of
the L1 block was reached) judges nothing; the next poll retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from eth_abi import decode

from sequencer.client import RpcClient, RpcError, Signer, h2b, h2i
from sequencer.messages import topic
from sequencer.optimistic import (
    DISCARDED,
    EXECUTE_ADDRESS,
    EXECUTE_INVALID,
    EXECUTE_OUTPUT_TYPES,
    OptimisticRollup,
    ProposalData,
    commitment,
)

log = logging.getLogger("native_rollup.watcher")

JUDGE_ATTEMPTS = 3  # eth_calls of EXECUTE per proposal and poll when the node times out


@dataclass(frozen=True)
class Verdict:
    """EXECUTE's judgement of one proposal: ``valid``, or the reason it is not (EXECUTE's
    reason code; 0 = the block hash differs from the claimed one); ``None`` if it halted."""

    number: int
    valid: bool | None
    reason: int = 0
    detail: str = ""


@dataclass(frozen=True)
class Challenge:
    """A challenge the watcher sent, and what the contract did."""

    number: int
    reason: int
    l1_tx: str
    gas_used: int
    discarded_up_to: int | None  # the last proposal discarded with it (None: challenge failed)


@dataclass
class Watcher:
    rollup: OptimisticRollup
    signer: Signer  # the challenger's L1 key (an account without code: it pays the execute fee)
    judged: dict[int, bytes] = field(default_factory=dict)  # number -> valid commitment
    challenges: list[Challenge] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    _by_commitment: dict[bytes, dict] = field(default_factory=dict)
    _next_log_block: int | None = None

    @property
    def l1(self) -> RpcClient:
        return self.rollup.l1

    # -- reading proposals ------------------------------------------------------------------

    def _scan_logs(self) -> None:
        start = self.rollup.deploy_block if self._next_log_block is None else self._next_log_block
        head = self.l1.block_number()
        if start > head:
            return
        for entry in self.rollup.proposed_logs(start, head):
            self._by_commitment[h2b(entry["data"])[32:64]] = entry
        self._next_log_block = head + 1

    def open_proposals(self) -> list[tuple[int, bytes]]:
        """``(number, commitment)`` of every proposal not yet final, in order."""
        last = self.rollup.last_proposed_number()
        first = self.rollup.finalized_number() + 1
        return [(n, self.rollup.proposal(n).commitment) for n in range(first, last + 1)]

    def data_of(self, stored_commitment: bytes) -> ProposalData:
        entry = self._by_commitment.get(stored_commitment)
        if entry is None:
            self._scan_logs()
            entry = self._by_commitment.get(stored_commitment)
        if entry is None:
            raise ValueError(f"no Proposed log carries commitment 0x{stored_commitment.hex()}")
        data = self.rollup.proposal_data(entry)
        if commitment(data.head, data.transactions, data.witness) != stored_commitment:
            raise ValueError(f"proposal {data.number}: calldata does not match its commitment")
        return data

    # -- judging ----------------------------------------------------------------------------

    def judge(self, proposal: ProposalData) -> Verdict:
        """EXECUTE's verdict on the proposal, by ``eth_call`` to the precompile on the L1."""
        execute_input = self.rollup.execute_input(proposal)
        for attempt in range(1, JUDGE_ATTEMPTS + 1):
            try:
                out = self.l1.eth_call(EXECUTE_ADDRESS, execute_input, sender=self.signer.address)
                break
            except RpcError as exc:
                data = exc.revert_data
                if data and data[:4] == EXECUTE_INVALID and len(data) == 36:
                    reason = int.from_bytes(data[4:], "big")
                    return Verdict(proposal.number, False, reason, f"ExecuteInvalid({reason})")
                if "timeout" in exc.message and attempt < JUDGE_ATTEMPTS:
                    continue  # the node's simulation deadline on a busy machine: again
                return Verdict(proposal.number, None, 0, f"not judged: {exc.message}")
        if len(out) != 256:
            return Verdict(proposal.number, None, 0, f"EXECUTE returned {len(out)} bytes")
        values = decode(EXECUTE_OUTPUT_TYPES, out)
        block_hash = values[5]
        if block_hash != proposal.head.block_hash:
            return Verdict(
                proposal.number,
                False,
                0,
                f"block hash 0x{block_hash.hex()} != claimed 0x{proposal.head.block_hash.hex()}",
            )
        return Verdict(proposal.number, True)

    def challenge(self, proposal: ProposalData, verdict: Verdict) -> Challenge:
        receipt = self.rollup.challenge(self.signer, proposal)
        discarded = None
        wanted = topic(DISCARDED)
        for entry in receipt["logs"]:
            if entry["topics"] and entry["topics"][0] == wanted:
                discarded = h2i("0x" + entry["data"][2:66])
        record = Challenge(
            proposal.number,
            verdict.reason,
            receipt["transactionHash"],
            h2i(receipt["gasUsed"]),
            discarded,
        )
        self.challenges.append(record)
        log.warning(
            "challenged proposal %d (%s) in %s: %s",
            proposal.number,
            verdict.detail,
            receipt["transactionHash"][:18],
            "discarded" if discarded is not None else "the challenge failed",
        )
        return record

    def poll(self) -> list[Challenge]:
        """Judge every open proposal not judged yet; challenge the first invalid one."""
        out = []
        for number, stored in self.open_proposals():
            if self.judged.get(number) == stored:
                continue
            data = self.data_of(stored)
            verdict = self.judge(data)
            self.verdicts.append(verdict)
            if verdict.valid is None:
                log.warning("proposal %d not judged: %s", number, verdict.detail)
                break
            if verdict.valid:
                self.judged[number] = stored
                log.info("proposal %d is valid", number)
                continue
            out.append(self.challenge(data, verdict))
            for later in [n for n in self.judged if n >= number]:
                del self.judged[later]
            break  # every later proposal was discarded with it
        return out
