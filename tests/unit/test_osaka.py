"""Osaka on the devnet: CLZ, P256VERIFY, MODEXP bounds and prices, the transaction gas cap,
the block size cap and the blob base fee rule, on chains pinned to a fork and on a chain
that forks from Prague to Osaka at a timestamp."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from eth.vm.forks.prague.blocks import PragueBlockHeader

from node.chain import Chain
from node.errors import ExecutionHalted, InvalidTransaction
from node.fork.osaka.constants import MAX_TX_GAS, P256VERIFY_GAS
from node.fork.osaka.precompiles import (
    P256_N,
    P256_P,
    modexp_gas_osaka,
    p256_on_curve,
    p256_verify,
)
from node.fork.osaka.rules import calc_excess_blob_gas_osaka
from node.fork.schedule import ForkSchedule
from node.genesis import GenesisAccount
from node.simulation import CallRequest
from tests.unit.conftest import with_alloc

CLZ_CONTRACT = bytes(19) + b"\xc1"
# PUSH1 0 CALLDATALOAD CLZ PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
CLZ_CODE = bytes.fromhex("6000351e60005260206000f3")
# STATICCALL-free proxy: forward calldata to 0x0100 / 0x05 and return what came back.
P256_PROXY = bytes(19) + b"\xc2"
MODEXP_PROXY = bytes(19) + b"\xc3"


def forwarder(target: int) -> bytes:
    """CALLDATACOPY all, STATICCALL(gas, target, 0, size, 0, 0), RETURNDATACOPY, RETURN;
    reverts with empty data when the call failed."""
    return bytes(
        [
            0x36,
            0x60,
            0x00,
            0x60,
            0x00,
            0x37,  # calldatacopy(0, 0, calldatasize)
            0x60,
            0x00,
            0x60,
            0x00,
            0x36,
            0x60,
            0x00,  # out 0 0, in size, in 0
            0x61,
            target >> 8,
            target & 0xFF,  # target
            0x5A,
            0xFA,  # gas staticcall
            0x15,
            0x60,
            0x1F,
            0x57,  # iszero -> jump to revert
            0x3D,
            0x60,
            0x00,
            0x60,
            0x00,
            0x3E,  # returndatacopy(0, 0, size)
            0x3D,
            0x60,
            0x00,
            0xF3,  # return(0, size)
            0x5B,
            0x60,
            0x00,
            0x80,
            0xFD,  # jumpdest revert(0, 0)
        ]
    )


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@pytest.fixture
def osaka_genesis(genesis):
    extra = {
        CLZ_CONTRACT: GenesisAccount(code=CLZ_CODE),
        P256_PROXY: GenesisAccount(code=forwarder(0x100)),
        MODEXP_PROXY: GenesisAccount(code=forwarder(0x05)),
    }
    return with_alloc(genesis, extra)


def chain_with(genesis, schedule: ForkSchedule) -> Chain:
    return Chain(replace(genesis, fork_schedule=schedule))


def call(chain: Chain, to: bytes, data: bytes, header=None, gas: int | None = None):
    """``eth_call``'s outcome: the result, or the halt the RPC layer reports."""
    result = chain.call(CallRequest(to=to, data=data, gas=gas), header or chain.head)
    if result.error is not None:
        raise ExecutionHalted(str(result.error))
    return result


# -- CLZ -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [(0, 256), (1, 255), (2, 254), (3, 254), (2**255, 0), (2**256 - 1, 0), (2**128, 127)],
)
def test_clz_counts_leading_zeros(osaka_genesis, value, expected):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    result = call(chain, CLZ_CONTRACT, word(value))
    assert result.output == word(expected)


def test_clz_before_osaka_names_the_fork_and_evm_version(osaka_genesis):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("prague"))
    with pytest.raises(ExecutionHalted) as failure:
        call(chain, CLZ_CONTRACT, word(1))
    text = str(failure.value)
    assert "0x1e" in text and "CLZ" in text
    assert "Osaka" in text and "evm_version" in text


def test_clz_costs_five_gas(osaka_genesis):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    # The same code with CLZ replaced by a JUMPDEST (1 gas): 4 gas less.
    probe = bytes(19) + b"\xc4"
    chain2 = chain_with(
        with_alloc(osaka_genesis, {probe: GenesisAccount(code=CLZ_CODE.replace(b"\x1e", b"\x5b"))}),
        ForkSchedule.pinned("osaka"),
    )
    # Empty calldata keeps the EIP-7623 floor (21000) below the execution cost.
    used = call(chain, CLZ_CONTRACT, b"").gas_used
    used_jumpdest = call(chain2, probe, b"").gas_used
    assert used > 21_000
    assert used - used_jumpdest == 5 - 1


