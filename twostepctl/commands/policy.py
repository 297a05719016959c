"""`policy get|set|validate`: the sign-in policy document (trusted networks, excluded groups, risk, ...)."""
from __future__ import annotations

import argparse
import json
import sys

from ..exits import REFUSED, USAGE, CliError
from ..parser import group, verb
from ..policy_shape import check_text

NO_DRY_RUN = "Bounds (lockout numbers, lifetimes, list sizes) depend on the deployment's settings and are " \
             "checked by the service on `policy set`; it has no dry-run route."


def register(groups) -> None:  # noqa: ANN001
    verbs = group(groups, "policy", "the sign-in policy")
    verb(verbs, "get", "the policy in force", _get)
    put = verb(verbs, "set", "replace the top-level fields FILE names (checked locally first; audited)", _set)
    put.add_argument("file", metavar="FILE", help="a JSON policy document, or - for stdin")
    check = verb(verbs, "validate", "check FILE's shape locally, without sending it", _validate)
    check.add_argument("file", metavar="FILE", help="a JSON policy document, or - for stdin")


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(USAGE, "Cannot read the policy file", str(error)) from None


def _checked(args: argparse.Namespace) -> str:
    text = _read(args.file)
    _, problems = check_text(text)
    if problems:
        field, detail = problems[0]
        more = f" ({len(problems) - 1} more: " + "; ".join(f"{f}: {d}" for f, d in problems[1:]) + ")" \
            if len(problems) > 1 else ""
        problem = {"title": "Invalid policy document", "detail": f"{field or 'document'}: {detail}{more}",
                   "code": "invalid_request", **({"field": field} if field else {})}
        raise CliError(REFUSED, problem["title"], problem["detail"], problem)
    return text


def _get(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("GET", "/v1/admin/policy")
    out.reply(reply, lambda d: out.document(d, "Policy in force"))


def _set(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("PATCH", "/v1/admin/policy", raw=_checked(args).encode())
    out.reply(reply, lambda d: out.document(d, "Policy in force now"))


def _validate(args, client, out) -> None:  # noqa: ANN001
    _checked(args)
    if out.as_json:
        out.json_text(json.dumps({"valid": True, "checked": "shape", "note": NO_DRY_RUN}))
    else:
        out.note(f"{args.file}: the shape is valid. {NO_DRY_RUN}")
