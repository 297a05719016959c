"""Support operations behind the admin key: one-time bypasses, unblocking, the audit trail. Who the operator
is (the `actor` every operation records) is decided at the HTTP edge (functions/admin_auth.py)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..kernel.clock import iso
from ..kernel.errors import InvalidRequest, NotFound
from ..kernel.ids import AUDIT_PREFIX, BYPASS_PREFIX, random_token, validate_user_id
from ..kernel.validation import integer, text
from ..model.lockout import clear_failures
from ..model.policy import GROUP_RE
from ..model.records import Bypass, Profile
from ..ports import Administering, Deciding, Policies, Units
from ..store import UserRows
from ..store.audit import audit_view


def _profile(unit: UserRows) -> Profile:
    """The unit's profile; admin operations on an unknown user are a 404."""
    if unit.profile is None:
        raise NotFound()
    return unit.profile


def create_bypass(d: Administering, user_id: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    s = d.settings
    high = d.policy().bypass_max_seconds
    seconds = integer(body, "seconds", low=1, high=high, default=min(s.bypass_default_seconds, high))
    reason = text(body, "reason", max_len=256, required=True)

    def attempt(unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        profile = _profile(unit)
        if profile.bypass_rk and profile.bypass_expires_at and profile.bypass_expires_at > now:
            unit.patch(profile.bypass_rk, status="revoked", revokedAt=now, revokedBy=actor)
        bypass = Bypass(user_id=user_id, row_key=BYPASS_PREFIX + random_token(12), created_at=now,
                        expires_at=now + timedelta(seconds=seconds), reason=reason, created_by=actor,
                        purge_after=now + timedelta(days=s.audit_retention_days))
        profile.bypass_rk, profile.bypass_expires_at = bypass.row_key, bypass.expires_at
        unit.save(profile)
        unit.add(bypass)
        unit.audit(now, "bypass_created", actor, bypassId=bypass.bypass_id, expiresAt=iso(bypass.expires_at),
                   reason=reason)
        unit.commit()
        return {"bypassId": bypass.bypass_id, "userId": user_id, "expiresAt": iso(bypass.expires_at)}

    return d.in_unit(user_id, attempt)


def list_bypasses(d: Deciding, user_id: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    now = d.clock.now()
    found = d.load_unit(user_id, with_profile=False).bypasses()
    if not found:
        _profile(d.load_unit(user_id))  # 404 for an unknown user
    bypasses = sorted(found, key=lambda b: b.created_at, reverse=True)
    return {"bypasses": [{
        "bypassId": b.bypass_id, "status": b.effective_status(now), "expiresAt": iso(b.expires_at),
        "reason": b.reason, "createdBy": b.created_by, "createdAt": iso(b.created_at), "usedAt": iso(b.used_at),
    } for b in bypasses if b.purge_after is None or b.purge_after > now]}


def revoke_bypass(d: Deciding, user_id: str, actor: str) -> None:
    user_id = validate_user_id(user_id)

    def attempt(unit: UserRows) -> None:
        now = d.clock.now()
        profile = _profile(unit)
        if not profile.bypass_rk:
            return
        bypass_rk = profile.bypass_rk
        profile.bypass_rk = profile.bypass_expires_at = None
        unit.save(profile)
        unit.patch(bypass_rk, status="revoked", revokedAt=now, revokedBy=actor)
        unit.audit(now, "bypass_revoked", actor, bypassId=bypass_rk[len(BYPASS_PREFIX):])
        unit.commit()

    d.in_unit(user_id, attempt)


def unblock(d: Deciding, user_id: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """Clear a fraud block and a lockout, with every failure count and the lock doubling (L7); like every
    support action it says why (audited)."""
    user_id = validate_user_id(user_id)
    reason = text(body, "reason", max_len=256, required=True)

    def attempt(unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        profile = _profile(unit)
        was = {"blockedUntil": iso(profile.blocked_until), "lockedUntil": iso(profile.locked_until)}
        profile.blocked_until = profile.locked_until = None
        clear_failures(profile)
        unit.save(profile)
        unit.audit(now, "user_unblocked", actor, reason=reason, **was)
        unit.commit()
        return {"userId": user_id, "blockedUntil": None, "lockedUntil": None}

    return d.in_unit(user_id, attempt)


def audit_events(d: Administering, user_id: str, limit: int = 200) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    now = d.clock.now()
    rows = d.store.query_prefix(user_id, AUDIT_PREFIX, limit=limit)
    if not rows:
        _profile(d.load_unit(user_id))
    events = [audit_view(r) for r in rows if r["purgeAfter"] > now]
    # newest first by the last event: a coalesced refusal row is keyed by its minute's first refusal
    return {"events": sorted(events, key=lambda e: e.get("lastAt") or e["at"], reverse=True)}


def get_groups(d: Units, user_id: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    return {"userId": user_id, "groups": _profile(d.load_unit(user_id)).groups}


def set_groups(d: Deciding, user_id: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """Replace the user's groups (used by the excluded-groups rule); creates the user if unknown, since
    a break-glass account may have no second factor at all."""
    user_id = validate_user_id(user_id)
    groups = body.get("groups")
    if not isinstance(groups, list) or len(groups) > 100 or not all(
            isinstance(g, str) and GROUP_RE.fullmatch(g) for g in groups):
        raise InvalidRequest("groups must be a list of at most 100 group names (1-128 characters).", field="groups")
    groups = list(dict.fromkeys(groups))

    def attempt(unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        profile = unit.profile or Profile(user_id=user_id, created_at=now)
        old, profile.groups = profile.groups, groups
        unit.save(profile)  # created when the user was unknown
        unit.audit(now, "groups_changed", actor, old=old, new=groups)
        unit.commit()
        return {"userId": user_id, "groups": groups}

    return d.in_unit(user_id, attempt)


def revoke_sessions(d: Deciding, user_id: str, actor: str) -> dict[str, Any]:
    """Azure's "revoke MFA sessions": every remembered-device token issued before now stops working."""
    user_id = validate_user_id(user_id)

    def attempt(unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        profile = _profile(unit)
        profile.sessions_revoked_at = now
        unit.save(profile)
        unit.audit(now, "sessions_revoked", actor)
        unit.commit()
        return {"userId": user_id, "sessionsRevokedAt": iso(now)}

    return d.in_unit(user_id, attempt)


def get_policy(d: Policies) -> dict[str, Any]:
    policy, _ = d.policies.read()  # always fresh for an operator
    return policy.to_doc()


def patch_policy(d: Administering, body: Any, actor: str) -> dict[str, Any]:
    return d.policies.patch(body, actor, d.clock.now()).to_doc()
