"""A dApp page in headless Chromium reaches the node from another origin (CORS).

The page (tests/js/dapp.html) and ethers' UMD bundle are served by a static HTTP server on a
second loopback port, so the page's origin is not the node's and every call is a cross-origin
request with a preflight. puppeteer-core (tests/js/browser.mjs) drives the system Chromium
(``--headless=new --no-sandbox``); the page reads eth_chainId, sends a transfer from an
unlocked dev account and one it signs itself, and writes the results into the DOM. The test
checks the chain id, then that both transactions are mined, through the node itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from eth_account import Account

from tests.procs import DEV_ADDRESSES, DEV_KEYS, NODE_MODULES, ROOT, require_tool, start_node

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.requires_tools("node", "chromium", "puppeteer-core", "ethers"),
]

BROWSER_TIMEOUT = 120  # seconds for the whole browser run; it takes a few
VALUE = 10**15 + 3  # wei each transaction sends
FILES = {  # what the static server serves: the page and ethers' UMD bundle, nothing else
    "/": (ROOT / "tests" / "js" / "dapp.html", "text/html; charset=utf-8"),
    "/ethers.umd.min.js": (
        NODE_MODULES / "ethers" / "dist" / "ethers.umd.min.js",
        "text/javascript; charset=utf-8",
    ),
}


class StaticHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urllib.parse.urlsplit(self.path).path
        if path == "/favicon.ico":  # the browser asks; nothing to show
            self.send_response(204)
            self.end_headers()
            return
        if path not in FILES:
            self.send_error(404)
            return
        file, content_type = FILES[path]
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def static_origin():
    """The page's origin: a static server on another free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StaticHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def open_dapp(origin: str, node_url: str, recipient: str) -> dict:
    query = urllib.parse.urlencode(
        {
            "rpc": node_url,
            "from": DEV_ADDRESSES[1],
            "key": DEV_KEYS[2],
            "to": recipient,
            "value": str(VALUE),
        }
    )
    proc = subprocess.run(
        [
            str(require_tool("node")),
            str(ROOT / "tests" / "js" / "browser.mjs"),
            f"{origin}/?{query}",
            str(require_tool("chromium")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
    )
    report = f"exit {proc.returncode}\n--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}"
    assert proc.returncode == 0, report
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["result"] is not None, report
    assert out["result"]["origin"] == origin, report
    return out


def assert_page_sent_both(node, out: dict, recipient: str) -> None:
    result = out["result"]
    assert "error" not in result, out
    assert result["chainId"] == "0x7a69", out
    assert result["unlockedStatus"] == result["signedStatus"] == 1, out
    # mined, seen through the node itself
    unlocked = node.call("eth_getTransactionReceipt", result["unlockedTx"])
    signed = node.call("eth_getTransactionReceipt", result["signedTx"])
    assert unlocked["status"] == signed["status"] == "0x1"
    assert unlocked["from"].lower() == DEV_ADDRESSES[1].lower()
    assert signed["from"].lower() == DEV_ADDRESSES[2].lower()
    assert unlocked["to"].lower() == signed["to"].lower() == recipient.lower()
    assert int(node.call("eth_getBalance", recipient, "latest"), 16) == 2 * VALUE
    assert int(result["balance"]) == 2 * VALUE


def test_page_from_another_origin_reads_chain_id_and_sends(static_origin, tmp_path):
    """The default CORS policy lets a page on another loopback port in."""
    node = start_node(log_dir=tmp_path)
    try:
        assert node.url != static_origin  # another origin: another port
        recipient = Account.create().address
        out = open_dapp(static_origin, node.url, recipient)
        assert_page_sent_both(node, out, recipient)
        assert out["pageErrors"] == out["failedRequests"] == [], out
        assert not [line for line in out["console"] if line.startswith("error")], out
    finally:
        node.stop()


def test_allow_origin_naming_the_page(static_origin, tmp_path):
    node = start_node(["--allow-origin", static_origin], log_dir=tmp_path)
    try:
        recipient = Account.create().address
        assert_page_sent_both(node, open_dapp(static_origin, node.url, recipient), recipient)
    finally:
        node.stop()


def test_origin_not_allowed_cannot_reach_the_node(static_origin, tmp_path):
    """A node that allows only another origin: the browser blocks the page's calls."""
    node = start_node(["--allow-origin", "http://dapp.example"], log_dir=tmp_path)
    try:
        recipient = Account.create().address
        out = open_dapp(static_origin, node.url, recipient)
        result = out["result"]
        assert "error" in result, out
        assert "chainId" not in result and "unlockedTx" not in result, out
        assert any(node.url in failed for failed in out["failedRequests"]), out
        assert any("blocked by CORS policy" in line for line in out["console"]), out
        assert int(node.call("eth_getBalance", recipient, "latest"), 16) == 0
        assert node.call("eth_blockNumber") == "0x0"  # nothing was sent
    finally:
        node.stop()


def _ci_run_with_stubs(tmp_path, *, root: bool, sudo: bool, chromium: bool) -> tuple[int, str]:
    """Run .ci/run on a PATH of stubs (apt-get, make, sudo print what they were asked)."""

    stubs = tmp_path / "bin"
    stubs.mkdir(parents=True)
    for tool in ("bash", "env", "dirname"):
        (stubs / tool).symlink_to(shutil.which(tool))
    scripts = {"apt-get": 'echo "apt-get $*"', "make": 'echo "make $*"'}
    scripts["id"] = "echo 0" if root else "echo 1000"
    if sudo:
        scripts["sudo"] = 'echo "sudo $*"'
    if chromium:
        scripts["chromium"] = "true"
    for name, body in scripts.items():
        (stubs / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (stubs / name).chmod(0o755)
    proc = subprocess.run(
        [str(stubs / "bash"), str(ROOT / ".ci" / "run")],
        env={**os.environ, "PATH": str(stubs)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_ci_installs_chromium_only_when_missing(tmp_path):
    """.ci/run installs Chromium from apt (update first) before `make test`, only if missing."""
    code, out = _ci_run_with_stubs(tmp_path / "a", root=True, sudo=False, chromium=False)
    assert code == 0, out
    assert out.splitlines() == [
        "apt-get update",
        "apt-get install -y chromium",
        "make lint",
        "make test",
        "make compose-test",
    ]
    code, out = _ci_run_with_stubs(tmp_path / "b", root=True, sudo=False, chromium=True)
    assert (code, out.splitlines()) == (0, ["make lint", "make test", "make compose-test"]), out
    code, out = _ci_run_with_stubs(tmp_path / "c", root=False, sudo=True, chromium=False)
    assert code == 0, out
    assert out.splitlines()[:2] == [
        "sudo apt-get update",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium",
    ]
    code, out = _ci_run_with_stubs(tmp_path / "d", root=False, sudo=False, chromium=False)
    assert code != 0 and "chromium is missing" in out and "make" not in out, out
