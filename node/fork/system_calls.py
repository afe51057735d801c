"""The block's execution requests (EIP-7685): deposits from the receipts' logs, and the
EIP-7002 (withdrawal) and EIP-7251 (consolidation) queues' end-of-block system calls.

py-evm runs both system calls as bytecode on every block. When the queue's contract holds
the EIP's canonical code and its queue is empty, the call's whole effect is known: it
dequeues nothing, resets the queue pointers, moves the excess towards the target and clears
the per-block count. ``queue_system_call`` then reads the slots the bytecode reads and
writes those whose value changes (so the state and the execution witness are the same) and
returns no requests; any other case runs the bytecode, as py-evm does. A queue that call left
settled (no slot changed) on a state that runs the next block too (the builder's warm state)
costs one read of its count there: nothing else can have moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from eth.abc import ReceiptAPI, VirtualMachineAPI
from eth.constants import SYSTEM_ADDRESS, SYSTEM_MESSAGE_GAS
from eth.vm.forks.prague.constants import (
    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    CONSOLIDATION_REQUEST_TYPE,
    DEPOSIT_CONTRACT_ADDRESS,
    DEPOSIT_EVENT_SIGNATURE_HASH,
    DEPOSIT_REQUEST_TYPE,
    EXCESS_INHIBITOR,
    EXCESS_WITHDRAWAL_REQUESTS_STORAGE_SLOT,
    TARGET_WITHDRAWAL_REQUESTS_PER_BLOCK,
    WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT,
    WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    WITHDRAWAL_REQUEST_QUEUE_HEAD_STORAGE_SLOT,
    WITHDRAWAL_REQUEST_QUEUE_TAIL_STORAGE_SLOT,
    WITHDRAWAL_REQUEST_TYPE,
)
from eth_hash.auto import keccak

TARGET_CONSOLIDATION_REQUESTS_PER_BLOCK = 1  # EIP-7251

# keccak256 of the runtime code EIP-7002 and EIP-7251 deploy (genesis/l1.json and l2.json
# hold the same): only this code is run natively.
WITHDRAWAL_QUEUE_CODE_HASH = (
    b"\x03E\xa3e\xd2\xf4\xc5\x97[\x9f\x15\x99\xab\xe0\xa2\xeev"
    b"\xb7\xa3\xa71\xbchx\x1b\xd0L\x84\xe4\x85\x8fP"
)
CONSOLIDATION_QUEUE_CODE_HASH = (
    b"x\xc6\xcbR\x02hR(\xbb\xcb\xfb\x99+\x1cN\x11l~\xc5\xef\x11\xe2[\x8e\x92ql\xfcb\x8d\xdd`"
)


@dataclass(frozen=True)
class RequestQueue:
    address: bytes
    request_type: bytes
    code_hash: bytes
    target_per_block: int


# Both contracts share the storage layout: excess 0, count 1, head 2, tail 3.
QUEUES = (
    RequestQueue(
        WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
        WITHDRAWAL_REQUEST_TYPE,
        WITHDRAWAL_QUEUE_CODE_HASH,
        TARGET_WITHDRAWAL_REQUESTS_PER_BLOCK,
    ),
    RequestQueue(
        CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
        CONSOLIDATION_REQUEST_TYPE,
        CONSOLIDATION_QUEUE_CODE_HASH,
        TARGET_CONSOLIDATION_REQUESTS_PER_BLOCK,
    ),
)
EXCESS_SLOT = EXCESS_WITHDRAWAL_REQUESTS_STORAGE_SLOT
COUNT_SLOT = WITHDRAWAL_REQUEST_COUNT_STORAGE_SLOT
HEAD_SLOT = WITHDRAWAL_REQUEST_QUEUE_HEAD_STORAGE_SLOT
TAIL_SLOT = WITHDRAWAL_REQUEST_QUEUE_TAIL_STORAGE_SLOT


def deposit_requests(receipts: Sequence[ReceiptAPI]) -> bytes:
    """EIP-6110: the deposit contract's events in the block's receipts, concatenated."""
    data = b""
    for receipt in receipts:
        for log in receipt.logs:
            if log.address != DEPOSIT_CONTRACT_ADDRESS or not log.topics:
                continue
            if log.topics[0].to_bytes(32, "big") != DEPOSIT_EVENT_SIGNATURE_HASH:
                continue
            d = log.data
            data += d[192:240] + d[288:320] + d[352:360] + d[416:512] + d[544:552]
    return data


def queue_system_call(vm: VirtualMachineAPI, queue: RequestQueue) -> bytes:
    """The end-of-block system call to ``queue``'s contract: the requests it dequeues (no
    call when the contract has no code, as py-evm)."""
    state = vm.state
    settled = state.__dict__.setdefault("_settled_queues", set())
    if queue.address in settled:
        # Settled by the last block this state ran (canonical code, empty queue, excess
        # and count zero): only a request added since can change that, and adding one
        # runs the contract. py-evm notes every account read since the state was last
        # persisted (the end of that block); one nothing read is as that block left it.
        accessed = getattr(state._account_db, "_accessed_accounts", None)
        if accessed is not None and queue.address not in accessed:
            return b""
        if state.get_storage(queue.address, COUNT_SLOT) == 0:
            return b""
        settled.discard(queue.address)
    code = state.get_code(queue.address)
    if not code:
        return b""
    if keccak(code) == queue.code_hash:
        head = state.get_storage(queue.address, HEAD_SLOT)
        tail = state.get_storage(queue.address, TAIL_SLOT)
        if head == tail:
            # An empty queue: the pointers reset, the excess moves towards the target, the
            # count clears. A slot whose value stays is not written (the bytecode's SSTORE
            # of the same value changes no root): an idle queue's storage is left alone.
            excess = state.get_storage(queue.address, EXCESS_SLOT)
            count = state.get_storage(queue.address, COUNT_SLOT)
            previous = 0 if excess == EXCESS_INHIBITOR else excess
            new_values = (
                (HEAD_SLOT, head, 0),
                (TAIL_SLOT, tail, 0),
                (EXCESS_SLOT, excess, max(0, previous + count - queue.target_per_block)),
                (COUNT_SLOT, count, 0),
            )
            written = False
            for slot, old, new in new_values:
                if new != old:
                    state.set_storage(queue.address, slot, new)
                    written = True
            if not written:
                settled.add(queue.address)
            return b""
    computation = vm.execute_bytecode(
        origin=SYSTEM_ADDRESS,
        gas_price=0,
        gas=SYSTEM_MESSAGE_GAS,
        to=queue.address,
        sender=SYSTEM_ADDRESS,
        value=0,
        data=b"",
        code=code,
        code_address=queue.address,
    )
    return computation.output


def block_requests(vm: VirtualMachineAPI, receipts: Sequence[ReceiptAPI]) -> list[bytes]:
    """The block's requests, each its type byte and data, in type order (EIP-7685); runs
    the end-of-block system calls on ``vm``'s state."""
    requests = [DEPOSIT_REQUEST_TYPE + deposit_requests(receipts)]
    for queue in QUEUES:
        output = queue_system_call(vm, queue)
        if output:
            requests.append(queue.request_type + output)
    return requests


def requests_hash(requests: Sequence[bytes]) -> bytes:
    """EIP-7685's commitment: sha256 over the sha256 of each non-empty request."""
    outer = sha256()
    for request in requests:
        if len(request) > 1:
            outer.update(sha256(request).digest())
    return outer.digest()


class KeepSystemContracts:
    """A state mixin: py-evm's Cancun and Prague states write the beacon-roots and
    history-storage contracts' code again on every state they build, but only when the
    account already holds exactly that code (``if not code != CANONICAL``): a write that
    changes nothing, paid on every block and every ``eth_call``. Skipped."""

    def set_system_contracts(self) -> None:
        pass
