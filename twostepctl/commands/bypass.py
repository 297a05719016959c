"""`bypass create|list|revoke`: a one-time pass through the second factor, for a limited time."""
from __future__ import annotations

from ..client import user_path
from ..parser import group, positive, reason, verb


def register(groups) -> None:  # noqa: ANN001
    verbs = group(groups, "bypass", "one-time bypasses of the second factor")
    create = verb(verbs, "create", "grant a one-time bypass (a new one revokes the active one)", _create,
                  user=True)
    create.add_argument("--seconds", type=positive, help="how long it is valid (service default 300)")
    reason(create)
    verb(verbs, "list", "list a user's bypasses, newest first", _list, user=True)
    verb(verbs, "revoke", "revoke the active bypass (succeeds when none is active)", _revoke, user=True)


def _create(args, client, out) -> None:  # noqa: ANN001
    body = {"reason": args.reason, **({"seconds": args.seconds} if args.seconds else {})}
    reply = client.call("POST", user_path(args.user, "bypass"), body)
    out.reply(reply, lambda d: out.fields("Bypass created", d, ["bypassId", "userId", "expiresAt"]))


def _list(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("GET", user_path(args.user, "bypass"))
    out.reply(reply, lambda d: out.table(f"Bypasses of {args.user}", d["bypasses"], [
        "bypassId", "status", "expiresAt", "reason", "createdBy", "createdAt", "usedAt"]))


def _revoke(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("DELETE", user_path(args.user, "bypass"))
    out.reply(reply, lambda _: out.note(f"No active bypass left for {args.user}."))
