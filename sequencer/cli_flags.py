"""``native-rollup``'s flags: the parser, its value types and the defaults."""

from __future__ import annotations

import argparse
import math
import os
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sequencer import __version__

if TYPE_CHECKING:
    from sequencer.client import RpcClient

# Written here rather than imported (sequencer.client and sequencer.messages load eth-account
# and eth-abi), so that ``--help`` answers at once; tests/unit/test_cli_imports.py checks them.
ETHER = 10**18  # sequencer.client
MAX_MIN_GAS_LIMIT = 4_000_000  # sequencer.messages

DEV_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEFAULT_L1 = "http://127.0.0.1:8545"
DEFAULT_L2 = "http://127.0.0.1:8546"
DEFAULT_ROLLUP_FILE = Path("rollup.json")
DEFAULT_MIN_GAS_LIMIT = 100_000  # enough for a plain transfer or a small call
DEFAULT_FORCE_DELAY = 10  # sequencer.rollup
UINT64_MAX = 2**64 - 1
UINT256_MAX = (
    2**256 - 1
)  # an amount in wei  # gas, nonces, indices, block numbers and counts on the command line
MAX_INTERVAL_SECONDS = 86_400.0  # a loop's pause between steps (time.sleep takes no more)


EPILOG = """\
a session on two local devnets (ALICE = a funded L1 key):
  native-devnet --port 8545 &
  native-devnet --port 8546 --genesis genesis/l2.json --no-mining --accounts 1 --balance 1 \
      --auth-port 8551 --jwt-secret l2.jwt &       # controls only with the JWT
  native-rollup deploy --initial-escrow 1          # must equal the L2's dev funding
  native-rollup sequence --l2-auth-url http://127.0.0.1:8551 --jwt-secret l2.jwt &
  native-rollup deposit --key $ALICE --value 5 --fee 0.01
  native-rollup withdraw --key $ALICE --value 1     # waits for the sequencer
  native-rollup claim-withdrawal --key $ALICE --index 0
  native-rollup status
or all of it, with a summary: native-rollup demo (make demo)
"""


def h2b(value: str | None) -> bytes:
    """``0x``-hex to bytes (``None`` and ``0x`` give empty bytes), as ``sequencer.client``'s."""
    if not value:
        return b""
    return bytes.fromhex(value.removeprefix("0x"))


def ether(text: str) -> int:
    """``"1.5"`` ETH -> wei."""
    try:
        wei = Decimal(text) * ETHER
    except ArithmeticError:
        raise argparse.ArgumentTypeError(f"not an ETH amount: {text!r}") from None
    if not wei.is_finite():  # NaN failed the comparisons below, Infinity int()
        raise argparse.ArgumentTypeError(f"not an ETH amount: {text!r}")
    if wei < 0 or wei != wei.to_integral_value():
        raise argparse.ArgumentTypeError(f"not a whole number of wei: {text!r} ETH")
    if wei > UINT256_MAX:
        raise argparse.ArgumentTypeError(f"{text} ETH is more wei than a uint256 holds")
    return int(wei)


def address(text: str) -> bytes:
    raw = h2b(text) if text.startswith("0x") else b""
    if len(raw) != 20:
        raise argparse.ArgumentTypeError(f"not a 0x-prefixed 20-byte address: {text!r}")
    return raw


def min_gas_limit(text: str) -> int:
    """A message's ``minGasLimit``: 0 ..= ``MAX_MIN_GAS_LIMIT``."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a gas amount: {text!r}") from None
    if not 0 <= value <= MAX_MIN_GAS_LIMIT:
        raise argparse.ArgumentTypeError(
            f"min gas limit {value} out of range: at most {MAX_MIN_GAS_LIMIT} (MAX_MIN_GAS_LIMIT)"
        )
    return value


def _min_gas(p: argparse.ArgumentParser, layer: str) -> None:
    p.add_argument(
        "--min-gas-limit",
        type=min_gas_limit,
        default=DEFAULT_MIN_GAS_LIMIT,
        metavar="GAS",
        help=f"gas the {layer} recipient's call is guaranteed (default {DEFAULT_MIN_GAS_LIMIT:,};"
        f" at most {MAX_MIN_GAS_LIMIT:,}); a claim with less gas reverts",
    )


def uint64(text: str) -> int:
    """A whole number 0 ..= 2**64 - 1 (decimal or 0x-hex): what a gas limit, a nonce, an index
    or a block number can be, refused here rather than as a traceback when it is used."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= UINT64_MAX:
        raise argparse.ArgumentTypeError(f"{value} out of range: 0 to 2**64 - 1")
    return value


