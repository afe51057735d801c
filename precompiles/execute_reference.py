"""The reference re-execution of EXECUTE: py-evm's generic ``VM.import_block`` on a
database that holds only the witness.

This is the path EXECUTE ran before ``precompiles.reexecute`` (kept unchanged): slower
(py-evm's block import deep-copies the header per transaction, re-reads the receipts from
the database, computes the transactions root twice), but written entirely in py-evm's
terms. It is the oracle of the differential tests (``tests/unit/test_execute_fast_path.py``)
and the fallback for an L2 VM class whose block import the fast path does not know
(``precompiles.reexecute.fast_path_supported``). ``verify_reference`` is ``verify`` on it.
"""

from __future__ import annotations

import rlp
from eth.consensus.context import ConsensusContext
from eth.constants import EMPTY_SHA256
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.vm.chain_context import ChainContext
from eth.vm.interrupt import EVMMissingData
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError
from trie.exceptions import MissingTrieNode

from precompiles.execute_wire import ExecuteInput, Reason
from precompiles.verdict import UINT256_MAX, Invalid, Verdict
from precompiles.witness import Witness, WitnessDatabase


def with_linked_ancestors(vm_class: type, chain: list) -> type:
    """``vm_class`` whose BLOCKHASH window is exactly the hash-linked chain: the parent's
    hash, then each linked header's ``parent_hash`` (the hash of block k is known iff header
    k+1 is linked). py-evm would only yield hashes of headers it can load, one short."""
    hashes = [chain[0].hash] + [h.parent_hash for h in chain if h.block_number > 0]

    class WitnessVM(vm_class):  # type: ignore[misc, valid-type]
        @property
        def previous_hashes(self):
            return iter(hashes)

    return WitnessVM


def reexecute_reference(
    inp: ExecuteInput, transactions: list, witness: Witness, chain: list, vm_class: type
) -> Verdict:
    """Re-execute through py-evm's ``import_block``; raises ``Invalid`` for an invalid block."""
    parent = chain[0]
    db = WitnessDatabase(witness.nodes)
    for header in chain:
        db[header.hash] = rlp.encode(header)
    atomic = AtomicDB(db)
    chaindb = ChainDB(atomic)
    header = vm_class.create_header_from_parent(
        parent,
        timestamp=inp.timestamp,
        gas_limit=inp.gas_limit,
        coinbase=inp.coinbase,
        mix_hash=inp.prev_randao,
        parent_beacon_block_root=inp.l1_anchor,
        extra_data=b"",
    )
    if header.base_fee_per_gas > UINT256_MAX:
        raise Invalid(Reason.HEADER_RULE, "base fee per gas exceeds uint256")
    vm = with_linked_ancestors(vm_class, chain)(
        header=header,
        chaindb=chaindb,
        chain_context=ChainContext(inp.chain_id),
        consensus_context=ConsensusContext(atomic),
    )
    block = vm.get_block_class()(header, transactions=transactions, uncles=[], withdrawals=[])
    try:
        result = vm.import_block(block).block
    except (EVMMissingData, MissingTrieNode) as exc:
        raise Invalid(Reason.WITNESS_INCOMPLETE, f"{type(exc).__name__}: {exc}") from exc
    except (ValidationError, BadSignature) as exc:
        missing = exc.__context__
        if isinstance(missing, EVMMissingData | MissingTrieNode):
            raise Invalid(Reason.WITNESS_INCOMPLETE, str(missing)) from exc
        raise Invalid(Reason.INVALID_TRANSACTION, str(exc)) from exc
    built = result.header
    if built.base_fee_per_gas * built.gas_used > UINT256_MAX:  # an output word
        raise Invalid(Reason.HEADER_RULE, "burned fees (base fee * gas used) exceed uint256")
    if built.requests_hash != EMPTY_SHA256:
        raise Invalid(Reason.EXECUTION_REQUESTS, "the block produced execution requests")
    if built.gas_used != inp.gas_used:
        raise Invalid(Reason.GAS_USED, f"block used {built.gas_used} gas, not {inp.gas_used}")
    if built.receipt_root != inp.receipts_root:
        raise Invalid(Reason.RECEIPTS_ROOT, "receipts root differs")
    if built.state_root != inp.post_state_root:
        raise Invalid(Reason.POST_STATE_ROOT, "post-state root differs")
    return Verdict(
        reason=None,
        post_state_root=built.state_root,
        number=built.block_number,
        gas_used=built.gas_used,
        base_fee_per_gas=built.base_fee_per_gas,
        block_hash=built.hash,
    )


def verify_reference(inp: ExecuteInput, vm_class: type, transactions=None) -> Verdict:
    """``precompiles.execute.verify`` on the reference re-execution."""
    from precompiles.execute import verify

    return verify(inp, vm_class, transactions, reexecute=reexecute_reference)
