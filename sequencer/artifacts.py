"""The compiled rollup contracts (``contracts/out/<Name>.json``, committed to the repo).

They are package data: ``pyproject.toml`` ships ``contracts/out`` as ``sequencer/compiled``,
read with ``importlib.resources``, so an installed ``native-rollup`` deploys from any
directory. Looked up, in order, in ``$NATIVE_ROLLUP_ARTIFACTS``, in the installed package,
next to this package in a source checkout (``<repo>/contracts/out``) and under the working
directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGED_DIR = "compiled"  # the artifacts' directory inside an installed ``sequencer``


def artifact_dirs() -> list[Path | Traversable]:
    dirs: list[Path | Traversable] = []
    if os.environ.get("NATIVE_ROLLUP_ARTIFACTS"):
        dirs.append(Path(os.environ["NATIVE_ROLLUP_ARTIFACTS"]))
    dirs.append(resources.files("sequencer") / PACKAGED_DIR)
    dirs.append(Path(__file__).resolve().parent.parent / "contracts" / "out")
    dirs.append(Path.cwd() / "contracts" / "out")
    return dirs


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list
    bytecode: bytes
    deployed_bytecode: bytes


def _hex(value: str | dict) -> bytes:
    if isinstance(value, dict):  # forge's layout: {"object": "0x..."}
        value = value["object"]
    return bytes.fromhex(value.removeprefix("0x"))


@cache
def load_artifact(name: str) -> Artifact:
    """The artifact of contract ``name``; ``FileNotFoundError`` names the places searched."""
    for directory in artifact_dirs():
        path = directory / f"{name}.json"
        if path.is_file():
            doc = json.loads(path.read_text())
            return Artifact(
                name, doc["abi"], _hex(doc["bytecode"]), _hex(doc.get("deployedBytecode", "0x"))
            )
    searched = ", ".join(str(d) for d in artifact_dirs())
    raise FileNotFoundError(f"artifact {name}.json not found in {searched}")
