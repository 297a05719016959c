"""Import of hardware OATH TOTP tokens from Azure MFA's CSV upload format (`POST /api/v1/admin/oath-tokens`).

The file::

    upn,serial number,secret key,time interval,manufacturer,model
    alice@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey

Each token lands in its user's profile as a `TotpDevice(kind="hardware", active=False)` whose secret is
AES-GCM sealed; the first good code from it (the ordinary verify path) makes it an active method.

The file is parsed and validated by csv_upload.py (format errors need no Storage); here are
the Storage checks (assigned serials, device cap) and the profile writes; reservation.py holds the steps
on the serial index (reserve, release, confirm).

Serial uniqueness across users: one index row per serial (serial_index.py: keyed by the serial's keyed
index, the owner sealed, no plain-text serial or user id), holding the import id, when it was reserved
and its state (`reserved` while the import runs, `assigned` once it finished). An index row counts as
taken while its user's profile holds a device with that serial, or while it is `reserved` and younger than
`RESERVATION_GRACE` (an import may still be writing). Otherwise it is stale (the user's TOTP devices
were removed since, or an import crashed) and a new import takes it over with an ETag-conditional
replace, so a hardware token can be reassigned. Index rows of the earlier plain-text format are migrated
before the index is read.

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

import hmac
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ...kernel.clock import iso
from ...kernel.errors import Conflict, StorageUnavailable
from ...kernel.ids import random_token
from ...model.records import MAX_TOTP_DEVICES, Profile, TotpDevice
from ...ports import Deciding, Importing, Keys
from ...store import Entity, UserRows, retry_on_conflict
from ..totp import totp_aad
from . import serial_index as oath_index
from .csv_upload import SECRET, SERIAL, UPN, OathRow, error, invalid, parse_csv, serial_key
from .reservation import WORKERS, StartOver, confirm, parallel, read_index, release, reserve

log = logging.getLogger("twostep.oath")

INDEX_PK = oath_index.INDEX_PK
MAX_ROUNDS = 3  # starts over after a race lost to a concurrent import or enrolment
RESERVATION_GRACE = timedelta(hours=1)
IMPORT_DEADLINE = timedelta(seconds=20)  # host.json functionTimeout is 30 s
MIGRATION_BUDGET_SECONDS = 5.0  # moving old-format index rows, before the import's own deadline starts


class _TooSlow(Exception):
    """The import ran past IMPORT_DEADLINE: undo rather than risk the host killing it half-way."""


@dataclass
class _Checked:
    units: dict[str, UserRows]  # each user's rows as validated: the first write attempt needs no re-read
    profiles: dict[str, Profile | None]
    stale: dict[str, Entity]  # index rows of serials free to take over, by serial key


def _holds(profile: Profile | None, key: str) -> bool:
    return profile is not None and any(dev.serial and serial_key(dev.serial) == key for dev in profile.totp)


def _check(d: Importing, rows: list[OathRow], users: dict[str, list[OathRow]], now: datetime) -> _Checked:
    """The Storage half of validation: serials already assigned, and the device cap per user."""
    upns = list(users)
    units = dict(zip(upns, parallel(d.load_unit, upns), strict=True))
    profiles = {upn: unit.profile for upn, unit in units.items()}
    index = read_index(d, [r.serial_key for r in rows])
    owners = {entry.owner for entry in index.values()} - set(profiles)
    others = dict(zip(owners, parallel(lambda upn: d.load_unit(upn).profile, owners), strict=True))
    errors, stale = [], {}
    for r in rows:
        entry = index.get(r.serial_key)
        if entry is None:
            continue
        owner = profiles.get(entry.owner, others.get(entry.owner))
        if _holds(owner, r.serial_key):
            errors.append(error(r.row, SERIAL, "is already assigned to a user"))
        elif entry.row.get("state") == "reserved" and now - entry.row["reservedAt"] < RESERVATION_GRACE:
            errors.append(error(r.row, SERIAL, "is reserved by an import that is still running"))
        else:
            stale[r.serial_key] = entry.row
    errors += _secrets_held(d, users, profiles)
    for upn, user_rows in users.items():
        existing = len(profile.totp) if (profile := profiles[upn]) is not None else 0
        for r in user_rows[max(MAX_TOTP_DEVICES - existing, 0):]:
            errors.append(error(r.row, UPN, f"the user would have more than {MAX_TOTP_DEVICES} TOTP devices "
                                             f"({existing} already)"))
    if errors:
        raise invalid(errors)
    return _Checked(units=units, profiles=profiles, stale=stale)


def _secrets_held(d: Keys, users: dict[str, list[OathRow]], profiles: dict[str, Profile | None]
                  ) -> list[dict[str, Any]]:
    """Rows whose secret their user already holds, on a device or on an earlier row (C11): two devices
    with one secret would let one code sign in twice."""
    errors = []
    for upn, user_rows in users.items():
        devices = profile.totp if (profile := profiles[upn]) else []
        held = [d.sealer.open(dev.secret, totp_aad(upn), kind="profile") for dev in devices]
        for r in user_rows:
            if any(hmac.compare_digest(r.secret, secret) for secret in held):
                errors.append(error(r.row, SECRET, "the user already holds a token with this secret"))
            held.append(r.secret)
    return errors


def _hardware_device(d: Importing, r: OathRow) -> TotpDevice:
    return TotpDevice(id=random_token(6), secret=d.sealer.seal(r.secret, totp_aad(r.upn)), algorithm="SHA1",
                      digits=6, period=r.period, last_step=-1, kind="hardware", serial=r.serial, active=False,
                      created_at=iso(d.clock.now()))


def _write_user(d: Deciding, upn: str, devices: list[TotpDevice], read: UserRows, actor: str, import_id: str,
                deadline: datetime) -> None:
    """Add the user's new devices in one ETag-conditional transaction with its audit event."""
    first = [True]
    ids = {dev.id for dev in devices}

    def attempt() -> None:
        now = d.clock.now()
        if now > deadline:
            raise _TooSlow()
        unit = read if first[0] else d.load_unit(upn)
        first[0] = False
        profile = unit.profile
        if profile is not None and ids <= {dev.id for dev in profile.totp}:
            return  # an earlier attempt whose answer was lost did land
        if profile is not None and len(profile.totp) + len(devices) > MAX_TOTP_DEVICES:
            raise StartOver()  # a concurrent enrolment took the room: validation will say so
        profile = profile or Profile(user_id=upn, created_at=now)
        profile.totp.extend(devices)
        unit.save(profile)  # created when the user had none
        unit.audit(now, "oath_tokens_imported", actor, importId=import_id, serials=[dev.serial for dev in devices],
                   count=len(devices))
        unit.commit()

    retry_on_conflict(attempt)


