"""Table Storage access: point reads, one-round-trip multi-row reads, entity-group transactions.

Every deciding write goes through `transact`, whose updates carry the ETag read before (If-Match); a
concurrent change surfaces as `StaleWrite` and the caller re-reads and decides again. Any transport or
service failure becomes `StorageUnavailable` (503): the service fails closed and recovers on its own,
since the clients are rebuilt by nothing and simply reconnect.
"""
from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from ..kernel.errors import Conflict, StorageUnavailable
from .events import AuditEvent, audit_events

log = logging.getLogger("twostep.store")
T = TypeVar("T")
Entity = dict[str, Any]
MAX_CONFLICT_RETRIES = 30


def etag_of(row: Entity) -> str | None:
    """The ETag a row was read with (the SDK's TableEntity carries it); None for a row never read."""
    return row.metadata["etag"] if isinstance(row, TableEntity) else None


def carry_version(entity: Entity, read: Entity) -> None:
    """Make `entity` carry the ETag `read` was read with, so a conditional write of it names that version."""
    if not (isinstance(entity, TableEntity) and isinstance(read, TableEntity)):
        raise TypeError("only a TableEntity (new_row, or a row read) carries a version")
    entity._metadata = read.metadata


class StaleWrite(Exception):
    """An If-Match or create-if-absent precondition failed: someone else wrote first."""


