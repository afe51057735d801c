"""The EXECUTE gas market on an in-process L1 (docs/EXECUTE.md "Gas and the
execute gas market" and "Output").

An L1 ``node.chain.Chain`` on genesis/l1.json (dev accounts funded, ``ExecuteCaller`` placed
in the genesis alloc) re-executes real L2 blocks that an in-process L2 ``Chain`` built on
genesis/l2.json (``devtools.l2_blocks.L2Builder``), with the witnesses that chain recorded.
Every test asserts exact wei and gas:

- a valid call charges ``tx.origin`` exactly ``gasUsed * price`` on top of its L1 gas; an
  invalid one charges ``W * price`` with ``W = max(gasUsed, min(gasLimit, sum(tx.gas)))``
  (``max(gasUsed, gasLimit)`` when the transactions do not decode), also when the caller
  reverts the whole L1 transaction; the fee is burned (the coinbase gets only the tip) and
  the block's ``execute_gas_used`` counts every charged call;
- ``next_execute_base_fee``: +12.5 % for a full block, -12.5 % for an empty one, unchanged at
  the target, the minimum, the initial fee after genesis; the same on a chain's headers;
- import rejects a block whose execute fields are wrong and leaves the head unchanged;
- the cumulative limit: a call that cannot fit halts in simulation (``Chain.call``), the
  builder defers a call that does not fit this block (``EXECUTE_LIMIT``, retryable) and
  includes it in the next one, and drops a call that can never fit
  (``EXECUTE_RESERVATION_TOO_LARGE``);
- an origin that can pay its L1 gas but not ``W * price`` makes EXECUTE halt.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_abi import decode, encode
from eth_hash.auto import keccak
from eth_keys import keys
from eth_utils import ValidationError

from devtools.contracts import load
from devtools.execute_inputs import encoded
from devtools.l2_blocks import L2Builder
from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import BuiltBlock, Chain
from node.errors import TxRejection
from node.genesis import DEFAULT_L1_GENESIS, Genesis, GenesisAccount, load_genesis
from node.simulation import CallRequest
from precompiles.execute_market import MarketParams, next_execute_base_fee
from precompiles.execute_wire import Reason, decode_output, encode_invalid, execute_gas_cost

L1_CHAIN_ID = 31337
GWEI = 10**9
MAX_FEE = 10 * GWEI
TIP = GWEI
CALL_GAS = 2_000_000
FUNDED = 10**24
CALLER = bytes.fromhex("ec" * 20)  # ExecuteCaller, placed in the genesis alloc
DOUBLE = bytes.fromhex("dd" * 20)  # calls EXECUTE twice with its calldata (see below)
COINBASE = bytes.fromhex("cb" * 20)
L2_TRANSFER_GAS = 30_000  # each L2 transfer is given more gas than the 21 000 it uses
L2_USED = 42_000  # two L2 transfers
L2_SUM_TX_GAS = 2 * L2_TRANSFER_GAS  # 60 000 = W of an invalid claim about that block
L2_BIG_TX_GAS = 200_000  # one transfer given 200 000 gas: W = 200 000 even when valid
EXECUTED_TOPIC = keccak(b"Executed(bool,bytes,uint256)")

# Runtime code that CALLs EXECUTE twice with all of its calldata and returns both success
# flags as two words: CALLDATACOPY(0, 0, CALLDATASIZE); s1 = CALL(GAS, 0x0101, 0, 0,
# CALLDATASIZE, 0, 0); s2 = CALL(...same...); MSTORE(0x20, s2); MSTORE(0, s1); RETURN(0, 0x40).
_CALL_EXECUTE = bytes.fromhex("5f5f365f5f6101015af1")
DOUBLE_EXECUTE_CODE = (
    bytes.fromhex("365f5f37") + _CALL_EXECUTE + _CALL_EXECUTE + bytes.fromhex("6020525f5260405ff3")
)

DEV = derive_dev_accounts(DEFAULT_MNEMONIC, 10)


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def call_data(function: str, payload: bytes) -> bytes:
    return selector(f"{function}(bytes)") + encode(["bytes"], [payload])


def invalid_output(reason: Reason) -> bytes:
    return encode_invalid(reason)


def l1_genesis(**execute_changes) -> Genesis:
    """genesis/l1.json with the dev accounts funded, ExecuteCaller and the double caller in
    the alloc, and optionally other EXECUTE market settings."""
    genesis = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in DEV], FUNDED)
    alloc = dict(genesis.alloc)
    runtime = bytes.fromhex(load("ExecuteCaller").deployed_bytecode[2:])
    alloc[CALLER] = GenesisAccount(code=runtime)
    alloc[DOUBLE] = GenesisAccount(code=DOUBLE_EXECUTE_CODE)
    # NR-EXECUTE v1.1: an L2 block may not be stamped later than the L1 block settling
    # it; devtools' L2 blocks start at 1.7e9, so this L1 starts after them.
    genesis = replace(genesis, alloc=alloc, timestamp=2_000_000_000)
    if execute_changes:
        genesis = genesis.with_overrides(execute=replace(genesis.execute, **execute_changes))
    genesis.validate()
    return genesis


class L1:
    """An in-process L1 chain and the transactions the tests send to it."""

    def __init__(self, genesis: Genesis | None = None) -> None:
        self.chain = Chain(genesis or l1_genesis())
        self.nonces: dict[bytes, int] = {}

    def tx(self, key: keys.PrivateKey, data: bytes, to: bytes = CALLER, gas: int = CALL_GAS):
        sender = key.public_key.to_canonical_address()
        nonce = self.nonces.get(sender, self.chain.nonce(sender, self.chain.head))
        self.nonces[sender] = nonce + 1
        unsigned = self.chain.transaction_builder.new_unsigned_dynamic_fee_transaction(
            L1_CHAIN_ID, nonce, TIP, MAX_FEE, gas, to, 0, data, []
        )
        return unsigned.as_signed_transaction(key)

    def call_execute(self, key: keys.PrivateKey, payload: bytes, then_revert: bool = False):
        function = "callExecuteThenRevert" if then_revert else "callExecute"
        return self.tx(key, call_data(function, payload))

    def mine(self, transactions=()) -> BuiltBlock:
        head = self.chain.head
        return self.chain.build_block(
            list(transactions), timestamp=head.timestamp + 12, coinbase=COINBASE
        )

    def balance(self, address: bytes, header=None) -> int:
        return self.chain.balance(address, header or self.chain.head)

    def pending_price(self) -> int:
        return self.chain.vm_class.expected_execute_base_fee(self.chain.head)

    def static_execute(self, payload: bytes, sender: bytes = DEV[0].address):
        """``ExecuteCaller.staticExecute`` through ``Chain.call`` (eth_call on latest)."""
        result = self.chain.call(
            CallRequest(sender=sender, to=CALLER, data=call_data("staticExecute", payload)),
            self.chain.head,
        )
        assert result.error is None, result.error
        return decode(["bool", "bytes"], result.output)


def executed_event(built: BuiltBlock, index: int) -> tuple[bool, bytes, int]:
    """The ``Executed(bool,bytes,uint256)`` event of the block's ``index``-th receipt."""
    logs = built.receipts[index].receipt.logs
    assert len(logs) == 1 and logs[0].topics[0] == int.from_bytes(EXECUTED_TOPIC, "big")
    return decode(["bool", "bytes", "uint256"], logs[0].data)


