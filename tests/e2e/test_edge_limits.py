"""The HTTP/WebSocket edge: who may talk to the node, in which format, how much and how slowly.

Browser posture: a POST must be JSON (``415`` otherwise, as geth), a Host header naming
anything but loopback is refused on a loopback bind (``403``, geth's vhosts), and one Origin
policy decides CORS preflights, cross-origin POSTs and WebSocket upgrades (default: loopback
pages and browser extensions; ``--allow-origin '*'`` is anvil's behaviour).

Wire: bodies are strict UTF-8 JSON (a BOM, UTF-16/32, ``NaN``/``Infinity`` are parse
errors), ids are strings, numbers or null, every response parses as strict JSON, and a
batch's response stops growing at 25 MB (geth's ``response too large`` for the rest).

Sizes and time: bodies over ``--max-body-size`` are refused from their Content-Length
(``413``) and WebSocket messages over it close the socket (1009); a body with too many
JSON values is refused before it is parsed; while a big body is parsed other clients are
answered; ``--max-connections`` caps open connections (``503`` beyond); a client that
trickles its request head or body is dropped after ``--read-timeout``; WebSocket
subscribers that never read are disconnected before their backlog grows the node's memory.
``--silent`` never hides the warning about listening beyond loopback.

Nodes are real processes on free loopback ports; sockets are raw where a real client would
hide what is tested (Host, Origin, a half-sent request).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import socket
import struct
import threading
import time

import pytest
import websockets

from tests.procs import DEV_ADDRESSES, NodeProcess, rpc, under_test, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(under_test() == "anvil", reason="the node's own edge policy and flags"),
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
RESPONSE_TOO_LARGE = -32003  # geth's code for a batch whose response passed the limit
BATCH_RESPONSE_LIMIT = 25_000_000  # geth's --rpc.batch-response-max-size
DEFAULT_BODY_LIMIT = 32 * 2**20
WAIT = 20.0  # seconds any expected drop/answer may take (generous for CI)
BLOCK_NUMBER = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
FOREIGN_ORIGIN = "https://attacker.example"
LOCAL_DAPP = "http://localhost:5173"


# --------------------------------------------------------------------------- helpers


def http_request(
    node: NodeProcess,
    body: bytes | None = BLOCK_NUMBER,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    timeout: float = 60.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; ``headers`` replace the defaults (JSON, our Host)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)
    try:
        sent = {"Content-Type": "application/json"}
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        conn.request(method, "/", body=body, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def strict_json(raw: bytes):
    """Parse as a strict JSON parser would (Go, Rust, browsers): no NaN/Infinity, UTF-8."""

    def refuse(constant: str):
        raise AssertionError(f"response is not JSON: contains {constant}")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def nonce(node: NodeProcess, address: str = DEV_ADDRESSES[0]) -> int:
    return int(node.call("eth_getTransactionCount", address, "pending"), 16)


def send_transaction_body() -> bytes:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendTransaction",
            "params": [{"from": DEV_ADDRESSES[0], "to": DEV_ADDRESSES[1], "value": "0x1"}],
        }
    ).encode()


def ws_frame(text: str | bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (what a browser sends)."""
    payload = text.encode() if isinstance(text, str) else text
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 2**16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_handshake(
    node: NodeProcess, origin: str | None = None, rcvbuf: int | None = None
) -> tuple[socket.socket, int]:
    """Open a raw WebSocket; returns the socket and the HTTP status of the upgrade."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", node.port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET / HTTP/1.1",
        f"Host: 127.0.0.1:{node.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head else 0
    return sock, status


def closed_within(sock: socket.socket, seconds: float, keep_sending: bytes = b"") -> bool:
    """True once the peer closes ``sock`` (EOF or reset) within ``seconds``; meanwhile
    ``keep_sending`` is trickled one byte at a time, as a slowloris client does."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() < deadline:
        if sent < len(keep_sending):
            try:
                sock.send(keep_sending[sent : sent + 1])
                sent += 1
            except OSError:
                return True
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return True
        if not data:
            return True
        # an answer (e.g. 408) is fine too; keep reading until the close
    return False


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Poller(threading.Thread):
    """A second client: ``eth_blockNumber`` on its own keep-alive connection, latencies kept."""

    def __init__(self, node: NodeProcess) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.latencies: list[tuple[float, float]] = []  # (sent, seconds)
        self.stop = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=60)
        while not self.stop.is_set():
            sent = time.monotonic()
            conn.request("POST", "/", BLOCK_NUMBER, {"Content-Type": "application/json"})
            response = conn.getresponse()
            assert "result" in json.loads(response.read())
            self.latencies.append((sent, time.monotonic() - sent))
            time.sleep(0.005)
        conn.close()


