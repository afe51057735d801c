"""Geth-style genesis files (``config``, ``alloc``, ``gasLimit``, ``baseFeePerGas``, ...).

This project's own settings live under ``config.nativeDevnet``. The loader is the boundary
where file text (hex) becomes Python values; past it the chain sees ints and bytes only.

The shipped genesis files (``genesis/l1.json``, ``genesis/l2.json``) are package data, read
with ``importlib.resources``: an installed node finds them from any directory, and a path
such as ``genesis/l2.json`` that does not exist relative to the working directory names the
shipped file of that name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    HISTORY_STORAGE_ADDRESS,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
)
from eth_utils import decode_hex, to_canonical_address

from node.fork.schedule import ForkSchedule

SHIPPED_GENESIS = resources.files("genesis")
DEFAULT_L1_GENESIS = SHIPPED_GENESIS / "l1.json"
DEFAULT_L2_GENESIS = SHIPPED_GENESIS / "l2.json"

# Prague blocks are invalid without these (py-evm silently skips the last two when absent).
SYSTEM_CONTRACTS = (
    BEACON_ROOTS_ADDRESS,
    HISTORY_STORAGE_ADDRESS,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
)


class GenesisError(ValueError):
    """A genesis file that cannot be used, with the reason."""


@dataclass(frozen=True)
class GenesisAccount:
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecuteParams:
    """EXECUTE market settings (used by the L1 fork; absent on an L2)."""

    enabled: bool = False
    gas_limit: int = 10_000_000
    gas_target: int = 5_000_000
    initial_base_fee: int = 1_000_000_000
    min_base_fee: int = 1


@dataclass(frozen=True)
class Genesis:
    chain_id: int
    gas_limit: int
    base_fee_per_gas: int
    timestamp: int
    extra_data: bytes
    coinbase: bytes
    mix_hash: bytes
    alloc: dict[bytes, GenesisAccount]
    execute: ExecuteParams
    delayed_state_root: bool
    name: str = "devnet"
    role: str = "l1"  # "l1" (carries EXECUTE when enabled) or "l2" (a native rollup)
    # Record every block's execution witness as it is built (--record-witnesses); None:
    # an L2 does (its sequencer feeds them to EXECUTE), an L1 re-runs a block when asked.
    record_witnesses: bool | None = None
    # Which fork runs when (``config.pragueTime``/``config.osakaTime``, ``--hardfork``).
    fork_schedule: ForkSchedule = field(default_factory=ForkSchedule)
    # EXECUTE's verifiers and their mode (``config.executeVerifiers``, NR-EXECUTE v1.2).
    execute_verifiers: tuple[str, ...] = ("pyevm",)
    execute_verifier_mode: str = "all"

    def with_overrides(self, **changes: Any) -> Genesis:
        return replace(self, **changes)

    def validate(self) -> None:
        """Settings that cannot work together, as a clear error."""
        e = self.execute
        if e.enabled:
            if not 0 < e.gas_target <= e.gas_limit:
                raise GenesisError("execute gas target must be in (0, limit]")
            if e.min_base_fee < 1 or e.initial_base_fee < e.min_base_fee:
                raise GenesisError("execute base fees: need 1 <= min <= initial")
        if self.delayed_state_root and not e.enabled:
            raise GenesisError("the delayed state root is an L1 feature (EXECUTE enabled)")
        if self.gas_limit < 5000:
            raise GenesisError("gas limit must be at least 5000")
        from precompiles.verifiers.policy import check_verifier_config

        try:
            check_verifier_config(self.execute_verifiers, self.execute_verifier_mode)
        except ValueError as exc:
            raise GenesisError(str(exc)) from None
        if self.fork_schedule.prague_time > self.timestamp:
            raise GenesisError(
                f"config.pragueTime {self.fork_schedule.prague_time} is after the genesis "
                f"timestamp {self.timestamp}: the devnet runs Prague or later from genesis"
            )

    def with_accounts(self, addresses: list[bytes], balance: int) -> Genesis:
        alloc = dict(self.alloc)
        for address in addresses:
            existing = alloc.get(address, GenesisAccount())
            alloc[address] = replace(existing, balance=balance)
        return replace(self, alloc=alloc)

    def header_params(self) -> dict[str, Any]:
        """The genesis header fields, as py-evm's ``Chain.from_genesis`` takes them."""
        return {
            "difficulty": 0,
            "gas_limit": self.gas_limit,
            "timestamp": self.timestamp,
            "extra_data": self.extra_data,
            "coinbase": self.coinbase,
            "mix_hash": self.mix_hash,
            "nonce": b"\x00" * 8,
            "base_fee_per_gas": self.base_fee_per_gas,
        }

    def state_dict(self) -> dict[bytes, dict[str, Any]]:
        """The alloc in the shape py-evm's ``Chain.from_genesis`` takes."""
        return {
            address: {
                "balance": acct.balance,
                "nonce": acct.nonce,
                "code": acct.code,
                "storage": dict(acct.storage),
            }
            for address, acct in self.alloc.items()
        }


