"""Due items (Q5, N1): work a commit makes due (an SMS to send, a security event to publish), recorded
before the commit and kept until it is done, and found again without any polling while nothing is due.

One pattern for every kind of item (shared/delivery/redrive.py: SMS; shared/channels/events.py: security events):
1. Before the decision's transaction, a *marker* row is written in the minute's due partition
   `~due|YYYYMMDDHHMM` (row key `<kind>|<item id>`). A transaction is one partition and the decision's
   is its user's, so the marker cannot share it; written first, it is never missing for a committed item.
   If the decision then fails, the marker names an item that does not exist and is dropped.
2. Right after the commit the work is done (enqueue the SMS, publish the event).
3. A *sweep* reads the due partitions (one range query) and asks each marker's kind to settle it:
   `done`, `missing` or `failed` delete the marker; `wait` and `redrive` keep it.

When a sweep runs, without a polling timer (an idle deployment must scale to zero):
- the *chain*: a message on the due queue (`MFA_DUE_QUEUE`) sent with a visibility delay; its run sweeps
  and, while anything is still due, sends the next one `SWEEP_EVERY` later. Once nothing is due the
  chain ends. One chain lives at a time: the lease row `~due`/`chain` names the newest one's token, and
  a run holding another token stops.
- a chain is *owed* by a process whose queue write failed (an enqueue, a publish) or whose SMS send
  failed (the host may be unable to hand that message back while the queue is down). The process starts
  it on its next queue write that succeeds, or from a background thread that tries every
  `OWED_RETRY_EVERY` (for at most `OWED_RETRY_FOR`), whichever comes first: the work goes out once the
  queue is back, with or without traffic. Nothing runs while nothing is owed.
- the hourly maintenance run sweeps too and starts a chain if something is still due: the net for a
  process that ended while owing one.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..kernel.clock import Clock
from ..kernel.errors import StorageUnavailable
from ..kernel.ids import random_token
from ..store import Entity, StaleWrite, Store, Tx, new_row, same_version
from .queues import QueueGateway

log = logging.getLogger("twostep.due")
DUE_PREFIX = "~due|"
LEASE = ("~due", "chain")  # sorts before every due partition, so no sweep ever reads it
SWEEP_EVERY = timedelta(seconds=15)  # the chain's period while something is due
SKEW = timedelta(minutes=1)  # markers written by an instance whose clock is a little ahead are read too
MAX_ROWS_PER_SWEEP = 1000
SWEEP_BUDGET = 15.0  # seconds; one run stays well inside host.json's functionTimeout
BATCH = 100  # an entity-group transaction's limit
CHAIN_TTL = 3600  # a chain message nobody took is dropped after an hour (the hourly run restarts it)
STILL_DUE = ("wait", "redrive", "more")
OWED_RETRY_EVERY = 5.0  # seconds between a process's tries to start the chain it owes
OWED_RETRY_FOR = 900.0  # seconds; longer than any code lifetime (the hourly run is the net beyond)

Settle = Callable[[Any, Entity, datetime], str]  # (deps, marker row, now) -> outcome


def due_partition(moment: datetime) -> str:
    return DUE_PREFIX + moment.strftime("%Y%m%d%H%M")


def marker(kind: str, item_id: str, moment: datetime, keep: timedelta, **props: Any) -> Entity:
    """The marker of one due item created at `moment`; the purge removes it after `keep` if no sweep did."""
    return new_row(due_partition(moment), f"{kind}|{item_id}", createdAt=moment, purgeAfter=moment + keep, **props)


def item_of(row: Entity) -> tuple[str, str]:
    """(kind, item id) of a marker row."""
    kind, _, item = row["RowKey"].partition("|")
    return kind, item


def note(store: Store, markers: Iterable[Entity]) -> None:
    """Write markers before the commit they stand for (StorageUnavailable: none was, so do not commit)."""
    for rows in _by_partition(markers).values():
        tx = Tx()
        for row in rows:
            tx.create(row)
        store.transact(tx)


def forget(store: Store, markers: Iterable[Entity]) -> None:
    """Delete markers whose work is done; a marker changed or gone meanwhile is left to the next sweep."""
    for rows in _by_partition(markers).values():
        for i in range(0, len(rows), BATCH):
            tx = Tx()
            for row in rows[i:i + BATCH]:
                tx.delete({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]})
            try:
                store.transact(tx)
            except StaleWrite:
                pass


def _by_partition(rows: Iterable[Entity]) -> dict[str, list[Entity]]:
    grouped: dict[str, list[Entity]] = defaultdict(list)
    for row in rows:
        grouped[row["PartitionKey"]].append(row)
    return grouped


def sweep(d: Any, kinds: Mapping[str, Settle], now: datetime) -> dict[str, int]:
    """Settle every marker (a kind waits on one too young to act on); returns the count of each outcome."""
    params = {"lo": DUE_PREFIX, "hi": due_partition(now + SKEW)}
    rows = d.store.query("PartitionKey gt @lo and PartitionKey le @hi", params)
    counts: dict[str, int] = defaultdict(int)
    settled: list[Entity] = []
    ends = time.monotonic() + SWEEP_BUDGET
    for i, row in enumerate(rows):
        if i >= MAX_ROWS_PER_SWEEP or time.monotonic() > ends:
            counts["more"] += 1  # the chain goes on and takes the rest
            break
        settle = kinds.get(item_of(row)[0])
        outcome = settle(d, row, now) if settle else "missing"
        counts[outcome] += 1
        if outcome not in STILL_DUE:
            settled.append(row)
    forget(d.store, settled)
    if counts.get("redrive") or counts.get("failed"):
        log.warning("due sweep: %s", dict(counts))
    return dict(counts)


def still_due(counts: Mapping[str, int]) -> bool:
    return any(counts.get(outcome) for outcome in STILL_DUE)


def chain_message(token: str) -> str:
    return json.dumps({"v": 1, "chain": token})


def parse_chain_message(body: bytes) -> str | None:
    try:
        token = json.loads(body.decode("utf-8"))["chain"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return token if isinstance(token, str) and 0 < len(token) <= 64 else None


class Sweeps:
    """The sweep chain of one process: what it owes, and starting or continuing the chain."""

    def __init__(self, queue: QueueGateway, store: Store, clock: Clock) -> None:
        self.queue, self.store, self.clock = queue, store, clock
        self._owed = threading.Event()
        self._lock = threading.Lock()
        self._retrier: threading.Thread | None = None

    @property
    def owed(self) -> bool:
        return self._owed.is_set()

    def owe(self) -> None:
        """A queue write failed (or an SMS send): a sweep must run once the queue is back."""
        self._owed.set()
        with self._lock:
            if self._retrier is None:
                self._retrier = threading.Thread(target=self._pay_when_possible, name="due-sweep-owed", daemon=True)
                self._retrier.start()

    def _pay_when_possible(self) -> None:
        ends = time.monotonic() + OWED_RETRY_FOR
        while True:
            time.sleep(OWED_RETRY_EVERY)
            self.queue_ok()  # starts the chain, or owes it again
            with self._lock:
                if not self._owed.is_set() or time.monotonic() > ends:
                    self._retrier = None
                    return

    def queue_ok(self) -> None:
        """A queue write of this process succeeded: start the chain it owes, if any (once)."""
        if not self._owed.is_set():
            return
        with self._lock:
            if not self._owed.is_set():
                return
            self._owed.clear()
        self.start()

    def start(self, delay: timedelta = timedelta(0)) -> bool:
        """Start a chain (it replaces any other); False, and owed again, when Storage failed."""
        token = random_token(12)
        try:
            self.store.upsert(new_row(*LEASE, token=token, at=self.clock.now()))
        except StorageUnavailable:
            self.owe()
            return False
        return self._send(token, delay)

    def follow(self, token: str, delay: timedelta | None = None) -> bool:
        """Continue the chain `token` after `delay` (SWEEP_EVERY), unless a newer chain replaced it."""
        lease = self.store.get(*LEASE)
        if lease is None or lease.get("token") != token:
            return False
        new = random_token(12)
        try:
            self.store.transact(Tx().replace(same_version(new_row(*LEASE, token=new, at=self.clock.now()), lease)))
        except StaleWrite:
            return False  # another chain started meanwhile
        return self._send(new, delay)

    def retry(self, token: str) -> bool:
        """The Table is down: send this link again later (same token, so it stays the chain)."""
        return self._send(token, None)

    def _send(self, token: str, delay: timedelta | None) -> bool:
        """Send a link, visible after `delay` (SWEEP_EVERY); a failure leaves the sweep owed."""
        delay = SWEEP_EVERY if delay is None else delay
        try:
            self.queue.send(chain_message(token), CHAIN_TTL, int(delay.total_seconds()))
        except StorageUnavailable:
            self.owe()
            return False
        return True
