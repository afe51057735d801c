"""The sequencer: builds each L2 block with its L1 anchor and settles it on L1.

One step (``Sequencer.step``):

1. settle any L2 block the L1 has not settled yet (a restart resumes from the L1 state);
2. read the L1 message count, mirror the message tree, and take its root as the anchor;
3. let the relayer claim every pending message against that anchor in the coming block;
4. mine the L2 block (``evm_mine`` with the timestamp, ``parentBeaconBlockRoot`` = anchor,
   ``coinbase`` and ``prevRandao``) if it has transactions or there are new messages;
5. fetch the block body (``debug_getRawBlock``) and ``debug_executionWitness``, send
   ``advance(...)`` on L1 (EXECUTE re-executes the block), and check that the L1 contract's
   ``lastBlockHash`` equals the L2 node's block hash.

Mining and its header fields are test-node controls, which an L2 node serves only on its
authenticated endpoint (``--auth-port`` with ``--jwt-secret``): the sequencer sends them
through ``control``, an ``RpcClient`` holding the JWT secret, and everything else through
the public ``l2``.

The L2 node must not mine on its own (``native-devnet --no-mining``): the sequencer decides
what every block holds and which anchor it carries. L2 timestamps never run ahead of the
L1 (``advance`` requires ``timestamp <= block.timestamp``): the next L2 timestamp is
``max(parent + 1, latest L1 timestamp)``, and an advance that is early waits for L1 time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import rlp
from eth_abi import decode
from eth_hash.auto import keccak

from precompiles.execute_wire import encode_witness, execute_gas_cost, execute_input_length
from sequencer.client import RpcClient, RpcError, Signer, TxFailed, b2h, h2b, h2i
from sequencer.messages import (
    ADVANCE,
    BLOCK_SETTLED,
    Revert,
    calldata,
    decode_revert,
    topic,
)
from sequencer.relayer import Relayer
from sequencer.rollup import Rollup

log = logging.getLogger("native_rollup.sequencer")

TX_BASE_GAS = 21_000
EARLY_RETRY_SECONDS = 60.0
METHOD_NOT_FOUND = -32601


class SettlementError(RuntimeError):
    """The L1 refused (or would refuse) an ``advance``."""

    def __init__(self, message: str, revert: Revert | None = None) -> None:
        super().__init__(message)
        self.revert = revert


class ChainMismatch(RuntimeError):
    """The L2 node does not serve the chain the L1 contract settles."""


# -- one L2 block as advance input ---------------------------------------------------------------


@dataclass(frozen=True)
class Witness:
    """``debug_executionWitness`` in parts; ``encode`` gives EXECUTE's canonical RLP form."""

    headers: tuple[bytes, ...]
    codes: tuple[bytes, ...]
    state: tuple[bytes, ...]
    keys: tuple[bytes, ...]

    @classmethod
    def from_json(cls, doc: dict) -> Witness:
        return cls(
            *(
                tuple(h2b(x) for x in doc.get(k) or [])
                for k in ("headers", "codes", "state", "keys")
            )
        )

    def encode(self) -> bytes:
        return encode_witness(self.headers, self.codes, self.state, self.keys)

    def without_state_node(self, node_hash: bytes) -> Witness:
        state = tuple(n for n in self.state if keccak(n) != node_hash)
        if len(state) == len(self.state):
            raise ValueError(f"no state node 0x{node_hash.hex()} in the witness")
        return replace(self, state=state)

    def without_code(self, code_hash: bytes) -> Witness:
        codes = tuple(c for c in self.codes if keccak(c) != code_hash)
        if len(codes) == len(self.codes):
            raise ValueError(f"no code 0x{code_hash.hex()} in the witness")
        return replace(self, codes=codes)


