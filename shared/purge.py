"""Table Storage has no TTL: a timer deletes rows whose `purgeAfter` has passed (expired challenges a
day after expiry; bypasses and audit events after the audit retention)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from .deps import Deps
from .store import StaleWrite, Tx

BATCH = 100  # an entity-group transaction holds at most 100 rows


def purge(d: Deps, now: datetime | None = None) -> int:
    now = now or d.clock.now()
    rows = d.store.query("purgeAfter lt @now", {"now": now}, select=["PartitionKey", "RowKey"])
    by_partition: dict[str, list] = defaultdict(list)
    for row in rows:
        by_partition[row["PartitionKey"]].append(row)
    deleted = 0
    for partition_rows in by_partition.values():
        for i in range(0, len(partition_rows), BATCH):
            tx = Tx()
            for row in partition_rows[i:i + BATCH]:
                tx.delete({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]})
            try:
                d.store.transact(tx)
                deleted += len(tx.ops)
            except StaleWrite:
                continue  # a row changed or vanished meanwhile; the next run takes the rest
    return deleted
