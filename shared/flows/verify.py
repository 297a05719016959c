"""Verify and report fraud: the decisions on an existing challenge.

Each is read-decide-write: read the challenge with its user's profile in one query, decide at the
server's `now`, then write both (and the audit event) in one ETag-conditional transaction. A lost race
re-reads and decides again, so 20 concurrent right answers approve once and 50 concurrent wrong ones
count 50 failures.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..crypto import device_tokens
from ..kernel import telemetry
from ..kernel.clock import iso
from ..kernel.errors import Canceled, IncorrectCode, InvalidRequest, TwostepError
from ..kernel.ids import challenge_id_for, parse_challenge_id
from ..kernel.validation import answer, boolean
from ..methods.base import SIGNIN, WrongAnswer, answer_field
from ..methods.registry import METHODS
from ..model.lockout import locked_error, register_failure, register_success
from ..model.records import Challenge, Profile
from ..ports import Governed, Verifying
from ..store import UserRows
from .challenge_rows import ensure_usable, live_challenge, refuse_if_barred, superseded


def _check_code(d: Verifying, unit: UserRows, ch: Challenge, profile: Profile, code: str,
                now: datetime) -> tuple[dict[str, Any], bool] | WrongAnswer | None:
    """Ask the challenge's method to check the code and, when right, apply what approval changes; returns
    the fields the method adds to the answer and whether the approval activated a factor (None or a
    `WrongAnswer` saying why: wrong)."""
    method = METHODS[ch.method]
    proof = method.check(d, ch, profile, code, now, unit)
    if proof is None or isinstance(proof, WrongAnswer):
        return proof
    activated = method.activates(proof)
    return method.approve(d, ch, profile, proof, unit), activated


def _refuse_superseded(unit: UserRows, ch: Challenge, now: datetime) -> None:
    ch.status = "canceled"
    unit.save(ch)
    unit.audit(now, "challenge_canceled", "system", challengeId=challenge_id_for(ch.user_id, ch.row_key),
               method=ch.method, purpose=ch.purpose, reason="methods_changed")
    unit.commit()
    raise Canceled()


def verify(d: Verifying, challenge_id: str, body: dict[str, Any]) -> dict[str, Any]:
    typed = answer(body)
    remember = boolean(body, "rememberDevice")
    user_id, row_key = parse_challenge_id(challenge_id)  # one spelling (C12): `challenge_id` is canonical

    def attempt(unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        ch, profile = live_challenge(unit, row_key, now), unit.profile
        field = answer_field(METHODS[ch.method])
        if isinstance(typed, dict) != (field == "credential"):  # the other member than this method's
            raise InvalidRequest(f"{field} is required to answer a {ch.method} challenge.", field=field)
        code = METHODS[ch.method].parse_code(typed)  # type: ignore[arg-type]  # each method's own format; a bad one uses no attempt
        ensure_usable(ch, now)
        try:
            refuse_if_barred(profile, now)
        except TwostepError as exc:  # a verify while locked (or blocked) is audited, coalesced (D7)
            d.refusal(ch.user_id, now, "verify", exc.code)
            raise
        if superseded(ch, profile, now):
            _refuse_superseded(unit, ch, now)
        policy = d.policy()  # once per decision
        if profile is None:  # first enrolment of a new user
            profile = Profile(user_id=ch.user_id, created_at=now)
        cid = challenge_id
        approval = _check_code(d, unit, ch, profile, code, now)
        if isinstance(approval, tuple):
            added, activated = approval
            register_success(profile)
            profile.pick_default()
            ch.status, ch.approved_at = "approved", now
            days = policy.remember_device_days if remember and ch.purpose == SIGNIN else 0
            unit.save(ch)
            unit.save(profile)
            unit.audit(now, "verify_approved", "application", challengeId=cid, method=ch.method,
                       purpose=ch.purpose, deviceRemembered=days > 0 or None, activated=activated or None)
            unit.commit()
            telemetry.VERIFY_APPROVED.decision(cid, method=ch.method)
            result = {"status": "approved", "userId": ch.user_id, "method": ch.method, **added}
            if days > 0:
                token, expires = device_tokens.issue(d.hmac_keys, ch.user_id, now, days)
                result.update(deviceToken=token, deviceTokenExpiresAt=iso(expires))
            return result
        ch.attempts += 1
        if ch.attempts >= ch.max_attempts:
            ch.status = "max_attempts_reached"
        locked = register_failure(profile, now, policy)
        unit.save(ch)
        unit.save(profile)
        unit.audit(now, "verify_failed", "application", challengeId=cid, method=ch.method,
                   attemptsRemaining=ch.attempts_remaining())
        if locked:
            unit.audit(now, "user_locked", "system", lockedUntil=iso(profile.locked_until))
        unit.commit()
        telemetry.VERIFY_FAILED.decision(cid, method=ch.method)
        if locked:
            telemetry.USERS_LOCKED.decision(cid)
            raise locked_error(profile, now)
        raise IncorrectCode(approval.detail if approval else None, attemptsRemaining=ch.attempts_remaining())

    return d.in_unit(user_id, attempt, row_key)


def report_fraud(d: Governed, challenge_id: str) -> dict[str, Any]:
    """"I did not start this": cancel the challenge and block the user for the policy's period."""
    user_id, row_key = parse_challenge_id(challenge_id)

    def attempt(unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        ch, profile = live_challenge(unit, row_key, now), unit.profile
        if profile is None:
            profile = Profile(user_id=ch.user_id, created_at=now)
        if ch.status == "pending":
            ch.status = "canceled"
        profile.blocked_until = now + timedelta(days=d.policy().fraud_block_days)
        unit.save(ch)
        unit.save(profile)
        unit.audit(now, "fraud_reported", "user", challengeId=challenge_id, blockedUntil=iso(profile.blocked_until))
        unit.commit()
        return {"status": "blocked", "blockedUntil": iso(profile.blocked_until)}

    return d.in_unit(user_id, attempt, row_key)
