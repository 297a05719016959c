"""The transaction primitives: a row's version (ETag), the operations of one entity-group transaction
(`Tx`), and the mapping of the SDK's errors to the service's (`storage_call`: a lost precondition is
`StaleWrite`, anything else `StorageUnavailable`)."""
from __future__ import annotations

import logging
from collections.abc import Callable
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
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode

from ..kernel.errors import StorageUnavailable

log = logging.getLogger("twostep.store")
T = TypeVar("T")
Entity = dict[str, Any]


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
