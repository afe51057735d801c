"""The ``native-devnet`` process: its banner, clean shutdown on SIGINT/SIGTERM, and clear
errors (exit code and one line) for a bad genesis or a port in use."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest
from eth_utils import to_checksum_address

from tests.procs import DEV_ADDRESSES, DEV_KEYS, ROOT, free_port, start_node, under_test

MNEMONIC = "test test test test test test test test test test test junk"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="native-devnet's own CLI"),
]


def test_banner_lists_chain_accounts_keys_execute_and_mining(tmp_path):
    node = start_node(["--block-time", "5"], log_dir=tmp_path)
    try:
        banner = node.log()
    finally:
        node.stop()
    assert "Chain ID:     31337" in banner
    assert f"http://127.0.0.1:{node.port}" in banner
    assert f"(0) {DEV_ADDRESSES[0]} (10000 ETH)" in banner  # EIP-55, as anvil prints them
    assert DEV_ADDRESSES[0] != DEV_ADDRESSES[0].lower()
    assert DEV_KEYS[0] in banner
    assert "0x0000000000000000000000000000000000000101" in banner and "limit 10000000" in banner
    assert "interval every 5s" in banner
    assert "delayed one slot" in banner
    assert "Hardfork:     osaka" in banner
    assert f"Mnemonic:     {MNEMONIC}" in banner
    assert "Derivation path: m/44'/60'/0'/0/" in banner


def test_banner_shows_the_chosen_mnemonic(tmp_path):
    mnemonic = "abandon " * 11 + "about"
    node = start_node(["--mnemonic", mnemonic, "--accounts", "1"], log_dir=tmp_path)
    try:
        banner = node.log()
        (address,) = node.call("eth_accounts")
    finally:
        node.stop()
    assert f"Mnemonic:     {mnemonic}" in banner
    assert f"(0) {to_checksum_address(address)} (10000 ETH)" in banner


@pytest.mark.parametrize("accounts", [[], ["--accounts", "2"]])
def test_an_l2_banner_says_what_the_l2_is_and_claims_no_execute(tmp_path, accounts):
    node = start_node(["--genesis", "genesis/l2.json", *accounts], log_dir=tmp_path)
    try:
        banner = node.log()
    finally:
        node.stop()
    assert "EXECUTE:" not in banner and "0x0000000000000000000000000000000000000101" not in banner
    assert "native-devnet — py-evm devnet (L2 rollup chain)" in banner
    assert "with the EXECUTE precompile" not in banner
    assert "Chain ID:     31338" in banner
    assert "Rollup:       L2 of a native rollup (no EXECUTE precompile)" in banner
    assert "Controls:     anvil_*/evm_*/hardhat_* not on the public port" in banner
    assert "Hardfork:     osaka" in banner
    if accounts:
        assert f"(1) {DEV_ADDRESSES[1]} (10000 ETH)" in banner
        assert f"Mnemonic:     {MNEMONIC}" in banner
    else:
        assert "Dev accounts: none funded" in banner and "Mnemonic" not in banner


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_shut_down_cleanly(tmp_path, sig):
    node = start_node([], log_dir=tmp_path)
    assert node.stop(sig) == 0
    assert "Traceback" not in node.log()
    assert "shutting down" in node.log()


def test_bad_genesis_is_a_clear_error(tmp_path):
    bad = tmp_path / "genesis.json"
    bad.write_text(json.dumps({"config": {"chainId": 5}, "alloc": {}}))
    result = subprocess.run(
        [sys.executable, "-m", "rpc.cli", "--port", str(free_port()), "--genesis", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "lacks Prague system contract code" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "rpc.cli", "--port", str(port), "--silent"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