# --------------------------------------------------------------------------- content type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
    ids=["text-plain", "form", "multipart", "missing"],
)
def test_non_json_post_is_refused_with_415_and_not_executed(shared_l1, content_type):
    """The cross-origin "simple request" a hostile page can send without a preflight."""
    before = nonce(shared_l1)
    status, _, body = http_request(
        shared_l1, send_transaction_body(), {"Content-Type": content_type}
    )
    assert status == 415, (status, body)
    assert b"application/json" in body
    assert nonce(shared_l1) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json-rpc",
        "application/jsonrequest",
    ],
)
def test_json_content_types_are_served(shared_l1, content_type):
    status, _, body = http_request(shared_l1, BLOCK_NUMBER, {"Content-Type": content_type})
    assert status == 200, body
    assert "result" in strict_json(body)


# --------------------------------------------------------------------------- Host (DNS rebinding)


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:8545", "localhost.attacker.example"]
)
def test_foreign_host_is_refused_on_a_loopback_bind(shared_l1, host):
    before = nonce(shared_l1)
    status, _, body = http_request(shared_l1, send_transaction_body(), {"Host": host})
    assert status == 403, (status, body)
    assert b"invalid host specified" in body
    assert nonce(shared_l1) == before


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8545", "127.0.0.1:1234", "[::1]:8545", "LOCALHOST"]
)
def test_loopback_hosts_are_served(shared_l1, host):
    status, _, body = http_request(shared_l1, BLOCK_NUMBER, {"Host": host})
    assert status == 200, (status, body)


def test_foreign_host_websocket_upgrade_is_refused(shared_l1):
    sock = socket.create_connection(("127.0.0.1", shared_l1.port), timeout=WAIT)
    with sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: attacker.example\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 403")


def test_allow_host_flag(node_factory):
    node = node_factory("--allow-host", "devnet.internal,other.internal")
    assert http_request(node, headers={"Host": "devnet.internal:8545"})[0] == 200
    assert http_request(node, headers={"Host": "other.internal"})[0] == 200
    assert http_request(node, headers={"Host": "localhost"})[0] == 403  # replaced the default
    assert http_request(node, headers={"Host": "127.0.0.1"})[0] == 200  # IPs cannot rebind
    anything = node_factory("--allow-host", "*")
    assert http_request(anything, headers={"Host": "attacker.example"})[0] == 200


# --------------------------------------------------------------------------- Origin / CORS


def preflight(node: NodeProcess, origin: str, **extra: str) -> tuple[int, dict[str, str]]:
    status, headers, _ = http_request(
        node,
        None,
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
            "Content-Type": None,
            **extra,
        },
        method="OPTIONS",
    )
    return status, headers


