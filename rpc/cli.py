"""``native-devnet``: parse flags, then build the devnet and serve JSON-RPC (``rpc.cli_run``).

Nothing heavy (py-evm, aiohttp, eth-account) is imported before the flags are parsed, so
``--help``, ``--version`` and a flag error answer at once."""

from __future__ import annotations

import logging
import os
import sys

from rpc.cli_flags import JWT_SECRET_FILE, build_parser, jwt_secret_path  # noqa: F401 (re-exported)

REQUEST_LEVEL = 15  # rpc.server's level of the one-line-per-method request log (-v)


def node_log_level(silent: bool, verbose: int) -> int:
    """The node's own log level: ``--silent`` wins; each ``-v`` adds detail (only the
    node's loggers, never the libraries')."""
    if silent:
        return logging.WARNING
    return (logging.INFO, REQUEST_LEVEL, logging.DEBUG)[min(verbose, 2)]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jwt_secret is not None and args.auth_port is None:
        parser.error("--jwt-secret needs --auth-port")
    if args.auth_port is not None and args.jwt_secret is None and args.data_dir is None:
        parser.error(
            f"--auth-port needs --jwt-secret FILE (or --data-dir, which keeps DIR/{JWT_SECRET_FILE})"
        )
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")  # 5x faster keccak than pycryptodome
    logging.basicConfig(
        level=logging.WARNING if args.silent else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    logging.getLogger("eth").setLevel(logging.WARNING)
    logging.getLogger("native_devnet").setLevel(node_log_level(args.silent, args.verbose))
    from rpc.cli_run import run  # the heavy half: py-evm, aiohttp, the node

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