def test_fork_at_a_timestamp_switches_block_building_and_calls(osaka_genesis, dev_accounts, txs):
    fork_time = osaka_genesis.timestamp + 1000
    chain = chain_with(osaka_genesis, ForkSchedule(osaka_time=fork_time))
    key = dev_accounts[0].private_key
    before = chain.build_block(
        [txs.dynamic(key, 0, to=CLZ_CONTRACT, data=word(1), gas=100_000)],
        timestamp=fork_time - 1,
    )
    after = chain.build_block(
        [txs.dynamic(key, 1, to=CLZ_CONTRACT, data=word(1), gas=100_000)],
        timestamp=fork_time,
    )
    assert before.receipts[0].receipt.state_root == b""  # invalid opcode: failed
    assert after.receipts[0].receipt.state_root == b"\x01"
    # Calls at each block run under that block's rules.
    with pytest.raises(ExecutionHalted, match="Osaka"):
        call(chain, CLZ_CONTRACT, word(1), header=before.block.header)
    assert call(chain, CLZ_CONTRACT, word(1), header=after.block.header).output == word(255)
    # A block re-run for its witness runs under its own fork too.
    witness = chain.execution_witness(before.block.hash)
    assert witness is not None and witness.state


def test_import_checks_each_side_of_the_fork(osaka_genesis, dev_accounts, txs):
    fork_time = osaka_genesis.timestamp + 1000
    builder = chain_with(osaka_genesis, ForkSchedule(osaka_time=fork_time))
    importer = chain_with(osaka_genesis, ForkSchedule(osaka_time=fork_time))
    key = dev_accounts[0].private_key
    for nonce, ts in ((0, fork_time - 1), (1, fork_time + 1)):
        built = builder.build_block(
            [txs.dynamic(key, nonce, to=CLZ_CONTRACT, data=word(1), gas=100_000)], timestamp=ts
        )
        importer.import_block(built.block)
    assert importer.head.hash == builder.head.hash
    # A Prague-only importer disagrees on the post-fork block (CLZ succeeded there).
    prague_only = chain_with(osaka_genesis, ForkSchedule.pinned("prague"))
    prague_only.import_block(builder.block_by_header(builder.header_by_number(1)))
    with pytest.raises(Exception):  # noqa: B017 - py-evm's state-root mismatch
        prague_only.import_block(builder.block_by_header(builder.header_by_number(2)))


# -- EIP-7825 ----------------------------------------------------------------------------


def test_tx_gas_cap_leaves_a_transaction_out_of_an_osaka_block(osaka_genesis, dev_accounts, txs):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    key = dev_accounts[0].private_key
    built = chain.build_block(
        [
            txs.dynamic(key, 0, gas=MAX_TX_GAS + 1),
        ]
    )
    assert not built.receipts and len(built.skipped) == 1
    assert "transaction gas limit too high" in str(built.skipped[0].error)
    ok = chain.build_block([txs.dynamic(key, 0, gas=MAX_TX_GAS)])
    assert len(ok.receipts) == 1


def test_tx_gas_cap_is_osaka_only(osaka_genesis, dev_accounts, txs):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("prague"))
    built = chain.build_block([txs.dynamic(dev_accounts[0].private_key, 0, gas=MAX_TX_GAS + 1)])
    assert len(built.receipts) == 1


def test_pending_state_validation_applies_the_cap(osaka_genesis, dev_accounts, txs):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    with pytest.raises(InvalidTransaction, match="gas limit too high"):
        chain.pending_state().validate_transaction(
            txs.dynamic(dev_accounts[0].private_key, 0, gas=MAX_TX_GAS + 1)
        )


# -- EIP-7951 P256VERIFY ----------------------------------------------------------------


def p256_input(message: bytes = b"passkey", key=None, *, low_s: bool = False):
    key = key or ec.generate_private_key(ec.SECP256R1())
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    if low_s and s > P256_N // 2:
        s = P256_N - s
    numbers = key.public_key().public_numbers()
    h = hashlib.sha256(message).digest()
    return h, r, s, numbers.x, numbers.y


def encode(h, r, s, x, y) -> bytes:
    return h + word(r) + word(s) + word(x) + word(y)


def test_p256_verifies_a_signature_and_its_high_s_twin():
    h, r, s, x, y = p256_input()
    assert p256_verify(encode(h, r, s, x, y))
    assert p256_verify(encode(h, r, P256_N - s, x, y))  # no low-s rule


