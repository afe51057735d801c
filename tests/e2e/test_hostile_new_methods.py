"""Hostile input against the methods and precompiles added late: a generated corpus.

For every method in ``TEMPLATES`` (eth_simulateV1, the ``trace_*`` namespace, eth_getAccount,
eth_getStorageValues, the ``*Sync`` sends, anvil_addBalance, anvil_metadata,
anvil_mine_detailed, eth_config) the corpus takes a well-formed call and spoils it in every
way at once generated: each parameter and each field of an object parameter replaced by a
value of the wrong type, a negative, fractional or overflowing quantity, bad hex, a huge
string or array, deep nesting, an unknown block tag or hash, an out-of-range block number;
parameters missing, and one too many. Every answer must be a JSON-RPC error with a documented
code (never -32603), arrive within the node's deadline, leave no internal error in the
node's log and leave the chain head and the touched balances unchanged.

The precompiles (BN254 and BLS12-381 natively, P256VERIFY, MODEXP, EXECUTE) get random and
crafted garbage through ``eth_call`` (Osaka and Prague) and inside mined transactions: every
answer is a normal result or a failed call, every transaction gets a receipt, and the next
block mines. Hostile EXECUTE inputs reach the ``--preverify`` workers, directly and through
a contract, and no job fails.

Then the defects this corpus found, each with its test: ``trace_filter``'s ``mode`` as a
list (-32603) and ``""``/``{}`` read as no address filter; a FIFO as the dashboard's
deployment file (the event loop blocked in ``open``); ``native-rollup`` numbers and amounts
out of range (tracebacks); a head at timestamp 2**64 - 1 (a traceback at every automine
wake-up and interval tick, a pending block past uint64); ``anvil_mine_detailed`` answering
-32000 for a block it had mined; and the deadlines of every Parity trace and
``eth_simulateV1`` while another client is served.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from tests.e2e.test_bad_input import send_json
from tests.procs import (
    DEV_ADDRESSES,
    DEV_KEYS,
    NodeProcess,
    free_port,
    rpc,
    run_native_rollup,
    start_node,
    under_test,
    wait_until,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="this node's new surface and codes"),
]

ADDRESS = DEV_ADDRESSES[0]
SENDER_KEY, SENDER = DEV_KEYS[3], DEV_ADDRESSES[3]  # the precompile transactions
OTHER = "0x" + "12" * 20
UNKNOWN_HASH = "0x" + "ab" * 32

# Codes docs/DEPARTURES.md and README "Limits" document for refusals (-32603 only for the
# sync sends' confirmation timeout, which no case here reaches).
DOCUMENTED = {-32700, -32600, -32601, -32602, -32000, -32003, -32005, 3}
# eth_simulateV1's own (rpc/simulate.py ERROR_CODES, the spec's -380xx)
SIMULATE_CODES = {-38010, -38011, -38012, -38013, -38014, -38015, -38020, -38021, -38025, -38026}
ANSWER_BOUND = 20.0  # seconds: above the trace deadline (15 s), so a hang is caught


def nest(depth: int) -> Any:
    value: Any = "0x1"
    for _ in range(depth):
        value = [value]
    return value


def nest_objects(depth: int) -> Any:
    value: Any = "0x1"
    for _ in range(depth):
        value = {"a": value}
    return value


STRICT = "0x1" + "0" * 80  # odd length and past 256 bits: no parser takes it

# Values no parameter of these methods takes: each must be refused wherever it is put.
INVALID: list[Any] = [
    STRICT,
    2**300,
    -1,
    1.5,
    "0x-1",
    "0xzz",
    "x" * 100_000,
    "",
    True,
    [0] * 5_000,
    nest(50),
    "safe-ish",
]
# Well-formed but unusual values (unknown blocks and hashes, edges of uint64, empty and big
# containers, big data): a documented error or an answer, and nothing changes.
ODD: list[Any] = [
    "0x",
    "0x" + "f" * 2_000,
    "0x" + "ff" * 70_000,
    [],
    {},
    ["0x0"] * 2_000,
    nest_objects(50),
    {"blockHash": UNKNOWN_HASH},
    {"blockNumber": hex(2**64)},
    "0xffffffffffffffff",
    hex(2**64),
    UNKNOWN_HASH,
]


def templates(tx_hash: str, raw: str) -> list[tuple[str, list[Any]]]:
    """Well-formed calls; the corpus spoils each of them."""
    simulate = {"blockStateCalls": [{"calls": [{"from": ADDRESS, "to": OTHER, "value": "0x1"}]}]}
    return [
        ("eth_simulateV1", [simulate, "latest"]),
        (
            "eth_simulateV1",
            [
                {
                    "blockStateCalls": [
                        {
                            "blockOverrides": {"number": "0x100", "time": "0x70000000"},
                            "stateOverrides": {OTHER: {"balance": "0x1"}},
                            "calls": [{"from": ADDRESS, "to": OTHER}],
                        }
                    ],
                    "validation": False,
                    "traceTransfers": True,
                    "returnFullTransactions": True,
                },
                "latest",
            ],
        ),
        ("trace_transaction", [tx_hash]),
        ("trace_get", [tx_hash, ["0x0"]]),
        ("trace_block", ["latest"]),
        (
            "trace_filter",
            [
                {
                    "fromBlock": "0x0",
                    "toBlock": "latest",
                    "fromAddress": [ADDRESS],
                    "toAddress": [OTHER],
                    "mode": "union",
                    "after": 0,
                    "count": 5,
                }
            ],
        ),
        ("trace_replayTransaction", [tx_hash, ["trace", "stateDiff"]]),
        ("trace_replayBlockTransactions", ["latest", ["trace"]]),
        ("trace_call", [{"from": ADDRESS, "to": OTHER, "value": "0x1"}, ["trace"], "latest"]),
        (
            "trace_call",
            [
                {"from": ADDRESS, "to": OTHER, "input": "0x00", "gas": "0x100000"},
                ["trace", "stateDiff"],
                "pending",
                {
                    OTHER: {
                        "balance": "0x1",
                        "code": "0x00",
                        "stateDiff": {"0x" + "00" * 32: "0x" + "00" * 32},
                    }
                },
                {"number": "0x100", "time": "0x70000000", "baseFeePerGas": "0x1"},
            ],
        ),
        ("trace_rawTransaction", [raw, ["trace"]]),
        ("eth_getAccount", [ADDRESS, "latest"]),
        ("eth_getStorageValues", [{ADDRESS: ["0x" + "00" * 32]}, "latest"]),
        ("eth_sendTransactionSync", [{"from": ADDRESS, "to": OTHER, "value": "0x1"}]),
        ("eth_sendRawTransactionSync", [raw]),
        ("anvil_addBalance", [OTHER, "0x1"]),
        ("anvil_metadata", []),
        ("anvil_mine_detailed", [{"blocks": "0x1"}]),
        ("eth_config", []),
    ]


MUTATING = {
    "eth_sendTransactionSync",
    "eth_sendRawTransactionSync",
    "anvil_addBalance",
    "anvil_mine_detailed",
}
# Most parameters each method takes (for "one too many").
ARITY = {"eth_simulateV1": 2, "trace_call": 5, "eth_getAccount": 2, "eth_getStorageValues": 2}
ARITY |= dict.fromkeys(["eth_sendTransactionSync", "eth_sendRawTransactionSync"], 2)
ARITY |= dict.fromkeys(["trace_get", "trace_replayTransaction", "trace_rawTransaction"], 2)
ARITY |= dict.fromkeys(["trace_replayBlockTransactions", "anvil_addBalance"], 2)
ARITY |= dict.fromkeys(["trace_transaction", "trace_block", "trace_filter"], 1)
ARITY |= dict.fromkeys(["anvil_mine_detailed"], 1)


def spoiled(method: str, template: list[Any]) -> Iterator[tuple[list[Any], bool]]:
    """Every way this corpus spoils one call's parameters, each with whether it must be
    refused (True) or may be answered (False: well-formed, only unusual)."""
    arity = ARITY.get(method, 0)
    yield [*template, *[None] * (arity - len(template)), "0x1"], True  # one too many
    if template and method != "anvil_mine_detailed":
        yield [], True  # required ones missing
    values = [(bad, True) for bad in INVALID]
    if method not in MUTATING:
        values += [(odd, False) for odd in ODD]
    for position, value in enumerate(template):
        for bad, strict in values:
            params = list(template)
            params[position] = bad
            yield params, strict
        if isinstance(value, dict):
            for key in value:
                for bad, strict in values:
                    if type(bad) is type(value[key]) and bad == value[key]:
                        continue  # the template's own value
                    yield (
                        [*template[:position], {**value, key: bad}, *template[position + 1 :]],
                        strict,
                    )
    if method == "eth_simulateV1":
        for params in spoiled_simulate(template):
            yield params, False


def spoiled_simulate(template: list[Any]) -> Iterator[list[Any]]:
    """The nested shapes of eth_simulateV1: blocks, their overrides, their calls."""
    options = template[0]
    block = options["blockStateCalls"][0]
    values = INVALID + ODD
    for key in ("calls", "blockOverrides", "stateOverrides"):
        for bad in values:
            yield [{**options, "blockStateCalls": [{**block, key: bad}]}, "latest"]
    call = block["calls"][0]
    keys = ("from", "to", "value", "gas", "nonce", "input", "maxFeePerGas", "accessList")
    keys += ("authorizationList", "blobVersionedHashes", "type", "chainId", "gasPrice")
    for key in keys:
        for bad in values:
            yield [{**options, "blockStateCalls": [{**block, "calls": [{**call, key: bad}]}]}]
    for key in ("number", "time", "gasLimit", "baseFeePerGas", "feeRecipient", "prevRandao"):
        for bad in values:
            overrides = {**block.get("blockOverrides", {}), key: bad}
            yield [{**options, "blockStateCalls": [{**block, "blockOverrides": overrides}]}]
    for key in ("balance", "nonce", "code", "state", "stateDiff", "movePrecompileToAddress"):
        for bad in values:
            yield [
                {**options, "blockStateCalls": [{**block, "stateOverrides": {OTHER: {key: bad}}}]}
            ]
    yield [{**options, "blockStateCalls": [block] * 300}]  # more blocks than the cap
    yield [{**options, "blockStateCalls": [{"calls": [call] * 1_001}]}]  # more calls
    yield [
        {
            **options,
            "blockStateCalls": [
                {"blockOverrides": {"number": "0x10"}},
                {"blockOverrides": {"number": "0x5"}},
            ],
        }
    ]  # numbers going back
    yield [{**options, "blockStateCalls": [{"blockOverrides": {"number": hex(2**64 - 1)}}]}]
    yield [{**options, "blockStateCalls": [{"blockOverrides": {"time": hex(2**64 - 1)}}]}]


def state_of(node: NodeProcess) -> tuple:
    head = node.call("eth_getBlockByNumber", "latest", False)
    return (
        head["number"],
        head["hash"],
        node.call("eth_getBalance", OTHER, "latest"),
        node.call("eth_getBalance", ADDRESS, "latest"),
        node.call("eth_getTransactionCount", ADDRESS, "pending"),
    )


def internal_errors(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if "internal error" in line or "Traceback" in line or "Error:" in line[:40]
    ]


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[NodeProcess]:
    node = start_node([], log_dir=tmp_path_factory.mktemp("hostile-new"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def mined(node) -> tuple[str, str]:
    """A mined transaction's hash and a signed, unsent transaction (nonce far ahead is not
    needed: the raw one is never valid, its nonce is already used once the first is mined)."""
    signed = Account.sign_transaction(
        {
            "chainId": 31337,
            "nonce": 0,
            "to": OTHER,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
        },
        DEV_KEYS[2],
    )
    raw = "0x" + bytes(signed.raw_transaction).hex()
    tx_hash = node.call("eth_sendRawTransaction", raw)
    node.wait_receipt(tx_hash)
    return tx_hash, raw  # the raw one now has a used nonce: the sync send must refuse it


def send(node: NodeProcess, method: str, params: list[Any]) -> tuple[Any, float]:
    start = time.monotonic()
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return send_json(node, body), time.monotonic() - start


def misanswered(method: str, response: Any, strict: bool, took: float) -> bool:
    """A documented error (or, for a well-formed unusual value, an answer) in time, or not."""
    if took > ANSWER_BOUND or not isinstance(response, dict):
        return True
    error = response.get("error")
    if error is None:
        return strict or "result" not in response
    allowed = DOCUMENTED | (SIMULATE_CODES if method == "eth_simulateV1" else set())
    return error.get("code") not in allowed or "internal error" in str(error.get("message"))


@pytest.mark.parametrize("method", sorted({m for m, _ in templates("0x", "0x")}))
def test_spoiled_parameters_are_documented_errors(node, mined, method):
    tx_hash, raw = mined
    cases = [
        case
        for m, template in templates(tx_hash, raw)
        if m == method
        for case in spoiled(m, template)
    ]
    log_before = len(internal_errors(node.log()))
    before = state_of(node)
    wrong = []
    for params, strict in cases:
        response, took = send(node, method, params)
        if misanswered(method, response, strict, took):
            wrong.append((str(params)[:200], str(response)[:300], round(took, 2)))
        if method in MUTATING:  # each refusal changed nothing
            assert state_of(node) == before, (str(params)[:200], str(response)[:300])
    new_errors = internal_errors(node.log())[log_before:]
    assert not wrong, f"{len(wrong)} of {len(cases)}: {wrong[:20]}"
    assert state_of(node) == before
    assert not new_errors, new_errors[:10]


# --------------------------------------------------------------------------- precompiles

BLS_LENGTHS = {0x0B: 256, 0x0C: 160, 0x0D: 512, 0x0E: 288, 0x0F: 384, 0x10: 64, 0x11: 128}
BN_LENGTHS = {0x06: 128, 0x07: 96, 0x08: 192}
P256 = 0x100
EXECUTE = 0x101
PRECOMPILES = [*range(0x01, 0x12), P256, EXECUTE]
FIELD_TOO_BIG = (2**384 - 1).to_bytes(64, "big")  # a BLS field element past p, padded to 64


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def crafted(address: int, rng: random.Random) -> list[bytes]:
    """Inputs at the edges of each precompile's encoding, then random bytes."""
    out = [b"", b"\x00", b"\xff" * 31, bytes(1_000)]
    size = BLS_LENGTHS.get(address) or BN_LENGTHS.get(address)
    if size:
        out += [
            bytes(size),  # infinity / zeros: valid
            b"\xff" * size,  # past the field
            bytes(size - 1),
            bytes(size + 1),
            rng.randbytes(size),
            rng.randbytes(size * 3),
            b"".join(bytes(16) + rng.randbytes(48) for _ in range(size // 64)),  # not on curve
            (FIELD_TOO_BIG * (size // 64 + 1))[:size],
        ]
    if address in BN_LENGTHS:
        out += [word(1) + word(3) + word(1) * (BN_LENGTHS[address] // 32 - 2)]  # off the curve
    if address == 0x05:  # MODEXP: lengths past Osaka's 1024-byte bound and at it
        out += [
            word(2**255) + word(1) + word(1) + b"\x02\x03\x05",
            word(1) + word(2**256 - 1) + word(1) + b"\x02\xff\x05",
            word(1) + word(1) + word(2**64) + b"\x02\x03\x05",
            word(1024) + word(1024) + word(1024) + rng.randbytes(3 * 1024),
            word(1025) + word(1) + word(1) + rng.randbytes(1027),
            word(1) + word(1) + word(0),
        ]
    if address == P256:
        n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        p = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
        out += [
            bytes(160),
            rng.randbytes(160),
            rng.randbytes(159),
            rng.randbytes(161),
            word(1) + word(0) + word(1) + word(1) + word(1),
            word(1) + word(1) + word(n) + word(1) + word(1),
            word(1) + word(1) + word(1) + word(p) + word(p),
            word(1) + word(1) + word(1) + word(2**256 - 1) + word(0),
        ]
    if address == 0x09:  # BLAKE2F: huge rounds, a bad final flag
        out += [b"\x00\x00\x00\x0c" + rng.randbytes(208) + b"\x02", rng.randbytes(212) + b"\x01"]
    out += [rng.randbytes(rng.randrange(1, 700)) for _ in range(6)]
    return out


def call_answered(response: Any) -> bool:
    """A normal result, or a failed call (3: reverted, -32000: out of gas or halted)."""
    if not isinstance(response, dict):
        return False
    if "result" in response:
        return isinstance(response["result"], str)
    return response.get("error", {}).get("code") in (3, -32000)


def test_precompile_garbage_is_a_result_or_a_failed_call(node):
    sweep_precompiles(node)


def test_precompile_garbage_on_prague(tmp_path):
    """The same on a Prague chain (no P256VERIFY, Prague's MODEXP)."""
    node = start_node(["--hardfork", "prague"], log_dir=tmp_path)
    try:
        sweep_precompiles(node)
    finally:
        node.stop()


def sweep_precompiles(node: NodeProcess) -> None:
    rng = random.Random(7966)
    log_before = len(internal_errors(node.log()))
    wrong = []
    for address in PRECOMPILES:
        to = "0x" + address.to_bytes(20, "big").hex()
        for data in crafted(address, rng):
            call = {"from": SENDER, "to": to, "input": "0x" + data.hex(), "gas": hex(5_000_000)}
            response, _ = send(node, "eth_call", [call, "latest"])
            if not call_answered(response):
                wrong.append((to, data.hex()[:80], str(response)[:300]))
    assert not wrong, wrong[:10]
    assert not internal_errors(node.log())[log_before:]


def test_precompile_garbage_in_mined_transactions(node):
    """One transaction per precompile and input, sent without waiting: every one is mined
    (a receipt, success or failure), no exception reaches block building, and the node
    mines the block after."""
    rng = random.Random(2537)
    log_before = len(internal_errors(node.log()))
    head = int(node.call("eth_blockNumber"), 16)
    nonce = int(node.call("eth_getTransactionCount", SENDER, "pending"), 16)
    hashes = []
    for address in PRECOMPILES:
        to = "0x" + address.to_bytes(20, "big").hex()
        for data in crafted(address, rng)[:8]:
            signed = Account.sign_transaction(
                {
                    "chainId": 31337,
                    "nonce": nonce,
                    "to": to_checksum_address(to),
                    "value": 0,
                    "gas": 3_000_000,
                    "maxFeePerGas": 10**11,
                    "maxPriorityFeePerGas": 10**9,
                    "data": data,
                },
                SENDER_KEY,
            )
            nonce += 1
            hashes.append(node.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
    receipts = [node.wait_receipt(tx_hash) for tx_hash in hashes]
    assert {r["status"] for r in receipts} <= {"0x0", "0x1"}
    node.call("evm_mine")
    assert int(node.call("eth_blockNumber"), 16) > max(int(r["blockNumber"], 16) for r in receipts)
    assert int(node.call("eth_blockNumber"), 16) > head
    assert not internal_errors(node.log())[log_before:]


# --------------------------------------------------------------------------- dashboard


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_dashboard_paths_and_deployment_files(tmp_path):
    """The deployment file is read at each request: a FIFO there froze the event loop in
    open() (the whole node stopped answering); a huge integer in it lost the file's name."""
    deployment = tmp_path / "deployment.json"
    os.mkfifo(deployment)
    node = start_node(["--rollup-deployment", str(deployment)], log_dir=tmp_path)
    try:
        status, body = get(f"{node.url}/dashboard/config.json")
        assert status == 200
        assert "is not a regular file" in json.loads(body)["rollupError"]
        assert "result" in rpc(node.url, "eth_blockNumber", timeout=5)
        deployment.unlink()
        deployment.write_text('{"address": "0x' + "11" * 20 + '", "deploy_block": ' + "9" * 5000)
        error = json.loads(get(f"{node.url}/dashboard/config.json")[1])["rollupError"]
        assert error.startswith(f"rollup deployment file {deployment} is not JSON"), error
        deployment.write_text("[" * 30_000 + "]" * 30_000)
        error = json.loads(get(f"{node.url}/dashboard/config.json")[1])["rollupError"]
        assert "is not a JSON object" in error
        deployment.unlink()
        deployment.mkdir()
        error = json.loads(get(f"{node.url}/dashboard/config.json")[1])["rollupError"]
        assert error == f"rollup deployment file {deployment} is not a regular file"
        for path in ("..%2f..%2fetc%2fpasswd", "index.html%00", "a/b", "", "%ff%fe"):
            assert get(f"{node.url}/dashboard/{path}")[0] == 404, path
        assert not internal_errors(node.log())
        assert "result" in rpc(node.url, "eth_blockNumber", timeout=5)
    finally:
        node.stop()


# --------------------------------------------------------------------------- EXECUTE pre-verification

FORWARDER = "0x" + "0f" * 20
# CALLDATACOPY the input, CALL EXECUTE with it, STOP: an indirect call (the preverifier
# extracts its input by simulating the transaction).
FORWARDER_CODE = "0x365f5f375f5f365f5f6101015af100"


def execute_inputs(rng: random.Random, head_timestamp: int) -> list[bytes]:
    """Well-formed encodings (they reach the workers) around hostile heads and tails."""
    from precompiles.execute_wire import ExecuteInput, encode_execute_input

    def rlp_nested(depth: int) -> bytes:
        out = b"\xc0"
        for _ in range(depth):
            out = (
                bytes([0xC0 + len(out)]) + out
                if len(out) < 56
                else b"\xf8" + bytes([len(out)]) + out
            )
            if len(out) > 200:
                break
        return out

    tails = [
        (b"", b""),
        (rng.randbytes(200), rng.randbytes(300)),
        (b"\xc0", b"\xc4\xc0\xc0\xc0\xc0"),
        (rlp_nested(60), rlp_nested(60)),
        (b"\xf9\xff\xff" + rng.randbytes(50), b"\xf9\xff\xff"),
        (b"\xc0", b'{"state": [1, {"a": []}], "codes": "x", "keys": null, "headers": 7}'),
        (b"\xc0", b"[" * 5_000),
        (b"\xc1\x80", b"\xc3\xc0\xc0\xc0"),
    ]
    heads = [
        dict(timestamp=0, number=0, gas_limit=0, chain_id=0, gas_used=0),
        dict(
            timestamp=2**64 - 1,
            number=2**64 - 1,
            gas_limit=2**64 - 1,
            chain_id=2**64 - 1,
            gas_used=2**64 - 1,
        ),
        dict(
            timestamp=head_timestamp,
            number=1,
            gas_limit=30_000_000,
            chain_id=31338,
            gas_used=21_000,
        ),
    ]
    out = []
    for head in heads:
        for transactions, witness in tails:
            out.append(
                encode_execute_input(
                    ExecuteInput(
                        pre_state_root=rng.randbytes(32),
                        post_state_root=rng.randbytes(32),
                        receipts_root=rng.randbytes(32),
                        parent_hash=rng.randbytes(32),
                        coinbase=rng.randbytes(20),
                        prev_randao=rng.randbytes(32),
                        l1_anchor=bytes(32),
                        transactions=transactions,
                        witness=witness,
                        **head,
                    )
                )
            )
    return out


def test_preverified_garbage_execute_inputs(tmp_path):
    """Hostile EXECUTE inputs, direct and through a contract, on a node pre-verifying them in
    worker processes: every transaction is mined, no job fails in a worker (what would raise
    into block building inline) and the next block mines."""
    node = start_node(["--preverify", "--preverify-workers", "1"], log_dir=tmp_path)
    try:
        node.call("anvil_setCode", FORWARDER, FORWARDER_CODE)
        head = node.call("eth_getBlockByNumber", "latest", False)
        rng = random.Random(101)
        nonce = int(node.call("eth_getTransactionCount", SENDER, "pending"), 16)
        hashes = []
        for data in execute_inputs(rng, int(head["timestamp"], 16)):
            for to in ("0x" + (0x101).to_bytes(20, "big").hex(), FORWARDER):
                signed = Account.sign_transaction(
                    {
                        "chainId": 31337,
                        "nonce": nonce,
                        "to": to_checksum_address(to),
                        "value": 0,
                        "gas": 2_000_000,
                        "maxFeePerGas": 10**11,
                        "maxPriorityFeePerGas": 10**9,
                        "data": data,
                    },
                    SENDER_KEY,
                )
                raw = "0x" + signed.raw_transaction.hex()
                answer = rpc(node.url, "eth_sendRawTransaction", [raw])
                if "error" in answer:  # the pool's refusal (a reservation past the limit)
                    assert answer["error"]["code"] == -32003, answer
                    continue
                nonce += 1
                hashes.append(answer["result"])
        assert hashes
        receipts = [node.wait_receipt(tx_hash, timeout=60) for tx_hash in hashes]
        assert {r["status"] for r in receipts} <= {"0x0", "0x1"}
        node.call("evm_mine")
        log = node.log()
        assert "pre-verified EXECUTE input" in log, log[-2000:]
        assert "pre-verification job failed" not in log
        assert "pre-verification of 0x" not in log
        assert not internal_errors(log)
    finally:
        node.stop()


# --------------------------------------------------------------------------- rollup CLI


@pytest.mark.parametrize(
    "argv",
    [
        ["force-include", "--gas", "-1"],
        ["force-include", "--gas", str(2**64)],
        ["force-include", "--nonce", "-5"],
        ["force-include", "--nonce", "0x" + "f" * 40],
        ["force-include", "--gas", "lots"],
        ["propose", "--interval", "-1"],
        ["propose", "--interval", "nan"],
        ["propose", "--interval", "1e300"],
        ["propose", "--max-blocks", "-3"],
        ["propose", "--challenge-window", "-1"],
        ["watch", "--interval", "inf"],
        ["sequence", "--interval", "-0.5"],
        ["sequence", "--max-blocks", str(2**70)],
        ["prove-withdrawal", "--index", "-1"],
        ["claim-withdrawal", "--index", "1", "--l2-block", "-2"],
        ["deploy", "--force-delay", "-1"],
        ["deposit", "--value", "nan"],
        ["deposit", "--value", "inf"],
        ["withdraw", "--value", "1e400"],
        ["force-include", "--fee", "-Infinity"],
    ],
    ids=lambda argv: " ".join(argv)[:40],
)
def test_rollup_cli_refuses_out_of_range_numbers_before_connecting(argv):
    """Negative or overflowing numbers, non-finite pauses and amounts were taken by argparse
    (or raised out of it: NaN and Infinity ETH) and failed as tracebacks (eth-account's
    signing, time.sleep); now the flag is named and nothing is contacted."""
    dead = f"http://127.0.0.1:{free_port()}"
    out = run_native_rollup(*argv, "--l1", dead, "--l2", dead, timeout=60)
    assert out.returncode == 2, out.stderr
    flag = argv[-2]  # the flag with the bad value
    assert f"argument {flag}" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and dead not in out.stderr


# --------------------------------------------------------------------------- deadlines

LOOP = "0x" + "10" * 20
LOOP_CODE = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP


def test_every_trace_and_simulation_answers_within_its_deadline(tmp_path):
    """With one-second deadlines, the Parity traces of a looping transaction and looping
    calls in trace_call and eth_simulateV1 answer their timeout error, and another client
    is answered meanwhile."""
    node = start_node(["--trace-timeout", "1", "--rpc-evm-timeout", "1"], log_dir=tmp_path)
    try:
        node.call("anvil_setCode", LOOP, LOOP_CODE)
        node.call("eth_sendTransaction", {"from": ADDRESS, "to": LOOP, "gas": hex(3_000_000)})
        loop_call = {"from": ADDRESS, "to": LOOP, "gas": hex(2**64 - 1)}
        cases = [
            ("trace_call", [loop_call, ["trace", "stateDiff"], "latest"], "execution timeout"),
            ("trace_replayBlockTransactions", ["latest", ["trace", "stateDiff"]], "timeout"),
            ("trace_block", ["latest"], "execution timeout"),
            ("trace_filter", [{"toAddress": [LOOP]}], "execution timeout"),
            (
                "eth_simulateV1",
                [{"blockStateCalls": [{"calls": [{**loop_call, "gas": hex(30_000_000)}] * 5}]}],
                "execution aborted (timeout = 1s)",
            ),
        ]
        for method, params, message in cases:
            worst = 0.0
            pool = ThreadPoolExecutor(1)
            slow = pool.submit(send, node, method, params)
            while not slow.done():
                _, took = send(node, "eth_blockNumber", [])
                worst = max(worst, took)
            response, took = slow.result()
            pool.shutdown()
            assert response["error"]["code"] == -32000, (method, response)
            assert message in response["error"]["message"], (method, response)
            assert took < 10, (method, took)  # the deadline is 1 s; CI is slow
            assert worst < 2.0, (method, worst)
        assert not internal_errors(node.log())
    finally:
        node.stop()


# --------------------------------------------------------------------------- the clock's end


def test_a_chain_at_the_last_timestamp_logs_no_traceback(tmp_path):
    """Any client may mine a block at 2**64 - 1 (evm_mine, a public control on an L1); no
    block can follow. Automine and interval mining then failed at every wake-up with a
    traceback in the log; now one line says why, and the transaction waits in the pool."""
    node = start_node([], log_dir=tmp_path)
    try:
        node.call("evm_mine", {"timestamp": hex(2**64 - 1)})
        head = node.call("eth_blockNumber")
        tx_hash = node.call("eth_sendTransaction", {"from": ADDRESS, "to": OTHER, "value": "0x1"})
        node.call("evm_setIntervalMining", 1)
        wait_until(
            lambda: node.log().count("no block can follow") >= 2,
            "automine and interval mining to say why they stopped",
            timeout=15,
        )
        assert node.call("eth_getTransactionReceipt", tx_hash) is None
        assert node.call("eth_getTransactionByHash", tx_hash)["blockNumber"] is None
        assert node.call("eth_blockNumber") == head
        # the pending block stays a header that can exist (it showed 2**64 + seconds)
        pending = node.call("eth_getBlockByNumber", "pending", False)
        assert int(pending["timestamp"], 16) == 2**64 - 1
        assert "Traceback" not in node.log()
        assert node.log().count("no block can follow") == 2  # once per loop, not per tick
    finally:
        node.stop()


def test_mine_detailed_answers_the_blocks_it_mined_when_their_replay_runs_out(tmp_path):
    """anvil_mine_detailed replays each mined block for the outputs; a replay past the
    trace deadline answered -32000 although the block was mined (an error that changed the
    chain). Now the mined blocks are answered, without the outputs the replay could not give."""
    node = start_node(["--no-mining", "--trace-timeout", "1"], log_dir=tmp_path)
    try:
        node.call("anvil_setCode", LOOP, LOOP_CODE)
        tx_hash = node.call(
            "eth_sendTransaction", {"from": ADDRESS, "to": LOOP, "gas": hex(9_000_000)}
        )
        blocks = node.call("anvil_mine_detailed")
        assert [b["number"] for b in blocks] == [node.call("eth_blockNumber")] == ["0x1"]
        (tx,) = blocks[0]["transactions"]
        assert tx["hash"] == tx_hash and "output" not in tx
        assert not internal_errors(node.log())
    finally:
        node.stop()


# --------------------------------------------------------------------------- balance overflow

MAX_WEI = hex(2**256 - 1)


def test_a_credit_past_uint256_never_breaks_block_building(tmp_path):
    """anvil_setBalance/anvil_addBalance (public controls on an L1) can fill an account to
    2**256 - 1; a transaction then crediting it (a transfer, a call's value, the coinbase's
    tip) made py-evm raise inside block building: every block failed with a traceback and
    the chain stopped for everyone. Now such a transaction is left out of the block and
    refused with the reason (at once under automine), and the others are mined."""
    node = start_node([], log_dir=tmp_path)
    try:
        full = "0x" + "22" * 20
        node.call("anvil_addBalance", full, MAX_WEI)
        nonce = int(node.call("eth_getTransactionCount", SENDER, "pending"), 16)
        signed = Account.sign_transaction(
            {
                "chainId": 31337,
                "nonce": nonce,
                "to": to_checksum_address(full),
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
            },
            SENDER_KEY,
        )
        raw = "0x" + signed.raw_transaction.hex()
        refused = rpc(node.url, "eth_sendRawTransaction", [raw])["error"]
        assert refused["code"] == -32003 and "balance overflow" in refused["message"], refused
        assert node.call("eth_getTransactionByHash", "0x" + signed.hash.hex()) is None
        fine = node.call("eth_sendTransaction", {"from": ADDRESS, "to": OTHER, "value": "0x1"})
        assert node.wait_receipt(fine)["status"] == "0x1"
        assert node.call("eth_getBalance", full, "latest") == MAX_WEI
        assert node.call("eth_getTransactionCount", SENDER, "pending") == hex(nonce)
        # a call's value, one frame down
        payer = "0x" + "23" * 20
        node.call("anvil_setCode", payer, "0x5f5f5f5f600173" + "22" * 20 + "5af100")
        node.call("anvil_setBalance", payer, hex(10**18))
        call = Account.sign_transaction(
            {
                "chainId": 31337,
                "nonce": nonce,
                "to": to_checksum_address(payer),
                "value": 0,
                "gas": 100_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
            },
            SENDER_KEY,
        )
        nested = rpc(node.url, "eth_sendRawTransaction", ["0x" + call.raw_transaction.hex()])
        assert "balance overflow" in nested["error"]["message"], nested
        # the coinbase's tip
        node.call("anvil_setCoinbase", full)
        tipped = rpc(node.url, "eth_sendTransaction", [{"from": ADDRESS, "to": OTHER}])["error"]
        assert "balance overflow" in tipped["message"], tipped
        node.call("anvil_setCoinbase", "0x" + "00" * 20)
        after = node.call("eth_sendTransaction", {"from": ADDRESS, "to": OTHER, "value": "0x1"})
        assert node.wait_receipt(after)["status"] == "0x1"
        assert "Traceback" not in node.log()
    finally:
        node.stop()


def test_a_sync_send_whose_transaction_is_dropped_is_a_pool_refusal(tmp_path):
    """eth_sendRawTransactionSync waits for the block; when the block leaves its transaction
    out for good (here: a credit past uint256), the answer was -32603 "transaction dropped";
    now it is the pool's refusal code (-32003) with the reason, as the plain send's."""
    node = start_node(["--no-mining"], log_dir=tmp_path)
    try:
        full = "0x" + "22" * 20
        node.call("anvil_addBalance", full, MAX_WEI)
        signed = Account.sign_transaction(
            {
                "chainId": 31337,
                "nonce": 0,
                "to": to_checksum_address(full),
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 10**9,
            },
            SENDER_KEY,
        )
        raw = "0x" + signed.raw_transaction.hex()
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(send, node, "eth_sendRawTransactionSync", [raw])
            wait_until(lambda: node.call("txpool_status")["pending"] == "0x1", "the tx pooled")
            node.call("evm_mine")
            response, _ = waiting.result(timeout=30)
        error = response["error"]
        assert error["code"] == -32003 and "balance overflow" in error["message"], error
        assert node.call("eth_getTransactionByHash", "0x" + signed.hash.hex()) is None
        assert not internal_errors(node.log())
    finally:
        node.stop()


def test_an_overlong_request_line_is_one_warning_line_not_a_traceback(tmp_path):
    """aiohttp refuses a request line past 8190 bytes with 400; the node logs it as one line."""
    import socket as socket_module

    node = start_node([], log_dir=tmp_path)
    try:
        with socket_module.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
            sock.sendall(b"POST /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = sock.recv(1024)
        assert answer.split(b" ", 2)[1] == b"400", answer
        assert node.call("eth_chainId")  # still serving
        log = wait_until(
            lambda: node.log() if "malformed HTTP request refused" in node.log() else None,
            "the refused request logged",
            timeout=10,
        )
        assert "Traceback" not in log, log[-2000:]
    finally:
        node.stop()
