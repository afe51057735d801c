"""The EELS verifier: EXECUTE re-executed by the Ethereum execution specs
(PyPI ``ethereum-execution``, pinned at 2.20.0) from the witness alone.

EELS keeps the whole state in memory as plain maps. Here those maps load an entry from the
witness trie on its first read (``LazyAccounts``, ``LazyStorage``, ``LazyStorageTries``), so
EELS runs on exactly what the witness holds:

- a missing trie node on a read is reason 7 (``WitnessMissing``);
- an account whose code the witness lacks gets a stand-in (``CodeStandIn``): its hash and
  emptiness are exact, reading its bytes (size, copy, execution) is reason 7; EXTCODEHASH
  answers the known hash;
- BLOCKHASH sees only hashes of the header chain hash-linked from the parent (zero beyond);
- typed transactions must carry the L2 chain id (EELS 2.20.0 does not check it);
- the post-state root is EELS's changes applied to the partial witness trie with py-trie
  (EELS's own ``state_root`` would need the whole state).

These hooks touch EELS internals (``State._main_trie``, ``_storage_tries``, ``_snapshots``):
the start-up self-test (``policy.self_test``) catches an EELS that changed them.

Decoding of the input and the witness, and the header rules (reasons 1-5), are the shared
front of ``precompiles.execute.verify``; EELS decodes the transactions again itself.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode

from precompiles.execute_wire import ExecuteInput, Reason
from precompiles.verdict import UINT256_MAX, Invalid, Verdict
from precompiles.verifiers.base import fork_name
from precompiles.witness import Witness

log = logging.getLogger("native_devnet.execute.eels")

EELS_VERSION = "2.20.0"
EMPTY_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
BLOCK_HASH_WINDOW = 256
BLOB_TRANSACTION_TYPE = 3


class WitnessMissing(Exception):
    """EELS read something the witness does not hold (reason 7)."""


def eels_available() -> bool:
    try:
        importlib.import_module("ethereum.forks.prague.fork")
    except ImportError:
        return False
    return True


class CodeStandIn(bytes):
    """Code the witness lacks: equal to nothing but itself, non-empty, its hash known,
    its bytes unreadable (reading them raises ``WitnessMissing``)."""

    __slots__ = ()

    def _raw(self) -> bytes:
        return memoryview(self).tobytes()

    def __len__(self) -> int:
        raise WitnessMissing(f"code {self._raw().hex()} is not in the witness")

    def __getitem__(self, index):
        raise WitnessMissing(f"code {self._raw().hex()} is not in the witness")

    def __iter__(self):
        raise WitnessMissing(f"code {self._raw().hex()} is not in the witness")

    def __bool__(self) -> bool:
        return True  # its hash is not the empty code's

    __hash__ = bytes.__hash__


def _known_hash(original):
    """``keccak256`` for EXTCODEHASH: a stand-in answers its known hash."""

    def keccak256(buffer):
        if isinstance(buffer, CodeStandIn):
            return original.__globals__["Hash32"](buffer._raw())
        return original(buffer)

    keccak256.eels_verifier_hook = True  # type: ignore[attr-defined]
    return keccak256


class _Absent:
    """An entry known not to exist (deleted, or absent from the witness trie)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


def _trie_get(trie: HexaryTrie, key: bytes) -> bytes:
    try:
        return trie.get(key)
    except MissingTrieNode as exc:
        raise WitnessMissing(
            f"trie node {exc.missing_node_hash.hex()} is not in the witness"
        ) from exc