# The EIP's first vector (a Wycheproof secp256r1 case).
EIP_VECTOR = bytes.fromhex(
    "4cee90eb86eaa050036147a12d49004b6b9c72bd725d39d4785011fe190f0b4d"
    "a73bd4903f0ce3b639bbbf6e8e80d16931ff4bcf5993d58468e8fb19086e8cac"
    "36dbcd03009df8c59286b162af3bd7fcc0450c9aa81be5d10d312af6c66b1d60"
    "4aebd3099c618202fcfe16ae7770b0c49ab5eadf74b754204a3bb6060e44eff3"
    "7618b065f9832de4ca6ca971a7a1adc826d0f7c00181a5fb2ddf79ae00b4e10e"
)


def test_p256_eip_vector():
    assert p256_verify(EIP_VECTOR)
    tampered = bytearray(EIP_VECTOR)
    tampered[0] ^= 1
    assert not p256_verify(bytes(tampered))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda h, r, s, x, y: (h, 0, s, x, y), id="r zero"),
        pytest.param(lambda h, r, s, x, y: (h, P256_N, s, x, y), id="r = n"),
        pytest.param(
            lambda h, r, s, x, y: (
                (h, r + P256_N, s, x, y) if r + P256_N < 2**256 else (h, P256_N + 1, s, x, y)
            ),
            id="r above n",
        ),
        pytest.param(lambda h, r, s, x, y: (h, r, 0, x, y), id="s zero"),
        pytest.param(lambda h, r, s, x, y: (h, r, P256_N, x, y), id="s = n"),
        pytest.param(lambda h, r, s, x, y: (h, r, s, 0, 0), id="infinity"),
        pytest.param(lambda h, r, s, x, y: (h, r, s, x, (y + 1) % P256_P), id="off the curve"),
        pytest.param(
            lambda h, r, s, x, y: (
                (h, r, s, x + P256_P, y) if x + P256_P < 2**256 else (h, r, s, P256_P, y)
            ),
            id="x not reduced",
        ),
        pytest.param(lambda h, r, s, x, y: (h, r, s, x, P256_P - y), id="negated key"),
        pytest.param(lambda h, r, s, x, y: (bytes(32), r, s, x, y), id="other hash"),
    ],
)
def test_p256_rejects(mutate):
    h, r, s, x, y = p256_input()
    assert p256_verify(encode(h, r, s, x, y))
    assert not p256_verify(encode(*mutate(h, r, s, x, y)))


def test_p256_wrong_lengths():
    good = encode(*p256_input())
    for data in (b"", good[:-1], good + b"\x00", good * 2):
        assert not p256_verify(data)


def test_p256_precompile_on_chain(osaka_genesis):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    good = encode(*p256_input())
    assert call(chain, P256_PROXY, good).output == word(1)
    bad = bytearray(good)
    bad[40] ^= 1
    result = call(chain, P256_PROXY, bytes(bad))
    assert result.output == b""  # failure is empty output, not a halt
    # Prague has no contract at 0x0100: an empty account answers empty.
    prague = chain_with(osaka_genesis, ForkSchedule.pinned("prague"))
    assert call(prague, P256_PROXY, good).output == b""


def test_p256_gas(osaka_genesis):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    good = encode(*p256_input())
    # 6900 is charged whatever the verdict; too little gas makes the call fail.
    from node.fork.osaka.precompiles import P256VERIFY_ADDRESS

    ok = call(chain, P256VERIFY_ADDRESS, good)
    intrinsic = 21_000 + sum(4 if b == 0 else 16 for b in good)
    assert ok.gas_used == intrinsic + P256VERIFY_GAS
    bad = good[:40] + bytes([good[40] ^ 1]) + good[41:]

    def byte_gas(b: int) -> int:
        return 4 if b == 0 else 16

    # 6900 whatever the verdict: only the calldata cost differs.
    assert call(chain, P256VERIFY_ADDRESS, bad).gas_used == (
        ok.gas_used - byte_gas(good[40]) + byte_gas(bad[40])
    )
    with pytest.raises(ExecutionHalted):
        call(chain, P256VERIFY_ADDRESS, good, gas=ok.gas_used - 1)
    assert call(chain, P256VERIFY_ADDRESS, good, gas=ok.gas_used).output == word(1)


def test_p256_on_curve_helper():
    _, _, _, x, y = p256_input()
    assert p256_on_curve(x, y) and not p256_on_curve(x, y + 1)


# -- MODEXP (EIP-7823, EIP-7883) -----------------------------------------------------------


