"""Begin, read, verify and report challenges: the sign-in decisions.

Each decision is read-decide-write: read the challenge with its user's profile in one query, decide at
the server's `now`, then write both (and the audit event) in one ETag-conditional transaction. A lost
race re-reads and decides again, so 20 concurrent right answers approve once and 50 concurrent wrong
ones count 50 failures.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import device_tokens, redrive
from .clock import iso
from .context import parse_context, risk_action
from .deps import Deps
from .errors import (
    AlreadyUsed,
    Canceled,
    Expired,
    IdempotentResultGone,
    IncorrectCode,
    Locked,
    MaxAttemptsReached,
    NotEnrolled,
    NotFound,
    RateLimited,
    RiskBlocked,
    StepUpRequired,
    TwostepError,
    UserBlocked,
)
from .idempotency import BYPASS, CHALLENGE, Idempotency, Replay
from .ids import (
    CHALLENGE_PREFIX,
    PROFILE_RK,
    challenge_id_for,
    new_challenge_id,
    parse_challenge_id,
    validate_user_id,
)
from .methods import ENROL_SMS, METHODS, SIGNIN
from .models import Challenge, Profile
from .policy import Policy, locked_error, register_failure, register_success, retry_after
from .store import StaleWrite, Tx, retry_on_conflict
from .validation import boolean, choice, otp_code

Outcome = tuple[int, dict[str, Any], dict[str, str]]
REFUSALS = (UserBlocked, RiskBlocked, Locked, RateLimited, StepUpRequired)  # audited, coalesced (D7)
TX_MAX_OPS = 100  # an entity-group transaction's limit
REQUEUE_AFTER = timedelta(seconds=10)  # a queued SMS not sent by then was probably never enqueued


def new_challenge(d: Deps, policy: Policy, user_id: str, purpose: str, method: str, now: datetime,
                  profile: Profile | None, **fields: Any) -> Challenge:
    """An enrolment challenge is bound to the methods the user had when it started (E1). `policy` is the
    one the caller's decision read (a decision reads it once, so it never sees two versions)."""
    _, row_key = new_challenge_id(user_id)
    tag = _methods_tag(profile, user_id, now) if purpose != SIGNIN else None
    return Challenge(user_id=user_id, row_key=row_key, purpose=purpose, method=method, created_at=now,
                     expires_at=now + timedelta(seconds=policy.code_ttl_seconds), max_attempts=policy.max_attempts,
                     methods_tag=tag, **METHODS[method].challenge_fields(d), **fields)


def _methods_tag(profile: Profile | None, user_id: str, now: datetime) -> str:
    return (profile or Profile(user_id=user_id, created_at=now)).methods_tag()


def superseded(ch: Challenge, profile: Profile | None, now: datetime) -> bool:
    """Whether the state a pending challenge was issued under is gone (E1): an enrolment whose user's
    methods changed since it started, or a sign-in code for a phone or app no longer enrolled."""
    if ch.purpose != SIGNIN:
        return ch.methods_tag is not None and ch.methods_tag != _methods_tag(profile, ch.user_id, now)
    return not METHODS[ch.method].still_enrolled(ch, profile)


def challenge_view(ch: Challenge, now: datetime, created: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "challengeId": challenge_id_for(ch.user_id, ch.row_key),
        "status": ch.effective_status(now),
        "method": ch.method,
        "expiresAt": iso(ch.expires_at),
        "attemptsRemaining": ch.attempts_remaining(),
    }
    view.update(METHODS[ch.method].view_fields(ch, created))
    return view


def start(d: Deps, ch: Challenge, tx: Tx, now: datetime, event: str, outcome: Callable[[Challenge], Outcome],
          idem: Idempotency | None = None, **detail: Any) -> Outcome:
    """Write a new challenge (with its audit event, the idempotency record and whatever else `tx` holds)
    and queue its SMS; `outcome` builds the response from the new challenge (a replay rebuilds it the
    same way from the challenge as it is then)."""
    challenge_id = challenge_id_for(ch.user_id, ch.row_key)
    result = outcome(ch)
    tx.create(ch.to_entity())
    tx.create(d.audit(ch.user_id, now, event, "application",
                        challengeId=challenge_id, method=ch.method, purpose=ch.purpose, **detail))
    if idem is not None:
        # as long as the challenge lives: its TTL is the policy's that issued it (no second policy read)
        idem.add_record(tx, ch.user_id, Replay(CHALLENGE, ch.row_key), now,
                        int((ch.expires_at - ch.created_at).total_seconds()))
    delivered = METHODS[ch.method].delivered
    if delivered:
        redrive.note_due(d, ch)  # first, in its own partition: the sweeper can then never miss it
    d.store.transact(tx)
    if delivered:  # committed: a failed enqueue is re-driven, so the answer stays 201
        redrive.enqueue(d, challenge_id, int((ch.expires_at - now).total_seconds()))
    return result


