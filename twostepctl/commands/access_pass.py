"""`access-pass issue|list|revoke`: the temporary access pass support gives a user who lost every factor."""
from __future__ import annotations

from typing import Any

from rich.text import Text

from ..client import user_path
from ..parser import group, positive, reason, verb


def register(groups) -> None:  # noqa: ANN001
    verbs = group(groups, "access-pass", "temporary access passes (recovery by support)")
    issue = verb(verbs, "issue", "issue a pass, shown once (a new one revokes the active one)", _issue, user=True)
    issue.add_argument("--lifetime-minutes", type=positive, metavar="MINUTES",
                       help="10-43200 (service default 60)")
    issue.add_argument("--reusable", action="store_true",
                       help="valid until it expires or is revoked, instead of for one sign-in")
    reason(issue)
    verb(verbs, "list", "the 20 most recent passes of a user, newest first (never the pass itself)", _list,
         user=True)
    verb(verbs, "revoke", "revoke the active pass and cancel its pending challenges", _revoke, user=True)


def _issue(args, client, out) -> None:  # noqa: ANN001
    body: dict[str, Any] = {"reason": args.reason, "oneTime": not args.reusable}
    if args.lifetime_minutes:
        body["lifetimeMinutes"] = args.lifetime_minutes
    reply = client.call("POST", user_path(args.user, "access-pass"), body)
    out.reply(reply, lambda d: _show_pass(out, args.user, d))


def _show_pass(out, user: str, d: dict[str, Any]) -> None:  # noqa: ANN001
    out.fields(f"Temporary access pass for {user}", {
        "pass": Text(d["accessPass"], style="bold"), "expires": d.get("expiresAt"),
        "use": "one sign-in" if d.get("oneTime") else "until it expires or is revoked",
        "id": d.get("accessPassId")}, style="yellow")
    out.note("Shown only now: the service keeps a keyed hash of it, not the pass. Give it to the user over a "
             "channel you have verified.")


def _list(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("GET", user_path(args.user, "access-pass"))
    out.reply(reply, lambda d: out.table(f"Access passes of {args.user}", d["accessPasses"], [
        "accessPassId", "status", "oneTime", "expiresAt", "reason", "createdBy", "createdAt", "usedAt"]))


def _revoke(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("DELETE", user_path(args.user, "access-pass"))
    out.reply(reply, lambda _: out.note(f"No active access pass left for {args.user}."))
