"""Import of hardware OATH TOTP tokens from Azure MFA's CSV upload format (`POST /api/v1/admin/oath-tokens`).

The file::

    upn,serial number,secret key,time interval,manufacturer,model
    alice@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey

Each token lands in its user's profile as a `TotpDevice(kind="hardware", active=False)` whose secret is
AES-GCM sealed; the first good code from it (the ordinary verify path) makes it an active method.

Validation (everything before anything is written): the header row (case-insensitive, surrounding spaces
ignored, columns in any order); per row the UPN (the user-id grammar), the serial number (1-64 printable
ASCII characters without `/ \\ # ? % '`, so that it is safe inside a Table Storage RowKey: the first four are
forbidden there, `%` and `'` break point operations in Azure or Azurite), the secret (base32, 128-1024
bits), the time interval (30 or 60), manufacturer and model (0-64 characters, no control characters); at
most 1000 rows; no serial twice in the file (compared case-insensitively); no serial already assigned;
no user above `MAX_TOTP_DEVICES` devices. Any error: 400 with every error found
(`{"row", "field", "detail"}`, never a secret) and nothing written. Format errors are reported without
touching Storage; the Storage checks (assigned serials, device cap) run once the file is well-formed.

Serial uniqueness across users: one index row per serial, PartitionKey `~oath`, RowKey
`serial|<SERIAL IN UPPER CASE>`, holding the upn, the import id, when it was reserved and its state
(`reserved` while the import runs, `assigned` once it finished). An index row counts as taken while its
user's profile holds a device with that serial, or while it is `reserved` and younger than
`RESERVATION_GRACE` (an import may still be writing). Otherwise it is stale (the user's TOTP devices
were removed since, or an import crashed) and a new import takes it over with an ETag-conditional
replace, so a hardware token can be reassigned.

All or nothing, across partitions that no single transaction spans, by reserve / write / compensate:

1. Reserve: create (or take over, If-Match) the index rows of every serial, in entity-group transactions
   of up to 100 rows of the `~oath` partition. A serial taken meanwhile by a concurrent import makes a
   batch fail as a whole (409/412); the rows this import created are then deleted again (found by import
   id) and the import starts over from validation, which now reports the serial as assigned. Any other
   failure here also deletes them, then answers (503).
2. Write: per user, one ETag-conditional transaction: the profile (created when missing) with its new
   devices, plus one `oath_tokens_imported` audit event (actor, serials, count, import id; no secret).
   A lost race re-reads the profile and decides again (`retry_on_conflict`); a write whose outcome was
   unknown and that did land is recognised by its device ids. When every user is written, the index rows
   are marked `assigned` (best effort: left `reserved`, they simply wait out the grace period).
3. Compensate on any failure of step 2 (Storage down, the cap exceeded by a concurrent enrolment, the
   deadline): every profile this import touched loses exactly the devices it added (by device id; a
   profile this import created and nothing else has written to since is deleted), each with an
   `oath_tokens_import_reverted` audit event; then the index rows are deleted. A cap or race failure
   starts over from validation (which answers 400 with the errors); anything else is re-raised (503
   `unavailable`, or 409 `conflict` after too many lost races). Until compensation has run (seconds), an
   already written token could be used to sign in; the audit trail shows both events.

What remains possible: Storage lost during compensation (or the host killing the invocation). The order
keeps each serial consistent even then: a profile's device is reverted before its index row, and an index
row whose profile could not be reverted is kept, so a serial is never on a profile without its index row
(no double assignment); index rows left without a device free themselves after `RESERVATION_GRACE`. The
import checks `IMPORT_DEADLINE` before each user's write so that it stops and compensates well inside
host.json's `functionTimeout` rather than being killed half-way. Profile reads and writes run on a
small thread pool to fit 1000 rows into that time.
"""
from __future__ import annotations

