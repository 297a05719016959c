"""`twostepctl` / `python -m twostepctl`: argparse in front, one module per verb group behind."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .client import Client, resolve
from .commands import MODULES
from .exits import EPILOG, OK, CliError
from .parser import HelpFormatter
from .render import Output

DESCRIPTION = """\
Administer a twostep deployment through its admin API: the host's master key, and an Entra ID token
when Entra ID protects the admin routes. Options go before the command; --json also after it."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twostepctl", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--url", help="the API's base URL, ending in /api (env TWOSTEP_URL)")
    parser.add_argument("--master-key-file", metavar="PATH",
                        help="read the master key from this file instead of env TWOSTEP_MASTER_KEY")
    parser.add_argument("--entra-scope", metavar="SCOPE",
                        help="also send an Entra ID token for this scope (env TWOSTEP_ENTRA_SCOPE)")
    parser.add_argument("--allow-insecure-http", action="store_true",
                        help="allow plain http to a host that is not loopback (the key travels in clear)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="per-request timeout (default 30)")
    parser.add_argument("--json", action="store_true",
                        help="print the service's JSON as sent (errors: its problem document on stderr)")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for module in MODULES:
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2, message already printed)
        return int(stop.code or 0)
    out = Output(args.json)
    try:
        config = resolve(args.url, args.master_key_file, args.entra_scope, args.allow_insecure_http, args.timeout)
        code = args.handler(args, Client(config), out)
    except CliError as error:
        out.error(error)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return OK if code is None else code


if __name__ == "__main__":
    sys.exit(main())

