"""The devnet's Prague MODEXP against the execution specs' Prague MODEXP (EELS).

py-evm's MODEXP answers 0 for an empty base with exponent 0 where EELS and geth answer 1
(0 ** 0 = 1): a consensus difference in the devnet's Prague blocks and inside EXECUTE for
Prague L2 blocks. ``node.fork.precompiles.modexp_prague`` fixes it; here the devnet's Prague
chain (a call to 0x05) and EELS's ``prague`` MODEXP answer alike on crafted and random inputs,
and a Prague L2 block using it is valid for EELS's Prague ``state_transition`` and EXECUTE.
"""

from __future__ import annotations

import random
from dataclasses import replace
from types import SimpleNamespace

import pytest
import rlp
from ethereum.forks.prague.vm.precompiled_contracts.modexp import (
    modexp as eels_modexp,
)
from ethereum_types.bytes import Bytes
from ethereum_types.numeric import Uint

from devtools.execute_inputs import input_from_chain
from devtools.l2_blocks import dev_keys, l2_genesis
from devtools.osaka_blocks import (
    MODEXP_CONTRACT,
    START,
    RandomTxs,
    eels_chain,
    eels_import,
    genesis_alloc,
    osaka_genesis,
)
from node.chain import Chain
from node.fork import DevnetPragueVM
from node.fork.precompiles import MODEXP_ADDRESS
from node.fork.schedule import ForkSchedule
from node.simulation import CallRequest
from precompiles.execute import verify


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def eels(data: bytes) -> bytes:
    """EELS's Prague MODEXP output (its precompile reads the message data, charges gas,
    sets the output)."""
    evm = SimpleNamespace(message=SimpleNamespace(data=Bytes(data)), gas_left=Uint(10**9))
    eels_modexp(evm)
    return bytes(evm.output)


@pytest.fixture(scope="module")
def prague(genesis) -> Chain:
    chain = Chain(replace(genesis, fork_schedule=ForkSchedule.pinned("prague")))
    assert chain.vm_factory.vm(chain.head).fork == "prague"
    return chain


def node(chain: Chain, data: bytes) -> bytes:
    result = chain.call(CallRequest(to=MODEXP_ADDRESS, data=data, gas=10**7), chain.head)
    assert result.error is None, result.error
    return result.output


def test_empty_base_with_exponent_zero_is_one(prague):
    for modulus in (b"\x05", b"\x00\x07", b"\x01\x00"):
        data = word(0) + word(1) + word(len(modulus)) + b"\x00" + modulus
        one = (1).to_bytes(len(modulus), "big")
        assert eels(data) == one
        assert node(prague, data) == one, modulus
    # No exponent bytes at all: also 0 ** 0.
    data = word(0) + word(0) + word(1) + b"\x05"
    assert node(prague, data) == eels(data) == b"\x01"


def test_prague_modexp_agrees_with_eels_on_random_inputs(prague):
    rng = random.Random(7)
    for _ in range(200):
        lengths = [rng.choice((0, 0, 1, 2, 32, 33)) for _ in range(3)]
        body = bytes(rng.choice((0, 0, 1, 255)) for _ in range(sum(lengths)))
        data = b"".join(map(word, lengths)) + body[: rng.randint(0, len(body))]
        assert node(prague, data) == eels(data), data.hex()


def test_a_prague_l2_block_using_it_agrees_with_eels_and_execute():
    # A Prague L2 block whose one transaction records MODEXP(0, 0, 7): EELS's Prague
    # state_transition imports it (the state roots agree) and EXECUTE's re-execution under
    # Prague's rules finds it valid.
    genesis = osaka_genesis(l2_genesis(), fork="prague")
    chain = Chain(genesis)
    data = word(0) + word(0) + word(1) + b"\x07"
    tx = RandomTxs(chain, dev_keys()[:1], random.Random(0)).sign(0, MODEXP_CONTRACT, data, 100_000)
    built = chain.build_block([tx], timestamp=START + 12)
    block = chain.block_by_header(built.block.header)
    assert [r.status for r in built.receipts] == [1]
    # The one output byte (1) over the first byte of the copied calldata (0).
    assert chain.storage(MODEXP_CONTRACT, len(data), block.header) == 1 << 248
    eels_l2 = eels_chain(
        rlp.encode(chain.header_by_number(0)), genesis_alloc(genesis), chain.chain_id, "prague"
    )
    assert eels_import(eels_l2, rlp.encode(block), "prague") is None
    assert verify(input_from_chain(chain, block), DevnetPragueVM).valid