@pytest.mark.parametrize(
    "origin",
    [
        LOCAL_DAPP,
        "http://127.0.0.1:3000",
        "https://localhost",
        "http://[::1]:8080",
        "chrome-extension://nkbihfbeogaeaoehlefnkodbefgpgknn",
    ],
)
def test_preflight_from_an_allowed_origin(shared_l1, origin):
    status, headers = preflight(shared_l1, origin)
    assert status in (200, 204), (status, headers)
    assert headers.get("access-control-allow-origin") == origin
    assert "POST" in headers.get("access-control-allow-methods", "")
    assert "content-type" in headers.get("access-control-allow-headers", "").lower()
    # and the request that follows carries the header the browser needs to read it
    status, headers, body = http_request(shared_l1, BLOCK_NUMBER, {"Origin": origin})
    assert status == 200, body
    assert headers.get("access-control-allow-origin") == origin
    assert "origin" in headers.get("vary", "").lower()


@pytest.mark.parametrize(
    "origin", [FOREIGN_ORIGIN, "http://localhost.attacker.example", "null", "file://"]
)
def test_preflight_and_post_from_a_foreign_origin_are_refused(shared_l1, origin):
    status, headers = preflight(shared_l1, origin)
    assert status == 403, (status, headers)
    assert "access-control-allow-origin" not in headers
    before = nonce(shared_l1)
    status, headers, _ = http_request(shared_l1, send_transaction_body(), {"Origin": origin})
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert nonce(shared_l1) == before


def test_websocket_origin_policy(shared_l1):
    for origin, expected in ((FOREIGN_ORIGIN, 403), (LOCAL_DAPP, 101), (None, 101)):
        sock, status = ws_handshake(shared_l1, origin)
        sock.close()
        assert status == expected, (origin, status)


def test_allow_origin_star_is_anvils_behaviour(node_factory):
    node = node_factory("--allow-origin", "*")
    status, headers = preflight(node, FOREIGN_ORIGIN)
    assert status in (200, 204)
    assert headers.get("access-control-allow-origin") in ("*", FOREIGN_ORIGIN)
    sock, status = ws_handshake(node, FOREIGN_ORIGIN)
    sock.close()
    assert status == 101


def test_allow_origin_list_replaces_the_default(node_factory):
    node = node_factory(
        "--allow-origin", "https://app.example.com", "--allow-origin", "https://*.dev.example"
    )
    assert preflight(node, "https://app.example.com")[0] in (200, 204)
    assert preflight(node, "https://a.dev.example")[0] in (200, 204)
    assert preflight(node, LOCAL_DAPP)[0] == 403
    assert preflight(node, "https://app.example.com.evil")[0] == 403


def test_private_network_preflight(node_factory):
    """Chrome asks a public page's permission to reach a loopback server explicitly."""
    node = node_factory("--allow-origin", "https://app.example.com")
    status, headers = preflight(
        node, "https://app.example.com", **{"Access-Control-Request-Private-Network": "true"}
    )
    assert status in (200, 204)
    assert headers.get("access-control-allow-private-network") == "true"


# --------------------------------------------------------------------------- strict wire


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + BLOCK_NUMBER,
        BLOCK_NUMBER.decode().encode("utf-16"),
        BLOCK_NUMBER.decode().encode("utf-16-le"),
        BLOCK_NUMBER.decode().encode("utf-32"),
        b'{"jsonrpc":"2.0","id":NaN,"method":"eth_blockNumber","params":[]}',
        b'{"jsonrpc":"2.0","id":Infinity,"method":"eth_blockNumber","params":[]}',
        b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[-Infinity,"latest"]}',
        b'[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"id":NaN}]',
        b'{"jsonrpc":"2.0","id":1e400,"method":"eth_blockNumber","params":[]}',
    ],
    ids=[
        "bom",
        "utf-16",
        "utf-16-le",
        "utf-32",
        "nan-id",
        "infinity-id",
        "minus-infinity",
        "nan-in-batch",
        "overflowing-number",
    ],
)
def test_non_strict_bodies_are_parse_errors(shared_l1, body):
    status, _, raw = http_request(shared_l1, body)
    response = strict_json(raw)
    assert response["error"]["code"] == PARSE_ERROR, response
    assert response["id"] is None


