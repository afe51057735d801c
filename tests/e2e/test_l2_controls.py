"""The L2's public RPC without state-editing controls (rollup-security issue, item 2).

The attack as reported: on an L2 node, a stranger called ``anvil_setBalance`` on the RPC
users transact on, minted 1000 ETH and paid a victim with a successful receipt; later
``advance`` calls failed for good. Here, on an L2 node started as the sequencer runs it
(``--no-mining``, ``--auth-port``, ``--jwt-secret``):

- every control (each ``anvil_*``/``hardhat_*``/``evm_*``/``devnet_*`` method that is not
  read-only), called by a public client over HTTP, in a batch or over WebSocket, answers
  -32601 naming where it is served, and changes nothing: balances, nonces, code, storage,
  head, the next block's anchor and timestamp, the mining mode; impersonation cannot be
  turned on, nor used through ``eth_sendTransaction``;
- ``eth_sendRawTransaction`` still works, and the block the operator mines holds it;
- the same controls with a valid JWT on the authenticated endpoint work; no token, a wrong
  secret, a stale, future or expired token are refused with 401 (geth's wording), and do
  nothing;
- ``native-rollup sequence`` settles an L2 block on the L1 through the authenticated path,
  and says what is missing without it;
- ``native-rollup deploy`` refuses an initial escrow other than the L2 genesis ETH outside
  the messenger, naming both numbers, and sends nothing; the matching escrow deploys;
- an L2 funds no dev accounts unless asked; an L1 keeps anvil's controls on its public port
  (``--no-public-controls`` takes them away).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import jwt
import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from rpc.exposure import is_control
from rpc.server import METHODS
from sequencer.client import RpcClient, read_jwt_secret
from sequencer.rollup import MESSENGER
from tests.procs import DEV_ADDRESSES, DEV_KEYS, NodeProcess, free_port, rpc, under_test
from tests.procs import run_native_rollup as native_rollup

pytestmark = [
    pytest.mark.e2e,
    # the refusal test signs with HS512 on purpose, which PyJWT warns about
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
    pytest.mark.skipif(under_test() == "anvil", reason="native-devnet's own endpoints"),
]

L2_CHAIN_ID = 31338
ETH = 10**18
GWEI = 10**9
MESSENGER_HEX = "0x" + MESSENGER.hex()
ATTACKER = to_checksum_address(keccak(b"l2-controls-attacker")[12:])
VICTIM = to_checksum_address(keccak(b"l2-controls-victim")[12:])
EVIL_ANCHOR = "0x" + "66" * 32
CONTROLS = sorted(name for name in METHODS if is_control(name))


class L2Node:
    """An L2 node process as the sequencer runs it, with its authenticated endpoint."""

    def __init__(self, node: NodeProcess, auth_port: int, secret_path: Path) -> None:
        self.node = node
        self.auth_url = f"http://127.0.0.1:{auth_port}"
        self.secret_path = secret_path
        self.secret = read_jwt_secret(secret_path)
        self.admin = RpcClient(self.auth_url, jwt_secret=self.secret)

    @property
    def url(self) -> str:
        return self.node.url

    def public(self, method: str, *params) -> dict:
        return rpc(self.url, method, list(params))

    def fingerprint(self) -> dict:
        """What a control could move, as a public client sees it."""
        head = self.node.call("eth_getBlockByNumber", "latest", False)
        return {
            "head": (head["number"], head["hash"]),
            "balances": [
                self.node.call("eth_getBalance", a, "latest")
                for a in (ATTACKER, VICTIM, MESSENGER_HEX, DEV_ADDRESSES[0])
            ],
            "nonces": [
                self.node.call("eth_getTransactionCount", a, "latest")
                for a in (VICTIM, DEV_ADDRESSES[0], MESSENGER_HEX)
            ],
            "code": self.node.call("eth_getCode", MESSENGER_HEX, "latest"),
            "storage": [
                self.node.call("eth_getStorageAt", MESSENGER_HEX, hex(slot), "latest")
                for slot in (0, 1)
            ],
            "automine": self.node.call("anvil_getAutomine"),
            "pool": self.node.call("txpool_status"),
        }


def start_l2(tmp_path: Path, *extra: str) -> L2Node:
    from tests.procs import start_node

    auth_port = free_port()
    secret_path = tmp_path / "l2-jwt.hex"
    node = start_node(
        [
            "--genesis",
            "genesis/l2.json",
            "--no-mining",
            "--auth-port",
            str(auth_port),
            "--jwt-secret",
            str(secret_path),
            *extra,
        ],
        log_dir=tmp_path,
    )
    return L2Node(node, auth_port, secret_path)


@pytest.fixture
def l2(tmp_path):
    """An L2 node funding dev account 0 with 1 ETH (explicitly, as the demo's L2)."""
    node = start_l2(tmp_path, "--accounts", "1", "--balance", "1")
    yield node
    node.node.stop()


def signed_transfer(node: NodeProcess, key: str, to: str, value: int) -> str:
    sender = Account.from_key(key).address
    base_fee = int(node.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    tx = {
        "chainId": L2_CHAIN_ID,
        "nonce": int(node.call("eth_getTransactionCount", sender, "pending"), 16),
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 2 * base_fee + GWEI,
        "maxPriorityFeePerGas": GWEI,
    }
    return "0x" + bytes(Account.sign_transaction(tx, key).raw_transaction).hex()


def attack_params(name: str, head_timestamp: int) -> list:
    """Arguments that would do real damage if the control were served."""
    later = hex(head_timestamp + 1000)
    by_suffix = {
        "setBalance": [ATTACKER, hex(1000 * ETH)],
        "setNonce": [VICTIM, "0x5"],
        "setCode": [MESSENGER_HEX, "0x00"],
        "setStorageAt": [MESSENGER_HEX, "0x0", "0x" + "00" * 31 + "01"],
        "mine": [{"timestamp": later, "parentBeaconBlockRoot": EVIL_ANCHOR}]
        if name == "evm_mine"
        else ["0x2"],
        "revert": ["0x0"],
        "impersonateAccount": [MESSENGER_HEX],
        "stopImpersonatingAccount": [MESSENGER_HEX],
        "autoImpersonateAccount": [True],
        "setAutomine": [True],
        "setIntervalMining": [1],
        "increaseTime": [1000],
        "setNextBlockTimestamp": [int(later, 16)],
        "setNextBlockFields": [{"parentBeaconBlockRoot": EVIL_ANCHOR, "prevRandao": EVIL_ANCHOR}],
        "loadState": ["0x00"],
    }
    return by_suffix.get(name.split("_", 1)[1], [])


def assert_refused(answer: dict, name: str) -> None:
    assert "result" not in answer, f"{name} was served on the public port: {answer}"
    assert answer["error"]["code"] == -32601, (name, answer)
    assert "--auth-port" in answer["error"]["message"], (name, answer)


def test_a_public_client_cannot_change_l2_state_except_by_transactions(l2):
    assert {"anvil_setBalance", "evm_mine", "evm_revert", "anvil_reset"} <= set(CONTROLS)
    before = l2.fingerprint()
    head_timestamp = int(l2.node.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    # the reported attack: mint 1000 ETH, then pay a victim
    assert_refused(l2.public("anvil_setBalance", ATTACKER, hex(1000 * ETH)), "anvil_setBalance")
    # every control, one by one over HTTP, then all of them again in one batch
    for name in CONTROLS:
        assert_refused(l2.public(name, *attack_params(name, head_timestamp)), name)
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": name, "params": attack_params(name, head_timestamp)}
        for i, name in enumerate(CONTROLS)
    ]
    request = urllib.request.Request(
        l2.url, data=json.dumps(batch).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answers = json.loads(response.read())
    assert len(answers) == len(CONTROLS)
    for answer in answers:
        assert_refused(answer, CONTROLS[answer["id"]])
    # and over WebSocket
    ws_answers = asyncio.run(ws_calls(l2.node.ws_url, ["anvil_setBalance", "evm_mine"]))
    for name, answer in zip(["anvil_setBalance", "evm_mine"], ws_answers, strict=True):
        assert_refused(answer, name)
    # sending as the messenger needs impersonation, which a public client cannot turn on
    answer = l2.public(
        "eth_sendTransaction", {"from": MESSENGER_HEX, "to": ATTACKER, "value": "0x1"}
    )
    assert "error" in answer

    assert l2.fingerprint() == before

    # transactions still work; the operator's block carries the operator's anchor and time
    tx_hash = l2.node.call(
        "eth_sendRawTransaction", signed_transfer(l2.node, DEV_KEYS[0], VICTIM, ETH // 10)
    )
    anchor = "0x" + "11" * 32
    l2.admin.call("evm_mine", {"timestamp": head_timestamp + 12, "parentBeaconBlockRoot": anchor})
    receipt = l2.node.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1" and receipt["blockNumber"] == "0x1"
    block = l2.node.call("eth_getBlockByNumber", "latest", False)
    assert block["parentBeaconBlockRoot"] == anchor
    assert int(block["timestamp"], 16) == head_timestamp + 12
    assert int(l2.node.call("eth_getBalance", VICTIM, "latest"), 16) == ETH // 10
    assert int(l2.node.call("eth_getBalance", ATTACKER, "latest"), 16) == 0


async def ws_calls(url: str, names: list[str]) -> list[dict]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        out = []
        for i, name in enumerate(names):
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": i, "method": name, "params": []}))
            out.append(json.loads((await ws.receive()).data))
        return out


def auth_post(url: str, method: str, params: list, token: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_controls_work_on_the_authenticated_endpoint_with_a_valid_jwt(l2):
    admin = l2.admin
    assert l2.secret_path.stat().st_mode & 0o777 == 0o600
    admin.call("anvil_setBalance", VICTIM, hex(3 * ETH))
    assert int(l2.node.call("eth_getBalance", VICTIM, "latest"), 16) == 3 * ETH
    snapshot = admin.call("evm_snapshot")
    admin.call("evm_mine", {"parentBeaconBlockRoot": "0x" + "22" * 32})
    assert l2.node.call("eth_blockNumber") == "0x1"
    assert admin.call("evm_revert", snapshot) is True
    assert l2.node.call("eth_blockNumber") == "0x0"
    # impersonation set up by the operator is still closed to public callers
    admin.call("anvil_impersonateAccount", VICTIM)
    send = {"from": VICTIM, "to": ATTACKER, "value": hex(ETH)}
    refused = l2.public("eth_sendTransaction", send)
    assert "authenticated endpoint" in refused["error"]["message"]
    assert l2.node.call("txpool_status")["pending"] == "0x0"
    tx_hash = admin.call("eth_sendTransaction", send)
    admin.call("evm_mine")
    assert l2.node.call("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
    # every public method is served there too, and so is a WebSocket with a token
    assert admin.call("eth_chainId") == hex(L2_CHAIN_ID)


def test_a_missing_bad_or_expired_jwt_is_refused_with_401(l2):
    now = int(time.time())
    good = jwt.encode({"iat": now}, l2.secret, algorithm="HS256")
    cases = {
        None: "missing token",
        jwt.encode({"iat": now}, b"\x01" * 32, algorithm="HS256"): "signature is invalid",
        jwt.encode({"iat": now - 120}, l2.secret, algorithm="HS256"): "stale token",
        jwt.encode({"iat": now + 120}, l2.secret, algorithm="HS256"): "future token",
        jwt.encode({"iat": now, "exp": now - 5}, l2.secret, algorithm="HS256"): "token is expired",
        jwt.encode({"sub": "x"}, l2.secret, algorithm="HS256"): "missing issued-at",
        jwt.encode({"iat": now}, l2.secret, algorithm="HS512"): "invalid token",
    }
    before = l2.fingerprint()
    for token, reason in cases.items():
        status, body = auth_post(l2.auth_url, "anvil_setBalance", [ATTACKER, hex(ETH)], token)
        assert (status, body.strip().startswith(reason)) == (401, True), (reason, status, body)
        status, _ = auth_post(l2.auth_url, "evm_mine", [], token)
        assert status == 401
    assert l2.fingerprint() == before
    # a WebSocket upgrade without a token is refused too
    status = asyncio.run(ws_status(l2.auth_url.replace("http", "ws"), None))
    assert status == 401
    assert asyncio.run(ws_status(l2.auth_url.replace("http", "ws"), good)) == 101
    status, body = auth_post(l2.auth_url, "eth_blockNumber", [], good)
    assert status == 200 and json.loads(body)["result"] == "0x0"


async def ws_status(url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_the_sequencer_settles_through_the_authenticated_endpoint(l2, node_factory, tmp_path):
    l1 = node_factory()
    urls = ["--l1", l1.url, "--l2", l2.url]
    files = ["--rollup-file", str(tmp_path / "rollup.json")]
    out = native_rollup("deploy", *urls, *files, "--initial-escrow", "1")
    assert out.returncode == 0, out.stderr
    l2.node.call("eth_sendRawTransaction", signed_transfer(l2.node, DEV_KEYS[0], VICTIM, 12345))

    # without the authenticated endpoint the sequencer cannot mine, and says what it needs
    out = native_rollup("sequence", *urls, *files, "--once")
    assert out.returncode == 1
    assert "does not serve evm_mine" in out.stderr and "--l2-auth-url" in out.stderr
    assert l2.node.call("eth_blockNumber") == "0x0"

    auth = ["--l2-auth-url", l2.auth_url, "--jwt-secret", str(l2.secret_path)]
    out = native_rollup("sequence", *urls, *files, *auth, "--once")
    assert out.returncode == 0, out.stderr
    (settled,) = json.loads(out.stdout)
    block = l2.node.call("eth_getBlockByNumber", "0x1", False)
    assert settled["l2Block"] == 1 and settled["l2Hash"] == block["hash"]
    assert len(block["transactions"]) == 1
    status = json.loads(native_rollup("status", *urls, *files).stdout)
    assert status["consistent"] and status["lastBlockNumber"] == 1

    # a wrong secret is refused by the node (401), and nothing is mined
    wrong = tmp_path / "wrong.jwt"
    wrong.write_text("0x" + "ab" * 32)
    l2.node.call("eth_sendRawTransaction", signed_transfer(l2.node, DEV_KEYS[0], VICTIM, 1))
    out = native_rollup("sequence", *urls, *files, *auth[:2], "--jwt-secret", str(wrong), "--once")
    assert out.returncode == 1 and "401" in out.stderr and "signature is invalid" in out.stderr
    assert l2.node.call("eth_blockNumber") == "0x1"


def test_deploy_refuses_an_escrow_that_does_not_back_the_l2_genesis_supply(l2, node_factory):
    """The L2 funds dev account 0 with 1 ETH: only an initial escrow of exactly 1 ETH deploys."""
    l1 = node_factory()
    urls = ["--l1", l1.url, "--l2", l2.url]
    deployer = DEV_ADDRESSES[0]
    nonce = l1.call("eth_getTransactionCount", deployer, "latest")
    for escrow, shown in (("0", "0 wei (0 ETH)"), ("2.5", "2500000000000000000 wei (2.5 ETH)")):
        out = native_rollup(
            "deploy", *urls, "--initial-escrow", escrow, "--rollup-file", "/dev/null"
        )
        assert out.returncode == 1
        assert f"initial escrow {shown} does not match" in out.stderr, out.stderr
        assert (
            "1000000000000000000 wei (1 ETH)" in out.stderr and "--initial-escrow 1" in out.stderr
        )
    assert l1.call("eth_getTransactionCount", deployer, "latest") == nonce  # nothing sent
    rollup_file = l2.secret_path.parent / "rollup.json"
    out = native_rollup("deploy", *urls, "--initial-escrow", "1", "--rollup-file", str(rollup_file))
    assert out.returncode == 0, out.stderr
    address = json.loads(rollup_file.read_text())["address"]
    assert int(l1.call("eth_getBalance", address, "latest"), 16) == ETH


def test_an_l2_funds_no_dev_accounts_unless_asked(tmp_path, node_factory):
    plain = node_factory("--genesis", "genesis/l2.json")
    assert plain.call("eth_accounts") == []
    assert plain.call("eth_getBalance", DEV_ADDRESSES[0], "latest") == "0x0"
    assert "Dev accounts: none funded" in plain.log()
    funded = node_factory("--genesis", "genesis/l2.json", "--accounts", "2")
    assert [a.lower() for a in funded.call("eth_accounts")] == [
        a.lower() for a in DEV_ADDRESSES[:2]
    ]
    assert int(funded.call("eth_getBalance", DEV_ADDRESSES[1], "latest"), 16) == 10_000 * ETH


def test_an_l1_keeps_anvil_controls_on_its_public_port(node_factory):
    l1 = node_factory()
    assert "result" in rpc(l1.url, "anvil_setBalance", [ATTACKER, hex(ETH)])
    assert int(l1.call("eth_getBalance", ATTACKER, "latest"), 16) == ETH
    closed = node_factory("--no-public-controls")
    assert_refused(rpc(closed.url, "anvil_setBalance", [ATTACKER, hex(ETH)]), "anvil_setBalance")
    assert closed.call("eth_getBalance", ATTACKER, "latest") == "0x0"
    opened = node_factory("--genesis", "genesis/l2.json", "--public-controls")
    assert "result" in rpc(opened.url, "evm_mine", [])
    assert opened.call("eth_blockNumber") == "0x1"
