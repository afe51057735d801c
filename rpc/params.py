"""JSON-RPC parameters as Python values: hex on the wire, ints and bytes inside.

Inputs are accepted as geth and anvil both accept them (checksummed or lower-case
addresses, ``"0x0"`` storage slots, ``input`` or ``data``, ``"to": null``) and nothing
looser: hex is ``0x`` and hex digits only, quantities are bounded by their field's width
(uint64 for block numbers, nonces and gas, uint256 for values and fees), addresses and
hashes have their exact length, data has an even number of digits. Every refusal is an
``InvalidParams`` (-32602) in geth's words, so no input reaches py-evm out of range.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from eth.constants import CREATE_CONTRACT_ADDRESS

from node.logs import LogFilter
from node.simulation import AccountOverride, BlockOverride, CallRequest
from rpc.errors import InvalidParams

REQUIRED = object()
BLOCK_TAGS = ("latest", "pending", "safe", "finalized", "earliest")


UINT8_BITS, UINT64_BITS, UINT256_BITS = 8, 64, 256
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_SHOWN = 42  # characters of a bad value quoted back in an error


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def hex_str(value: Any, what: str) -> str:
    """The hex digits of a ``0x``-prefixed string (geth's wording for what is wrong)."""
    if not isinstance(value, str):
        raise InvalidParams(f"{what}: expected a 0x-prefixed hex string, got {_shown(value)}")
    if not value.startswith(("0x", "0X")):
        raise InvalidParams(f"{what}: hex string without 0x prefix")
    digits = value[2:]
    if not _HEX_DIGITS.fullmatch(digits):  # no sign, space or underscore, as int() allows
        raise InvalidParams(f"{what}: invalid hex string")
    return digits


def quantity(value: Any, what: str = "quantity", bits: int = UINT256_BITS) -> int:
    """A hex quantity of at most ``bits`` bits. Leading zeros are accepted (anvil does;
    geth refuses them) and so are JSON integers (anvil again)."""
    if isinstance(value, bool):
        raise InvalidParams(f"{what}: expected a hex quantity, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidParams(f"{what}: negative value {value}")
        if value.bit_length() > bits:
            raise InvalidParams(f"{what}: number > {bits} bits")
        return value
    digits = hex_str(value, what)
    if not digits:
        raise InvalidParams(f"{what}: empty hex string")
    if len(digits.lstrip("0")) * 4 > bits:
        raise InvalidParams(f"{what}: hex number > {bits} bits")
    return int(digits, 16)


def uint64(value: Any, what: str = "quantity") -> int:
    """Block numbers, nonces, gas, timestamps, indexes."""
    return quantity(value, what, UINT64_BITS)


def data(value: Any, what: str = "data") -> bytes:
    digits = hex_str(value, what)
    if len(digits) % 2:
        raise InvalidParams(f"{what}: hex string of odd length")
    return bytes.fromhex(digits)


def _fixed(value: Any, what: str, size: int, type_name: str) -> bytes:
    digits = hex_str(value, what)
    if len(digits) != 2 * size:
        raise InvalidParams(
            f"{what}: hex string has length {len(digits)}, want {2 * size} for {type_name}"
        )
    return bytes.fromhex(digits)


def address(value: Any, what: str = "address") -> bytes:
    """Exactly ``0x`` and 40 hex digits; the case (an EIP-55 checksum) is not checked, as
    neither geth nor anvil checks it."""
    return _fixed(value, what, 20, "common.Address")


def hash32(value: Any, what: str = "hash") -> bytes:
    return _fixed(value, what, 32, "common.Hash")


def storage_slot(value: Any, what: str = "slot") -> int:
    """A storage slot: any hex quantity of at most 32 bytes (``0x0`` included)."""
    if isinstance(value, str) and len(hex_str(value, what)) > 64:
        raise InvalidParams(f"{what}: hex string too long, want at most 32 bytes")
    return quantity(value, what)


def boolean(value: Any, what: str = "flag") -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"{what}: expected true or false, got {value!r}")
    return value


def block_id(value: Any, what: str = "block") -> str | int | bytes:
    """A tag, a number, or a block hash (also as ``{"blockHash": ...}``)."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    if isinstance(value, dict):
        for key in value:  # EIP-1898
            if key not in ("blockHash", "blockNumber", "requireCanonical"):
                raise InvalidParams(f"{what}: unknown field {str(key)[:64]!r}")
        if "requireCanonical" in value:
            boolean(value["requireCanonical"], f"{what}.requireCanonical")
        if "blockHash" in value:
            return hash32(value["blockHash"], f"{what}.blockHash")
        if "blockNumber" in value:
            return block_id(value["blockNumber"], what)
        raise InvalidParams(f"{what}: expected blockHash or blockNumber")
    if isinstance(value, str) and len(value) == 66:
        return hash32(value, what)
    if not isinstance(value, str):
        raise InvalidParams(
            f"{what}: expected a block tag, hex number or hash, got {_shown(value)}"
        )
    return uint64(value, what)


def parse_params(params: Any, spec: Sequence[tuple[Callable[[Any, str], Any], Any, str]]) -> list:
    """Positional parameters checked against ``(parser, default, name)`` triples."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidParams("params must be an array")
    if len(params) > len(spec):
        raise InvalidParams(f"too many arguments, want at most {len(spec)}")
    parsed = []
    for index, (parser, default, name) in enumerate(spec):
        if index < len(params) and params[index] is not None:
            parsed.append(parser(params[index], name))
        elif default is REQUIRED:
            raise InvalidParams(f"missing value for required argument {index} ({name})")
        else:
            parsed.append(default)
    return parsed


def access_list(value: Any, what: str = "accessList") -> tuple:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list")
    entries = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidParams(f"{what}[{i}]: expected an object")
        keys = tuple(
            storage_slot(k, f"{what}[{i}].storageKeys") for k in item.get("storageKeys") or []
        )
        entries.append((address(item.get("address"), f"{what}[{i}].address"), keys))
    return tuple(entries)


def authorization_list(value: Any, what: str = "authorizationList") -> tuple:
    from eth.vm.forks.prague.transactions import Authorization

    if not isinstance(value, list):
        raise InvalidParams(f"{what}: expected a list")
    auths = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidParams(f"{what}[{i}]: expected an object")
        y_parity = item.get("yParity", item.get("v"))
        auths.append(
            Authorization(
                chain_id=quantity(item.get("chainId"), f"{what}[{i}].chainId"),
                address=address(item.get("address"), f"{what}[{i}].address"),
                nonce=uint64(item.get("nonce"), f"{what}[{i}].nonce"),
                y_parity=quantity(y_parity, f"{what}[{i}].yParity", UINT8_BITS),
                r=quantity(item.get("r"), f"{what}[{i}].r"),
                s=quantity(item.get("s"), f"{what}[{i}].s"),
            )
        )
    return tuple(auths)


def call_object(value: Any, what: str = "transaction") -> dict[str, Any]:
    """A call/transaction object as a dict of Python values (absent fields left out)."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    out: dict[str, Any] = {}
    if value.get("from") is not None:
        out["sender"] = address(value["from"], f"{what}.from")
    out["to"] = (
        address(value["to"], f"{what}.to")
        if value.get("to") is not None
        else CREATE_CONTRACT_ADDRESS
    )
    payload = value.get("input") if value.get("input") is not None else value.get("data")
    if value.get("input") is not None and value.get("data") is not None:
        if data(value["input"], f"{what}.input") != data(value["data"], f"{what}.data"):
            raise InvalidParams(
                f'{what}: both "data" and "input" are set and not equal. '
                'Please use "input" to pass transaction call data'
            )
    if payload is not None:
        out["data"] = data(payload, f"{what}.input")
    for key, name, bits in (
        ("gas", "gas", UINT64_BITS),
        ("gasPrice", "gas_price", UINT256_BITS),
        ("maxFeePerGas", "max_fee_per_gas", UINT256_BITS),
        ("maxPriorityFeePerGas", "max_priority_fee_per_gas", UINT256_BITS),
        ("value", "value", UINT256_BITS),
        ("nonce", "nonce", UINT64_BITS),
    ):
        if value.get(key) is not None:
            out[name] = quantity(value[key], f"{what}.{key}", bits)
    if value.get("accessList") is not None:
        out["access_list"] = access_list(value["accessList"], f"{what}.accessList")
    if value.get("authorizationList") is not None:
        out["authorization_list"] = authorization_list(
            value["authorizationList"], f"{what}.authorizationList"
        )
    return out


def state_overrides(value: Any, what: str = "stateOverrides") -> tuple:
    """geth's state override set: ``{address: {balance, nonce, code, state, stateDiff}}``."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object keyed by address")
    out = []
    for raw_address, fields in value.items():
        where = f"{what}[{raw_address}]"
        if not isinstance(fields, dict):
            raise InvalidParams(f"{where}: expected an object")
        if fields.get("state") is not None and fields.get("stateDiff") is not None:
            raise InvalidParams(f"{where}: has both 'state' and 'stateDiff'")

        out.append(
            (
                address(raw_address, where),
                AccountOverride(
                    balance=quantity(fields["balance"], f"{where}.balance")
                    if fields.get("balance") is not None
                    else None,
                    nonce=uint64(fields["nonce"], f"{where}.nonce")
                    if fields.get("nonce") is not None
                    else None,
                    code=data(fields["code"], f"{where}.code")
                    if fields.get("code") is not None
                    else None,
                    state=_slot_values(fields.get("state"), f"{where}.state"),
                    state_diff=_slot_values(fields.get("stateDiff"), f"{where}.stateDiff"),
                ),
            )
        )
    return tuple(out)


def _slot_values(raw: Any, what: str) -> tuple[tuple[int, int], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParams(f"{what}: expected an object of slot: value")
    return tuple(
        (storage_slot(k, what), int.from_bytes(hash32(v, what), "big")) for k, v in raw.items()
    )


BLOCK_OVERRIDE_KEYS = frozenset(
    ("number", "time", "gasLimit", "feeRecipient", "coinbase", "baseFee", "baseFeePerGas")
    + ("prevRandao", "random")
)
# geth's block override fields this node refuses rather than ignores, and why.
REFUSED_BLOCK_OVERRIDES = {
    "difficulty": "there is no difficulty since the merge; override prevRandao",
    "blobBaseFee": "blob transactions are not supported by this node",
    "beaconRoot": "overriding the beacon root is not supported (geth refuses it in eth_call too)",
    "withdrawals": "overriding withdrawals is not supported (geth refuses it in eth_call too)",
}


def block_override(value: Any, what: str = "blockOverrides") -> BlockOverride:
    """geth's block override: ``{number, time, gasLimit, feeRecipient|coinbase, baseFee,
    prevRandao|random}``; any other field is refused by name, never ignored."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    for key in value:
        if key in BLOCK_OVERRIDE_KEYS:
            continue
        if isinstance(key, str) and key in REFUSED_BLOCK_OVERRIDES:
            raise InvalidParams(f"{what}.{key}: {REFUSED_BLOCK_OVERRIDES[key]}")
        raise InvalidParams(f"{what}: unknown field {str(key)[:64]!r}")

    def get(key: str, parser):
        return parser(value[key], f"{what}.{key}") if value.get(key) is not None else None

    return BlockOverride(
        number=get("number", uint64),
        timestamp=get("time", uint64),
        gas_limit=get("gasLimit", uint64),
        coinbase=get("feeRecipient", address) or get("coinbase", address),
        base_fee_per_gas=get("baseFee", quantity)
        if value.get("baseFee") is not None
        else get("baseFeePerGas", quantity),
        prev_randao=get("prevRandao", hash32) or get("random", hash32),
    )


def call_request(fields: dict[str, Any]) -> CallRequest:
    """A ``CallRequest`` from ``call_object`` output (legacy gasPrice becomes both fee caps)."""
    kwargs = {k: v for k, v in fields.items() if k != "gas_price"}
    if "gas_price" in fields and "max_fee_per_gas" not in fields:
        kwargs["max_fee_per_gas"] = fields["gas_price"]
        kwargs.setdefault("max_priority_fee_per_gas", fields["gas_price"])
    return CallRequest(**kwargs)


# Addresses or topics per position in one log query (geth's --rpc.logquerylimit, its wording).
MAX_LOG_ALTERNATIVES = 1_000


def log_filter(value: Any, what: str = "filter") -> LogFilter:
    """``eth_getLogs`` criteria: ``blockHash`` or ``fromBlock``/``toBlock``, ``address`` (one or
    a list) and ``topics`` (at most four positions, each null, one topic or a list)."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{what}: expected an object")
    block_hash = None
    if value.get("blockHash") is not None:
        if value.get("fromBlock") is not None or value.get("toBlock") is not None:
            raise InvalidParams(f"{what}: cannot specify both blockHash and fromBlock/toBlock")
        block_hash = hash32(value["blockHash"], f"{what}.blockHash")
    from_block = block_id(value.get("fromBlock") or "latest", f"{what}.fromBlock")
    to_block = block_id(value.get("toBlock") or "latest", f"{what}.toBlock")
    raw_address = value.get("address")
    addresses: frozenset[bytes] | None
    if raw_address is None:
        addresses = None
    elif isinstance(raw_address, list):
        _check_alternatives(raw_address)
        addresses = frozenset(address(a, f"{what}.address") for a in raw_address) or None
    else:
        addresses = frozenset({address(raw_address, f"{what}.address")})
    topics = value.get("topics") or []
    if not isinstance(topics, list) or len(topics) > 4:
        raise InvalidParams(f"{what}.topics: expected a list of at most 4 positions")
    parsed_topics: list[frozenset[bytes] | None] = []
    for i, position in enumerate(topics):
        if position is None:
            parsed_topics.append(None)
        elif isinstance(position, list):
            _check_alternatives(position)
            parsed_topics.append(
                frozenset(hash32(t, f"{what}.topics[{i}]") for t in position) or None
            )
        else:
            parsed_topics.append(frozenset({hash32(position, f"{what}.topics[{i}]")}))
    return LogFilter(from_block, to_block, block_hash, addresses, tuple(parsed_topics))


def _check_alternatives(options: list) -> None:
    if len(options) > MAX_LOG_ALTERNATIVES:
        raise InvalidParams(
            f"exceed max addresses or topics per search position ({MAX_LOG_ALTERNATIVES})"
        )
