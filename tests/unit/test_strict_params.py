"""Strict parsing of JSON-RPC parameters (``rpc.params``): hex is ``0x`` and hex digits only,
quantities are bounded by their field's width, addresses and hashes have their exact length,
data has an even number of digits; each refusal is ``InvalidParams`` (-32602) in geth's
words.

Regression tests for the hardening issue: ``int(digits, 16)`` accepted ``0x-1``, ``0x+1``,
``0x 1`` and ``0x1_0``; nothing bounded a quantity (2**300 reached py-evm and came back as an
internal error); a 40-digit address without ``0x`` was cut to 19 bytes; ``bytes.fromhex``
accepted spaces inside data and odd-length data was padded.
"""

from __future__ import annotations

import pytest

from rpc import params as parse
from rpc.errors import INVALID_PARAMS, InvalidParams

ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def refused(parse, value, *args) -> str:
    with pytest.raises(InvalidParams) as caught:
        parse(value, "field", *args)
    assert caught.value.code == INVALID_PARAMS
    return str(caught.value.message)


@pytest.mark.parametrize(
    "value,message",
    [
        ("0x-1", "invalid hex string"),
        ("0x+1", "invalid hex string"),
        ("0x 1", "invalid hex string"),
        ("0x1 ", "invalid hex string"),
        ("0x1_0", "invalid hex string"),
        ("0xg", "invalid hex string"),
        ("0x", "empty hex string"),
        ("1", "hex string without 0x prefix"),
        (" 0x1", "hex string without 0x prefix"),
        ("-0x1", "hex string without 0x prefix"),
    ],
)
def test_quantity_is_0x_and_hex_digits_only(value, message):
    assert refused(parse.quantity, value) == f"field: {message}"


def test_quantity_accepts_leading_zeros_and_upper_case_as_anvil_does():
    assert parse.quantity("0x01") == 1
    assert parse.quantity("0X0a") == 10
    assert parse.quantity("0x" + "0" * 100 + "ff") == 255
    assert parse.quantity(7) == 7


@pytest.mark.parametrize(
    "parse,largest,bits",
    [
        (parse.quantity, 2**256 - 1, 256),
        (parse.uint64, 2**64 - 1, 64),
    ],
)
def test_quantities_are_bounded_by_their_width(parse, largest, bits):
    assert parse(hex(largest), "field") == largest
    assert parse(largest, "field") == largest
    assert refused(parse, hex(largest + 1)) == f"field: hex number > {bits} bits"
    assert refused(parse, largest + 1) == f"field: number > {bits} bits"
    assert refused(parse, hex(2**300)) == f"field: hex number > {bits} bits"


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"gas": hex(2**64)}, "transaction.gas: hex number > 64 bits"),
        ({"nonce": hex(2**64)}, "transaction.nonce: hex number > 64 bits"),
        ({"value": hex(2**300)}, "transaction.value: hex number > 256 bits"),
        ({"gasPrice": hex(2**256)}, "transaction.gasPrice: hex number > 256 bits"),
        ({"maxFeePerGas": hex(2**256)}, "transaction.maxFeePerGas: hex number > 256 bits"),
        ({"value": "0x-1"}, "transaction.value: invalid hex string"),
        ({"to": ADDRESS[2:]}, "transaction.to: hex string without 0x prefix"),
        ({"input": "0x123"}, "transaction.input: hex string of odd length"),
        ({"data": "0x12 34"}, "transaction.input: invalid hex string"),
    ],
)
def test_call_object_fields(fields, message):
    with pytest.raises(InvalidParams) as caught:
        parse.call_object({"to": ADDRESS, **fields})
    assert caught.value.message == message


def test_call_object_takes_the_widest_values():
    parsed = parse.call_object(
        {"to": ADDRESS, "gas": hex(2**64 - 1), "value": hex(2**256 - 1), "nonce": "0x00"}
    )
    assert (parsed["gas"], parsed["value"], parsed["nonce"]) == (2**64 - 1, 2**256 - 1, 0)


def test_block_numbers_are_uint64():
    assert parse.block_id(hex(2**64 - 1)) == 2**64 - 1
    assert refused(parse.block_id, hex(2**64)) == "field: hex number > 64 bits"
    assert refused(parse.block_id, "0x-1") == "field: invalid hex string"
    assert parse.block_id("latest") == "latest"
    assert parse.block_id("0x" + "ab" * 32) == bytes.fromhex("ab" * 32)


@pytest.mark.parametrize(
    "value,message",
    [
        (ADDRESS[2:], "hex string without 0x prefix"),
        (ADDRESS[:-2], "hex string has length 38, want 40 for common.Address"),
        (ADDRESS + "00", "hex string has length 42, want 40 for common.Address"),
        ("0x" + "zz" * 20, "invalid hex string"),
        ("0x" + " 1" * 20, "invalid hex string"),
        (123, "expected a 0x-prefixed hex string, got 123"),
    ],
)
def test_address_is_exactly_0x_and_40_hex_digits(value, message):
    assert refused(parse.address, value) == f"field: {message}"


def test_address_case_is_not_a_checksum():
    """Neither geth nor anvil checks EIP-55 checksums (anvil answers a bad one)."""
    bad_checksum = "0xF39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert parse.address(bad_checksum) == bytes.fromhex(ADDRESS[2:])
    assert parse.address(ADDRESS.upper().replace("0X", "0x")) == bytes.fromhex(ADDRESS[2:])


def test_hash_and_data():
    assert refused(parse.hash32, "0x" + "00" * 31) == (
        "field: hex string has length 62, want 64 for common.Hash"
    )
    assert refused(parse.hash32, "0x" + "0" * 63) == (
        "field: hex string has length 63, want 64 for common.Hash"
    )
    assert refused(parse.data, "0x0") == "field: hex string of odd length"
    assert refused(parse.data, "0xab cd") == "field: invalid hex string"
    assert refused(parse.data, "abcd") == "field: hex string without 0x prefix"
    assert parse.data("0x") == b""
    assert parse.data("0XABcd") == b"\xab\xcd"


def test_storage_slots():
    assert parse.storage_slot("0x0") == 0
    assert parse.storage_slot("0x" + "0" * 63 + "1") == 1
    assert refused(parse.storage_slot, "0x1" + "0" * 64) == (
        "field: hex string too long, want at most 32 bytes"
    )
    assert refused(parse.storage_slot, "0x-1") == "field: invalid hex string"


def test_error_quotes_a_bad_value_briefly():
    message = refused(parse.address, ["x" * 10_000])
    assert len(message) < 100


def test_authorization_and_overrides_widths():
    auth = {"chainId": "0x1", "address": ADDRESS, "nonce": hex(2**64), "yParity": "0x0"}
    auth.update(r="0x1", s="0x1")
    with pytest.raises(InvalidParams, match=r"nonce: hex number > 64 bits"):
        parse.authorization_list([auth])
    with pytest.raises(InvalidParams, match=r"yParity: hex number > 8 bits"):
        parse.authorization_list([{**auth, "nonce": "0x0", "yParity": "0x100"}])
    with pytest.raises(InvalidParams, match=r"balance: hex number > 256 bits"):
        parse.state_overrides({ADDRESS: {"balance": hex(2**256)}})
    with pytest.raises(InvalidParams, match=r"nonce: hex number > 64 bits"):
        parse.state_overrides({ADDRESS: {"nonce": hex(2**64)}})
    with pytest.raises(InvalidParams, match=r"time: hex number > 64 bits"):
        parse.block_override({"time": hex(2**64)})
