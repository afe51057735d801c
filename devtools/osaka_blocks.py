"""Random Osaka blocks for differential checks against the Ethereum execution specs (EELS).

The node's half: a genesis holding three small contracts (CLZ, a P256VERIFY caller and a
MODEXP caller, each recording what it got in storage), random transactions using them with
P256VERIFY inputs valid and invalid (high s, wrong hash, r = 0, short) and MODEXP lengths at
and past EIP-7823's 1024-byte bounds, transfers at 2^24 and 2^24 + 1 gas (the builder leaves
the latter out), blocks built by ``node.chain.Chain``, and mutations of them: a wrong state
root, a transaction above the EIP-7825 cap (built by a Prague twin, which has no cap) and a
block over EIP-7934's RLP cap.

EELS's half (``ethereum-execution``; imported only when used): a ``BlockChain`` on the
same genesis and ``eels_import``, which applies a block with Osaka's (or another fork's)
``state_transition`` and answers ``None`` or the refusal, leaving the state unchanged when
it refuses.

Used by ``scripts/diff_osaka_eels.py`` (the CLI) and ``tests/unit/test_osaka_eels.py``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import rlp
from eth.abc import BlockAPI, SignedTransactionAPI
from eth_keys import keys

from node.chain import BuiltBlock, Chain
from node.fork.osaka.constants import MAX_RLP_BLOCK_SIZE, MAX_TX_GAS
from node.fork.schedule import ForkSchedule
from node.genesis import Genesis, GenesisAccount

# secp256r1's group order (EIP-7951), to build high-s signatures.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CLZ_CONTRACT, P256_CONTRACT, MODEXP_CONTRACT = (bytes(19) + bytes([b]) for b in (0xD1, 0xD2, 0xD3))
SINK = b"\x77" * 20
MODEXP_LENGTHS = (0, 1, 32, 33, 100, 1024, 1025)  # EIP-7823: each at most 1024
START = 1000  # genesis timestamp; block n is at START + 12 n


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def recorder(target: int) -> bytes:
    """STATICCALL ``target`` with the calldata; sstore(calldatasize, first returned word)
    and sstore(0x1000, success)."""
    return bytes(
        [0x36, 0x5F, 0x5F, 0x37, 0x60, 0x20, 0x5F, 0x36, 0x5F, 0x61, target >> 8, target & 0xFF]
        + [0x5A, 0xFA, 0x5F, 0x51, 0x36, 0x55, 0x61, 0x10, 0x00, 0x55, 0x00]
    )


def osaka_genesis(base: Genesis, fork: str = "osaka", gas_limit: int | None = None) -> Genesis:
    """``base`` with the three contracts, Osaka (or ``fork``) from genesis, at ``START``."""
    alloc = dict(base.alloc)
    alloc[CLZ_CONTRACT] = GenesisAccount(code=bytes.fromhex("5f351e365500"))  # sstore(size, clz)
    alloc[P256_CONTRACT] = GenesisAccount(code=recorder(0x100))
    alloc[MODEXP_CONTRACT] = GenesisAccount(code=recorder(0x05))
    return replace(
        base,
        alloc=alloc,
        timestamp=START,
        fork_schedule=ForkSchedule.pinned(fork),
        gas_limit=gas_limit or base.gas_limit,
    )


@dataclass
class RandomTxs:
    """Signed random transactions for ``chain`` from ``keys``, with a nonce book."""

    chain: Chain
    keys: Sequence[keys.PrivateKey]
    rng: random.Random
    nonces: dict[int, int] = field(default_factory=dict)

    def sign(self, index: int, to: bytes, data: bytes, gas: int) -> SignedTransactionAPI:
        key = self.keys[index]
        if index not in self.nonces:
            self.nonces[index] = self.chain.nonce(
                key.public_key.to_canonical_address(), self.chain.head
            )
        nonce = self.nonces[index]
        self.nonces[index] += 1
        unsigned = self.chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
            self.chain.chain_id, nonce, 10**9, 10 * 10**9, gas, to, 1, data, []
        )
        return unsigned.as_signed_transaction(key)

    def p256_input(self, kind: int | None = None) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        rng = self.rng
        key = ec.derive_private_key(rng.randrange(1, P256_N), ec.SECP256R1())
        message = rng.randbytes(8)
        # RFC 6979: the blocks are a function of the seed.
        ecdsa = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        r, s = decode_dss_signature(key.sign(message, ecdsa))
        numbers = key.public_key().public_numbers()
        h = hashlib.sha256(message).digest()
        if kind is None:  # valid, high s, wrong hash, r = 0, one byte short
            kind = rng.randrange(5)
        s = P256_N - s if kind == 1 else s
        h = rng.randbytes(32) if kind == 2 else h
        r = 0 if kind == 3 else r
        data = h + word(r) + word(s) + word(numbers.x) + word(numbers.y)
        return data[:-1] if kind == 4 else data

    def modexp_input(self) -> bytes:
        lengths = [self.rng.choice(MODEXP_LENGTHS) for _ in range(3)]
        return b"".join(map(word, lengths)) + self.rng.randbytes(sum(lengths))

    def features(self) -> list[SignedTransactionAPI]:
        """One of each: MODEXP of an empty base and exponent (0 ** 0 = 1), CLZ of 1,
        P256VERIFY valid, MODEXP at and past the 1024-byte bound, transfers at 2^24 and at
        2^24 + 1 gas."""
        modexp_at = b"".join(map(word, (1, 1, 1024))) + b"\x03\x05" + b"\xff" * 1024
        modexp_past = b"".join(map(word, (1, 1, 1025))) + b"\x03\x05" + b"\xff" * 1025
        zero_to_the_zero = b"".join(map(word, (0, 0, 1))) + b"\x07"  # an empty base: 1
        return [
            self.sign(0, MODEXP_CONTRACT, zero_to_the_zero, 100_000),
            self.sign(0, CLZ_CONTRACT, word(1), 100_000),
            self.sign(0, P256_CONTRACT, self.p256_input(kind=0), 200_000),
            self.sign(0, MODEXP_CONTRACT, modexp_at, 1_000_000),
            self.sign(0, MODEXP_CONTRACT, modexp_past, 1_000_000),
            self.sign(1, SINK, b"", MAX_TX_GAS),
            self.sign(2, SINK, b"", MAX_TX_GAS + 1),
        ]

    def random(self) -> SignedTransactionAPI:
        rng = self.rng
        i = rng.randrange(len(self.keys))
        kind = rng.choice(["clz", "p256", "modexp", "transfer", "cap"])
        if kind == "clz":
            return self.sign(i, CLZ_CONTRACT, word(rng.getrandbits(rng.randint(0, 256))), 100_000)
        if kind == "p256":
            return self.sign(i, P256_CONTRACT, self.p256_input(), 200_000)
        if kind == "modexp":
            return self.sign(i, MODEXP_CONTRACT, self.modexp_input(), 1_000_000)
        if kind == "transfer":
            return self.sign(i, SINK, b"", 21_000)
        return self.sign(i, SINK, b"", rng.choice([MAX_TX_GAS, MAX_TX_GAS + 1]))


def build_blocks(
    genesis: Genesis, keys: Sequence[keys.PrivateKey], seed: int, count: int, max_txs: int = 6
) -> tuple[Chain, list[BuiltBlock]]:
    """``count`` blocks on a chain from ``genesis``: the first with one transaction of each
    feature (``RandomTxs.features``), then 1..``max_txs`` random transactions each on a chain from
    ``genesis`` (the ones invalid at their position, as 2^24 + 1 gas, are left out and
    show in ``BuiltBlock.skipped``)."""
    chain = Chain(genesis)
    txs = RandomTxs(chain, keys, random.Random(seed))
    built = []
    for number in range(1, count + 1):
        txs.nonces.clear()  # from the chain again: a skipped transaction's nonce stays free
        if number == 1:
            batch = txs.features()
        else:
            batch = [txs.random() for _ in range(txs.rng.randint(1, max_txs))]
        block = chain.build_block(batch, timestamp=START + 12 * number)
        # As stored (the builder's block holds its transactions in the builder's classes).
        built.append(replace(block, block=chain.block_by_header(block.block.header)))
    return chain, built


# -- mutations -----------------------------------------------------------------------------


def with_state_root(block: BlockAPI, state_root: bytes) -> BlockAPI:
    return block.copy(header=block.header.copy(state_root=state_root))


def prague_twin_block(
    genesis: Genesis, key: keys.PrivateKey, txs: Sequence[tuple[bytes, bytes, int]]
) -> tuple[Chain, BlockAPI]:
    """Block 1 on ``genesis`` holding ``txs`` (to, data, gas), built by a Prague twin (no
    EIP-7825 or EIP-7934 cap there), with the twin chain (its witnesses feed EXECUTE)."""
    twin = Chain(replace(genesis, fork_schedule=ForkSchedule.pinned("prague")))
    signer = RandomTxs(twin, [key], random.Random(0))
    built = twin.build_block([signer.sign(0, *tx) for tx in txs], timestamp=START + 12)
    assert not built.skipped, built.skipped
    return twin, twin.block_by_header(built.block.header)


def above_cap_block(genesis: Genesis, key: keys.PrivateKey) -> tuple[Chain, BlockAPI]:
    """A block 1 holding one 2^24 + 1 gas transfer."""
    return prague_twin_block(genesis, key, [(SINK, b"", MAX_TX_GAS + 1)])


# Zero calldata bytes cost 10 gas each at EIP-7623's floor: 1.5 MB fit under the 2^24 cap.
OVERSIZE_CHUNK = 1_500_000
OVERSIZE_GAS = 21_000 + 10 * OVERSIZE_CHUNK


def oversize_block(genesis: Genesis, key: keys.PrivateKey) -> tuple[Chain, BlockAPI]:
    """A block 1 over EIP-7934's RLP cap and otherwise valid under Osaka's rules: transfers
    with zero calldata, each under the 2^24 gas cap (``genesis`` needs a gas limit of
    ``OVERSIZE_GAS`` times their number)."""
    count = MAX_RLP_BLOCK_SIZE // OVERSIZE_CHUNK + 1
    twin, block = prague_twin_block(
        genesis, key, [(SINK, bytes(OVERSIZE_CHUNK), OVERSIZE_GAS)] * count
    )
    assert len(rlp.encode(block)) > MAX_RLP_BLOCK_SIZE
    return twin, block


def node_import(chain: Chain, block: BlockAPI) -> str | None:
    """The node's import of ``block``: ``None`` if it is valid, else the refusal."""
    try:
        chain.import_block(block)
    except Exception as exc:  # noqa: BLE001 - every refusal is a verdict
        return str(exc) or type(exc).__name__
    return None


