"""Support verbs on one user: `unblock`, `audit`, `groups set`."""
from __future__ import annotations

import json
from typing import Any

from ..client import user_path
from ..parser import group, positive, reason, verb

AUDIT_COLUMNS = ("at", "event", "actor")


def register(groups) -> None:  # noqa: ANN001
    unblock = verb(groups, "unblock", "clear a fraud block, a lockout and the failure count", _unblock, user=True)
    reason(unblock)
    audit = verb(groups, "audit", "a user's audit events, newest first (the service keeps 200 at most)",
                 _audit, user=True)
    audit.add_argument("--limit", type=positive, help="show only the newest N (human output only)")
    verbs = group(groups, "groups", "a user's groups (what the policy's excluded groups match)")
    put = verb(verbs, "set", "replace a user's groups (none given: no groups); creates an unknown user",
               _groups_set, user=True)
    put.add_argument("groups", metavar="GROUP", nargs="*", help="a group name, e.g. break-glass")


def _unblock(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("POST", user_path(args.user, "unblock"), {"reason": args.reason})
    out.reply(reply, lambda d: out.fields("Unblocked", d, ["userId", "blockedUntil", "lockedUntil"], "green"))


def _audit(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("GET", user_path(args.user, "audit"))
    out.reply(reply, lambda d: out.table(f"Audit events of {args.user}",
                                         [_event_row(e) for e in d["events"][:args.limit]],
                                         [*AUDIT_COLUMNS, "details"]))


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    details = " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in event.items()
                       if k not in AUDIT_COLUMNS and v is not None)
    return {**{k: event.get(k) for k in AUDIT_COLUMNS}, "details": details}


def _groups_set(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("PUT", user_path(args.user, "groups"), {"groups": args.groups})
    out.reply(reply, lambda d: out.fields("Groups set", {"userId": d["userId"], "groups": ", ".join(d["groups"])
                                                         or None}))
