"""Dev accounts: keys derived from a BIP-39 mnemonic on path m/44'/60'/0'/0/i,
the same keys anvil and hardhat print, and how many of them a node funds.

An L1 devnet funds ten, as anvil does. An L2 funds none unless asked: its ETH must be
backed by escrow on the L1 (the messenger's pre-minted supply is released only against
deposits), so any dev funding is a choice the rollup's initial escrow has to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from eth_account import Account
from eth_keys import keys

DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_ACCOUNT_COUNT = 10
DEFAULT_BALANCE_ETH = 10_000

Account.enable_unaudited_hdwallet_features()


@dataclass(frozen=True)
class DevAccount:
    address: bytes
    private_key: keys.PrivateKey


@cache
def derive_dev_accounts(mnemonic: str, count: int) -> tuple[DevAccount, ...]:
    accounts = []
    for index in range(count):
        local = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
        key = keys.PrivateKey(bytes(local.key))
        accounts.append(DevAccount(address=key.public_key.to_canonical_address(), private_key=key))
    return tuple(accounts)


def dev_funding(role: str, count: int | None, balance_eth: int | None) -> tuple[int, int]:
    """(dev accounts, ETH each) for a node of ``role``; ``None`` means "not given". An L2
    funds accounts only when a count or a balance is given explicitly."""
    if role == "l2" and count is None and balance_eth is None:
        return 0, 0
    return (
        DEFAULT_ACCOUNT_COUNT if count is None else count,
        DEFAULT_BALANCE_ETH if balance_eth is None else balance_eth,
    )