def l1_fee(built: BuiltBlock, index: int) -> int:
    info = built.receipts[index]
    assert info.effective_gas_price == built.block.header.base_fee_per_gas + TIP
    return info.gas_used * info.effective_gas_price


# -- real L2 blocks, built once ---------------------------------------------------------------


class L2Blocks:
    def __init__(self) -> None:
        l2 = L2Builder()
        self.transfers = l2.build(
            [
                l2.tx(0, value=10**18, gas=L2_TRANSFER_GAS),
                l2.tx(1, to=b"\x12" * 20, value=7, gas=L2_TRANSFER_GAS),
            ]
        ).block
        assert self.transfers.header.gas_used == L2_USED
        self.big = l2.build([l2.tx(2, value=3, gas=L2_BIG_TX_GAS)]).block
        assert self.big.header.gas_used == 21_000
        self.inp = l2.input_for(self.transfers)
        self.valid = encoded(self.inp)
        self.big_valid = encoded(l2.input_for(self.big))
        self.l2_gas_limit = self.transfers.header.gas_limit


@pytest.fixture(scope="module")
def l2() -> L2Blocks:
    return L2Blocks()


# -- fees charged to tx.origin ------------------------------------------------------------------


def test_valid_call_charges_gas_used_times_price(l2):
    l1 = L1()
    sender = DEV[1].address
    price = l1.pending_price()
    assert price == 1_000_000_000  # block 1 follows genesis: the initial fee
    before, coinbase_before = l1.balance(sender), l1.balance(COINBASE)
    built = l1.mine([l1.call_execute(DEV[1].private_key, l2.valid)])
    header = built.block.header
    assert built.receipts[0].status == 1 and not built.skipped
    ok, out, measured = executed_event(built, 0)
    assert ok and len(out) == 256
    fields = decode_output(out)
    assert fields["gasUsed"] == L2_USED
    assert fields["blockHash"] == l2.transfers.hash
    assert fields["executeBaseFeePerGas"] == price == header.execute_base_fee_per_gas
    assert fields["executeFee"] == L2_USED * price == 42_000_000_000_000
    assert measured >= execute_gas_cost(len(l2.valid))
    # Exactly L1 gas plus gasUsed * price leaves the sender...
    assert before - l1.balance(sender) == l1_fee(built, 0) + L2_USED * price
    # ...and the execute fee is burned: the coinbase earns only the tip.
    assert l1.balance(COINBASE) - coinbase_before == built.receipts[0].gas_used * TIP
    assert header.execute_gas_used == L2_USED


