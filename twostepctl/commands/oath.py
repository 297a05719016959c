"""`oath import FILE`: hardware OATH tokens from Azure MFA's CSV upload format, all or nothing."""
from __future__ import annotations

import sys

from ..exits import USAGE, CliError
from ..parser import group, verb


def register(groups) -> None:  # noqa: ANN001
    verbs = group(groups, "oath", "hardware OATH (TOTP) tokens")
    load = verb(verbs, "import", "import a CSV (upn,serial number,secret key,time interval,manufacturer,model)",
                _import)
    load.add_argument("file", metavar="FILE", help="the CSV file, or - for stdin")


def _import(args, client, out) -> None:  # noqa: ANN001
    try:
        if args.file == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as f:
                body = f.read()
    except OSError as error:
        raise CliError(USAGE, "Cannot read the CSV file", str(error)) from None
    reply = client.call("POST", "/v1/admin/oath-tokens", raw=body, content_type="text/csv")
    out.reply(reply, lambda d: out.table(f"Imported {d['imported']} token(s)", d["tokens"],
                                         ["upn", "serial", "timeInterval"]))