class WitnessSource:
    """Reads of the pre-state from the witness, per EELS fork."""

    def __init__(self, fork, nodes: dict, state_root: bytes) -> None:
        self.fork = fork
        self.nodes = nodes
        self.accounts = HexaryTrie(nodes, state_root)
        self._pre: dict[bytes, tuple | None] = {}

    def pre_account(self, address: bytes) -> tuple | None:
        """(nonce, balance, storage_root, code_hash) before the block, or None."""
        if address not in self._pre:
            raw = _trie_get(self.accounts, keccak(address))
            self._pre[address] = None if not raw else tuple(rlp.decode(raw))
        return self._pre[address]

    def account(self, address: bytes):
        fields = self.pre_account(address)
        if fields is None:
            return ABSENT
        nonce, balance, _, code_hash = fields
        if code_hash == EMPTY_CODE_HASH:
            code = self.fork.Bytes(b"")
        elif code_hash in self.nodes:
            code = self.fork.Bytes(self.nodes[code_hash])
        else:
            code = CodeStandIn(code_hash)
        return self.fork.Account(
            nonce=self.fork.Uint(int.from_bytes(nonce, "big")),
            balance=self.fork.U256(int.from_bytes(balance, "big")),
            code=code,
        )

    def storage_root(self, address: bytes) -> bytes:
        fields = self.pre_account(address)
        return EMPTY_ROOT if fields is None else fields[2]

    def slot(self, root: bytes, key: bytes):
        raw = _trie_get(HexaryTrie(self.nodes, root), keccak(key))
        return ABSENT if not raw else self.fork.U256(int.from_bytes(rlp.decode(raw), "big"))


class _LazyMap(dict):
    """A dict that loads a missing key with ``_load`` and keeps deletions as ``ABSENT``.
    ``copy.copy`` keeps the class and the loader (EELS snapshots copy these maps)."""

    def _load(self, key):  # pragma: no cover - overridden
        raise NotImplementedError

    def _lookup(self, key):
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            value = self._load(key)
            dict.__setitem__(self, key, value)
            return value

    def get(self, key, default=None):
        value = self._lookup(key)
        return default if value is ABSENT else value

    def __getitem__(self, key):
        value = self._lookup(key)
        if value is ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return self._lookup(key) is not ABSENT

    def __delitem__(self, key) -> None:
        dict.__setitem__(self, key, ABSENT)

    def __eq__(self, other) -> bool:
        # Only EELS's "is this storage now empty" test compares a map (with {}): a map
        # over witness entries it has not read cannot say, so it answers no.
        return False

    __hash__ = None  # type: ignore[assignment]

    def entries(self):
        """What was read or written: (key, value or ABSENT)."""
        return dict.items(self)


class LazyAccounts(_LazyMap):
    def __init__(self, source: WitnessSource) -> None:
        super().__init__()
        self.source = source

    def _load(self, address):
        return self.source.account(bytes(address))


class LazyStorage(_LazyMap):
    def __init__(self, source: WitnessSource, root: bytes) -> None:
        super().__init__()
        self.source = source
        self.root = root

    def _load(self, key):
        return self.source.slot(self.root, bytes(key))


class LazyStorageTries(dict):
    """address -> storage Trie. An account's storage whose root is not empty in the witness
    is a ``LazyStorage``; a plain empty dict stands for no storage (after a destroy)."""

    def __init__(self, source: WitnessSource, entries: dict | None = None) -> None:
        super().__init__(entries or {})
        self.source = source

    def _lookup(self, address):
        try:
            return dict.__getitem__(self, address)
        except KeyError:
            root = self.source.storage_root(bytes(address))
            data = {} if root == EMPTY_ROOT else LazyStorage(self.source, root)
            trie = self.source.fork.Trie(secured=True, default=self.source.fork.U256(0))
            trie._data = data
            dict.__setitem__(self, address, trie)
            return trie

    def get(self, address, default=None):
        return self._lookup(address)

    def __getitem__(self, address):
        return self._lookup(address)

    def __contains__(self, address) -> bool:
        data = self._lookup(address)._data
        return isinstance(data, LazyStorage) or bool(data)

    def __delitem__(self, address) -> None:
        trie = self.source.fork.Trie(secured=True, default=self.source.fork.U256(0))
        dict.__setitem__(self, address, trie)  # empty plain data: no storage from here on


