"""Re-encryption: re-seal every sealed value under the current encryption key, and count what remains
under each other key id, so an operator knows when an old key can leave MFA_ENCRYPTION_KEYS.

Sealed values (AES-GCM, `kid:base64`) live in four kinds of row, listed by `sealed_columns()` below: the
profile and a challenge (each method declares its sealed columns and their label, `Method.sealed`: the
phone number and an SMS challenge's destination; each TOTP device's secret inside the `totp` JSON and the
pending TOTP secret of an enrolment), the index key row and an OATH serial index row (its owner).
(Idempotency records hold only a reference to what a request created; records of the earlier
sealed-response format lapse within the code lifetime and are never opened again.)
A method's new sealed column is declared in its `sealed`; one outside a method must be added to OTHERS.

A run reads one page of those rows (the service's own continuation token, kept in the cursor row
`~keys`/`reseal`, so runs resume where the last one stopped), re-seals each value not under the current
key with an ETag-conditional merge of just those columns (a concurrent sign-in that changed the row wins,
and the job re-reads the row and tries again, so no update is lost), and writes an audit event. A value
that does not open is logged as a crypto failure, counted as `unreadable`, and left as it is.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..crypto.aad import bound_aad
from ..crypto.keys import Sealer, crypto_failure, sealed_key_id
from ..kernel.clock import iso
from ..kernel.errors import CryptoError, SealedValueUnreadable
from ..kernel.ids import AUDIT_PREFIX, CHALLENGE_PREFIX, PROFILE_RK
from ..kernel.validation import integer
from ..methods.oath import serial_index as oath_index
from ..methods.registry import METHODS
from ..ports import KeyedStore, Resealing, Scanning, Stored
from ..store import Entity, StaleWrite, Tx, index_key, new_row, retry_on_conflict, same_version
from ..store.audit import audit_view

CURSOR_ROW = "reseal"
DEFAULT_ROWS_PER_RUN, MAX_ROWS_PER_RUN = 200, 1000  # one page of rows per run
RUN_BUDGET_SECONDS = 15.0  # a run stops writing after this, well inside host.json's 30 s functionTimeout
MAX_COUNTED_ROWS = 200_000  # GET /admin/keys reads at most this many rows (200 pages) per call


@dataclass(frozen=True)
class Sealed:
    """One sealed column of a row kind; `devices` marks a JSON list of objects (one `secret` each);
    `method`: only the challenge rows of that method."""

    kind: str
    column: str
    aad: Callable[[str, str], str]
    devices: bool = False
    method: str | None = None


OTHERS = (
    Sealed("index key", index_key.FIELD, lambda pk, rk: index_key.AAD),
    Sealed("oath index", oath_index.OWNER, lambda pk, rk: oath_index.owner_aad(rk)),
)


def _bound(label: str) -> Callable[[str, str], str]:
    return lambda pk, rk: bound_aad(label, pk)


def sealed_columns() -> tuple[Sealed, ...]:
    """Every sealed column: the registered methods' (read now, so a method registered later is moved too)
    and the others."""
    methods = tuple(Sealed(f.row, f.column, _bound(f.label), f.json_list, m.name if f.row == "challenge" else None)
                    for m in METHODS.values() for f in m.sealed)
    return methods + OTHERS


def _columns() -> list[str]:
    return sorted({s.column for s in sealed_columns()} | {"method"})
# The rows that can hold a sealed value; the service filters, so other rows (audit, counters) never travel.
# (The SDK substitutes @names only between spaces.)
ROW_FILTER = ("RowKey eq @profile or ( RowKey ge @ch and RowKey lt @chEnd )"
              " or ( PartitionKey eq @keys and RowKey eq @index )"
              " or ( PartitionKey eq @oath and RowKey ge @sn and RowKey lt @snEnd )")
ROW_PARAMS = {"profile": PROFILE_RK, "ch": CHALLENGE_PREFIX, "chEnd": CHALLENGE_PREFIX[:-1] + "}",
              "keys": index_key.PARTITION, "index": index_key.ROW,
              "oath": oath_index.INDEX_PK, "sn": oath_index.PREFIX, "snEnd": oath_index.PREFIX[:-1] + "}"}


def row_kind(pk: str, rk: str) -> str | None:
    if pk == index_key.PARTITION:
        return "index key" if rk == index_key.ROW else None
    if pk == oath_index.INDEX_PK:
        return "oath index" if rk.startswith(oath_index.PREFIX) else None
    if rk == PROFILE_RK:
        return "profile"
    if rk.startswith(CHALLENGE_PREFIX):
        return "challenge"
    return None


def _specs(row: Entity) -> Iterator[Sealed]:
    kind = row_kind(row["PartitionKey"], row["RowKey"])
    return (s for s in sealed_columns() if s.kind == kind and row.get(s.column) is not None
            and row.get("method", s.method) == s.method)  # a challenge column: only its method's rows


def _devices(spec: Sealed, value: Any) -> list[dict[str, Any]]:
    """A list of devices (a TOTP JSON column), or SealedValueUnreadable (logged) when it is not one."""
    try:
        devices = json.loads(value)
        if isinstance(devices, list) and all(isinstance(device, dict) for device in devices):
            return devices
    except (ValueError, TypeError):
        pass
    crypto_failure("malformed device list", None, spec.column, spec.kind)
    raise SealedValueUnreadable()


def _tokens(spec: Sealed, value: Any) -> list[Any]:
    if not spec.devices:
        return [value]
    try:
        return [device.get("secret") for device in _devices(spec, value)]
    except SealedValueUnreadable:
        return [None]  # counted as malformed


def key_ids(row: Entity) -> Iterator[str | None]:
    """The key id of every sealed value in the row (None for a value in no accepted spelling)."""
    for spec in _specs(row):
        for token in _tokens(spec, row[spec.column]):
            yield sealed_key_id(token)


def _resealed(sealer: Sealer, row: Entity) -> tuple[dict[str, Any], int]:
    """The columns that change (with their new values) and how many values were re-sealed."""
    pk, rk = row["PartitionKey"], row["RowKey"]
    changes: dict[str, Any] = {}
    count = 0
    for spec in _specs(row):
        aad = spec.aad(pk, rk)

        def again(token: Any, spec: Sealed = spec, aad: str = aad) -> str:
            return sealer.seal(sealer.open(token, aad, kind=spec.kind), aad)

        value = row[spec.column]
        if not spec.devices:
            if not sealer.is_current(value):
                changes[spec.column], count = again(value), count + 1
            continue
        devices = _devices(spec, value)
        stale = [d for d in devices if not sealer.is_current(d.get("secret"))]
        for device in stale:
            device["secret"] = again(device.get("secret"))
        if stale:
            changes[spec.column], count = json.dumps(devices), count + len(stale)
    return changes, count


def _reseal_row(d: KeyedStore, row: Entity) -> int:
    """Re-seal one row's stale values with an ETag-conditional merge; re-read and retry on a race."""
    current: list[Entity | None] = [row]

    def attempt() -> int:
        if current[0] is None:
            current[0] = d.store.get(row["PartitionKey"], row["RowKey"])
            if current[0] is None:
                return 0  # purged meanwhile
        fresh, current[0] = current[0], None
        changes, count = _resealed(d.sealer, fresh)
        if changes:
            patch = same_version(new_row(fresh["PartitionKey"], fresh["RowKey"], **changes), fresh)
            d.store.transact(Tx().merge_if_unchanged(patch))
        return count

    return retry_on_conflict(attempt)


