"""An in-memory table with the TableClient surface `Store` calls, so `Store` (its hooks, retries and error
mapping) runs unchanged on top of it and the flow rules can be tested in milliseconds.

For tests and tools only: no production path imports it (tests/unit/test_layers.py checks). It matches
what the code depends on, and tests/integration/test_store_contract.py runs the same cases against Azurite
and this table so the two cannot drift:
- rows are kept in the wire form the SDK sends (its own serializer) and read back through its own
  deserializer, so types round-trip as from the service (datetimes as UTC `TablesEntityDatetime`, None
  written as an absent property, `metadata` with `etag` and `timestamp`);
- every write gives the row a new ETag; If-Match updates and deletes raise `ResourceModifiedError` (412),
  create on an existing key `ResourceExistsError` (409), update of a missing row `ResourceNotFoundError`;
  a delete of a missing row is no error (the SDK swallows that 404);
- an entity-group transaction is all or nothing: one partition, at most 100 operations, no row twice, and
  a failing operation fails it with `TableTransactionError` carrying that operation's status and index;
- filters go through the SDK's own @param substitution, then a parser of the OData subset the code uses
  (eq ne lt le gt ge, and or not, parentheses, string/datetime/int/long/double/bool/guid/binary literals);
  a comparison with an absent property or a value of another type is false, as in the service; anything
  else is a 400 (`HttpResponseError`), so a filter the fake does not know fails loudly;
- results come ordered by PartitionKey then RowKey, `select` keeps only the named properties, and pages
  carry the service's continuation token ({"PartitionKey", "RowKey"} of the next row).
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode
from azure.data.tables._deserialize import _convert_to_entity
from azure.data.tables._serialize import _add_entity_properties, _parameter_filter_substitution

from .odata import Predicate, parse_filter

MAX_TRANSACTION_OPS = 100
MAX_PAGE = 1000
Wire = dict[str, Any]


E = TypeVar("E", bound=HttpResponseError)


def _error(cls: type[E], status: int | None, code: str | None, message: str) -> E:
    exc = cls(message=message)
    exc.status_code, exc.error_code = status, code  # type: ignore[attr-defined]  # what the SDK's decoded errors carry
    return exc


def _code(exc: HttpResponseError) -> str | None:
    """The service's error code, as the SDK's decoded errors carry it (not in the SDK's type hints)."""
    return getattr(exc, "error_code", None)


def _not_found(table_missing: bool = False) -> HttpResponseError:
    code = "TableNotFound" if table_missing else "ResourceNotFound"
    return _error(ResourceNotFoundError, 404, code, "The specified resource does not exist.")


def _keys(entity: Any) -> tuple[str, str]:
    return entity["PartitionKey"], entity["RowKey"]


def _etag_of(entity: Any, kwargs: dict[str, Any]) -> str | None:
    """The ETag an operation is conditional on, as the SDK finds it (explicit, else the entity's own)."""
    if kwargs.get("match_condition") != MatchConditions.IfNotModified:
        return None
    etag = kwargs.get("etag") or (entity.metadata.get("etag") if isinstance(entity, TableEntity) else None)
    if not etag:
        raise ValueError("IfNotModified must be specified with etag.")
    return etag


class _Pages:
    """The pager `by_page` returns: an iterator of pages with the token of the next one."""

    def __init__(self, rows: list[TableEntity], size: int, token: dict[str, str] | None) -> None:
        after = (token.get("PartitionKey", ""), token.get("RowKey", "")) if token else None
        self._at = next((i for i, r in enumerate(rows) if _keys(r) >= after), len(rows)) if after else 0
        self._rows, self._size, self._done = rows, size, False
        self.continuation_token: dict[str, str] | None = None

    def __iter__(self) -> _Pages:
        return self

    def __next__(self) -> list[TableEntity]:
        if self._done:
            raise StopIteration
        page = self._rows[self._at:self._at + self._size]
        self._at += len(page)
        nxt = self._rows[self._at] if self._at < len(self._rows) else None
        self._done = nxt is None
        self.continuation_token = None if nxt is None else {"PartitionKey": nxt["PartitionKey"],
                                                            "RowKey": nxt["RowKey"]}
        return page


class _Query:
    """The ItemPaged `query_entities` returns: iterable over all rows, or page by page."""

    def __init__(self, rows: list[TableEntity], size: int | None) -> None:
        self._rows, self._size = rows, min(size or MAX_PAGE, MAX_PAGE)

    def __iter__(self):
        return iter(self._rows)

    def by_page(self, continuation_token: dict[str, str] | None = None) -> _Pages:
        return _Pages(self._rows, self._size, continuation_token)


class MemoryTable:
    """One table, in memory, behind the TableClient methods the project calls."""

    def __init__(self, table_name: str = "memory") -> None:
        self.table_name = table_name
        self._rows: dict[tuple[str, str], Wire] | None = None  # None: the table does not exist yet
        self._lock = threading.RLock()
        self._last = datetime.min.replace(tzinfo=timezone.utc)

    # -- the table itself
    def create_table(self, **_: Any) -> None:
        with self._lock:
            if self._rows is not None:
                raise _error(ResourceExistsError, 409, "TableAlreadyExists", "The table specified already exists.")
            self._rows = {}

    def delete_table(self, **_: Any) -> None:
        with self._lock:
            self._rows = None

    def _table(self) -> dict[tuple[str, str], Wire]:
        if self._rows is None:
            raise _not_found(table_missing=True)
        return self._rows

    # -- reads
    def _entity(self, wire: Wire, select: list[str] | None = None) -> TableEntity:
        if select is not None:
            wire = {k: v for k, v in wire.items()
                    if k.split("@", 1)[0] in select or k == "odata.etag"}
        return _convert_to_entity(wire)

    def get_entity(self, partition_key: str, row_key: str, **kwargs: Any) -> TableEntity:
        with self._lock:
            wire = self._table().get((partition_key, row_key))
            if wire is None:
                raise _not_found()
            return self._entity(wire, _select(kwargs.get("select")))

    def query_entities(self, query_filter: str, *, parameters: dict[str, Any] | None = None,
                       select: str | list[str] | None = None, results_per_page: int | None = None,
                       **_: Any) -> _Query:
        text = _parameter_filter_substitution(parameters, query_filter)  # a KeyError for "(@x" as in the SDK
        try:
            predicate: Predicate | None = parse_filter(text)
        except ValueError as exc:
            raise _error(HttpResponseError, 400, "InvalidInput", f"bad filter: {exc}") from None
        return self._select_rows(predicate, select, results_per_page)

    def list_entities(self, *, select: str | list[str] | None = None, results_per_page: int | None = None,
                      **_: Any) -> _Query:
        return self._select_rows(None, select, results_per_page)

    def _select_rows(self, predicate: Predicate | None, select: Any, size: int | None) -> _Query:
        with self._lock:
            rows = [w for _, w in sorted(self._table().items()) if predicate is None or predicate(w)]
            return _Query([self._entity(w, _select(select)) for w in rows], size)

    # -- single writes
    def create_entity(self, entity: Any, **_: Any) -> dict[str, Any]:
        with self._lock:
            self._apply(self._table(), "create", entity, {})
        return {}

    def update_entity(self, entity: Any, mode: UpdateMode | str = UpdateMode.MERGE, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self._apply(self._table(), "update", entity, {"mode": mode, **kwargs})
        return {}

    def upsert_entity(self, entity: Any, mode: UpdateMode | str = UpdateMode.MERGE, **_: Any) -> dict[str, Any]:
        with self._lock:
            self._apply(self._table(), "upsert", entity, {"mode": mode})
        return {}

    def delete_entity(self, *args: Any, **kwargs: Any) -> None:
        entity = kwargs.pop("entity", None) or (args[0] if args and not isinstance(args[0], str) else None)
        key = _keys(entity) if entity is not None else (kwargs.pop("partition_key", None) or args[0],
                                                        kwargs.pop("row_key", None) or args[1])
        with self._lock:
            try:
                self._apply(self._table(), "delete", entity or {"PartitionKey": key[0], "RowKey": key[1]}, kwargs)
            except ResourceNotFoundError as exc:
                if _code(exc) == "TableNotFound":
                    raise

    # -- entity-group transactions
    def submit_transaction(self, operations: Any, **_: Any) -> list[dict[str, Any]]:
        ops = [(op[0], op[1], op[2] if len(op) > 2 else {}) for op in operations]
        partitions = {op[1]["PartitionKey"] for op in ops}
        if len(partitions) > 1:
            raise ValueError("Partition Keys in the batch must all be the same.")
        with self._lock:
            if not ops:
                return []
            if self._rows is None:  # the service answers a batch on a missing table as a failed batch
                raise self._failed(_not_found(table_missing=True), 0)
            table = self._rows
            if len(ops) > MAX_TRANSACTION_OPS:
                raise self._failed(_error(HttpResponseError, 400, "InvalidInput",
                                          "The batch request contains too many operations."), 0)
            if len({_keys(op[1]) for op in ops}) < len(ops):
                raise self._failed(_error(HttpResponseError, 400, "InvalidDuplicateRow",
                                          "The batch request contains multiple changes with same row key."), 0)
            staged = dict(table)  # all or nothing: apply to a copy, keep it only if every operation held
            for index, (kind, entity, kwargs) in enumerate(ops):
                try:
                    self._apply(staged, kind, entity, kwargs)
                except HttpResponseError as exc:
                    raise self._failed(exc, index) from None
            table.clear()
            table.update(staged)
        return [{} for _ in ops]

    @staticmethod
    def _failed(exc: HttpResponseError, index: int) -> TableTransactionError:
        return _error(TableTransactionError, exc.status_code, _code(exc), f"{index}:{exc.message}")

    # -- the one place rows change
    def _apply(self, rows: dict[tuple[str, str], Wire], kind: str, entity: Any, kwargs: dict[str, Any]) -> None:
        key = _keys(entity)
        current = rows.get(key)
        if kind == "create":
            if current is not None:
                raise _error(ResourceExistsError, 409, "EntityAlreadyExists", "The specified entity already exists.")
            rows[key] = self._stamped(_add_entity_properties(entity))
            return
        if kind in ("update", "delete"):  # If-Match: the row must exist, with the ETag named if one is
            etag = _etag_of(entity, kwargs)
            if current is None:
                raise _not_found()
            if etag is not None and etag != current["odata.etag"]:
                raise _error(ResourceModifiedError, 412, "UpdateConditionNotSatisfied",
                             "The update condition specified in the request was not satisfied.")
            if kind == "delete":
                del rows[key]
                return
        props = _add_entity_properties(entity)
        if UpdateMode(kwargs.get("mode", UpdateMode.MERGE)) == UpdateMode.MERGE and current is not None:
            merged = {k: v for k, v in current.items() if not k.startswith("odata.") and k != "Timestamp"}
            for name in props:
                merged.pop(f"{name}@odata.type", None)
            props = {**merged, **props}
        rows[key] = self._stamped(props)

    def _stamped(self, props: Wire) -> Wire:
        """The row as stored: its properties, the service's Timestamp and a new ETag derived from it."""
        now = max(datetime.now(timezone.utc), self._last + timedelta(microseconds=1))
        self._last = now
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # the service's seven fractional digits
        return {**props, "Timestamp": stamp, "odata.etag": f"W/\"datetime'{quote(stamp)}'\""}


def _select(select: str | list[str] | None) -> list[str] | None:
    if select is None:
        return None
    return [s.strip() for s in select.split(",")] if isinstance(select, str) else list(select)