def _tampered(l2: L2Blocks, case: str) -> tuple[bytes, int, Reason]:
    """(input, expected W, expected reason) of an invalid claim about the transfers block."""
    inp = l2.inp
    if case == "gasUsed+1":  # W = max(42 001, min(5M, 60 000))
        return encoded(inp, gas_used=L2_USED + 1), L2_SUM_TX_GAS, Reason.GAS_USED
    if case == "gasUsed above sum(tx.gas)":  # W = max(70 000, min(5M, 60 000))
        return encoded(inp, gas_used=70_000), 70_000, Reason.GAS_USED
    if case == "wrong postStateRoot":  # W = max(42 000, min(5M, 60 000))
        return encoded(inp, post_state_root=b"\x01" * 32), L2_SUM_TX_GAS, Reason.POST_STATE_ROOT
    if case == "gasLimit below sum(tx.gas)":  # W = max(42 000, min(50 000, 60 000))
        return encoded(inp, gas_limit=50_000), 50_000, Reason.HEADER_RULE
    if case == "undecodable transactions":  # W = max(42 000, gasLimit)
        return encoded(inp, transactions=b"\xc3\x01\x02\x03"), l2.l2_gas_limit, Reason.TX_ENCODING
    raise AssertionError(case)


INVALID_CASES = [
    "gasUsed+1",
    "gasUsed above sum(tx.gas)",
    "wrong postStateRoot",
    "gasLimit below sum(tx.gas)",
    "undecodable transactions",
]


@pytest.mark.parametrize("case", INVALID_CASES)
def test_invalid_call_charges_the_whole_reservation(l2, case):
    payload, w, reason = _tampered(l2, case)
    l1 = L1()
    sender = DEV[2].address
    price = l1.pending_price()
    before, coinbase_before = l1.balance(sender), l1.balance(COINBASE)
    built = l1.mine([l1.call_execute(DEV[2].private_key, payload)])
    assert built.receipts[0].status == 1 and not built.skipped
    ok, out, _ = executed_event(built, 0)
    assert not ok
    assert out == invalid_output(reason)
    assert before - l1.balance(sender) == l1_fee(built, 0) + w * price
    assert l1.balance(COINBASE) - coinbase_before == built.receipts[0].gas_used * TIP
    assert built.block.header.execute_gas_used == w


@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
def test_fee_survives_a_reverted_l1_transaction(l2, valid):
    """callExecuteThenRevert: the L1 tx fails (status 0), the fee is burned anyway and the
    block counts the execute gas."""
    payload, w = (l2.valid, L2_USED) if valid else _tampered(l2, "gasUsed+1")[:2]
    l1 = L1()
    sender = DEV[3].address
    price = l1.pending_price()
    before = l1.balance(sender)
    built = l1.mine([l1.call_execute(DEV[3].private_key, payload, then_revert=True)])
    assert not built.skipped
    assert built.receipts[0].status == 0
    assert built.receipts[0].receipt.logs == ()
    assert before - l1.balance(sender) == l1_fee(built, 0) + w * price
    assert built.block.header.execute_gas_used == w


