"""The fork schedule: which rules (Prague or Osaka) a block runs, by its timestamp.

A chain's schedule comes from its genesis (geth's ``config.pragueTime`` and
``config.osakaTime``: 0 from genesis, absent never) or from ``--hardfork prague|osaka``,
which pins one fork from genesis. ``fork_classes_for(genesis)`` builds the chain's VM class
of each fork; ``node.vm.VMFactory`` picks one by a header's timestamp, so block building,
import, simulation, tracing, proofs and witnesses all run a block under its own fork.

On the L1, EXECUTE re-executes an L2 block under the rules this same schedule gives the L2
header's timestamp (NR-EXECUTE v1.1 "Fork rules"): a native rollup forks with its L1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the fork classes import py-evm's forks; the genesis loader need not
    from node.genesis import Genesis

PRAGUE = "prague"
OSAKA = "osaka"
HARDFORKS = (PRAGUE, OSAKA)


@dataclass(frozen=True)
class ForkSchedule:
    """Activation timestamps. Prague is active from genesis (the devnet runs nothing
    older); ``osaka_time`` None means Osaka never activates."""

    osaka_time: int | None = 0
    prague_time: int = 0

    @classmethod
    def pinned(cls, fork: str) -> ForkSchedule:
        """One fork from genesis (``--hardfork``)."""
        if fork not in HARDFORKS:
            raise ValueError(f"unknown hardfork {fork!r}: one of {', '.join(HARDFORKS)}")
        return cls(osaka_time=0 if fork == OSAKA else None)

    def fork_at(self, timestamp: int) -> str:
        if self.osaka_time is not None and timestamp >= self.osaka_time:
            return OSAKA
        return PRAGUE

    def activations(self) -> list[tuple[str, int]]:
        """(fork, activation time) in order, each fork that ever activates."""
        out = [(PRAGUE, self.prague_time)]
        if self.osaka_time is not None:
            out.append((OSAKA, self.osaka_time))
        return out

    def next_after(self, timestamp: int) -> tuple[str, int] | None:
        """The next fork to activate after ``timestamp``, or None."""
        for fork, time in self.activations():
            if time > timestamp:
                return fork, time
        return None

    def describe(self, genesis_timestamp: int = 0) -> str:
        """ "osaka", or "prague (osaka at 1767225600)" for a fork still to come."""
        now = self.fork_at(genesis_timestamp)
        upcoming = self.next_after(genesis_timestamp)
        return now if upcoming is None else f"{now} ({upcoming[0]} at {upcoming[1]})"

    def as_genesis_config(self) -> dict[str, int]:
        config = {"pragueTime": self.prague_time}
        if self.osaka_time is not None:
            config["osakaTime"] = self.osaka_time
        return config


class ForkClasses:
    """A chain's VM class for each fork of its schedule."""

    def __init__(self, schedule: ForkSchedule, classes: dict[str, type]) -> None:
        self.schedule = schedule
        self.classes = classes

    def at(self, timestamp: int) -> type:
        return self.classes[self.schedule.fork_at(timestamp)]

    def describe(self, genesis_timestamp: int = 0) -> str:
        return self.schedule.describe(genesis_timestamp)


def _with_computation(vm_class: type, opcodes: dict, precompiles: dict, name: str) -> type:
    """``vm_class`` whose computations also run ``opcodes`` and ``precompiles``."""
    state_class = vm_class.get_state_class()
    base = state_class.computation_class
    computation = type(
        base.__name__,
        (base,),
        {
            "opcodes": {**base.opcodes, **opcodes},
            "_precompiles": {**base._precompiles, **precompiles},
        },
    )
    state = type(state_class.__name__, (state_class,), {"computation_class": computation})
    return type(name, (vm_class,), {"_state_class": state})


def l2_rules(schedule: ForkSchedule) -> ForkClasses:
    """The rules EXECUTE re-executes an L2 block under, by the L2 header's timestamp: the
    devnet's own forks minus EXECUTE."""
    from node.fork import DevnetPragueVM
    from node.fork.osaka import DevnetOsakaVM

    return ForkClasses(schedule, {PRAGUE: DevnetPragueVM, OSAKA: DevnetOsakaVM})


