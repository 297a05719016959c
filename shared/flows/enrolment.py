"""Enrolment: add a method (a phone, an authenticator app, any registered method that enrols: `enrol`
runs the method's own steps; each becomes active only when its challenge is verified), read a user's
methods, remove a method. Changing methods of a claimed account (one that has
ever held a factor, even if none is left) needs a fresh second factor: a sign-in challenge of that user
approved in the last 5 minutes, used once; a blocked or locked user changes nothing (step_up.py).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..kernel.clock import iso
from ..kernel.errors import NotFound
from ..kernel.ids import validate_user_id
from ..kernel.results import Started
from ..kernel.validation import text
from ..methods.base import enrol_purpose
from ..methods.registry import METHODS
from ..methods.sms import Sms
from ..methods.totp import Totp
from ..model.context import parse_context, refuse_if_risk_blocked
from ..model.records import Challenge, Profile
from ..ports import Challenging, Deciding, StepUp
from ..store import UserRows
from ..store.idempotency import Idempotency
from .challenge_rows import (
    cancel_challenges,
    challenge_view,
    new_challenge,
    prepare_with_marker,
    refuse_if_barred,
    replay_challenge,
    replay_of,
    start,
)
from .step_up import require_step_up, with_proof


def enrol(d: Challenging, method: str, user_id: str, body: dict[str, Any],
          idempotency_key: str | None = None) -> Started:
    """Start enrolling `method` (its steps: methods.base.Enrolment) behind the step-up proof a claimed
    account needs; the challenge's code (or answer) is verified by the verify flow, which binds it."""
    user_id = validate_user_id(user_id)
    m = METHODS.get(method)
    if m is None or not m.enrols:
        raise NotFound()
    parsed = m.parse_enrolment(body)
    proof_id = text(body, "proofChallengeId", max_len=256)
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, f"{m.enrol_scope}/{user_id}", body)

    def attempt(unit: UserRows, proof_rk: str | None) -> Started:
        now = d.clock.now()
        replay = replay_of(unit, idem, now)
        if replay is not None:  # answered again only while that enrolment is pending and still current
            return replay_challenge(d, unit, replay, now, created)
        refuse_if_barred(unit.profile, now)
        policy = d.policy()  # once per decision
        refuse_if_risk_blocked(policy, context)
        m.refuse_enrolment(unit.profile)
        require_step_up(unit, proof_rk, now, policy, context, enrolling=method)
        row_key, fields = prepare_with_marker(d, policy, user_id, method, now,
                                              lambda: m.enrolment_fields(d, user_id, parsed, context, unit))
        ch = new_challenge(d, policy, user_id, enrol_purpose(method), method, now, unit.profile, row_key, **fields)
        return start(d, unit, ch, now, "enrolment_started", created, idem, marked=True)

    def created(ch: Challenge) -> Started:
        return m.enrolment_answer(d, ch, challenge_view(ch, d.clock.now(), created=True))

    return with_proof(d, user_id, m.enrol_action, proof_id, attempt, idem.row_key if idem else None)


def enrol_phone(d: Challenging, user_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> Started:
    return enrol(d, Sms.name, user_id, body, idempotency_key)


def enrol_totp(d: Challenging, user_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> Started:
    return enrol(d, Totp.name, user_id, body, idempotency_key)


def user_view(profile: Profile, now: datetime) -> dict[str, Any]:
    methods = [entry for m in METHODS.values() for entry in m.enrolled_views(profile)]
    return {
        "userId": profile.user_id,
        "methods": methods,
        "defaultMethod": profile.default_method,
        "blockedUntil": iso(profile.blocked_until) if profile.is_blocked(now) else None,
        "lockedUntil": iso(profile.locked_until) if profile.is_locked(now) else None,
        "recoveryCodesRemaining": len(profile.recovery_codes),
    }


def get_user(d: Deciding, user_id: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    profile = d.load_unit(user_id).profile
    if profile is None:
        raise NotFound()
    return user_view(profile, d.clock.now())


def delete_method(d: StepUp, user_id: str, method: str, body: dict[str, Any]) -> None:
    user_id = validate_user_id(user_id)
    if method not in METHODS or METHODS[method].recovery:  # a pass is revoked, codes replaced: not removed here
        raise NotFound()
    proof_id = text(body, "proofChallengeId", max_len=256)

    def attempt(unit: UserRows, proof_rk: str | None) -> None:
        now = d.clock.now()
        profile = unit.profile
        if profile is None or not profile.can_challenge(method):  # includes a not yet activated hardware token
            raise NotFound()
        require_step_up(unit, proof_rk, now, d.policy())
        METHODS[method].remove(profile, unit)
        profile.pick_default()
        pending = unit.pending_challenges(method, now)  # they die with the method (E1)
        unit.save(profile)
        unit.audit(now, "method_removed", "application", method=method, challengesCanceled=len(pending) or None)
        cancel_challenges(unit, pending)
        unit.commit()

    with_proof(d, user_id, "delete_method", proof_id, attempt)
