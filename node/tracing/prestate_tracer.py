"""geth's ``prestateTracer``: the accounts a transaction touched as they were before it,
or in diff mode what it changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eth._utils.address import generate_contract_address, generate_safe_contract_address
from eth.abc import ComputationAPI, StateAPI

from node.tracing.engine import (
    ACCOUNT_BYTES,
    CALLS,
    STORAGE_ENTRY_BYTES,
    STORAGE_OPS,
    Frame,
    Outcome,
    Session,
    TraceBudget,
    TracedTransaction,
    Tracer,
    as_int,
    stack_address,
)

if TYPE_CHECKING:
    from node.tracing.registry import TraceOptions

ACCOUNT_OPS = frozenset({"BALANCE", "EXTCODESIZE", "EXTCODECOPY", "EXTCODEHASH", "SELFDESTRUCT"})
MEMORY_PAD_LIMIT = 1024 * 1024  # geth's bound on reading CREATE2 init code past memory


@dataclass
class AccountState:
    """An account in a prestate trace; in a diff's ``post`` only what changed is set."""

    balance: int | None = None
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PrestateTrace:
    pre: dict[bytes, AccountState]
    post: dict[bytes, AccountState] | None  # only in diff mode


class PrestateTracer(Tracer):
    """geth's ``prestateTracer``: every account the transaction touched, as it was before.

    Touched, as geth counts it: sender, recipient (or the created address) and coinbase; the
    target of BALANCE, EXTCODE*, SELFDESTRUCT and every CALL-type opcode; addresses CREATE and
    CREATE2 make; and the slots SLOAD/SSTORE name. Accounts first read when first touched,
    before the opcode runs, which is their value before the transaction. Accounts the
    transaction created (and which did not exist before) are left out.

    ``diffMode``: ``pre`` keeps only accounts that changed, ``post`` has just what changed
    (zeroed slots and accounts SELFDESTRUCT removed are absent from ``post``)."""

    def __init__(self, options: TraceOptions, budget: TraceBudget | None = None) -> None:
        super().__init__(options, budget)
        self.pre: dict[bytes, AccountState] = {}
        self.empty: set[bytes] = set()
        self.created: set[bytes] = set()
        self.deleted: set[bytes] = set()
        self.state: StateAPI | None = None

    def start(self, state: StateAPI, tx: TracedTransaction) -> None:
        self.state = state
        if tx.to is None:
            to = generate_contract_address(tx.sender, state.get_nonce(tx.sender))
            self.created.add(to)
        else:
            to = tx.to
        for address in (tx.sender, to, state.coinbase):
            self.look_up(address)

    def look_up(self, address: bytes) -> AccountState:
        account = self.pre.get(address)
        if account is None:
            state = self.state
            account = AccountState(
                balance=state.get_balance(address),
                nonce=state.get_nonce(address),
                code=state.get_code(address),
            )
            if not (account.balance or account.nonce or account.code):
                self.empty.add(address)
            if self.options.disable_code:
                account.code = b""
            self.budget.take(ACCOUNT_BYTES + len(account.code))
            self.pre[address] = account
        return account

    def before_op(self, session: Session, frame: Frame, computation: ComputationAPI) -> None:
        op = frame.step.op
        if op in STORAGE_OPS:
            stack = computation._stack.values
            if stack and not self.options.disable_storage:
                slot = as_int(stack[-1])
                account = self.look_up(frame.address)
                if slot not in account.storage:
                    self.budget.take(STORAGE_ENTRY_BYTES)
                    account.storage[slot] = self.state.get_storage(frame.address, slot)
        elif op in ACCOUNT_OPS:
            address = stack_address(computation, 1)
            if address is not None:
                self.look_up(address)
                if op == "SELFDESTRUCT":
                    self.deleted.add(frame.address)
        elif op in CALLS:
            if frame.target is not None:
                self.look_up(frame.target)
        elif op == "CREATE":
            address = generate_contract_address(frame.address, self.state.get_nonce(frame.address))
            self.look_up(address)
            self.created.add(address)
        elif op == "CREATE2":
            stack = [as_int(v) for v in computation._stack.values[-4:]]
            memory = computation._memory._bytes
            # As geth: no address when the init code lies far past memory (the op will fail).
            if len(stack) == 4 and stack[2] + stack[1] <= len(memory) + MEMORY_PAD_LIMIT:
                salt, size, offset = stack[0], stack[1], stack[2]
                init_code = bytes(memory[offset : offset + size]).ljust(size, b"\x00")
                address = generate_safe_contract_address(frame.address, salt, init_code)
                self.look_up(address)
                self.created.add(address)

    def finish(
        self, session: Session, state: StateAPI, tx: TracedTransaction, outcome: Outcome
    ) -> PrestateTrace:
        post = self._diff(state) if self.options.diff_mode else None
        for address in self.created & self.empty:
            self.pre.pop(address, None)
        return PrestateTrace(pre=self.pre, post=post)

    def _diff(self, state: StateAPI) -> dict[bytes, AccountState]:
        post: dict[bytes, AccountState] = {}
        for address, before in list(self.pre.items()):
            if address in self.deleted and not state.account_exists(address):
                continue  # destroyed (EIP-6780: created by this transaction): pre only
            after = AccountState()
            modified = False
            balance = state.get_balance(address)
            if balance != before.balance:
                after.balance, modified = balance, True
            nonce = state.get_nonce(address)
            if nonce != before.nonce:
                after.nonce, modified = nonce, True
            if not self.options.disable_code:
                code = state.get_code(address)
                if code != before.code:
                    after.code, modified = code, True
            for slot, value in list(before.storage.items()):
                if value == 0:
                    del before.storage[slot]
                now = state.get_storage(address, slot)
                if now == value:
                    before.storage.pop(slot, None)
                else:
                    modified = True
                    if now:
                        after.storage[slot] = now
            if modified:
                post[address] = after
            else:
                del self.pre[address]
        return post