def modexp_input(base: int, exp: int, mod: int, bl: int, el: int, ml: int) -> bytes:
    return (
        word(bl)
        + word(el)
        + word(ml)
        + base.to_bytes(bl, "big")
        + exp.to_bytes(el, "big")
        + mod.to_bytes(ml, "big")
    )


def test_modexp_gas_eip_7883():
    # Small inputs pay the 500 floor.
    assert modexp_gas_osaka(modexp_input(3, 5, 7, 1, 1, 1)) == 500
    # 64-byte operands: words 8, complexity 2*64 = 128; exponent 2**255 (32 bytes): 255.
    assert modexp_gas_osaka(modexp_input(3, 2**255, 7, 64, 32, 64)) == 128 * 255
    # A 40-byte exponent with head 1: 16 * 8 + 0 iterations; 32-byte operands: complexity 16.
    assert modexp_gas_osaka(modexp_input(3, 1 << 64, 7, 32, 40, 32)) == max(500, 16 * 128)
    # A zero exponent counts one iteration.
    assert modexp_gas_osaka(modexp_input(3, 0, 2**1000, 32, 32, 200)) == 2 * 25 * 25


def test_modexp_bounds_eip_7823(osaka_genesis):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    at_bound = modexp_input(3, 65537, 2**8191 + 1, 1024, 3, 1024)
    result = call(chain, MODEXP_PROXY, at_bound)
    assert int.from_bytes(result.output, "big") == pow(3, 65537, 2**8191 + 1)
    for lengths in ((1025, 1, 1), (1, 1025, 1), (1, 1, 1025)):
        data = word(lengths[0]) + word(lengths[1]) + word(lengths[2])
        with pytest.raises(Exception):  # noqa: B017 - the forwarder reverts: the call failed
            call(chain, MODEXP_PROXY, data)
    # Prague accepted such lengths (and priced them).
    prague = chain_with(osaka_genesis, ForkSchedule.pinned("prague"))
    out = call(prague, MODEXP_PROXY, word(1) + word(1) + word(1025) + b"\x03\x01")
    assert len(out.output) == 1025


def test_modexp_result_unchanged(osaka_genesis):
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    data = modexp_input(2**100 + 3, 2**70 + 1, 2**127 - 1, 16, 16, 16)
    assert int.from_bytes(call(chain, MODEXP_PROXY, data).output, "big") == pow(
        2**100 + 3, 2**70 + 1, 2**127 - 1
    )


# -- EIP-7918 -------------------------------------------------------------------------------


def test_blob_base_fee_reserve_price():
    target = 6 * 2**17
    parent = PragueBlockHeader(
        difficulty=0,
        block_number=1,
        gas_limit=30_000_000,
        timestamp=1,
        base_fee_per_gas=10**9,
        blob_gas_used=target,
        excess_blob_gas=target,
    )
    # Blob fee (1 wei at this excess) far below 2^13 * base fee / 2^17: the excess grows by
    # blob gas used * 3/9 instead of falling back to the target rule.
    assert calc_excess_blob_gas_osaka(parent) == target + target * 3 // 9
    cheap = parent.copy(base_fee_per_gas=0)
    assert calc_excess_blob_gas_osaka(cheap) == target + target - target
    idle = parent.copy(blob_gas_used=0, excess_blob_gas=0)
    assert calc_excess_blob_gas_osaka(idle) == 0


# -- estimation and access lists follow the block's fork -------------------------------------

LOOP = bytes(19) + b"\xc5"  # JUMPDEST PUSH1 0 JUMP: burns whatever gas it is given


@pytest.mark.parametrize("fork,cap", [("osaka", MAX_TX_GAS), ("prague", 30_000_000)])
def test_estimate_searches_no_higher_than_the_forks_cap(osaka_genesis, fork, cap):
    genesis = with_alloc(osaka_genesis, {LOOP: GenesisAccount(code=bytes.fromhex("5b600056"))})
    chain = chain_with(genesis, ForkSchedule.pinned(fork))
    with pytest.raises(ExecutionHalted, match=f"gas required exceeds allowance \\({cap}\\)"):
        chain.estimate_gas(CallRequest(to=LOOP), chain.head)


def test_access_lists_leave_out_the_blocks_precompiles(osaka_genesis):
    from node.fork.osaka.precompiles import P256VERIFY_ADDRESS

    good = encode(*p256_input())
    chain = chain_with(osaka_genesis, ForkSchedule(osaka_time=osaka_genesis.timestamp + 1000))

    def listed() -> list[bytes]:
        request = CallRequest(to=P256_PROXY, data=good)
        access_list, _ = chain.create_access_list(request, chain.head)
        return [entry[0] for entry in access_list]

    assert P256VERIFY_ADDRESS in listed()  # Prague: a plain account
    chain.build_block([], timestamp=osaka_genesis.timestamp + 1000)
    assert P256VERIFY_ADDRESS not in listed()  # Osaka: a precompile, warm for free


