"""Header creation for devnet blocks: a pinned gas limit and the post-merge fixed fields.

py-evm's London header logic moves the gas limit towards a built-in target on every block;
a devnet keeps the limit its genesis (or ``--gas-limit``) set.
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI
from eth.vm.forks.prague.headers import create_prague_header_from_parent

_create_prague = create_prague_header_from_parent()


def create_devnet_header_from_parent(
    parent_header: BlockHeaderAPI | None, **header_params: Any
) -> BlockHeaderAPI:
    if parent_header is not None:
        header_params.setdefault("gas_limit", parent_header.gas_limit)
        header_params.setdefault("difficulty", 0)
    return _create_prague(parent_header, **header_params)
