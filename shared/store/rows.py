"""Building rows: how a domain value becomes a Table entity, and how a write names the version it read.

The domain builds rows only through `new_row(...)` and hands a read row's version on with `same_version`
(an If-Match write) or `version` (to compare), so `TableEntity` and its `_metadata` stay in this package.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from azure.data.tables import TableEntity

from ..kernel.ids import AUDIT_PREFIX, random_token
from .events import inverted
from .tx import Entity, carry_version, etag_of


def new_row(partition_key: str, row_key: str, **props: Any) -> Entity:
    """A new row; properties as given (the SDK writes None as an absent property)."""
    return TableEntity(PartitionKey=partition_key, RowKey=row_key, **props)


def same_version(entity: Entity, read: Entity | None) -> Entity:
    """`entity` carrying the ETag of `read` (the row as read before), so a conditional write of it
    fails when someone else wrote meanwhile; unchanged when nothing was read."""
    if read is not None:
        carry_version(entity, read)
    return entity


def version(read: Entity | None) -> object:
    """The version (ETag) of a row as read, or None for no row."""
    return None if read is None else etag_of(read)


def audit_row(user_id: str, now: datetime, event: str, actor: str, retention_days: int,
              **detail: Any) -> Entity:
    """The row of one audit event (detail without None values; never a secret: the caller's duty)."""
    return new_row(
        user_id, f"{AUDIT_PREFIX}{inverted(now)}|{random_token(6)}",
        at=now, event=event, actor=actor,
        detail=json.dumps({k: v for k, v in detail.items() if v is not None}, default=str, sort_keys=True),
        purgeAfter=now + timedelta(days=retention_days),
    )
