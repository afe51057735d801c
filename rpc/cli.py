"""``native-devnet``: parse flags, build the devnet, serve JSON-RPC, shut down cleanly."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")  # 5x faster keccak than pycryptodome

import uvloop  # noqa: E402

from node.accounts import (  # noqa: E402
    DEFAULT_ACCOUNT_COUNT,
    DEFAULT_BALANCE_ETH,
    DEFAULT_MNEMONIC,
    derive_dev_accounts,
    dev_funding,
)
from node.chain import GENESIS_HASH_KEY, RPC_GAS_CAP, Chain  # noqa: E402
from node.devnet import Devnet, MiningConfig, MiningMode, SimulationLimits  # noqa: E402
from node.genesis import DEFAULT_L1_GENESIS, GenesisError, load_genesis  # noqa: E402
from node.interrupt import RPC_EVM_TIMEOUT, TRACE_TIMEOUT  # noqa: E402
from node.logs import MAX_LOG_BLOCK_RANGE, MAX_LOG_RESULTS, LogLimits  # noqa: E402
from node.pool import (  # noqa: E402
    MAX_PENDING_SLOTS,
    MAX_QUEUED,
    MAX_QUEUED_PER_SENDER,
    MAX_TX_SIZE,
    PoolLimits,
)
from node.statefile import (  # noqa: E402
    MAX_STATE_SIZE,
    StateFileError,
    checked_entries,
    read_state_file,
    write_state_file,
)
from node.storage import open_database  # noqa: E402
from node.tracing import TRACE_MAX_STEPS  # noqa: E402
from rpc.auth import JwtSecretError, load_or_create_secret  # noqa: E402
from rpc.connections import DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT_SECONDS  # noqa: E402
from rpc.http_policy import is_loopback, split_flag_values  # noqa: E402
from rpc.server import DEFAULT_MAX_BODY_BYTES, EdgeSettings, RpcServer  # noqa: E402

log = logging.getLogger("native_devnet")

WEI_PER_ETH = 10**18
JWT_SECRET_FILE = "jwtsecret"  # in --data-dir when --jwt-secret is not given, as geth's datadir


class CannotListen(OSError):
    """A port the node could not bind, with which one."""

    def __init__(self, host: str, port: int, reason: str | None) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="native-devnet",
        description="A single-node Ethereum devnet on py-evm, with the EXECUTE precompile.",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; binding beyond loopback is explicit)",
    )
    p.add_argument("--port", "-p", type=int, default=8545, help="HTTP and WebSocket port")
    p.add_argument(
        "--genesis",
        type=Path,
        default=DEFAULT_L1_GENESIS,
        help="geth-style genesis JSON (default: genesis/l1.json)",
    )
    p.add_argument("--chain-id", type=int, help="override the genesis chain id")
    p.add_argument(
        "--accounts",
        "-a",
        type=int,
        help=f"number of dev accounts to fund (default {DEFAULT_ACCOUNT_COUNT}; on an L2 none "
        "unless --accounts or --balance is given: L2 ETH must be backed by L1 escrow)",
    )
    p.add_argument(
        "--balance",
        type=int,
        help=f"ETH per dev account (default {DEFAULT_BALANCE_ETH})",
    )
    p.add_argument(
        "--mnemonic", "-m", default=DEFAULT_MNEMONIC, help="BIP-39 mnemonic of dev accounts"
    )
    mining = p.add_mutually_exclusive_group()
    mining.add_argument(
        "--block-time",
        "-b",
        type=float,
        metavar="SECONDS",
        help="mine a block every SECONDS (interval mining)",
    )
    mining.add_argument(
        "--no-mining", action="store_true", help="never mine on its own; use evm_mine / anvil_mine"
    )
    p.add_argument("--gas-limit", type=int, help="block gas limit (pinned)")
    p.add_argument("--base-fee", type=int, help="genesis base fee per gas, in wei")
    p.add_argument(
        "--timestamp",
        type=int,
        help="genesis timestamp (default: the genesis file's, or now if that is 0)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="PATH",
        help="keep the chain in an LMDB database here (default: in memory)",
    )
    p.add_argument(
        "--load-state",
        type=Path,
        metavar="PATH",
        help="start from a state file written by --dump-state / anvil_dumpState",
    )
    p.add_argument(
        "--dump-state",
        type=Path,
        metavar="PATH",
        help="write the chain to a state file on exit (atomically)",
    )
    p.add_argument("--silent", action="store_true", help="print nothing but errors")
    controls = p.add_argument_group(
        "test-node controls and the authenticated endpoint",
        "Controls (anvil_*, hardhat_*, evm_*, devnet_set*: balances, code, storage, mining, "
        "L2 anchors, snapshots, reset, state files, impersonation) edit state outside the "
        "transaction rules. The authenticated endpoint serves them with every other method.",
    )
    public = controls.add_mutually_exclusive_group()
    public.add_argument(
        "--public-controls",
        dest="public_controls",
        action="store_true",
        default=None,
        help="serve the controls on the public port too (default on an L1, as anvil)",
    )
    public.add_argument(
        "--no-public-controls",
        dest="public_controls",
        action="store_false",
        help="serve them on the authenticated endpoint only (default on an L2)",
    )
    controls.add_argument(
        "--auth-port",
        type=int,
        metavar="PORT",
        help="serve every method, controls included, on PORT to holders of the JWT secret "
        "(HTTP and WebSocket; geth's --authrpc.port)",
    )
    controls.add_argument(
        "--auth-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the authenticated endpoint (default 127.0.0.1)",
    )
    controls.add_argument(
        "--jwt-secret",
        type=Path,
        metavar="FILE",
        help="32-byte hex secret for the authenticated endpoint, created (mode 0600) if "
        f"missing (default with --data-dir: DIR/{JWT_SECRET_FILE}; geth's --authrpc.jwtsecret)",
    )
    market = p.add_argument_group("EXECUTE market (L1)")
    market.add_argument(
        "--execute-gas-limit",
        type=int,
        metavar="GAS",
        help="cumulative EXECUTE gas per L1 block (default from genesis: 10M)",
    )
    market.add_argument(
        "--execute-gas-target",
        type=int,
        metavar="GAS",
        help="EXECUTE gas per block the fee steers towards (default 5M)",
    )
    market.add_argument(
        "--execute-base-fee",
        type=int,
        metavar="WEI",
        help="initial execute base fee per gas (default 1 gwei)",
    )
    market.add_argument(
        "--execute-min-base-fee",
        type=int,
        metavar="WEI",
        help="floor of the execute base fee (default 1 wei)",
    )
    root = p.add_mutually_exclusive_group()
    root.add_argument(
        "--delayed-state-root",
        dest="delayed_state_root",
        action="store_true",
        default=None,
        help="header n carries the post-state root of n-1 (EIP-7862)",
    )
    root.add_argument(
        "--no-delayed-state-root",
        dest="delayed_state_root",
        action="store_false",
        help="Prague semantics: header n carries its own root",
    )
    add_simulation_flags(p)
    add_edge_flags(p)
    add_limit_flags(p)
    return p


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a number above zero (0 never means "unbounded" here)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError("must be above 0 (there is no unbounded setting)")
        return value

    return parse


def add_simulation_flags(p: argparse.ArgumentParser) -> None:
    sim = p.add_argument_group("simulations (eth_call, eth_estimateGas, debug_trace*)")
    sim.add_argument(
        "--rpc-gas-cap",
        type=_positive(int),
        default=RPC_GAS_CAP,
        metavar="GAS",
        help=f"most gas a simulation gets; more is capped (default {RPC_GAS_CAP:_}; "
        "geth's --rpc.gascap)",
    )
    sim.add_argument(
        "--rpc-evm-timeout",
        type=_positive(float),
        default=RPC_EVM_TIMEOUT,
        metavar="SECONDS",
        help=f"wall-clock limit of eth_call/estimateGas/createAccessList (default "
        f"{RPC_EVM_TIMEOUT:g}; geth's --rpc.evmtimeout)",
    )
    sim.add_argument(
        "--trace-timeout",
        type=_positive(float),
        default=TRACE_TIMEOUT,
        metavar="SECONDS",
        help=f"wall-clock limit of a debug_trace* request (default {TRACE_TIMEOUT:g})",
    )
    sim.add_argument(
        "--trace-max-steps",
        type=_positive(int),
        default=TRACE_MAX_STEPS,
        metavar="N",
        help=f"most struct-log steps one trace request may hold (default {TRACE_MAX_STEPS:_})",
    )


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def _size(text: str) -> int:
    """An argparse type: a byte count, ``33554432``, ``32MiB`` or ``5MB``."""
    digits = text.strip().rstrip("bBkKmMgGiI")
    unit = text.strip()[len(digits) :].lower()
    try:
        value = int(digits) * _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"expected a size such as 32MiB, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be above 0 (there is no unbounded setting)")
    return value


def add_edge_flags(p: argparse.ArgumentParser) -> None:
    logs = p.add_argument_group("log queries (eth_getLogs, eth_getFilterLogs/Changes)")
    logs.add_argument(
        "--rpc-logs-max-range",
        type=_positive(int),
        default=MAX_LOG_BLOCK_RANGE,
        metavar="BLOCKS",
        help=f"most blocks one log query scans (default {MAX_LOG_BLOCK_RANGE:_})",
    )
    logs.add_argument(
        "--rpc-logs-max-results",
        type=_positive(int),
        default=MAX_LOG_RESULTS,
        metavar="LOGS",
        help=f"most logs one log query returns (default {MAX_LOG_RESULTS:_})",
    )
    edge = p.add_argument_group("HTTP and WebSocket (limits, browsers)")
    edge.add_argument(
        "--max-body-size",
        type=_size,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="SIZE",
        help="largest HTTP request body and WebSocket message, e.g. 64MiB (default 32MiB; "
        "anvil_loadState of a long chain may need more; geth's is 5 MiB)",
    )
    edge.add_argument(
        "--max-connections",
        type=_positive(int),
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help=f"open connections served at once; more are answered 503 "
        f"(default {DEFAULT_MAX_CONNECTIONS})",
    )
    edge.add_argument(
        "--read-timeout",
        type=_positive(float),
        default=DEFAULT_READ_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="time a connection gets to send a request's head, and then its body; an idle "
        f"keep-alive connection is closed after it too (default {DEFAULT_READ_TIMEOUT_SECONDS:g})",
    )
    edge.add_argument(
        "--allow-host",
        action="append",
        metavar="HOST[,HOST]",
        help="Host header names served, * for any (default: localhost and IP addresses on a "
        "loopback bind, any beyond; geth's --http.vhosts)",
    )
    edge.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN[,ORIGIN]",
        help="browser origins that may call the node over HTTP (CORS) and WebSocket, * in a "
        "pattern matches any run, '*' alone any origin as anvil (default: pages on "
        "localhost/127.0.0.1/[::1] and browser extensions)",
    )


def edge_settings(args: argparse.Namespace) -> EdgeSettings:
    return EdgeSettings(
        max_body_bytes=args.max_body_size,
        max_connections=args.max_connections,
        read_timeout=args.read_timeout,
        allow_hosts=split_flag_values(args.allow_host),
        allow_origins=split_flag_values(args.allow_origin),
    )


def add_limit_flags(p: argparse.ArgumentParser) -> None:
    limits = p.add_argument_group("transaction pool and state files")
    limits.add_argument(
        "--txpool-max-pending",
        type=_positive(int),
        default=MAX_PENDING_SLOTS,
        metavar="SLOTS",
        help="executable transactions the pool holds, in 32 KiB slots (a usual transaction "
        f"takes one; default {MAX_PENDING_SLOTS}, geth's txpool.globalslots)",
    )
    limits.add_argument(
        "--txpool-max-queued",
        type=_positive(int),
        default=MAX_QUEUED,
        metavar="N",
        help="transactions waiting for a nonce gap to fill, all senders "
        f"(default {MAX_QUEUED}, geth's txpool.globalqueue)",
    )
    limits.add_argument(
        "--txpool-max-queued-per-sender",
        type=_positive(int),
        default=MAX_QUEUED_PER_SENDER,
        metavar="N",
        help="transactions waiting for a nonce gap to fill, per sender "
        f"(default {MAX_QUEUED_PER_SENDER}, geth's txpool.accountqueue)",
    )
    limits.add_argument(
        "--txpool-max-tx-size",
        type=_size,
        default=MAX_TX_SIZE,
        metavar="SIZE",
        help="largest encoded transaction the node accepts (default 128KiB, as geth)",
    )
    limits.add_argument(
        "--max-state-size",
        type=_size,
        default=MAX_STATE_SIZE,
        metavar="SIZE",
        help="largest state document --load-state and anvil_loadState take once "
        "decompressed, e.g. 1GiB (default 256MiB)",
    )


def pool_limits(args: argparse.Namespace) -> PoolLimits:
    return PoolLimits(
        max_pending_slots=args.txpool_max_pending,
        max_queued=args.txpool_max_queued,
        max_queued_per_sender=args.txpool_max_queued_per_sender,
        max_tx_size=args.txpool_max_tx_size,
    )


def simulation_limits(args: argparse.Namespace) -> SimulationLimits:
    return SimulationLimits(
        gas_cap=args.rpc_gas_cap,
        timeout=args.rpc_evm_timeout,
        trace_timeout=args.trace_timeout,
        trace_max_steps=args.trace_max_steps,
    )


def make_devnet(args: argparse.Namespace) -> Devnet:
    genesis = load_genesis(args.genesis)
    overrides = {}
    if args.chain_id is not None:
        overrides["chain_id"] = args.chain_id
    if args.gas_limit is not None:
        overrides["gas_limit"] = args.gas_limit
    if args.base_fee is not None:
        overrides["base_fee_per_gas"] = args.base_fee
    if args.timestamp is not None:
        overrides["timestamp"] = args.timestamp
    elif genesis.timestamp == 0:
        overrides["timestamp"] = int(time.time())  # as anvil: the chain starts now
    if args.delayed_state_root is not None:
        overrides["delayed_state_root"] = args.delayed_state_root
    market = {
        "gas_limit": args.execute_gas_limit,
        "gas_target": args.execute_gas_target,
        "initial_base_fee": args.execute_base_fee,
        "min_base_fee": args.execute_min_base_fee,
    }
    market = {k: v for k, v in market.items() if v is not None}
    if market:
        if not genesis.execute.enabled:
            raise GenesisError("EXECUTE market flags need a genesis with EXECUTE enabled")
        overrides["execute"] = replace(genesis.execute, **market)
    genesis = genesis.with_overrides(**overrides)
    genesis.validate()
    count, balance = dev_funding(genesis.role, args.accounts, args.balance)
    dev_accounts = derive_dev_accounts(args.mnemonic, count)
    genesis = genesis.with_accounts([a.address for a in dev_accounts], balance * WEI_PER_ETH)
    if args.no_mining:
        mining = MiningConfig(MiningMode.MANUAL)
    elif args.block_time is not None:
        if args.block_time <= 0:
            raise GenesisError("--block-time must be positive")
        mining = MiningConfig(MiningMode.INTERVAL, args.block_time)
    else:
        mining = MiningConfig(MiningMode.AUTO)
    db = open_database(args.data_dir)
    if args.load_state is not None:
        if GENESIS_HASH_KEY in db:
            raise GenesisError("--load-state needs an empty data directory")
        entries = read_state_file(args.load_state, args.max_state_size)
        checked_entries(lambda candidate: Chain(genesis, candidate), entries)  # before writing
        with db.block_transaction():
            for key, value in entries:
                db[key] = value
    chain = Chain(genesis, db)
    if chain.reopened:
        log.info("resuming the chain in %s at block %d", args.data_dir, chain.head.block_number)
    return Devnet(
        genesis,
        dev_accounts,
        mining,
        chain=chain,
        limits=simulation_limits(args),
        pool_limits=pool_limits(args),
        max_state_size=args.max_state_size,
    )


def args_storage(devnet: Devnet) -> str:
    directory = devnet.data_directory
    return f"LMDB in {directory}" if directory else "in memory"


@dataclass(frozen=True)
class Access:
    """Who may call the controls: the public port, and the authenticated endpoint if any."""

    public_controls: bool
    auth_url: str | None = None
    jwt_secret: Path | None = None

    def lines(self) -> list[str]:
        public = (
            "served on the public port too"
            if self.public_controls
            else "not on the public port (--public-controls serves them there)"
        )
        out = [f"Controls:     anvil_*/evm_*/hardhat_* {public}"]
        if self.auth_url is not None:
            out.append(
                f"Auth RPC:     {self.auth_url} (every method; JWT secret {self.jwt_secret})"
            )
        return out


def banner(devnet: Devnet, url: str, access: Access | None = None) -> str:
    genesis = devnet.genesis
    lines = [
        "",
        "native-devnet — py-evm devnet with the EXECUTE precompile",
        "",
        f"Chain ID:     {devnet.chain_id} ({genesis.name})",
        f"RPC:          {url} (HTTP and WebSocket)",
        f"Genesis:      0x{devnet.head.hash.hex()}",
        f"Gas limit:    {devnet.head.gas_limit}",
        f"Base fee:     {devnet.head.base_fee_per_gas} wei",
        f"State root:   {'delayed one slot (EIP-7862)' if devnet.delayed_state_root else 'own (Prague)'}",
        f"Storage:      {args_storage(devnet)}",
        f"Mining:       {devnet.mining.mode.value}"
        + (f" every {devnet.mining.block_time:g}s" if devnet.mining.block_time else ""),
    ]
    if genesis.execute.enabled:
        e = genesis.execute
        lines.append(
            f"EXECUTE:      0x{'0' * 37}101  limit {e.gas_limit}  target {e.gas_target}  "
            f"initial fee {e.initial_base_fee} wei  min {e.min_base_fee} wei"
        )
    if access is not None:
        lines += access.lines()
    if not devnet.dev_accounts and genesis.role == "l2":
        lines += [
            "",
            "Dev accounts: none funded. L2 ETH must be backed by L1 escrow: it enters through",
            "deposits; --accounts/--balance fund dev accounts, which the rollup's initial",
            "escrow must then match.",
            "",
        ]
        return "\n".join(lines)
    lines += ["", "Available accounts", "=================="]
    balances = {a: devnet.balance(a, devnet.head) for a in devnet.dev_accounts}
    for i, (address, balance) in enumerate(balances.items()):
        lines.append(f"({i}) 0x{address.hex()} ({balance // WEI_PER_ETH} ETH)")
    lines += ["", "Private keys", "=================="]
    for i, account in enumerate(devnet.dev_accounts.values()):
        lines.append(f"({i}) 0x{account.private_key.to_bytes().hex()}")
    lines.append("")
    return "\n".join(lines)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def jwt_secret_path(args: argparse.Namespace) -> Path | None:
    """Where the authenticated endpoint's secret lives (``None``: no such endpoint)."""
    if args.auth_port is None:
        return None
    return args.jwt_secret or args.data_dir / JWT_SECRET_FILE


