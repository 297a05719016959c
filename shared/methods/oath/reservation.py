"""The import saga's steps on the serial index (importer.py runs them): reserve every serial of an upload,
release what this import holds when it is undone, confirm the rows once it has finished.

The index rows live in one partition of their own (`~oath`), written in entity-group transactions of up to
`BATCH` rows; a serial taken meanwhile by a concurrent import fails its batch as a whole, and the import
starts over from validation (`StartOver`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from ...ports import KeyedStore, Keys
from ...store import Entity, StaleWrite, Tx, retry_on_conflict, same_version
from . import serial_index as oath_index
from .csv_upload import OathRow

log = logging.getLogger("twostep.oath")
T = TypeVar("T")

INDEX_PK = oath_index.INDEX_PK
BATCH = 100  # rows per entity-group transaction
WORKERS = 8  # the small thread pool that fits 1000 rows' reads and writes into the import's deadline


class StartOver(Exception):
    """Something changed between validation and writing: undo, then validate again."""


def parallel(fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def read_index(d: KeyedStore, keys: list[str]) -> dict[str, oath_index.Entry]:
    return oath_index.read(d, keys, parallel)


def _index_entity(d: Keys, r: OathRow, import_id: str, now: datetime, stale: Entity | None) -> Entity:
    entity = oath_index.entity(d, r.serial_key, r.upn, importId=import_id, reservedAt=now, state="reserved",
                               manufacturer=r.manufacturer, model=r.model)
    if stale is not None:
        same_version(entity, stale)  # take over only the row that was judged stale (If-Match)
    return entity


def reserve(d: KeyedStore, rows: list[OathRow], stale: dict[str, Entity], import_id: str, now: datetime) -> None:
    try:
        for chunk in _chunks(rows, BATCH):
            tx = Tx()
            for r in chunk:
                entity = _index_entity(d, r, import_id, now, stale.get(r.serial_key))
                if r.serial_key in stale:
                    tx.replace(entity)
                else:
                    tx.create(entity)
            d.store.transact(tx)
    except Exception as exc:
        release(d, [r.serial_key for r in rows], import_id)
        if isinstance(exc, StaleWrite):
            raise StartOver() from exc
        raise


def release(d: KeyedStore, keys: list[str], import_id: str) -> None:
    """Delete the index rows this import holds among `keys` (If-Match: only as they were read)."""
    def once() -> None:
        ours = [e.row for e in read_index(d, keys).values() if e.row.get("importId") == import_id]
        for chunk in _chunks(ours, BATCH):
            tx = Tx()
            for row in chunk:
                tx.delete_unchanged(row)
            d.store.transact(tx)

    if keys:
        retry_on_conflict(once, attempts=5)


def confirm(d: KeyedStore, rows: list[OathRow], import_id: str) -> None:
    """Mark the index rows `assigned`: from now on only the profiles say whether a serial is taken."""
    try:
        for chunk in _chunks(rows, BATCH):
            tx = Tx()
            for r in chunk:
                tx.merge_existing({"PartitionKey": INDEX_PK, "RowKey": oath_index.row_key(d, r.serial_key),
                                   "state": "assigned"})
            d.store.transact(tx)
    except Exception:  # noqa: BLE001 - the import has succeeded; reserved rows only wait out the grace period
        log.warning("import %s: index rows left reserved", import_id)