@dataclass
class Tx:
    """The operations of one entity-group transaction (one partition, at most 100 rows)."""

    ops: list[tuple] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many rows the transaction writes (an entity-group transaction takes at most 100)."""
        return len(self.ops)

    def create(self, entity: Entity) -> Tx:
        self.ops.append(("create", entity))
        return self

    def _if_unchanged(self, entity: Entity, mode: UpdateMode) -> Tx:
        etag = etag_of(entity)
        if etag is None:
            raise ValueError("a conditional update needs an entity read from the table")
        self.ops.append(("update", entity, {"mode": mode, "etag": etag,
                                            "match_condition": MatchConditions.IfNotModified}))
        return self

    def replace(self, entity: Entity) -> Tx:
        """Replace a row read earlier, only if it has not changed since (its ETag)."""
        return self._if_unchanged(entity, UpdateMode.REPLACE)

    def write_over(self, entity: Entity, read: Entity | None) -> Tx:
        """Create `entity` when `read` (the row as read before) was absent, else replace that row only if
        it has not changed since: either way a concurrent writer makes the transaction fail."""
        if read is None:
            return self.create(entity)
        carry_version(entity, read)
        return self.replace(entity)

    def merge_if_unchanged(self, entity: Entity) -> Tx:
        """Merge properties into a row read earlier, only if it has not changed since (its ETag)."""
        return self._if_unchanged(entity, UpdateMode.MERGE)

    def merge_existing(self, entity: Entity) -> Tx:
        """Merge properties into a row that must exist (If-Match: *); for non-deciding fields."""
        self.ops.append(("update", entity, {"mode": UpdateMode.MERGE}))
        return self

    def delete(self, entity: Entity) -> Tx:
        self.ops.append(("delete", entity))
        return self

    def delete_unchanged(self, entity: Entity) -> Tx:
        """Delete a row read earlier, only if it has not changed since (its ETag)."""
        self.ops.append(("delete", entity, {"match_condition": MatchConditions.IfNotModified}))
        return self


def storage_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (ResourceModifiedError, ResourceExistsError, TableTransactionError) as exc:
        status = getattr(exc, "status_code", None)
        if isinstance(exc, TableTransactionError) and status not in (409, 412):
            if status == 404 and getattr(exc, "error_code", None) != "TableNotFound":
                raise StaleWrite() from exc  # a row it was to change vanished meanwhile: a lost race
            raise StorageUnavailable() from exc
        raise StaleWrite() from exc
    except ResourceNotFoundError:
        raise
    except HttpResponseError as exc:
        if exc.status_code in (409, 412):
            raise StaleWrite() from exc
        log.warning("storage answered %s", exc.status_code)
        raise StorageUnavailable(retry_after=2) from exc
    except AzureError as exc:
        log.warning("storage unreachable: %s", type(exc).__name__)
        raise StorageUnavailable(retry_after=2) from exc


def _table_missing(exc: ResourceNotFoundError) -> bool:
    return getattr(exc, "error_code", None) == "TableNotFound"


class Store:
    def __init__(self, table: TableClient) -> None:
        self.table = table
        # Called before a transaction that writes audit events, with those events; a hook returns rows to
        # write first (due markers, shared/channels/due.py). If writing them fails, the transaction is not tried.
        self.before_commit: list[Callable[[list[AuditEvent]], list[Entity]]] = []
        # Called after each committed transaction with the audit events it stored (maybe none). A hook
        # must not raise: the decision is stored already; a failing hook is logged and the rest still run.
        self.after_commit: list[Callable[[list[AuditEvent]], None]] = []

    # The table is provisioned by infra/ in Azure; locally it is created on first use.
    def _with_table(self, fn: Callable[[], T]) -> T:
        try:
            return storage_call(fn)
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise
            storage_call(self._create_table)
            return storage_call(fn)

    def _create_table(self) -> None:
        try:
            self.table.create_table()
        except ResourceExistsError:
            pass

    def get(self, pk: str, rk: str) -> Entity | None:
        def read() -> Entity | None:
            try:
                return self.table.get_entity(pk, rk)
            except ResourceNotFoundError as exc:
                if _table_missing(exc):
                    raise
                return None
        return self._with_table(read)

    def get_many(self, pk: str, rks: Iterable[str]) -> dict[str, Entity]:
        """Several rows of one partition in a single round trip."""
        rks = list(rks)
        params = {"pk": pk, **{f"r{i}": rk for i, rk in enumerate(rks)}}
        rk_filter = " or ".join(f"RowKey eq @r{i}" for i in range(len(rks)))
        flt = f"PartitionKey eq @pk and ( {rk_filter} )"  # the SDK substitutes @names between spaces only
        rows = self._with_table(lambda: list(self.table.query_entities(flt, parameters=params)))
        return {row["RowKey"]: row for row in rows}

    def query_prefix(self, pk: str, prefix: str, limit: int = 100) -> list[Entity]:
        params = {"pk": pk, "lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)}
        flt = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"

        def read() -> list[Entity]:
            out: list[Entity] = []
            for row in self.table.query_entities(flt, parameters=params, results_per_page=min(limit, 1000)):
                out.append(row)
                if len(out) >= limit:
                    break
            return out
        return self._with_table(read)

    def query(self, flt: str, params: dict[str, Any], select: list[str] | None = None) -> Iterator[Entity]:
        rows = self._with_table(lambda: list(self.table.query_entities(flt, parameters=params, select=select)))
        return iter(rows)

    def page(self, flt: str, params: dict[str, Any], size: int, token: dict[str, str] | None,
             select: list[str] | None = None) -> tuple[list[Entity], dict[str, str] | None]:
        """One page (at most `size` rows) of a cross-partition query, resumed from the service's own
        continuation token; returns the rows and the token of the next page (None at the end)."""
        def read() -> tuple[list[Entity], dict[str, str] | None]:
            query = self.table.query_entities(flt, parameters=params, results_per_page=size, select=select)
            pages = query.by_page(continuation_token=token)  # type: ignore[arg-type]  # a dict, though typed str
            rows: list[Entity] = list(next(pages, []))
            return rows, pages.continuation_token  # type: ignore[attr-defined]  # the SDK's pager sets it
        return self._with_table(read)

    def delete_unchanged(self, rows: list[Entity]) -> int:
        """Delete rows of one partition read earlier, each only if unchanged since (its ETag): one
        transaction, or row by row when one of them changed or vanished meanwhile. Returns how many
        were deleted or already gone."""
        def conditional(row: Entity) -> dict[str, Any]:
            return {"etag": etag_of(row), "match_condition": MatchConditions.IfNotModified}

        def run() -> int:
            try:
                self.table.submit_transaction([("delete", row, conditional(row)) for row in rows])
                return len(rows)
            except TableTransactionError as exc:
                if exc.status_code not in (404, 412):
                    raise
            done = 0
            for row in rows:
                try:
                    self.table.delete_entity(row, **conditional(row))  # a missing row is not an error
                    done += 1
                except ResourceModifiedError:
                    continue
            return done
        return self._with_table(run) if rows else 0

    def upsert(self, entity: Entity) -> None:
        """Write a row whatever it held (for bookkeeping that decides nothing, like the purge cursor)."""
        self._with_table(lambda: self.table.upsert_entity(entity, mode=UpdateMode.REPLACE))

    def transact(self, tx: Tx) -> None:
        if not tx.ops:
            return
        audits = audit_events(tx.ops) if self.before_commit or self.after_commit else []
        if audits:
            for hook in self.before_commit:
                self._write_first(hook(audits))
        self._with_table(lambda: self.table.submit_transaction(tx.ops))
        if self.after_commit:
            self._committed(audits)

    def _write_first(self, rows: list[Entity]) -> None:
        """Create rows a transaction depends on before it runs, one transaction per partition."""
        partitions: dict[str, list[tuple]] = {}
        for row in rows:
            partitions.setdefault(row["PartitionKey"], []).append(("create", row))
        for ops in partitions.values():
            self._with_table(functools.partial(self.table.submit_transaction, ops))

    def _committed(self, events: list[AuditEvent]) -> None:
        for hook in self.after_commit:
            try:
                hook(events)
            except Exception:  # noqa: BLE001 - the commit stands; a hook's failure is the operator's to see
                log.exception("after-commit hook failed", extra={"event": "after_commit_failed"})

    def ping(self) -> None:
        self._with_table(lambda: list(self.table.query_entities("PartitionKey eq @pk", parameters={"pk": "~"},
                                                                results_per_page=1)))


def retry_on_conflict(fn: Callable[[], T], attempts: int = MAX_CONFLICT_RETRIES) -> T:
    """Run a read-decide-write step again when its write lost a race; never decide on stale data."""
    for attempt in range(attempts):
        try:
            return fn()
        except StaleWrite:
            time.sleep(random.uniform(0, min(0.005 * 2 ** attempt, 0.25)))
    raise Conflict()