# -- EELS ----------------------------------------------------------------------------------


def _eels(fork: str, module: str):
    """EELS's module ``ethereum.forks.<fork>.<module>``."""
    import importlib

    return importlib.import_module(f"ethereum.forks.{fork}.{module}")


def eels_chain(genesis_header_rlp: bytes, alloc: dict, chain_id: int, fork: str = "osaka"):
    """EELS's ``BlockChain`` of ``fork`` on a genesis: its header's RLP and its accounts as
    ``{address: (nonce, balance, code, {slot: value})}``; the state roots must agree."""
    from ethereum_rlp import rlp as eels_rlp
    from ethereum_types.bytes import Bytes32
    from ethereum_types.numeric import U64, U256, Uint

    blocks, st = _eels(fork, "blocks"), _eels(fork, "state")
    account_class = _eels(fork, "fork_types").Account
    state = st.State()
    for address, (nonce, balance, code, storage) in alloc.items():
        st.set_account(state, address, account_class(Uint(nonce), U256(balance), code))
        for key, value in storage.items():
            st.set_storage(state, address, Bytes32(key.to_bytes(32, "big")), U256(value))
    header = eels_rlp.decode_to(blocks.Header, genesis_header_rlp)
    if st.state_root(state) != header.state_root:
        raise ValueError("EELS and the node disagree on the genesis state root")
    genesis = blocks.Block(header=header, transactions=(), ommers=(), withdrawals=())
    return _eels(fork, "fork").BlockChain(blocks=[genesis], state=state, chain_id=U64(chain_id))