def test_websocket_messages_are_strict_too(shared_l1):
    async def go():
        async with websockets.connect(shared_l1.ws_url) as ws:
            await ws.send('{"jsonrpc":"2.0","id":NaN,"method":"eth_blockNumber"}')
            response = strict_json((await asyncio.wait_for(ws.recv(), WAIT)).encode())
            assert response["error"]["code"] == PARSE_ERROR
            await ws.send("\ufeff" + BLOCK_NUMBER.decode())
            response = strict_json((await asyncio.wait_for(ws.recv(), WAIT)).encode())
            assert response["error"]["code"] == PARSE_ERROR

    asyncio.run(go())


@pytest.mark.parametrize("id_", ["true", "false", "[1]", '{"a":1}'])
def test_ids_are_strings_numbers_or_null(shared_l1, id_):
    body = f'{{"jsonrpc":"2.0","id":{id_},"method":"eth_blockNumber","params":[]}}'.encode()
    response = strict_json(http_request(shared_l1, body)[2])
    assert response["error"]["code"] == INVALID_REQUEST, response
    assert response["id"] is None


@pytest.mark.parametrize("id_", ['"abc"', "7", "1.5", "-3", "null", "1e3"])
def test_valid_ids_are_echoed(shared_l1, id_):
    body = f'{{"jsonrpc":"2.0","id":{id_},"method":"eth_blockNumber","params":[]}}'.encode()
    response = strict_json(http_request(shared_l1, body)[2])
    assert "result" in response, response
    assert response["id"] == json.loads(id_)


def test_batch_response_stops_at_25_mb(node_factory):
    node = node_factory()
    code_size = 200_000  # 400 kB of hex per eth_getCode answer
    target = "0x" + "42" * 20
    node.call("anvil_setCode", target, "0x" + "5b" * code_size)
    count = 100  # 40 MB if all were answered
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_getCode", "params": [target, "latest"]}
        for i in range(count)
    ]
    status, _, raw = http_request(node, json.dumps(batch).encode(), timeout=120)
    responses = strict_json(raw)
    assert status == 200 and len(responses) == count
    answered = [r for r in responses if "result" in r]
    refused = [r for r in responses if "error" in r]
    assert answered and refused, (len(answered), len(refused))
    assert {r["id"] for r in responses} == set(range(count))
    assert all(r["error"]["code"] == RESPONSE_TOO_LARGE for r in refused)
    assert all(r["error"]["message"] == "response too large" for r in refused)
    assert len(raw) < BATCH_RESPONSE_LIMIT + 2 * code_size + 100_000
    assert sum(len(r["result"]) for r in answered) >= BATCH_RESPONSE_LIMIT - 2 * code_size - 2


# --------------------------------------------------------------------------- sizes


def test_body_over_the_default_limit_is_refused_from_its_length(shared_l1):
    """Only the head is sent: the node must answer 413 without waiting for 40 MB."""
    sock = socket.create_connection(("127.0.0.1", shared_l1.port), timeout=WAIT)
    with sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {DEFAULT_BODY_LIMIT + 1}\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert (
        f"content length too large ({DEFAULT_BODY_LIMIT + 1}>{DEFAULT_BODY_LIMIT})".encode()
        in answer
    )


def padded(size: int) -> bytes:
    """A valid eth_blockNumber request of exactly ``size`` bytes (whitespace padding)."""
    return BLOCK_NUMBER[:-1] + b" " * (size - len(BLOCK_NUMBER)) + b"}"


def test_max_body_size_flag_http_and_websocket(node_factory):
    node = node_factory("--max-body-size", "1MiB")
    limit = 2**20
    status, _, raw = http_request(node, padded(limit))
    assert status == 200 and "result" in strict_json(raw)
    status, _, raw = http_request(node, padded(limit + 1))
    assert status == 413, raw
    assert f"({limit + 1}>{limit})".encode() in raw

    async def go():
        async with websockets.connect(node.ws_url, max_size=None) as ws:
            await ws.send(padded(limit).decode())
            assert "result" in json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            await ws.send(padded(limit + 1).decode())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert closed.value.rcvd.code == 1009

    asyncio.run(go())


