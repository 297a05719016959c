"""Verify and report fraud: the decisions on an existing challenge.

Each is read-decide-write: read the challenge with its user's profile in one query, decide at the
server's `now`, then write both (and the audit event) in one ETag-conditional transaction. A lost race
re-reads and decides again, so 20 concurrent right answers approve once and 50 concurrent wrong ones
count 50 failures.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import device_tokens
from .challenge_rows import (
    cancel_challenges,
    ensure_usable,
    load_pair,
    pending_challenges,
    refuse_if_barred,
    superseded,
    write_pair,
)
from .clock import iso
from .deps import Deps
from .errors import Canceled, IncorrectCode, TwostepError
from .ids import challenge_id_for, parse_challenge_id
from .methods import ENROL_SMS, METHODS, SIGNIN, Approval
from .models import Challenge, Profile
from .policy import locked_error, register_failure, register_success
from .store import Tx, retry_on_conflict
from .validation import answer_code, boolean


def _check_code(d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime) -> Approval | None:
    """Ask the challenge's method to check the code and, when right, apply what approval changes."""
    method = METHODS[ch.method]
    proof = method.check(d, ch, profile, code, now)
    if proof is None:
        return None
    return method.approve(d, ch, profile, proof)


def _refuse_superseded(d: Deps, ch: Challenge, now: datetime) -> None:
    ch.status = "canceled"
    d.store.transact(Tx().replace(ch.to_entity()).create(d.audit(
        ch.user_id, now, "challenge_canceled", "system",
        challengeId=challenge_id_for(ch.user_id, ch.row_key), method=ch.method, purpose=ch.purpose,
        reason="methods_changed")))
    raise Canceled()


def verify(d: Deps, challenge_id: str, body: dict[str, Any]) -> dict[str, Any]:
    typed = answer_code(body)
    remember = boolean(body, "rememberDevice")
    user_id, row_key = parse_challenge_id(challenge_id)  # one spelling (C12): `challenge_id` is canonical

    def attempt() -> dict[str, Any]:
        now = d.clock.now()
        ch, profile = load_pair(d, user_id, row_key, now)
        code = METHODS[ch.method].parse_code(typed)  # each method's own format; a bad one uses no attempt
        ensure_usable(ch, now)
        try:
            refuse_if_barred(profile, now)
        except TwostepError as exc:  # a verify while locked (or blocked) is audited, coalesced (D7)
            d.refusal(ch.user_id, now, "verify", exc.code)
            raise
        if superseded(ch, profile, now):
            _refuse_superseded(d, ch, now)
        tx = Tx()
        if profile is None:  # first enrolment of a new user
            profile = Profile(user_id=ch.user_id, created_at=now)
        cid = challenge_id
        replaced_phone = profile.phone if ch.purpose == ENROL_SMS else None
        inactive = {device.id for device in profile.totp if not device.active}  # hardware tokens not yet used
        approval = _check_code(d, ch, profile, code, now)
        if approval is not None:
            activated = any(device.active and device.id in inactive for device in profile.totp)
            register_success(profile)
            profile.pick_default()
            ch.status, ch.approved_at = "approved", now
            days = d.policy().remember_device_days if remember and ch.purpose == SIGNIN else 0
            write_pair(tx, ch, profile)
            tx.create(d.audit(ch.user_id, now, "verify_approved", "application", challengeId=cid,
                              method=ch.method, purpose=ch.purpose, deviceRemembered=days > 0 or None,
                              activated=activated or None))
            if approval.event:  # e.g. access_pass_used, recovery_code_used
                tx.create(d.audit(ch.user_id, now, approval.event, "application", challengeId=cid, **approval.detail))
            if replaced_phone:  # the old number's pending codes die with it (E1)
                cancel_challenges(d, tx, [p for p in pending_challenges(d, ch.user_id, "sms", now)
                                          if p.row_key != ch.row_key and p.destination == replaced_phone])
            else:
                d.store.transact(tx)
            result = {"status": "approved", "userId": ch.user_id, "method": ch.method, **approval.answer}
            if days > 0:
                token, expires = device_tokens.issue(d.hmac_keys, ch.user_id, now, days)
                result.update(deviceToken=token, deviceTokenExpiresAt=iso(expires))
            return result
        ch.attempts += 1
        if ch.attempts >= ch.max_attempts:
            ch.status = "max_attempts_reached"
        locked = register_failure(profile, now, d.policy())
        write_pair(tx, ch, profile)
        tx.create(d.audit(ch.user_id, now, "verify_failed", "application", challengeId=cid,
                            method=ch.method, attemptsRemaining=ch.attempts_remaining()))
        if locked:
            tx.create(d.audit(ch.user_id, now, "user_locked", "system",
                                lockedUntil=iso(profile.locked_until)))
        d.store.transact(tx)
        if locked:
            raise locked_error(profile, now)
        raise IncorrectCode(attemptsRemaining=ch.attempts_remaining())

    return retry_on_conflict(attempt)


def report_fraud(d: Deps, challenge_id: str) -> dict[str, Any]:
    """"I did not start this": cancel the challenge and block the user for the policy's period."""
    user_id, row_key = parse_challenge_id(challenge_id)

    def attempt() -> dict[str, Any]:
        now = d.clock.now()
        ch, profile = load_pair(d, user_id, row_key, now)
        if profile is None:
            profile = Profile(user_id=ch.user_id, created_at=now)
        if ch.status == "pending":
            ch.status = "canceled"
        profile.blocked_until = now + timedelta(days=d.policy().fraud_block_days)
        tx = Tx()
        write_pair(tx, ch, profile)
        tx.create(d.audit(ch.user_id, now, "fraud_reported", "user",
                            challengeId=challenge_id, blockedUntil=iso(profile.blocked_until)))
        d.store.transact(tx)
        return {"status": "blocked", "blockedUntil": iso(profile.blocked_until)}

    return retry_on_conflict(attempt)
