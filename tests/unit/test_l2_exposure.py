"""The pieces behind the L2's closed public port and the deployment's escrow check, in
process: the method table (``rpc.exposure``), the JWT gate (``rpc.auth``), dev funding by
role (``node.accounts``), and ``sequencer.rollup.check_initial_escrow`` against a node that
tells the truth, one that lies about its alloc, and one that cannot tell.
"""

from __future__ import annotations

import asyncio
import os
import time

import jwt
import pytest

from node.accounts import DEFAULT_ACCOUNT_COUNT, DEFAULT_BALANCE_ETH, dev_funding
from node.genesis import DEFAULT_L2_GENESIS, load_genesis
from rpc import anvil
from rpc.auth import (
    IAT_TOLERANCE_SECONDS,
    JwtSecretError,
    load_or_create_secret,
    make_token,
    token_error,
)
from rpc.errors import METHOD_NOT_FOUND, RpcError
from rpc.exposure import READ_ONLY, is_control, public_methods
from rpc.server import METHODS
from sequencer.client import RpcError as ClientRpcError
from sequencer.rollup import MESSENGER, EscrowMismatch, check_initial_escrow

# the tests sign with other algorithms on purpose, which PyJWT warns about
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ETH = 10**18
SECRET = bytes(range(32))


# -- the method table -------------------------------------------------------------------------


def test_every_state_editing_method_is_a_control_and_reads_are_public():
    controls = {name for name in METHODS if is_control(name)}
    # the namespace of test-node controls, all but its reads
    assert controls == {name for name in anvil.METHODS if name not in READ_ONLY} | {
        name for name in METHODS if name.startswith("devnet_") and name not in READ_ONLY
    }
    for name in (
        "anvil_setBalance",
        "hardhat_setStorageAt",
        "evm_mine",
        "evm_revert",
        "anvil_reset",
        "anvil_loadState",
        "anvil_impersonateAccount",
        "evm_setAutomine",
        "devnet_setNextBlockFields",
    ):
        assert name in controls
    for name in ("eth_sendRawTransaction", "eth_call", "debug_executionWitness", "txpool_status"):
        assert name in METHODS and not is_control(name)
    assert READ_ONLY <= set(METHODS)  # no stale names in the exceptions
    assert is_control("anvil_someFutureControl")  # new controls fail closed


def test_the_public_table_refuses_controls_and_keeps_the_rest():
    table = public_methods(METHODS)
    assert set(table) == set(METHODS)
    with pytest.raises(RpcError) as refused:
        asyncio.run(table["anvil_setBalance"](None, ["0x" + "00" * 20, "0x1"]))
    assert refused.value.code == METHOD_NOT_FOUND
    assert "anvil_setBalance" in refused.value.message
    assert "--auth-port" in refused.value.message and "--public-controls" in refused.value.message
    assert table["eth_chainId"] is METHODS["eth_chainId"]
    assert table["anvil_nodeInfo"] is METHODS["anvil_nodeInfo"]
    assert table["eth_sendTransaction"] is not METHODS["eth_sendTransaction"]


# -- the JWT gate -----------------------------------------------------------------------------


def bearer(claims: dict, secret: bytes = SECRET, algorithm: str = "HS256") -> str:
    return "Bearer " + jwt.encode(claims, secret, algorithm=algorithm)


def test_tokens_within_the_iat_tolerance_pass_and_everything_else_is_refused():
    now = 1_800_000_000
    assert token_error("Bearer " + make_token(SECRET, now), SECRET, now) is None
    assert token_error("bearer " + make_token(SECRET, now), SECRET, now) is None
    edge = IAT_TOLERANCE_SECONDS
    assert token_error(bearer({"iat": now - edge}), SECRET, now) is None
    assert token_error(bearer({"iat": now + edge}), SECRET, now) is None
    assert token_error(bearer({"iat": now - edge - 1}), SECRET, now) == "stale token"
    assert token_error(bearer({"iat": now + edge + 1}), SECRET, now) == "future token"
    assert token_error(bearer({"iat": now, "exp": now - 1}), SECRET, now) == "token is expired"
    assert token_error(bearer({"iat": now, "exp": now + 60}), SECRET, now) is None
    assert token_error(bearer({"sub": "x"}), SECRET, now) == "missing issued-at"
    assert token_error(bearer({"iat": "soon"}), SECRET, now) == "missing issued-at"
    assert token_error(bearer({"iat": now}, bytes(32)), SECRET, now) == "signature is invalid"
    assert token_error(bearer({"iat": now}, algorithm="HS384"), SECRET, now).startswith(
        "invalid token"
    )
    assert token_error(None, SECRET, now) == "missing token"
    assert token_error("Basic abc", SECRET, now) == "missing token"
    assert token_error("Bearer not.a.jwt", SECRET, now).startswith("invalid token")
    unsigned = jwt.encode({"iat": now}, None, algorithm="none")
    assert token_error("Bearer " + unsigned, SECRET, now).startswith("invalid token")


def test_a_missing_secret_file_is_created_private_and_then_reused(tmp_path):
    path = tmp_path / "sub" / "jwtsecret"
    secret = load_or_create_secret(path)
    assert len(secret) == 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_text() == "0x" + secret.hex()
    assert load_or_create_secret(path) == secret
    path.write_text(" " + secret.hex() + "\n")  # no 0x, whitespace: geth reads it too
    assert load_or_create_secret(path) == secret


