"""A challenge's rows and the steps every flow shares: build one (`new_challenge`), write it with its
audit event and queue its SMS (`start`), load it with its user's profile, answer a repeated request from
it (`replay_challenge`), its public view, and the checks a pending challenge must pass (`superseded`,
`ensure_usable`, `refuse_if_barred`). The flows are in signin.py (begin), verify.py (verify, fraud
report) and enrolment.py.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from . import redrive
from .clock import iso
from .deps import Deps
from .errors import (
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
    UserBlocked,
)
from .idempotency import CHALLENGE, Idempotency, Replay
from .ids import CHALLENGE_PREFIX, PROFILE_RK, challenge_id_for, new_challenge_id, parse_challenge_id
from .methods import METHODS, SIGNIN
from .models import Challenge, Profile
from .policy import Policy, locked_error, retry_after
from .results import Started
from .store import StaleWrite, Tx

R = TypeVar("R", bound=Started)  # what the calling flow answers with a challenge
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


def start(d: Deps, ch: Challenge, tx: Tx, now: datetime, event: str, outcome: Callable[[Challenge], R],
          idem: Idempotency | None = None, **detail: Any) -> R:
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
                     outcome: Callable[[Challenge], R]) -> R:
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


def load_challenge(d: Deps, challenge_id: str, now: datetime) -> Challenge:
    user_id, row_key = parse_challenge_id(challenge_id)
    row = d.store.get(user_id, row_key)
    if row is None or now >= row["purgeAfter"]:
        raise NotFound()
    return Challenge.from_entity(row)


def get(d: Deps, challenge_id: str) -> dict[str, Any]:
    now = d.clock.now()
    return challenge_view(load_challenge(d, challenge_id, now), now)


def load_pair(d: Deps, user_id: str, row_key: str, now: datetime) -> tuple[Challenge, Profile | None]:
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


def write_pair(tx: Tx, ch: Challenge, profile: Profile) -> None:
    tx.replace(ch.to_entity())
    if profile.row is None:
        tx.create(profile.to_entity())
    else:
        tx.replace(profile.to_entity())
