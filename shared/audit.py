"""Audit events: one row per decision, written in the same transaction as the decision itself (same
partition), so a decision is never recorded without its event or the reverse. Events never hold a
code, a secret or a full phone number."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from azure.data.tables import TableEntity

from .clock import iso
from .ids import AUDIT_PREFIX, random_token

_MAX_MS = 10**13


def audit_row(user_id: str, now: datetime, event: str, actor: str, retention_days: int,
              **detail: Any) -> TableEntity:
    inverted = _MAX_MS - 1 - int(now.timestamp() * 1000)  # newest first in row-key order
    return TableEntity(
        PartitionKey=user_id,
        RowKey=f"{AUDIT_PREFIX}{inverted:013d}|{random_token(6)}",
        at=now, event=event, actor=actor,
        detail=json.dumps({k: v for k, v in detail.items() if v is not None}, default=str, sort_keys=True),
        purgeAfter=now + timedelta(days=retention_days),
    )


def audit_view(row: TableEntity) -> dict[str, Any]:
    return {"at": iso(row["at"]), "event": row["event"], "actor": row["actor"],
            **json.loads(row.get("detail") or "{}")}