def _cursor(d: Stored) -> tuple[Entity | None, dict[str, str] | None]:
    row = d.store.get(index_key.PARTITION, CURSOR_ROW)
    if row is None or not (row.get("nextPartitionKey") or row.get("nextAccount")):
        return row, None
    token = {"PartitionKey": row["nextPartitionKey"], "RowKey": row.get("nextRowKey") or ""}
    return row, {**token, "account": row["nextAccount"]} if row.get("nextAccount") else token


def run(d: Resealing, max_rows: int, actor: str, budget_seconds: float = RUN_BUDGET_SECONDS) -> dict[str, Any]:
    """One bounded, resumable run of the re-encryption job.

    A run that is still writing after `budget_seconds` stops (after at least one write, so every run makes
    progress) and leaves the cursor where it was: the next run reads the same page again and passes over
    the rows already done without writing."""
    d.index_key  # noqa: B018 - make sure the index key exists (sealed) before counting it
    state, token = _cursor(d)
    rows, next_token = d.store.page(ROW_FILTER, ROW_PARAMS, max_rows, token)
    deadline = time.monotonic() + budget_seconds
    resealed = unreadable = scanned = 0
    for row in rows:
        if resealed and time.monotonic() >= deadline:
            next_token = token or {}  # stay on this page (an empty token is the table's start)
            break
        scanned += 1
        try:
            resealed += _reseal_row(d, row)
        except CryptoError:
            unreadable += 1  # already logged as a crypto failure, with key id, purpose and row kind
    now = d.clock.now()
    done = next_token is None
    cursor = new_row(index_key.PARTITION, CURSOR_ROW, nextPartitionKey=(next_token or {}).get("PartitionKey", ""),
                         nextRowKey=(next_token or {}).get("RowKey", ""),
                         nextAccount=(next_token or {}).get("account", ""),  # over several storage accounts
                         lastRunAt=now, lastCompletedAt=now if done else (state or {}).get("lastCompletedAt"))
    summary = {"rowsScanned": scanned, "valuesResealed": resealed, "rowsUnreadable": unreadable,
               "passComplete": done, "currentKeyId": d.sealer.keyring.current_id}
    tx = Tx().write_over(cursor, state)
    tx.create(d.audit(index_key.PARTITION, now, "keys_resealed", actor,
                        **summary))
    try:
        d.store.transact(tx)
    except StaleWrite:
        summary["cursorNotSaved"] = True  # a concurrent run moved the cursor; the next run goes on from it
    return summary


