#!/usr/bin/env python3
"""Worst cases for each EXECUTE verifier (NR-EXECUTE v1.2): per-block time of py-evm and
EELS on L2 blocks built to be slow, one transaction filling the L2 block's 5,000,000 gas.

- ``jump_loop``: ``JUMPDEST PUSH1 0 JUMP`` until out of gas (12 gas an iteration): the
  interpreters' cost per instruction.
- ``snapshots``: load 1,000 absent accounts (cold BALANCE), then call itself until out of
  gas: EELS copies its state maps (every account read so far) on every message call.
- ``cold_accounts``: cold BALANCE of distinct absent accounts until out of gas: witness
  reads per gas (the witness grows with every proof of absence).

Usage: ``.venv/bin/python scripts/bench_verifiers_worst.py [--repeat 3]``; one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth.constants import CREATE_CONTRACT_ADDRESS  # noqa: E402

from devtools.eels_vectors import initcode  # noqa: E402
from devtools.l2_blocks import L2_VM, L2Builder, contract_address  # noqa: E402
from precompiles.verifiers.eels import EelsVerifier  # noqa: E402
from precompiles.verifiers.pyevm import PyEvmVerifier  # noqa: E402

TX_GAS = 4_990_000  # the L2 genesis gas limit is 5,000,000
ACCOUNTS = 1000

JUMP_LOOP = bytes.fromhex("5b600056")
# calldata -> STOP; else BALANCE(1..K), then CALL(self, 1 byte) until out of gas
SNAPSHOTS = bytes.fromhex(
    "36602357"  # if calldatasize: jump to the STOP at 0x23
    "5f5b80315060010180" + "61" + ACCOUNTS.to_bytes(2, "big").hex() + "1160055750"
    "5b5f5f60015f5f305af150601556"
    "5b00"
)
COLD_ACCOUNTS = bytes.fromhex("5f5b8031506001016001" + "56")  # BALANCE(i), i += 1, forever


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    assert SNAPSHOTS[0x23] == 0x5B and SNAPSHOTS[0x15] == 0x5B and SNAPSHOTS[5] == 0x5B
    b = L2Builder()
    codes = {"jump_loop": JUMP_LOOP, "snapshots": SNAPSHOTS, "cold_accounts": COLD_ACCOUNTS}
    n0 = b.next_nonce(0)
    b.nonces[b.address(0)] = n0
    addresses = {name: contract_address(b.address(0), n0 + i) for i, name in enumerate(codes)}
    b.build(
        [
            b.tx(0, to=CREATE_CONTRACT_ADDRESS, data=initcode(code), gas=200_000)
            for code in codes.values()
        ]
    )
    out = {}
    verifiers = [PyEvmVerifier(), EelsVerifier()]
    for name, address in addresses.items():
        built = b.build([b.tx(1, to=address, gas=TX_GAS)], expect_all=False)
        assert not built.skipped, [str(s.error) for s in built.skipped]
        inp = b.input_for(built.block)
        row = {
            "gas_used": built.block.header.gas_used,
            "witness_bytes": len(inp.witness),
        }
        for verifier in verifiers:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                verdict = verifier.verify(inp, L2_VM)
                times.append(time.perf_counter() - started)
                assert verdict.valid and verdict.block_hash == built.block.hash, verdict.detail
            row[f"{verifier.name}_s"] = round(statistics.median(times), 3)
        row["eels_over_pyevm"] = round(row["eels_s"] / row["pyevm_s"], 2)
        out[name] = row
        print(name, row, file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
