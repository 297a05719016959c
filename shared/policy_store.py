"""Where the policy document lives: one row (partition `~policy`, which no user id can name), updated
with its ETag, read through a short in-process cache so a sign-in rarely pays a round trip for it.

A change made on one instance reaches the others within CACHE_SECONDS.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.data.tables import TableEntity

from .audit import audit_row
from .config import Settings
from .errors import InvalidRequest, Misconfigured
from .policy import Policy, apply_patch, defaults, from_doc
from .store import Store, Tx, retry_on_conflict

log = logging.getLogger("twostep.policy")
POLICY_PK, POLICY_RK = "~policy", "policy"
CACHE_SECONDS = 15.0
CHUNK = 30_000  # characters per string property (Table Storage allows 64 KiB, i.e. 32K UTF-16 units)
MAX_CHUNKS = 30  # with the other properties this stays under the 1 MiB entity limit


def _encode(doc: dict[str, Any]) -> dict[str, str]:
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
    chunks = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    if len(chunks) > MAX_CHUNKS:
        raise InvalidRequest("The policy document is too large to store (about 900 KB at most).",
                             field="trustedNetworks")
    return {f"doc{i}": chunk for i, chunk in enumerate(chunks)}


def _decode(row: TableEntity) -> dict[str, Any]:
    parts, i = [], 0
    while f"doc{i}" in row:
        parts.append(row[f"doc{i}"])
        i += 1
    return json.loads("".join(parts))


def _audit_value(key: str, value: Any) -> Any:
    """Old and new values go into the audit record; a very long network list is summarised by hash."""
    text = json.dumps(value, sort_keys=True)
    if len(text) <= 4000:
        return value
    digest = hashlib.sha256(text.encode()).hexdigest()
    if key == "trustedNetworks":
        return {"locations": {n["name"]: len(n["cidrs"]) for n in value}, "sha256": digest}
    return {"sha256": digest}


class PolicyStore:
    def __init__(self, store: Store, settings: Settings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.settings = settings
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, Policy] | None = None

    def read(self) -> tuple[Policy, TableEntity | None]:
        """The stored policy, bypassing the cache."""
        row = self.store.get(POLICY_PK, POLICY_RK)
        if row is None:
            return defaults(self.settings), row
        try:
            return from_doc(_decode(row), self.settings), row
        except (InvalidRequest, ValueError) as exc:  # e.g. settings bounds narrowed since it was stored
            log.critical("stored policy is not valid under the current settings: %s", exc)
            raise Misconfigured() from None

    def current(self) -> Policy:
        now = self._monotonic()
        cached = self._cached
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        policy, _ = self.read()
        with self._lock:
            self._cached = (now, policy)
        return policy

    def patch(self, body: Any, actor: str, now: datetime) -> Policy:
        def attempt() -> Policy:
            old, row = self.read()
            new = apply_patch(old, body)
            old_doc, new_doc = old.to_doc(), new.to_doc()
            entity = TableEntity(PartitionKey=POLICY_PK, RowKey=POLICY_RK, updatedAt=now, updatedBy=actor,
                                 **_encode(new_doc))
            tx = Tx()
            if row is None:
                tx.create(entity)
            else:
                entity._metadata = row.metadata
                tx.replace(entity)
            changed = sorted(k for k in new_doc if new_doc[k] != old_doc[k])
            tx.create(audit_row(POLICY_PK, now, "policy_changed", actor, self.settings.audit_retention_days,
                                changed=changed,
                                old={k: _audit_value(k, old_doc[k]) for k in changed},
                                new={k: _audit_value(k, new_doc[k]) for k in changed}))
            self.store.transact(tx)
            return new

        policy = retry_on_conflict(attempt)
        with self._lock:
            self._cached = (self._monotonic(), policy)
        return policy
