"""EIP-7939 CLZ (0x1e) and the word a Prague block gives for it.

Before Osaka 0x1e is undefined. A contract compiled for Osaka (solc 0.8.37's and Foundry
1.7.1's default) then fails with an invalid opcode, and the error says why: which fork has
the opcode and how to get it (``PRE_OSAKA_OPCODES``).
"""

from __future__ import annotations

from eth.abc import ComputationAPI
from eth.exceptions import InvalidInstruction
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import as_opcode

from node.fork.osaka.constants import CLZ_GAS, CLZ_OPCODE


def clz(computation: ComputationAPI) -> None:
    """Pop x, push the number of leading zero bits of x as a 256-bit word (256 for 0)."""
    value = computation.stack_pop1_int()
    computation.stack_push_int(256 - value.bit_length())


CLZ = as_opcode(logic_fn=clz, mnemonic="CLZ", gas_cost=CLZ_GAS)

OSAKA_NEW_OPCODES = {CLZ_OPCODE: CLZ}

NOT_YET_ACTIVE_HINT = (
    "Osaka is not active at this block; compile with evm_version=prague "
    "or start the node with --hardfork osaka"
)


class NotYetActiveOpcode(InvalidOpcode):
    """An opcode a later fork defines: invalid, as any undefined opcode, with a message
    naming the fork. The words start as py-evm's ("Invalid opcode 0x1e ...") so every
    reader of that message (traces, error texts) still finds the opcode number."""

    # No mnemonic of its own: traces name it as geth names an undefined opcode
    # ("opcode 0x1e not defined", ``node.tracing.wording.opcode_name``).
    mnemonic = ""

    def __init__(self, value: int, name: str) -> None:
        super().__init__(value)
        self.name = name

    def __call__(self, computation: ComputationAPI) -> None:
        raise InvalidInstruction(
            f"Invalid opcode 0x{self.value:x} ({self.name}) @ "
            f"{computation.code.program_counter - 1}: {NOT_YET_ACTIVE_HINT}"
        )


PRE_OSAKA_OPCODES = {CLZ_OPCODE: NotYetActiveOpcode(CLZ_OPCODE, "CLZ")}
