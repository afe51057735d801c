"""The devnet's Prague MODEXP against the execution specs' Prague MODEXP (EELS).

py-evm's MODEXP answers 0 for an empty base with exponent 0 where EELS and geth answer 1
(0 ** 0 = 1): a consensus difference in the devnet's Prague blocks and inside EXECUTE for
Prague L2 blocks. ``node.fork.precompiles.modexp_prague`` fixes it; here the devnet's Prague
chain (a call to 0x05) and EELS's ``prague`` MODEXP answer alike on crafted and random inputs.
"""

from __future__ import annotations

import random
from dataclasses import replace
from types import SimpleNamespace

import pytest

pytest.importorskip("ethereum.forks.prague", reason="ethereum-execution (the [dev] extra)")

from ethereum.forks.prague.vm.precompiled_contracts.modexp import (  # noqa: E402
    modexp as eels_modexp,
)
from ethereum_types.bytes import Bytes  # noqa: E402
from ethereum_types.numeric import Uint  # noqa: E402

from node.chain import Chain  # noqa: E402
from node.fork.precompiles import MODEXP_ADDRESS  # noqa: E402
from node.fork.schedule import ForkSchedule  # noqa: E402
from node.simulation import CallRequest  # noqa: E402


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
