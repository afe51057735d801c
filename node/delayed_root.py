"""The one-slot delayed state root (EIP-7862), switchable per chain: everything about it
lives here.

With it on, header n carries the post-state root of block n-1 (the root its block started
from), and import checks exactly that (``check_header_state_root``). The fork class gets the
rule by mixing in ``DelayedStateRoot``; the L1 does, switched by
``L1PragueVM.configure(delayed_state_root=...)``. Either way the chain keeps each block's own
post-state root beside it (``PostStateRoots``): "the state after block n" — reads, proofs,
simulations, the next block's start — is that root, whatever the header carries.
"""

from __future__ import annotations

from eth.abc import AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI
from eth_utils import ValidationError

POST_STATE_ROOT_PREFIX = b"native-devnet:post-state-root:"


class DelayedStateRoot:
    """A VM mixin (before the fork's VM class in the bases): with ``delayed_state_root``
    set, the finished block's header carries the root the block started from."""

    delayed_state_root: bool = False

    def finalize_block(self, block: BlockAPI):
        result = super().finalize_block(block)  # type: ignore[misc]
        if not self.delayed_state_root:
            return result
        # Header n carries the post-state root of n-1: the root this block started from.
        delayed = result.block.copy(
            header=result.block.header.copy(state_root=block.header.state_root)
        )
        return type(result)(delayed, result.meta_witness)

    def header_state_root(self, pre_state_root: bytes, post_state_root: bytes) -> bytes:
        """The root the builder's header carries: the pre-state's with the delayed root."""
        if self.delayed_state_root:
            return pre_state_root
        return super().header_state_root(pre_state_root, post_state_root)  # type: ignore[misc]


def uses_delayed_state_root(vm_class: type) -> bool:
    """Whether blocks of ``vm_class`` carry their parent's post-state root."""
    return bool(getattr(vm_class, "delayed_state_root", False))


def check_header_state_root(vm_class: type, header: BlockHeaderAPI, pre_state_root: bytes) -> None:
    """Refuse a block to import whose header does not carry the post-state root of its
    parent, when ``vm_class`` runs the delayed state root."""
    if uses_delayed_state_root(vm_class) and header.state_root != pre_state_root:
        raise ValidationError(
            "state root must be the post-state root of the parent (delayed state root)"
        )


class PostStateRoots:
    """Each block's own post-state root by block hash, in the chain's database."""

    def __init__(self, db: AtomicDatabaseAPI) -> None:
        self.db = db

    def record(self, block_hash: bytes, root: bytes) -> None:
        self.db[POST_STATE_ROOT_PREFIX + block_hash] = root

    def after(self, header: BlockHeaderAPI) -> bytes:
        """The root of the state after ``header``'s block."""
        return self.db[POST_STATE_ROOT_PREFIX + header.hash]