async def _start(server: RpcServer, host: str, port: int) -> None:
    try:
        await server.start(host, port)
    except OSError as exc:
        raise CannotListen(host, port, exc.strerror) from None


async def serve(args: argparse.Namespace) -> int:
    secret_path = jwt_secret_path(args)  # first: a bad secret file fails before any work
    secret = load_or_create_secret(secret_path) if secret_path is not None else None
    devnet = make_devnet(args)
    devnet.log_limits = LogLimits(args.rpc_logs_max_range, args.rpc_logs_max_results)
    public_controls = args.public_controls
    if public_controls is None:  # anvil parity on an L1; an L2's users must not mint ETH
        public_controls = devnet.genesis.role != "l2"
    edge = edge_settings(args)
    server = RpcServer(devnet, controls=public_controls, edge=edge)
    await _start(server, args.host, args.port)
    auth_server = None
    if secret is not None:
        auth_server = RpcServer(devnet, jwt_secret=secret, edge=edge, filter_store=server.filters)
        try:
            await _start(auth_server, args.auth_host, args.auth_port)
        except CannotListen:
            await server.stop()
            raise
    await devnet.start()
    url = _url(args.host, args.port)
    auth_url = _url(args.auth_host, args.auth_port) if auth_server is not None else None
    if devnet.mining.mode is MiningMode.MANUAL and not public_controls and auth_url is None:
        log.warning(
            "--no-mining without controls: no block will be mined (give --auth-port, "
            "or --public-controls)"
        )
    if not args.silent:
        print(banner(devnet, url, Access(public_controls, auth_url, secret_path)), flush=True)
        print(
            f"Browsers:     {server.access.origins.describe()} (Host: "
            f"{server.access.hosts.describe()})",
            flush=True,
        )
    # On stderr, and never silenced: whoever binds beyond loopback must hear about it.
    if not is_loopback(args.host):
        print(
            f"WARNING: listening on {args.host}, beyond loopback; dev keys are public.",
            file=sys.stderr,
            flush=True,
        )
    if auth_server is not None and not is_loopback(args.auth_host):
        print(
            f"WARNING: authenticated endpoint on {args.auth_host}, beyond loopback; "
            "whoever holds the JWT secret controls the chain.",
            file=sys.stderr,
            flush=True,
        )
    if not args.silent:
        print(f"Listening on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    devnet.abort_simulations()  # before the servers wait for their requests to finish
    await server.stop()
    if auth_server is not None:
        await auth_server.stop()
    if args.dump_state is not None:
        write_state_file(args.dump_state, await devnet.dump_state())
        log.info("state written to %s", args.dump_state)
    await devnet.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jwt_secret is not None and args.auth_port is None:
        parser.error("--jwt-secret needs --auth-port")
    if args.auth_port is not None and args.jwt_secret is None and args.data_dir is None:
        parser.error(
            f"--auth-port needs --jwt-secret FILE (or --data-dir, which keeps DIR/{JWT_SECRET_FILE})"
        )
    logging.basicConfig(
        level=logging.WARNING if args.silent else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    logging.getLogger("eth").setLevel(logging.WARNING)
    try:
        return uvloop.run(serve(args))
    except (GenesisError, StateFileError, JwtSecretError) as exc:
        print(f"native-devnet: {exc}", file=sys.stderr)
        return 2
    except CannotListen as exc:
        print(f"native-devnet: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"native-devnet: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
