"""The committed contract artifacts (contracts/out/*.json) match contracts/src.

``scripts/compile-contracts.js --check`` recompiles the sources in memory with the pinned
solcjs and fails if any committed artifact differs; after editing a contract, run
``node scripts/compile-contracts.js`` and commit the refreshed artifacts.

Also checks ``scripts/solc``, the native-solc stand-in forge uses (foundry.toml).
Both need ``node`` and ``node_modules/solc`` (``npm ci``); without them the tests skip.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.procs import NODE_MODULES, ROOT, SOLC, require_tool

pytestmark = pytest.mark.requires_tools("node", "solcjs")


def test_committed_artifacts_match_sources():
    proc = subprocess.run(
        [require_tool("node"), "scripts/compile-contracts.js", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        "contracts/out is stale; run `node scripts/compile-contracts.js`\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    assert "artifacts match sources" in proc.stdout


def test_solc_wrapper_reports_a_native_version(tmp_path):
    solcjs_version = subprocess.run(
        [require_tool("node"), "-p", "require('solc').version()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.strip()
    commit = re.search(r"\+commit\.([0-9a-f]+)", solcjs_version).group(1)

    # from an unrelated cwd: the wrapper finds solcjs relative to its own location
    proc = subprocess.run(
        [str(SOLC), "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert lines[1] == f"Version: 0.8.37+commit.{commit}.Linux.g++"


def test_solc_wrapper_standard_json_resolves_imports(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Answer.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n"
        "library Answer { function get() internal pure returns (uint256) { return 42; } }\n"
    )
    standard_input = {
        "language": "Solidity",
        "sources": {
            "src/Main.sol": {
                "content": "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\n"
                'import "lib/Answer.sol";\n'
                'import "@openzeppelin/contracts/utils/math/Math.sol";\n'
                "contract Main { function f() external pure returns (uint256) "
                "{ return Math.max(Answer.get(), 1); } }\n"
            }
        },
        "settings": {
            "evmVersion": "prague",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    proc = subprocess.run(
        [
            str(SOLC),
            "--allow-paths",
            str(tmp_path),
            "--base-path",
            str(tmp_path),
            "--include-path",
            str(NODE_MODULES),
            "--standard-json",
        ],
        input=json.dumps(standard_input),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    output = json.loads(proc.stdout)  # stdout is the JSON and nothing else
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    assert "lib/Answer.sol" in output["sources"]
    assert "@openzeppelin/contracts/utils/math/Math.sol" in output["sources"]
    assert output["contracts"]["src/Main.sol"]["Main"]["evm"]["bytecode"]["object"]


def test_solc_wrapper_reports_missing_imports_in_json(tmp_path):
    standard_input = {
        "language": "Solidity",
        "sources": {"A.sol": {"content": 'pragma solidity ^0.8.0; import "nope/Missing.sol";'}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    proc = subprocess.run(
        [str(SOLC), "--base-path", str(tmp_path), "--standard-json"],
        input=json.dumps(standard_input),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr  # like native solc: errors go in the JSON
    errors = json.loads(proc.stdout)["errors"]
    assert any("nope/Missing.sol" in e["formattedMessage"] for e in errors)
