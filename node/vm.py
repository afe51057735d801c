"""Building a VM or a state for a header: the one place that picks a chain's fork class and
hands it the chain's database and contexts.

``vm_class_for(genesis)`` picks the fork: the L1 (EXECUTE, its market, the delayed state root
when switched on), a native-rollup L2, or the plain devnet. A ``VMFactory`` then builds, for
any header, a VM (block building, import, replay), a state at the header's ``state_root`` in
the header's block context, or a throw-away simulation state that the fork class prepares
itself (``prepare_simulation_state``: the L1 gives it the pending block's EXECUTE market).
"""

from __future__ import annotations

from functools import lru_cache

from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI, ChainDatabaseAPI, StateAPI
from eth.db.account import AccountDB
from eth.vm.chain_context import ChainContext
from eth_utils import get_extended_debug_logger

from node.fork import DevnetPragueVM
from node.fork.schedule import fork_classes_for
from node.genesis import Genesis
from precompiles.reexecute import LIGHT_ACCOUNT_WRITES, LightAccountWrites

# Builder variants kept (one per fork class; a chain made again, as anvil_reset does, gets a
# class of its own).
BUILDER_CLASSES = 32


def vm_class_for(genesis: Genesis) -> type[DevnetPragueVM]:
    """The fork class a chain from ``genesis`` runs at its genesis: the L1 carries EXECUTE;
    an L2 (or a plain devnet) runs the same rules without it. Each fork's class carries the
    chain's ``fork_classes`` (``node.fork.schedule``): a ``VMFactory`` picks among them by
    a header's timestamp."""
    return fork_classes_for(genesis).at(genesis.timestamp)


class VMFactory:
    """Builds VMs and states of one chain's fork class on that chain's database."""

    def __init__(
        self,
        vm_class: type[DevnetPragueVM],
        chain_id: int,
        chaindb: ChainDatabaseAPI,
        consensus_context: object,
    ) -> None:
        self.vm_class = vm_class
        self.chain_id = chain_id
        self.chaindb = chaindb
        self.consensus_context = consensus_context

    @property
    def db(self) -> AtomicDatabaseAPI:
        return self.chaindb.db

    def class_at(self, timestamp: int) -> type[DevnetPragueVM]:
        """The fork class of a block at ``timestamp`` (the chain's fork schedule)."""
        forks = getattr(self.vm_class, "fork_classes", None)
        return self.vm_class if forks is None else forks.at(timestamp)

    def vm(
        self,
        header: BlockHeaderAPI,
        chaindb: ChainDatabaseAPI | None = None,
        builder: bool = False,
    ) -> DevnetPragueVM:
        """A VM for the block of ``header`` (which holds the state root it starts from), on
        the chain's database or on ``chaindb`` (a recording one, for a witness); with
        ``builder``, the fork class's builder variant (``builder_vm_class``)."""
        vm_class = self.class_at(header.timestamp)
        if builder:
            vm_class = builder_vm_class(vm_class)
        return vm_class(
            header=header,
            chaindb=chaindb if chaindb is not None else self.chaindb,
            chain_context=ChainContext(self.chain_id),
            consensus_context=self.consensus_context,
        )

    def state(self, header: BlockHeaderAPI) -> StateAPI:
        """A state at ``header.state_root`` running in ``header``'s block context (its
        ancestors' hashes for BLOCKHASH)."""
        vm_class = self.class_at(header.timestamp)
        prev_hashes = vm_class.get_prev_hashes(header.parent_hash, self.chaindb)
        return vm_class.build_state(self.db, header, ChainContext(self.chain_id), prev_hashes)

    def simulation_state(
        self,
        header: BlockHeaderAPI,
        state_root: bytes,
        head: BlockHeaderAPI,
        costless: bool = False,
    ) -> StateAPI:
        """A throw-away state at ``state_root`` in ``header``'s block context (base fee zero
        when ``costless``), prepared by the fork class for a call in the block after
        ``head``."""
        # The block context straight from ``header`` (no header copies: py-evm's copy
        # deep-copies every field), the base fee zeroed when costless.
        context = _ContextHeader(header, 0) if costless else header
        vm_class = self.class_at(header.timestamp)
        prev_hashes = vm_class.get_prev_hashes(header.parent_hash, self.chaindb)
        execution_context = vm_class.create_execution_context(
            context, prev_hashes, ChainContext(self.chain_id)
        )
        # The builder's state variant: the same rules, lighter account writes.
        state_class = builder_vm_class(vm_class).get_state_class()
        state = state_class(self.db, execution_context, state_root)
        vm_class.prepare_simulation_state(state, head)
        return state


class _ContextHeader:
    """A header seen with another base fee (what a block context reads of it)."""

    __slots__ = ("header", "base_fee_per_gas")

    def __init__(self, header: BlockHeaderAPI, base_fee_per_gas: int) -> None:
        self.header = header
        self.base_fee_per_gas = base_fee_per_gas

    def __getattr__(self, name: str):
        return getattr(self.header, name)


@lru_cache(maxsize=BUILDER_CLASSES)
def builder_vm_class(vm_class: type[DevnetPragueVM]) -> type[DevnetPragueVM]:
    """``vm_class`` as the block builder runs it: the same rules, with a state whose account
    writes build the new ``Account`` from its fields instead of deep-copying it
    (``precompiles.reexecute.LightAccountWrites``: same validation, same journal entries)
    and whose logger is made once (py-evm makes it anew on every access, a few times per
    transaction). Blocks built with it equal py-evm's (tests/unit/test_builder_differential.py
    imports them through the plain class)."""
    state_class = vm_class.get_state_class()
    db_class = state_class.get_account_db_class()
    if all(getattr(db_class, name) is getattr(AccountDB, name) for name in LIGHT_ACCOUNT_WRITES):
        db_class = type(f"Light{db_class.__name__}", (LightAccountWrites, db_class), {})
    logger = get_extended_debug_logger(f"eth.vm.state.{state_class.__name__}")
    state = type(
        f"Builder{state_class.__name__}",
        (state_class,),
        {"account_db_class": db_class, "logger": property(lambda self: logger)},
    )
    built = type(f"Builder{vm_class.__name__}", (vm_class,), {"_state_class": state})
    return built
