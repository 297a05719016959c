"""Runs of the due sweep (shared/channels/due.py) over every kind of due item, SMS and security events: one run per
message of the sweep chain, and one in the hourly maintenance run (the net that starts a chain when
something is due and no process is left to owe it)."""
from __future__ import annotations

import logging
from datetime import datetime

from ..channels import due
from ..channels.events import KIND as EVENT_KIND
from ..kernel.errors import StorageUnavailable
from ..ports import Sweeping
from . import redrive

log = logging.getLogger("twostep.sweeper")


def sweep(d: Sweeping, now: datetime | None = None) -> dict[str, int]:
    """Settle every due marker old enough (one range query when nothing is due)."""
    kinds: dict[str, due.Settle] = {redrive.KIND: redrive.settle, EVENT_KIND: d.events.settle}
    return due.sweep(d, kinds, now or d.clock.now())


def on_chain_message(d: Sweeping, body: bytes) -> str:
    """One link of the chain: sweep, and send the next link while anything is still due."""
    token = due.parse_chain_message(body)
    if token is None:
        log.error("due-sweep message is malformed; dropped")
        return "dropped"
    try:
        counts = sweep(d)
        if due.still_due(counts):
            d.sweeps.follow(token)
            return f"{counts}; next in {int(due.SWEEP_EVERY.total_seconds())} s"
    except StorageUnavailable:
        d.sweeps.retry(token)  # the Table is down: the same link again later
        return "table unavailable; retried later"
    return f"{counts}; nothing due, the chain ends"


def hourly(d: Sweeping) -> dict[str, int]:
    """The maintenance run's sweep: start a chain if something is still due."""
    counts = sweep(d)
    if due.still_due(counts):
        d.sweeps.start(due.SWEEP_EVERY)
    return counts
