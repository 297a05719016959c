"""Parser pieces every verb group uses, so a new group (`users list`, `users erase`, ...) is one small
module: `register(groups)` adds its sub-commands and sets `handler=` on each."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

# A fixed width: help reads the same in every terminal, and docs/cli.md can be checked against it.
WIDTH = 100


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=WIDTH, max_help_position=32)


Handler = Callable[[argparse.Namespace, Any, Any], int | None]


def group(groups: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """A verb group (`bypass`, `policy`, ...) whose verbs are required."""
    parser = groups.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
    return parser.add_subparsers(dest="verb", metavar="VERB", required=True)


def verb(verbs: argparse._SubParsersAction, name: str, help_text: str, handler: Handler,
         user: bool = False) -> argparse.ArgumentParser:
    """One command; `user=True` adds the USER positional (a user id, case-insensitive)."""
    parser = verbs.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
    if user:
        parser.add_argument("user", metavar="USER", help="the user id (UPN), e.g. alice@contoso.com")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the service's JSON as sent (same as the global --json)")
    parser.set_defaults(handler=handler)
    return parser


def reason(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--reason", required=required, help="why (1-256 characters; audited), e.g. a ticket")


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return value