def status(d: Scanning, max_rows: int = MAX_COUNTED_ROWS) -> dict[str, Any]:
    """How many sealed values remain under each encryption key id other than the current one, and how many
    open SMS challenges under each older HMAC key id: one filtered scan of the table (the columns that
    name a key only, 1000 rows a page), bounded by `max_rows`. Remembered-device tokens are not stored,
    so they cannot be counted: they live at most the policy's rememberDeviceDays."""
    ring, now = d.sealer.keyring, d.clock.now()
    found: Counter[str | None] = Counter()
    open_sms: Counter[str] = Counter()  # open SMS challenges per HMAC key id: their codes need that key
    scanned, token = 0, None
    while scanned < max_rows:
        rows, token = d.store.page(ROW_FILTER, ROW_PARAMS, min(1000, max_rows - scanned), token,
                                   select=["PartitionKey", "RowKey", "keyId", "status", "expiresAt", *_columns()])
        scanned += len(rows)
        found.update(kid for row in rows for kid in key_ids(row))
        open_sms.update(row["keyId"] for row in rows if row.get("keyId") and row.get("status") == "pending"
                        and row.get("expiresAt") is not None and row["expiresAt"] > now)
        if token is None:
            break
    malformed = found.pop(None, 0)
    current = found.pop(ring.current_id, 0)
    remaining = {kid: found.pop(kid, 0) for kid in ring.ids[1:]}
    state, cursor = _cursor(d)
    return {
        "encryption": {"current": ring.current_id, "listed": list(ring.ids), "underCurrent": current,
                       "remaining": remaining, "unlisted": dict(found), "malformed": malformed},
        "hmac": {"current": d.hmac_keys.current_id, "listed": list(d.hmac_keys.ids),
                 "openChallenges": {kid: open_sms[kid] for kid in d.hmac_keys.ids[1:]}},
        "scan": {"rowsScanned": scanned, "complete": token is None},
        "reseal": {"passInProgress": cursor is not None,
                   "lastCompletedAt": iso(state.get("lastCompletedAt")) if state is not None else None,
                   "recentRuns": [audit_view(r) for r in d.store.query_prefix(index_key.PARTITION, AUDIT_PREFIX, 10)]},
    }


def run_request(d: Resealing, body: dict[str, Any], actor: str) -> dict[str, Any]:
    """`POST /api/v1/admin/keys/reseal` with an optional `{"maxRows": 1-1000}` (default 200)."""
    max_rows = integer(body, "maxRows", low=1, high=MAX_ROWS_PER_RUN, default=DEFAULT_ROWS_PER_RUN)
    return run(d, max_rows, actor)
