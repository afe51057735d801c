"""Dev accounts: keys derived from a BIP-39 mnemonic on path m/44'/60'/0'/0/i,
the same keys anvil and hardhat print."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from eth_account import Account
from eth_keys import keys

DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_ACCOUNT_COUNT = 10
DEFAULT_BALANCE_WEI = 10_000 * 10**18

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