def test_a_body_of_too_many_json_values_is_refused_unparsed(shared_l1):
    """Half a million empty arrays are 1.5 MB of body but 40 MB of Python objects."""
    params = b"[" + b"[]," * 600_000 + b"[]]"
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":' + params + b"}"
    response = strict_json(http_request(shared_l1, body)[2])
    assert response["error"]["code"] == INVALID_REQUEST, response
    assert "too many JSON values" in response["error"]["message"]


def big_string_body() -> bytes:
    """30 MB in one string, the shape of anvil_loadState or a large raw transaction."""
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": ["0x" + "ab" * (15 * 2**20)]}
    ).encode()


def many_values_body() -> bytes:
    """480 000 values and keys in 2 MB: what makes a parse slow, just under the value cap."""
    params = [{"a": i, "b": [i]} for i in range(80_000)]
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": params}
    ).encode()


@pytest.mark.parametrize("make_body", [big_string_body, many_values_body])
def test_other_clients_are_answered_while_a_big_body_is_parsed(shared_l1, make_body):
    body = make_body()
    poller = Poller(shared_l1)
    poller.start()
    wait_until(lambda: poller.latencies, "the second client's first answer", interval=0.01)
    start = time.monotonic()
    status, _, raw = http_request(shared_l1, body, timeout=120)
    end = time.monotonic()
    poller.stop.set()
    poller.join()
    assert status == 200
    assert "result" in strict_json(raw)
    during = [seconds for sent, seconds in poller.latencies if start <= sent <= end]
    worst = max(seconds for _, seconds in poller.latencies)
    print(
        f"\n{len(body) / 2**20:.1f} MiB body answered in {(end - start) * 1000:.0f} ms; "
        f"{len(during)} pings meanwhile, worst ping {worst * 1000:.0f} ms"
    )
    assert during, "no other client was answered while the body was read and parsed"
    assert worst < 1.0, f"a second client waited {worst:.2f} s"


# --------------------------------------------------------------------------- connections


def answer_with_status(node: NodeProcess, wanted: int) -> tuple[int, dict[str, str], bytes] | None:
    """One request; its answer if it has status ``wanted``, else None (also when the
    connection breaks)."""
    try:
        answer = http_request(node, timeout=WAIT)
    except (ConnectionError, http.client.HTTPException):
        return None
    return answer if answer[0] == wanted else None


def test_connection_cap(node_factory):
    node = node_factory("--max-connections", "4")
    held = [socket.create_connection(("127.0.0.1", node.port), timeout=WAIT) for _ in range(4)]
    try:
        # every slot is taken by an idle connection: the next one is refused with a reason
        status, _, body = wait_until(
            lambda: answer_with_status(node, 503), "a refusal with 503", WAIT
        )
        assert b"too many open connections (max 4)" in body
    finally:
        held.pop().close()
    try:
        # a freed slot serves again
        wait_until(lambda: answer_with_status(node, 200), "a freed slot to serve again", WAIT)
    finally:
        for sock in held:
            sock.close()


def test_slow_request_head_is_dropped(node_factory):
    node = node_factory("--read-timeout", "2")
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=WAIT)
    with sock:
        sock.sendall(b"POST / HTTP/1.1\r\n")
        trickle = b"".join(f"X-Slow-{i}: {'a' * 20}\r\n".encode() for i in range(200))
        assert closed_within(sock, WAIT, keep_sending=trickle), "a slowloris head was kept open"
    assert rpc(node.url, "eth_blockNumber")["result"]


