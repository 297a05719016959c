"""Operators find users by state: locked, blocked, holding an imported hardware token never used, or holding
no sign-in factor at all.

Table Storage has no secondary index, and an index partition kept beside the profiles could not change in
the same transaction as the profile (a transaction is one partition), so this is a scan of the profile rows
with a filter: correct by construction, and a cross-partition scan — fine for an operator, never for a hot
path. Locked and blocked are filtered by the service; the two others need the profile's methods, so the
scan reads every profile and decides here. One request reads pages until it has `limit` users, the table
ends or its time budget is spent, and hands back a cursor for the rest. The cursor is the service's
continuation token, signed with the keyed index key (no rotation changes it), so a client can neither
forge nor alter one: a bad cursor is a 400 naming `cursor`.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from ..kernel.clock import iso
from ..kernel.errors import InvalidRequest
from ..model.records import Profile
from ..ports import Keys, Scanning
from ..store.profile_scan import profiles_page

STATES = ("locked", "blocked", "unused-token", "no-factor")
BUDGET_SECONDS = 10.0  # well inside host.json's functionTimeout
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
_MAX_CURSOR = 2048


def _condition(state: str) -> str:
    """What the service filters; the two other states need the profile's methods, decided here."""
    return {"locked": "lockedUntil gt @now", "blocked": "blockedUntil gt @now"}.get(state, "")


def _matches(state: str, profile: Profile) -> bool:
    if state == "unused-token":
        return any(m not in profile.active_methods() for m in profile.provisioned_methods())
    if state == "no-factor":
        return not profile.active_methods()
    return True  # the service filtered it


def _view(profile: Profile) -> dict[str, Any]:
    return {"userId": profile.user_id, "lockedUntil": iso(profile.locked_until),
            "blockedUntil": iso(profile.blocked_until), "methods": profile.active_methods(),
            "provisioned": profile.provisioned_methods(), "groups": profile.groups}


def _sign(d: Keys, payload: str) -> str:
    return d.index("users-cursor", payload)


def encode_cursor(d: Keys, state: str, token: dict[str, str]) -> str:
    payload = json.dumps({"s": state, "t": token}, sort_keys=True, separators=(",", ":"))
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{body}.{_sign(d, payload)}"


def decode_cursor(d: Keys, state: str, cursor: str) -> dict[str, str]:
    """The continuation token of a cursor this service issued for this state; anything else is a 400."""
    bad = InvalidRequest("cursor is not a cursor this listing returned.", field="cursor")
    if len(cursor) > _MAX_CURSOR or cursor.count(".") != 1:
        raise bad
    body, mac = cursor.split(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, ValueError):
        raise bad from None
    if not hmac.compare_digest(_sign(d, payload).encode(), mac.encode()):
        raise bad
    data = json.loads(payload)  # signed by us: well formed
    if data.get("s") != state:
        raise bad
    return data["t"]


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}.", field="limit")
    return int(raw)


def list_users(d: Scanning, params: dict[str, str], monotonic: Callable[[], float] = time.monotonic,
               budget_seconds: float = BUDGET_SECONDS) -> dict[str, Any]:
    state = params.get("state")
    if state not in STATES:
        raise InvalidRequest(f"state must be one of {', '.join(STATES)}.", field="state")
    limit = _limit(params.get("limit"))
    raw_cursor = params.get("cursor")
    token = decode_cursor(d, state, raw_cursor) if raw_cursor is not None else None
    now = d.clock.now()
    deadline = monotonic() + budget_seconds
    users: list[dict[str, Any]] = []
    while True:
        # a page never holds more rows than the users still wanted, so the cursor resumes exactly there
        profiles, token = profiles_page(d.store, _condition(state), {"now": now}, limit - len(users), token)
        users += [_view(p) for p in profiles if _matches(state, p)]
        if token is None or len(users) >= limit or monotonic() >= deadline:
            break
    return {"users": users, "cursor": encode_cursor(d, state, token) if token else None}