@pytest.mark.parametrize(
    ("text", "reason"), [("0x1234", "2 bytes, need 32"), ("zz" * 32, "not hex"), ("", "0 bytes")]
)
def test_an_unusable_secret_file_is_a_clear_error(tmp_path, text, reason):
    path = tmp_path / "jwtsecret"
    path.write_text(text)
    with pytest.raises(JwtSecretError, match=reason):
        load_or_create_secret(path)
    assert path.read_text() == text  # never overwritten


# -- dev funding by role ----------------------------------------------------------------------


def test_an_l2_funds_dev_accounts_only_when_asked():
    assert dev_funding("l1", None, None) == (DEFAULT_ACCOUNT_COUNT, DEFAULT_BALANCE_ETH)
    assert dev_funding("l2", None, None) == (0, 0)
    assert dev_funding("l2", 1, None) == (1, DEFAULT_BALANCE_ETH)
    assert dev_funding("l2", None, 1) == (DEFAULT_ACCOUNT_COUNT, 1)
    assert dev_funding("l2", 2, 3) == (2, 3)


# -- the escrow check -------------------------------------------------------------------------


class FakeL2:
    """An L2 node's answers: block 0 and ``devnet_genesisAlloc`` (possibly lying)."""

    def __init__(self, genesis, alloc_json: dict | None) -> None:
        from node.chain import Chain

        self.root = Chain(genesis).genesis_header.state_root
        self.alloc_json = alloc_json

    def block(self, tag):
        return {"stateRoot": "0x" + self.root.hex(), "hash": "0x" + "00" * 32}

    def call(self, method: str, *params):
        assert method == "devnet_genesisAlloc"
        if self.alloc_json is None:
            raise ClientRpcError(method, -32601, "Method not found")
        return self.alloc_json


def alloc_json(genesis) -> dict:
    from rpc.devnet_info import genesis_alloc

    class Node:
        pass

    node = Node()
    node.genesis = genesis
    return asyncio.run(genesis_alloc(node, []))


def funded_l2(eth: int):
    genesis = load_genesis(DEFAULT_L2_GENESIS)
    return genesis.with_accounts([bytes([1]) * 20, bytes([2]) * 20], eth * ETH)


def test_the_escrow_must_equal_the_genesis_supply_outside_the_messenger():
    genesis = funded_l2(3)
    l2 = FakeL2(genesis, alloc_json(genesis))
    assert genesis.alloc[MESSENGER].balance > 0  # the messenger's supply does not count
    assert check_initial_escrow(l2, 6 * ETH) == 6 * ETH
    with pytest.raises(EscrowMismatch) as refused:
        check_initial_escrow(l2, 0)
    message = str(refused.value)
    assert "initial escrow 0 wei (0 ETH)" in message
    assert f"{6 * ETH} wei (6 ETH)" in message and "--initial-escrow 6" in message
    with pytest.raises(EscrowMismatch, match=r"7000000000000000000 wei \(7 ETH\)"):
        check_initial_escrow(l2, 7 * ETH)
    plain = load_genesis(DEFAULT_L2_GENESIS)
    assert check_initial_escrow(FakeL2(plain, alloc_json(plain)), 0) == 0


def test_a_node_that_understates_its_alloc_or_cannot_tell_is_refused():
    genesis = funded_l2(3)
    lying = alloc_json(genesis)
    lying["0x" + "01" * 20]["balance"] = "0x0"  # hide 3 ETH; block 0 still has them
    with pytest.raises(EscrowMismatch, match="state root .* but its block 0 has"):
        check_initial_escrow(FakeL2(genesis, lying), 3 * ETH)
    with pytest.raises(EscrowMismatch, match="does not tell its genesis alloc"):
        check_initial_escrow(FakeL2(genesis, None), 6 * ETH)
    with pytest.raises(EscrowMismatch, match="unreadable"):
        check_initial_escrow(FakeL2(genesis, {"0x01": []}), 6 * ETH)


def test_tokens_made_now_pass_now():
    assert token_error("Bearer " + make_token(SECRET), SECRET, time.time()) is None


# -- the flags --------------------------------------------------------------------------------


def test_the_auth_flags_go_together(tmp_path, capsys):
    from rpc.cli import build_parser, jwt_secret_path, main

    with pytest.raises(SystemExit) as exited:
        main(["--jwt-secret", str(tmp_path / "jwt")])
    assert exited.value.code == 2
    assert "--jwt-secret needs --auth-port" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["--auth-port", "8551"])
    assert exited.value.code == 2
    assert "--auth-port needs --jwt-secret FILE" in capsys.readouterr().err
    args = build_parser().parse_args(["--auth-port", "8551", "--data-dir", str(tmp_path)])
    assert jwt_secret_path(args) == tmp_path / "jwtsecret"  # geth keeps it in its datadir
    args = build_parser().parse_args(["--auth-port", "8551", "--jwt-secret", "/s"])
    assert str(jwt_secret_path(args)) == "/s"
    assert jwt_secret_path(build_parser().parse_args([])) is None


def test_a_bad_secret_file_stops_the_node_before_it_touches_anything(tmp_path, capsys):
    from rpc.cli import main

    secret, data_dir = tmp_path / "jwt", tmp_path / "chain"
    secret.write_text("0x1234")
    args = ["--auth-port", "8551", "--jwt-secret", str(secret), "--data-dir", str(data_dir)]
    assert main([*args, "--silent"]) == 2
    assert "invalid JWT secret" in capsys.readouterr().err
    assert not data_dir.exists()
