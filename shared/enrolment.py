"""Enrolment: add a phone or an authenticator app (each becomes active only when a code from it is
verified), read a user's methods, remove a method. Changing methods of a user who already has one
needs a fresh second factor: a sign-in challenge of that user approved in the last 5 minutes, used once.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import limits
from .aad import phone_aad, totp_aad
from .challenge_rows import (
    audited_refusals,
    cancel_challenges,
    challenge_view,
    load_with_replay,
    new_challenge,
    pending_challenges,
    refuse_if_barred,
    replay_challenge,
    start,
)
from .clock import iso
from .context import parse_context, refuse_if_risk_blocked
from .deps import Deps
from .errors import Conflict, IdempotentResultGone, NotFound, StepUpRequired
from .idempotency import Idempotency, Replay
from .ids import PROFILE_RK, parse_challenge_id, validate_user_id
from .methods import ENROL_SMS, ENROL_TOTP, METHODS, SIGNIN
from .models import MAX_TOTP_DEVICES, Challenge, Profile
from .otp import b32, new_totp_secret, provisioning_uri
from .phone import mask, parse_e164
from .results import CodeSent, SecretIssued
from .store import Tx, retry_on_conflict
from .validation import text

PROOF_WINDOW = timedelta(minutes=5)


def _load(d: Deps, user_id: str, proof_id: str | None, idem: Idempotency | None, now: datetime,
          ) -> tuple[Profile | None, Challenge | None, Replay | None]:
    """The profile, the proof challenge (if one is named) and any replay, in one round trip."""
    proof_rk = None
    if proof_id is not None:
        try:
            proof_user, proof_rk = parse_challenge_id(proof_id)
        except NotFound:
            raise StepUpRequired() from None
        if proof_user != user_id:
            raise StepUpRequired()
    profile, rows, replay = load_with_replay(d, user_id, idem, now, extra=(proof_rk,) if proof_rk else ())
    proof = Challenge.from_entity(rows[proof_rk]) if proof_rk and proof_rk in rows else None
    return profile, proof, replay


def _require_step_up(profile: Profile | None, proof: Challenge | None, now: datetime, tx: Tx) -> None:
    if profile is None or not profile.active_methods():
        return
    if (proof is None or proof.purpose != SIGNIN or proof.status != "approved" or proof.approved_at is None
            or now - proof.approved_at > PROOF_WINDOW or proof.proof_used_at is not None):
        raise StepUpRequired()
    proof.proof_used_at = now
    tx.replace(proof.to_entity())


def enrol_phone(d: Deps, user_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> CodeSent:
    user_id = validate_user_id(user_id)
    phone = parse_e164(body.get("phoneNumber"))
    proof_id = text(body, "proofChallengeId", max_len=256)
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, f"phone/{user_id}", body)

    def attempt() -> CodeSent:
        now = d.clock.now()
        profile, proof, replay = _load(d, user_id, proof_id, idem, now)
        if replay is not None:
            return replay_challenge(d, user_id, profile, replay, now, created)
        refuse_if_barred(profile, now)
        policy = d.policy()  # once per decision
        refuse_if_risk_blocked(policy, context)
        tx = Tx()
        _require_step_up(profile, proof, now, tx)
        limits.consume_sms(d, user_id, phone, context.get("ip"))
        ch = new_challenge(d, policy, user_id, ENROL_SMS, "sms", now, profile, destination=d.sealer.seal(
                           phone.encode(), phone_aad(user_id)), destination_masked=mask(phone))
        return start(d, ch, tx, now, "enrolment_started", created, idem)

    def created(ch: Challenge) -> CodeSent:
        return CodeSent(challenge_view(ch, d.clock.now(), created=True))

    return audited_refusals(d, user_id, "enrol_phone", lambda: retry_on_conflict(attempt))


def enrol_totp(d: Deps, user_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> SecretIssued:
    user_id = validate_user_id(user_id)
    proof_id = text(body, "proofChallengeId", max_len=256)
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, f"totp/{user_id}", body)
    s = d.settings

    def attempt() -> SecretIssued:
        now = d.clock.now()
        profile, proof, replay = _load(d, user_id, proof_id, idem, now)
        if replay is not None:  # the secret again only while that enrolment is pending and still current
            return replay_challenge(d, user_id, profile, replay, now, created)
        refuse_if_barred(profile, now)
        policy = d.policy()  # once per decision
        refuse_if_risk_blocked(policy, context)
        if profile is not None and len(profile.totp) >= MAX_TOTP_DEVICES:
            raise Conflict(f"A user can have at most {MAX_TOTP_DEVICES} TOTP devices.")
        tx = Tx()
        _require_step_up(profile, proof, now, tx)
        ch = new_challenge(d, policy, user_id, ENROL_TOTP, "totp", now, profile,
                           pending_secret=d.sealer.seal(new_totp_secret(), totp_aad(user_id)))
        return start(d, ch, tx, now, "enrolment_started", created, idem)

    def created(ch: Challenge) -> SecretIssued:
        if ch.pending_secret is None:
            raise IdempotentResultGone()
        secret = d.sealer.open(ch.pending_secret, totp_aad(user_id), kind="challenge")
        view = challenge_view(ch, d.clock.now(), created=True)
        view["secret"] = b32(secret)
        view["otpauthUri"] = provisioning_uri(secret, user_id, s.totp_issuer, s.totp_digits, s.totp_algorithm, 30)
        return SecretIssued(view)

    return audited_refusals(d, user_id, "enrol_totp", lambda: retry_on_conflict(attempt))


def user_view(profile: Profile, now: datetime) -> dict[str, Any]:
    methods = [entry for m in METHODS.values() if (entry := m.enrolled_view(profile)) is not None]
    return {
        "userId": profile.user_id,
        "methods": methods,
        "defaultMethod": profile.default_method,
        "blockedUntil": iso(profile.blocked_until) if profile.is_blocked(now) else None,
        "lockedUntil": iso(profile.locked_until) if profile.is_locked(now) else None,
    }


def get_user(d: Deps, user_id: str) -> dict[str, Any]:
    user_id = validate_user_id(user_id)
    row = d.store.get(user_id, PROFILE_RK)
    if row is None:
        raise NotFound()
    return user_view(Profile.from_entity(row), d.clock.now())


def delete_method(d: Deps, user_id: str, method: str, body: dict[str, Any]) -> None:
    user_id = validate_user_id(user_id)
    if method not in METHODS:
        raise NotFound()
    proof_id = text(body, "proofChallengeId", max_len=256)

    def attempt() -> None:
        now = d.clock.now()
        profile, proof, _ = _load(d, user_id, proof_id, None, now)
        if profile is None or not profile.can_challenge(method):  # includes a not yet activated hardware token
            raise NotFound()
        tx = Tx()
        _require_step_up(profile, proof, now, tx)
        METHODS[method].remove(profile)
        profile.pick_default()
        pending = pending_challenges(d, user_id, method, now)  # they die with the method (E1)
        tx.replace(profile.to_entity())
        tx.create(d.audit(user_id, now, "method_removed", "application",
                            method=method, challengesCanceled=len(pending) or None))
        cancel_challenges(d, tx, pending)

    audited_refusals(d, user_id, "delete_method", lambda: retry_on_conflict(attempt))
