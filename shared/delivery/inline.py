"""The first send attempt of an SMS, inline: right after the commit of the challenge, inside the HTTP
request that created it, from the challenge as committed (nothing is read again). The queue-triggered
sender (sender.py) stays the retry path every SMS can take, and the due sweep (redrive.py) the last resort.

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
from .sender import send_and_record, send_attempt

log = logging.getLogger("twostep.delivery")
TIMEOUTS = {"connection_timeout": 2.0, "read_timeout": 3.0}  # the provider's; the queue sender allows 5 s / 15 s
MIN_BUDGET = 6.0  # seconds of the request's Storage budget it needs (a send, then a record); else: the queue
INLINE_TRY = 0  # the `attempt` of an `sms_sent` audit event sent here (the queue's tries count from 1)


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
