"""``scripts/bench_pairings.py`` runs end to end on small sizes and reports every curve
precompile, native and py_ecc, with the per-pair slopes."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.procs import ROOT


def test_the_pairing_benchmark_reports_every_operation():
    proc = subprocess.run(
        [
            sys.executable,
            "scripts/bench_pairings.py",
            "--pairs",
            "4",
            "--repeat",
            "1",
            "--json-only",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    operations = report["operations"]
    for name in ("bn254 ecadd", "bn254 ecmul", "bls12 g2msm, 1 pair", "bls12 map fp2 to g2"):
        assert operations[name]["native_ms"] > 0 and operations[name]["py_ecc_ms"] > 0
    assert {"bn254 pairing, 4 pairs", "bls12 pairing, 4 pairs"} <= set(operations)
    assert {"bn254 pairing, per pair (slope)", "bls12 pairing, per pair (slope)"} <= set(operations)