@dataclass(frozen=True)
class AdvanceInput:
    """The sequencer's fields of ``advance(...)`` for one L2 block (override to forge)."""

    number: int
    block_hash: bytes
    post_state_root: bytes
    receipts_root: bytes
    gas_used: int
    timestamp: int
    coinbase: bytes
    prev_randao: bytes
    anchor: bytes
    transactions: bytes
    witness: Witness
    tx_count: int

    def calldata(self) -> bytes:
        return calldata(
            ADVANCE,
            self.post_state_root,
            self.receipts_root,
            self.gas_used,
            self.timestamp,
            self.coinbase,
            self.prev_randao,
            self.anchor,
            self.transactions,
            self.witness.encode(),
        )

    @property
    def witness_bytes(self) -> int:
        return len(self.witness.encode())

    @property
    def execute_input_length(self) -> int:
        """``abi.encode(ExecuteHead, transactions, witness)`` as ``advance`` builds it."""
        return execute_input_length(len(self.transactions), self.witness_bytes)


def fetch_advance_input(l2: RpcClient, number: int) -> AdvanceInput:
    """``advance`` input for L2 block ``number``: header fields, body, execution witness."""
    block = l2.block(number)
    raw_block = rlp.decode(h2b(l2.call("debug_getRawBlock", hex(number))))
    witness = Witness.from_json(l2.call("debug_executionWitness", hex(number)))
    return AdvanceInput(
        number=number,
        block_hash=h2b(block["hash"]),
        post_state_root=h2b(block["stateRoot"]),
        receipts_root=h2b(block["receiptsRoot"]),
        gas_used=h2i(block["gasUsed"]),
        timestamp=h2i(block["timestamp"]),
        coinbase=h2b(block["miner"]),
        prev_randao=h2b(block["mixHash"]),
        anchor=h2b(block.get("parentBeaconBlockRoot") or "0x" + "00" * 32),
        transactions=rlp.encode(raw_block[1]),
        witness=witness,
        tx_count=len(raw_block[1]),
    )


# -- L1 gas of an advance ------------------------------------------------------------------------


@dataclass(frozen=True)
class GasSplit:
    """Where an ``advance`` transaction's L1 gas went.

    ``calldata_standard`` is 16/4 gas per non-zero/zero byte, ``calldata_floor`` EIP-7623's
    10 per token (a non-zero byte is 4 tokens). ``execute`` is EXECUTE's L1 charge
    (100000 + 6 per input word). ``execution`` is all the EVM gas of the call (EXECUTE plus
    the contract's logic) when a trace measured it. When the floor binds, the receipt shows
    ``21000 + floor`` and the execution gas is inside it (``floor_surcharge`` is the excess).
    """

    total: int
    calldata_bytes: int
    calldata_standard: int
    calldata_floor: int
    execute: int
    execution: int | None

    @property
    def floor_binds(self) -> bool:
        return self.total == TX_BASE_GAS + self.calldata_floor and (
            self.execution is None or self.calldata_floor > self.calldata_standard + self.execution
        )

    @property
    def logic(self) -> int | None:
        """Contract logic: execution gas minus EXECUTE's charge."""
        if self.execution is not None:
            return self.execution - self.execute
        if not self.floor_binds:
            return self.total - TX_BASE_GAS - self.calldata_standard - self.execute
        return None

    @property
    def floor_surcharge(self) -> int:
        """Gas paid beyond 21000 + standard calldata + execution (EIP-7623)."""
        if not self.floor_binds:
            return 0
        if self.execution is None:
            return self.total - TX_BASE_GAS - self.calldata_standard - self.execute
        return self.total - TX_BASE_GAS - self.calldata_standard - self.execution


def calldata_gas(data: bytes) -> tuple[int, int]:
    """(standard 16/4 gas, EIP-7623 floor) of transaction data."""
    zeros = data.count(0)
    nonzero = len(data) - zeros
    return 4 * zeros + 16 * nonzero, 10 * (zeros + 4 * nonzero)


def measured_execution_gas(l1: RpcClient, tx_hash: str) -> int | None:
    """EVM gas of a transaction's execution from geth's struct logger, if the node has it."""
    try:
        trace = l1.call(
            "debug_traceTransaction",
            tx_hash,
            {"disableStack": True, "disableStorage": True, "enableMemory": False},
        )
    except RpcError:
        return None
    logs = trace.get("structLogs") or []
    if not logs:
        return None
    top = [s for s in logs if s.get("depth") == 1]
    last = top[-1]
    return h2i(logs[0]["gas"]) - (h2i(last["gas"]) - h2i(last["gasCost"]))


