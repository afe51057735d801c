"""The L1 rollup contract (``NativeRollup``): deployment, views, deposits, and the small JSON
file that tells every tool where a rollup lives.

Deployment reads the L2 node's genesis (hash, state root, chain id, gas limit) over
JSON-RPC, so the contract settles exactly that chain. Whatever ETH the L2 genesis gives to
accounts other than the messenger has no L1 backing unless it is sent along as
``initial_escrow`` (the constructor is payable). Deployment checks that they are equal: it
reads the L2's genesis alloc (``devnet_genesisAlloc``), recomputes its state root, requires
it to be block 0's (the root the contract will settle from), sums the balances outside the
messenger, and refuses any other escrow, naming both numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_abi import decode, encode

from sequencer.artifacts import load_artifact
from sequencer.client import ETHER, RpcClient, RpcError, Signer, b2h, h2b, h2i
from sequencer.messages import (
    L1_CLAIM,
    L1_SEND,
    L1_TO_L2,
    MESSAGE_SENT,
    POLICIES,
    ROLLUP_CONSTRUCTOR,
    Domain,
    Message,
    calldata,
    topic,
)

MESSENGER = bytes.fromhex("4200000000000000000000000000000000000007")
BEACON_ROOTS = bytes.fromhex("000F3df6D732807Ef1319fB7B8bB8522d0Beac02")
ROLLUP_DEPLOY_GAS = 8_000_000
DEFAULT_FORCE_DELAY = 10


@dataclass(frozen=True)
class RollupInfo:
    """Where a rollup lives (the ``--rollup-file`` document)."""

    address: str
    deploy_block: int
    l1_chain_id: int
    l2_chain_id: int
    l2_genesis_hash: str
    sequencer: str
    initial_escrow: int
    policy: str = "sequencer"
    force_delay: int = 10
    force_fee: int = 0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RollupInfo:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class RollupState:
    """The settlement state a forged block must not move."""

    last_block_hash: bytes
    last_block_number: int
    escrowed: int
    anchored_message_count: int


class Rollup:
    """Reads and writes of one ``NativeRollup`` on an L1 node."""

    def __init__(self, l1: RpcClient, address: bytes, deploy_block: int = 0) -> None:
        self.l1 = l1
        self.address = address
        self.deploy_block = deploy_block
        self._domain: Domain | None = None

    @property
    def domain(self) -> Domain:
        """The rollup's message domain (L1 chain id, L2 chain id, this contract)."""
        if self._domain is None:
            self._domain = Domain(self.l1.chain_id(), self.l2_chain_id(), self.address)
        return self._domain

    # -- views ------------------------------------------------------------------------------

    def view(
        self, signature: str, out_types: Sequence[str], *args: Any, tag: int | str = "latest"
    ) -> Any:
        out = self.l1.eth_call(self.address, calldata(signature, *args), tag=tag)
        values = decode(list(out_types), out)
        return values[0] if len(values) == 1 else values

    def last_block_hash(self, tag: int | str = "latest") -> bytes:
        return self.view("lastBlockHash()", ["bytes32"], tag=tag)

    def last_block_number(self, tag: int | str = "latest") -> int:
        return self.view("lastBlockNumber()", ["uint256"], tag=tag)

    def escrowed(self, tag: int | str = "latest") -> int:
        return self.view("escrowed()", ["uint256"], tag=tag)

    def message_root(self, tag: int | str = "latest") -> bytes:
        return self.view("messageRoot()", ["bytes32"], tag=tag)

    def message_count(self, tag: int | str = "latest") -> int:
        return self.view("messageCount()", ["uint256"], tag=tag)

    def anchored_message_count(self, tag: int | str = "latest") -> int:
        return self.view("anchoredMessageCount()", ["uint256"], tag=tag)

    def is_message_root(self, root: bytes) -> bool:
        return self.view("isMessageRoot(bytes32)", ["bool"], root)

    def settled_state_root(self, number: int) -> bytes:
        return self.view("settledStateRoot(uint256)", ["bytes32"], number)

    def is_l2_message_claimed(self, message_hash: bytes, tag: int | str = "latest") -> bool:
        return self.view("isL2MessageClaimed(bytes32)", ["bool"], message_hash, tag=tag)

    def sequencer(self) -> bytes:
        return h2b(self.view("sequencer()", ["address"]))

    def l2_chain_id(self) -> int:
        return self.view("l2ChainId()", ["uint256"])

    # -- sequencing policy and forced inclusion ----------------------------------------------

    def policy(self) -> str:
        """``sequencer`` or ``based``."""
        return POLICIES[self.view("policy()", ["uint8"])]

    def may_settle(self, who: bytes, tag: int | str = "latest") -> bool:
        """Whether ``who`` may settle the next block (policy or liveness fallback)."""
        return self.view("maySettle(address)", ["bool"], who, tag=tag)

    def force_delay(self) -> int:
        return self.view("forceDelay()", ["uint256"])

    def force_fee(self) -> int:
        return self.view("forceFee()", ["uint256"])

    def forced_head(self, tag: int | str = "latest") -> int:
        return self.view("forcedHead()", ["uint256"], tag=tag)

    def forced_count(self, tag: int | str = "latest") -> int:
        return self.view("forcedCount()", ["uint256"], tag=tag)

    def due_count(self, tag: int | str = "latest") -> int:
        return self.view("dueCount()", ["uint256"], tag=tag)

    def fallback_open(self, tag: int | str = "latest") -> bool:
        return self.view("forcedFallbackOpen()", ["bool"], tag=tag)

    def state(self, tag: int | str = "latest") -> RollupState:
        return RollupState(
            self.last_block_hash(tag),
            self.last_block_number(tag),
            self.escrowed(tag),
            self.anchored_message_count(tag),
        )

    # -- L1 -> L2 -----------------------------------------------------------------------------

    def message_logs(self, from_block: int, to_block: int | str = "latest") -> list[Message]:
        """The ``MessageSent`` messages logged in L1 blocks ``[from_block, to_block]``."""
        logs = self.l1.call(
            "eth_getLogs",
            {
                "address": b2h(self.address),
                "topics": [topic(MESSAGE_SENT)],
                "fromBlock": hex(from_block),
                "toBlock": to_block if isinstance(to_block, str) else hex(to_block),
            },
        )
        return [Message.from_log(log, self.domain, L1_TO_L2) for log in logs]

    def deposit(
        self,
        signer: Signer,
        to: bytes,
        value: int,
        fee: int = 0,
        data: bytes = b"",
        min_gas_limit: int = 0,
    ) -> tuple[Message, dict]:
        """``sendMessage(to, minGasLimit, fee, data)`` with ``msg.value = value + fee``."""
        receipt = signer.send(
            self.address,
            calldata(L1_SEND, to, min_gas_limit, fee, data),
            value + fee,
            what="sendMessage",
        )
        (message,) = messages_in(receipt, self.address, self.domain, L1_TO_L2)
        return message, receipt

    # -- L2 -> L1 -----------------------------------------------------------------------------

    @staticmethod
    def claim_data(
        message: Message,
        l2_block: int,
        account_proof: Sequence[bytes],
        storage_proof: Sequence[bytes],
    ) -> bytes:
        return calldata(L1_CLAIM, message.abi(), l2_block, list(account_proof), list(storage_proof))