class Snapshots(list):
    """EELS's transaction snapshots; the storage map of each is kept lazy."""

    def __init__(self, source: WitnessSource) -> None:
        super().__init__()
        self.source = source

    def append(self, item) -> None:
        main, storage = item
        super().append((main, LazyStorageTries(self.source, storage)))


class _Fork:
    """The EELS modules of one fork, and the names the verifier needs."""

    def __init__(self, name: str) -> None:
        base = f"ethereum.forks.{name}"
        self.name = name
        self.fork = importlib.import_module(f"{base}.fork")
        self.state = importlib.import_module(f"{base}.state")
        self.vm = importlib.import_module(f"{base}.vm")
        self.blocks = importlib.import_module(f"{base}.blocks")
        self.transactions = importlib.import_module(f"{base}.transactions")
        self.trie = importlib.import_module(f"{base}.trie")
        self.bloom = importlib.import_module(f"{base}.bloom")
        self.requests = importlib.import_module(f"{base}.requests")
        fork_types = importlib.import_module(f"{base}.fork_types")
        numeric = importlib.import_module("ethereum_types.numeric")
        self.Account = fork_types.Account
        self.Trie = self.trie.Trie
        self.Uint, self.U256, self.U64 = numeric.Uint, numeric.U256, numeric.U64
        self.Bytes = importlib.import_module("ethereum_types.bytes").Bytes
        self.eels_rlp = importlib.import_module("ethereum_rlp").rlp
        self.exceptions = importlib.import_module("ethereum.exceptions")
        environment = importlib.import_module(f"{base}.vm.instructions.environment")
        if not getattr(environment.keccak256, "eels_verifier_hook", False):
            environment.keccak256 = _known_hash(environment.keccak256)


@cache
def load_fork(name: str) -> _Fork:
    return _Fork(name)


def _decode_transactions(f: _Fork, raw: bytes) -> list:
    try:
        items = f.eels_rlp.decode(raw)
        if not isinstance(items, list | tuple):
            raise ValueError("not a list")
        txs = []
        for item in items:
            if isinstance(item, bytes):
                txs.append(f.transactions.decode_transaction(item))
            else:
                txs.append(f.eels_rlp.deserialize_to(f.transactions.LegacyTransaction, item))
        return txs
    except Exception as exc:
        raise Invalid(Reason.TX_ENCODING, f"EELS: transactions do not decode: {exc}") from exc


class BlockHashes(list):
    """EELS's last-256 block hashes, oldest first: a hash the hash-linked chain does not
    give (``None``) is reason 7 when BLOCKHASH reads it, as for py-evm."""

    def __getitem__(self, index):
        value = list.__getitem__(self, index)
        if value is None:
            raise WitnessMissing("BLOCKHASH of an ancestor outside the hash-linked headers")
        return value


def _block_hashes(chain: list) -> BlockHashes:
    """Oldest first, the parent's hash last, over the 256-block window: the hash of block k
    is known iff header k+1 is in the hash-linked chain."""
    known = [_hash32(chain[0].hash)]
    known += [_hash32(h.parent_hash) for h in chain if h.block_number > 0]
    known = known[:BLOCK_HASH_WINDOW]
    window = min(BLOCK_HASH_WINDOW, chain[0].block_number + 1)
    padded = known + [None] * (window - len(known))
    return BlockHashes(reversed(padded))