def genesis_alloc(genesis: Genesis) -> dict:
    """``genesis``'s accounts in ``eels_chain``'s form."""
    return {
        address: (a.nonce, a.balance, a.code, dict(a.storage))
        for address, a in genesis.alloc.items()
    }


def eels_import(chain, block_rlp: bytes, fork: str = "osaka") -> str | None:
    """EELS's ``state_transition`` of ``fork`` on ``block_rlp``: ``None`` if it is valid
    (the chain grows), else the refusal (the chain and its state unchanged)."""
    from ethereum_rlp import rlp as eels_rlp

    copy_trie = _eels(fork, "trie").copy_trie
    try:
        block = eels_rlp.decode_to(_eels(fork, "blocks").Block, block_rlp)
    except Exception as exc:  # noqa: BLE001
        return f"undecodable: {exc!r}"
    # A copy to restore (EELS's own state transactions cannot span a state root).
    state = chain.state
    saved = _eels(fork, "state").State(
        _main_trie=copy_trie(state._main_trie),
        _storage_tries={a: copy_trie(t) for a, t in state._storage_tries.items()},
    )
    try:
        _eels(fork, "fork").state_transition(chain, block)
    except Exception as exc:  # noqa: BLE001 - EELS refuses with several exception types
        chain.state = saved
        return f"{type(exc).__name__}: {exc}"
    return None
