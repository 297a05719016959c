"""Where the policy document lives: one row (partition `~policy`, which no user id can name), updated
with its ETag, read through a short in-process cache so a sign-in rarely pays a round trip for it.

A change made on one instance reaches the others within CACHE_SECONDS. The refresh is single-flight (P1):
one thread per instance checks the row's ETag (a small query that leaves the document behind) while every
other request keeps the cached policy; only a first load, with nothing cached, waits for it. The document
is parsed, and its trusted networks merged into a `NetworkSet`, once per stored version: a policy at the
documented maximum (195 x 2000 ranges) takes seconds to parse but a warm begin only a binary search
(`tools/bench_policy.py` measures both).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .config import Settings
from .errors import InvalidRequest, Misconfigured
from .policy import Policy, apply_patch, defaults, from_doc
from .store import Entity, Store, Tx, audit_row, new_row, retry_on_conflict, version

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


def _decode(row: Entity) -> dict[str, Any]:
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


_UNKNOWN = object()  # the version of a policy this instance wrote itself: the next refresh re-reads it


@dataclass(frozen=True)
class _Cached:
    checked: float  # monotonic time of the last check against the stored row
    version: object  # the row's ETag (None: no row, the defaults)
    policy: Policy


class PolicyStore:
    def __init__(self, store: Store, settings: Settings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.settings = settings
        self._monotonic = monotonic
        self._lock = threading.Lock()  # guards _cached
        self._refresh = threading.Lock()  # held by the one thread that refreshes
        self._cached: _Cached | None = None

    def read(self) -> tuple[Policy, Entity | None]:
        """The stored policy, bypassing the cache."""
        row = self.store.get(POLICY_PK, POLICY_RK)
        if row is None:
            return defaults(self.settings), row
        try:
            return from_doc(_decode(row), self.settings), row
        except (InvalidRequest, ValueError) as exc:  # e.g. settings bounds narrowed since it was stored
            log.critical("stored policy is not valid under the current settings: %s", exc)
            raise Misconfigured() from None

    def _fresh(self) -> _Cached | None:
        cached = self._cached
        if cached is not None and self._monotonic() - cached.checked < CACHE_SECONDS:
            return cached
        return None

    def current(self) -> Policy:
        """The policy in force: cached, refreshed by one thread at a time when CACHE_SECONDS have passed."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh.policy
        stale = self._cached
        if not self._refresh.acquire(blocking=stale is None):
            return stale.policy  # another thread is refreshing: serve what we have
        try:
            fresh = self._fresh()  # refreshed while this thread waited (a first load)
            if fresh is not None:
                return fresh.policy
            return self._reload(self._cached).policy
        finally:
            self._refresh.release()

    def _reload(self, stale: _Cached | None) -> _Cached:
        """Check the stored version; parse the document only when it is not the one cached."""
        checked = self._monotonic()
        if stale is not None and stale.version is not _UNKNOWN:
            rows = list(self.store.query("PartitionKey eq @pk and RowKey eq @rk", {"pk": POLICY_PK, "rk": POLICY_RK},
                                         select=["RowKey"]))
            if version(rows[0] if rows else None) == stale.version:
                return self._keep(_Cached(checked, stale.version, stale.policy))
        policy, row = self.read()
        policy.networks  # noqa: B018 - build the NetworkSet here, once per version, not in a request
        return self._keep(_Cached(checked, version(row), policy))

    def _keep(self, cached: _Cached) -> _Cached:
        with self._lock:
            self._cached = cached
        return cached

    def patch(self, body: Any, actor: str, now: datetime) -> Policy:
        def attempt() -> Policy:
            old, row = self.read()
            new = apply_patch(old, body)
            old_doc, new_doc = old.to_doc(), new.to_doc()
            entity = new_row(POLICY_PK, POLICY_RK, updatedAt=now, updatedBy=actor,
                                 **_encode(new_doc))
            tx = Tx().write_over(entity, row)
            changed = sorted(k for k in new_doc if new_doc[k] != old_doc[k])
            tx.create(audit_row(POLICY_PK, now, "policy_changed", actor, self.settings.audit_retention_days,
                                changed=changed,
                                old={k: _audit_value(k, old_doc[k]) for k in changed},
                                new={k: _audit_value(k, new_doc[k]) for k in changed}))
            self.store.transact(tx)
            return new

        policy = retry_on_conflict(attempt)
        policy.networks  # noqa: B018 - built once, before a request needs it
        self._keep(_Cached(self._monotonic(), _UNKNOWN, policy))
        return policy
