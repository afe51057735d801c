"""The native rollup's off-chain half: a sequencer and relayer for ``NativeRollup`` (L1) and
the ``L2Messenger`` predeploy (L2), speaking plain JSON-RPC to any L1 and L2 node.

- ``client``: a small JSON-RPC client, hex helpers and a transaction signer with a nonce book.
- ``artifacts``: the committed contract artifacts (``contracts/out``).
- ``messages``: the message format, the L1 message tree (OpenZeppelin ``MerkleTree``) in
  Python, ABI helpers and revert decoding.
- ``rollup``: the L1 contract (views, deposits, deployment) and the rollup's address file.
- ``relayer``: L1 -> L2 delivery (sync ``MessageSent`` logs, prove and claim on L2) and
  L2 -> L1 withdrawals (find them, prove them with ``eth_getProof``, claim them on L1).
- ``sequencer``: builds L2 blocks with the L1 anchor, fetches ``debug_executionWitness``,
  settles each block through ``advance`` -> EXECUTE and checks the hashes agree.
- ``advance``: one L2 block as ``advance`` input (header fields, body, execution witness).
- ``forced``: the forced-inclusion queue as the L1 logs it, ``forceInclude``, and the EXECUTE
  witness that shows a due entry invalid on L2.
- ``derive``: the L2 chain read back from the L1's ``advance`` calldata; an L2 node rolled
  back and replayed onto it (racing sequencers under ``BASED``).
- ``settlement``: one settled block's record, read from its L1 receipt, and its L1 gas split.
- ``scenario``: the end-to-end demo (docs/ROLLUP.md, steps 1-7) and its summary.
- ``scenario_based``, ``scenario_forced`` (told through ``story``): two sequencers racing on
  a ``BASED`` rollup; a censored user forcing her transaction in and settling alone.
- ``localnet``: L1/L2 node processes on free loopback ports, stopped by PID.
- ``cli``: the ``native-rollup`` command.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
