"""geth's words for things: opcode names, the error text of a failed frame or step, and
the revert reason its tracers show."""

from __future__ import annotations

from typing import Any

from eth.exceptions import (
    ContractCreationCollision,
    FullStack,
    InsufficientFunds,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfBoundsRead,
    OutOfGas,
    ReservedBytesInCode,
    Revert,
    StackDepthLimit,
    WriteProtection,
)

from node.revert import PANIC_REASONS, unpack_revert

# Opcodes by number as geth names them (py-evm says SHA3 and leaves 0xfe/0xff unnamed).
RENAMED_OPCODES = {0x20: "KECCAK256", 0xFE: "INVALID", 0xFF: "SELFDESTRUCT"}


def opcode_name(opcode: int, fn: Any = None) -> str:
    """geth's name for ``opcode``, whose py-evm function (if the fork defines one) is ``fn``."""
    if opcode in RENAMED_OPCODES:
        return RENAMED_OPCODES[opcode]
    mnemonic = getattr(fn, "mnemonic", None)
    return mnemonic if mnemonic else f"opcode {opcode:#x} not defined"


def geth_error(error: BaseException) -> str:
    """The error text geth's tracers give for a failed frame or step."""
    if isinstance(error, Revert):
        return "execution reverted"
    if isinstance(error, OutOfGas):
        text = str(error)
        if "EIP170" in text:
            return "max code size exceeded"
        if "EIP-3860" in text:
            return "max initcode size exceeded"
        if "Write contract code" in text:
            return "contract creation code storage out of gas"
        return "out of gas"
    if isinstance(error, InvalidInstruction):
        words = str(error).split()
        try:
            return f"invalid opcode: {opcode_name(int(words[2], 16))}"
        except (IndexError, ValueError):
            return "invalid opcode"
    for kind, text in (
        (InvalidJumpDestination, "invalid jump destination"),
        (InsufficientStack, "stack underflow"),
        (FullStack, "stack overflow"),
        (WriteProtection, "write protection"),
        (OutOfBoundsRead, "return data out of bounds"),
        (InsufficientFunds, "insufficient balance for transfer"),
        (StackDepthLimit, "max call depth exceeded"),
        (ContractCreationCollision, "contract address collision"),
        (ReservedBytesInCode, "invalid code: must not begin with 0xef"),
    ):
        if isinstance(error, kind):
            return text
    return str(error) or type(error).__name__


def geth_revert_reason(output: bytes) -> str | None:
    """geth's ``abi.UnpackRevert``: the Error(string) text or the Panic(uint256) reason."""
    reason = unpack_revert(output)
    if isinstance(reason, int):
        return PANIC_REASONS.get(reason, f"unknown panic code: {reason:#x}")
    return reason
