"""The storage steps of a rebalance: list the user partitions of an account, move one partition to its new
account, drain what a moved partition left behind, remove the markers once no instance reads them.

The order (store/router.py says why each step is safe while traffic flows):
1. the marker `!move` in the old account S: created (`here`) if absent; its ETag E is read;
2. whatever an interrupted attempt left in the new account D is deleted (D holds nothing live of a
   partition whose marker does not say `moved`: writers go to D only once it does, or when S holds no row);
3. every row of the partition in S is copied to D (upserts, 100 a transaction);
4. the switch: the marker becomes `moved`, If-Match E. A write that reached S since step 1 touched the
   marker, so the switch fails and the move starts over from step 1 (the copy would miss that write);
5. later (`drain`, after a grace period longer than any request, so no reader that found the partition in
   S before the switch is still reading it there) the rows in S are deleted; the marker stays as the
   tombstone that keeps sending readers and writers to D until the rebalance is declared done.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableEntity, UpdateMode

from .placement import MOVE_RK, SYSTEM_PREFIX
from .router import HERE, MOVED, STATE
from .table import Store
from .tx import StaleWrite

BATCH = 100  # an entity-group transaction's limit
ATTEMPTS = 5  # a partition written to during every one of its copies is left for the next run


def partition_keys(store: Store, account: int, token: dict[str, str] | None,
                   size: int = 1000) -> tuple[list[str], dict[str, str] | None]:
    """The distinct user partitions in one page of an account's rows, and the next page's token."""
    def read(table: Any) -> tuple[list[Any], Any]:
        query = table.query_entities("PartitionKey lt @system", parameters={"system": SYSTEM_PREFIX},
                                     select=["PartitionKey"], results_per_page=size)
        pages = query.by_page(continuation_token=token)
        return list(next(pages, [])), pages.continuation_token
    rows, nxt = store._on(account, read)
    return list(dict.fromkeys(r["PartitionKey"] for r in rows)), nxt


def _rows(store: Store, account: int, pk: str) -> list[Any]:
    return store._on(account, lambda t: list(t.query_entities("PartitionKey eq @pk", parameters={"pk": pk})))


def _marker(store: Store, account: int, pk: str) -> Any:
    def read(table: Any) -> Any:
        try:
            return table.get_entity(pk, MOVE_RK)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "TableNotFound":
                raise
            return None
    return store._on(account, read)


def _in_batches(store: Store, account: int, ops: Iterable[tuple]) -> int:
    ops = list(ops)
    for i in range(0, len(ops), BATCH):
        store._on(account, functools.partial(_submit, ops[i:i + BATCH]))
    return len(ops)


def _submit(ops: list[tuple], table: Any) -> None:
    table.submit_transaction(ops)


def _delete(row: Any, table: Any) -> None:
    table.delete_entity(row["PartitionKey"], row["RowKey"])


def _copy(row: Any) -> TableEntity:
    return TableEntity(**row)  # the properties only: a new row in D, with D's own ETag


def move(store: Store, pk: str, old: int, new: int) -> str:
    """Move partition `pk` from account `old` to `new`: "moved", "already" (moved before) or "busy"."""
    for _ in range(ATTEMPTS):
        marker = _marker(store, old, pk)
        if marker is not None and marker.get(STATE) == MOVED:
            return "already"
        if marker is None:
            try:
                store._on(old, lambda t: t.create_entity(TableEntity(PartitionKey=pk, RowKey=MOVE_RK,
                                                                     **{STATE: HERE})))
            except StaleWrite:
                pass  # a writer's fence created it first
            continue  # read it (and its ETag) again
        _in_batches(store, new, (("delete", r) for r in _rows(store, new, pk)))
        rows = [r for r in _rows(store, old, pk) if r["RowKey"] != MOVE_RK]
        _in_batches(store, new, (("upsert", _copy(r), {"mode": UpdateMode.REPLACE}) for r in rows))
        try:
            _switch(store, pk, old, marker.metadata["etag"])
            return "moved"
        except StaleWrite:
            continue  # written to during the copy: copy again
    return "busy"


def _switch(store: Store, pk: str, old: int, etag: str) -> None:
    """The marker says `moved`, If-Match the ETag read before the copy began."""
    switched = TableEntity(PartitionKey=pk, RowKey=MOVE_RK, **{STATE: MOVED})
    store._on(old, lambda t: t.update_entity(switched, mode=UpdateMode.REPLACE, etag=etag,
                                             match_condition=MatchConditions.IfNotModified))


def drain(store: Store, pk: str, old: int) -> int:
    """Delete the rows a moved partition left in its old account (never the marker); how many."""
    marker = _marker(store, old, pk)
    if marker is None or marker.get(STATE) != MOVED:
        return 0
    rows = [r for r in _rows(store, old, pk) if r["RowKey"] != MOVE_RK]
    return _in_batches(store, old, (("delete", r) for r in rows))


def tidy(store: Store) -> int:
    """Delete every marker (once no instance runs with a previous layout, nothing reads them); how many."""
    removed = 0
    for account in range(len(store.tables)):
        markers = store._on(account, lambda t: list(t.query_entities("RowKey eq @rk", parameters={"rk": MOVE_RK},
                                                                       select=["PartitionKey", "RowKey"])))
        for marker in markers:
            try:
                store._on(account, functools.partial(_delete, marker))
                removed += 1
            except StaleWrite:
                continue
    return removed
