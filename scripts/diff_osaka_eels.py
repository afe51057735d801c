#!/usr/bin/env python3
"""Differential check of the devnet's Osaka against the Ethereum execution specs (EELS).

A thin CLI over ``devtools/osaka_blocks.py`` (``tests/unit/test_osaka_eels.py`` is the CI
test, on L2 blocks with EXECUTE too). EELS (``ethereum-execution``, a pinned dependency) now
installs beside the node, so ``run`` does both halves in one process:

    .venv/bin/python scripts/diff_osaka_eels.py run --seed 1 --blocks 12

``emit`` and ``check`` still split them through a JSON file (e.g. for another EELS version
in its own venv). The blocks: random Osaka blocks on the plain devnet genesis using CLZ,
P256VERIFY (valid, high-s, wrong hash, r = 0, short input) and MODEXP (lengths 0, 1, 32, 33,
100, 1024 and 1025), transfers at 2^24 and 2^24 + 1 gas (the builder leaves the latter out),
and one block holding a 2^24 + 1 transfer built by a Prague twin, which EELS's Osaka
``state_transition`` and the node's import must both reject.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def emit_doc(seed: int, blocks: int) -> dict:
    import rlp

    from devtools.osaka_blocks import above_cap_block, build_blocks, node_import, osaka_genesis
    from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts
    from node.chain import Chain
    from node.genesis import DEFAULT_L1_GENESIS, ExecuteParams, load_genesis

    accounts = derive_dev_accounts(DEFAULT_MNEMONIC, 4)
    base = load_genesis(DEFAULT_L1_GENESIS).with_accounts([a.address for a in accounts], 10**24)
    base = replace(base, execute=ExecuteParams(), delayed_state_root=False)  # plain devnet
    genesis = osaka_genesis(base)
    keys = [a.private_key for a in accounts]
    chain, built = build_blocks(genesis, keys, seed, blocks)
    _, bad_block = above_cap_block(genesis, keys[0])
    refusal = node_import(Chain(genesis), bad_block)
    return {
        "chain_id": chain.chain_id,
        "genesis_header": rlp.encode(chain.header_by_number(0)).hex(),
        "alloc": {
            address.hex(): {
                "balance": a.balance,
                "nonce": a.nonce,
                "code": a.code.hex(),
                "storage": {str(k): v for k, v in a.storage.items()},
            }
            for address, a in genesis.alloc.items()
        },
        "blocks": [rlp.encode(b.block).hex() for b in built],
        "prague_twin_block": rlp.encode(bad_block).hex(),
        "node_on_prague_twin_block": "valid" if refusal is None else f"invalid: {refusal}",
    }


def check_doc(doc: dict) -> int:
    from devtools.osaka_blocks import eels_chain, eels_import

    alloc = {
        bytes.fromhex(address): (
            a["nonce"],
            a["balance"],
            bytes.fromhex(a["code"]),
            {int(k): v for k, v in a["storage"].items()},
        )
        for address, a in doc["alloc"].items()
    }
    header = bytes.fromhex(doc["genesis_header"])

    def fresh():
        return eels_chain(header, alloc, doc.get("chain_id", 31337))

    chain = fresh()
    imported = 0
    for number, raw in enumerate(doc["blocks"], start=1):
        refusal = eels_import(chain, bytes.fromhex(raw))
        if refusal is not None:
            print(f"block {number}: EELS rejects the node's block: {refusal}")
            break
        imported += 1
    print(f"EELS imported {imported} of {len(doc['blocks'])} node blocks")
    refusal = eels_import(fresh(), bytes.fromhex(doc["prague_twin_block"]))
    eels_verdict = "valid" if refusal is None else f"invalid: {refusal}"
    node_verdict = doc["node_on_prague_twin_block"]
    print(f"a 2^24 + 1 gas transfer: EELS {eels_verdict}; node {node_verdict}")
    bad = imported < len(doc["blocks"]) or "valid" in (eels_verdict, node_verdict)
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="build the blocks and import them with EELS")
    e = sub.add_parser("emit", help="build blocks with the node into a JSON file")
    e.add_argument("path", type=Path)
    for p in (r, e):
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--blocks", type=int, default=12)
    c = sub.add_parser("check", help="import a JSON file's blocks with EELS")
    c.add_argument("path", type=Path)
    args = parser.parse_args()
    if args.command == "check":
        return check_doc(json.loads(args.path.read_text()))
    doc = emit_doc(args.seed, args.blocks)
    print(
        f"{len(doc['blocks'])} blocks; node on the twin block: {doc['node_on_prague_twin_block']}"
    )
    if args.command == "emit":
        args.path.write_text(json.dumps(doc))
        return 0
    return check_doc(doc)


if __name__ == "__main__":
    sys.exit(main())
