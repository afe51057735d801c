"""EXECUTE fuzzed through REAL L1 transactions.

An L2 node process (genesis/l2.json, ``--no-mining``) makes a block of transfers (mined with
a non-zero L1 anchor) and an empty block; their EXECUTE inputs are fetched over JSON-RPC
(``input_from_rpc``, witness in RLP and JSON form). An L1 node process then receives
``EXECUTE_FUZZ_TXS`` (default 200) real transactions ``ExecuteCaller.callExecute(input)``,
signed locally with nonces kept here, where ``input`` is a valid input, a random mutation of
one (bytes flipped/inserted/deleted, head words overwritten, tails truncated or mutated,
witness entries shuffled/duplicated/dropped) or pure random bytes.

Every input's expected outcome is computed in this process with the same verifier
(``decode_execute_input`` + ``verify`` on the L2 rules); the node must agree:

- every transaction gets a receipt with status 1 (the caller contract catches failure);
- ``Executed.success`` is true exactly when the local verdict is valid, and then the output
  names the block the input encodes (the base block, or the base block with the free header
  fields of the mutated input); valid outputs also satisfy ``executeFee == gasUsed *
  executeBaseFeePerGas``;
- a false ``success`` carries either empty output (exceptional halt: malformed input; all
  forwarded gas consumed) or exactly ``ExecuteInvalid(reason)`` with the local reason in
  1..11 (unused gas returned);
- the L1 keeps producing blocks and its log holds no Python traceback.

Inputs whose execute-gas reservation alone exceeds the block limit can never be included
(the builder refuses them), so they go through ``eth_call`` only. Also covered: STATICCALL
(``eth_call staticExecute``) agrees with CALL for a valid and an invalid input, and
``callExecuteWithGas`` with less gas than the fixed charge halts (false, empty output).

Seed: ``EXECUTE_FUZZ_SEED`` (default 20260509); it is printed for reproduction.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, fields, replace

import pytest
import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from devtools.contracts import load
from devtools.execute_inputs import input_from_rpc
from node.fork.osaka import DevnetOsakaVM
from node.genesis import DEFAULT_L1_GENESIS, load_genesis
from precompiles.execute import Verdict, decode_transactions, verify
from precompiles.execute_wire import (
    EXECUTE_ADDRESS,
    UINT64_MAX,
    ExecuteInput,
    MalformedInput,
    Reason,
    decode_execute_input,
    decode_output,
    encode_execute_input,
    encode_invalid,
    execute_gas_cost,
)
from tests.procs import DEV_ADDRESSES, DEV_KEYS, NodeProcess, rpc, start_node

# The test mines L2 blocks itself (evm_mine with anchors) and pays from dev accounts: a local
# experiment, so it opts into what an L2 node does not do by default.
L2_LOCAL_EXPERIMENT = ["--public-controls", "--accounts", "10"]

pytestmark = pytest.mark.e2e

L1_CHAIN_ID = 31337
L2_CHAIN_ID = 31338
N_TXS = int(os.environ.get("EXECUTE_FUZZ_TXS", "200"))
SEED = int(os.environ.get("EXECUTE_FUZZ_SEED", "20260509"))
CALL_GAS = 5_000_000
GWEI = 10**9
WORD = 32
L2_VM = DevnetOsakaVM  # the rules the L1's schedule (Osaka from genesis) gives EXECUTE
EXECUTE_LIMIT = load_genesis(DEFAULT_L1_GENESIS).execute.gas_limit
EXECUTED_TOPIC = keccak(text="Executed(bool,bytes,uint256)")
ANCHOR = "0x" + "a1" * 32
# Before the L1's clock (NR-EXECUTE v1.1: an L2 block later than the L1 block is reason 5);
# the L2's genesis is set just before it.
L2_TIMESTAMP = 1_700_000_000
# Fields a valid verdict must share with the block it came from (the rest is free, or is
# bound by these: transactions and coinbase by the roots, chain id by the signatures).
BOUND_FIELDS = (
    "pre_state_root",
    "post_state_root",
    "gas_used",
    "receipts_root",
    "parent_hash",
    "number",
    "timestamp",
    "l1_anchor",
)


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


# -- the nodes --------------------------------------------------------------------------


class Signer:
    """EIP-1559 transactions signed locally for one key; the nonce is kept here."""

    def __init__(self, node: NodeProcess, key: str, address: str, chain_id: int) -> None:
        self.node, self.key, self.address, self.chain_id = node, key, address, chain_id
        self.nonce = int(node.call("eth_getTransactionCount", address, "pending"), 16)

    def send(self, to: str | None, data: bytes = b"", value: int = 0, gas: int = 21_000) -> str:
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "gas": gas,
            "maxFeePerGas": 200 * GWEI,
            "maxPriorityFeePerGas": GWEI,
            "value": value,
            "data": "0x" + data.hex(),
        }
        if to is not None:
            tx["to"] = to
        raw = Account.sign_transaction(tx, self.key).raw_transaction
        tx_hash = self.node.call("eth_sendRawTransaction", "0x" + bytes(raw).hex())
        self.nonce += 1
        return tx_hash


def wait_receipt(node: NodeProcess, tx_hash: str, timeout: float = 120.0) -> dict:
    return node.wait_receipt(tx_hash, timeout)


@dataclass(frozen=True)
class BaseInput:
    name: str
    inp: ExecuteInput
    data: bytes
    block_hash: bytes
    verdict: Verdict


@pytest.fixture(scope="module")
def l2_inputs(tmp_path_factory) -> tuple[BaseInput, ...]:
    """Valid inputs for a transfers block (RLP and JSON witness) and an empty block."""
    node = start_node(
        [
            "--genesis",
            "genesis/l2.json",
            "--no-mining",
            "--timestamp",
            str(L2_TIMESTAMP - 1000),
            *L2_LOCAL_EXPERIMENT,
        ],
        log_dir=tmp_path_factory.mktemp("l2"),
    )
    try:
        assert int(node.call("eth_chainId"), 16) == L2_CHAIN_ID
        signers = [Signer(node, DEV_KEYS[i], DEV_ADDRESSES[i], L2_CHAIN_ID) for i in range(3)]
        for i, signer in enumerate(signers):
            signer.send("0x" + f"{i + 1:02x}" * 20, value=10**18 + i)
        signers[0].send("0x" + "77" * 20, value=5)
        # Fixed timestamps: the same seed then gives the same inputs on every run.
        node.call("evm_mine", {"parentBeaconBlockRoot": ANCHOR, "timestamp": L2_TIMESTAMP})
        node.call("evm_mine", {"timestamp": L2_TIMESTAMP + 12})
        assert int(node.call("eth_blockNumber"), 16) == 2
        block1 = node.call("eth_getBlockByNumber", "0x1", False)
        assert len(block1["transactions"]) == 4
        assert block1["parentBeaconBlockRoot"] == ANCHOR
        out = []
        for name, number, form in (
            ("transfers-rlp", 1, "rlp"),
            ("transfers-json", 1, "json"),
            ("empty-rlp", 2, "rlp"),
        ):
            inp = input_from_rpc(node, number, form)
            verdict = verify(inp, L2_VM)
            block = node.call("eth_getBlockByNumber", hex(number), False)
            assert verdict.valid, verdict
            assert verdict.block_hash == _b(block["hash"])
            out.append(BaseInput(name, inp, encode_execute_input(inp), _b(block["hash"]), verdict))
        assert "Traceback" not in node.log()
        return tuple(out)
    finally:
        node.stop()


@dataclass
class L1:
    node: NodeProcess
    signer: Signer
    caller: str


@pytest.fixture(scope="module")
def l1(tmp_path_factory) -> L1:
    node = start_node([], log_dir=tmp_path_factory.mktemp("l1"))
    try:
        signer = Signer(node, DEV_KEYS[0], DEV_ADDRESSES[0], L1_CHAIN_ID)
        tx_hash = signer.send(None, _b(load("ExecuteCaller").bytecode), gas=3_000_000)
        receipt = wait_receipt(node, tx_hash)
        assert receipt["status"] == "0x1", receipt
        yield L1(node, signer, to_checksum_address(receipt["contractAddress"]))
    finally:
        node.stop()


def call_data(signature: str, types: list[str], args: list) -> bytes:
    return keccak(text=signature)[:4] + encode(types, args)


def executed_events(receipt: dict) -> list[tuple[bool, bytes, int]]:
    out = []
    for log in receipt["logs"]:
        if _b(log["topics"][0]) == EXECUTED_TOPIC:
            out.append(tuple(decode(["bool", "bytes", "uint256"], _b(log["data"]))))
    return out


def static_execute(l1: L1, data: bytes) -> tuple[bool, bytes]:
    result = l1.node.call(
        "eth_call",
        {
            "from": l1.signer.address,
            "to": l1.caller,
            "gas": hex(CALL_GAS),
            "data": "0x" + call_data("staticExecute(bytes)", ["bytes"], [data]).hex(),
        },
        "latest",
    )
    ok, out = decode(["bool", "bytes"], _b(result))
    return ok, out


def simulate_call_execute(l1: L1, data: bytes) -> tuple[bool, bytes]:
    result = l1.node.call(
        "eth_call",
        {
            "from": l1.signer.address,
            "to": l1.caller,
            "gas": hex(CALL_GAS),
            "data": "0x" + call_data("callExecute(bytes)", ["bytes"], [data]).hex(),
        },
        "latest",
    )
    ok, out = decode(["bool", "bytes"], _b(result))
    return ok, out


# -- mutations (seeded ``random``; the oracle below decides what each must give) -----------


def _u(value: int) -> bytes:
    return (value % 2**256).to_bytes(WORD, "big")


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    kind = rng.choice(["flip", "insert", "delete", "truncate", "overwrite"])
    n = len(data)
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(n)] ^= rng.randint(1, 255)
        return bytes(out)
    if kind == "insert":
        at = rng.randint(0, n)
        return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]
    if kind == "delete":
        at = rng.randrange(n)
        return data[:at] + data[at + rng.randint(1, 64) :]
    if kind == "truncate":
        return data[: rng.randrange(n)]
    at = rng.randrange(n)
    chunk = rng.randbytes(rng.randint(1, 32))
    return data[:at] + chunk + data[at + len(chunk) :]


def _witness_lists(inp: ExecuteInput) -> list[list[bytes]]:
    if inp.witness[:1] == b"{":
        doc = json.loads(inp.witness)
        return [[_b(x) for x in doc[k]] for k in ("headers", "codes", "state", "keys")]
    return [list(x) for x in rlp.decode(inp.witness)]


def mutate(rng: random.Random, base: BaseInput) -> tuple[str, bytes]:
    kind = rng.choice(
        [
            "bytes",
            "bytes",
            "tail",
            "tail",
            "head",
            "head",
            "reorder",
            "drop-entry",
            "truncate-witness",
            "tx-swap",
        ]
    )
    inp = base.inp
    if kind == "bytes":
        return kind, _mutate_bytes(rng, base.data)
    if kind == "tail":
        region = rng.choice(["transactions", "witness"])
        value = getattr(inp, region)
        for _ in range(rng.randint(1, 3)):
            value = _mutate_bytes(rng, value)
        return f"tail-{region}", encode_execute_input(replace(inp, **{region: value}))
    if kind == "head":
        data = bytearray(base.data)
        for _ in range(rng.randint(1, 2)):
            index = rng.randrange(14)
            old = int.from_bytes(base.data[index * WORD : (index + 1) * WORD], "big")
            word = rng.choice(
                [
                    rng.randbytes(WORD),
                    _u(old + rng.randint(-2, 2)),
                    _u(rng.choice([0, 1, 448, UINT64_MAX, UINT64_MAX + 1, 2**256 - 1])),
                    _u(rng.randint(0, UINT64_MAX)),
                ]
            )
            data[index * WORD : (index + 1) * WORD] = word
        return kind, bytes(data)
    lists = _witness_lists(inp)
    if kind == "reorder":
        for entries in lists[:3]:
            entries.extend(rng.choices(entries, k=rng.randint(0, 2)) if entries else [])
            rng.shuffle(entries)
        return kind, encode_execute_input(replace(inp, witness=rlp.encode(lists)))
    if kind == "drop-entry":
        which = rng.choice([i for i in range(3) if lists[i]])
        del lists[which][rng.randrange(len(lists[which]))]
        return kind, encode_execute_input(replace(inp, witness=rlp.encode(lists)))
    if kind == "truncate-witness":
        witness = inp.witness[: rng.randrange(len(inp.witness))]
        return kind, encode_execute_input(replace(inp, witness=witness))
    items = rlp.decode(inp.transactions)
    if len(items) >= 2:
        i, j = rng.sample(range(len(items)), 2)
        items[i], items[j] = items[j], items[i]
    return kind, encode_execute_input(replace(inp, transactions=rlp.encode(items)))


def random_input(rng: random.Random) -> tuple[str, bytes]:
    if rng.random() < 0.5:
        return "random", rng.randbytes(rng.randint(0, 1200))
    inp = ExecuteInput(
        *(rng.randbytes(32) for _ in range(2)),
        rng.randint(0, UINT64_MAX),
        rng.randbytes(32),
        rng.randbytes(32),
        rng.randint(0, UINT64_MAX),
        rng.randint(0, UINT64_MAX),
        rng.randint(0, 2 * 10**7),
        rng.randint(0, UINT64_MAX),
        rng.randbytes(20),
        rng.randbytes(32),
        rng.randbytes(32),
        rng.randbytes(rng.randint(0, 300)),
        rng.randbytes(rng.randint(0, 300)),
    )
    return "random-head", encode_execute_input(inp)


# -- the oracle -------------------------------------------------------------------------


@dataclass
class Expected:
    how: str
    data: bytes
    decoded: ExecuteInput | None
    verdict: Verdict | None  # None: malformed (halt)
    reserve: int  # W, the execute gas reserved before verifying

    @property
    def halts(self) -> bool:
        return self.verdict is None


def reservation(inp: ExecuteInput) -> int:
    try:
        total = sum(tx.gas for tx in decode_transactions(inp.transactions, L2_VM))
    except Exception:
        return max(inp.gas_used, inp.gas_limit)
    return max(inp.gas_used, min(inp.gas_limit, total))


def expect(how: str, data: bytes) -> Expected:
    try:
        inp = decode_execute_input(data)
    except MalformedInput:
        return Expected(how, data, None, None, 0)
    verdict = verify(inp, L2_VM)
    # v1.1: a block stamped after the calling L1 block (about now; a mutated timestamp is
    # within 2 of a base's or random in uint64, never near now) is a header rule, after 1-4.
    if inp.timestamp > time.time() and (verdict.valid or verdict.reason >= Reason.HEADER_RULE):
        verdict = Verdict(Reason.HEADER_RULE)
    return Expected(how, data, inp, verdict, reservation(inp))


def check_valid_is_the_encoded_block(exp: Expected, bases: tuple[BaseInput, ...]) -> None:
    """A valid verdict only for a base block (same hash unless a field other than the
    witness changed), or that block with free fields changed."""
    inp = exp.decoded
    same_block = [
        b for b in bases if all(getattr(inp, f) == getattr(b.inp, f) for f in BOUND_FIELDS)
    ]
    assert same_block, f"{exp.how}: valid, but no base block has these bound fields"
    for base in same_block:
        changed = {
            f.name
            for f in fields(ExecuteInput)
            if getattr(inp, f.name) != getattr(base.inp, f.name)
        }
        if changed <= {"witness"}:
            assert exp.verdict.block_hash == base.block_hash, exp.how


def check_outcome(exp: Expected, ok: bool, out: bytes, bases) -> None:
    where = f"{exp.how} input 0x{exp.data[:40].hex()}... ({len(exp.data)} bytes)"
    if exp.halts:
        assert (ok, out) == (False, b""), where
        return
    verdict = exp.verdict
    if verdict.valid:
        assert ok, (where, out)
        words = decode_output(out)
        assert words["blockHash"] == verdict.block_hash, where
        assert words["postStateRoot"] == verdict.post_state_root
        assert words["number"] == verdict.number and words["gasUsed"] == verdict.gas_used
        assert words["baseFeePerGas"] == verdict.base_fee_per_gas
        assert words["burnedFees"] == verdict.base_fee_per_gas * verdict.gas_used
        assert words["executeFee"] == verdict.gas_used * words["executeBaseFeePerGas"]
        check_valid_is_the_encoded_block(exp, bases)
        return
    assert not ok, where
    assert out == encode_invalid(verdict.reason), (
        where,
        out.hex(),
        verdict.reason,
        verdict.detail,
    )
    assert 1 <= int.from_bytes(out[4:], "big") <= 11


# -- tests --------------------------------------------------------------------------------


def test_fuzzed_execute_calls_in_real_l1_transactions(l1, l2_inputs):
    rng = random.Random(SEED)
    print(f"EXECUTE_FUZZ_SEED={SEED} EXECUTE_FUZZ_TXS={N_TXS}")
    cases: list[Expected] = [expect(f"valid-{b.name}", b.data) for b in l2_inputs]
    while len(cases) < N_TXS:
        roll = rng.random()
        if roll < 0.08:
            base = rng.choice(l2_inputs)
            cases.append(expect(f"valid-{base.name}", base.data))
        elif roll < 0.2:
            cases.append(expect(*random_input(rng)))
        else:
            base = rng.choice(l2_inputs)
            how, data = mutate(rng, base)
            cases.append(expect(f"{how}({base.name})", data))

    start_block = int(l1.node.call("eth_blockNumber"), 16)
    sent: list[tuple[Expected, str]] = []
    never_fit: list[Expected] = []
    for exp in cases:
        if exp.reserve > EXECUTE_LIMIT:
            never_fit.append(exp)  # no block can ever include it: simulate only
            continue
        data = call_data("callExecute(bytes)", ["bytes"], [exp.data])
        sent.append((exp, l1.signer.send(l1.caller, data, gas=CALL_GAS)))

    tally: dict[str, int] = {}
    for exp, tx_hash in sent:
        receipt = wait_receipt(l1.node, tx_hash)
        assert receipt["status"] == "0x1", (exp.how, receipt)
        (event,) = executed_events(receipt)
        ok, out, gas = event
        check_outcome(exp, ok, out, l2_inputs)
        # A halt consumes all gas forwarded to EXECUTE (63/64 of what the caller had);
        # a verdict (valid or ExecuteInvalid) pays the fixed charge and returns the rest.
        if exp.halts:
            assert gas > CALL_GAS // 2, (exp.how, gas)
        else:
            assert execute_gas_cost(len(exp.data)) <= gas < CALL_GAS // 4, (exp.how, gas)
        key = "halt" if exp.halts else ("valid" if ok else f"reason {exp.verdict.reason}")
        tally[key] = tally.get(key, 0) + 1
    for exp in never_fit:
        ok, out = simulate_call_execute(l1, exp.data)
        assert (ok, out) == (False, b""), exp.how  # halts on the cumulative limit
    print("outcomes:", dict(sorted(tally.items())), "never fit:", len(never_fit))

    assert tally.get("valid", 0) >= len(l2_inputs)
    assert sum(v for k, v in tally.items() if k.startswith("reason")) > 0
    assert tally.get("halt", 0) > 0
    end_block = int(l1.node.call("eth_blockNumber"), 16)
    assert end_block > start_block
    # The node still produces blocks after all of that.
    tx_hash = l1.signer.send("0x" + "42" * 20, value=1)
    receipt = wait_receipt(l1.node, tx_hash)
    assert int(receipt["blockNumber"], 16) > start_block
    assert l1.node.proc.poll() is None
    assert "Traceback" not in l1.node.log()


def test_staticcall_agrees_with_call(l1, l2_inputs):
    base = l2_inputs[0]
    invalid = encode_execute_input(replace(base.inp, gas_used=base.inp.gas_used + 1))
    for data in (base.data, invalid):
        exp = expect("static", data)
        tx_hash = l1.signer.send(
            l1.caller, call_data("callExecute(bytes)", ["bytes"], [data]), gas=CALL_GAS
        )
        receipt = wait_receipt(l1.node, tx_hash)
        assert receipt["status"] == "0x1"
        ((call_ok, call_out, _),) = executed_events(receipt)
        static_ok, static_out = static_execute(l1, data)
        check_outcome(exp, call_ok, call_out, l2_inputs)
        check_outcome(exp, static_ok, static_out, l2_inputs)
        assert static_ok == call_ok
        if call_ok:
            # The block words agree; the execute fee words are those of each call's L1 block.
            assert static_out[: 6 * WORD] == call_out[: 6 * WORD]
        else:
            assert static_out == call_out
    assert "Traceback" not in l1.node.log()


def test_gas_below_the_fixed_charge_halts(l1, l2_inputs):
    base = l2_inputs[0]
    charge = execute_gas_cost(len(base.data))
    assert charge == 100_000 + 6 * ((len(base.data) + 31) // 32)
    signature = "callExecuteWithGas(bytes,uint256)"
    for gas, expected_ok in ((charge - 1, False), (1, False), (charge + 2_000_000, True)):
        tx_hash = l1.signer.send(
            l1.caller, call_data(signature, ["bytes", "uint256"], [base.data, gas]), gas=CALL_GAS
        )
        receipt = wait_receipt(l1.node, tx_hash)
        assert receipt["status"] == "0x1", receipt
        ((ok, out, _),) = executed_events(receipt)
        assert ok is expected_ok, (gas, out)
        if not expected_ok:
            assert out == b""
        else:
            assert decode_output(out)["blockHash"] == base.block_hash
    assert "Traceback" not in l1.node.log()


def test_deeply_nested_json_witness_is_reason_2_not_a_crash(node_factory, l2_inputs):
    node = node_factory()
    base = l2_inputs[0]
    depth = 100_000
    witness = b'{"state": ' + b"[" * depth + b"]" * depth + b"}"
    data = encode_execute_input(replace(base.inp, witness=witness))
    try:
        response = rpc(
            node.url,
            "eth_call",
            [
                {
                    "to": "0x" + EXECUTE_ADDRESS.hex(),
                    "data": "0x" + data.hex(),
                    "gas": hex(CALL_GAS),
                },
                "latest",
            ],
            timeout=60,
        )
    except OSError as exc:
        pytest.fail(f"node died: {exc!r}, exit code {node.proc.poll()}")
    assert node.proc.poll() is None
    error = response.get("error", {})
    revert = _b(error.get("data", "0x")) if isinstance(error.get("data"), str) else b""
    assert revert == encode_invalid(Reason.WITNESS_ENCODING), response


def test_l1_log_has_no_traceback_at_the_end(l1):
    assert l1.node.proc.poll() is None
    assert "Traceback" not in l1.node.log()
