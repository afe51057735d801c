"""The container files say what they mean: the compose file parses, every service runs a
command this project installs with flags its parser accepts, the Dockerfile copies and
declares what the package needs. `make compose-test` (scripts/compose_test.sh, run by .ci/run)
builds the image and runs the stack in a real Docker engine."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_parses_and_has_the_l1_service():
    services = compose()["services"]
    assert "l1" in services
    l1 = services["l1"]
    assert l1["build"]["context"] == "."
    assert l1["ports"] == ["127.0.0.1:${L1_PORT:-8545}:8545"]
    assert l1["healthcheck"]["test"][0] == "CMD"


def test_every_service_builds_from_the_base_image_argument():
    for name, service in compose()["services"].items():
        assert service["build"]["args"] == {"BASE_IMAGE": "${BASE_IMAGE:-python:3.11-slim}"}, name
        assert service["image"] == "native-devnet:local", name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_the_l1_keeps_its_chain_in_a_named_volume():
    doc = compose()
    l1 = doc["services"]["l1"]
    from rpc.cli import build_parser as devnet_parser

    args = devnet_parser().parse_args(l1["command"][1:])
    assert args.data_dir is not None
    volume, mount = l1["volumes"][0].split(":")[:2]
    assert mount == str(args.data_dir) and volume in doc["volumes"]
    # the relayer outlives an L1 restart: restarted on failure, reusing the rollup file
    relayer = doc["services"]["relayer"]
    assert relayer["restart"] == "on-failure" and "--deploy" in relayer["command"]


def test_every_service_command_is_an_installed_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, service in compose()["services"].items():
        command = service.get("command")
        if command:
            assert command[0] in scripts, f"service {name} runs unknown command {command[0]}"


def _parsers() -> dict:
    from rpc.cli import build_parser as devnet_parser
    from sequencer.cli import build_parser as rollup_parser

    return {"native-devnet": devnet_parser, "native-rollup": rollup_parser}


def test_every_service_command_parses_its_flags():
    """Each service's command (and each healthcheck that runs one of our console scripts)
    goes through the real argparse parser: an unknown flag raises SystemExit."""
    parsers = _parsers()
    for service in compose()["services"].values():
        command = service.get("command")
        if command and command[0] in parsers:
            parsers[command[0]]().parse_args(command[1:])
        test = service.get("healthcheck", {}).get("test", [])
        if len(test) > 1 and test[0] == "CMD" and test[1] in parsers:
            parsers[test[1]]().parse_args(test[2:])


def test_compose_runs_the_rollup_l2_relayer_and_demo():
    services = compose()["services"]
    l2, relayer, demo = services["l2"], services["relayer"], services["demo"]
    from rpc.cli import build_parser as devnet_parser
    from sequencer.cli import build_parser as rollup_parser

    l2_args = devnet_parser().parse_args(l2["command"][1:])
    assert l2_args.genesis.name == "l2.json" and l2_args.no_mining and l2_args.host == "0.0.0.0"
    assert l2["healthcheck"]["test"][0] == "CMD"

    seq = rollup_parser().parse_args(relayer["command"][1:])
    assert seq.command == "sequence" and seq.deploy
    assert (seq.l1, seq.l2) == ("http://l1:8545", "http://l2:8545")
    # the escrow backs exactly the L2's dev funding (--accounts x --balance ETH)
    assert seq.initial_escrow == l2_args.accounts * l2_args.balance * 10**18
    # the L2's controls: not on its public port, on an unpublished authenticated endpoint
    # whose JWT secret the relayer reads from a shared volume
    assert not l2_args.public_controls
    assert seq.l2_auth_url == f"http://l2:{l2_args.auth_port}"
    assert seq.jwt_secret == l2_args.jwt_secret
    assert all(str(l2_args.auth_port) not in port.split(":")[-1] for port in l2["ports"])
    volume = str(l2_args.jwt_secret.parent)
    assert f"jwt:{volume}" in l2["volumes"] and f"jwt:{volume}:ro" in relayer["volumes"]
    assert relayer["depends_on"] == {
        "l1": {"condition": "service_healthy"},
        "l2": {"condition": "service_healthy"},
    }
    assert relayer["healthcheck"]["test"][1:3] == ["native-rollup", "status"]

    run = rollup_parser().parse_args(demo["command"][1:])
    assert run.command == "demo" and run.external_sequencer
    assert str(run.rollup_file) == str(seq.rollup_file)
    assert demo["depends_on"] == {"relayer": {"condition": "service_healthy"}}
    assert demo["profiles"] == ["demo"]


def test_native_rollup_help_lists_every_subcommand():
    result = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for command in (
        "deploy",
        "deposit",
        "sequence",
        "withdraw",
        "prove-withdrawal",
        "claim-withdrawal",
        "status",
        "demo",
    ):
        assert command in result.stdout


def test_dockerfile_copies_the_packages_pyproject_declares():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for top in {p.split(".")[0] for p in packages}:
        assert f"COPY {top} ./{top}" in dockerfile, f"Dockerfile does not copy {top}/"


def test_every_package_directory_is_declared():
    """A subpackage missing from [tool.setuptools] packages is left out of the installed
    package (the image's nodes died on `No module named 'node.fork.osaka'`)."""
    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    for top in {p.split(".")[0] for p in declared}:
        for init in (ROOT / top).rglob("__init__.py"):
            name = ".".join(init.parent.relative_to(ROOT).parts)
            assert name in declared, f"{name} is not in pyproject's packages"


def test_dockerfile_image_is_installed_non_root_and_health_checked():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile, re.M)
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 2  # a build stage, then the runtime
    runtime = dockerfile.split("FROM ${BASE_IMAGE}\n", 1)[1]
    # the runtime stage takes the installed virtualenv, never the sources
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert not re.search(r"^COPY (?!--from)", runtime, re.M)
    users = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", runtime, re.M)
    # the optional CA bundle reaches pip as a BuildKit secret, never as a layer
    assert dockerfile.count("--mount=type=secret,id=pip_ca") == 1
    # the build context: everything out (.venv, node_modules, .git), then the needed paths
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and r[0] != "#"]
    assert rules[0] == "*" and "!pyproject.toml" in rules


def test_console_script_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "rpc.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0
    assert "--execute-gas-limit" in result.stdout and "--no-mining" in result.stdout
