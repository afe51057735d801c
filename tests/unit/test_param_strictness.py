"""Fields the node does not know are refused by name, never ignored: block overrides (geth's
eth_call fields, with the ones geth refuses in eth_call refused here too) and EIP-1898 block
objects (``requireCanonical`` must be a boolean)."""

from __future__ import annotations

import pytest

from rpc import params
from rpc.errors import InvalidParams


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("beaconRoot", "0x" + "00" * 32, "beacon root is not supported"),
        ("withdrawals", [], "withdrawals is not supported"),
        ("difficulty", "0x1", "no difficulty since the merge"),
        ("blobBaseFee", "0x1", "blob transactions"),
        ("gasPrice", "0x1", "unknown field 'gasPrice'"),
    ],
)
def test_unknown_or_unsupported_block_overrides_are_refused(field, value, says):
    with pytest.raises(InvalidParams, match=says):
        params.block_override({"number": "0x5", field: value})


def test_block_override_fields_and_aliases():
    override = params.block_override(
        {"time": "0x10", "coinbase": "0x" + "11" * 20, "random": "0x" + "22" * 32}
    )
    assert override.timestamp == 16
    assert override.coinbase == b"\x11" * 20
    assert override.prev_randao == b"\x22" * 32


def test_eip1898_block_objects_are_strict():
    block_hash = "0x" + "ab" * 32
    assert params.block_id({"blockHash": block_hash, "requireCanonical": True}) == bytes.fromhex(
        "ab" * 32
    )
    with pytest.raises(InvalidParams, match="requireCanonical: expected true or false"):
        params.block_id({"blockHash": block_hash, "requireCanonical": "yes"})
    with pytest.raises(InvalidParams, match="unknown field 'blockTag'"):
        params.block_id({"blockTag": "latest"})
