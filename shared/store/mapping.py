"""How the domain's models become rows and back: the one place that knows the property names a profile,
a challenge and a bypass are stored under (a method's own profile columns: the method, through the
registry in model/factors.py), and that a model read from a row carries that row (its ETag)
so a later write of it is If-Match.

The domain never calls this directly: a `UserRows` unit (unit.py) loads models through it and writes
the models a flow changed.
"""
from __future__ import annotations

import json
from typing import Any

from ..kernel.ids import PROFILE_RK
from ..model import factors
from ..model.records import CHALLENGE_KEEP, Bypass, Challenge, Profile
from .rows import new_row, same_version
from .table import Entity

Model = Profile | Challenge | Bypass


def _entity(pk: str, rk: str, source: Entity | None, props: dict[str, Any]) -> Entity:
    # keep the ETag of the row read, for a conditional write
    return same_version(new_row(pk, rk, **{k: v for k, v in props.items() if v is not None}), source)


def to_entity(model: Model) -> Entity:
    """The row of `model`, carrying the ETag of the row it was read from (none for a new model)."""
    if isinstance(model, Profile):
        return _profile_entity(model)
    if isinstance(model, Challenge):
        return _challenge_entity(model)
    return _bypass_entity(model)


def _profile_entity(p: Profile) -> Entity:
    props: dict[str, Any] = {
        "createdAt": p.created_at, "defaultMethod": p.default_method,
        "failures": p.failures, "failureWindowStart": p.failure_window_start,
        "consecutiveFailures": p.consecutive_failures, "lockCount": p.lock_count,
        "lockedUntil": p.locked_until, "blockedUntil": p.blocked_until,
        "bypassRk": p.bypass_rk, "bypassExpiresAt": p.bypass_expires_at,
        "groups": json.dumps(p.groups) if p.groups else None, "sessionsRevokedAt": p.sessions_revoked_at,
        "claimed": p.claimed, "methodsVersion": p.methods_version,
    }
    for method in factors.registered():  # each method's own columns (model/factors.py)
        props.update(method.to_columns(p))
    return _entity(p.user_id, PROFILE_RK, p.row, props)


def profile_from(e: Entity) -> Profile:
    profile = Profile(
        user_id=e["PartitionKey"], created_at=e["createdAt"],
        default_method=e.get("defaultMethod"), failures=e.get("failures", 0),
        failure_window_start=e.get("failureWindowStart"), locked_until=e.get("lockedUntil"),
        consecutive_failures=e.get("consecutiveFailures", 0), lock_count=e.get("lockCount", 0),
        blocked_until=e.get("blockedUntil"), bypass_rk=e.get("bypassRk"),
        bypass_expires_at=e.get("bypassExpiresAt"), groups=json.loads(e.get("groups") or "[]"),
        sessions_revoked_at=e.get("sessionsRevokedAt"),
        claimed=e.get("claimed"), methods_version=e.get("methodsVersion", 0), row=e,
    )
    for method in factors.registered():
        method.from_columns(e, profile)
    return profile


def _challenge_entity(c: Challenge) -> Entity:
    return _entity(c.user_id, c.row_key, c.row, {
        "purpose": c.purpose, "method": c.method, "createdAt": c.created_at,
        "expiresAt": c.expires_at, "purgeAfter": c.expires_at + CHALLENGE_KEEP,
        "maxAttempts": c.max_attempts, "status": c.status, "attempts": c.attempts,
        "keyId": c.key_id, "digits": c.digits, "destination": c.destination,
        "destinationMasked": c.destination_masked, "delivery": c.delivery,
        "pendingSecret": c.pending_secret, "approvedAt": c.approved_at,
        "proofUsedAt": c.proof_used_at, "methodsVersion": c.methods_version,
        "accessPassId": c.access_pass_id,
        "smsAttempt": c.sms_attempt or None, "smsAttemptAt": c.sms_attempt_at,
        "methodState": json.dumps(c.extra, separators=(",", ":")) if c.extra else None,
    })


def challenge_from(e: Entity) -> Challenge:
    return Challenge(
        user_id=e["PartitionKey"], row_key=e["RowKey"], purpose=e["purpose"], method=e["method"],
        created_at=e["createdAt"], expires_at=e["expiresAt"], max_attempts=e["maxAttempts"],
        status=e["status"], attempts=e.get("attempts", 0), key_id=e.get("keyId"),
        digits=e.get("digits", 6), destination=e.get("destination"),
        destination_masked=e.get("destinationMasked"), delivery=e.get("delivery"),
        pending_secret=e.get("pendingSecret"), approved_at=e.get("approvedAt"),
        proof_used_at=e.get("proofUsedAt"), methods_version=e.get("methodsVersion"),
        access_pass_id=e.get("accessPassId"),
        sms_attempt=e.get("smsAttempt", 0), sms_attempt_at=e.get("smsAttemptAt"),
        extra=json.loads(e.get("methodState") or "{}"), row=e,
    )


def _bypass_entity(b: Bypass) -> Entity:
    return _entity(b.user_id, b.row_key, b.row, {
        "createdAt": b.created_at, "expiresAt": b.expires_at, "reason": b.reason,
        "createdBy": b.created_by, "status": b.status, "usedAt": b.used_at,
        "revokedAt": b.revoked_at, "revokedBy": b.revoked_by, "purgeAfter": b.purge_after,
    })


def bypass_from(e: Entity) -> Bypass:
    return Bypass(
        user_id=e["PartitionKey"], row_key=e["RowKey"], created_at=e["createdAt"],
        expires_at=e["expiresAt"], reason=e["reason"], created_by=e["createdBy"], status=e["status"],
        used_at=e.get("usedAt"), revoked_at=e.get("revokedAt"), revoked_by=e.get("revokedBy"),
        purge_after=e.get("purgeAfter"), row=e,
    )
