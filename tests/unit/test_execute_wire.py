"""EXECUTE's wire format (``precompiles.execute_wire``): importable without py-evm, and its
encoders and decoders agree with each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from eth_abi import encode

from precompiles.execute_wire import (
    EXECUTE_ADDRESS,
    EXECUTE_INVALID_SELECTOR,
    ExecuteInput,
    ExecuteOutput,
    Reason,
    decode_execute_input,
    decode_invalid,
    decode_output,
    describe_reason,
    encode_execute_input,
    encode_invalid,
    encode_witness,
    execute_gas_cost,
    execute_input_length,
)

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_PY_EVM = """
import sys
sys.modules["eth"] = None  # any import of py-evm now fails
import precompiles.execute_wire as wire
import sequencer.messages, sequencer.sequencer  # the sequencer's users of the wire format
assert wire.execute_gas_cost(0) == 100_000
assert not any(name == "eth" or name.startswith("eth.") for name in sys.modules if sys.modules[name])
print("ok")
"""


def test_importable_without_py_evm_and_so_is_the_sequencer():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PY_EVM], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_address_gas_and_reasons():
    assert EXECUTE_ADDRESS == (0x0101).to_bytes(20, "big")
    assert execute_gas_cost(0) == 100_000
    assert execute_gas_cost(1) == execute_gas_cost(32) == 100_006
    assert [int(r) for r in Reason] == list(range(1, 13))
    assert Reason.POST_STATE_ROOT.description == describe_reason(10) == "post-state root"
    assert describe_reason(99) == "?"


def test_invalid_round_trip():
    data = encode_invalid(Reason.GAS_USED)
    assert data == EXECUTE_INVALID_SELECTOR + encode(["uint256"], [8])
    assert decode_invalid(data) is Reason.GAS_USED
    assert decode_invalid(data[:-1]) is None
    assert decode_invalid(EXECUTE_INVALID_SELECTOR + encode(["uint256"], [99])) is None


def test_output_round_trip():
    output = ExecuteOutput(b"\x01" * 32, 2, 3, 4, 5, b"\x06" * 32, 7, 8)
    assert ExecuteOutput.decode(output.encode()) == output
    assert decode_output(output.encode())["executeBaseFeePerGas"] == 8


def test_input_round_trip_and_length():
    witness = encode_witness([b"\xc0"], [b"\x60\x00"], [b"\x80"])
    inp = ExecuteInput(
        *(b"\x01" * 32, b"\x02" * 32, 3, b"\x04" * 32, b"\x05" * 32, 6, 7, 8, 9),
        *(b"\x0a" * 20, b"\x0b" * 32, b"\x0c" * 32, b"\xc1\x80", witness),
    )
    data = encode_execute_input(inp)
    assert decode_execute_input(data) == inp
    assert len(data) == execute_input_length(len(inp.transactions), len(witness))
