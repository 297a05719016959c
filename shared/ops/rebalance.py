"""The rebalancing job: after MFA_TABLE_ACCOUNTS changes (N -> M), move every user partition whose home
account changed to its new account (docs/scale.md "Several storage accounts", docs/operations.md).

Its entry point is `python -m tools.rebalance`, run with the app's settings while the app runs with
MFA_TABLE_ACCOUNTS=M and MFA_TABLE_ACCOUNTS_PREVIOUS=N (every instance must have restarted with them
first: an instance on the old settings writes where nothing reads any more). Two phases:
- copy: each account of the previous layout is scanned page by page, and each partition there whose
  new home is elsewhere is copied and switched (store/moves.py: marker, copy, If-Match switch);
- drain: once `grace` has passed since the last switch (longer than any request, so no reader that found
  a partition in its old account before the switch still reads there), the same scan deletes what the
  moved partitions left behind (their markers stay, as tombstones).
Then the operator unsets MFA_TABLE_ACCOUNTS_PREVIOUS and, once every instance restarted, runs
`python -m tools.rebalance --tidy` to delete the markers.

Resumable and idempotent: the checkpoint row `~rebalance`/`state` (account 0) holds the phase, the account
and the continuation token of the page being scanned, and is written If-Match after each page, so a second
job running at once loses that write and stops. A run stopped anywhere (budget, crash) starts again at
the saved page; a partition moved already is skipped (its marker says so), one half copied is copied again.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..kernel.errors import ConfigError
from ..store import Entity, StaleWrite, Store, Tx, moves, new_row

CHECKPOINT = ("~rebalance", "state")  # no user id can name it
GRACE_SECONDS = 120.0  # > host.json functionTimeout (30 s) with a wide margin
PAGE = 1000
WORKERS = 8  # partitions moved at once: a move is a few round trips, so latency, not CPU, bounds it


@dataclass
class Progress:
    """What the checkpoint holds (and a run reports)."""

    layout: str
    phase: str = "copy"  # copy -> drain -> done
    account: int = 0
    token: dict[str, str] | None = None
    switched_at: datetime | None = None
    moved: int = 0
    already: int = 0
    busy: int = 0
    drained: int = 0

    def view(self) -> dict[str, Any]:
        return {"layout": self.layout, "phase": self.phase, "account": self.account, "moved": self.moved,
                "alreadyMoved": self.already, "busy": self.busy, "rowsDrained": self.drained}


def _layout_key(store: Store) -> str:
    layout = store.layout
    if layout.previous is None:
        raise ConfigError("MFA_TABLE_ACCOUNTS_PREVIOUS is not set: no rebalance is in progress")
    return f"{layout.previous}>{layout.count}"


def _load(store: Store, key: str) -> tuple[Progress, Entity | None]:
    row = store.get(*CHECKPOINT)
    if row is None or row.get("layout") != key:
        return Progress(key), row
    progress = Progress(key, phase=row["phase"], account=int(row["account"]),
                        token=json.loads(row["next"]) if row.get("next") else None,
                        switched_at=row.get("switchedAt"), moved=int(row.get("moved", 0)),
                        already=int(row.get("already", 0)), busy=int(row.get("busy", 0)),
                        drained=int(row.get("drained", 0)))
    return progress, row


def _save(store: Store, p: Progress, read: Entity | None) -> Entity:
    """Write the checkpoint If-Match the version read (StaleWrite: another job wrote it meanwhile)."""
    row = new_row(*CHECKPOINT, layout=p.layout, phase=p.phase, account=p.account,
                  next=json.dumps(p.token) if p.token else "", switchedAt=p.switched_at, moved=p.moved,
                  already=p.already, busy=p.busy, drained=p.drained)
    store.transact(Tx().write_over(row, read))
    saved = store.get(*CHECKPOINT)
    if saved is None:
        raise StaleWrite()
    return saved


def _mine(store: Store, p: Progress, pks: list[str]) -> list[tuple[str, int, int]]:
    """The partitions of a page whose old home is the account being scanned and whose home changed."""
    out = []
    for pk in pks:
        moving = store.layout.moving(pk)
        if moving is not None and moving[0] == p.account:
            out.append((pk, *moving))
    return out


def _copy_page(store: Store, p: Progress, pks: list[str], now: datetime, limit: int | None, workers: int) -> bool:
    """Move the partitions of one page whose home changed, `workers` at a time (each move touches only its
    own partition); False when `limit` moves stopped it midway."""
    todo, stopped = _mine(store, p, pks), False
    if limit is not None and len(todo) > limit - p.moved:
        todo, stopped = todo[:max(limit - p.moved, 0)], True
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda job: moves.move(store, *job), todo))
    for outcome in outcomes:
        if outcome == "moved":
            p.moved += 1
            p.switched_at = now
        elif outcome == "already":
            p.already += 1
        else:
            p.busy += 1  # written to during every copy: the next pass over this page tries again
    return not stopped


def _drain_page(store: Store, p: Progress, pks: list[str], workers: int) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        p.drained += sum(pool.map(lambda job: moves.drain(store, job[0], job[1]), _mine(store, p, pks)))


def run(store: Store, now: Callable[[], datetime], *, budget_seconds: float = 20.0,
        grace_seconds: float = GRACE_SECONDS, page_size: int = PAGE, stop_after_moves: int | None = None,
        workers: int = WORKERS, monotonic: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """One bounded run; call again until `phase` is `done` (`waitSeconds`: the drain waits that long).
    `stop_after_moves`: stop once that many partitions have been moved in all (an interruption, for tests)."""
    key = _layout_key(store)
    deadline = monotonic() + budget_seconds
    p, read = _load(store, key)
    previous = store.layout.previous or 0
    while p.phase != "done" and monotonic() < deadline:
        if p.account >= previous:  # a pass is over: another copy pass while some partition stayed busy
            p.phase = "copy" if p.phase == "copy" and p.busy else ("drain" if p.phase == "copy" else "done")
            p.account, p.token, p.busy = 0, None, 0
            read = _save(store, p, read)
            continue
        if p.phase == "drain" and p.switched_at is not None:
            wait = (p.switched_at + timedelta(seconds=grace_seconds) - now()).total_seconds()
            if wait > 0:
                return {**p.view(), "waitSeconds": round(wait, 1)}
        pks, nxt = moves.partition_keys(store, p.account, p.token, page_size)
        if p.phase == "copy":
            if not _copy_page(store, p, pks, now(), stop_after_moves, workers):
                read = _save(store, p, read)  # the page is scanned again next run; moved ones are skipped
                return {**p.view(), "stopped": True}
        else:
            _drain_page(store, p, pks, workers)
        p.token = nxt
        if nxt is None:
            p.account += 1
        read = _save(store, p, read)
    return p.view()


def tidy(store: Store) -> dict[str, Any]:
    """Delete the markers and the checkpoint once no rebalance is in progress (every instance restarted
    without MFA_TABLE_ACCOUNTS_PREVIOUS)."""
    if store.layout.previous is not None:
        raise ConfigError("unset MFA_TABLE_ACCOUNTS_PREVIOUS (and restart every instance) before tidying")
    removed = moves.tidy(store)
    row = store.get(*CHECKPOINT)
    if row is not None:
        store.delete_unchanged([row])
    return {"markersRemoved": removed}
