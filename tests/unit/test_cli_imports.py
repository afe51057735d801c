"""``native-devnet`` and ``native-rollup`` answer ``--help``/``--version`` without importing
py-evm, web3, aiohttp or eth-account (structural: the imports are listed, never timed), and
the defaults their flags spell out equal the constants of the modules that own them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("eth", "web3", "aiohttp", "eth_account", "eth_abi", "eth_utils", "uvloop", "lmdb")


def _imported_by(*args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    """The top-level packages ``python -X importtime -m ...`` loaded."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            modules.add(name.split(".")[0])
    return modules, result


@pytest.mark.parametrize(
    "args",
    [
        ("rpc.cli", "--help"),
        ("rpc.cli", "--version"),
        ("sequencer.cli", "--help"),
        ("sequencer.cli", "--version"),
        ("sequencer.cli", "deposit", "--help"),
    ],
)
def test_help_and_version_import_nothing_heavy(args):
    modules, result = _imported_by(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip(), "the command printed nothing"
    assert "argparse" in modules  # the probe sees imports at all
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_version_names_the_installed_package():
    for module, prog in (("rpc.cli", "native-devnet"), ("sequencer.cli", "native-rollup")):
        result = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert result.returncode == 0
        assert result.stdout.strip() == f"{prog} 0.1.0"


_PARSE_PROBE = """
import json, sys
from {module} import build_parser
build_parser().parse_args({argv!r})
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


@pytest.mark.parametrize(
    "module, argv",
    [
        (
            "rpc.cli",
            ["--port", "1", "--no-mining", "--max-body-size", "1MiB", "--rpc-gas-cap", "9"],
        ),
        (
            "sequencer.cli_flags",
            ["deposit", "--value", "1.5", "--data", "0x12", "--to", "0x" + "11" * 20],
        ),
        ("sequencer.cli_flags", ["sequence", "--once", "--rollup", "0x" + "22" * 20]),
    ],
)
def test_parsing_flags_imports_nothing_heavy(module, argv):
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_PROBE.format(module=module, argv=argv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = set(json.loads(result.stdout))
    assert "argparse" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_devnet_flag_defaults_equal_their_owners():
    import node.accounts
    import node.genesis
    import node.interrupt
    import node.logs
    import node.pool
    import node.simulation
    import node.statefile
    import node.tracing
    import rpc.cli
    import rpc.cli_flags as flags
    import rpc.connections
    import rpc.server

    owners = {
        "DEFAULT_MNEMONIC": node.accounts,
        "DEFAULT_ACCOUNT_COUNT": node.accounts,
        "DEFAULT_BALANCE_ETH": node.accounts,
        "RPC_EVM_TIMEOUT": node.interrupt,
        "TRACE_TIMEOUT": node.interrupt,
        "MAX_LOG_BLOCK_RANGE": node.logs,
        "MAX_LOG_RESULTS": node.logs,
        "MAX_PENDING_SLOTS": node.pool,
        "MAX_QUEUED": node.pool,
        "MAX_QUEUED_PER_SENDER": node.pool,
        "MAX_TX_SIZE": node.pool,
        "RPC_GAS_CAP": node.simulation,
        "MAX_STATE_SIZE": node.statefile,
        "TRACE_MAX_STEPS": node.tracing,
        "DEFAULT_MAX_CONNECTIONS": rpc.connections,
        "DEFAULT_READ_TIMEOUT_SECONDS": rpc.connections,
        "DEFAULT_MAX_BODY_BYTES": rpc.server,
        "DEFAULT_L1_GENESIS": node.genesis,
    }
    for name, owner in owners.items():
        assert getattr(flags, name) == getattr(owner, name), name
    assert rpc.cli.REQUEST_LEVEL == rpc.server.REQUEST_LEVEL


def test_rollup_flag_constants_equal_their_owners():
    import sequencer.cli_flags as flags
    import sequencer.client
    import sequencer.messages

    assert flags.ETHER == sequencer.client.ETHER
    assert flags.MAX_MIN_GAS_LIMIT == sequencer.messages.MAX_MIN_GAS_LIMIT
    for text in ("", "0x", "0x00ff", "abcd"):
        assert flags.h2b(text) == sequencer.client.h2b(text)