def fork_classes_for(genesis: Genesis) -> ForkClasses:
    """The VM class of each fork for a chain from ``genesis``: the L1 (EXECUTE, its market,
    the delayed state root when switched on), a native-rollup L2, or the plain devnet."""
    from node.fork import DevnetPragueVM, L2PragueVM
    from node.fork.l1 import L1PragueVM, market_of
    from node.fork.osaka import DevnetOsakaVM, L2OsakaVM
    from node.fork.osaka.execute import scheduled_execute_precompile
    from node.fork.osaka.l1 import L1OsakaVM
    from node.fork.osaka.opcodes import PRE_OSAKA_OPCODES
    from precompiles.execute_market import MarketParams
    from precompiles.execute_wire import EXECUTE_ADDRESS

    schedule = genesis.fork_schedule
    extra: dict[bytes, object] = {}
    if genesis.execute.enabled:
        e = genesis.execute
        settings = {
            "market_params": MarketParams(
                e.gas_limit, e.gas_target, e.initial_base_fee, e.min_base_fee
            ),
            "delayed_state_root": genesis.delayed_state_root,
        }
        prague = L1PragueVM.configure(__name__="L1PragueVM", **settings)
        osaka = L1OsakaVM.configure(__name__="L1OsakaVM", **settings)
        # One EXECUTE (and verdict cache) per chain: its L2 rules follow this schedule.
        extra[EXECUTE_ADDRESS] = scheduled_execute_precompile(l2_rules(schedule).at, market_of)
        if tuple(genesis.execute_verifiers) != ("pyevm",):  # NR-EXECUTE v1.2
            from precompiles.verifiers import VerifierSet

            extra[EXECUTE_ADDRESS].verdicts.verifiers = VerifierSet.named(
                list(genesis.execute_verifiers), genesis.execute_verifier_mode
            )
    elif genesis.role == "l2":
        prague, osaka = L2PragueVM, L2OsakaVM
    else:
        prague, osaka = DevnetPragueVM, DevnetOsakaVM
    prague = _with_computation(prague, PRE_OSAKA_OPCODES, extra, prague.__name__)
    osaka = _with_computation(osaka, {}, extra, osaka.__name__)
    forks = ForkClasses(schedule, {})
    for fork, cls in ((PRAGUE, prague), (OSAKA, osaka)):
        forks.classes[fork] = type(cls.__name__, (cls,), {"fork_classes": forks})
    return forks


# -- EIP-7910 (eth_config) and EIP-6122 fork ids ----------------------------------------

# EIP-7910's names of the precompiles, by address; EXECUTE is this devnet's own.
PRECOMPILE_NAMES = {
    0x01: "ECREC",
    0x02: "SHA256",
    0x03: "RIPEMD160",
    0x04: "ID",
    0x05: "MODEXP",
    0x06: "BN254_ADD",
    0x07: "BN254_MUL",
    0x08: "BN254_PAIRING",
    0x09: "BLAKE2F",
    0x0A: "KZG_POINT_EVALUATION",
    0x0B: "BLS12_G1ADD",
    0x0C: "BLS12_G1MSM",
    0x0D: "BLS12_G2ADD",
    0x0E: "BLS12_G2MSM",
    0x0F: "BLS12_PAIRING_CHECK",
    0x10: "BLS12_MAP_FP_TO_G1",
    0x11: "BLS12_MAP_FP2_TO_G2",
    0x100: "P256VERIFY",
    0x101: "EXECUTE",
}

# Prague's blob schedule (EIP-7691), which Osaka keeps.
BLOB_SCHEDULE = {"baseFeeUpdateFraction": 5_007_716, "max": 9, "target": 6}


def precompile_names(vm_class: type) -> dict[str, bytes]:
    """The fork's precompiles (its computation's table) by EIP-7910 name."""
    table = vm_class.get_state_class().computation_class._precompiles
    out = {}
    for address in table:
        number = int.from_bytes(address, "big")
        out[PRECOMPILE_NAMES.get(number, f"PRECOMPILE_{number:#x}")] = address
    return out


def system_contracts() -> dict[str, bytes]:
    """EIP-7910's system contracts of Prague and Osaka (the devnet has no deposit contract:
    deposits are a beacon-chain matter)."""
    from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
    from eth.vm.forks.prague.constants import (
        CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
        HISTORY_STORAGE_ADDRESS,
        WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    )

    return {
        "BEACON_ROOTS_ADDRESS": BEACON_ROOTS_ADDRESS,
        "CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS": CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
        "HISTORY_STORAGE_ADDRESS": HISTORY_STORAGE_ADDRESS,
        "WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS": WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    }


def fork_id(genesis_hash: bytes, genesis_timestamp: int, schedule: ForkSchedule, at: int) -> bytes:
    """EIP-2124/6122 fork hash at timestamp ``at``: CRC32 of the genesis hash, then of each
    time-based fork activated after genesis and by ``at`` (8-byte big-endian)."""
    import zlib

    checksum = zlib.crc32(genesis_hash)
    for _fork, time in schedule.activations():
        if genesis_timestamp < time <= at:
            checksum = zlib.crc32(time.to_bytes(8, "big"), checksum)
    return checksum.to_bytes(4, "big")


# -- a data directory keeps its schedule ---------------------------------------------------

SCHEDULE_KEY = b"native-devnet:fork-schedule"


def _encoded(schedule: ForkSchedule) -> bytes:
    osaka = "never" if schedule.osaka_time is None else str(schedule.osaka_time)
    return f"prague={schedule.prague_time};osaka={osaka}".encode()


def check_stored_schedule(db, schedule: ForkSchedule) -> None:
    """A chain's database records its fork schedule the first time; a node resuming it (or
    loading a state into it) with another schedule is refused: the same blocks would run
    other rules and the chain would split. Raises ``node.genesis.GenesisError``."""
    from node.genesis import GenesisError

    wanted = _encoded(schedule)
    if SCHEDULE_KEY not in db:
        with db.block_transaction():
            db[SCHEDULE_KEY] = wanted
        return
    stored = bytes(db[SCHEDULE_KEY])
    if stored != wanted:
        raise GenesisError(
            f"the data directory's chain runs the fork schedule {stored.decode()}, not "
            f"{wanted.decode()} (--hardfork or the genesis' pragueTime/osakaTime)"
        )
