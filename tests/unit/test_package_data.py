"""Genesis files and contract artifacts are package data: an installed node and
``native-rollup`` find them from any directory, and ``--genesis genesis/l2.json`` names the
shipped L2 genesis wherever it runs (unless the working directory has its own file)."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from node.genesis import load_genesis

ROOT = Path(__file__).resolve().parents[2]


def test_a_shipped_genesis_resolves_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_genesis("genesis/l2.json").role == "l2"
    assert load_genesis("l1.json").role == "l1"


def test_a_genesis_in_the_working_directory_comes_first(tmp_path, monkeypatch):
    doc = json.loads((ROOT / "genesis" / "l2.json").read_text())
    doc["config"]["chainId"] = 424242
    (tmp_path / "genesis").mkdir()
    (tmp_path / "genesis" / "l2.json").write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    assert load_genesis("genesis/l2.json").chain_id == 424242


def install_like_pyproject(site: Path) -> None:
    """Lay the packages out as an install of this project would: each package of
    ``tool.setuptools.packages`` from its ``package-dir`` (default: its own path), with its
    modules and its ``package-data``."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dirs = setuptools.get("package-dir", {})
    package_data = setuptools.get("package-data", {})
    for package in setuptools["packages"]:
        source = ROOT / package_dirs.get(package, package.replace(".", "/"))
        target = site / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        patterns = ["*.py", *package_data.get(package, [])]
        for path in source.iterdir():
            if path.is_file() and any(fnmatch.fnmatch(path.name, p) for p in patterns):
                shutil.copy(path, target / path.name)


def test_an_installed_package_reads_its_data_outside_the_repo(tmp_path):
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    install_like_pyproject(site)
    elsewhere.mkdir()
    probe = """
import json
from pathlib import Path
import sequencer
from node.genesis import load_genesis
from sequencer.artifacts import load_artifact
rollup = load_artifact("NativeRollup")
print(json.dumps({
    "sequencer": sequencer.__file__,
    "rollup_code": len(rollup.bytecode),
    "l2_role": load_genesis("genesis/l2.json").role,
}))
"""
    env = {k: v for k, v in os.environ.items() if k != "NATIVE_ROLLUP_ARTIFACTS"}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["sequencer"]).is_relative_to(site)  # not the repo's copy
    assert found["rollup_code"] > 0
    assert found["l2_role"] == "l2"
