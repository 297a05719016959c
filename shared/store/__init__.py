"""The store package: the one place that knows Table Storage (entities, ETags, `_metadata`, transaction
operations, the SDK's errors).

- `unit.py`: `UserRows`, the unit of work of one user's partition. A flow loads it (profile plus named
  rows, one query; `Deps.in_unit` does so afresh inside `retry_on_conflict`), reads typed models
  (`profile`, `challenge(rk)`, `bypass(rk)`, raw `row(rk)` for rows with no model), registers changes
  (`add`, `save` = If-Match with the ETag read, `delete`, `put`, `patch`, `audit`) and `commit`s them in
  one entity-group transaction; a lost race raises `StaleWrite` and the flow decides again.
- `mapping.py`: models <-> rows (`to_entity`, `profile_from`, `challenge_from`, `bypass_from`).
- `table.py`: `Store` (reads, `transact`, `after_commit` hooks that get each commit's `AuditEvent`s),
  `Tx`, `retry_on_conflict`; `rows.py`: `new_row`, `audit_row`, `same_version`, `version` for the
  bookkeeping writes outside a user's decision (policy, counters, indexes, cursors), which keep `Tx`.
- What is purely storage: `audit.py` (audit views, the coalesced refusal counter), `policy_store.py` (the
  policy document over chunk rows), `index_key.py` (the sealed index key), `idempotency.py` (the record).
"""
from .events import AuditEvent, audit_events, inverted
from .mapping import bypass_from, challenge_from, profile_from, to_entity
from .rows import audit_row, new_row, same_version, version
from .table import MAX_CONFLICT_RETRIES, Store, retry_on_conflict
from .tx import Entity, StaleWrite, Tx, storage_call
from .unit import UserRows, in_unit

__all__ = ["MAX_CONFLICT_RETRIES", "AuditEvent", "Entity", "StaleWrite", "Store", "Tx", "UserRows", "audit_events",
           "audit_row", "bypass_from", "challenge_from", "in_unit", "inverted", "new_row", "profile_from",
           "retry_on_conflict", "same_version", "storage_call", "to_entity", "version"]
