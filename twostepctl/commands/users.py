"""`users list|groups|erase`: find users by state, read a user's groups, erase a user (right to erasure)."""
from __future__ import annotations

import json
import sys
import urllib.parse

from ..client import user_path
from ..exits import REFUSED, CliError
from ..parser import group, positive, reason, verb

STATES = ("locked", "blocked", "unused-token", "no-factor")
MAX_PAGES = 1000  # following the cursor stops here: a runaway loop must end
COLUMNS = ("userId", "lockedUntil", "blockedUntil", "methods", "provisioned")


def register(groups) -> None:  # noqa: ANN001
    verbs = group(groups, "users", "find users by state, read their groups, erase a user")
    listing = verb(verbs, "list", "users in a state (a scan of every profile: for operators, not scripts "
                                  "that run often); follows the cursor to the end", _list)
    listing.add_argument("--state", required=True, choices=STATES, help="which users")
    listing.add_argument("--limit", type=positive, help="users per request, 1-1000 (service default 100)")
    verb(verbs, "groups", "a user's groups", _groups, user=True)
    erase = verb(verbs, "erase", "erase every row of a user, audited outside them (asks first unless --yes)",
                 _erase, user=True)
    reason(erase)
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _list(args, client, out) -> None:  # noqa: ANN001
    query = {"state": args.state, **({"limit": str(args.limit)} if args.limit else {})}
    users: list[dict] = []
    for _ in range(MAX_PAGES):
        reply = client.call("GET", "/v1/admin/users?" + urllib.parse.urlencode(query))
        users += reply.data["users"]
        if not reply.data.get("cursor"):
            break
        query["cursor"] = reply.data["cursor"]
    if out.as_json:  # every page's users in one document
        out.json_text(json.dumps({"users": users, "cursor": None}))
        return
    out.table(f"Users {args.state}", [{k: _cell(u.get(k)) for k in COLUMNS} for u in users], COLUMNS)


def _cell(value: object) -> object:
    return ", ".join(value) if isinstance(value, list) else value


def _groups(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("GET", user_path(args.user, "groups"))
    out.reply(reply, lambda d: out.fields("Groups", {"userId": d["userId"], "groups": ", ".join(d["groups"])
                                                     or None}))


def _erase(args, client, out) -> None:  # noqa: ANN001
    if not args.yes:
        sys.stderr.write(f"Erase every row of {args.user}? This cannot be undone. Type the user id to confirm: ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() != args.user.lower():
            raise CliError(REFUSED, "Not erased", "The confirmation did not match the user id.")
    client.call("DELETE", user_path(args.user), {"reason": args.reason})
    out.note(f"Erased {args.user}.")