def load_with_replay(d: Deps, user_id: str, idem: Idempotency | None, now: datetime,
                     extra: tuple[str, ...] = ()) -> tuple[Profile | None, dict[str, Any], Replay | None]:
    """The user's profile (and any `extra` rows) in one query, plus what the first request with a
    repeated Idempotency-Key created."""
    keys = [PROFILE_RK, *extra] + ([idem.row_key] if idem else [])
    if len(keys) == 1:
        row = d.store.get(user_id, PROFILE_RK)
        rows = {PROFILE_RK: row} if row is not None else {}
    else:
        rows = d.store.get_many(user_id, keys)
    replay = idem.replay(rows.get(idem.row_key), now) if idem else None
    profile = Profile.from_entity(rows[PROFILE_RK]) if PROFILE_RK in rows else None
    return profile, rows, replay


def replay_challenge(d: Deps, user_id: str, profile: Profile | None, replay: Replay, now: datetime,
                     outcome: Callable[[Challenge], Outcome]) -> Outcome:
    """Answer a repeated request from the challenge the first one created, as it is now (R1): only
    while that challenge is pending and still valid for the user's methods, and never for a user now
    blocked or locked. An SMS still `queued` after `REQUEUE_AFTER` is queued again (the first enqueue
    may never have happened); sooner, the first message is most likely still on its way, and a second
    one taken at the same moment could send the code twice."""
    refuse_if_barred(profile, now)
    row = d.store.get(user_id, replay.ref) if replay.kind == CHALLENGE else None
    if row is None or now >= row["purgeAfter"]:
        raise IdempotentResultGone()
    ch = Challenge.from_entity(row)
    if ch.effective_status(now) != "pending" or superseded(ch, profile, now):
        raise IdempotentResultGone()
    if METHODS[ch.method].delivered and ch.delivery == "queued" and now - ch.created_at >= REQUEUE_AFTER:
        redrive.enqueue(d, challenge_id_for(user_id, ch.row_key), retry_after(ch.expires_at, now))
    return outcome(ch)


def _replay_bypass(d: Deps, user_id: str, profile: Profile | None, replay: Replay, now: datetime) -> Outcome:
    """A repeat of the begin that spent a bypass answers `bypass` again only for that very bypass, and
    never for a user blocked or locked since (the caller has checked the risk action)."""
    if profile is None:
        raise IdempotentResultGone()
    refuse_if_barred(profile, now)
    row = d.store.get(user_id, replay.ref)
    if row is None or row.get("status") != "used":
        raise IdempotentResultGone()
    return 200, {"status": "not_required", "reason": "bypass"}, {}


def audited_refusals(d: Deps, user_id: str, action: str, fn: Callable[[], Any]) -> Any:
    """Run `fn`; a refusal it raises is audited (coalesced per minute) before it reaches the caller."""
    try:
        return fn()
    except REFUSALS as exc:
        d.refusal(user_id, d.clock.now(), action, exc.code)
        raise


def load_profile(d: Deps, user_id: str) -> Profile | None:
    row = d.store.get(user_id, PROFILE_RK)
    return Profile.from_entity(row) if row is not None else None


def refuse_if_barred(profile: Profile | None, now: datetime) -> None:
    if profile is None:
        return
    if profile.is_blocked(now):
        raise UserBlocked()
    if profile.is_locked(now):
        raise locked_error(profile, now)


def evaluate(policy: Policy, profile: Profile | None, context: dict[str, Any], now: datetime,
             device_ok: Callable[[], bool]) -> str:
    """Whether a second factor is needed, in the documented order: blocked user, risk block, bypass, risk
    requires MFA, excluded group, trusted network, remembered device, else a challenge.

    Returns "user_blocked", "risk_blocked", "bypass", "excluded_group", "trusted_network",
    "remembered_device" or "challenge".
    """
    if profile is not None and profile.is_blocked(now):
        return "user_blocked"
    action = risk_action(policy, context)
    if action == "block":
        return "risk_blocked"
    if profile is not None and profile.bypass_rk and profile.bypass_expires_at and profile.bypass_expires_at > now:
        return "bypass"
    if action == "require_mfa":
        return "challenge"
    if profile is not None and set(profile.groups) & set(policy.excluded_groups):
        return "excluded_group"
    if context.get("ip") and context["ip"] in policy.networks:
        return "trusted_network"
    if context.get("deviceToken") and device_ok():
        return "remembered_device"
    return "challenge"


