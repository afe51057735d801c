"""The container files say what they mean: no Docker engine runs here, so check that the
compose file parses, that every service runs a command this project installs, and that the
Dockerfile copies what the package needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_parses_and_has_the_l1_service():
    services = compose()["services"]
    assert "l1" in services
    l1 = services["l1"]
    assert l1["build"] == "."
    assert l1["ports"] == ["127.0.0.1:8545:8545"]
    assert l1["healthcheck"]["test"][0] == "CMD"


def test_every_service_command_is_an_installed_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, service in compose()["services"].items():
        command = service.get("command")
        if command:
            assert command[0] in scripts, f"service {name} runs unknown command {command[0]}"


def test_every_service_command_parses_its_flags():
    """Run each service's command with --help replaced in: argparse must accept every flag."""
    from rpc.cli import build_parser

    for service in compose()["services"].values():
        command = service.get("command")
        if command and command[0] == "native-devnet":
            build_parser().parse_args(command[1:])  # raises SystemExit on an unknown flag


def test_dockerfile_copies_the_packages_pyproject_declares():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for top in {p.split(".")[0] for p in packages}:
        assert f"COPY {top} ./{top}" in dockerfile, f"Dockerfile does not copy {top}/"


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="no docker compose plugin on this machine")
def test_docker_client_accepts_the_compose_file():
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_console_script_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "rpc.cli", "--help"], capture_output=True, text=True,
        cwd=ROOT, timeout=60,
    )
    assert result.returncode == 0
    assert "--execute-gas-limit" in result.stdout and "--no-mining" in result.stdout
