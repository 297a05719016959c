"""The write side of the SMS limits over lanes (methods/limits_lanes.py): a send's first-lane transactions
(exact counters only) side by side, then its last one (the phone counter and the pool shards), and the
give-back of the first lanes' units when a later transaction fails. The pools are only in the last
transaction, so they are never given back; a give-back is an If-Match decrement, so it never erases another
send's unit, and one that finally fails leaves an over-count, never an under-count."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from ..kernel.budget import alongside
from ..kernel.errors import Conflict, StorageUnavailable
from ..store import StaleWrite, Store, Tx, retry_on_conflict

log = logging.getLogger("twostep.limits")
T = TypeVar("T")
GIVE_BACK_ATTEMPTS = 8  # each re-reads the lane's rows and decrements If-Match


def side_by_side(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run the calls at once (all but the first on the shared pool, kernel/budget.py), every outcome kept:
    a result or the exception it raised. Called from a request's own thread only, never from a pool worker
    (a worker waiting on work queued behind it can wait for ever); the calls themselves never nest."""
    futures = [alongside(call) for call in calls[1:]]
    out: list[T | Exception] = []
    for run in [calls[0], *(f.result for f in futures)] if calls else []:
        try:
            out.append(run())
        except Exception as exc:  # noqa: BLE001 - kept for the caller, which re-raises it after joining all
            out.append(exc)
    return out


def all_of(calls: list[Callable[[], T]]) -> list[T]:
    """Every call's result, run side by side; the first exception is raised after all have ended."""
    outcomes = side_by_side(calls)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return outcomes  # type: ignore[return-value]  # no exception among them


def give_back(store: Store, partition: str, row_keys: list[str]) -> bool:
    """Take back one unit from each of the rows a committed first-lane transaction counted: If-Match
    decrements, retried on a lost race. False when it finally failed: an over-count, never an under-count."""
    def once() -> None:
        rows = store.get_many(partition, row_keys)
        tx = Tx()
        for row in rows.values():
            if int(row.get("count", 0)) > 0:
                row["count"] -= 1
                tx.replace(row)
        store.transact(tx)
    try:
        retry_on_conflict(once, GIVE_BACK_ATTEMPTS)
        return True
    except (Conflict, StorageUnavailable):
        log.warning("sms limit give-back failed: one unit stays counted (an over-count, never an under-count)")
        return False


@dataclass
class Plan:
    """What one send counts: first-lane transactions (exact counters only), then the last one (the pool
    lane). `given_back` counts the lanes given back after a failure (tools/sim_limits.py reports it)."""
    first: list[tuple[str, list[str], Tx]]  # (partition, row keys counted, transaction)
    last: Tx
    done: list[tuple[str, list[str]]] = field(default_factory=list)
    given_back: int = 0

    def write_first(self, store: Store) -> None:
        outcomes = side_by_side([partial(store.transact, tx) for _, _, tx in self.first])
        self.done = [(pk, keys) for (pk, keys, _), out in zip(self.first, outcomes, strict=True)
                     if not isinstance(out, Exception)]
        failed = [out for out in outcomes if isinstance(out, Exception)]
        if failed:
            self.give_back(store)
            raise failed[0]

    def write_last(self, store: Store) -> None:
        """The pool lane's transaction. Refused (a lost race), the first lanes' units are given back; any
        other failure may come after Storage applied it (a timeout), so they stay: an over-count at worst,
        where giving them back could under-count an SMS that was counted and sent."""
        try:
            store.transact(self.last)
        except StaleWrite:
            self.give_back(store)
            raise

    def give_back(self, store: Store) -> None:
        all_of([partial(give_back, store, pk, keys) for pk, keys in self.done])
        self.given_back += len(self.done)
        self.done = []

    def commit(self, store: Store) -> None:
        self.write_first(store)
        self.write_last(store)
