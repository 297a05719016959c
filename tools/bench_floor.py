"""The storage floor: a flow's round trips, as recorded on the wire (bench_wire), replayed with the raw
azure-data-tables / azure-storage-queue SDK from one process, default clients, no HTTP hop.

What the service cannot go below while it makes the same Storage requests: the benchmark divides the
flow's p50 and its function-process CPU by the floor's p50 and client CPU. Entities are about the size of
the service's (a ~1 KB profile, smaller challenge and audit rows).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.queue import QueueClient

PROFILE_BLOB = "p" * 1000
ROW_BLOB = "r" * 300


class FloorClient:
    """One simulated user: its partition (a profile row and the rows it adds) and the replayed kinds."""

    def __init__(self, table: Any, queue: Any, user: str) -> None:
        self.table, self.queue, self.pk = table, queue, user
        self.profile: dict[str, Any] = {"PartitionKey": user, "RowKey": "profile", "data": PROFILE_BLOB, "n": 0}
        table.upsert_entity(self.profile)
        self.last_row = self._new_row()
        table.upsert_entity(self.last_row)

    def _new_row(self) -> dict[str, Any]:
        return {"PartitionKey": self.pk, "RowKey": "c" + uuid.uuid4().hex, "data": ROW_BLOB}

    def run(self, kind: str) -> None:
        if kind == "get":
            self.table.get_entity(self.pk, "profile")
        elif kind == "query":
            list(self.table.query_entities(f"PartitionKey eq '{self.pk}' and (RowKey eq 'profile' or "
                                           f"RowKey eq '{self.last_row['RowKey']}')"))
        elif kind.startswith("batch"):
            self.profile["n"] += 1
            rows = [self._new_row() for _ in range(int(kind[5:]) - 1)]
            self.table.submit_transaction([("upsert", self.profile, {"mode": UpdateMode.REPLACE})]
                                          + [("create", r) for r in rows])
            if rows:
                self.last_row = rows[0]
        elif kind == "insert":
            self.last_row = self._new_row()
            self.table.create_entity(self.last_row)
        elif kind == "update":
            self.profile["n"] += 1
            self.table.update_entity(self.profile, mode=UpdateMode.REPLACE)
        elif kind == "delete":
            self.table.delete_entity(self.pk, self.last_row["RowKey"])
        elif kind == "enqueue":
            self.queue.send_message("m" * 200)
        # anything else (table administration) is not part of a flow's floor


def floor_clients(connection_string: str, count: int) -> list[Callable[[list[str]], float | None]]:
    """`count` independent replayers (one partition each) over one table and queue, as one process would."""
    service = TableServiceClient.from_connection_string(connection_string)
    name = "floor" + os.urandom(4).hex()
    table = service.create_table_if_not_exists(name)
    queue = QueueClient.from_connection_string(connection_string, name)
    queue.create_queue()
    replayers = [FloorClient(table, queue, f"floor-user-{i}") for i in range(count)]

    def bind(client: FloorClient) -> Callable[[list[str]], float | None]:
        def flow(kinds: list[str]) -> float | None:
            for kind in kinds:
                client.run(kind)
            return None
        return flow

    return [bind(c) for c in replayers]
