"""The store package: the one place that knows Table Storage (entities, ETags, `_metadata`, transaction
operations, the SDK's errors).

The domain reads rows through `Store`, changes them, and commits one partition's changes with their audit
events in one ETag-conditional `Tx` inside `retry_on_conflict`. `Store.after_commit` is the single point
after a commit: each hook gets the `AuditEvent`s that transaction stored (security events attach there).
`rows.py` is how the domain builds a row (`new_row`) and hands on the ETag of a row it read
(`same_version`, `version`), so no module outside this package touches `TableEntity` or `_metadata`.
"""
from .events import AuditEvent, audit_events
from .rows import new_row, same_version, version
from .table import MAX_CONFLICT_RETRIES, Entity, StaleWrite, Store, Tx, retry_on_conflict, storage_call

__all__ = ["MAX_CONFLICT_RETRIES", "AuditEvent", "Entity", "StaleWrite", "Store", "Tx", "audit_events",
           "new_row", "retry_on_conflict", "same_version", "storage_call", "version"]
