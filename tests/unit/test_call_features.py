"""eth_call/eth_estimateGas extras: geth's state and block overrides, and
eth_createAccessList, in-process on the L1 chain."""

from __future__ import annotations

from eth.constants import ZERO_ADDRESS

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
from node.chain import Chain
from node.genesis import load_genesis
from node.simulation import AccountOverride, BlockOverride, CallRequest

TARGET = b"\x55" * 20
OTHER = b"\x44" * 20
# PUSH20 OTHER BALANCE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: returns OTHER's balance
RETURN_OTHER_BALANCE = bytes.fromhex("73" + "44" * 20 + "3160005260206000f3")
RETURN_TIMESTAMP = bytes.fromhex("4260005260206000f3")
RETURN_NUMBER = bytes.fromhex("4360005260206000f3")
RETURN_SLOT_0 = bytes.fromhex("60005460005260206000f3")


def make_chain() -> tuple[Chain, bytes]:
    account = derive_dev_accounts(DEFAULT_MNEMONIC, 1)[0]
    chain = Chain(load_genesis("genesis/l1.json").with_accounts([account.address], 10**21))
    chain.build_block([])
    return chain, account.address


def word(result) -> int:
    assert result.error is None, result.error
    return int.from_bytes(result.output, "big")


def with_code(code: bytes, **fields) -> tuple:
    return ((TARGET, AccountOverride(code=code, **fields)),)


def test_balance_and_code_overrides_apply_to_the_call_only():
    chain, _ = make_chain()
    overrides = with_code(RETURN_OTHER_BALANCE) + ((OTHER, AccountOverride(balance=0x1234)),)
    assert word(chain.call(CallRequest(to=TARGET, state_overrides=overrides), chain.head)) == 0x1234
    assert chain.balance(OTHER, chain.head) == 0
    assert chain.code(TARGET, chain.head) == b""


def test_state_replaces_storage_and_state_diff_changes_slots():
    chain, _ = make_chain()
    full = with_code(RETURN_SLOT_0, state=((0, 7),))
    assert word(chain.call(CallRequest(to=TARGET, state_overrides=full), chain.head)) == 7
    chain.edit_head_state(
        lambda db: (db.set_code(TARGET, RETURN_SLOT_0), db.set_storage(TARGET, 0, 9))
    )
    diff = ((TARGET, AccountOverride(state_diff=((0, 11),))),)
    assert word(chain.call(CallRequest(to=TARGET, state_overrides=diff), chain.head)) == 11
    emptied = ((TARGET, AccountOverride(state=((1, 1),))),)
    assert word(chain.call(CallRequest(to=TARGET, state_overrides=emptied), chain.head)) == 0
    assert word(chain.call(CallRequest(to=TARGET), chain.head)) == 9


def test_block_override_changes_the_block_context():
    chain, _ = make_chain()
    ts = BlockOverride(timestamp=0x99)
    request = CallRequest(to=TARGET, state_overrides=with_code(RETURN_TIMESTAMP), block_override=ts)
    assert word(chain.call(request, chain.head)) == 0x99
    number = BlockOverride(number=1234)
    request = CallRequest(
        to=TARGET, state_overrides=with_code(RETURN_NUMBER), block_override=number
    )
    assert word(chain.call(request, chain.head)) == 1234


def test_nonce_override_and_estimate_with_overrides():
    chain, sender = make_chain()
    request = CallRequest(
        sender=sender,
        to=TARGET,
        state_overrides=with_code(RETURN_OTHER_BALANCE) + ((sender, AccountOverride(nonce=5)),),
    )
    assert chain.estimate_gas(request, chain.head) > 21_000  # runs code, not a plain transfer


def test_access_list_lists_touched_accounts_but_not_sender_recipient_or_coinbase():
    chain, sender = make_chain()
    chain.edit_head_state(lambda db: db.set_code(TARGET, RETURN_OTHER_BALANCE))
    access, result = chain.create_access_list(CallRequest(sender=sender, to=TARGET), chain.head)
    assert access == ((OTHER, ()),)
    # base + one access-list address + PUSH20, warm BALANCE, PUSH1, MSTORE (+1 word), 2x PUSH1
    assert result.gas_used == 21_000 + 2_400 + 3 + 100 + 3 + (3 + 3) + 3 + 3
    assert result.error is None


def test_access_list_of_storage_reads_in_other_contracts():
    chain, sender = make_chain()
    # TARGET reads slot 3 of OTHER via STATICCALL: OTHER's code does SLOAD(3).
    other_code = bytes.fromhex("60035460005260206000f3")
    call_other = bytes.fromhex("60206000600060007344" + "44" * 19 + "5afa5060206000f3")
    chain.edit_head_state(
        lambda db: (db.set_code(OTHER, other_code), db.set_code(TARGET, call_other))
    )
    access, _ = chain.create_access_list(CallRequest(sender=sender, to=TARGET), chain.head)
    assert access == ((OTHER, (3,)),)
    assert ZERO_ADDRESS not in dict(access)