def begin(d: Deps, body: dict[str, Any], idempotency_key: str | None = None) -> Outcome:
    user_id = validate_user_id(body.get("userId"))
    method = choice(body, "method", tuple(METHODS))
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, "begin", body)

    def attempt() -> Outcome:
        now = d.clock.now()
        policy = d.policy()
        profile, _, replay = load_with_replay(d, user_id, idem, now)
        if replay is not None:  # what a new request would refuse, a repeat refuses too
            if profile is not None and profile.is_blocked(now):
                raise UserBlocked()
            if risk_action(policy, context) == "block":
                raise RiskBlocked()
            if replay.kind == CHALLENGE:
                return replay_challenge(d, user_id, profile, replay, now, created)
            return _replay_bypass(d, user_id, profile, replay, now)
        decision = evaluate(policy, profile, context, now, lambda: device_tokens.is_valid(
            d.hmac_keys, context["deviceToken"], user_id, now, profile.sessions_revoked_at if profile else None,
            policy.remember_device_days))
        if decision == "user_blocked":
            raise UserBlocked()
        if decision == "risk_blocked":
            raise RiskBlocked()
        if decision == "bypass":
            outcome: Outcome = (200, {"status": "not_required", "reason": "bypass"}, {})
            tx = Tx()
            if idem is not None:
                idem.add_record(tx, user_id, Replay(BYPASS, profile.bypass_rk), now, policy.code_ttl_seconds)
            use_bypass(d, profile, now, tx)
            return outcome
        if decision != "challenge":  # a skipped second factor is a decision too: audit it
            d.store.transact(Tx().create(d.audit(user_id, now, "mfa_skipped", "application", reason=decision,
                                                   ip=context.get("ip"), riskLevel=context.get("riskLevel"))))
            return 200, {"status": "not_required", "reason": decision}, {}
        if profile is None:
            raise NotEnrolled()
        refuse_if_barred(profile, now)
        chosen = method or profile.default_method or next(iter(profile.provisioned_methods()), None)
        if chosen is None or not profile.can_challenge(chosen):
            raise NotEnrolled()
        fields = METHODS[chosen].prepare(d, profile, context)
        ch = new_challenge(d, policy, user_id, SIGNIN, chosen, now, profile, **fields)
        return start(d, ch, Tx(), now, "challenge_created", created, idem, riskLevel=context.get("riskLevel"))

    def created(ch: Challenge) -> Outcome:  # functions/ adds the Location, from the route it serves
        return 201, challenge_view(ch, d.clock.now(), created=True), {}

    return audited_refusals(d, user_id, "begin", lambda: retry_on_conflict(attempt))


def use_bypass(d: Deps, profile: Profile, now: datetime, tx: Tx) -> None:
    """Spend the user's one-time bypass: the profile's ETag makes sure only one begin can."""
    bypass_rk = profile.bypass_rk
    profile.bypass_rk = profile.bypass_expires_at = None
    tx.replace(profile.to_entity())
    tx.merge_existing({"PartitionKey": profile.user_id, "RowKey": bypass_rk, "status": "used", "usedAt": now})
    tx.create(d.audit(profile.user_id, now, "bypass_used", "application",
                        bypassId=bypass_rk.split("|", 1)[1]))
    d.store.transact(tx)


def load_challenge(d: Deps, challenge_id: str, now: datetime) -> Challenge:
    user_id, row_key = parse_challenge_id(challenge_id)
    row = d.store.get(user_id, row_key)
    if row is None or now >= row["purgeAfter"]:
        raise NotFound()
    return Challenge.from_entity(row)


def get(d: Deps, challenge_id: str) -> dict[str, Any]:
    now = d.clock.now()
    return challenge_view(load_challenge(d, challenge_id, now), now)


def _load_pair(d: Deps, user_id: str, row_key: str, now: datetime) -> tuple[Challenge, Profile | None]:
    """The challenge (its id parsed once, by the caller, before the conflict-retry loop) and its user's
    profile in one query."""
    rows = d.store.get_many(user_id, [PROFILE_RK, row_key])
    row = rows.get(row_key)
    if row is None or now >= row["purgeAfter"]:
        raise NotFound()
    profile_row = rows.get(PROFILE_RK)
    return Challenge.from_entity(row), Profile.from_entity(profile_row) if profile_row is not None else None


def ensure_usable(ch: Challenge, now: datetime) -> None:
    status = ch.effective_status(now)
    if status == "approved":
        raise AlreadyUsed()
    if status == "canceled":
        raise Canceled()
    if status == "expired":
        raise Expired()
    if status == "max_attempts_reached" or ch.attempts >= ch.max_attempts:
        raise MaxAttemptsReached()


def _check_code(d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime) -> bool:
    """Ask the challenge's method to check the code and, when right, apply what approval changes."""
    method = METHODS[ch.method]
    proof = method.check(d, ch, profile, code, now)
    if proof is None:
        return False
    method.approve(d, ch, profile, proof)
    return True