def test_block_counts_every_charged_call(l2):
    """One block: a valid call, an invalid call and an invalid call whose tx reverts."""
    l1 = L1()
    invalid, w, _ = _tampered(l2, "gasUsed+1")
    price = l1.pending_price()
    senders = [DEV[4], DEV[5], DEV[6]]
    before = [l1.balance(a.address) for a in senders]
    built = l1.mine(
        [
            l1.call_execute(DEV[4].private_key, l2.valid),
            l1.call_execute(DEV[5].private_key, invalid),
            l1.call_execute(DEV[6].private_key, invalid, then_revert=True),
        ]
    )
    assert not built.skipped and [r.status for r in built.receipts] == [1, 1, 0]
    charged = [L2_USED, w, w]
    for i, account in enumerate(senders):
        delta = before[i] - l1.balance(account.address)
        assert delta == l1_fee(built, i) + charged[i] * price
    assert built.block.header.execute_gas_used == L2_USED + 2 * L2_SUM_TX_GAS == 162_000


# -- the base fee -----------------------------------------------------------------------------


DEFAULT_PARAMS = MarketParams()  # limit 10M, target 5M, initial 1 gwei, min 1 wei


@pytest.mark.parametrize(
    ("params", "used", "fee", "expected"),
    [
        (DEFAULT_PARAMS, 10_000_000, 10**9, 1_125_000_000),  # full block: +12.5 %
        (DEFAULT_PARAMS, 0, 10**9, 875_000_000),  # empty block: -12.5 %
        (DEFAULT_PARAMS, 5_000_000, 10**9, 10**9),  # at target: unchanged
        (DEFAULT_PARAMS, 7_500_000, 10**9, 1_062_500_000),  # half-way up: +6.25 %
        (DEFAULT_PARAMS, 2_500_000, 10**9, 937_500_000),  # half-way down: -6.25 %
        (DEFAULT_PARAMS, 5_000_001, 1, 2),  # above target moves by at least 1 wei
        (DEFAULT_PARAMS, 0, 1, 1),  # the minimum holds (1 wei)
        (MarketParams(min_base_fee=100), 0, 105, 100),  # 105 - 13 = 92, floored at 100
        (MarketParams(min_base_fee=100), 0, 100, 100),
        (DEFAULT_PARAMS, None, None, 10**9),  # no parent market (genesis): the initial fee
        (MarketParams(initial_base_fee=7 * 10**12), None, None, 7 * 10**12),
    ],
)
def test_next_execute_base_fee(params, used, fee, expected):
    assert next_execute_base_fee(params, used, fee) == expected


def test_base_fee_follows_the_headers(l2):
    """On a chain with target 42 000 (one call) and limit 120 000: empty, at target, twice the
    target (a "full" block in EIP-1559 terms), empty again."""
    l1 = L1(l1_genesis(gas_limit=120_000, gas_target=L2_USED))
    vm = l1.chain.vm_class
    genesis_header = l1.chain.head
    assert vm.expected_execute_base_fee(genesis_header) == 10**9
    keys_ = [a.private_key for a in DEV]
    plan = [[], [keys_[0]], [keys_[1], keys_[2]], [], []]
    headers = []
    for senders in plan:
        built = l1.mine([l1.call_execute(k, l2.valid) for k in senders])
        assert not built.skipped and len(built.receipts) == len(senders)
        headers.append(built.block.header)
    assert [h.execute_gas_used for h in headers] == [0, 42_000, 84_000, 0, 0]
    assert [h.execute_base_fee_per_gas for h in headers] == [
        1_000_000_000,  # block 1: after genesis, the initial fee
        875_000_000,  # after an empty block: -12.5 %
        875_000_000,  # after a block at target: unchanged
        984_375_000,  # after a block at twice the target: +12.5 %
        861_328_125,  # after an empty block: -12.5 %
    ]
    for parent, child in zip(headers, headers[1:], strict=False):
        assert child.execute_base_fee_per_gas == next_execute_base_fee(
            vm.market_params, parent.execute_gas_used, parent.execute_base_fee_per_gas
        )


