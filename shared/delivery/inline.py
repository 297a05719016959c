"""The first send attempt of an SMS, inline, inside the HTTP request that creates the challenge. The
queue-triggered sender (sender.py) stays the retry path every SMS can take, and the due sweep (redrive.py)
the last resort.

Two orders, by whether the request carries an Idempotency-Key:
- without one (`send_first`): the SMS is sent BEFORE the challenge's transaction, and that one transaction
  commits the challenge already `sent` with its `sms_sent` audit event: no write after the send and no due
  marker (4 round trips for the begin, 6 for the sign-in). Nothing can be lost: until that commit no
  challenge exists and no answer was given (a process that dies in between answered nothing; its SMS names
  a challenge that never existed, as does one whose commit then fails, answered 503). When the attempt does
  not complete, the challenge is committed `queued` after its due marker, and put on the queue.
- with one (`first_attempt`): the challenge is committed first, then sent, then `sent` recorded. Twenty
  concurrent duplicates of one key race for the one idempotency record in the commit; sending first, each
  would send its own SMS before losing. So a keyed begin keeps the order that sends one.

Why nothing is lost: the challenge and its due marker are committed before this runs. Whatever goes wrong
here (the provider refuses or is slow past the bounded timeouts, recording `sent` fails, the request's
Storage budget is nearly spent), the SMS is put on the outbox queue as before; if that fails too, the
process owes a sweep, and the marker makes the sweep re-drive it. A process that dies in between leaves
the marker for the hourly run, as one that died while enqueueing always did.

Why nothing is sent twice: a later try of the same challenge (the queue sender, a re-drive) re-reads it
and sends nothing once `sent` is recorded; when this attempt reached the provider but was not recorded (a
timeout after the provider accepted it, a failed record), the later try carries the same repeatability
pair (sender.repeatability_id), and the provider answers the first result instead of sending again.

The response waits for this attempt (bounded: connect 2 s, silence 3 s): the Functions host gives no
promise about work a function leaves running after it returns (an instance with no invocation in flight
may be frozen or recycled), so an SMS sent after the answer could sit until the sweep.
"""
from __future__ import annotations

import logging
from datetime import datetime

from ..channels.sms import DeliveryFailed
from ..kernel import budget
from ..model.records import Challenge
from ..ports import Starting
from . import redrive
from .sender import send_and_record, send_attempt, send_code

log = logging.getLogger("twostep.delivery")
TIMEOUTS = {"connection_timeout": 2.0, "read_timeout": 3.0}  # the provider's; the queue sender allows 5 s / 15 s
MIN_BUDGET = 6.0  # seconds of the request's Storage budget it needs (a send, then a record); else: the queue
INLINE_TRY = 0  # the `attempt` of an `sms_sent` audit event sent here (the queue's tries count from 1)


def send_first(d: Starting, ch: Challenge, now: datetime) -> tuple[str | None, str | None]:
    """Try the SMS of a challenge not yet committed (nor added to its unit). (message id, None): the
    provider took it, and `ch` is `sent`. (None, why) otherwise: not sent, or not known to be (a timeout),
    with `ch` holding the attempt the queue's try must make."""
    left = budget.budget_left()
    if left is not None and left < MIN_BUDGET:
        return None, "the request's storage budget is nearly spent"
    try:
        message_id = send_code(d, ch, INLINE_TRY, **TIMEOUTS)
    except DeliveryFailed:  # refused: the queue's try is a new request (a repeat gets the refusal again)
        ch.sms_attempt, ch.sms_attempt_at = send_attempt(ch)[0] + 1, now
        return None, "the provider refused it"
    except Exception as exc:  # noqa: BLE001 - a timeout may have reached the provider: the queue's try
        return None, type(exc).__name__  # repeats this attempt's repeatability pair: it goes out at most once
    ch.delivery = "sent"
    return message_id, None


def first_attempt(d: Starting, ch: Challenge, challenge_id: str, now: datetime) -> str:
    """Send and record the SMS of a challenge just committed ('sent'), or leave it to the queue ('queued')."""
    left = budget.budget_left()
    if left is not None and left < MIN_BUDGET:
        return to_queue(d, ch, challenge_id, now, "the request's storage budget is nearly spent")
    unit = d.load_unit(ch.user_id, with_profile=False)  # reads nothing: the record only writes
    try:
        return send_and_record(d, unit, ch, now, INLINE_TRY, **TIMEOUTS)
    except DeliveryFailed:
        _next_attempt(d, ch, now)
        return to_queue(d, ch, challenge_id, now, "the provider refused it")
    except Exception as exc:  # noqa: BLE001 - the challenge is committed: any failure leaves it to the queue
        return to_queue(d, ch, challenge_id, now, type(exc).__name__)


def _next_attempt(d: Starting, ch: Challenge, now: datetime) -> None:
    """The provider refused attempt n: the queue's try must be attempt n+1, a new request (a repeat of the
    refused one would only get the refusal again). Nothing else has taken the challenge yet, so a merge
    does; if it fails, the queue's first try gets the refusal again and records the next attempt itself."""
    attempt, _ = send_attempt(ch)
    unit = d.load_unit(ch.user_id, with_profile=False)
    unit.patch(ch.row_key, smsAttempt=attempt + 1, smsAttemptAt=now)
    try:
        unit.commit()
    except Exception:  # noqa: BLE001 - see the docstring
        log.warning("recording the next sms attempt failed; the queue sender records it")


def to_queue(d: Starting, ch: Challenge, challenge_id: str, now: datetime, why: str) -> str:
    log.warning("inline sms attempt not completed (%s); the queue sender takes it", why)
    redrive.enqueue(d, challenge_id, int((ch.expires_at - now).total_seconds()))
    return "queued"
