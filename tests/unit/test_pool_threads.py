"""The pool is shared by the event loop (submissions, txpool_* reads) and the chain-writer
thread (taking transactions for a block, removing mined ones): reads never see a half-made
change. Before the pool had a lock, ``txpool_status`` during a block answered
``RuntimeError: dictionary changed size during iteration`` (found by the kill -9 test).
"""

from __future__ import annotations

import threading
import time

from node.pool import TxPool

SENDERS = 400


def test_reads_while_another_thread_adds_and_removes(dev_accounts, txs):
    key = dev_accounts[0].private_key
    transactions = [txs.dynamic(key, nonce) for nonce in range(SENDERS)]
    pool = TxPool()
    errors: list[BaseException] = []
    stop = threading.Event()

    def nonce_of(sender: bytes) -> int:
        return int.from_bytes(sender, "big")  # each sender's one transaction is executable

    def churn() -> None:
        try:
            while not stop.is_set():
                for tx in transactions:
                    pool.add(tx, tx.nonce.to_bytes(20, "big"), tx.nonce)
                for tx in transactions:
                    pool.remove(tx.hash)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writer = threading.Thread(target=churn)
    writer.start()
    deadline = time.monotonic() + 1.5
    try:
        while time.monotonic() < deadline:
            pool.pending(nonce_of)
            pool.queued(nonce_of)
            pool.ordered_for_block(nonce_of, base_fee=0)
            pool.entries()
    finally:
        stop.set()
        writer.join()
    assert errors == []