def test_slow_request_body_is_dropped(node_factory):
    node = node_factory("--read-timeout", "2")
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=WAIT)
    with sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        assert closed_within(sock, WAIT, keep_sending=b" " * 999), "a slow body was kept open"


def test_idle_keep_alive_connection_is_closed(node_factory):
    node = node_factory("--read-timeout", "2")
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=WAIT)
    with sock:
        assert closed_within(sock, WAIT)


# --------------------------------------------------------------------------- WebSocket output


def test_non_reading_subscribers_do_not_grow_memory(node_factory):
    """Ten subscribers that never read while 12 MB of notifications per round are produced:
    each is disconnected once its unsent output passes the limit, and RSS stays bounded
    (without a bound in bytes their backlog grew about 360 MB here)."""
    node = node_factory("--no-mining")
    sockets = []
    for _ in range(10):
        sock, status = ws_handshake(node, rcvbuf=4096)
        assert status == 101
        sock.sendall(
            ws_frame('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')
        )
        sock.sendall(
            ws_frame(
                '{"jsonrpc":"2.0","id":2,"method":"eth_subscribe",'
                '"params":["newPendingTransactions",true]}'
            )
        )
        sockets.append(sock)
    try:
        baseline = rss_mib(node.pid)
        data = "0x" + "ab" * 60_000  # each pending notification carries 120 kB of hex
        peak = baseline
        for _ in range(30):  # unbounded: 10 x 30 x 10 x 120 kB = 360 MB of backlog
            for _ in range(10):
                node.call(
                    "eth_sendTransaction",
                    {
                        "from": DEV_ADDRESSES[0],
                        "to": DEV_ADDRESSES[1],
                        "data": data,
                        "gas": hex(3_000_000),
                    },
                )
            node.call("evm_mine")
            peak = max(peak, rss_mib(node.pid))
        growth = peak - baseline
        print(f"\nRSS {baseline:.0f} MiB -> peak {peak:.0f} MiB with 10 non-reading subscribers")
        assert growth < 200, f"RSS grew {growth:.0f} MiB"
        assert "closing a WebSocket connection" in node.log()
    finally:
        for sock in sockets:
            sock.close()


# --------------------------------------------------------------------------- --silent


def test_silent_still_warns_about_binding_beyond_loopback(node_factory):
    node = node_factory("--host", "0.0.0.0", "--silent")
    wait_until(lambda: "WARNING" in node.log(), "the warning in the log", WAIT)
    assert "WARNING: listening on 0.0.0.0, beyond loopback" in node.log()
    assert "Available accounts" not in node.log()


def test_websocket_requests_in_flight_are_bounded(node_factory):
    """A client that pipelines 300 000 requests (27 MB) and reads nothing: the node stops
    reading its socket once its requests in flight and its unsent answers reach their
    limits, instead of starting a task for every request it has buffered."""
    node = node_factory()
    sock, status = ws_handshake(node, rcvbuf=4096)
    assert status == 101
    frame = ws_frame(
        '{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]}'
    )
    chunk = frame * 1000
    baseline = rss_mib(node.pid)
    peak = baseline
    sent = 0
    with sock:
        sock.settimeout(2.0)
        deadline = time.monotonic() + WAIT
        while sent < 300_000 and time.monotonic() < deadline:
            try:
                sock.sendall(chunk)
            except TimeoutError:
                break  # the node stopped reading: backpressure reached the client
            sent += 1000
            peak = max(peak, rss_mib(node.pid))
        for _ in range(20):  # the sleep is the measurement: the peak while the node reads
            time.sleep(0.1)
            peak = max(peak, rss_mib(node.pid))
    growth = peak - baseline
    print(f"\n{sent} requests pipelined; RSS {baseline:.0f} -> peak {peak:.0f} MiB")
    assert growth < 60, f"RSS grew {growth:.0f} MiB"
    assert rpc(node.url, "eth_blockNumber")["result"]
