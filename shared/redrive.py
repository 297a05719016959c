"""No committed SMS challenge is left behind (Q5): the due list and its sweeper.

A challenge row lives in its user's partition, and an entity-group transaction cannot span partitions,
so the "this SMS is due" marker cannot be written in the challenge's own transaction. It is written just
*before* it instead, as one small row in a per-minute partition `~smsdue|YYYYMMDDHHMM` (row key: the
challenge id). Then:
- marker written, challenge transaction failed: the sweeper finds no challenge and drops the marker;
- challenge committed, enqueue failed (queue down), or the message is stuck invisible (the sender failed
  and could not hand it back, so it stays hidden for the host's processing visibility, longer than the
  code lifetime): the sweeper sees `delivery: queued` after REDRIVE_AFTER seconds and enqueues a fresh
  message with the remaining lifetime as its TTL; a duplicate message is harmless (the sender checks
  the delivery state, and the provider drops a repeated send by its repeatability id);
- still `queued` when the code expires: the sweeper marks the delivery `failed` (never stuck).
Finding due work is one range query over the few `~smsdue|` partitions, whose rows are deleted once
their challenge is settled, instead of a scan of the whole table for `delivery eq 'queued'`.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from . import signals
from .deps import Deps
from .errors import NotFound, StorageUnavailable
from .ids import challenge_id_for, parse_challenge_id
from .methods import delivers
from .models import Challenge
from .store import StaleWrite, Tx, UserRows

log = logging.getLogger("twostep.redrive")
DUE_PREFIX = "~smsdue|"
REDRIVE_AFTER = timedelta(seconds=20)  # normal delivery takes 1-3 s; provider retries up to ~15 s
REDRIVE_EVERY = timedelta(seconds=30)  # at most one fresh message per challenge this often
MAX_ROWS_PER_SWEEP = 1000  # bounds one run well inside the function timeout
BATCH = 100


def due_partition(moment: datetime) -> str:
    return DUE_PREFIX + moment.strftime("%Y%m%d%H%M")


def due_row(ch: Challenge) -> dict[str, Any]:
    return {"PartitionKey": due_partition(ch.created_at), "RowKey": challenge_id_for(ch.user_id, ch.row_key),
            "createdAt": ch.created_at, "redrives": 0, "purgeAfter": ch.expires_at + timedelta(days=1)}


def note_due(d: Deps, ch: Challenge) -> None:
    """Record, before the challenge is committed, that its SMS is due (StorageUnavailable: nothing was)."""
    d.store.transact(Tx().create(due_row(ch)))


def enqueue(d: Deps, challenge_id: str, ttl_seconds: int) -> bool:
    """Queue the SMS; False when the queue is unreachable (the sweeper re-drives it)."""
    try:
        d.outbox.put(challenge_id, max(int(ttl_seconds), 1))
    except StorageUnavailable:
        log.warning("sms enqueue failed; the sweeper re-drives it")
        return False
    return True


def _settle(d: Deps, ch: Challenge, now: datetime) -> str:
    """What the sweeper does with one due challenge: 'done', 'wait', 'redrive' or 'failed'."""
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


def sweep(d: Deps, now: datetime | None = None) -> dict[str, int]:
    """One timer run: re-drive, fail or forget each due SMS challenge old enough to look stuck."""
    now = now or d.clock.now()
    params = {"lo": DUE_PREFIX, "hi": due_partition(now - REDRIVE_AFTER)}
    rows = d.store.query("PartitionKey gt @lo and PartitionKey le @hi", params)
    counts: dict[str, int] = defaultdict(int)
    forget: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i, row in enumerate(rows):
        if i >= MAX_ROWS_PER_SWEEP:
            break
        outcome = _sweep_one(d, row, now)
        counts[outcome] += 1
        if outcome in ("done", "failed", "missing"):
            forget[row["PartitionKey"]].append({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]})
    for partition_rows in forget.values():
        for i in range(0, len(partition_rows), BATCH):
            tx = Tx()
            for key in partition_rows[i:i + BATCH]:
                tx.delete(key)
            try:
                d.store.transact(tx)
            except StaleWrite:
                pass  # a marker changed meanwhile; the next run sees it again
    if counts.get("redrive") or counts.get("failed"):
        log.warning("sms sweep: %s", dict(counts))
    return dict(counts)


def _sweep_one(d: Deps, row: dict[str, Any], now: datetime) -> str:
    try:
        user_id, row_key = parse_challenge_id(row["RowKey"])
    except NotFound:
        return "missing"
    unit = d.load_unit(user_id, row_key, with_profile=False)
    ch = unit.challenge(row_key)
    if ch is None:
        return "missing"  # the challenge transaction never committed, or the row was purged
    outcome = _settle(d, ch, now)
    if outcome == "failed":
        try:
            _mark_expired_undelivered(unit, ch, now)
        except StaleWrite:
            return "wait"  # the sender recorded something meanwhile; look again next run
    elif outcome == "redrive":
        last = row.get("lastRedriveAt")
        if last is not None and now - last < REDRIVE_EVERY:
            return "wait"
        if enqueue(d, row["RowKey"], int((ch.expires_at - now).total_seconds())):
            d.store.transact(Tx().merge_existing({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"],
                                                  "lastRedriveAt": now, "redrives": row.get("redrives", 0) + 1}))
        else:
            return "wait"
    return outcome