import base64
import binascii
import csv
import hmac
import io
import logging
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from .aad import totp_aad
from .challenge_rows import load_profile
from .deps import Deps
from .errors import Conflict, InvalidRequest, PayloadTooLarge, StorageUnavailable
from .ids import PROFILE_RK, fold_user_id, is_user_id, random_token
from .models import MAX_TOTP_DEVICES, Profile, TotpDevice
from .store import Entity, StaleWrite, Tx, new_row, retry_on_conflict, same_version
from .validation import has_control

log = logging.getLogger("twostep.oath")
T = TypeVar("T")

MAX_CSV_BYTES = 1024 * 1024
MAX_ROWS = 1000
MAX_REPORTED_ERRORS = 100
UPN, SERIAL, SECRET, INTERVAL, MANUFACTURER, MODEL = COLUMNS = (
    "upn", "serial number", "secret key", "time interval", "manufacturer", "model")
MIN_SECRET_CHARS = 26  # 130 bits of base32: at least 128 bits of secret
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 16, 128  # 128 to 1024 bits
MAX_SERIAL_LEN, MAX_LABEL_LEN = 64, 64
SERIAL_FORBIDDEN = "/\\#?%'"

INDEX_PK = "~oath"
SERIAL_PREFIX = "serial|"
KEYS_PER_QUERY = 14  # Table Storage allows 15 comparisons per filter; one is the PartitionKey
BATCH = 100  # rows per entity-group transaction
WORKERS = 8
MAX_ROUNDS = 3  # starts over after a race lost to a concurrent import or enrolment
RESERVATION_GRACE = timedelta(hours=1)
IMPORT_DEADLINE = timedelta(seconds=20)  # host.json functionTimeout is 30 s

_BASE32 = re.compile(r"[A-Z2-7]+")


@dataclass(frozen=True)
class OathRow:
    row: int  # 1-based data row number (the header is row 0)
    upn: str
    serial: str
    secret: bytes = field(repr=False)
    period: int
    manufacturer: str
    model: str

    @property
    def serial_key(self) -> str:
        return serial_key(self.serial)


def serial_key(serial: str) -> str:
    """Serials compare case-insensitively: `ab12` and `AB12` are the same token."""
    return serial.upper()


def _error(row: int, column: str, detail: str) -> dict[str, Any]:
    return {"row": row, "field": column, "detail": detail}


def _invalid(errors: list[dict[str, Any]]) -> InvalidRequest:
    errors = sorted(errors, key=lambda e: (e["row"], COLUMNS.index(e["field"]) if e["field"] in COLUMNS else -1))
    extra: dict[str, Any] = {"errors": errors[:MAX_REPORTED_ERRORS]}
    if len(errors) > MAX_REPORTED_ERRORS:
        extra["errorCount"] = len(errors)
    return InvalidRequest(f"The file has {len(errors)} error(s); nothing was imported.", **extra)


# -- parsing (pure) ------------------------------------------------------------------------------------------

def _upn(value: str) -> str | None:
    return None if is_user_id(value) else "must be 1-128 characters of A-Z a-z 0-9 . _ @ + -"