# -- settlements ---------------------------------------------------------------------------------


@dataclass
class Settlement:
    """One L2 block settled on L1."""

    number: int
    l2_hash: bytes
    l1_tx: str
    l1_block: int
    tx_count: int
    l2_gas_used: int
    witness_bytes: int
    transactions_bytes: int
    gas: GasSplit
    burned_fees: int
    execute_fee: int
    execute_base_fee: int
    l1_gas_price: int
    seconds: float  # from the start of the block (mining or catch-up) to the checked hash
    mine_seconds: float = 0.0

    @property
    def l1_cost(self) -> int:
        """Wei the sequencer spent on L1 for this block (gas + execute fee)."""
        return self.gas.total * self.l1_gas_price + self.execute_fee


ADVANCE_ARGS = [
    "bytes32",
    "bytes32",
    "uint256",
    "uint256",
    "address",
    "bytes32",
    "bytes32",
    "bytes",
    "bytes",
]


def settled_event(receipt: dict, rollup_address: bytes) -> dict:
    """The ``BlockSettled`` event of an ``advance`` receipt."""
    wanted = topic(BLOCK_SETTLED)
    for entry in receipt["logs"]:
        if h2b(entry["address"]) == rollup_address and entry["topics"][0] == wanted:
            _, gas_used, burned, fee = decode(
                ["bytes32", "uint256", "uint256", "uint256"], h2b(entry["data"])
            )
            return {
                "number": h2i(entry["topics"][1]),
                "blockHash": h2b(entry["topics"][2]),
                "gasUsed": gas_used,
                "burnedFees": burned,
                "executeFee": fee,
            }
    raise SettlementError("advance succeeded without a BlockSettled event")


def settlement_of(
    l1: RpcClient,
    rollup_address: bytes,
    receipt: dict,
    data: bytes,
    seconds: float = 0.0,
    mine_seconds: float = 0.0,
    measure_execution: bool = True,
) -> Settlement:
    """Describe a successful ``advance`` from its L1 receipt and calldata alone."""
    event = settled_event(receipt, rollup_address)
    args = decode(ADVANCE_ARGS, data[4:])
    transactions, witness = args[7], args[8]
    l1_block = l1.block(h2i(receipt["blockNumber"]))
    standard, floor = calldata_gas(data)
    execution = (
        measured_execution_gas(l1, receipt["transactionHash"]) if measure_execution else None
    )
    input_length = execute_input_length(len(transactions), len(witness))
    return Settlement(
        number=event["number"],
        l2_hash=event["blockHash"],
        l1_tx=receipt["transactionHash"],
        l1_block=h2i(receipt["blockNumber"]),
        tx_count=len(rlp.decode(transactions)),
        l2_gas_used=event["gasUsed"],
        witness_bytes=len(witness),
        transactions_bytes=len(transactions),
        gas=GasSplit(
            total=h2i(receipt["gasUsed"]),
            calldata_bytes=len(data),
            calldata_standard=standard,
            calldata_floor=floor,
            execute=execute_gas_cost(input_length),
            execution=execution,
        ),
        burned_fees=event["burnedFees"],
        execute_fee=event["executeFee"],
        execute_base_fee=h2i(l1_block.get("executeBaseFeePerGas") or "0x0"),
        l1_gas_price=h2i(receipt["effectiveGasPrice"]),
        seconds=seconds,
        mine_seconds=mine_seconds,
    )


