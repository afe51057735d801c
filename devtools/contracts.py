"""Load compiled contract artifacts (``contracts/out/<Name>.json``) for scripts and tests,
with the code as 0x hex (``sequencer.artifacts`` is the installed tool's loader, as bytes).

The artifacts are committed (see ``tests/unit/test_artifacts.py``); each holds ``abi``,
``bytecode`` (creation code) and ``deployedBytecode`` as 0x-prefixed hex.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from eth_abi import encode
from eth_utils import keccak

OUT_DIR = Path(__file__).resolve().parent.parent / "contracts" / "out"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list
    bytecode: str
    deployed_bytecode: str

    def deploy_data(self, types: list[str] | None = None, args: list | None = None) -> str:
        """Creation code followed by the ABI-encoded constructor arguments, as 0x hex."""
        encoded = encode(types, args or []) if types else b""
        return self.bytecode + encoded.hex()


@cache
def load(name: str) -> Artifact:
    """The artifact ``contracts/out/<name>.json``."""
    data = json.loads((OUT_DIR / f"{name}.json").read_text())
    bytecode = data["bytecode"]
    deployed = data.get("deployedBytecode", "")
    if isinstance(bytecode, dict):  # forge's layout: {"object": "0x..."}
        bytecode = bytecode["object"]
    if isinstance(deployed, dict):
        deployed = deployed["object"]
    if not bytecode.startswith("0x"):
        bytecode = "0x" + bytecode
    if deployed and not deployed.startswith("0x"):
        deployed = "0x" + deployed
    return Artifact(name=name, abi=data["abi"], bytecode=bytecode, deployed_bytecode=deployed)


def selector(signature: str) -> str:
    """4-byte function/error selector of e.g. ``"setNumber(uint256)"`` as 0x hex."""
    return "0x" + keccak(text=signature)[:4].hex()


def event_topic(signature: str) -> str:
    """topic0 of an event signature such as ``"Incremented(address,uint256)"``."""
    return "0x" + keccak(text=signature).hex()


def calldata(signature: str, types: list[str] | None = None, args: list | None = None) -> str:
    """Selector plus ABI-encoded arguments, as 0x hex."""
    data = selector(signature)
    if types:
        data += encode(types, args or []).hex()
    return data