def seconds(text: str) -> float:
    """A pause: finite, 0 ..= ``MAX_INTERVAL_SECONDS``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= MAX_INTERVAL_SECONDS):
        raise argparse.ArgumentTypeError(
            f"{text} seconds out of range: 0 to {MAX_INTERVAL_SECONDS:g} (MAX_INTERVAL_SECONDS)"
        )
    return value


def hexdata(text: str) -> bytes:
    try:
        return h2b(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not 0x-hex data: {text!r}") from None


# -- parser -----------------------------------------------------------------------------------


def _urls(p: argparse.ArgumentParser, required: bool = True) -> None:
    default_l1 = os.environ.get("NATIVE_ROLLUP_L1", DEFAULT_L1 if required else None)
    default_l2 = os.environ.get("NATIVE_ROLLUP_L2", DEFAULT_L2 if required else None)
    p.add_argument(
        "--l1",
        default=default_l1,
        metavar="URL",
        help=f"L1 JSON-RPC URL (default $NATIVE_ROLLUP_L1 or {DEFAULT_L1})",
    )
    p.add_argument(
        "--l2",
        default=default_l2,
        metavar="URL",
        help=f"L2 JSON-RPC URL (default $NATIVE_ROLLUP_L2 or {DEFAULT_L2})",
    )


def _l2_auth(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--l2-auth-url",
        default=os.environ.get("NATIVE_ROLLUP_L2_AUTH"),
        metavar="URL",
        help="the L2 node's authenticated endpoint, where its controls (evm_mine with the L1 "
        "anchor) are served (native-devnet --auth-port; default $NATIVE_ROLLUP_L2_AUTH, else "
        "--l2, for a node started with --public-controls)",
    )
    p.add_argument(
        "--jwt-secret",
        type=Path,
        default=os.environ.get("NATIVE_ROLLUP_JWT_SECRET"),
        metavar="FILE",
        help="the L2 node's JWT secret file (its --jwt-secret; default $NATIVE_ROLLUP_JWT_SECRET)",
    )


def l2_control(args: argparse.Namespace) -> RpcClient | None:
    """The client for the L2's controls (``None``: use ``--l2``)."""
    from sequencer.client import RpcClient, read_jwt_secret

    if args.l2_auth_url is None:
        if args.jwt_secret is not None:
            raise SystemExit("native-rollup: --jwt-secret needs --l2-auth-url")
        return None
    if args.jwt_secret is None:
        raise SystemExit("native-rollup: --l2-auth-url needs --jwt-secret FILE")
    try:
        secret = read_jwt_secret(args.jwt_secret)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"native-rollup: {exc}") from None
    return RpcClient(args.l2_auth_url, jwt_secret=secret, name="L2 controls")


def _rollup(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rollup",
        type=address,
        metavar="ADDRESS",
        help="the NativeRollup contract on L1 (instead of --rollup-file)",
    )
    p.add_argument(
        "--rollup-file",
        type=Path,
        default=DEFAULT_ROLLUP_FILE,
        metavar="PATH",
        help="JSON written by `deploy` (default ./rollup.json)",
    )


