"""Building rows: how a domain value becomes a Table entity, and how a write names the version it read.

The domain builds rows only through `new_row(...)` and hands a read row's version on with `same_version`
(an If-Match write) or `version` (to compare), so `TableEntity` and its `_metadata` stay in this package.
"""
from __future__ import annotations

from typing import Any

from azure.data.tables import TableEntity

from .table import Entity


def new_row(partition_key: str, row_key: str, **props: Any) -> Entity:
    """A new row; properties as given (the SDK writes None as an absent property)."""
    return TableEntity(PartitionKey=partition_key, RowKey=row_key, **props)


def same_version(entity: Entity, read: Entity | None) -> Entity:
    """`entity` carrying the ETag of `read` (the row as read before), so a conditional write of it
    fails when someone else wrote meanwhile; unchanged when nothing was read."""
    if read is not None:
        entity._metadata = read.metadata  # type: ignore[attr-defined]
    return entity


def version(read: Entity | None) -> object:
    """The version (ETag) of a row as read, or None for no row."""
    return None if read is None else read.metadata["etag"]  # type: ignore[attr-defined]
