"""Plain reads of the devnet's chain: headers, blocks, receipts, accounts, proofs, logs and
fee history, all at a given header (``head`` unless asked otherwise).

Mixed into ``node.devnet.Devnet``, which provides ``chain``, ``head``, ``pool`` and
``log_limits``. Log queries and fee history read many blocks, so they run on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI

from node import fees, logs
from node.chain import Chain
from node.errors import UnknownBlock
from node.fees import ExecuteFeeHistory, FeeHistory
from node.interrupt import Deadline
from node.logs import FoundLog, LogFilter, LogLimits
from node.pending import (
    PendingBlock,
    PendingBlocks,
    PendingChain,
    build_pending_block,
    next_timestamp,
)
from node.pool import TxPool
from node.proofs import AccountProof
from node.receipts import ReceiptInfo
from node.witness import ExecutionWitness


class ChainReads:
    """The read side of ``Devnet``."""

    chain: Chain
    head: BlockHeaderAPI
    pool: TxPool
    log_limits: LogLimits
    _next_fields: dict[str, bytes | int]
    _next_timestamp: int | None
    time_offset: int
    coinbase: bytes
    _simulate: Callable[..., Awaitable[Any]]  # node/simulator.py
    _call_deadline: Callable[[], Deadline]
    _on_writer: Callable[..., Awaitable[Any]]  # node/devnet.py

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    def state_nonce(self, sender: bytes) -> int:
        return self.chain.nonce(sender, self.head)

    def pending_nonce(self, sender: bytes) -> int:
        return self.pool.next_nonce(sender, self.state_nonce(sender))

    def next_base_fee(self) -> int:
        """The next block's base fee: ``anvil_setNextBlockBaseFeePerGas``'s, else EIP-1559's."""
        chosen = self._next_fields.get("base_fee_per_gas")
        return chosen if isinstance(chosen, int) else self.chain.next_base_fee(self.head)

    def header_at(self, number: int) -> BlockHeaderAPI:
        if number > self.head.block_number:
            raise UnknownBlock(f"block {number} not found")
        return self.chain.header_by_number(number)

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        header = self.chain.header_by_hash(block_hash)
        if header.block_number > self.head.block_number:
            raise UnknownBlock(f"block 0x{block_hash.hex()} not found")
        return header

    def block(self, header: BlockHeaderAPI) -> BlockAPI:
        return self.chain.block_by_header(header)

    def receipts(self, header: BlockHeaderAPI) -> list[ReceiptInfo]:
        """The block's transactions with their receipts and senders, in block order."""
        return self.chain.receipts_of(header)

    def find_transaction(self, tx_hash: bytes) -> ReceiptInfo | None:
        """A mined transaction (on this chain or one ``evm_revert`` rewound: check the
        block number against the head)."""
        return self.chain.find_transaction(tx_hash)

    def balance(self, address: bytes, header: BlockHeaderAPI) -> int:
        return self.chain_at(header).balance(address, header)

    def nonce(self, address: bytes, header: BlockHeaderAPI) -> int:
        return self.chain_at(header).nonce(address, header)

    def code(self, address: bytes, header: BlockHeaderAPI) -> bytes:
        return self.chain_at(header).code(address, header)

    def storage(self, address: bytes, slot: int, header: BlockHeaderAPI) -> int:
        return self.chain_at(header).storage(address, slot, header)

    def account(self, address: bytes, header: BlockHeaderAPI) -> tuple[int, int, bytes]:
        """Balance, nonce and code of ``address``, read from one state."""
        db = self.chain_at(header).account_db(header)
        return db.get_balance(address), db.get_nonce(address), db.get_code(address)

    def proof(self, address: bytes, slots: list[int], header: BlockHeaderAPI) -> AccountProof:
        return self.chain_at(header).proof(address, slots, header)

    def blob_base_fee(self) -> int:
        return self.chain.pending_state(self.head).blob_base_fee

    async def witness(self, block_hash: bytes) -> ExecutionWitness | None:
        """The block's execution witness, recorded or re-run on the chain-writer thread
        (a re-run reads the chain as the writer leaves it between blocks)."""
        return await self._on_writer(self.chain.execution_witness, block_hash)

    @property
    def vm_class(self) -> type:
        """The VM class of the chain's fork (the L1's carries the EXECUTE market)."""
        return self.chain.vm_class

    @property
    def delayed_state_root(self) -> bool:
        return self.chain.delayed_state_root

    @property
    def data_directory(self) -> str | None:
        """Where the chain is stored; None in memory."""
        return getattr(self.chain.db, "directory", None)

    @property
    def pending_blocks(self) -> PendingBlocks:
        """The cached pending block (made on first use: one per devnet)."""
        cache = self.__dict__.get("_pending_blocks")
        if cache is None:
            cache = self.__dict__["_pending_blocks"] = PendingBlocks()
        return cache

    async def pending_block(self) -> PendingBlock:
        """The block the node would mine now (the ``pending`` tag): the pool's executable
        transactions on top of the head with the next block's fields, executed on a
        simulator thread under the call deadline and never written; built once per head,
        head state, executable transactions, next block's fields and second
        (``node.pending.PendingBlocks``)."""
        head = self.head
        fields = dict(self._next_fields)
        fields.setdefault("coinbase", self.coinbase)
        ordered = self.pool.ordered_for_block(
            self.chain.account_db(head).get_nonce, self.next_base_fee()
        )
        timestamp = next_timestamp(self._next_timestamp, self.time_offset)
        key = (
            head.hash,
            self.chain.state_root_after(head),  # the test-node controls edit it in place
            tuple(p.hash for p in ordered),
            timestamp,
            tuple(sorted(fields.items())),
        )

        def build() -> Awaitable[PendingBlock]:
            return self._simulate(
                self._call_deadline(),
                build_pending_block,
                self.chain,
                head,
                ordered,
                timestamp,
                fields,
            )

        return await self.pending_blocks.get(key, self.chain, build)

    async def pending_header(self) -> BlockHeaderAPI:
        """The pending block's header: every read at it (``chain_at``) sees the state after
        the pool's executable transactions."""
        return (await self.pending_block()).header

    def chain_at(self, header: BlockHeaderAPI) -> Chain | PendingChain:
        """The chain that reads the state after ``header``: for a pending block's header,
        the chain seen from that block; else the chain. A mined block may have its pending
        block's very header (same transactions, fields and time): a header at or below the
        head is the chain's, whose state the test-node controls may since have edited."""
        if header.block_number <= self.head.block_number:
            return self.chain
        view = self.pending_blocks.view(header)
        return self.chain if view is None else view

    async def logs(self, query: LogFilter, since: int | None = None) -> list[FoundLog]:
        """Logs matching ``query`` (only in blocks after ``since`` when given), within
        ``log_limits``, on a worker thread: a query over a long chain reads many blocks and
        must hold up neither other requests nor the chain writer."""
        if since is None:
            return await asyncio.to_thread(logs.logs_matching, self, query, self.log_limits)
        return await asyncio.to_thread(logs.logs_since, self, query, since, self.log_limits)

    async def fee_history(
        self, count: int, newest: BlockHeaderAPI, percentiles: list[float] | None
    ) -> FeeHistory:
        """``eth_feeHistory`` over ``count`` blocks up to ``newest``, on a worker thread."""
        return await asyncio.to_thread(fees.fee_history, self, count, newest, percentiles)

    async def execute_fee_history(self, count: int, newest: BlockHeaderAPI) -> ExecuteFeeHistory:
        """``execute_feeHistory`` over ``count`` blocks up to ``newest``, on a worker thread."""
        return await asyncio.to_thread(fees.execute_fee_history, self, count, newest)
