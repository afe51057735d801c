"""``native-devnet``'s heavy half, imported once the flags are parsed (``rpc.cli``): build the
devnet, print the banner, serve JSON-RPC, shut down cleanly."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import uvloop
from eth_utils import to_checksum_address

from node.accounts import DEFAULT_MNEMONIC, derive_dev_accounts, dev_funding
from node.chain import GENESIS_HASH_KEY, Chain
from node.devnet import Devnet, MiningConfig, MiningMode
from node.fork.schedule import ForkSchedule, check_stored_schedule
from node.genesis import GenesisError, load_genesis
from node.logs import LogLimits
from node.preverify import start_preverifier
from node.statefile import (
    StateFileError,
    checked_entries,
    read_state_file,
    write_state_file,
)
from node.storage import open_database
from precompiles.verifiers.policy import check_stored_verifiers
from rpc.auth import JwtSecretError, load_or_create_secret
from rpc.cli_flags import edge_settings, jwt_secret_path, pool_limits, simulation_limits
from rpc.dashboard import DashboardSettings
from rpc.http_policy import is_loopback
from rpc.server import RpcServer

log = logging.getLogger("native_devnet")

WEI_PER_ETH = 10**18
DERIVATION_PATH = "m/44'/60'/0'/0/"  # each dev account's index follows, as anvil prints it


class CannotListen(OSError):
    """A port the node could not bind, with which one."""

    def __init__(self, host: str, port: int, reason: str | None) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


def make_devnet(args: argparse.Namespace) -> Devnet:
    genesis = load_genesis(args.genesis)
    overrides = {}
    if args.chain_id is not None:
        overrides["chain_id"] = args.chain_id
    if getattr(args, "hardfork", None) is not None:
        overrides["fork_schedule"] = ForkSchedule.pinned(args.hardfork)
    if getattr(args, "execute_verifiers", None) is not None:
        overrides["execute_verifiers"] = tuple(
            n.strip() for n in args.execute_verifiers.split(",") if n.strip()
        )
    if getattr(args, "execute_verifier_mode", None) is not None:
        overrides["execute_verifier_mode"] = args.execute_verifier_mode
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
    if args.record_witnesses is not None:
        overrides["record_witnesses"] = args.record_witnesses
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
    if genesis.execute.enabled:
        check_verifiers_work(genesis)
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
    db = open_database(args.data_dir, args.spill_after)
    if args.load_state is not None:
        if GENESIS_HASH_KEY in db:
            raise GenesisError("--load-state needs an empty data directory")
        entries = read_state_file(args.load_state, args.max_state_size)
        checked_entries(lambda candidate: Chain(genesis, candidate), entries)  # before writing
        with db.block_transaction():
            for key, value in entries:
                db[key] = value
    chain = Chain(genesis, db)
    check_stored_schedule(db, genesis.fork_schedule)  # a resumed chain keeps its forks
    try:  # and its EXECUTE verifiers
        check_stored_verifiers(
            db, genesis.execute_verifiers, genesis.execute_verifier_mode, chain.reopened
        )
    except ValueError as exc:
        raise GenesisError(str(exc)) from None
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


def check_verifiers_work(genesis) -> None:
    """The start-up self-test (NR-EXECUTE v1.2): built-in inputs through every configured
    EXECUTE verifier; a broken one (e.g. an EELS whose internals changed) stops the start."""
    from node.fork.schedule import l2_rules
    from precompiles.verifiers import verifier_named
    from precompiles.verifiers.selftest import self_test

    try:
        verifiers = [verifier_named(n) for n in genesis.execute_verifiers]
    except ValueError as exc:
        raise GenesisError(str(exc)) from None
    problems = self_test(verifiers, l2_rules(genesis.fork_schedule).classes)
    if problems:
        raise GenesisError(
            "EXECUTE verifier self-test failed, refusing to start: " + "; ".join(problems[:3])
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


def banner(
    devnet: Devnet, url: str, access: Access | None = None, mnemonic: str = DEFAULT_MNEMONIC
) -> str:
    """What the node prints on start: the chain, its fork and markets (an L1's EXECUTE, or
    what an L2 is), who may call the controls, and the dev accounts as anvil lists them
    (EIP-55 addresses, keys, the mnemonic and derivation path)."""
    genesis = devnet.genesis
    is_l2 = genesis.role == "l2"
    title = (
        "py-evm devnet (L2 rollup chain)" if is_l2 else "py-evm devnet with the EXECUTE precompile"
    )
    lines = [
        "",
        f"native-devnet — {title}",
        "",
        f"Chain ID:     {devnet.chain_id} ({genesis.name})",
        f"Hardfork:     {devnet.genesis.fork_schedule.describe(devnet.chain.genesis_header.timestamp)}",
        f"RPC:          {url} (HTTP and WebSocket)",
        f"Dashboard:    {url}/ (read-only, in a browser)",
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
    elif is_l2:
        lines.append("Rollup:       L2 of a native rollup (no EXECUTE precompile)")
    if access is not None:
        lines += access.lines()
    if not devnet.dev_accounts and is_l2:
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
        lines.append(f"({i}) {to_checksum_address(address)} ({balance // WEI_PER_ETH} ETH)")
    lines += ["", "Private keys", "=================="]
    for i, account in enumerate(devnet.dev_accounts.values()):
        lines.append(f"({i}) 0x{account.private_key.to_bytes().hex()}")
    lines += [
        "",
        "Wallet",
        "==================",
        f"Mnemonic:     {mnemonic}",
        f"Derivation path: {DERIVATION_PATH}",
        "",
    ]
    return "\n".join(lines)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


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
    dashboard = DashboardSettings(args.rollup_deployment, args.rollup_l2_url)
    server = RpcServer(devnet, controls=public_controls, edge=edge, dashboard_settings=dashboard)
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
    preverifier = (  # --preverify: EXECUTE inputs of pooled transactions, in worker processes
        start_preverifier(
            devnet, args.preverify_workers, args.preverify_queue, args.preverify_timeout
        )
        if getattr(args, "preverify", False)
        else None
    )
    url = _url(args.host, args.port)
    auth_url = _url(args.auth_host, args.auth_port) if auth_server is not None else None
    if devnet.mining.mode is MiningMode.MANUAL and not public_controls and auth_url is None:
        log.warning(
            "--no-mining without controls: no block will be mined (give --auth-port, "
            "or --public-controls)"
        )
    if not args.silent:
        access = Access(public_controls, auth_url, secret_path)
        print(banner(devnet, url, access, args.mnemonic), flush=True)
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
    if preverifier is not None:
        preverifier.close()
    await devnet.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; a bad genesis, state file, secret or port is one line on
    stderr and exit 2 (bad input) or 1 (cannot listen)."""
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
