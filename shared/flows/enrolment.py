"""Enrolment: add a phone or an authenticator app (each becomes active only when a code from it is
verified), read a user's methods, remove a method. Changing methods of a claimed account (one that has
ever held a factor, even if none is left) needs a fresh second factor: a sign-in challenge of that user
approved in the last 5 minutes, used once; a blocked or locked user changes nothing (step_up.py).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..crypto.aad import phone_aad, totp_aad
from ..crypto.otp import b32, new_totp_secret, provisioning_uri
from ..deps import Deps
from ..kernel.clock import iso
from ..kernel.errors import Conflict, IdempotentResultGone, NotFound
from ..kernel.ids import validate_user_id
from ..kernel.results import CodeSent, SecretIssued
from ..kernel.validation import text
from ..methods import limits
from ..methods.base import ENROL_SMS, ENROL_TOTP
from ..methods.registry import METHODS
from ..model.context import parse_context, refuse_if_risk_blocked
from ..model.phone import mask, parse_e164
from ..model.records import MAX_TOTP_DEVICES, Challenge, Profile
from ..store import UserRows
from ..store.idempotency import Idempotency
from .challenge_rows import (
    cancel_challenges,
    challenge_view,
    new_challenge,
    refuse_if_barred,
    replay_challenge,
    replay_of,
    start,
)
from .step_up import require_step_up, with_proof


def enrol_phone(d: Deps, user_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> CodeSent:
    user_id = validate_user_id(user_id)
    phone = parse_e164(body.get("phoneNumber"))
    proof_id = text(body, "proofChallengeId", max_len=256)
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, f"phone/{user_id}", body)

    def attempt(unit: UserRows, proof_rk: str | None) -> CodeSent:
        now = d.clock.now()
        replay = replay_of(unit, idem, now)
        if replay is not None:
            return replay_challenge(d, unit, replay, now, created)
        refuse_if_barred(unit.profile, now)
        policy = d.policy()  # once per decision
        refuse_if_risk_blocked(policy, context)
        require_step_up(unit, proof_rk, now)
        limits.consume_sms(d, user_id, phone, context.get("ip"))
        ch = new_challenge(d, policy, user_id, ENROL_SMS, "sms", now, unit.profile, destination=d.sealer.seal(
                           phone.encode(), phone_aad(user_id)), destination_masked=mask(phone))
        return start(d, unit, ch, now, "enrolment_started", created, idem)

    def created(ch: Challenge) -> CodeSent:
        return CodeSent(challenge_view(ch, d.clock.now(), created=True))

    return with_proof(d, user_id, "enrol_phone", proof_id, attempt, idem.row_key if idem else None)


def enrol_totp(d: Deps, user_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> SecretIssued:
    user_id = validate_user_id(user_id)
    proof_id = text(body, "proofChallengeId", max_len=256)
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, f"totp/{user_id}", body)
    s = d.settings

    def attempt(unit: UserRows, proof_rk: str | None) -> SecretIssued:
        now = d.clock.now()
        profile, replay = unit.profile, replay_of(unit, idem, now)
        if replay is not None:  # the secret again only while that enrolment is pending and still current
            return replay_challenge(d, unit, replay, now, created)
        refuse_if_barred(profile, now)
        policy = d.policy()  # once per decision
        refuse_if_risk_blocked(policy, context)
        if profile is not None and len(profile.totp) >= MAX_TOTP_DEVICES:
            raise Conflict(f"A user can have at most {MAX_TOTP_DEVICES} TOTP devices.")
        require_step_up(unit, proof_rk, now)
        ch = new_challenge(d, policy, user_id, ENROL_TOTP, "totp", now, profile,
                           pending_secret=d.sealer.seal(new_totp_secret(), totp_aad(user_id)))
        return start(d, unit, ch, now, "enrolment_started", created, idem)

    def created(ch: Challenge) -> SecretIssued:
        if ch.pending_secret is None:
            raise IdempotentResultGone()
        secret = d.sealer.open(ch.pending_secret, totp_aad(user_id), kind="challenge")
        view = challenge_view(ch, d.clock.now(), created=True)
        view["secret"] = b32(secret)
        view["otpauthUri"] = provisioning_uri(secret, user_id, s.totp_issuer, s.totp_digits, s.totp_algorithm, 30)
        return SecretIssued(view)

    return with_proof(d, user_id, "enrol_totp", proof_id, attempt, idem.row_key if idem else None)


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


def get_user(d: Deps, user_id: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    profile = d.load_unit(user_id).profile
    if profile is None:
        raise NotFound()
    return user_view(profile, d.clock.now())


def delete_method(d: Deps, user_id: str, method: str, body: dict[str, Any]) -> None:
    user_id = validate_user_id(user_id)
    if method not in METHODS or METHODS[method].recovery:  # a pass is revoked, codes replaced: not removed here
        raise NotFound()
    proof_id = text(body, "proofChallengeId", max_len=256)

    def attempt(unit: UserRows, proof_rk: str | None) -> None:
        now = d.clock.now()
        profile = unit.profile
        if profile is None or not profile.can_challenge(method):  # includes a not yet activated hardware token
            raise NotFound()
        require_step_up(unit, proof_rk, now)
        METHODS[method].remove(profile)
        profile.pick_default()
        pending = unit.pending_challenges(method, now)  # they die with the method (E1)
        unit.save(profile)
        unit.audit(now, "method_removed", "application", method=method, challengesCanceled=len(pending) or None)
        cancel_challenges(unit, pending)
        unit.commit()

    with_proof(d, user_id, "delete_method", proof_id, attempt)