@dataclass
class Sequencer:
    """Builds L2 blocks and settles them through ``NativeRollup.advance``."""

    rollup: Rollup
    l2: RpcClient
    signer: Signer  # on L1: the rollup's sequencer key
    relayer: Relayer | None = None
    control: RpcClient | None = None  # the L2's authenticated endpoint (default: ``l2``)
    coinbase: bytes | None = None
    measure_execution: bool = True
    settlements: list[Settlement] = field(default_factory=list)
    on_settled: Callable[[Settlement], None] | None = None

    def __post_init__(self) -> None:
        if self.coinbase is None:
            self.coinbase = self.signer.address
        if self.control is None:  # a node that serves its controls publicly
            self.control = self.l2

    @property
    def l1(self) -> RpcClient:
        return self.rollup.l1

    # -- checks -------------------------------------------------------------------------------

    def check_chain(self) -> int:
        """The L1 contract's head is the L2 node's block of that number; returns it."""
        number = self.rollup.last_block_number()
        expected = self.rollup.last_block_hash()
        try:
            actual = h2b(self.l2.block(number)["hash"])
        except RpcError:
            raise ChainMismatch(
                f"the L2 node has no block {number}, which the L1 settled"
            ) from None
        if actual != expected:
            raise ChainMismatch(
                f"L2 block {number} is 0x{actual.hex()}, the L1 settled 0x{expected.hex()}"
            )
        sequencer = self.rollup.sequencer()
        if sequencer != self.signer.address:
            raise ChainMismatch(
                f"the rollup's sequencer is 0x{sequencer.hex()}, this key is "
                f"0x{self.signer.address.hex()}"
            )
        try:
            if self.control.call("anvil_getAutomine"):
                raise ChainMismatch("the L2 node automines; start it with --no-mining")
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:  # e.g. 401 from the authenticated endpoint
                raise
            # not a devnet that can tell
        return number

    # -- building -----------------------------------------------------------------------------

    def next_timestamp(self) -> int:
        parent = h2i(self.l2.block("latest")["timestamp"])
        l1_time = h2i(self.l1.block("latest")["timestamp"])
        return max(parent + 1, l1_time)

    def produce_block(self, force: bool = False) -> dict | None:
        """Anchor, claim and mine the next L2 block; ``None`` when there is nothing to do
        (no transactions and no new L1 messages) unless ``force``."""
        count = self.rollup.message_count()
        anchored = self.rollup.anchored_message_count()
        head = self.l2.block("latest")
        number = h2i(head["number"]) + 1
        timestamp = self.next_timestamp()
        anchor = b"\x00" * 32
        if self.relayer is not None:
            self.relayer.book.sync(count)
            tree = self.relayer.book.tree(count)
            anchor = tree.root
            if not self.rollup.is_message_root(anchor):
                raise SettlementError(f"mirrored message root 0x{anchor.hex()} unknown to L1")
            self.relayer.submit_claims(tree, timestamp, number)
        else:
            anchor = self.rollup.message_root()
        pending = self._pool_pending()
        if not (force or pending or count > anchored):
            return None
        l1_head = self.l1.block("latest")
        try:
            self.control.call(
                "evm_mine",
                {
                    "timestamp": timestamp,
                    "parentBeaconBlockRoot": b2h(anchor),
                    "coinbase": b2h(self.coinbase),
                    "prevRandao": l1_head.get("mixHash") or b2h(keccak(h2b(l1_head["hash"]))),
                },
            )
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            raise ChainMismatch(
                f"{self.control.url} does not serve evm_mine: an L2 node serves its controls on "
                "its authenticated endpoint (native-devnet --auth-port --jwt-secret); give "
                "the sequencer --l2-auth-url and --jwt-secret"
            ) from None
        block = self.l2.block("latest")
        if h2i(block["number"]) != number or h2i(block["timestamp"]) != timestamp:
            raise ChainMismatch(
                f"the L2 node mined {block['number']} at {block['timestamp']}, "
                f"not {number} at {timestamp}"
            )
        if h2b(block["parentBeaconBlockRoot"]) != anchor:
            raise ChainMismatch("the L2 block does not carry the anchor it was given")
        if self.relayer is not None:
            self.relayer.after_block(number)
        log.info(
            "L2 block %d 0x%s: %d txs, anchor 0x%s (%d messages)",
            number,
            block["hash"][2:18],
            len(block["transactions"]),
            anchor.hex()[:16],
            count,
        )
        return block

    def _pool_pending(self) -> int:
        try:
            status = self.l2.call("txpool_status")
            return h2i(status.get("pending", "0x0"))
        except RpcError:
            return 0

    # -- settling -----------------------------------------------------------------------------

    def simulate(self, inp: AdvanceInput) -> Revert | None:
        """``eth_call`` of the advance from the sequencer: ``None`` if it would succeed."""
        try:
            self.l1.eth_call(self.rollup.address, inp.calldata(), sender=self.signer.address)
        except RpcError as exc:
            revert = decode_revert(exc.revert_data)
            if revert is None:
                raise
            return revert
        return None

    def estimate(self, inp: AdvanceInput) -> int:
        """Gas for the advance, waiting (bounded) while the L1 clock is behind the L2 block."""
        deadline = time.monotonic() + EARLY_RETRY_SECONDS
        while True:
            try:
                return self.signer.estimate(self.rollup.address, inp.calldata())
            except RpcError as exc:
                revert = decode_revert(exc.revert_data)
                if (
                    revert is not None
                    and revert.name == "TimestampInFuture"
                    and (time.monotonic() < deadline)
                ):
                    time.sleep(0.5)
                    continue
                raise SettlementError(
                    f"advance of L2 block {inp.number} would fail: {revert or exc.message}", revert
                ) from None

    def submit_advance(self, inp: AdvanceInput, gas: int | None = None) -> dict:
        """Send ``advance`` (forged or not) and return its receipt without judging it."""
        data = inp.calldata()
        if gas is None:
            gas = self.estimate(inp)
            gas += gas // 10
        return self.l1.wait_receipt(self.signer.submit(self.rollup.address, data, gas=gas))

    def settle(
        self, number: int, started: float | None = None, mine_seconds: float = 0.0
    ) -> Settlement:
        """Settle L2 block ``number`` (the L1's next) and check the hashes agree."""
        started = time.monotonic() if started is None else started
        inp = fetch_advance_input(self.l2, number)
        receipt = self.submit_advance(inp)
        if h2i(receipt["status"]) != 1:
            revert = self.simulate(inp)
            raise TxFailed(f"advance of L2 block {number} ({revert})", receipt)
        settled_hash = self.rollup.last_block_hash()
        if settled_hash != inp.block_hash or self.rollup.last_block_number() != number:
            raise ChainMismatch(
                f"L1 settled 0x{settled_hash.hex()} for L2 block {number}, the L2 node has "
                f"0x{inp.block_hash.hex()}"
            )
        settlement = settlement_of(
            self.l1,
            self.rollup.address,
            receipt,
            inp.calldata(),
            seconds=time.monotonic() - started,
            mine_seconds=mine_seconds,
            measure_execution=self.measure_execution,
        )
        self.settlements.append(settlement)
        log.info(
            "settled L2 block %d 0x%s on L1 in %s: %d L1 gas, execute fee %d wei, %.2fs",
            number,
            inp.block_hash.hex()[:16],
            receipt["transactionHash"][:18],
            settlement.gas.total,
            settlement.execute_fee,
            settlement.seconds,
        )
        if self.on_settled is not None:
            self.on_settled(settlement)
        return settlement

    # -- the loop -----------------------------------------------------------------------------

    def catch_up(self) -> list[Settlement]:
        """Settle every L2 block past the L1's head (after a restart, or blocks mined by
        someone else)."""
        out = []
        settled = self.rollup.last_block_number()
        head = self.l2.block_number()
        for number in range(settled + 1, head + 1):
            out.append(self.settle(number))
        return out

    def step(self, force: bool = False) -> list[Settlement]:
        """Catch up, then build and settle one block if there is anything to put in it."""
        out = self.catch_up()
        started = time.monotonic()
        block = self.produce_block(force)
        if block is not None:
            mined = time.monotonic() - started
            out.append(self.settle(h2i(block["number"]), started, mined))
        return out

    def run(
        self,
        interval: float = 1.0,
        max_blocks: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Step every ``interval`` seconds until ``should_stop()`` or ``max_blocks``."""
        self.check_chain()
        produced = 0
        while not (should_stop and should_stop()):
            began = time.monotonic()
            try:
                produced += len(self.step())
            except (RpcError, OSError) as exc:  # a node restarting: try again next step
                log.warning("step failed, retrying: %s", exc)
                self.signer.resync()
                if self.relayer is not None:
                    self.relayer.signer.resync()
            if max_blocks is not None and produced >= max_blocks:
                return
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