def messages_in(receipt: dict, emitter: bytes, domain: Domain, direction: bytes) -> list[Message]:
    """The ``MessageSent`` messages ``emitter`` logged in a receipt (either layer)."""
    wanted = topic(MESSAGE_SENT)
    return [
        Message.from_log(log, domain, direction)
        for log in receipt["logs"]
        if h2b(log["address"]) == emitter and log["topics"] and log["topics"][0] == wanted
    ]


def l2_genesis(l2: RpcClient) -> dict:
    """The L2's genesis block (hash, state root, gas limit) over JSON-RPC."""
    return l2.block(0)


class EscrowMismatch(RuntimeError):
    """The initial escrow does not back the L2 genesis ETH outside the messenger."""


def l2_genesis_supply(l2: RpcClient, genesis: dict | None = None) -> int:
    """Wei the L2 genesis gives to accounts other than the messenger, from the node's alloc
    verified against block 0's state root (a node cannot understate it)."""
    from node.genesis import GenesisError, alloc_state_root, parse_alloc

    genesis = genesis or l2_genesis(l2)
    try:
        raw = l2.call("devnet_genesisAlloc")
    except RpcError as exc:
        raise EscrowMismatch(
            f"cannot check the escrow: the L2 node does not tell its genesis alloc ({exc})"
        ) from None
    try:
        alloc = parse_alloc(raw)
    except GenesisError as exc:
        raise EscrowMismatch(f"the L2 node's genesis alloc is unreadable: {exc}") from None
    root = alloc_state_root(alloc)
    if root != h2b(genesis["stateRoot"]):
        raise EscrowMismatch(
            f"the L2 node's genesis alloc has state root 0x{root.hex()}, but its block 0 "
            f"has {genesis['stateRoot']}"
        )
    return sum(acct.balance for address, acct in alloc.items() if address != MESSENGER)


def _eth(wei: int) -> str:
    return format((Decimal(wei) / ETHER).normalize(), "f")


def check_initial_escrow(l2: RpcClient, initial_escrow: int, genesis: dict | None = None) -> int:
    """Refuse an initial escrow that differs from the L2 genesis supply outside the
    messenger; returns that supply."""
    supply = l2_genesis_supply(l2, genesis)
    if initial_escrow != supply:
        raise EscrowMismatch(
            f"initial escrow {initial_escrow} wei ({_eth(initial_escrow)} ETH) does not "
            f"match the L2 genesis supply outside the messenger, {supply} wei "
            f"({_eth(supply)} ETH): pass --initial-escrow {_eth(supply)}"
        )
    return supply


def deploy_rollup(
    deployer: Signer,
    l2: RpcClient,
    sequencer: bytes,
    initial_escrow: int = 0,
    policy: str = "sequencer",
    force_delay: int = DEFAULT_FORCE_DELAY,
    force_fee: int = 0,
) -> tuple[Rollup, RollupInfo, dict]:
    """Deploy ``NativeRollup`` for the chain the L2 node serves, escrowing ``initial_escrow``
    wei (the L2 genesis balances outside the messenger), under sequencing ``policy``
    (``sequencer``: only ``sequencer`` settles; ``based``: anyone, ``sequencer`` ignored) with
    forced transactions due ``force_delay`` L1 blocks after ``forceInclude`` (fee
    ``force_fee`` wei)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown sequencing policy {policy!r} (one of {', '.join(POLICIES)})")
    if policy == "based":
        sequencer = b"\x00" * 20
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
        POLICIES.index(policy),
        force_delay,
        force_fee,
    ]
    init = load_artifact("NativeRollup").bytecode + encode(ROLLUP_CONSTRUCTOR, args)
    receipt = deployer.send(
        None, init, initial_escrow, gas=ROLLUP_DEPLOY_GAS, what="deploy NativeRollup"
    )
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
        policy=policy,
        force_delay=force_delay,
        force_fee=force_fee,
    )
    return Rollup(deployer.rpc, address, block), info, receipt


def open_rollup(l1: RpcClient, info: RollupInfo) -> Rollup:
    return Rollup(l1, h2b(info.address), info.deploy_block)
