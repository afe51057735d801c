"""The L1 fork: the devnet's Prague plus what makes it a "patched" L1 for native rollups.

- the EXECUTE precompile at 0x0101, re-executing L2 blocks under the devnet's own Prague
  rules minus EXECUTE (``DevnetPragueVM``; no nested EXECUTE in v1);
- the execute-gas market: two header fields after ``requests_hash`` (``execute_gas_used``,
  ``execute_base_fee_per_gas``), a per-block cumulative limit, the fee burned from
  ``tx.origin`` outside the state journal, and a builder that defers rather than includes a
  call that would overflow the limit;
- the one-slot delayed state root (EIP-7862), switchable: header n carries the post-state
  root of block n-1, and import checks it (``node.delayed_root``).

Market settings and the delayed-root switch are class attributes set per chain with
``L1PragueVM.configure(...)``.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound
from eth.vm.forks.prague.blocks import PragueBackwardsHeader, PragueBlock, PragueBlockHeader
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth_utils import ValidationError
from rlp.sedes import CountableList, big_endian_int

from node.delayed_root import DelayedStateRoot
from node.errors import InvalidTransaction, TxRejection
from node.fork import DevnetPragueVM
from node.fork.headers import create_devnet_header_from_parent
from node.fork.precompiles import DEVNET_PRECOMPILES, DevnetPragueComputation
from node.fork.state import DevnetPragueState
from node.fork.system_calls import KeepSystemContracts
from precompiles.execute import make_execute_precompile
from precompiles.execute_market import BlockExecuteMarket, MarketParams, next_execute_base_fee
from precompiles.execute_wire import EXECUTE_ADDRESS

L1_HEADER_FIELD_COUNT = len(PragueBlockHeader._meta.fields) + 2
PRAGUE_FIELD_NAMES = frozenset(PragueBlockHeader._meta.field_names)


class L1BlockHeader(PragueBlockHeader):
    """A Prague header with the execute-gas market's two fields appended."""

    fields = [
        *PragueBlockHeader._meta.fields,
        ("execute_gas_used", big_endian_int),
        ("execute_base_fee_per_gas", big_endian_int),
    ]

    def __init__(
        self,
        *args: Any,
        execute_gas_used: int = 0,
        execute_base_fee_per_gas: int = 0,
        **kwargs: Any,
    ) -> None:
        if args or len(kwargs) != len(PRAGUE_FIELD_NAMES):
            # Prague's constructor fills the fields not given (its defaults).
            prague = PragueBlockHeader(*args, **kwargs)
            kwargs = {name: getattr(prague, name) for name in PRAGUE_FIELD_NAMES}
        values = kwargs  # every Prague field given by name: nothing to fill
        rlp.Serializable.__init__(
            self,
            **values,
            execute_gas_used=execute_gas_used,
            execute_base_fee_per_gas=execute_base_fee_per_gas,
        )

    def __str__(self) -> str:
        return f"<L1BlockHeader #{self.block_number} {self.hash.hex()[:8]}>"


class L1HeaderSedes(PragueBackwardsHeader):
    """Decodes L1 headers as well as every header py-evm knows."""

    @classmethod
    def deserialize(cls, encoded: list[bytes]) -> BlockHeaderAPI:
        if len(encoded) == L1_HEADER_FIELD_COUNT:
            return L1BlockHeader.deserialize(encoded)
        return super().deserialize(encoded)


class L1ChainDB(ChainDB):
    @staticmethod
    def _get_block_header_by_hash(db, block_hash: bytes) -> BlockHeaderAPI:  # type: ignore[override]
        try:
            header_rlp = db[block_hash]
        except KeyError:
            raise HeaderNotFound(f"No header with hash 0x{block_hash.hex()} found") from None
        return rlp.decode(header_rlp, sedes=L1HeaderSedes)


class L1Block(PragueBlock):
    fields = [
        ("header", L1BlockHeader),
        ("transactions", CountableList(PragueBlock.transaction_builder)),
        ("uncles", CountableList(None, max_length=0)),
        ("withdrawals", CountableList(Withdrawal)),
    ]


def market_of(computation: ComputationAPI) -> BlockExecuteMarket:
    return computation.state.execute_market


execute_precompile = make_execute_precompile(l2_vm_class=DevnetPragueVM, market_for=market_of)


L1_PRECOMPILES = {**DEVNET_PRECOMPILES, EXECUTE_ADDRESS: execute_precompile}


class L1PragueComputation(DevnetPragueComputation):
    _precompiles = L1_PRECOMPILES