def _serial(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_SERIAL_LEN:
        return f"must be 1-{MAX_SERIAL_LEN} characters"
    if any(not " " <= ch <= "~" or ch in SERIAL_FORBIDDEN for ch in value):
        return "must be printable ASCII without / \\ # ? % '"
    return None


def parse_secret(value: str) -> tuple[bytes | None, str | None]:
    """Base32, case-insensitive, spaces and padding ignored; 128-1024 bits. Errors never echo the value."""
    cleaned = value.replace(" ", "").upper().rstrip("=")
    if not cleaned:
        return None, "is required"
    if not _BASE32.fullmatch(cleaned):
        return None, "must be base32 (A-Z, 2-7)"
    if len(cleaned) < MIN_SECRET_CHARS:
        return None, f"must be at least 128 bits ({MIN_SECRET_CHARS} base32 characters)"
    if len(cleaned) * 5 // 8 > MAX_SECRET_BYTES:
        return None, "must be at most 1024 bits"
    try:
        secret = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        return None, "is not valid base32 (its length is impossible)"
    if not MIN_SECRET_BYTES <= len(secret) <= MAX_SECRET_BYTES:
        return None, "must be 128-1024 bits"
    return secret, None


def _period(value: str) -> tuple[int | None, str | None]:
    if value in ("30", "60"):
        return int(value), None
    return None, "must be 30 or 60"


def _label(value: str) -> str | None:
    if len(value) > MAX_LABEL_LEN:
        return f"must be at most {MAX_LABEL_LEN} characters"
    if has_control(value):
        return "must not contain control characters"
    return None


def _header(record: list[str] | None) -> dict[str, int]:
    names = [cell.strip().lower() for cell in record or []]
    if sorted(names) != sorted(COLUMNS):
        raise _invalid([_error(0, "header", "the first row must be the header: " + ",".join(COLUMNS))])
    return {name: i for i, name in enumerate(names)}


def _parse_row(number: int, record: list[str], where: dict[str, int],
               errors: list[dict[str, Any]]) -> OathRow | None:
    if len(record) != len(COLUMNS):
        errors.append(_error(number, "row", f"has {len(record)} fields, expected {len(COLUMNS)}"))
        return None
    cell = {name: record[i].strip() for name, i in where.items()}
    found = len(errors)
    secret, secret_error = parse_secret(cell[SECRET])
    period, period_error = _period(cell[INTERVAL])
    for column, problem in ((UPN, _upn(cell[UPN])), (SERIAL, _serial(cell[SERIAL])), (SECRET, secret_error),
                            (INTERVAL, period_error), (MANUFACTURER, _label(cell[MANUFACTURER])),
                            (MODEL, _label(cell[MODEL]))):
        if problem:
            errors.append(_error(number, column, problem))
    if len(errors) > found or secret is None or period is None:
        return None
    return OathRow(row=number, upn=fold_user_id(cell[UPN]), serial=cell[SERIAL], secret=secret, period=period,
                   manufacturer=cell[MANUFACTURER], model=cell[MODEL])


def parse_csv(raw: bytes | None) -> list[OathRow]:
    """The rows of an upload, or InvalidRequest listing every format error (PayloadTooLarge above 1 MiB).

    Checks what needs no Storage: the format, duplicate serials within the file, and more rows for one user
    than a user may have devices.
    """
    raw = raw or b""
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge("The request body is larger than 1 MiB.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid([_error(0, "file", "the file must be UTF-8 text")]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        where = _header(next(reader, None))
    except csv.Error:
        raise _invalid([_error(0, "header", "is not valid CSV (check the quoting)")]) from None
    errors: list[dict[str, Any]] = []
    rows: list[OathRow] = []
    number = data_rows = 0
    try:
        for number, record in enumerate(reader, start=1):
            if not any(cell.strip() for cell in record):
                continue  # a blank line (spreadsheets add them); it still counts in the row numbers
            data_rows += 1
            if data_rows > MAX_ROWS:
                errors.append(_error(number, "row", f"a file holds at most {MAX_ROWS} token rows"))
                break
            parsed = _parse_row(number, record, where, errors)
            if parsed is not None:
                rows.append(parsed)
    except csv.Error:  # the record after the last one read; parsing cannot go on reliably
        errors.append(_error(number + 1, "row", "is not valid CSV (check the quoting)"))
    if not errors and not rows:
        errors.append(_error(0, "file", "the file has no token rows"))
    errors.extend(_in_file_conflicts(rows))
    if errors:
        raise _invalid(errors)
    return rows


def _in_file_conflicts(rows: list[OathRow]) -> list[dict[str, Any]]:
    errors = []
    first_row: dict[str, int] = {}
    per_user: dict[str, int] = {}
    for r in rows:
        if r.serial_key in first_row:
            errors.append(_error(r.row, SERIAL, f"duplicates the serial number on row {first_row[r.serial_key]}"))
        else:
            first_row[r.serial_key] = r.row
        per_user[r.upn] = per_user.get(r.upn, 0) + 1
        if per_user[r.upn] > MAX_TOTP_DEVICES:
            errors.append(_error(r.row, UPN, f"a user can have at most {MAX_TOTP_DEVICES} TOTP devices"))
    return errors


# -- import (Storage) ----------------------------------------------------------------------------------------

class _StartOver(Exception):
    """Something changed between validation and writing: undo, then validate again."""


class _TooSlow(Exception):
    """The import ran past IMPORT_DEADLINE: undo rather than risk the host killing it half-way."""


@dataclass
class _Checked:
    profiles: dict[str, Profile | None]
    stale: dict[str, Entity]  # index rows of serials free to take over, by serial key


def _parallel(fn: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _index_key(key: str) -> str:
    return SERIAL_PREFIX + key


def _read_index(d: Deps, keys: list[str]) -> dict[str, Entity]:
    """The index rows of these serial keys (several per round trip), by serial key."""
    found: dict[str, Entity] = {}
    for rows in _parallel(lambda chunk: d.store.get_many(INDEX_PK, [_index_key(k) for k in chunk]),
                          _chunks(keys, KEYS_PER_QUERY)):
        for rk, row in rows.items():
            found[rk[len(SERIAL_PREFIX):]] = row
    return found


def _holds(profile: Profile | None, key: str) -> bool:
    return profile is not None and any(dev.serial and serial_key(dev.serial) == key for dev in profile.totp)


def _check(d: Deps, rows: list[OathRow], users: dict[str, list[OathRow]], now: datetime) -> _Checked:
    """The Storage half of validation: serials already assigned, and the device cap per user."""
    upns = list(users)
    profiles = dict(zip(upns, _parallel(lambda upn: load_profile(d, upn), upns), strict=True))
    index = _read_index(d, [r.serial_key for r in rows])
    owners = {row["upn"] for row in index.values()} - set(profiles)
    others = dict(zip(owners, _parallel(lambda upn: load_profile(d, upn), owners), strict=True))
    errors, stale = [], {}
    for r in rows:
        entry = index.get(r.serial_key)
        if entry is None:
            continue
        owner = profiles.get(entry["upn"], others.get(entry["upn"]))
        if _holds(owner, r.serial_key):
            errors.append(_error(r.row, SERIAL, "is already assigned to a user"))
        elif entry.get("state") == "reserved" and now - entry["reservedAt"] < RESERVATION_GRACE:
            errors.append(_error(r.row, SERIAL, "is reserved by an import that is still running"))
        else:
            stale[r.serial_key] = entry
    errors += _secrets_held(d, users, profiles)
    for upn, user_rows in users.items():
        existing = len(profiles[upn].totp) if profiles[upn] is not None else 0
        for r in user_rows[max(MAX_TOTP_DEVICES - existing, 0):]:
            errors.append(_error(r.row, UPN, f"the user would have more than {MAX_TOTP_DEVICES} TOTP devices "
                                             f"({existing} already)"))
    if errors:
        raise _invalid(errors)
    return _Checked(profiles=profiles, stale=stale)


def _secrets_held(d: Deps, users: dict[str, list[OathRow]], profiles: dict[str, Profile | None]
                  ) -> list[dict[str, Any]]:
    """Rows whose secret their user already holds, on a device or on an earlier row (C11): two devices
    with one secret would let one code sign in twice."""
    errors = []
    for upn, user_rows in users.items():
        devices = profiles[upn].totp if profiles[upn] else []
        held = [d.sealer.open(dev.secret, totp_aad(upn), kind="profile") for dev in devices]
        for r in user_rows:
            if any(hmac.compare_digest(r.secret, secret) for secret in held):
                errors.append(_error(r.row, SECRET, "the user already holds a token with this secret"))
            held.append(r.secret)
    return errors


def _index_entity(r: OathRow, import_id: str, now: datetime, stale: Entity | None) -> Entity:
    entity = new_row(INDEX_PK, _index_key(r.serial_key), upn=r.upn, serial=r.serial,
                         importId=import_id, reservedAt=now, state="reserved", manufacturer=r.manufacturer,
                         model=r.model)
    if stale is not None:
        same_version(entity, stale)  # take over only the row that was judged stale (If-Match)
    return entity


def _reserve(d: Deps, rows: list[OathRow], stale: dict[str, Entity], import_id: str, now: datetime) -> None:
    try:
        for chunk in _chunks(rows, BATCH):
            tx = Tx()
            for r in chunk:
                entity = _index_entity(r, import_id, now, stale.get(r.serial_key))
                if r.serial_key in stale:
                    tx.replace(entity)
                else:
                    tx.create(entity)
            d.store.transact(tx)
    except Exception as exc:
        _release(d, [r.serial_key for r in rows], import_id)
        if isinstance(exc, StaleWrite):
            raise _StartOver() from exc
        raise


def _release(d: Deps, keys: list[str], import_id: str) -> None:
    """Delete the index rows this import holds among `keys` (If-Match: only as they were read)."""
    def once() -> None:
        ours = [row for row in _read_index(d, keys).values() if row.get("importId") == import_id]
        for chunk in _chunks(ours, BATCH):
            tx = Tx()
            for row in chunk:
                tx.delete_unchanged(row)
            d.store.transact(tx)

    if keys:
        retry_on_conflict(once, attempts=5)


def _confirm(d: Deps, rows: list[OathRow], import_id: str) -> None:
    """Mark the index rows `assigned`: from now on only the profiles say whether a serial is taken."""
    try:
        for chunk in _chunks(rows, BATCH):
            tx = Tx()
            for r in chunk:
                tx.merge_existing({"PartitionKey": INDEX_PK, "RowKey": _index_key(r.serial_key), "state": "assigned"})
            d.store.transact(tx)
    except Exception:  # noqa: BLE001 - the import has succeeded; reserved rows only wait out the grace period
        log.warning("import %s: index rows left reserved", import_id)


def _hardware_device(d: Deps, r: OathRow) -> TotpDevice:
    return TotpDevice(id=random_token(6), secret=d.sealer.seal(r.secret, totp_aad(r.upn)), algorithm="SHA1",
                      digits=6, period=r.period, last_step=-1, kind="hardware", serial=r.serial, active=False)


def _write_user(d: Deps, upn: str, devices: list[TotpDevice], read: Profile | None, actor: str, import_id: str,
                deadline: datetime) -> None:
    """Add the user's new devices in one ETag-conditional transaction with its audit event."""
    first = [True]
    ids = {dev.id for dev in devices}

    def attempt() -> None:
        now = d.clock.now()
        if now > deadline:
            raise _TooSlow()
        profile = read if first[0] else load_profile(d, upn)
        first[0] = False
        if profile is not None and ids <= {dev.id for dev in profile.totp}:
            return  # an earlier attempt whose answer was lost did land
        if profile is not None and len(profile.totp) + len(devices) > MAX_TOTP_DEVICES:
            raise _StartOver()  # a concurrent enrolment took the room: validation will say so
        tx = Tx()
        if profile is None:
            profile = Profile(user_id=upn, created_at=now)
            profile.totp.extend(devices)
            tx.create(profile.to_entity())
        else:
            profile.totp.extend(devices)
            tx.replace(profile.to_entity())
        tx.create(d.audit(upn, now, "oath_tokens_imported", actor,
                            importId=import_id, serials=[dev.serial for dev in devices], count=len(devices)))
        d.store.transact(tx)

    retry_on_conflict(attempt)


def _revert_user(d: Deps, upn: str, devices: list[TotpDevice], created: bool, actor: str, import_id: str) -> None:
    """Take this import's devices out of the user's profile again (by device id)."""
    ids = {dev.id for dev in devices}

    def attempt() -> None:
        now = d.clock.now()
        row = d.store.get(upn, PROFILE_RK)
        if row is None:
            return
        profile = Profile.from_entity(row)
        kept = [dev for dev in profile.totp if dev.id not in ids]
        if len(kept) == len(profile.totp):
            return  # never written, or already reverted
        profile.totp = kept
        profile.pick_default()
        tx = Tx()
        untouched = replace(profile, row=None) == Profile(user_id=upn, created_at=profile.created_at)
        if created and untouched:  # the import made it and nothing else has written to it since
            tx.delete_unchanged(row)
        else:
            tx.replace(profile.to_entity())
        tx.create(d.audit(upn, now, "oath_tokens_import_reverted", actor,
                            importId=import_id, serials=[dev.serial for dev in devices], count=len(devices)))
        d.store.transact(tx)

    retry_on_conflict(attempt)


def _write_all(d: Deps, users: dict[str, list[OathRow]], checked: _Checked, actor: str, import_id: str,
               started: datetime) -> None:
    devices = {upn: [_hardware_device(d, r) for r in user_rows] for upn, user_rows in users.items()}
    deadline = started + IMPORT_DEADLINE
    abort = threading.Event()
    touched: set[str] = set()

    def write(upn: str) -> None:
        if abort.is_set():
            return
        touched.add(upn)
        try:
            _write_user(d, upn, devices[upn], checked.profiles[upn], actor, import_id, deadline)
        except BaseException:
            abort.set()
            raise

    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(users)))) as pool:
        futures = [pool.submit(write, upn) for upn in users]
        for future in futures:
            try:
                future.result()
            except BaseException as exc:  # noqa: BLE001 - compensated below, then re-raised
                failure = failure or exc
    if failure is None:
        return

    kept_keys: set[str] = set()

    def revert(upn: str) -> None:
        try:
            _revert_user(d, upn, devices[upn], checked.profiles[upn] is None, actor, import_id)
        except Exception:  # noqa: BLE001 - keep its index rows so the serials stay consistent
            log.error("import %s: could not revert the tokens of one user; their index rows are kept", import_id)
            kept_keys.update(r.serial_key for r in users[upn])

    _parallel(revert, sorted(touched))
    _release(d, [r.serial_key for user_rows in users.values() for r in user_rows if r.serial_key not in kept_keys],
             import_id)
    if isinstance(failure, _TooSlow):
        raise StorageUnavailable("The import did not finish in time and was undone; retry or upload fewer rows.",
                                 retry_after=2) from failure
    raise failure


def import_tokens(d: Deps, raw: bytes | None, actor: str) -> dict[str, Any]:
    """Import every token of the upload, or none (see the module docstring); the 201 body."""
    rows = parse_csv(raw)
    users: dict[str, list[OathRow]] = {}
    for r in rows:
        users.setdefault(r.upn, []).append(r)
    for _ in range(MAX_ROUNDS):
        now = d.clock.now()
        import_id = random_token(9)
        checked = _check(d, rows, users, now)
        try:
            _reserve(d, rows, checked.stale, import_id, now)
            _write_all(d, users, checked, actor, import_id, now)
        except _StartOver:
            continue
        _confirm(d, rows, import_id)
        log.info("import %s: %d hardware tokens for %d users", import_id, len(rows), len(users))
        return {"imported": len(rows),
                "tokens": [{"upn": r.upn, "serial": r.serial, "timeInterval": r.period} for r in rows]}
    raise Conflict("Tokens or users kept changing during the import; nothing was imported. Retry the upload.")