# -- import validates the execute fields ----------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ({"execute_base_fee_per_gas": +1}, "execute base fee 875000001, expected 875000000"),
        ({"execute_base_fee_per_gas": -1}, "execute base fee 874999999, expected 875000000"),
        ({"execute_gas_used": +1}, r"(?s)header\.execute_gas_used.*42000.*42001 \(\+1\)"),
        ({"execute_gas_used": -1}, r"(?s)header\.execute_gas_used.*42000.*41999 \(-1\)"),
        # claims no EXECUTE work at all
        ({"execute_gas_used": -L2_USED}, r"(?s)header\.execute_gas_used.*42000.*: 0 \(-42000\)"),
        (
            {"execute_gas_used": 10_000_000 + 1 - L2_USED},
            "execute gas used 10000001 above the limit 10000000",
        ),
    ],
    ids=["fee+1", "fee-1", "used+1", "used-1", "used=0", "used>limit"],
)
def test_import_rejects_wrong_execute_fields(l2, tamper, message):
    a, b = L1(), L1()
    assert a.chain.head.hash == b.chain.head.hash
    first = a.mine([a.tx(DEV[0].private_key, b"", to=b"\x77" * 20)])
    b.chain.import_block(first.block)
    built = a.mine([a.call_execute(DEV[1].private_key, l2.valid)])
    header = built.block.header
    assert header.execute_gas_used == L2_USED
    ((name, delta),) = tamper.items()
    forged = built.block.copy(header=header.copy(**{name: getattr(header, name) + delta}))
    head_before = b.chain.head
    with pytest.raises(ValidationError, match=message):
        b.chain.import_block(forged)
    assert b.chain.head == head_before
    assert b.chain.head.hash == first.block.hash
    # The genuine block still imports and lands on the same post-state.
    imported = b.chain.import_block(built.block)
    assert imported.hash == built.block.hash == b.chain.head.hash
    assert b.chain.state_root_after(b.chain.head) == a.chain.state_root_after(header)


# -- the cumulative limit -------------------------------------------------------------------------


LIMIT = 100_000  # fits one reservation of 60 000, not two
TARGET = 50_000


def test_simulation_halts_a_call_that_cannot_fit(l2):
    l1 = L1(l1_genesis(gas_limit=LIMIT, gas_target=TARGET))
    price = l1.pending_price()
    # W = 200 000 > limit: exceptional halt, empty return data.
    assert l1.static_execute(l2.big_valid) == (False, b"")
    # W = 60 000 fits; the valid block shrinks it to gasUsed.
    ok, out = l1.static_execute(l2.valid)
    assert ok
    assert decode_output(out)["executeFee"] == L2_USED * price
    # Two calls in one simulated transaction share the pending block's counters:
    # 42 000 after the first, + 60 000 reserved by the second > 100 000.
    result = l1.chain.call(
        CallRequest(sender=DEV[0].address, to=DOUBLE, data=l2.valid), l1.chain.head
    )
    assert result.error is None
    assert decode(["uint256", "uint256"], result.output) == (1, 0)
    # With the default limit (10M) both fit.
    roomy = L1()
    result = roomy.chain.call(
        CallRequest(sender=DEV[0].address, to=DOUBLE, data=l2.valid), roomy.chain.head
    )
    assert decode(["uint256", "uint256"], result.output) == (1, 1)


def test_builder_defers_a_call_that_does_not_fit_this_block(l2):
    l1 = L1(l1_genesis(gas_limit=LIMIT, gas_target=TARGET))
    first = l1.call_execute(DEV[0].private_key, l2.valid)
    second = l1.call_execute(DEV[1].private_key, l2.valid)
    before = l1.balance(DEV[1].address)
    built = l1.mine([first, second])
    assert [r.transaction_hash for r in built.receipts] == [first.hash]
    assert executed_event(built, 0)[0] is True
    assert built.block.header.execute_gas_used == L2_USED
    (skipped,) = built.skipped
    assert skipped.transaction.hash == second.hash
    assert skipped.error.kind is TxRejection.EXECUTE_LIMIT
    assert skipped.error.retryable
    assert str(skipped.error) == (
        "EXECUTE call would overflow the block's cumulative execute gas limit; deferred to a "
        "later block: block has used 42000 of 100000 execute gas"
    )
    # Nothing of the deferred call stayed behind: no fee, no nonce, no execute gas.
    assert l1.balance(DEV[1].address) == before
    assert l1.chain.nonce(DEV[1].address, l1.chain.head) == 0
    price = l1.pending_price()
    following = l1.mine([second])
    assert [r.transaction_hash for r in following.receipts] == [second.hash]
    assert not following.skipped
    ok, out, _ = executed_event(following, 0)
    assert ok and decode_output(out)["executeFee"] == L2_USED * price
    assert following.block.header.execute_gas_used == L2_USED
    assert before - l1.balance(DEV[1].address) == l1_fee(following, 0) + L2_USED * price


