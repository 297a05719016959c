"""A challenge's rows and the steps every flow shares: build one (`new_challenge`), write it with its
audit event and queue its SMS (`start`), load it with its user's profile, answer a repeated request from
it (`replay_challenge`), its public view, and the checks a pending challenge must pass (`superseded`,
`ensure_usable`, `refuse_if_barred`). The flows are in signin.py (begin), verify.py (verify, fraud
report) and enrolment.py. Each works on a `UserRows` unit (store/unit.py): the user's rows read in one
query, changed as models, committed in one transaction.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ..channels import due
from ..delivery import inline, redrive
from ..delivery.sender import audit_sent
from ..kernel import budget, telemetry
from ..kernel.clock import iso, retry_after
from ..kernel.errors import (
    AlreadyUsed,
    Canceled,
    Expired,
    IdempotentResultGone,
    Locked,
    MaxAttemptsReached,
    NotFound,
    RateLimited,
    RiskBlocked,
    StepUpRequired,
    StorageUnavailable,
    StrengthRequired,
    UserBlocked,
)
from ..kernel.ids import challenge_id_for, new_challenge_id, parse_challenge_id
from ..kernel.results import Started
from ..methods.base import SIGNIN
from ..methods.registry import METHODS
from ..model.lockout import locked_error
from ..model.policy import Policy
from ..model.records import Challenge, Profile
from ..ports import Deciding, KeysAndSettings, Outboxes, Refusing, Starting, Stored
from ..store import StaleWrite, UserRows
from ..store.idempotency import CHALLENGE, Idempotency, Replay

log = logging.getLogger("twostep.flows")
R = TypeVar("R", bound=Started)  # what the calling flow answers with a challenge
REFUSALS = (UserBlocked, RiskBlocked, Locked, RateLimited, StepUpRequired, StrengthRequired)  # audited, coalesced (D7)
REQUEUE_AFTER = timedelta(seconds=10)  # a queued SMS not sent by then was probably never enqueued


def new_challenge(d: KeysAndSettings, policy: Policy, user_id: str, purpose: str, method: str, now: datetime,
                  profile: Profile | None, row_key: str | None = None, **fields: Any) -> Challenge:
    """An enrolment challenge is bound to the profile's methods version when it started (E1). `policy` is
    the one the caller's decision read (a decision reads it once, so it never sees two versions).
    `row_key`: the one drawn by `prepare_with_marker`, whose due marker is written already."""
    row_key = row_key or new_challenge_id(user_id)[1]
    version = _methods_version(profile) if purpose != SIGNIN else None
    return Challenge(user_id=user_id, row_key=row_key, purpose=purpose, method=method, created_at=now,
                     expires_at=now + timedelta(seconds=policy.code_ttl_seconds), max_attempts=policy.max_attempts,
                     methods_version=version, **METHODS[method].challenge_fields(d), **fields)


def _methods_version(profile: Profile | None) -> int:
    return profile.methods_version if profile is not None else 0


def superseded(ch: Challenge, profile: Profile | None, now: datetime) -> bool:
    """Whether the state a pending challenge was issued under is gone (E1): an enrolment whose user's
    methods version grew since it started (a row from before the version, bound to a content tag, never
    matches), or a sign-in for a phone, app or access pass no longer enrolled."""
    if ch.purpose != SIGNIN:
        return ch.methods_version is None or ch.methods_version != _methods_version(profile)
    return not METHODS[ch.method].still_enrolled(ch, profile, now)


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


def prepare_with_marker(d: Stored, policy: Policy, user_id: str, method: str, now: datetime,
                        prepare: Callable[[], dict[str, Any]], marked: bool = True) -> tuple[str, dict[str, Any]]:
    """Draw the row key of the challenge about to be created and run the method's preparation (for an SMS:
    count it against the limits, two round trips); for a delivered method committed before its send
    (`marked`: a keyed begin, see `start`), the challenge's due marker is written meanwhile, on the shared
    pool. Both end before the commit, so a committed challenge always
    has its marker (Q5) at no extra wait. A refused preparation takes its marker back (best effort: a
    marker left names no challenge, and the sweep drops it); a failed marker write fails the request (503)."""
    _, row_key = new_challenge_id(user_id)
    if not (marked and METHODS[method].delivered):
        return row_key, prepare()
    marker = redrive.marker_for(user_id, row_key, now, now + timedelta(seconds=policy.code_ttl_seconds))
    noted = budget.alongside(lambda: due.note(d.store, [marker]))
    try:
        fields = prepare()
    except BaseException:
        if noted.exception() is None:  # waits for the write, which is bounded like every Storage call
            with contextlib.suppress(StorageUnavailable):
                due.forget(d.store, [marker])
        raise
    noted.result()
    return row_key, fields


def start(d: Starting, unit: UserRows, ch: Challenge, now: datetime, event: str, outcome: Callable[[Challenge], R],
          idem: Idempotency | None = None, marked: bool = False, send_first: bool = False, **detail: Any) -> R:
    """Commit a new challenge (with its audit event, the idempotency record and whatever else the unit
    holds) and send its SMS: after the commit, or before it with `send_first` (the two orders:
    delivery/inline.py); the queue when the inline attempt does not complete. `outcome` builds the
    response from the new challenge (a replay rebuilds it the same way from the challenge as it is then).
    `marked`: its due marker is written already (`prepare_with_marker`). `send_first` only for a unit that
    decides nothing more than the new rows (no Idempotency-Key, no proof spent): its commit cannot lose a
    race, so no re-run of the decision can send a second SMS."""
    challenge_id = challenge_id_for(ch.user_id, ch.row_key)
    result = outcome(ch)
    delivered = METHODS[ch.method].delivered
    sends_first = delivered and send_first
    message_id = unsent = None
    if sends_first:
        assert idem is None, "a keyed begin commits before it sends"
        message_id, unsent = inline.send_first(d, ch, now)  # before the rows are built: `ch` may be `sent`
    unit.add(ch)
    unit.audit(now, event, "application", challengeId=challenge_id, method=ch.method, purpose=ch.purpose, **detail)
    if message_id is not None:
        audit_sent(unit, ch, now, message_id, inline.INLINE_TRY)
    if idem is not None:
        # as long as the challenge lives: its TTL is the policy's that issued it (no second policy read)
        idem.add_record(unit, Replay(CHALLENGE, ch.row_key), now, int((ch.expires_at - ch.created_at).total_seconds()))
    if delivered and not marked and (unsent is not None or not sends_first):
        redrive.note_due(d, ch)  # before the commit of an SMS the queue may have to deliver (Q5)
    try:
        unit.commit()
    except Exception as exc:
        if message_id is not None:
            _audit_unbound_send(d, ch, now, message_id)
        if sends_first and isinstance(exc, StaleWrite):  # nothing in it is conditional; were it, a re-run
            raise StorageUnavailable() from exc  # of the begin must not send a second SMS
        raise
    telemetry.CHALLENGES_BEGUN.decision(challenge_id, method=ch.method, purpose=ch.purpose)
    if unsent is not None:
        inline.to_queue(d, ch, challenge_id, now, unsent)
    elif delivered and not sends_first:  # committed: whatever the send does, the answer stays 201
        inline.first_attempt(d, ch, challenge_id, now)
    return result


def _audit_unbound_send(d: Starting, ch: Challenge, now: datetime, message_id: str) -> None:
    """D5 for the one SMS that can go out without its challenge: sent, then the challenge's transaction
    (and the audit events in it) failed. The send is recorded alone, best effort (Storage has just
    failed); the error line (masked number, no code) is the record of last resort."""
    try:
        unit = d.load_unit(ch.user_id, with_profile=False)  # reads nothing: an audit row only
        unit.audit(now, "sms_sent", "system", destination=ch.destination_masked, providerMessageId=message_id,
                   attempt=inline.INLINE_TRY, challengeCommitted=False)
        unit.commit()
    except Exception:  # noqa: BLE001 - the caller answers the commit's failure; this one is logged
        log.error("an sms went out but neither its challenge nor its audit event could be committed "
                  "(destination %s)", ch.destination_masked)


def replay_of(unit: UserRows, idem: Idempotency | None, now: datetime) -> Replay | None:
    """What the first request with a repeated Idempotency-Key created (its record read with the unit)."""
    return idem.replay(unit.row(idem.row_key), now) if idem else None


def replay_challenge(d: Outboxes, unit: UserRows, replay: Replay, now: datetime,
                     outcome: Callable[[Challenge], R]) -> R:
    """Answer a repeated request from the challenge the first one created, as it is now (R1): only
    while that challenge is pending and still valid for the user's methods, and never for a user now
    blocked or locked. An SMS still `queued` after `REQUEUE_AFTER` is queued again (the first enqueue
    may never have happened); sooner, the first message is most likely still on its way, and a second
    one taken at the same moment could send the code twice."""
    refuse_if_barred(unit.profile, now)
    ch = unit.challenge(replay.ref) if replay.kind == CHALLENGE and unit.read(replay.ref) else None
    if ch is None or ch.purged(now):
        raise IdempotentResultGone()
    if ch.effective_status(now) != "pending" or superseded(ch, unit.profile, now):
        raise IdempotentResultGone()
    if METHODS[ch.method].delivered and ch.delivery == "queued" and now - ch.created_at >= REQUEUE_AFTER:
        redrive.enqueue(d, challenge_id_for(unit.user_id, ch.row_key), retry_after(ch.expires_at, now))
    return outcome(ch)


def audited_refusals(d: Refusing, user_id: str, action: str, fn: Callable[[], Any]) -> Any:
    """Run `fn`; a refusal it raises is audited (coalesced per minute) before it reaches the caller."""
    try:
        return fn()
    except REFUSALS as exc:
        d.refusal(user_id, d.clock.now(), action, exc.code)
        raise


def refuse_if_barred(profile: Profile | None, now: datetime) -> None:
    if profile is None:
        return
    if profile.is_blocked(now):
        raise UserBlocked()
    if profile.is_locked(now):
        raise locked_error(profile, now)


def get(d: Deciding, challenge_id: str) -> dict[str, Any]:
    user_id, row_key = parse_challenge_id(challenge_id)
    now = d.clock.now()
    return challenge_view(live_challenge(d.load_unit(user_id, row_key, with_profile=False), row_key, now), now)


def live_challenge(unit: UserRows, row_key: str, now: datetime) -> Challenge:
    """The challenge of the unit (its id parsed once, by the caller, before the conflict-retry loop);
    NotFound once it is past its purge time, whether or not the purge has run yet."""
    ch = unit.challenge(row_key)
    if ch is None or ch.purged(now):
        raise NotFound()
    return ch


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


def cancel_challenges(unit: UserRows, pending: list[Challenge]) -> None:
    """Cancel challenges voided by the change the unit makes (E1). As many as fit are committed with the
    change, so that they fall with it; any rest follows in further batches (`UserRows.save_later`)."""
    for ch in pending:
        ch.status = "canceled"
    unit.save_later(pending)
