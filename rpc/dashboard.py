"""The read-only dashboard served at ``GET /`` on the RPC port (issue 16).

The page is package data (``rpc/dashboard/``: HTML, JS, CSS and the vendored Chart.js,
copied from node_modules by ``scripts/vendor-dashboard.py``); no build step, no CDN. It talks
to the node over one WebSocket on the same port with read methods only (``READ_METHODS``; the
page refuses any other name before sending it) and refreshes on ``newHeads``.

``GET /dashboard/<asset>`` serves the files by name (nothing else: no paths), and
``GET /dashboard/config.json`` what the page cannot ask over JSON-RPC: the chain's role, and
the rollup it should show (``--rollup-deployment FILE``, a ``native-rollup`` deployment file
read at each request so it may appear after the node starts, and ``--rollup-l2-url``), with
the event topics and view selectors the page needs (browsers have no keccak). A file that is
missing, too large or malformed, or an L2 URL that is not http(s), becomes a message the page
shows in the rollup panel.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from eth_utils import keccak

from node.devnet import Devnet

ASSET_DIR = "dashboard"  # inside the ``rpc`` package
ASSETS = {  # name -> content type; the only files served
    "index.html": "text/html",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "chart.umd.min.js": "text/javascript",
    "chart.js.LICENSE.md": "text/plain",
}
CONFIG = "config.json"
MAX_DEPLOYMENT_FILE_BYTES = 64 * 1024  # a deployment file is a few hundred bytes

# Every method the page may call; none changes the chain (the browser test checks the page
# sends nothing else). eth_subscribe/eth_unsubscribe only open and close its newHeads feed.
READ_METHODS = (
    "eth_chainId",
    "eth_blockNumber",
    "eth_accounts",
    "eth_getBalance",
    "eth_getCode",
    "eth_getBlockByNumber",
    "eth_getBlockReceipts",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getLogs",
    "eth_call",
    "eth_subscribe",
    "eth_unsubscribe",
    "web3_clientVersion",
    "txpool_status",
    "txpool_content",
    "execute_params",
    "execute_feeHistory",
    "execute_transactionStatus",
    "execute_disagreements",
)

EVENTS = {
    "BlockSettled": "BlockSettled(uint256,bytes32,bytes32,uint256,uint256,uint256)",
    "MessageSent": "MessageSent(uint256,address,address,uint256,uint256,uint256,bytes,bytes32)",
    "L2MessageClaimed": "L2MessageClaimed(bytes32,uint256,address)",
    "MessageDelivered": "MessageDelivered(bytes32,uint256,address)",
    # v2: the forced-inclusion queue (NativeRollup) and proposals (OptimisticRollup)
    "ForcedTxQueued": "ForcedTxQueued(uint256,bytes32,address,uint256,bytes)",
    "ForcedTxIncluded": "ForcedTxIncluded(uint256,bytes32,uint256)",
    "ForcedTxSkipped": "ForcedTxSkipped(uint256,bytes32,uint256)",
    "Proposed": "Proposed(uint256,bytes32,bytes32,bytes32,bytes32)",
    "ProposalsDiscarded": "ProposalsDiscarded(uint256,uint256,address,uint256,uint256)",
    "ChallengeFailed": "ChallengeFailed(uint256,address,uint256)",
}
# Views every rollup has (messaging, escrow), then each kind's own; the page asks each kind's
# and shows a view that fails as unknown.
VIEWS = ("escrowed()", "messageCount()", "anchoredMessageCount()")
SETTLED_VIEWS = ("lastBlockNumber()", "lastBlockHash()")
FORCED_VIEWS = ("policy()", "forceDelay()", "forcedCount()", "forcedHead()", "dueCount()")
FORCED_VIEWS += ("forcedFallbackOpen()",)
OPTIMISTIC_VIEWS = ("CHALLENGE_WINDOW()", "PROPOSER_BOND()", "lastProposedNumber()")
OPTIMISTIC_VIEWS += ("finalizedNumber()",)
# the page reads the witness's length from this call's 9th argument (dashboard.js)
ADVANCE = "advance(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes,bytes)"
L2_MESSENGER = "0x4200000000000000000000000000000000000007"  # sequencer.rollup.MESSENGER
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class DashboardSettings:
    """What the node knows of a rollup (``None``: no rollup panel)."""

    rollup_deployment: Path | None = None
    rollup_l2_url: str | None = None


def _headers(content_type: str, connect: str = "") -> dict[str, str]:
    csp = (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors 'none'; connect-src 'self'{connect}"
    )
    return {
        "Content-Type": f"{content_type}; charset=utf-8",
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _l2_origin(url: str | None) -> str | None:
    """The http(s) origin of ``url`` (``None`` if it is not one)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def read_deployment(path: Path) -> dict[str, Any]:
    """The rollup of a ``native-rollup`` deployment file: its address and deploy block.
    ``ValueError`` says in words what is wrong with the file."""
    try:
        # Without blocking: a FIFO (or a device) at the path would freeze the event loop in
        # open() or read() until a writer came; only a regular file is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise ValueError(f"rollup deployment file {path} does not exist (yet)") from None
    except OSError as exc:
        raise ValueError(f"cannot read rollup deployment file {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"rollup deployment file {path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_DEPLOYMENT_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_DEPLOYMENT_FILE_BYTES:
        raise ValueError(f"rollup deployment file {path} is over {MAX_DEPLOYMENT_FILE_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except ValueError as exc:  # not UTF-8, not JSON, or an integer past Python's 4300 digits
        raise ValueError(f"rollup deployment file {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"rollup deployment file {path} is not a JSON object")
    address = doc.get("address")
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise ValueError(f"rollup deployment file {path} has no 0x-address in 'address'")
    deploy_block = doc.get("deploy_block", 0)
    if isinstance(deploy_block, bool) or not isinstance(deploy_block, int) or deploy_block < 0:
        raise ValueError(f"rollup deployment file {path}: 'deploy_block' is not a block number")
    rollup = {"address": address.lower(), "deployBlock": deploy_block}
    for key, name in (("l2_chain_id", "l2ChainId"), ("sequencer", "sequencer")):
        if isinstance(doc.get(key), int | str) and not isinstance(doc.get(key), bool):
            rollup[name] = doc[key]
    return rollup


class Dashboard:
    """The page, its assets and its config for one node."""

    def __init__(self, devnet: Devnet, settings: DashboardSettings | None = None) -> None:
        self.devnet = devnet
        self.settings = settings or DashboardSettings()
        origin = _l2_origin(self.settings.rollup_l2_url)
        self._connect = f" {origin}" if origin else ""

    def _file(self, name: str) -> bytes:
        return (resources.files("rpc") / ASSET_DIR / name).read_bytes()

    async def page(self, request: web.Request) -> web.StreamResponse:
        body = self._file("index.html")
        return web.Response(body=body, headers=_headers(ASSETS["index.html"], self._connect))

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("asset", "")
        if name == CONFIG:
            body = json.dumps(self.config()).encode()
            return web.Response(body=body, headers=_headers("application/json", self._connect))
        if name not in ASSETS:
            return web.Response(status=404, text=f"no dashboard asset {name!r}\n")
        body = self._file(name)
        return web.Response(body=body, headers=_headers(ASSETS[name], self._connect))

    def config(self) -> dict[str, Any]:
        genesis = self.devnet.genesis
        out: dict[str, Any] = {
            "role": genesis.role,
            "execute": bool(genesis.execute.enabled),
            "readMethods": list(READ_METHODS),
            "rollup": None,
            "rollupError": None,
            "l2Url": None,
            "l2UrlError": None,
        }
        path = self.settings.rollup_deployment
        if path is None:
            return out
        try:
            out["rollup"] = read_deployment(path)
        except ValueError as exc:
            out["rollupError"] = str(exc)
            return out
        url = self.settings.rollup_l2_url
        if url is None:
            out["l2UrlError"] = (
                "no L2 node URL given (--rollup-l2-url): settled hashes are not checked "
                "and deposits on the L2 are not followed"
            )
        elif _l2_origin(url) is None:
            out["l2UrlError"] = f"--rollup-l2-url {url!r} is not an http(s) URL"
        else:
            out["l2Url"] = url
        out["abi"] = {
            "topics": {name: "0x" + keccak(text=sig).hex() for name, sig in EVENTS.items()},
            "views": {
                sig.split("(")[0]: "0x" + keccak(text=sig)[:4].hex()
                for sig in (*VIEWS, *SETTLED_VIEWS, *FORCED_VIEWS, *OPTIMISTIC_VIEWS)
            },
            "advance": "0x" + keccak(text=ADVANCE)[:4].hex(),
            "l2Messenger": L2_MESSENGER,
        }
        return out
