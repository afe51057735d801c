#!/usr/bin/env python3
"""Differential check of the devnet's Osaka against the Ethereum execution specs (EELS).

EELS (PyPI ``ethereum-execution``) cannot share the project's environment (it pins
``coincurve<21``; the project pins 21.0.0), so the check runs in two interpreters:

    .venv/bin/python scripts/diff_osaka_eels.py emit /tmp/osaka.json --seed 1
    python3 -m venv /tmp/eels && /tmp/eels/bin/pip install ethereum-execution==2.20.0
    /tmp/eels/bin/python scripts/diff_osaka_eels.py check /tmp/osaka.json

``emit`` builds random Osaka blocks on an in-process chain (plain devnet: no EXECUTE header
fields) with transactions using CLZ, P256VERIFY (valid, high-s, wrong hash, r = 0, short
input) and MODEXP (lengths 0, 1, 32, 33, 100, 1024 and 1025), transfers at 2^24 and 2^24 + 1
gas (the builder leaves the latter out), and one block holding a 2^24 + 1 transfer built by a
Prague twin. ``check`` imports every block with EELS's Osaka ``state_transition`` (state
root, receipts root, gas used, bloom and requests are checked there) and must reject the
Prague twin's block, as the node's import does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAIN_ID = 31337
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _recorder(target: int) -> bytes:
    """STATICCALL ``target`` with the calldata; sstore(calldatasize, first returned word)
    and sstore(0x1000, success)."""
    return bytes(
        [0x36, 0x5F, 0x5F, 0x37, 0x60, 0x20, 0x5F, 0x36, 0x5F, 0x61, target >> 8, target & 0xFF]
        + [0x5A, 0xFA, 0x5F, 0x51, 0x36, 0x55, 0x61, 0x10, 0x00, 0x55, 0x00]
    )


def emit(path: Path, seed: int, blocks: int) -> None:
    sys.path.insert(0, str(ROOT))
    from dataclasses import replace

    import rlp
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
    from node.chain import Chain
    from node.fork.schedule import ForkSchedule
    from node.genesis import DEFAULT_L1_GENESIS, ExecuteParams, GenesisAccount, load_genesis

    rng = random.Random(seed)
    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 4)
    clz, p256, modexp = (bytes(19) + bytes([b]) for b in (0xD1, 0xD2, 0xD3))
    genesis = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in accounts], 10**24)
    alloc = dict(genesis.alloc)
    alloc[clz] = GenesisAccount(code=bytes.fromhex("5f351e365500"))  # sstore(size, clz(word0))
    alloc[p256] = GenesisAccount(code=_recorder(0x100))
    alloc[modexp] = GenesisAccount(code=_recorder(0x05))
    genesis = replace(
        genesis,
        alloc=alloc,
        execute=ExecuteParams(),
        delayed_state_root=False,
        timestamp=1000,
        fork_schedule=ForkSchedule.pinned("osaka"),
    )
    chain = Chain(genesis)
    builder = chain.transaction_builder

    def sign(index: int, nonce: int, to: bytes, data: bytes, gas: int):
        unsigned = builder.new_unsigned_dynamic_fee_transaction(
            CHAIN_ID, nonce, 10**9, 10 * 10**9, gas, to, 1, data, []
        )
        return unsigned.as_signed_transaction(accounts[index].private_key)

    def p256_input() -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        message = rng.randbytes(8)
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        numbers = key.public_key().public_numbers()
        h = hashlib.sha256(message).digest()
        kind = rng.randrange(5)
        s = N - s if kind == 1 else s
        h = rng.randbytes(32) if kind == 2 else h
        r = 0 if kind == 3 else r
        data = h + _word(r) + _word(s) + _word(numbers.x) + _word(numbers.y)
        return data[:-1] if kind == 4 else data

    def modexp_input() -> bytes:
        lengths = [rng.choice([0, 1, 32, 33, 100, 1024, 1025]) for _ in range(3)]
        return b"".join(map(_word, lengths)) + rng.randbytes(sum(min(n, 1100) for n in lengths))

    raw_blocks = []
    for number in range(1, blocks + 1):
        nonces = [chain.nonce(a.address, chain.head) for a in accounts]
        batch = []
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(accounts))
            kind = rng.choice(["clz", "p256", "modexp", "transfer", "cap"])
            if kind == "clz":
                tx = (clz, _word(rng.getrandbits(rng.randint(0, 256))), 100_000)
            elif kind == "p256":
                tx = (p256, p256_input(), 200_000)
            elif kind == "modexp":
                tx = (modexp, modexp_input(), 2_000_000)
            elif kind == "transfer":
                tx = (b"\x77" * 20, b"", 21_000)
            else:
                tx = (b"\x77" * 20, b"", rng.choice([2**24, 2**24 + 1]))
            batch.append(sign(i, nonces[i], *tx))
            nonces[i] += 1
        built = chain.build_block(batch, timestamp=1000 + 12 * number)
        raw_blocks.append(rlp.encode(chain.block_by_header(built.block.header)).hex())
    twin = Chain(replace(genesis, fork_schedule=ForkSchedule.pinned("prague")))
    bad = twin.build_block([sign(0, 0, b"\x77" * 20, b"", 2**24 + 1)], timestamp=1012)
    bad_block = twin.block_by_header(bad.block.header)
    try:
        Chain(genesis).import_block(bad_block)
        node_verdict = "valid"
    except Exception as exc:  # noqa: BLE001 - any refusal is the verdict
        node_verdict = f"invalid: {exc}"
    path.write_text(
        json.dumps(
            {
                "genesis_header": rlp.encode(chain.header_by_number(0)).hex(),
                "alloc": {
                    address.hex(): {
                        "balance": a.balance,
                        "nonce": a.nonce,
                        "code": a.code.hex(),
                        "storage": {str(k): v for k, v in a.storage.items()},
                    }
                    for address, a in genesis.alloc.items()
                },
                "blocks": raw_blocks,
                "prague_twin_block": rlp.encode(bad_block).hex(),
                "node_on_prague_twin_block": node_verdict,
            }
        )
    )
    count = sum(len(rlp.decode(bytes.fromhex(b))[1]) for b in raw_blocks)
    print(f"{len(raw_blocks)} blocks, {count} transactions; node on the twin block: {node_verdict}")


def check(path: Path) -> int:
    from ethereum.forks.osaka import fork
    from ethereum.forks.osaka.blocks import Block, Header
    from ethereum.forks.osaka.fork_types import Account
    from ethereum.forks.osaka.state import State, set_account, set_storage, state_root
    from ethereum_rlp import rlp
    from ethereum_types.bytes import Bytes32
    from ethereum_types.numeric import U64, U256, Uint

    doc = json.loads(path.read_text())

    def fresh():
        state = State()
        for hex_address, a in doc["alloc"].items():
            address = bytes.fromhex(hex_address)
            code = bytes.fromhex(a["code"])
            set_account(state, address, Account(Uint(a["nonce"]), U256(a["balance"]), code))
            for key, value in a["storage"].items():
                set_storage(state, address, Bytes32(int(key).to_bytes(32, "big")), U256(value))
        header = rlp.decode_to(Header, bytes.fromhex(doc["genesis_header"]))
        assert state_root(state) == header.state_root, "the genesis state roots differ"
        genesis = Block(header=header, transactions=(), ommers=(), withdrawals=())
        return fork.BlockChain(blocks=[genesis], state=state, chain_id=U64(CHAIN_ID))

    chain = fresh()
    failures = 0
    for number, raw in enumerate(doc["blocks"], start=1):
        try:
            fork.state_transition(chain, rlp.decode_to(Block, bytes.fromhex(raw)))
        except Exception as exc:  # noqa: BLE001 - EELS's refusals are of several kinds
            print(f"block {number}: EELS rejects the node's block: {exc!r}")
            failures += 1
            break
    print(f"EELS imported {number - failures} of {len(doc['blocks'])} node blocks")
    try:
        fork.state_transition(
            fresh(), rlp.decode_to(Block, bytes.fromhex(doc["prague_twin_block"]))
        )
        eels_verdict = "valid"
    except Exception as exc:  # noqa: BLE001
        eels_verdict = f"invalid: {exc!r}"
    node_verdict = doc["node_on_prague_twin_block"]
    print(f"a 2^24 + 1 gas transfer: EELS {eels_verdict}; node {node_verdict}")
    if eels_verdict.startswith("valid") or node_verdict.startswith("valid"):
        failures += 1
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("emit", help="build blocks with the node (project venv)")
    e.add_argument("path", type=Path)
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--blocks", type=int, default=12)
    c = sub.add_parser("check", help="import them with EELS (a venv with ethereum-execution)")
    c.add_argument("path", type=Path)
    args = parser.parse_args()
    if args.command == "emit":
        emit(args.path, args.seed, args.blocks)
        return 0
    return check(args.path)


if __name__ == "__main__":
    sys.exit(main())