def _revert_user(d: Deciding, upn: str, devices: list[TotpDevice], created: bool, actor: str, import_id: str) -> None:
    """Take this import's devices out of the user's profile again (by device id)."""
    ids = {dev.id for dev in devices}

    def attempt(unit: UserRows) -> None:
        now = d.clock.now()
        profile = unit.profile
        if profile is None:
            return
        kept = [dev for dev in profile.totp if dev.id not in ids]
        if len(kept) == len(profile.totp):
            return  # never written, or already reverted
        profile.totp = kept
        profile.pick_default()
        untouched = replace(profile, row=None) == Profile(user_id=upn, created_at=profile.created_at)
        if created and untouched:  # the import made it and nothing else has written to it since
            unit.delete(profile)
        else:
            unit.save(profile)
        unit.audit(now, "oath_tokens_import_reverted", actor, importId=import_id,
                   serials=[dev.serial for dev in devices], count=len(devices))
        unit.commit()

    d.in_unit(upn, attempt)


def _write_all(d: Importing, users: dict[str, list[OathRow]], checked: _Checked, actor: str, import_id: str,
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
            _write_user(d, upn, devices[upn], checked.units[upn], actor, import_id, deadline)
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

    parallel(revert, sorted(touched))
    release(d, [r.serial_key for user_rows in users.values() for r in user_rows if r.serial_key not in kept_keys],
             import_id)
    if isinstance(failure, _TooSlow):
        raise StorageUnavailable("The import did not finish in time and was undone; retry or upload fewer rows.",
                                 retry_after=2) from failure
    raise failure


def import_tokens(d: Importing, raw: bytes | None, actor: str) -> dict[str, Any]:
    """Import every token of the upload, or none (see the module docstring); the 201 body."""
    rows = parse_csv(raw)
    users: dict[str, list[OathRow]] = {}
    for r in rows:
        users.setdefault(r.upn, []).append(r)
    if not oath_index.migrate(d, MIGRATION_BUDGET_SECONDS):
        raise StorageUnavailable("The token index is being migrated to its new format; retry.", retry_after=1)
    for _ in range(MAX_ROUNDS):
        now = d.clock.now()
        import_id = random_token(9)
        checked = _check(d, rows, users, now)
        try:
            reserve(d, rows, checked.stale, import_id, now)
            _write_all(d, users, checked, actor, import_id, now)
        except StartOver:
            continue
        confirm(d, rows, import_id)
        log.info("import %s: %d hardware tokens for %d users", import_id, len(rows), len(users))
        return {"imported": len(rows),
                "tokens": [{"upn": r.upn, "serial": r.serial, "timeInterval": r.period} for r in rows]}
    raise Conflict("Tokens or users kept changing during the import; nothing was imported. Retry the upload.")
