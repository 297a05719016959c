"""The CSV of an OATH hardware-token upload (Azure MFA's format), parsed and checked without Storage;
the import saga that stores it is in oath.py.

The file::

    upn,serial number,secret key,time interval,manufacturer,model
    alice@contoso.com,1234567,2234567abcdef2234567abcdef,60,Contoso,HardwareKey

Validation (everything before anything is written): the header row (case-insensitive, surrounding spaces
ignored, columns in any order); per row the UPN (the user-id grammar), the serial number (1-64 printable
ASCII characters without `/ \\ # ? % '`, so that it is safe inside a Table Storage RowKey: the first four are
forbidden there, `%` and `'` break point operations in Azure or Azurite), the secret (base32, 128-1024
bits), the time interval (30 or 60), manufacturer and model (0-64 characters, no control characters); at
most 1000 rows; no serial twice in the file (compared case-insensitively); no serial already assigned;
no user above `MAX_TOTP_DEVICES` devices. Any error: 400 with every error found
(`{"row", "field", "detail"}`, never a secret) and nothing written. Format errors are reported without
touching Storage; the Storage checks (assigned serials, device cap) run once the file is well-formed.
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from ...kernel.errors import InvalidRequest, PayloadTooLarge
from ...kernel.ids import fold_user_id, is_user_id
from ...kernel.validation import has_control
from ...model.records import MAX_TOTP_DEVICES

MAX_CSV_BYTES = 1024 * 1024
MAX_ROWS = 1000
MAX_REPORTED_ERRORS = 100
UPN, SERIAL, SECRET, INTERVAL, MANUFACTURER, MODEL = COLUMNS = (
    "upn", "serial number", "secret key", "time interval", "manufacturer", "model")
MIN_SECRET_CHARS = 26  # 130 bits of base32: at least 128 bits of secret
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 16, 128  # 128 to 1024 bits
MAX_SERIAL_LEN, MAX_LABEL_LEN = 64, 64
SERIAL_FORBIDDEN = "/\\#?%'"

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


def error(row: int, column: str, detail: str) -> dict[str, Any]:
    return {"row": row, "field": column, "detail": detail}


def invalid(errors: list[dict[str, Any]]) -> InvalidRequest:
    errors = sorted(errors, key=lambda e: (e["row"], COLUMNS.index(e["field"]) if e["field"] in COLUMNS else -1))
    extra: dict[str, Any] = {"errors": errors[:MAX_REPORTED_ERRORS]}
    if len(errors) > MAX_REPORTED_ERRORS:
        extra["errorCount"] = len(errors)
    return InvalidRequest(f"The file has {len(errors)} error(s); nothing was imported.", **extra)


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
        raise invalid([error(0, "header", "the first row must be the header: " + ",".join(COLUMNS))])
    return {name: i for i, name in enumerate(names)}


def _parse_row(number: int, record: list[str], where: dict[str, int],
               errors: list[dict[str, Any]]) -> OathRow | None:
    if len(record) != len(COLUMNS):
        errors.append(error(number, "row", f"has {len(record)} fields, expected {len(COLUMNS)}"))
        return None
    cell = {name: record[i].strip() for name, i in where.items()}
    found = len(errors)
    secret, secret_error = parse_secret(cell[SECRET])
    period, period_error = _period(cell[INTERVAL])
    for column, problem in ((UPN, _upn(cell[UPN])), (SERIAL, _serial(cell[SERIAL])), (SECRET, secret_error),
                            (INTERVAL, period_error), (MANUFACTURER, _label(cell[MANUFACTURER])),
                            (MODEL, _label(cell[MODEL]))):
        if problem:
            errors.append(error(number, column, problem))
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
        raise invalid([error(0, "file", "the file must be UTF-8 text")]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        where = _header(next(reader, None))
    except csv.Error:
        raise invalid([error(0, "header", "is not valid CSV (check the quoting)")]) from None
    errors: list[dict[str, Any]] = []
    rows: list[OathRow] = []
    number = data_rows = 0
    try:
        for number, record in enumerate(reader, start=1):
            if not any(cell.strip() for cell in record):
                continue  # a blank line (spreadsheets add them); it still counts in the row numbers
            data_rows += 1
            if data_rows > MAX_ROWS:
                errors.append(error(number, "row", f"a file holds at most {MAX_ROWS} token rows"))
                break
            parsed = _parse_row(number, record, where, errors)
            if parsed is not None:
                rows.append(parsed)
    except csv.Error:  # the record after the last one read; parsing cannot go on reliably
        errors.append(error(number + 1, "row", "is not valid CSV (check the quoting)"))
    if not errors and not rows:
        errors.append(error(0, "file", "the file has no token rows"))
    errors.extend(_in_file_conflicts(rows))
    if errors:
        raise invalid(errors)
    return rows


def _in_file_conflicts(rows: list[OathRow]) -> list[dict[str, Any]]:
    errors = []
    first_row: dict[str, int] = {}
    per_user: dict[str, int] = {}
    for r in rows:
        if r.serial_key in first_row:
            errors.append(error(r.row, SERIAL, f"duplicates the serial number on row {first_row[r.serial_key]}"))
        else:
            first_row[r.serial_key] = r.row
        per_user[r.upn] = per_user.get(r.upn, 0) + 1
        if per_user[r.upn] > MAX_TOTP_DEVICES:
            errors.append(error(r.row, UPN, f"a user can have at most {MAX_TOTP_DEVICES} TOTP devices"))
    return errors
