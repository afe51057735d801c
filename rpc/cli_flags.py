"""``native-devnet``'s flags: the parser, and the limits and policies they build
(``SimulationLimits``, ``PoolLimits``, ``EdgeSettings``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from node.devnet import SimulationLimits
    from node.pool import PoolLimits
    from rpc.server import EdgeSettings

# The flags' defaults, written here rather than imported: importing the modules that own them
# loads py-evm and aiohttp, and ``--help`` must answer at once. tests/unit/test_cli_imports.py
# checks that each equals its owner's constant.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"  # node.accounts
DEFAULT_ACCOUNT_COUNT = 10  # node.accounts
DEFAULT_BALANCE_ETH = 10_000  # node.accounts
RPC_EVM_TIMEOUT = 5.0  # node.interrupt
TRACE_TIMEOUT = 15.0  # node.interrupt
MAX_LOG_BLOCK_RANGE = 100_000  # node.logs
MAX_LOG_RESULTS = 10_000  # node.logs
MAX_PENDING_SLOTS = 5_120  # node.pool
MAX_QUEUED = 1_024  # node.pool
MAX_QUEUED_PER_SENDER = 64  # node.pool
MAX_TX_SIZE = 128 * 1024  # node.pool
RPC_GAS_CAP = 50_000_000  # node.simulation
MAX_STATE_SIZE = 256 * 1024 * 1024  # node.statefile
TRACE_MAX_STEPS = 100_000  # node.tracing
DEFAULT_MAX_CONNECTIONS = 256  # rpc.connections
DEFAULT_READ_TIMEOUT_SECONDS = 30.0  # rpc.connections
DEFAULT_MAX_BODY_BYTES = 32 * 2**20  # rpc.server
DEFAULT_L1_GENESIS = resources.files("genesis") / "l1.json"  # node.genesis
PREVERIFY_QUEUE_LIMIT = 64  # node.preverify.DEFAULT_QUEUE_LIMIT
PREVERIFY_TIMEOUT = 30.0  # node.preverify.DEFAULT_TIMEOUT
MAX_PREVERIFY_WORKERS = 64  # node.preverify.MAX_WORKERS

JWT_SECRET_FILE = "jwtsecret"  # in --data-dir when --jwt-secret is not given, as geth's datadir


def jwt_secret_path(args: argparse.Namespace) -> Path | None:
    """Where the authenticated endpoint's secret lives (``None``: no such endpoint)."""
    if args.auth_port is None:
        return None
    return args.jwt_secret or args.data_dir / JWT_SECRET_FILE


def _version() -> str:
    try:
        return metadata.version("native-devnet")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="native-devnet",
        description="A single-node Ethereum devnet on py-evm, with the EXECUTE precompile.",
    )
    p.add_argument("--version", "-V", action="version", version=f"%(prog)s {_version()}")
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
        "--hardfork",
        type=str.lower,
        choices=("prague", "osaka"),  # node.fork.schedule.HARDFORKS
        help="run one fork from genesis, prague or osaka (default: the genesis "
        "config.pragueTime/osakaTime schedule; the shipped genesis files run osaka)",
    )
    p.add_argument(
        "--execute-verifiers",
        help="EXECUTE's verifiers, comma separated: pyevm (default) or pyevm,eels "
        "(NR-EXECUTE v1.2; overrides the genesis config.executeVerifiers for a new chain)",
    )
    p.add_argument(
        "--execute-verifier-mode",
        choices=("all", "shadow"),
        help="all: a block is valid only if every verifier agrees (else reason 12); "
        "shadow: py-evm decides, disagreements are reported (default all)",
    )
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
        "--spill-after",
        type=_size,
        default=8 << 20,
        metavar="SIZE",
        help="in memory: once SIZE of recent writes are in RAM, the older ones move to a "
        "private temporary SQLite file that is gone at exit; RAM holds about twice SIZE "
        "(default 8MiB; the chain keeps every block and state either way)",
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
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log each RPC method's name (-v), with its params size and duration and the "
        "traceback of internal errors (-vv); refused transactions are logged without it",
    )
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
    add_preverify_flags(p)
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
    witnesses = p.add_mutually_exclusive_group()
    witnesses.add_argument(
        "--record-witnesses",
        dest="record_witnesses",
        action="store_true",
        default=None,
        help="record every block's execution witness as it is built (default on an L2 "
        "genesis; otherwise debug_executionWitness re-runs the block when asked)",
    )
    witnesses.add_argument(
        "--no-record-witnesses",
        dest="record_witnesses",
        action="store_false",
        help="re-run a block for its witness only when asked (debug_executionWitness)",
    )
    add_simulation_flags(p)
    add_edge_flags(p)
    add_limit_flags(p)
    add_dashboard_flags(p)
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


def _workers(text: str) -> int:
    value = _positive(int)(text)
    if value > MAX_PREVERIFY_WORKERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_PREVERIFY_WORKERS} worker processes")
    return value


def add_preverify_flags(p: argparse.ArgumentParser) -> None:
    pre = p.add_argument_group("EXECUTE pre-verification (L1; node/preverify.py)")
    pre.add_argument(
        "--preverify",
        action="store_true",
        help="verify the EXECUTE input of each transaction entering the pool in worker "
        "processes, so that block building finds the verdict ready",
    )
    pre.add_argument(
        "--preverify-workers",
        type=_workers,
        metavar="N",
        help=f"worker processes (default: the cores; at most {MAX_PREVERIFY_WORKERS})",
    )
    pre.add_argument(
        "--preverify-queue",
        type=_positive(int),
        default=PREVERIFY_QUEUE_LIMIT,
        metavar="N",
        help=f"inputs waiting or running in the workers; beyond, verified inline when the "
        f"block is built (default {PREVERIFY_QUEUE_LIMIT})",
    )
    pre.add_argument(
        "--preverify-timeout",
        type=_positive(float),
        default=PREVERIFY_TIMEOUT,
        metavar="SECONDS",
        help=f"how long block building waits for a verdict in the making before verifying "
        f"inline (default {PREVERIFY_TIMEOUT:g})",
    )


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
    from rpc.http_policy import split_flag_values
    from rpc.server import EdgeSettings

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
    from node.pool import PoolLimits

    return PoolLimits(
        max_pending_slots=args.txpool_max_pending,
        max_queued=args.txpool_max_queued,
        max_queued_per_sender=args.txpool_max_queued_per_sender,
        max_tx_size=args.txpool_max_tx_size,
    )


def simulation_limits(args: argparse.Namespace) -> SimulationLimits:
    from node.devnet import SimulationLimits

    return SimulationLimits(
        gas_cap=args.rpc_gas_cap,
        timeout=args.rpc_evm_timeout,
        trace_timeout=args.trace_timeout,
        trace_max_steps=args.trace_max_steps,
    )


def add_dashboard_flags(p: argparse.ArgumentParser) -> None:
    dash = p.add_argument_group("dashboard (the page at GET / on the RPC port)")
    dash.add_argument(
        "--rollup-deployment",
        type=Path,
        metavar="FILE",
        help="a native-rollup deployment file (its --rollup-file): the dashboard shows that "
        "rollup's panel (read at each page load, so it may appear later)",
    )
    dash.add_argument(
        "--rollup-l2-url",
        metavar="URL",
        help="the rollup's L2 node, which the dashboard (in the browser) checks settled "
        "hashes against and follows messages on",
    )
