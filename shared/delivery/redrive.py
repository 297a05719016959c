"""No committed SMS challenge is left behind (Q5): the SMS kind of due item (shared/channels/due.py).

Begin writes the challenge's due marker (`sms|<challengeId>`) before the challenge's transaction (while the
SMS limits are counted: flows/challenge_rows.py), sends the SMS inline right after it and enqueues it only
when that attempt did not complete (delivery/inline.py). A sweep then settles each marker:
- no challenge: the challenge transaction failed (or the row was purged): the marker is dropped;
- delivery `sent`/`failed`, or the challenge no longer pending: done, the marker is dropped;
- still `queued` REDRIVE_AFTER after its begin: the enqueue failed (queue down), or the message is stuck
  invisible (the sender failed and the host could not hand it back, so it stays hidden for the host's
  processing visibility, longer than the code lifetime): a fresh message is enqueued with the remaining
  lifetime as its TTL, at most every REDRIVE_EVERY; a duplicate is harmless (the sender checks the
  delivery state, and the provider drops a repeated send by its repeatability id);
- still `queued` when the code expires: the delivery is marked `failed` (never stuck).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from ..channels import due
from ..kernel import signals
from ..kernel.errors import NotFound, StorageUnavailable
from ..kernel.ids import challenge_id_for, parse_challenge_id
from ..methods.registry import delivers
from ..model.records import Challenge
from ..ports import Outboxes, Redriving, Stored
from ..store import Entity, StaleWrite, Tx, UserRows

log = logging.getLogger("twostep.redrive")
KIND = "sms"
REDRIVE_AFTER = timedelta(seconds=20)  # normal delivery takes 1-3 s; provider retries up to ~15 s
REDRIVE_EVERY = timedelta(seconds=30)  # at most one fresh message per challenge this often


def due_row(ch: Challenge) -> dict[str, Any]:
    return marker_for(ch.user_id, ch.row_key, ch.created_at, ch.expires_at)


def marker_for(user_id: str, row_key: str, created_at: datetime, expires_at: datetime) -> dict[str, Any]:
    """The due marker of the challenge `row_key` (which may not exist yet: it is written before the commit)."""
    return due.marker(KIND, challenge_id_for(user_id, row_key), created_at, expires_at - created_at + timedelta(days=1),
                      redrives=0)


def note_due(d: Stored, ch: Challenge) -> None:
    """Record, before the challenge is committed, that its SMS is due (StorageUnavailable: nothing was)."""
    due.note(d.store, [due_row(ch)])


def enqueue(d: Outboxes, challenge_id: str, ttl_seconds: int) -> bool:
    """Queue the SMS; False when the queue is unreachable (this process then owes a sweep)."""
    try:
        d.outbox.put(challenge_id, max(int(ttl_seconds), 1))
    except StorageUnavailable:
        log.warning("sms enqueue failed; a sweep re-drives it once the queue is back")
        d.sweeps.owe()
        return False
    d.sweeps.queue_ok()
    return True


def _settle(ch: Challenge, now: datetime) -> str:
    """What the sweep does with one due challenge: 'done', 'wait', 'redrive' or 'failed'."""
    if not delivers(ch.method) or ch.delivery != "queued" or ch.status != "pending":
        return "done"
    if now >= ch.expires_at:
        return "failed"
    if now - ch.created_at < REDRIVE_AFTER:
        return "wait"
    return "redrive"


def _mark_expired_undelivered(unit: UserRows, ch: Challenge, now: datetime) -> None:
    ch.delivery = "failed"
    unit.save(ch)  # ETag: a send recorded meanwhile wins
    unit.audit(now, "sms_failed", "system", destination=ch.destination_masked,
               reason="not delivered within the code lifetime")
    unit.commit()
    signals.emit(log, logging.ERROR, signals.SMS_DELIVERY_FAILED, "no code delivered within the code lifetime",
                 reason="expired", destination=ch.destination_masked)


def settle(d: Redriving, row: Entity, now: datetime) -> str:
    """Settle one SMS marker (see the module doc); the outcome tells the sweep whether to keep it."""
    challenge_id = due.item_of(row)[1]
    try:
        user_id, row_key = parse_challenge_id(challenge_id)
    except NotFound:
        return "missing"
    unit = d.load_unit(user_id, row_key, with_profile=False)
    ch = unit.challenge(row_key)
    if ch is None:
        return "missing"  # the challenge transaction never committed, or the row was purged
    outcome = _settle(ch, now)
    if outcome == "failed":
        try:
            _mark_expired_undelivered(unit, ch, now)
        except StaleWrite:
            return "wait"  # the sender recorded something meanwhile; look again next run
    elif outcome == "redrive":
        last = row.get("lastRedriveAt")
        if last is not None and now - last < REDRIVE_EVERY:
            return "wait"
        if not enqueue(d, challenge_id, int((ch.expires_at - now).total_seconds())):
            return "wait"
        try:
            d.store.transact(Tx().merge_existing({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"],
                                                  "lastRedriveAt": now, "redrives": row.get("redrives", 0) + 1}))
        except StaleWrite:
            pass  # the marker went meanwhile: the sender settled the SMS

    return outcome