class L1TransactionExecutor(PragueTransactionExecutor):
    def finalize_computation(
        self, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> ComputationAPI:
        computation = super().finalize_computation(transaction, computation)
        # The execute fee was drawn outside the journal as calls ran; burn it now, after
        # the transaction's own reverts can no longer undo it.
        owed = self.vm_state.execute_market.take_owed(transaction.sender)
        if owed:
            balance = self.vm_state.get_balance(transaction.sender)
            self.vm_state.delta_balance(transaction.sender, -min(owed, balance))
        return computation


class L1PragueState(KeepSystemContracts, DevnetPragueState):
    computation_class = L1PragueComputation
    transaction_executor_class = L1TransactionExecutor
    _execute_market: BlockExecuteMarket | None = None

    @property
    def execute_market(self) -> BlockExecuteMarket:
        """The market of the block this state runs (set by the VM or a simulation); a
        state nobody set one for gets its own, priced at zero."""
        if self._execute_market is None:
            self._execute_market = BlockExecuteMarket(MarketParams(), price=0)
        return self._execute_market

    @execute_market.setter
    def execute_market(self, market: BlockExecuteMarket) -> None:
        self._execute_market = market


class L1PragueVM(DelayedStateRoot, DevnetPragueVM):
    block_class = L1Block
    _state_class = L1PragueState
    market_params: MarketParams = MarketParams()

    # -- headers --------------------------------------------------------------------------

    @classmethod
    def create_header_from_parent(  # type: ignore[override]
        cls, parent_header: BlockHeaderAPI | None, **header_params: Any
    ) -> BlockHeaderAPI:
        used = header_params.pop("execute_gas_used", 0)
        fee = header_params.pop("execute_base_fee_per_gas", None)
        if fee is None:
            fee = cls.expected_execute_base_fee(parent_header)
        prague = create_devnet_header_from_parent(parent_header, **header_params)
        return L1BlockHeader(
            **prague.as_dict(), execute_gas_used=used, execute_base_fee_per_gas=fee
        )

    @classmethod
    def template_fork_fields(cls, parent: BlockHeaderAPI) -> dict:
        return {
            "execute_gas_used": 0,
            "execute_base_fee_per_gas": cls.expected_execute_base_fee(parent),
        }

    @classmethod
    def expected_execute_base_fee(cls, parent: BlockHeaderAPI | None) -> int:
        if parent is None or parent.block_number == 0:
            return cls.market_params.initial_base_fee
        return next_execute_base_fee(
            cls.market_params,
            getattr(parent, "execute_gas_used", None),
            getattr(parent, "execute_base_fee_per_gas", None),
        )

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        super().validate_header(header, parent_header)
        expected = cls.expected_execute_base_fee(parent_header)
        if header.execute_base_fee_per_gas != expected:
            raise ValidationError(
                f"execute base fee {header.execute_base_fee_per_gas}, expected {expected}"
            )
        if header.execute_gas_used > cls.market_params.limit:
            raise ValidationError(
                f"execute gas used {header.execute_gas_used} above the limit "
                f"{cls.market_params.limit}"
            )

    # -- the block's market -----------------------------------------------------------------

    @classmethod
    def prepare_simulation_state(cls, state: StateAPI, head: BlockHeaderAPI) -> None:
        # EXECUTE calls see the pending block's market (its price, nothing used yet) and
        # skip only the solvency check.
        state.execute_market = BlockExecuteMarket(
            cls.market_params,
            price=cls.expected_execute_base_fee(head),
            check_solvency=False,
        )

    def block_preprocessing(self, block: BlockAPI) -> None:
        self.state.execute_market = BlockExecuteMarket(
            self.market_params, price=block.header.execute_base_fee_per_gas
        )
        super().block_preprocessing(block)

    def block_postprocessing(self, block: BlockAPI) -> BlockAPI:
        block = super().block_postprocessing(block)
        used = self.state.execute_market.used
        return block.copy(header=block.header.copy(execute_gas_used=used))

    def builder_header_fields(self) -> dict:
        return {
            **super().builder_header_fields(),
            "execute_gas_used": self.state.execute_market.used,
        }

    def checkpoint_outside_journal(self) -> object:
        return self.state.execute_market.checkpoint()

    def restore_outside_journal(self, checkpoint: object) -> None:
        self.state.execute_market.restore(checkpoint)  # type: ignore[arg-type]

    def observe_before(self, transaction: SignedTransactionAPI) -> object:
        market = self.state.execute_market
        market.limit_hit = 0
        return (super().observe_before(transaction), market.used)

    def refusal(
        self, transaction: SignedTransactionAPI, before: object
    ) -> InvalidTransaction | None:
        parent_before, used_before = before  # type: ignore[misc]
        refused = super().refusal(transaction, parent_before)
        if refused is not None or not self.state.execute_market.limit_hit:
            return refused
        if self.state.execute_market.limit_hit > self.market_params.limit:
            # Even an otherwise empty block cannot hold this call: it never fits.
            return InvalidTransaction(
                TxRejection.EXECUTE_RESERVATION_TOO_LARGE,
                f"limit {self.market_params.limit}",
            )
        return InvalidTransaction(
            TxRejection.EXECUTE_LIMIT,
            f"block has used {used_before} of {self.market_params.limit} execute gas",
        )
