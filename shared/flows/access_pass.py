"""Temporary access passes (R2): support issues one to a user who lost their methods, the user signs in
with it through the normal challenge flow (`method: "access_pass"`, see methods.AccessPass), and its
approved challenge proves the step-up that enrolling a new phone or app needs.

One active pass per user, on the profile: its id, keyed hash (never the pass), expiry and one-time flag,
so issuing, using and revoking are each one unit of work (`store.UserRows`): the profile saved If-Match
with its audit event, and two concurrent verifies spend a one-time pass once. A new pass revokes the active one. A
challenge is bound to the pass it was begun under (methods.AccessPass): issuing or revoking a pass cancels
the pending pass challenges in the same transaction (E1), and one left pending answers 410 `canceled`. The
listing is a bounded history on the profile (`HISTORY`, newest first); the audit trail keeps every event
for the retention period.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..crypto.recovery_secrets import keyed_hash, new_secret, normalize
from ..kernel.clock import iso
from ..kernel.errors import NotFound
from ..kernel.ids import random_token, validate_user_id
from ..kernel.validation import boolean, integer, text
from ..methods.access_pass import AccessPass
from ..methods.base import ACCESS_PASS_LABEL
from ..model.records import AccessPassState, Profile
from ..ports import Deciding, Recovering
from ..store import UserRows
from .challenge_rows import cancel_challenges

MIN_MINUTES, MAX_MINUTES, DEFAULT_MINUTES = 10, 30 * 24 * 60, 60
HISTORY = 20  # passes listed per user


def _profile(unit: UserRows) -> Profile:
    """The unit's profile; a pass for an unknown user is a 404."""
    if unit.profile is None:
        raise NotFound()
    return unit.profile


def _end_active(profile: Profile, status: str, now: datetime, actor: str) -> str | None:
    """Mark the active pass `status` in the history and take it off the profile; its id, or None."""
    active = profile.access_pass
    if active is None:
        return None
    for entry in profile.access_pass_history:
        if entry["accessPassId"] == active.id:
            entry.update(status=status, revokedAt=iso(now), revokedBy=actor)
    profile.access_pass = None
    return active.id


def _cancel_pending(unit: UserRows, now: datetime) -> int | None:
    """The pending challenges of the pass that ends die with it, in its transaction (E1); how many."""
    pending = unit.pending_challenges(AccessPass.name, now)
    cancel_challenges(unit, pending)
    return len(pending) or None


def issue(d: Recovering, user_id: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    minutes = integer(body, "lifetimeMinutes", low=MIN_MINUTES, high=MAX_MINUTES, default=DEFAULT_MINUTES)
    one_time = boolean(body, "oneTime", default=True)
    reason = text(body, "reason", max_len=256, required=True)

    def attempt(unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        profile = _profile(unit)
        replaced = _end_active(profile, "revoked", now, actor)
        pass_id, shown = random_token(12), new_secret()
        expires = now + timedelta(minutes=minutes)
        digest = keyed_hash(d.index, ACCESS_PASS_LABEL, f"{user_id}\x00{pass_id}", normalize(shown) or "")
        profile.access_pass = AccessPassState(id=pass_id, hash=digest, expires_at=expires, one_time=one_time)
        profile.access_pass_history = [{
            "accessPassId": pass_id, "status": "active", "expiresAt": iso(expires), "oneTime": one_time,
            "reason": reason, "createdBy": actor, "createdAt": iso(now), "usedAt": None,
        }, *profile.access_pass_history][:HISTORY]
        unit.save(profile)
        canceled = _cancel_pending(unit, now)  # the replaced pass's
        unit.audit(now, "access_pass_issued", actor, accessPassId=pass_id, expiresAt=iso(expires), oneTime=one_time,
                   lifetimeMinutes=minutes, reason=reason, replacedAccessPassId=replaced, challengesCanceled=canceled)
        unit.commit()
        return {"accessPassId": pass_id, "accessPass": shown, "expiresAt": iso(expires), "oneTime": one_time}

    return d.in_unit(user_id, attempt)


def _status(entry: dict[str, Any], now: datetime) -> str:
    if entry["status"] == "active" and entry["expiresAt"] <= iso(now):
        return "expired"
    return entry["status"]


def list_passes(d: Deciding, user_id: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    now = d.clock.now()
    profile = _profile(d.load_unit(user_id))
    keys = ("accessPassId", "expiresAt", "reason", "createdBy", "createdAt", "usedAt", "oneTime")
    return {"accessPasses": [{**{k: entry.get(k) for k in keys}, "status": _status(entry, now)}
                             for entry in profile.access_pass_history]}


def revoke(d: Deciding, user_id: str, actor: str) -> None:
    """Revoke the active pass (204 also when there is none); its pending challenges are canceled with it."""
    user_id = validate_user_id(user_id)

    def attempt(unit: UserRows) -> None:
        now = d.clock.now()
        profile = _profile(unit)
        revoked = _end_active(profile, "revoked", now, actor)
        if revoked is None:
            return
        unit.save(profile)
        canceled = _cancel_pending(unit, now)
        unit.audit(now, "access_pass_revoked", actor, accessPassId=revoked, challengesCanceled=canceled)
        unit.commit()

    d.in_unit(user_id, attempt)