def _key(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--key",
        default=os.environ.get("NATIVE_ROLLUP_KEY", DEV_KEY_0),
        metavar="HEX",
        help=f"private key of {what} (default $NATIVE_ROLLUP_KEY or the public dev key 0)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="native-rollup",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Sequencer, relayer and user tools of a native rollup (NativeRollup on an "
        "L1 with EXECUTE, the L2Messenger predeploy on the L2).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", "-V", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("deploy", help="deploy NativeRollup for the L2 node's chain")
    _urls(d)
    _key(d, "the L1 deployer")
    d.add_argument(
        "--sequencer",
        type=address,
        help="the only address allowed to advance (default: the deployer)",
    )
    d.add_argument(
        "--initial-escrow",
        type=ether,
        default=0,
        metavar="ETH",
        help="ETH backing the L2 genesis balances outside the messenger (the L2 "
        "node's --accounts x --balance); deploy refuses any other amount; default 0",
    )
    d.add_argument(
        "--rollup-file",
        type=Path,
        default=DEFAULT_ROLLUP_FILE,
        metavar="PATH",
        help="where to write the rollup's address (default ./rollup.json)",
    )
    d.add_argument(
        "--policy",
        choices=("sequencer", "based"),
        default="sequencer",
        help="who may advance: only --sequencer (default), or anyone (based)",
    )
    d.add_argument(
        "--force-delay",
        type=uint64,
        default=DEFAULT_FORCE_DELAY,
        metavar="BLOCKS",
        help="L1 blocks until a forced L2 tx is due, and the liveness fallback's delay "
        "(at least 1; default 10)",
    )
    d.add_argument(
        "--force-fee",
        type=ether,
        default=0,
        metavar="ETH",
        help="least L1 fee of forceInclude (default 0)",
    )

    dep = sub.add_parser("deposit", help="send ETH (and a call) from L1 to L2 (sendMessage)")
    _urls(dep)
    _rollup(dep)
    _key(dep, "the L1 sender")
    dep.add_argument("--to", type=address, help="L2 recipient (default: the sender)")
    dep.add_argument("--value", type=ether, required=True, metavar="ETH")
    dep.add_argument(
        "--fee",
        type=ether,
        default=0,
        metavar="ETH",
        help="paid to whoever delivers it on L2 (the relayer claims messages with "
        "a fee of at least its --min-fee)",
    )
    dep.add_argument(
        "--data", type=hexdata, default=b"", metavar="HEX", help="calldata for the L2 recipient"
    )
    _min_gas(dep, "L2")

    s = sub.add_parser(
        "sequence",
        help="run the sequencer/relayer: anchor, claim, mine, settle every L2 block",
        description="Loop: anchor the latest L1 message root in the next L2 block, claim "
        "pending L1 messages on L2 (paid by their fee), mine the block, fetch "
        "debug_executionWitness, advance on L1 (EXECUTE), and check that the L1 "
        "contract's block hash equals the L2 block hash. The L2 node must run "
        "with --no-mining; it serves evm_mine on its authenticated endpoint "
        "(--l2-auth-url, --jwt-secret).",
    )
    _urls(s)
    _l2_auth(s)
    _rollup(s)
    _key(s, "the sequencer on L1")
    s.add_argument(
        "--relayer-key",
        metavar="HEX",
        help="private key that claims messages on L2 (default: --key)",
    )
    s.add_argument(
        "--interval",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="seconds between steps (default 1)",
    )
    s.add_argument(
        "--min-fee",
        type=int,
        default=1,
        metavar="WEI",
        help="claim only L1 messages paying at least this fee (default 1 wei: "
        "fee-less messages are left to their recipients)",
    )
    s.add_argument("--max-blocks", type=uint64, metavar="N", help="stop after N blocks")
    s.add_argument(
        "--once",
        action="store_true",
        help="one step (settle what is pending, build one block if needed), then exit",
    )
    s.add_argument(
        "--deploy",
        action="store_true",
        help="deploy the rollup first if --rollup-file is missing or names a "
        "contract that does not settle this L2",
    )
    s.add_argument(
        "--initial-escrow",
        type=ether,
        default=0,
        metavar="ETH",
        help="with --deploy: ETH escrowed for the L2 dev funding",
    )

    fi = sub.add_parser(
        "force-include",
        help="force an L2 transaction in through the L1 (forceInclude), past the sequencer",
        description="Queue an EIP-1559 L2 transaction on L1 (forceInclude). It is due "
        "--force-delay L1 blocks later: from then on every settled L2 block must open with "
        "it (or show EXECUTE rejecting it as invalid); if nothing is settled for another "
        "--force-delay blocks, anyone may settle until the queue drains. Either give "
        "--raw (a signed L2 tx) or --to/--value/--data, signed with --l2-key for the L2 "
        "node's chain at its next nonce.",
    )
    _urls(fi)
    _rollup(fi)
    _key(fi, "the L1 account paying forceInclude")
    fi.add_argument("--l2-key", metavar="HEX", help="signs the L2 tx (default: --key)")
    fi.add_argument("--raw", type=hexdata, metavar="HEX", help="an already signed L2 tx")
    fi.add_argument("--to", type=address, help="L2 recipient (default: the L2 sender)")
    fi.add_argument("--value", type=ether, default=0, metavar="ETH")
    fi.add_argument("--data", type=hexdata, default=b"", metavar="HEX")
    fi.add_argument("--gas", type=uint64, default=100_000, help="L2 gas limit (default 100000)")
    fi.add_argument("--nonce", type=uint64, help="L2 nonce (default: the sender's next)")
    fi.add_argument(
        "--fee", type=ether, metavar="ETH", help="L1 fee (default: the contract's forceFee)"
    )

    w = sub.add_parser("withdraw", help="send ETH (and a call) from L2 to L1 (L2 sendMessage)")
    _urls(w)
    _key(w, "the L2 sender")
    w.add_argument("--to", type=address, help="L1 recipient (default: the sender)")
    w.add_argument("--value", type=ether, required=True, metavar="ETH")
    w.add_argument(
        "--fee", type=ether, default=0, metavar="ETH", help="paid to whoever claims it on L1"
    )
    w.add_argument("--data", type=hexdata, default=b"", metavar="HEX")
    _min_gas(w, "L1")
    w.add_argument(
        "--no-wait",
        action="store_true",
        help="print the tx hash; do not wait for the sequencer to include it",
    )

    pw = sub.add_parser(
        "prove-withdrawal", help="eth_getProof data for an L2 -> L1 message at a settled L2 block"
    )
    _urls(pw)
    _rollup(pw)
    pw.add_argument("--index", type=uint64, required=True, help="the L2 messenger's message index")
    pw.add_argument("--l2-block", type=uint64, help="settled L2 block (default: the settled head)")

    cw = sub.add_parser(
        "claim-withdrawal", help="prove and claim an L2 -> L1 message on L1 (claimL2Message)"
    )
    _urls(cw)
    _rollup(cw)
    _key(cw, "the L1 claimer (receives the message's fee)")
    cw.add_argument("--index", type=uint64, required=True)
    cw.add_argument("--l2-block", type=uint64, help="settled L2 block (default: the settled head)")

    st = sub.add_parser("status", help="the rollup's state; exit 0 iff L1 and L2 agree")
    _urls(st)
    _rollup(st)

    dm = sub.add_parser(
        "demo",
        help="the end-to-end scenario with a printed summary",
        description="Without --l1/--l2: start a fresh L1 and L2 node on free loopback ports, "
        "run the scenario as sequencer and relayer, print the summary, stop the "
        "nodes. With --l1/--l2 of fresh nodes: the same against them. With "
        "--external-sequencer: a running `native-rollup sequence` owns the L2 "
        "(docker-compose); the rollup comes from --rollup-file.",
    )
    _urls(dm, required=False)
    _l2_auth(dm)
    dm.add_argument(
        "--rollup-file",
        type=Path,
        metavar="PATH",
        help="an existing rollup (required with --external-sequencer)",
    )
    dm.add_argument(
        "--external-sequencer",
        action="store_true",
        help="do not sequence: watch a running sequencer settle the blocks",
    )
    dm.add_argument(
        "--l2-funding",
        type=ether,
        metavar="ETH",
        help="L2 genesis ETH outside the messenger (default: what the local L2 "
        "is started with, 1 ETH; with --rollup-file: its initial escrow)",
    )
    dm.add_argument(
        "--scenario",
        default="default",
        metavar="NAME",
        help="default (the end-to-end scenario), based (two sequencers race), forced "
        "(forced inclusion and the liveness fallback), optimistic; a named scenario starts "
        "its own fresh nodes",
    )
    dm.add_argument("--log-dir", type=Path, help="where local node logs go (default: temp)")
    dm.add_argument(
        "--execute-verifiers",
        metavar="NAMES",
        help="the fresh L1's EXECUTE verifiers, e.g. pyevm,eels (default pyevm); the summary "
        "then shows each verifier's time",
    )
    dm.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    from sequencer.cli_optimistic import add_parsers  # propose, watch: the optimistic mode

    add_parsers(sub)
    return p


# -- commands ---------------------------------------------------------------------------------
