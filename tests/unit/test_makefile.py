"""``make devnet`` sets up the runtime only (the node's dependencies), not the test, lint and
plot extras that ``make test`` adds; both set themselves up from nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(tmp_path: Path, target: str) -> str:
    for name in ("Makefile", "pyproject.toml", "package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_devnet_installs_the_runtime_only(tmp_path):
    commands = dry_run(tmp_path, "devnet")
    assert "python3 -m venv .venv" in commands
    assert "pip install -q -e ." in commands
    assert "[dev]" not in commands
    assert "native-devnet" in commands


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_adds_the_dev_extras_and_npm_tools(tmp_path):
    commands = dry_run(tmp_path, "test")
    assert "pip install -q -e '.[dev]'" in commands
    assert "npm install" in commands
    assert "pytest -q tests" in commands