def pending_challenges(d: Deps, user_id: str, method: str, now: datetime) -> list[Challenge]:
    """The user's pending, unexpired challenges of one method (one query)."""
    flt = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and status eq @status and method eq @method"
    params = {"pk": user_id, "lo": CHALLENGE_PREFIX, "hi": CHALLENGE_PREFIX[:-1] + chr(ord(CHALLENGE_PREFIX[-1]) + 1),
              "status": "pending", "method": method}
    return [Challenge.from_entity(r) for r in d.store.query(flt, params) if r["expiresAt"] > now]


def cancel_challenges(d: Deps, tx: Tx, pending: list[Challenge]) -> None:
    """Cancel challenges voided by the change `tx` makes (E1). As many as fit go into `tx`, so that they
    fall with the change; `tx` is committed here and any rest follows in further batches. A batch
    that loses a race with a verify is skipped: verify refuses a superseded challenge by itself."""
    for ch in pending:
        ch.status = "canceled"
    room = max(TX_MAX_OPS - tx.size, 0)
    for ch in pending[:room]:
        tx.replace(ch.to_entity())
    d.store.transact(tx)
    rest = pending[room:]
    for i in range(0, len(rest), TX_MAX_OPS):
        batch = Tx()
        for ch in rest[i:i + TX_MAX_OPS]:
            batch.replace(ch.to_entity())
        try:
            d.store.transact(batch)
        except StaleWrite:
            continue


def _refuse_superseded(d: Deps, ch: Challenge, now: datetime) -> None:
    ch.status = "canceled"
    d.store.transact(Tx().replace(ch.to_entity()).create(d.audit(
        ch.user_id, now, "challenge_canceled", "system",
        challengeId=challenge_id_for(ch.user_id, ch.row_key), method=ch.method, purpose=ch.purpose,
        reason="methods_changed")))
    raise Canceled()


def verify(d: Deps, challenge_id: str, body: dict[str, Any]) -> dict[str, Any]:
    code = otp_code(body)
    remember = boolean(body, "rememberDevice")
    user_id, row_key = parse_challenge_id(challenge_id)  # one spelling (C12): `challenge_id` is canonical

    def attempt() -> dict[str, Any]:
        now = d.clock.now()
        ch, profile = _load_pair(d, user_id, row_key, now)
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
        if _check_code(d, ch, profile, code, now):
            activated = any(device.active and device.id in inactive for device in profile.totp)
            register_success(profile)
            profile.pick_default()
            ch.status, ch.approved_at = "approved", now
            days = d.policy().remember_device_days if remember and ch.purpose == SIGNIN else 0
            _write_pair(tx, ch, profile)
            tx.create(d.audit(ch.user_id, now, "verify_approved", "application", challengeId=cid,
                              method=ch.method, purpose=ch.purpose, deviceRemembered=days > 0 or None,
                              activated=activated or None))
            if replaced_phone:  # the old number's pending codes die with it (E1)
                cancel_challenges(d, tx, [p for p in pending_challenges(d, ch.user_id, "sms", now)
                                          if p.row_key != ch.row_key and p.destination == replaced_phone])
            else:
                d.store.transact(tx)
            result = {"status": "approved", "userId": ch.user_id, "method": ch.method}
            if days > 0:
                token, expires = device_tokens.issue(d.hmac_keys, ch.user_id, now, days)
                result.update(deviceToken=token, deviceTokenExpiresAt=iso(expires))
            return result
        ch.attempts += 1
        if ch.attempts >= ch.max_attempts:
            ch.status = "max_attempts_reached"
        locked = register_failure(profile, now, d.policy())
        _write_pair(tx, ch, profile)
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


def _write_pair(tx: Tx, ch: Challenge, profile: Profile) -> None:
    tx.replace(ch.to_entity())
    if profile.row is None:
        tx.create(profile.to_entity())
    else:
        tx.replace(profile.to_entity())


def report_fraud(d: Deps, challenge_id: str) -> dict[str, Any]:
    """"I did not start this": cancel the challenge and block the user for the policy's period."""
    user_id, row_key = parse_challenge_id(challenge_id)

    def attempt() -> dict[str, Any]:
        now = d.clock.now()
        ch, profile = _load_pair(d, user_id, row_key, now)
        if profile is None:
            profile = Profile(user_id=ch.user_id, created_at=now)
        if ch.status == "pending":
            ch.status = "canceled"
        profile.blocked_until = now + timedelta(days=d.policy().fraud_block_days)
        tx = Tx()
        _write_pair(tx, ch, profile)
        tx.create(d.audit(ch.user_id, now, "fraud_reported", "user",
                            challengeId=challenge_id, blockedUntil=iso(profile.blocked_until)))
        d.store.transact(tx)
        return {"status": "blocked", "blockedUntil": iso(profile.blocked_until)}

    return retry_on_conflict(attempt)
