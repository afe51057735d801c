"""The dashboard's files and config (``rpc.dashboard``): the vendored Chart.js is node_modules'
copy of the pinned version, every asset ships as package data, only named assets are served,
and a broken rollup deployment file or L2 URL becomes a message, never an error page."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from eth_utils import keccak

from node.accounts import derive_dev_accounts
from node.devnet import Devnet, MiningConfig, MiningMode
from node.genesis import load_genesis
from rpc import dashboard
from rpc.dashboard import DashboardSettings, read_deployment
from rpc.server import RpcServer

ROOT = Path(__file__).resolve().parents[2]
VENDORED = {  # node_modules/chart.js/<path> -> rpc/dashboard/<name> (scripts/vendor-dashboard.py)
    "dist/chart.umd.min.js": "chart.umd.min.js",
    "LICENSE.md": "chart.js.LICENSE.md",
}
ROLLUP = "0x" + "ab" * 20


def test_the_vendored_chart_library_is_node_modules_copy_of_the_pinned_version():
    package = ROOT / "node_modules" / "chart.js"
    if not package.is_dir():
        pytest.skip("node_modules/chart.js missing: run `make npm`")
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["chart.js"]
    assert json.loads((package / "package.json").read_text())["version"] == pinned
    for source, name in VENDORED.items():
        vendored = ROOT / "rpc" / "dashboard" / name
        assert vendored.read_bytes() == (package / source).read_bytes(), (
            f"{vendored} differs from node_modules: run scripts/vendor-dashboard.py"
        )
    head = (ROOT / "rpc" / "dashboard" / "chart.umd.min.js").read_text()[:200]
    assert f"Chart.js v{pinned}" in head


def test_every_asset_is_package_data():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "rpc" in setuptools["packages"]
    patterns = setuptools["package-data"]["rpc"]
    on_disk = sorted(p.name for p in (ROOT / "rpc" / "dashboard").iterdir() if p.is_file())
    assert on_disk == sorted(dashboard.ASSETS)  # nothing unserved, nothing missing
    for name in dashboard.ASSETS:
        assert any(fnmatch.fnmatch(f"{dashboard.ASSET_DIR}/{name}", p) for p in patterns), name


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "rollup.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_a_deployment_file_gives_address_and_deploy_block(tmp_path):
    doc = {"address": ROLLUP.upper().replace("0X", "0x"), "deploy_block": 7, "l2_chain_id": 31338}
    assert read_deployment(write(tmp_path, json.dumps(doc))) == {
        "address": ROLLUP,
        "deployBlock": 7,
        "l2ChainId": 31338,
    }


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        ("{", "is not JSON"),
        ("[1]", "not a JSON object"),
        ('{"address": "0x12"}', "no 0x-address"),
        (json.dumps({"address": ROLLUP, "deploy_block": -1}), "not a block number"),
        (json.dumps({"address": ROLLUP, "deploy_block": True}), "not a block number"),
        (b"{" + b" " * dashboard.MAX_DEPLOYMENT_FILE_BYTES + b"}", "over 65536 bytes"),
    ],
)
def test_a_bad_deployment_file_is_a_message(tmp_path, content, words):
    path = tmp_path / "missing.json" if content is None else write(tmp_path, content)
    with pytest.raises(ValueError, match=words):
        read_deployment(path)


@pytest.fixture
def devnet() -> Devnet:
    genesis = load_genesis("genesis/l1.json").with_overrides(timestamp=1_700_000_000)
    accounts = derive_dev_accounts("test test test test test test test test test test test junk", 2)
    genesis = genesis.with_accounts([a.address for a in accounts], 10**21)
    return Devnet(genesis, accounts, MiningConfig(MiningMode.AUTO))


async def client_for(devnet: Devnet, settings: DashboardSettings | None) -> TestClient:
    server = RpcServer(devnet, dashboard_settings=settings)
    client = TestClient(TestServer(server.app))
    await client.start_server()
    return client


async def test_the_page_and_its_assets_are_served_by_name_only(devnet):
    client = await client_for(devnet, None)
    try:
        page = await client.get("/")
        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
        assert "/dashboard/chart.umd.min.js" in await page.text()
        for name, content_type in dashboard.ASSETS.items():
            asset = await client.get(f"/dashboard/{name}")
            assert asset.status == 200, name
            assert asset.headers["Content-Type"].startswith(content_type)
        for name in ("nope.js", "..%2Fserver.py", "%2E%2E%2Fdashboard.py"):
            assert (await client.get(f"/dashboard/{name}")).status == 404, name
        # JSON-RPC on the same path is unchanged
        answer = await client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
        assert (await answer.json())["result"] == "0x7a69"
    finally:
        await client.close()


async def config_of(devnet: Devnet, settings: DashboardSettings | None) -> dict:
    client = await client_for(devnet, settings)
    try:
        answer = await client.get("/dashboard/config.json")
        assert answer.status == 200
        return await answer.json()
    finally:
        await client.close()


async def test_config_without_a_rollup(devnet):
    config = await config_of(devnet, None)
    assert config["role"] == "l1" and config["execute"] is True
    assert config["rollup"] is None and config["rollupError"] is None
    assert config["readMethods"] == list(dashboard.READ_METHODS)


async def test_config_with_a_rollup_and_its_l2(devnet, tmp_path):
    path = write(tmp_path, json.dumps({"address": ROLLUP, "deploy_block": 3}))
    config = await config_of(devnet, DashboardSettings(path, "http://127.0.0.1:9/"))
    assert config["rollup"]["address"] == ROLLUP
    assert config["l2Url"] == "http://127.0.0.1:9/" and config["l2UrlError"] is None
    # keccak of the event signatures, as solc makes them
    topic = keccak(text="BlockSettled(uint256,bytes32,bytes32,uint256,uint256,uint256)")
    assert config["abi"]["topics"]["BlockSettled"] == "0x" + topic.hex()
    assert (
        config["abi"]["views"]["lastBlockNumber"]
        == "0x" + keccak(text="lastBlockNumber()")[:4].hex()
    )


async def test_config_names_what_is_wrong(devnet, tmp_path):
    missing = await config_of(devnet, DashboardSettings(tmp_path / "none.json", None))
    assert missing["rollup"] is None
    assert "does not exist" in missing["rollupError"]
    path = write(tmp_path, json.dumps({"address": ROLLUP}))
    no_l2 = await config_of(devnet, DashboardSettings(path, None))
    assert no_l2["rollup"] is not None and "--rollup-l2-url" in no_l2["l2UrlError"]
    bad_l2 = await config_of(devnet, DashboardSettings(path, "ftp://example"))
    assert bad_l2["l2Url"] is None and "not an http(s) URL" in bad_l2["l2UrlError"]


async def test_the_l2_origin_is_the_only_other_place_the_page_may_connect(devnet, tmp_path):
    path = write(tmp_path, json.dumps({"address": ROLLUP}))
    client = await client_for(devnet, DashboardSettings(path, "http://127.0.0.1:8546/rpc"))
    try:
        csp = (await client.get("/")).headers["Content-Security-Policy"]
        assert "connect-src 'self' http://127.0.0.1:8546" in csp
    finally:
        await client.close()


def abi_signatures(name: str) -> set[str]:
    abi = json.loads((ROOT / "contracts" / "out" / f"{name}.json").read_text())["abi"]
    return {
        f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
        for item in abi
        if item["type"] in ("event", "function")
    }


def test_the_events_and_views_the_page_decodes_are_the_contracts():
    rollup, messenger = abi_signatures("NativeRollup"), abi_signatures("L2Messenger")
    optimistic = abi_signatures("OptimisticRollup")
    for name in ("BlockSettled", "MessageSent", "L2MessageClaimed"):
        assert dashboard.EVENTS[name] in rollup, name
    for name in ("ForcedTxQueued", "ForcedTxIncluded", "ForcedTxSkipped"):
        assert dashboard.EVENTS[name] in rollup, name
    for name in ("Proposed", "ProposalsDiscarded", "ChallengeFailed", "MessageSent"):
        assert dashboard.EVENTS[name] in optimistic, name
    assert dashboard.EVENTS["MessageDelivered"] in messenger
    assert dashboard.EVENTS["MessageSent"] in messenger  # withdrawals: the same shape on L2
    for view in (*dashboard.VIEWS, *dashboard.SETTLED_VIEWS, *dashboard.FORCED_VIEWS):
        assert view in rollup, view
    for view in (*dashboard.VIEWS, *dashboard.OPTIMISTIC_VIEWS):
        assert view in optimistic, view
    # the page tells the kinds apart by these: one has each, the other neither
    assert "CHALLENGE_WINDOW()" not in rollup and "forcedCount()" not in optimistic
    # the page reads the witness length from advance's 9th argument
    assert dashboard.ADVANCE in rollup


def test_the_banner_prints_the_dashboard_url(devnet):
    from rpc.cli_run import banner

    lines = banner(devnet, "http://127.0.0.1:8545").splitlines()
    assert "Dashboard:    http://127.0.0.1:8545/ (read-only, in a browser)" in lines


def test_the_rollup_flags_reach_the_settings():
    from rpc.cli_flags import build_parser

    args = build_parser().parse_args(
        ["--rollup-deployment", "rollup.json", "--rollup-l2-url", "http://127.0.0.1:8546"]
    )
    assert args.rollup_deployment == Path("rollup.json")
    assert args.rollup_l2_url == "http://127.0.0.1:8546"
    plain = build_parser().parse_args([])
    assert plain.rollup_deployment is None and plain.rollup_l2_url is None