# -- EIP-7934 ---------------------------------------------------------------------------------


def test_block_rlp_size_is_the_encoded_size(osaka_genesis, dev_accounts, txs):
    import rlp

    from node.fork.osaka.rules import block_rlp_size

    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    key = dev_accounts[0].private_key
    built = chain.build_block(
        [
            txs.dynamic(key, 0, data=b"\x01" * 300, gas=100_000),
            txs.legacy(key, 1, data=b"\x02" * 70, gas=100_000),
        ]
    )
    block = built.block
    body = [
        tx.encode() if tx.encode()[0] < 0xC0 else rlp.decode(tx.encode(), strict=False)
        for tx in block.transactions
    ]
    whole = rlp.encode([rlp.decode(rlp.encode(block.header)), body, [], []])
    assert block_rlp_size(block) == len(whole)


def test_builder_and_import_keep_blocks_under_the_cap(
    osaka_genesis, dev_accounts, txs, monkeypatch
):
    from eth_utils import ValidationError

    from node.fork.osaka.rules import BLOCK_OVERHEAD_ALLOWANCE

    key = dev_accounts[0].private_key
    batch = [txs.dynamic(key, n, data=b"\x07" * 1000, gas=100_000) for n in range(3)]
    roomy = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    full = roomy.build_block(batch)
    assert len(full.receipts) == 3

    tight = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    osaka_class = tight.vm_factory.class_at(tight.head.timestamp + 1)
    # Room for two of the three transactions.
    monkeypatch.setattr(osaka_class, "max_rlp_block_size", BLOCK_OVERHEAD_ALLOWANCE + 2 * 1200)
    built = tight.build_block(batch)
    assert len(built.receipts) == 2 and len(built.skipped) == 1
    assert "EIP-7934" in str(built.skipped[0].error)
    # The roomy chain's three-transaction block is too big for the tight rules.
    with pytest.raises(ValidationError, match="EIP-7934"):
        importer = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
        cls = importer.vm_factory.class_at(full.block.header.timestamp)
        monkeypatch.setattr(cls, "max_rlp_block_size", 3000)
        importer.import_block(full.block)


def test_execute_block_size_bound():
    from node.fork.osaka.constants import MAX_RLP_BLOCK_SIZE
    from node.fork.osaka.execute import MIN_L2_HEADER_RLP, block_too_large
    from precompiles.execute_wire import ExecuteInput

    def inp(size: int) -> ExecuteInput:
        return ExecuteInput(
            bytes(32),
            bytes(32),
            0,
            bytes(32),
            bytes(32),
            1,
            1,
            30_000_000,
            1,
            bytes(20),
            bytes(32),
            bytes(32),
            b"\xc0" * size,
            b"",
        )

    # header + transactions + two empty lists, in a list with a 4-byte length prefix
    fits = MAX_RLP_BLOCK_SIZE - 4 - MIN_L2_HEADER_RLP - 2
    assert not block_too_large(inp(fits))
    assert block_too_large(inp(fits + 1))


def test_modexp_zero_length_base_to_the_zero_is_one(osaka_genesis):
    # 0 ** 0 % 7 with an empty base: 1, as geth and the execution specs (py-evm's MODEXP
    # answers 0 for any empty base).
    chain = chain_with(osaka_genesis, ForkSchedule.pinned("osaka"))
    data = word(0) + word(1) + word(1) + b"\x00" + b"\x07"
    assert call(chain, MODEXP_PROXY, data).output == b"\x01"
    # a zero modulus gives zeros of its length; nothing at all for empty base and modulus
    assert call(chain, MODEXP_PROXY, word(1) + word(1) + word(2) + b"\x03\x02").output == bytes(2)
    assert call(chain, MODEXP_PROXY, word(0) + word(1) + word(0) + b"\x05").output == b""


def test_the_eels_differential_emitter_runs(tmp_path):
    """``scripts/diff_osaka_eels.py emit`` (the node's half; EELS's half needs its own venv)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "osaka.json"
    proc = subprocess.run(
        [sys.executable, "scripts/diff_osaka_eels.py", "emit", str(out), "--blocks", "2"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert len(doc["blocks"]) == 2 and doc["genesis_header"]
    assert doc["node_on_prague_twin_block"].startswith("invalid: transaction gas limit too high")