def _post_state_root(source: WitnessSource, state, pre_root: bytes) -> bytes:
    """EELS's changes applied to the partial witness trie."""
    nodes = _Overlay(source.nodes)
    accounts = HexaryTrie(nodes, pre_root)
    storage_tries = state._storage_tries
    try:
        for address, account in state._main_trie._data.entries():
            address = bytes(address)
            key = keccak(address)
            if account is ABSENT:
                accounts.delete(key)  # a no-op for an account that never existed
                continue
            storage_root = source.storage_root(address)
            trie = dict.get(storage_tries, address)
            if trie is not None:
                data = trie._data
                if isinstance(data, LazyStorage):
                    storage = HexaryTrie(nodes, data.root)
                    slots = data.entries()
                else:
                    storage = HexaryTrie(nodes, EMPTY_ROOT)
                    slots = data.items()
                for slot, value in slots:
                    slot_key = keccak(bytes(slot))
                    if value is ABSENT or int(value) == 0:
                        storage.delete(slot_key)
                    else:
                        storage.set(slot_key, rlp.encode(int(value)))
                storage_root = storage.root_hash
            code = account.code
            code_hash = code._raw() if isinstance(code, CodeStandIn) else keccak(bytes(code))
            accounts.set(
                key,
                rlp.encode([int(account.nonce), int(account.balance), storage_root, code_hash]),
            )
    except MissingTrieNode as exc:
        raise WitnessMissing(
            f"trie node {exc.missing_node_hash.hex()} (needed for the post-state root) "
            "is not in the witness"
        ) from exc
    return accounts.root_hash


class _Overlay(dict):
    """New trie nodes over the witness's."""

    def __init__(self, base: dict) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, key):
        return self.base[key]

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self.base


def _run_block(f: _Fork, inp: ExecuteInput, witness: Witness, chain: list) -> Verdict:
    parent = chain[0]
    U256, Uint, U64 = f.U256, f.Uint, f.U64
    base_fee = f.fork.calculate_base_fee_per_gas(
        Uint(inp.gas_limit),
        Uint(parent.gas_limit),
        Uint(parent.gas_used),
        Uint(parent.base_fee_per_gas),
    )
    if int(base_fee) > UINT256_MAX:
        raise Invalid(Reason.HEADER_RULE, "base fee per gas exceeds uint256")
    transactions = _decode_transactions(f, inp.transactions)
    source = WitnessSource(f, witness.nodes, parent.state_root)
    state = f.state.State()
    main = f.Trie(secured=True, default=None)
    main._data = LazyAccounts(source)
    state._main_trie = main
    state._storage_tries = LazyStorageTries(source)
    state._snapshots = Snapshots(source)
    block_hashes = _block_hashes(chain)
    block_env = f.vm.BlockEnvironment(
        chain_id=U64(inp.chain_id),
        state=state,
        block_gas_limit=Uint(inp.gas_limit),
        block_hashes=block_hashes,
        coinbase=_address(f, inp.coinbase),
        number=Uint(inp.number),
        base_fee_per_gas=base_fee,
        time=U256(inp.timestamp),
        prev_randao=_hash32(inp.prev_randao),
        excess_blob_gas=U64(0),
        parent_beacon_block_root=_hash32(inp.l1_anchor),
    )
    output = f.vm.BlockOutput()
    f.fork.process_unchecked_system_transaction(
        block_env=block_env,
        target_address=f.fork.BEACON_ROOTS_ADDRESS,
        data=block_env.parent_beacon_block_root,
    )
    f.fork.process_unchecked_system_transaction(
        block_env=block_env,
        target_address=f.fork.HISTORY_STORAGE_ADDRESS,
        data=block_env.block_hashes[-1],
    )
    for index, tx in enumerate(transactions):
        if isinstance(tx, f.transactions.BlobTransaction):
            raise Invalid(Reason.INVALID_TRANSACTION, f"transaction {index}: blobs on the L2")
        tx_chain_id = getattr(tx, "chain_id", None)
        if tx_chain_id is not None and int(tx_chain_id) != inp.chain_id:
            raise Invalid(Reason.INVALID_TRANSACTION, f"transaction {index}: wrong chain id")
        f.fork.process_transaction(block_env, output, tx, Uint(index))
    f.fork.process_withdrawals(block_env, output, ())
    f.fork.process_general_purpose_requests(block_env=block_env, block_output=output)

    gas_used = int(output.block_gas_used)
    if int(base_fee) * gas_used > UINT256_MAX:
        raise Invalid(Reason.HEADER_RULE, "burned fees (base fee * gas used) exceed uint256")
    if output.requests:
        raise Invalid(Reason.EXECUTION_REQUESTS, "the block produced execution requests")
    if gas_used != inp.gas_used:
        raise Invalid(Reason.GAS_USED, f"EELS: block used {gas_used} gas, not {inp.gas_used}")
    receipts_root = bytes(f.trie.root(output.receipts_trie))
    if receipts_root != inp.receipts_root:
        raise Invalid(Reason.RECEIPTS_ROOT, "EELS: receipts root differs")
    post_root = _post_state_root(source, state, parent.state_root)
    if post_root != inp.post_state_root:
        raise Invalid(Reason.POST_STATE_ROOT, "EELS: post-state root differs")
    header = f.blocks.Header(
        parent_hash=_hash32(inp.parent_hash),
        ommers_hash=f.fork.EMPTY_OMMER_HASH,
        coinbase=_address(f, inp.coinbase),
        state_root=_hash32(post_root),
        transactions_root=f.trie.root(output.transactions_trie),
        receipt_root=_hash32(receipts_root),
        bloom=f.bloom.logs_bloom(output.block_logs),
        difficulty=Uint(0),
        number=Uint(inp.number),
        gas_limit=Uint(inp.gas_limit),
        gas_used=Uint(gas_used),
        timestamp=U256(inp.timestamp),
        extra_data=f.Bytes(b""),
        prev_randao=_hash32(inp.prev_randao),
        nonce=importlib.import_module("ethereum_types.bytes").Bytes8(bytes(8)),
        base_fee_per_gas=base_fee,
        withdrawals_root=f.trie.root(output.withdrawals_trie),
        blob_gas_used=U64(0),
        excess_blob_gas=U64(0),
        parent_beacon_block_root=_hash32(inp.l1_anchor),
        requests_hash=f.requests.compute_requests_hash([]),
    )
    return Verdict(
        reason=None,
        post_state_root=post_root,
        number=inp.number,
        gas_used=gas_used,
        base_fee_per_gas=int(base_fee),
        block_hash=keccak(f.eels_rlp.encode(header)),
    )