def _int(value: Any, what: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            pass
    raise GenesisError(f"{what}: expected a number, got {value!r}")


def _bytes(value: Any, what: str) -> bytes:
    try:
        return decode_hex(value) if value else b""
    except (ValueError, TypeError) as exc:
        raise GenesisError(f"{what}: expected hex bytes, got {value!r}") from exc


def _account(address: str, raw: dict[str, Any]) -> tuple[bytes, GenesisAccount]:
    where = f"alloc[{address}]"
    try:
        canonical = to_canonical_address(address if address.startswith("0x") else "0x" + address)
    except ValueError as exc:
        raise GenesisError(f"{where}: not an address") from exc
    storage = {
        _int(k, f"{where}.storage key"): _int(v, f"{where}.storage value")
        for k, v in (raw.get("storage") or {}).items()
    }
    return canonical, GenesisAccount(
        balance=_int(raw.get("balance", 0), f"{where}.balance"),
        nonce=_int(raw.get("nonce", 0), f"{where}.nonce"),
        code=_bytes(raw.get("code", ""), f"{where}.code"),
        storage=storage,
    )


def parse_alloc(raw: Any) -> dict[bytes, GenesisAccount]:
    """A geth-style ``alloc`` object (address -> balance, nonce, code, storage)."""
    if not isinstance(raw, dict):
        raise GenesisError("alloc must be an object")
    for address, acct in raw.items():
        if not isinstance(address, str) or not isinstance(acct, dict):
            raise GenesisError(f"alloc[{address}]: expected an address and an object")
    return dict(_account(a, acct) for a, acct in raw.items())


def alloc_state_root(alloc: dict[bytes, GenesisAccount]) -> bytes:
    """The state root of ``alloc`` as block 0 of a chain carries it."""
    db = AccountDB(AtomicDB())
    for address, acct in alloc.items():
        db.set_balance(address, acct.balance)
        db.set_nonce(address, acct.nonce)
        db.set_code(address, acct.code)
        for slot, value in acct.storage.items():
            db.set_storage(address, slot, value)
    db.persist()
    return db.state_root


MAX_FORK_TIME = 2**64 - 1


def _fork_time(config: dict[str, Any], key: str) -> int | None:
    if key not in config or config[key] is None:
        return None
    value = _int(config[key], f"config.{key}")
    if not 0 <= value <= MAX_FORK_TIME:
        raise GenesisError(f"config.{key}: a timestamp within uint64, got {value}")
    return value


def parse_fork_schedule(config: dict[str, Any]) -> ForkSchedule:
    """geth's ``config.pragueTime`` and ``config.osakaTime`` (0: from genesis; absent:
    never). An absent ``pragueTime`` is read as 0: the devnet has no older fork to run."""
    prague = _fork_time(config, "pragueTime")
    osaka = _fork_time(config, "osakaTime")
    if osaka is not None and prague is not None and osaka < prague:
        raise GenesisError("config.osakaTime is before config.pragueTime")
    return ForkSchedule(osaka_time=osaka, prague_time=prague or 0)


def parse_genesis(doc: dict[str, Any], name: str = "devnet") -> Genesis:
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise GenesisError("genesis must be an object with a 'config' object")
    config = doc["config"]
    own = config.get("nativeDevnet") or {}
    execute_raw = own.get("execute")
    execute = ExecuteParams()
    if execute_raw:
        execute = ExecuteParams(
            enabled=bool(execute_raw.get("enabled", True)),
            gas_limit=_int(
                execute_raw.get("cumulativeGasLimit", execute.gas_limit),
                "execute.cumulativeGasLimit",
            ),
            gas_target=_int(
                execute_raw.get("cumulativeGasTarget", execute.gas_target),
                "execute.cumulativeGasTarget",
            ),
            initial_base_fee=_int(
                execute_raw.get("initialBaseFee", execute.initial_base_fee),
                "execute.initialBaseFee",
            ),
            min_base_fee=_int(
                execute_raw.get("minBaseFee", execute.min_base_fee), "execute.minBaseFee"
            ),
        )
    alloc = parse_alloc(doc.get("alloc") or {})
    missing = [a for a in SYSTEM_CONTRACTS if not alloc.get(a, GenesisAccount()).code]
    if missing:
        raise GenesisError(
            "genesis lacks Prague system contract code at "
            + ", ".join("0x" + a.hex() for a in missing)
        )
    verifiers = config.get("executeVerifiers") or {}
    if not isinstance(verifiers, dict) or not isinstance(verifiers.get("verifiers", []), list):
        raise GenesisError('config.executeVerifiers must be {"verifiers": [...], "mode": ...}')
    return Genesis(
        execute_verifiers=tuple(str(v) for v in verifiers.get("verifiers", ["pyevm"])),
        execute_verifier_mode=str(verifiers.get("mode", "all")),
        fork_schedule=parse_fork_schedule(config),
        chain_id=_int(config.get("chainId", 31337), "config.chainId"),
        gas_limit=_int(doc.get("gasLimit", 30_000_000), "gasLimit"),
        base_fee_per_gas=_int(doc.get("baseFeePerGas", 1_000_000_000), "baseFeePerGas"),
        timestamp=_int(doc.get("timestamp", 0), "timestamp"),
        extra_data=_bytes(doc.get("extraData", ""), "extraData"),
        coinbase=_bytes(doc.get("coinbase", "0x" + "00" * 20), "coinbase"),
        mix_hash=_bytes(doc.get("mixHash", "0x" + "00" * 32), "mixHash"),
        alloc=alloc,
        execute=execute,
        delayed_state_root=bool(own.get("delayedStateRoot", False)),
        name=name,
        role=str(own.get("role", "l1")),
    )


def resolve_genesis(path: str | Path | Traversable) -> Path | Traversable:
    """The file ``path`` names: itself if it exists, else a shipped genesis of that name when
    ``path`` is ``NAME.json`` or ``genesis/NAME.json`` (so ``--genesis genesis/l2.json`` works
    from any directory)."""
    if not isinstance(path, str | Path):
        return path  # already a shipped resource
    local = Path(path)
    if local.exists() or local.suffix != ".json" or local.parent not in (Path(), Path("genesis")):
        return local
    shipped = SHIPPED_GENESIS / local.name
    return shipped if shipped.is_file() else local


def load_genesis(path: str | Path | Traversable) -> Genesis:
    path = resolve_genesis(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise GenesisError(f"cannot read genesis {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise GenesisError(f"genesis {path} is not JSON: {exc}") from exc
    genesis = parse_genesis(doc, name=Path(path.name).stem)
    genesis.validate()
    return genesis
