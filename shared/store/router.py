"""Routing a partition to its account, and keeping a partition whole while a rebalance moves it.

Outside a rebalance a partition is where `Layout.home` says. While one is in progress (the settings name
the previous account count), a partition whose home changes from S (old) to D (new) is in exactly one of
them at any time, decided by its marker row `!move` in S:
- S holds no row of the partition: it is in D (a user who arrived during the move, or one moved and
  drained: the marker stays behind as a tombstone, so S is never empty again for a moved user);
- the marker says `moved`: it is in D;
- otherwise (rows but no marker, or a marker saying `here`): it is in S.
One read of S's first row (the marker sorts first) decides; `moved` and "not in S" are final for the
whole rebalance, so a process remembers them and asks no more.

Every write to a partition that is in S carries a fence in the same entity-group transaction: it creates
the marker (`here`) when there was none, else touches it If-Match on the ETag just read. The rebalancer
switches a partition by replacing the marker with `moved` If-Match on the ETag it read BEFORE copying,
so a write that reached S after the copy began makes the switch fail (and the copy starts over), and a
write decided before the switch but sent after it fails its fence (StaleWrite: the flow reads again and
now finds the partition in D). Rows read in one account carry its index in their metadata, and a
conditional write of them to another account is a StaleWrite without a round trip: an ETag of S means
nothing in D.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableEntity, UpdateMode

from .placement import MOVE_RK, Layout

ACCOUNT = "account"  # the metadata key that names the account a row was read from
STATE, HERE, MOVED = "state", "here", "moved"
SETTLED_MAX = 100_000  # partitions remembered as final; the memory is cleared when it fills


@dataclass(frozen=True)
class Where:
    """The account a partition is in now; `fenced`: writes to it must carry the marker's fence."""

    account: int
    fenced: bool = False
    marker: Any = None  # the marker as read (None: no marker yet)

    def fence(self, partition_key: str) -> tuple | None:
        """The transaction operation that makes a write fail if a rebalance switched the partition meanwhile."""
        if not self.fenced:
            return None
        if self.marker is None:
            return ("create", TableEntity(PartitionKey=partition_key, RowKey=MOVE_RK, **{STATE: HERE}))
        entity = TableEntity(PartitionKey=partition_key, RowKey=MOVE_RK, **{STATE: HERE})
        return ("update", entity, {"mode": UpdateMode.MERGE, "etag": self.marker.metadata["etag"],
                                   "match_condition": MatchConditions.IfNotModified})


def first_row(table: Any, partition_key: str) -> Any:
    """The first row of a partition in one account (the marker, when there is one), or None."""
    query = table.query_entities("PartitionKey eq @pk", parameters={"pk": partition_key}, results_per_page=1,
                                 select=["PartitionKey", "RowKey", STATE])
    return next(iter(query), None)  # across pages: the service may answer an empty page with a continuation


class Router:
    """Maps a partition key to the index of the account that holds it now."""

    def __init__(self, layout: Layout, call: Callable[[int, Callable[[Any], Any]], Any]) -> None:
        self.layout = layout
        self._call = call  # (account, fn(table client)) -> fn's result, with the store's error mapping
        self._settled: set[str] = set()

    @property
    def multi(self) -> bool:
        return self.layout.accounts > 1

    def where(self, partition_key: str) -> Where:
        moving = self.layout.moving(partition_key)
        if moving is None:
            return Where(self.layout.home(partition_key))
        old, new = moving
        if partition_key in self._settled:
            return Where(new)
        row = self._call(old, lambda t: first_row(t, partition_key))
        if row is None or (row["RowKey"] == MOVE_RK and row.get(STATE) == MOVED):
            if len(self._settled) >= SETTLED_MAX:
                self._settled.clear()
            self._settled.add(partition_key)
            return Where(new)
        return Where(old, fenced=True, marker=row if row["RowKey"] == MOVE_RK else None)

    def tag(self, rows: Iterable[Any], account: int) -> list[Any]:
        """The rows of one account, without markers, each carrying the account it was read from."""
        out = []
        for row in rows:
            if row.get("RowKey") == MOVE_RK:
                continue
            if self.multi and isinstance(row, TableEntity):
                row._metadata = {**row.metadata, ACCOUNT: account}  # type: ignore[misc]  # a key of ours
            out.append(row)
        return out

    def live(self, rows: list[Any], account: int, cache: dict[str, int]) -> list[Any]:
        """Of rows a cross-partition scan found in `account`, those of partitions that are there now."""
        if not self.multi:
            return rows
        kept = []
        for row in rows:
            pk = row.get("PartitionKey")
            if pk is None:
                kept.append(row)
                continue
            if pk not in cache:
                cache[pk] = self.where(pk).account
            if cache[pk] == account:
                kept.append(row)
        return kept

    def check_versions(self, ops: Iterable[tuple], account: int) -> bool:
        """Whether every conditional operation names a version read from `account`."""
        if not self.multi:
            return True
        for op in ops:
            entity, kwargs = op[1], (op[2] if len(op) > 2 else {})
            if kwargs.get("match_condition") == MatchConditions.IfNotModified and isinstance(entity, TableEntity):
                if entity.metadata.get(ACCOUNT, account) != account:
                    return False
        return True
