"""Audit rows: their newest-first key order, and what a commit hands its after-commit hooks: the audit
events written by the transaction, as values (never the rows), so a publisher needs no knowledge of
Table Storage."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..kernel.ids import AUDIT_PREFIX

_MAX_MS = 10**13


@dataclass(frozen=True)
class AuditEvent:
    user_id: str
    at: datetime
    event: str
    actor: str
    detail: dict[str, Any]
    row_key: str = ""  # the audit row's key: a stable identity for the event published from it


def audit_events(ops: list[tuple]) -> list[AuditEvent]:
    """The audit rows a transaction creates or updates (a coalesced refusal is updated in place)."""
    events = []
    for op in ops:
        entity = op[1]
        if op[0] in ("create", "update") and str(entity.get("RowKey", "")).startswith(AUDIT_PREFIX):
            events.append(AuditEvent(entity["PartitionKey"], entity["at"], entity["event"], entity["actor"],
                                     json.loads(entity.get("detail") or "{}"), entity["RowKey"]))
    return events


def inverted(at: datetime) -> str:
    """A row-key part that sorts newest first."""
    return f"{_MAX_MS - 1 - int(at.timestamp() * 1000):013d}"