def test_builder_drops_a_call_that_can_never_fit(l2):
    l1 = L1(l1_genesis(gas_limit=LIMIT, gas_target=TARGET))
    too_big = l1.call_execute(DEV[0].private_key, l2.big_valid)  # W = 200 000 > 100 000
    built = l1.mine([too_big])
    assert built.receipts == []
    (skipped,) = built.skipped
    assert skipped.error.kind is TxRejection.EXECUTE_RESERVATION_TOO_LARGE
    assert not skipped.error.retryable
    assert str(skipped.error) == (
        "EXECUTE call reserves more execute gas than any block allows: limit 100000"
    )
    assert built.block.header.execute_gas_used == 0
    assert l1.chain.nonce(DEV[0].address, l1.chain.head) == 0


# -- solvency -------------------------------------------------------------------------------------


def test_insolvent_origin_halts(l2):
    """Execute base fee 10^13 wei: W * price = 4.2 * 10^17 wei; a sender holding 10^17 wei can
    pay its L1 gas (2M gas at 10 gwei = 2 * 10^16) but not the execute fee."""
    poor_key = keys.PrivateKey(b"\x51" * 32)
    poor = poor_key.public_key.to_canonical_address()
    genesis = l1_genesis(initial_base_fee=10**13)
    alloc = dict(genesis.alloc)
    alloc[poor] = GenesisAccount(balance=10**17)
    l1 = L1(replace(genesis, alloc=alloc))
    price = l1.pending_price()
    assert price == 10**13
    assert CALL_GAS * MAX_FEE < 10**17 < L2_USED * price
    # eth_call skips only the solvency check: the simulation succeeds.
    ok, out = l1.static_execute(l2.valid, sender=poor)
    assert ok and decode_output(out)["executeFee"] == L2_USED * price
    rich_before, poor_before = l1.balance(DEV[0].address), l1.balance(poor)
    built = l1.mine(
        [
            l1.call_execute(poor_key, l2.valid),
            l1.call_execute(DEV[0].private_key, l2.valid),
        ]
    )
    assert not built.skipped and [r.status for r in built.receipts] == [1, 1]
    ok, out, measured = executed_event(built, 0)
    assert (ok, out) == (False, b"")  # exceptional halt: empty return data
    assert measured > CALL_GAS // 2  # ...and all forwarded gas consumed
    assert poor_before - l1.balance(poor) == l1_fee(built, 0)  # L1 gas only
    ok, out, _ = executed_event(built, 1)
    assert ok and decode_output(out)["executeFee"] == 42 * 10**16
    assert rich_before - l1.balance(DEV[0].address) == l1_fee(built, 1) + L2_USED * price
    assert built.block.header.execute_gas_used == L2_USED  # the halted call counts nothing


DELEGATED_KEY = keys.PrivateKey(b"\x52" * 32)


def _delegated_origin_chain() -> tuple[L1, bytes]:
    """An L1 whose genesis holds an EIP-7702-delegated EOA (code ``0xef0100 || target``)."""
    delegated = DELEGATED_KEY.public_key.to_canonical_address()
    genesis = l1_genesis()
    alloc = dict(genesis.alloc)
    alloc[delegated] = GenesisAccount(balance=10**20, code=b"\xef\x01\x00" + b"\xaa" * 20)
    return L1(replace(genesis, alloc=alloc)), delegated


def test_origin_with_code_halts(l2):
    """tx.origin must be an account without code: a delegated EOA may send transactions
    (EIP-3607 allows the delegation), but its EXECUTE call halts and pays no execute fee."""
    l1, delegated = _delegated_origin_chain()
    before = l1.balance(delegated)
    built = l1.mine([l1.call_execute(DELEGATED_KEY, l2.valid)])
    assert not built.skipped and built.receipts[0].status == 1
    assert executed_event(built, 0)[:2] == (False, b"")
    assert before - l1.balance(delegated) == l1_fee(built, 0)
    assert built.block.header.execute_gas_used == 0


def test_simulation_keeps_the_origin_code_check(l2):
    l1, delegated = _delegated_origin_chain()
    assert l1.static_execute(l2.valid, sender=delegated) == (False, b"")
