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
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode

from ..kernel.errors import Conflict
from .events import AuditEvent, audit_events
from .placement import Layout, filter_scope
from .router import ACCOUNT, Router
from .tx import Entity, StaleWrite, Tx, etag_of, storage_call

log = logging.getLogger("twostep.store")
T = TypeVar("T")
MAX_CONFLICT_RETRIES = 30
TX_LIMIT = 100  # operations in one entity-group transaction


def _table_missing(exc: ResourceNotFoundError) -> bool:
    return getattr(exc, "error_code", None) == "TableNotFound"


class Store:
    """Table Storage behind one interface, over one account or several (store/placement.py: user partitions
    by a stable hash of the user id, bookkeeping in account 0; store/router.py: a partition being moved)."""

    def __init__(self, table: Any, more: Sequence[Any] = (), layout: Layout | None = None) -> None:
        self.tables: list[Any] = [table, *more]
        self.table = table  # account 0: the bookkeeping partitions (and every partition with one account)
        self.layout = layout or Layout(len(self.tables))
        if self.layout.accounts != len(self.tables):
            raise ValueError("a table client is needed for every account of the layout")
        self.router = Router(self.layout, self._on)
        # Called before a transaction that writes audit events, with those events; a hook returns rows to
        # write first (due markers, shared/channels/due.py). If writing them fails, the transaction is not tried.
        self.before_commit: list[Callable[[list[AuditEvent]], list[Entity]]] = []
        # Called after each committed transaction with the audit events it stored (maybe none). A hook
        # must not raise: the decision is stored already; a failing hook is logged and the rest still run.
        self.after_commit: list[Callable[[list[AuditEvent]], None]] = []

    @property
    def tx_room(self) -> int:
        """Rows a transaction of the app may hold: one fewer while a rebalance runs, for the fence the store
        adds to a write to a partition that may be moving (store/router.py)."""
        return TX_LIMIT - (1 if self.layout.previous is not None else 0)

    # The table is provisioned by infra/ in Azure; locally it is created on first use.
    def _on(self, account: int, fn: Callable[[Any], T]) -> T:
        table = self.tables[account]
        try:
            return storage_call(lambda: fn(table))
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise
            storage_call(lambda: _create_table(table))
            return storage_call(lambda: fn(table))

    def _in(self, pk: str, fn: Callable[[Any], T]) -> tuple[int, T]:
        """Run a read in the account that holds partition `pk`; returns (account, result)."""
        account = self.router.where(pk).account
        return account, self._on(account, fn)

    def get(self, pk: str, rk: str) -> Entity | None:
        def read(table: Any) -> Entity | None:
            try:
                return table.get_entity(pk, rk)
            except ResourceNotFoundError as exc:
                if _table_missing(exc):
                    raise
                return None
        account, row = self._in(pk, read)
        return next(iter(self.router.tag([row], account)), None) if row is not None else None

    def get_many(self, pk: str, rks: Iterable[str]) -> dict[str, Entity]:
        """Several rows of one partition in a single round trip."""
        rks = list(rks)
        params = {"pk": pk, **{f"r{i}": rk for i, rk in enumerate(rks)}}
        rk_filter = " or ".join(f"RowKey eq @r{i}" for i in range(len(rks)))
        flt = f"PartitionKey eq @pk and ( {rk_filter} )"  # the SDK substitutes @names between spaces only
        account, rows = self._in(pk, lambda t: list(t.query_entities(flt, parameters=params)))
        return {row["RowKey"]: row for row in self.router.tag(rows, account)}

    def query_prefix(self, pk: str, prefix: str, limit: int = 100) -> list[Entity]:
        params = {"pk": pk, "lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)}
        flt = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"

        def read(table: Any) -> list[Entity]:
            out: list[Entity] = []
            for row in table.query_entities(flt, parameters=params, results_per_page=min(limit, 1000)):
                out.append(row)
                if len(out) >= limit:
                    break
            return out
        account, rows = self._in(pk, read)
        return self.router.tag(rows, account)

    def _scope(self, flt: str, params: dict[str, Any]) -> int | None:
        """The one account a filter needs, or None when it must run on every account."""
        if not self.router.multi:
            return 0
        scope = filter_scope(flt, params)
        return None if scope is None else self.router.where(scope).account

    def query(self, flt: str, params: dict[str, Any], select: list[str] | None = None) -> Iterator[Entity]:
        def read(table: Any) -> list[Entity]:
            return list(table.query_entities(flt, parameters=params, select=select))
        account = self._scope(flt, params)
        if account is not None:
            return iter(self.router.tag(self._on(account, read), account))
        rows: list[Entity] = []
        live: dict[str, int] = {}
        for i in range(len(self.tables)):
            rows += self.router.live(self.router.tag(self._on(i, read), i), i, live)
        return iter(sorted(rows, key=lambda r: (r.get("PartitionKey", ""), r.get("RowKey", ""))))

    def page(self, flt: str, params: dict[str, Any], size: int, token: dict[str, str] | None,
             select: list[str] | None = None) -> tuple[list[Entity], dict[str, str] | None]:
        """One page (at most `size` rows) of a cross-partition query, resumed from the service's own
        continuation token; returns the rows and the token of the next page (None at the end). Over several
        accounts the token also names the account (`account`), which a query spanning them reads in turn."""
        def read(table: Any, at: dict[str, str] | None) -> tuple[list[Entity], dict[str, str] | None]:
            query = table.query_entities(flt, parameters=params, results_per_page=size, select=select)
            pages = query.by_page(continuation_token=at)
            rows: list[Entity] = list(next(pages, []))
            return rows, pages.continuation_token
        account = self._scope(flt, params)
        if account is not None:
            while True:  # a page that held only a marker (router.py) is no answer: read on
                raw, token = self._on(account, functools.partial(_swap, read, token))
                rows = self.router.tag(raw, account)
                if rows or not raw or token is None:
                    return rows, token
        at = {k: v for k, v in (token or {}).items() if v and k != ACCOUNT}  # the service's own part
        named = str((token or {}).get(ACCOUNT) or "0")
        i = int(named) if named.isdigit() else len(self.tables)
        if i >= len(self.tables):  # a token of a layout with more accounts than now: nothing left there
            return [], None
        rows, nxt = self._on(i, lambda t: read(t, at or None))
        rows = self.router.live(self.router.tag(rows, i), i, {})
        if nxt is not None:
            return rows, {**nxt, ACCOUNT: str(i)}
        return rows, ({ACCOUNT: str(i + 1)} if i + 1 < len(self.tables) else None)

    def delete_unchanged(self, rows: list[Entity]) -> int:
        """Delete rows of one partition read earlier, each only if unchanged since (its ETag): one
        transaction, or row by row when one of them changed or vanished meanwhile. Returns how many
        were deleted or already gone."""
        if not rows:
            return 0
        where = self.router.where(rows[0]["PartitionKey"])
        if not self.router.check_versions([("delete", r, _conditional(r)) for r in rows], where.account):
            return 0  # read in another account: the partition moved since, and these rows with it
        fence = where.fence(rows[0]["PartitionKey"])
        if fence is not None and len(rows) >= TX_LIMIT:
            half = len(rows) // 2
            return self.delete_unchanged(rows[:half]) + self.delete_unchanged(rows[half:])

        def run(table: Any) -> int:
            try:
                table.submit_transaction([("delete", row, _conditional(row)) for row in rows] + _opt(fence))
                return len(rows)
            except TableTransactionError as exc:
                if exc.status_code not in (404, 409, 412):
                    raise
            if fence is not None:  # the marker or a row changed: nothing deleted; the caller reads again
                return 0
            done = 0
            for row in rows:
                try:
                    table.delete_entity(row, **_conditional(row))  # a missing row is not an error
                    done += 1
                except ResourceModifiedError:
                    continue
            return done
        return self._on(where.account, run)

    def upsert(self, entity: Entity) -> None:
        """Write a row whatever it held (for bookkeeping that decides nothing, like the purge cursor)."""
        where = self.router.where(entity["PartitionKey"])
        fence = where.fence(entity["PartitionKey"])
        if fence is None:
            self._on(where.account, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE))
        else:
            self._on(where.account, lambda t: t.submit_transaction(
                [("upsert", entity, {"mode": UpdateMode.REPLACE}), fence]))

    def _submit(self, ops: list[tuple]) -> None:
        """One entity-group transaction, in the account that holds its partition (with the fence of a
        partition a rebalance may be moving)."""
        pk = ops[0][1]["PartitionKey"]
        where = self.router.where(pk)
        if not self.router.check_versions(ops, where.account):
            raise StaleWrite()
        fence = where.fence(pk)
        self._on(where.account, lambda t: t.submit_transaction(ops + _opt(fence)))

    def transact(self, tx: Tx) -> None:
        if not tx.ops:
            return
        audits = audit_events(tx.ops) if self.before_commit or self.after_commit else []
        if audits:
            for hook in self.before_commit:
                self._write_first(hook(audits))
        self._submit(tx.ops)
        if self.after_commit:
            self._committed(audits)

    def _write_first(self, rows: list[Entity]) -> None:
        """Create rows a transaction depends on before it runs, one transaction per partition."""
        partitions: dict[str, list[tuple]] = {}
        for row in rows:
            partitions.setdefault(row["PartitionKey"], []).append(("create", row))
        for ops in partitions.values():
            self._submit(ops)

    def _committed(self, events: list[AuditEvent]) -> None:
        for hook in self.after_commit:
            try:
                hook(events)
            except Exception:  # noqa: BLE001 - the commit stands; a hook's failure is the operator's to see
                log.exception("after-commit hook failed", extra={"event": "after_commit_failed"})

    def ping(self) -> None:
        for i in range(len(self.tables)):
            self._on(i, lambda t: list(t.query_entities("PartitionKey eq @pk", parameters={"pk": "~"},
                                                        results_per_page=1)))


def _swap(read: Callable[[Any, Any], T], token: Any, table: Any) -> T:
    return read(table, token)


def _create_table(table: Any) -> None:
    try:
        table.create_table()
    except ResourceExistsError:
        pass


def _conditional(row: Entity) -> dict[str, Any]:
    return {"etag": etag_of(row), "match_condition": MatchConditions.IfNotModified}


def _opt(op: tuple | None) -> list[tuple]:
    return [op] if op is not None else []


def retry_on_conflict(fn: Callable[[], T], attempts: int = MAX_CONFLICT_RETRIES) -> T:
    """Run a read-decide-write step again when its write lost a race; never decide on stale data."""
    for attempt in range(attempts):
        try:
            return fn()
        except StaleWrite:
            time.sleep(random.uniform(0, min(0.005 * 2 ** attempt, 0.25)))
    raise Conflict()
