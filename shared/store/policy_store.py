"""Where the policy document lives: in partition `~policy` (which no user id can name), as a pointer row
and the chunk rows of each stored version, read through a short in-process cache so a sign-in rarely pays
a round trip for it.

A document at the documented maximum (195 named locations x 2000 ranges, up to ~18 MB of JSON) does not
fit one row (an entity holds at most 1 MiB, strings count two bytes a character), so a version is stored
as zlib-compressed JSON cut into chunk rows `doc|<version>|<n>` (binary properties of 60,000 bytes, at
most 900,000 bytes a row), which are written first and never changed. Then one ETag-conditional
transaction flips the pointer row `policy` (the version id, its chunk count and SHA-256) together with
the `policy_changed` audit event: readers follow the pointer, so they see the old version or the new one,
never a mix. A reader whose version was cleaned up while it read (fewer chunks than the pointer names)
reads the pointer again. After a flip the replaced version's chunks are deleted, and so are chunks older
than ORPHAN_AGE that no pointer names (a writer that lost the race deletes its own; one that crashed
leaves them to the next change). A pointer row of the earlier one-row format (`doc0`, `doc1`, ... strings)
is still read; the next change replaces it.

A change made on one instance reaches the others within CACHE_SECONDS. The refresh is single-flight (P1):
one thread per instance checks the pointer's ETag (a small query that leaves the document behind) while
every other request keeps the cached policy; only a first load, with nothing cached, waits for it. The
document is parsed, and its trusted networks merged into a `NetworkSet`, once per stored version: a policy
at the documented maximum takes seconds to parse but a warm begin only a binary search
(`tools/bench_policy.py` measures both).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..kernel.errors import InvalidRequest, Misconfigured, StorageUnavailable
from ..kernel.ids import random_token
from ..model.policy import Policy, apply_patch, defaults, from_doc
from ..settings import Settings
from . import Entity, Store, Tx, audit_row, new_row, retry_on_conflict, version

log = logging.getLogger("twostep.policy")
POLICY_PK, POLICY_RK = "~policy", "policy"
CHUNK_PREFIX = "doc|"
CACHE_SECONDS = 15.0
PART_BYTES = 60_000  # per binary property (Table Storage allows 64 KiB)
PARTS_PER_ROW = 15  # 900,000 bytes a chunk row: under the 1 MiB entity limit with its keys and names
MAX_CHUNK_ROWS = 40  # 36 MB compressed: far above the documented maximum, a bound on a runaway document
ORPHAN_AGE = timedelta(hours=1)  # chunks no pointer names, older than any write in progress
READ_ATTEMPTS = 3


class _Superseded(Exception):
    """The version the pointer named was replaced and cleaned up while this reader read it."""


def _encode(doc: dict[str, Any]) -> tuple[list[bytes], str]:
    """The chunk payloads of a document and the SHA-256 of their concatenation."""
    data = zlib.compress(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), 6)
    size = PART_BYTES * PARTS_PER_ROW
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    if len(chunks) > MAX_CHUNK_ROWS:
        raise InvalidRequest("The policy document is too large to store.", field="trustedNetworks")
    return chunks, hashlib.sha256(data).hexdigest()


def _chunk_row(version_id: str, index: int, payload: bytes, now: datetime) -> Entity:
    parts = {f"p{j:02d}": payload[k:k + PART_BYTES] for j, k in enumerate(range(0, len(payload), PART_BYTES))}
    return new_row(POLICY_PK, f"{CHUNK_PREFIX}{version_id}|{index:04d}", createdAt=now, **parts)


def _payload(row: Entity) -> bytes:
    return b"".join(row[name] for name in sorted(k for k in row if k.startswith("p") and k[1:].isdigit()))


def _decode(store: Store, pointer: Entity) -> dict[str, Any]:
    if "version" not in pointer:  # the earlier one-row format
        parts, i = [], 0
        while f"doc{i}" in pointer:
            parts.append(pointer[f"doc{i}"])
            i += 1
        return json.loads("".join(parts))
    rows = store.query_prefix(POLICY_PK, f"{CHUNK_PREFIX}{pointer['version']}|", limit=MAX_CHUNK_ROWS)
    if len(rows) != pointer["chunks"]:
        raise _Superseded()
    data = b"".join(_payload(row) for row in sorted(rows, key=lambda r: r["RowKey"]))
    if hashlib.sha256(data).hexdigest() != pointer["sha256"]:
        log.critical("stored policy version %s does not match its checksum", pointer["version"])
        raise Misconfigured()
    return json.loads(zlib.decompress(data))


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
        for _ in range(READ_ATTEMPTS):
            row = self.store.get(POLICY_PK, POLICY_RK)
            if row is None:
                return defaults(self.settings), row
            try:
                return self._parse(_decode(self.store, row)), row
            except _Superseded:
                continue  # replaced while read: the pointer names the newer version now
        raise StorageUnavailable()

    def _parse(self, doc: dict[str, Any]) -> Policy:
        try:
            return from_doc(doc, self.settings)
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
        if stale is None:
            self._refresh.acquire()  # a first load waits for the thread loading it
        elif not self._refresh.acquire(blocking=False):
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

    def _read_for_change(self) -> tuple[Policy, Entity | None]:
        """The stored policy and its pointer; the cached policy when it is that version (a large document
        is then not parsed twice in one request)."""
        cached = self._cached
        row = self.store.get(POLICY_PK, POLICY_RK)
        if cached is not None and row is not None and cached.version == version(row):
            return cached.policy, row
        return self.read()

    def _write_chunks(self, version_id: str, chunks: list[bytes], now: datetime) -> None:
        for i, payload in enumerate(chunks):  # one row per call: each is near 1 MiB, a transaction takes 4
            self.store.transact(Tx().create(_chunk_row(version_id, i, payload, now)))

    def _delete_chunks(self, keep: str, now: datetime, replaced: object = None) -> None:
        """Delete the chunks of `replaced`, and any older than ORPHAN_AGE, except those of `keep` (best effort:
        what is left is found again by the next change)."""
        try:
            rows = self.store.query("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                    {"pk": POLICY_PK, "lo": CHUNK_PREFIX, "hi": CHUNK_PREFIX[:-1] + "}"},
                                    select=["PartitionKey", "RowKey", "createdAt"])
            doomed = [row for row in rows if row["RowKey"].split("|")[1] != keep
                      and (row["RowKey"].split("|")[1] == replaced or now - row["createdAt"] > ORPHAN_AGE)]
            for i in range(0, len(doomed), 100):
                tx = Tx()
                for row in doomed[i:i + 100]:
                    tx.delete(row)  # chunk rows never change: no ETag needed
                self.store.transact(tx)
        except Exception:  # noqa: BLE001 - the change stands; stale chunks only take space until the next one
            log.warning("policy: old chunk rows left for the next change")

    def patch(self, body: Any, actor: str, now: datetime) -> Policy:
        def attempt() -> Policy:
            old, row = self._read_for_change()
            new = apply_patch(old, body)
            old_doc, new_doc = old.to_doc(), new.to_doc()
            chunks, digest = _encode(new_doc)
            version_id = random_token(9)
            pointer = new_row(POLICY_PK, POLICY_RK, updatedAt=now, updatedBy=actor, version=version_id,
                              chunks=len(chunks), sha256=digest)
            tx = Tx().write_over(pointer, row)
            changed = sorted(k for k in new_doc if new_doc[k] != old_doc[k])
            tx.create(audit_row(POLICY_PK, now, "policy_changed", actor, self.settings.audit_retention_days,
                                changed=changed,
                                old={k: _audit_value(k, old_doc[k]) for k in changed},
                                new={k: _audit_value(k, new_doc[k]) for k in changed}))
            try:
                self._write_chunks(version_id, chunks, now)
                self.store.transact(tx)  # the flip: readers now follow the new version
            except BaseException:
                self._delete_chunks(keep="", now=now, replaced=version_id)
                raise
            self._delete_chunks(keep=version_id, now=now, replaced=(row or {}).get("version"))
            return new

        policy = retry_on_conflict(attempt)
        policy.networks  # noqa: B018 - built once, before a request needs it
        self._keep(_Cached(self._monotonic(), _UNKNOWN, policy))
        return policy
