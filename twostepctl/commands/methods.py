"""`methods list|remove`: what a user has enrolled, and removing a lost phone or device."""
from __future__ import annotations

import urllib.parse

from ..client import user_path
from ..exits import USAGE, CliError
from ..parser import group, reason, verb


def register(groups) -> None:  # noqa: ANN001
    verbs = group(groups, "methods", "a user's sign-in methods")
    verb(verbs, "list", "a user's active methods and state (blocked, locked, recovery codes left)", _list,
         user=True)
    remove = verb(verbs, "remove", "remove a method (its pending challenges are canceled at once)", _remove,
                  user=True)
    remove.add_argument("method", choices=("sms", "totp"), help="sms, or totp (every device)")
    remove.add_argument("--device", metavar="DEVICE_ID", help="with totp: remove only this device")
    reason(remove)


def _list(args, client, out) -> None:  # noqa: ANN001
    # The user's own route (the master key opens function-level routes too).
    reply = client.call("GET", "/v1/users/" + urllib.parse.quote(args.user, safe="@+"))

    def human(d: dict) -> None:
        out.table(f"Methods of {d['userId']}", d["methods"],
                  ["type", "destination", "deviceId", "label", "createdAt", "lastUsedAt"])
        out.fields("State", d, ["defaultMethod", "blockedUntil", "lockedUntil", "recoveryCodesRemaining"])

    out.reply(reply, human)


def _remove(args, client, out) -> None:  # noqa: ANN001
    if args.device and args.method != "totp":
        raise CliError(USAGE, "Invalid arguments", "--device goes with the totp method.")
    path = user_path(args.user, "methods", "totp", args.device) if args.device else \
        user_path(args.user, "methods", args.method)
    reply = client.call("DELETE", path, {"reason": args.reason})
    what = f"device {args.device}" if args.device else args.method
    out.reply(reply, lambda _: out.note(f"Removed {what} from {args.user}."))