def _hash32(value: bytes):
    return importlib.import_module("ethereum.crypto.hash").Hash32(value)


def _address(f: _Fork, value: bytes):
    return importlib.import_module("ethereum_types.bytes").Bytes20(value)


def reexecute_eels(
    inp: ExecuteInput, transactions: list, witness: Witness, chain: list, vm_class: type
) -> Verdict:
    """The re-execution step of ``precompiles.execute.verify``, run by EELS; raises
    ``Invalid`` for an invalid block."""
    f = load_fork(fork_name(vm_class))
    try:
        return _run_block(f, inp, witness, chain)
    except Invalid:
        raise
    except WitnessMissing as exc:
        raise Invalid(Reason.WITNESS_INCOMPLETE, f"EELS: {exc}") from exc
    except (f.exceptions.InvalidBlock, f.exceptions.InvalidTransaction) as exc:
        missing = _missing_in(exc)
        if missing is not None:
            raise Invalid(Reason.WITNESS_INCOMPLETE, f"EELS: {missing}") from exc
        raise Invalid(Reason.INVALID_TRANSACTION, f"EELS: {type(exc).__name__}: {exc}") from exc


def _missing_in(exc: BaseException) -> WitnessMissing | None:
    seen = exc
    while seen is not None:
        if isinstance(seen, WitnessMissing):
            return seen
        seen = seen.__context__
    return None


class EelsVerifier:
    name = "eels"

    def verify(self, inp: ExecuteInput, vm_class: type, transactions=None) -> Verdict:
        from precompiles.execute import verify

        return verify(inp, vm_class, transactions, reexecute=reexecute_eels)
