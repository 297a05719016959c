"""Erase a user (the right to erasure): every row of the user's partition, the user's rows in the OATH
serial index, then a record of the erasure outside the partition and the security event `user.erased`.

Order, and why:
1. An `erasing` record in the partition `~erasures`, keyed by the keyed index of the user id (D6: never
   the plain id) and `open`, with who, why and when it started. It is what makes the erasure resumable:
   a retry of an interrupted erasure finds it and finishes the job although the profile is already gone.
   Its key is fixed, so of twenty concurrent erasures one creates it and the others join that erasure
   (each deletion is conditional and idempotent) instead of starting their own.
2. The profile first, only if unchanged since read (ETag): a decision that writes the profile commits
   with its If-Match, so no half-erased profile can come back. A sign-in begin does not write the
   profile: one that read it just before the erasure can still commit its challenge row after the
   erasure's last read. So erasing an id whose profile is gone but whose partition still holds rows
   finishes the job instead of answering 404, and the runbook says to erase once more after the
   requests in flight have ended (the request budget, 30 s).
3. Every other row of the partition, page by page, up to 100 per transaction, each only if unchanged
   since read; then the partition is read again until it is empty (a row a racing writer added in
   between is deleted too).
4. The user's `~oath` serial rows (their owner is sealed, so the index is read and opened whole).
5. The event, then, in one transaction, the open record deleted (only if unchanged) and the `erased`
   record created under the start time's key. Publishing before marking means a retry after a queue
   outage publishes again, with the same event id; so does a concurrent duplicate, and the receivers
   de-duplicate by id. The duplicate that loses the final transaction finds the job done (the count of
   rows deleted is then the finisher's own, a lower bound).

Not per user, so not erased: SMS limit counters (keyed by a keyed index of the phone number or prefix,
counts only, gone after their window), and due markers of events not yet published (they hold the user
id until the sweep publishes the event, seconds to minutes, and are then deleted).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ..channels.events import build_event
from ..kernel.errors import Conflict, NotFound, StorageUnavailable
from ..kernel.ids import PROFILE_RK, random_token, validate_user_id
from ..kernel.validation import text
from ..methods.oath import serial_index as oath_index
from ..ports import Erasing, KeyedStore, Keys, Stored
from ..store import AuditEvent, Entity, StaleWrite, Tx, inverted, new_row

ERASURES_PK = "~erasures"
BATCH = 100  # an entity-group transaction holds at most 100 rows
PAGE = 1000
SWEEPS = 5  # partition re-reads before a busy user's erasure is left for a retry


def _record_prefix(d: Keys, user_id: str) -> str:
    return d.index("erasure", user_id) + "|"


def _open_key(d: Keys, user_id: str) -> str:
    return _record_prefix(d, user_id) + "open"


def _open_record(d: KeyedStore, user_id: str) -> Entity | None:
    """An erasure of this user that started and did not finish."""
    return d.store.get(ERASURES_PK, _open_key(d, user_id))


def _start(d: KeyedStore, user_id: str, reason: str, actor: str, now: datetime) -> Entity:
    """Open the erasure, or join the one a concurrent request opened a moment ago."""
    record = new_row(ERASURES_PK, _open_key(d, user_id), state="erasing", actor=actor, reason=reason,
                     startedAt=now, rowsDeleted=0, erasureId=random_token(8))
    try:
        d.store.transact(Tx().create(record))
    except StaleWrite:
        pass  # another request created it first: this one joins that erasure
    opened = _open_record(d, user_id)
    if opened is None:
        raise NotFound()  # it opened and finished in between: nothing is left to erase
    return opened


def _closed_key(record: Entity) -> str:
    """The `erased` record's key, from the open one: the same for every request that joined the erasure
    (it also names the event, so receivers de-duplicate by it), and another for each erasure, even two of
    one user started in the same instant (the open record's random id; one opened before it had none)."""
    key = record["RowKey"].removesuffix("open") + inverted(record["startedAt"])
    return key + "|" + record["erasureId"] if record.get("erasureId") else key


def _finish(d: Stored, record: Entity, deleted: int, now: datetime) -> None:
    """Close the open record into the `erased` one, once; a duplicate that loses the race finds it done."""
    done = new_row(ERASURES_PK, _closed_key(record),
                   state="erased", actor=record["actor"], reason=record["reason"],
                   startedAt=record["startedAt"], rowsDeleted=deleted, erasedAt=now)
    try:
        d.store.transact(Tx().delete_unchanged(record).create(done))
    except StaleWrite:
        if d.store.get(ERASURES_PK, record["RowKey"]) is not None:
            raise Conflict("The erasure changed while it finished; retry it to finish.") from None


def _erase_partition(d: Stored, user_id: str) -> int:
    deleted = 0
    for _ in range(SWEEPS):
        profile = d.store.get(user_id, PROFILE_RK)
        if profile is not None:
            if d.store.delete_unchanged([profile]) == 0:
                continue  # changed under us: read it again
            deleted += 1
        token: dict[str, str] | None = None
        found = 0
        while True:
            rows, token = d.store.page("PartitionKey eq @pk", {"pk": user_id}, PAGE, token,
                                       select=["PartitionKey", "RowKey"])
            found += len(rows)
            for i in range(0, len(rows), BATCH):
                deleted += d.store.delete_unchanged(rows[i:i + BATCH])
            if token is None:
                break
        if found == 0:
            return deleted
    raise Conflict("The user's rows kept changing during the erasure; retry it to finish.")


def _holds_rows(d: Stored, user_id: str) -> bool:
    """Whether anything is left of the user (a row a sign-in in flight committed after an erasure)."""
    rows, _ = d.store.page("PartitionKey eq @pk", {"pk": user_id}, 1, None, select=["RowKey"])
    return bool(rows)


def _erase_oath_rows(d: KeyedStore, user_id: str) -> int:
    mine = []
    for prefix in (oath_index.PREFIX, oath_index.LEGACY_PREFIX):
        for row in d.store.query_prefix(oath_index.INDEX_PK, prefix, limit=100_000):
            if prefix == oath_index.LEGACY_PREFIX:
                owner = str(row.get("upn", "")).lower()
            else:
                owner = d.sealer.open(row.get(oath_index.OWNER), oath_index.owner_aad(row["RowKey"]),
                                      kind="oath index").decode()
            if owner == user_id:
                mine.append(row)
    return sum(d.store.delete_unchanged(mine[i:i + BATCH]) for i in range(0, len(mine), BATCH))


def erase(d: Erasing, user_id: str, body: dict[str, Any], actor: str) -> None:
    user_id = validate_user_id(user_id)
    reason = text(body, "reason", max_len=256, required=True)
    record = _open_record(d, user_id)
    if record is None:
        if d.store.get(user_id, PROFILE_RK) is None and not _holds_rows(d, user_id):
            raise NotFound()
        record = _start(d, user_id, reason, actor, d.clock.now())
    deleted = int(record.get("rowsDeleted") or 0) + _erase_partition(d, user_id) + _erase_oath_rows(d, user_id)
    now = d.clock.now()
    audit = AuditEvent(user_id, now, "user_erased", record["actor"], {"reason": record["reason"],
                                                                       "rowsDeleted": deleted}, _closed_key(record))
    event = build_event(audit, d.settings.otp_host)
    if event is not None and not d.events.publish(event):
        record["rowsDeleted"] = deleted
        d.store.transact(Tx().replace(record))
        raise StorageUnavailable()  # the record stays `erasing`: a retry publishes the event (same id)
    _finish(d, record, deleted, now)
