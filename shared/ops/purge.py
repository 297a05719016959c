"""Table Storage has no TTL: a timer deletes rows whose `purgeAfter` has passed (expired challenges a
day after expiry; bypasses and audit events after the audit retention; idempotency records and SMS
counters after their window).

The purge scales with the table: it reads one page of the query at a time and deletes that page's
expired rows (per partition, up to 100 per transaction, each only if unchanged since it was read) before
it reads the next, so memory stays at one page. It stops when its time budget, well inside host.json's
`functionTimeout`, is spent, and saves where it was (the query's continuation token, in the row
`~purge`/`cursor`, which no user id can name) so the next run resumes there instead of starting over;
a scan that reaches the end removes the cursor, and the run after starts from the top.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..methods.oath import serial_index as oath_index
from ..ports import Scanning, Stored
from ..store import Entity, new_row

BATCH = 100  # an entity-group transaction holds at most 100 rows
PAGE = 1000  # rows per query page (Table Storage's maximum)
BUDGET_SECONDS = 20.0  # host.json functionTimeout is 30 s; every storage call is itself bounded
MIGRATION_SECONDS = 3.0  # of that budget, at most this for moving old-format OATH index rows
CURSOR_PK, CURSOR_RK = "~purge", "cursor"
FILTER = "purgeAfter lt @now"


@dataclass
class PurgeRun:
    deleted: int = 0  # rows deleted (or found already gone)
    scanned: int = 0  # expired rows the query returned
    pages: int = 0
    complete: bool = False  # the scan reached the end of the table
    resumed: bool = False  # it started from a saved cursor


def _batches(rows: list[Entity]) -> list[list[Entity]]:
    """Rows of a page in query order (by partition), cut into single-partition batches of <= 100."""
    out: list[list[Entity]] = []
    for row in rows:
        if out and out[-1][0]["PartitionKey"] == row["PartitionKey"] and len(out[-1]) < BATCH:
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _load_cursor(d: Stored) -> dict[str, str] | None:
    row = d.store.get(CURSOR_PK, CURSOR_RK)
    return json.loads(row["next"]) if row is not None and row.get("next") else None


def _save_cursor(d: Stored, token: dict[str, str] | None, now: datetime) -> None:
    if token is None:
        d.store.upsert(new_row(CURSOR_PK, CURSOR_RK, next="", completedAt=now))
    else:
        d.store.upsert(new_row(CURSOR_PK, CURSOR_RK, next=json.dumps(token), savedAt=now))


def purge(d: Scanning, now: datetime | None = None, *, budget_seconds: float = BUDGET_SECONDS, page_size: int = PAGE,
          monotonic: Callable[[], float] = time.monotonic) -> PurgeRun:
    """Delete expired rows page by page until the table ends or the budget is spent."""
    now = now or d.clock.now()
    deadline = monotonic() + budget_seconds
    run = PurgeRun()
    token = _load_cursor(d)
    run.resumed = token is not None
    while monotonic() < deadline:
        rows, next_token = d.store.page(FILTER, {"now": now}, page_size, token, select=["PartitionKey", "RowKey"])
        run.pages += 1
        run.scanned += len(rows)
        for batch in _batches(rows):
            if monotonic() >= deadline:  # stop mid-page: the saved cursor still points at this page
                return run
            run.deleted += d.store.delete_unchanged(batch)
        token = next_token
        _save_cursor(d, token, now)
        if token is None:
            run.complete = True
            break
    return run


def hourly(d: Scanning, monotonic: Callable[[], float] = time.monotonic, started: float | None = None) -> PurgeRun:
    """The hourly maintenance run: move OATH index rows of the earlier plain-text format to keyed ones
    (oath_index.py; nothing to do once none is left, one range query), then purge with the rest of the budget,
    so old rows lose their plain text even when no import runs. `started`: when the run's budget began (the
    timer sweeps the due items first)."""
    started = monotonic() if started is None else started
    oath_index.migrate(d, MIGRATION_SECONDS, monotonic)
    return purge(d, budget_seconds=max(BUDGET_SECONDS - (monotonic() - started), 1.0), monotonic=monotonic)
