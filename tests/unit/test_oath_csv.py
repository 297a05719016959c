"""Parsing and validating Azure MFA's hardware OATH token CSV (pure: no Storage)."""
from __future__ import annotations

import base64

import pytest

from shared.kernel.errors import InvalidRequest, PayloadTooLarge
from shared.methods.oath.csv_upload import MAX_CSV_BYTES, MAX_REPORTED_ERRORS, parse_csv, parse_secret, serial_key

HEADER = "upn,serial number,secret key,time interval,manufacturer,model"
SECRET = "2234567abcdef2234567abcdef"  # the format's example: 26 base32 characters, 128 bits
GOOD = f"{HEADER}\nalice@contoso.com,1234567,{SECRET},60,Contoso,HardwareKey\n"


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def errors_of(body: bytes) -> list[dict]:
    with pytest.raises(InvalidRequest) as err:
        parse_csv(body)
    problem = err.value.problem()
    assert problem["code"] == "invalid_request" and problem["status"] == 400
    return problem["errors"]


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def test_the_documented_example_parses():
    [row] = parse_csv(GOOD.encode())
    assert (row.row, row.upn, row.serial, row.period, row.manufacturer, row.model) == (
        1, "alice@contoso.com", "1234567", 60, "Contoso", "HardwareKey")
    assert row.secret == base64.b32decode(SECRET.upper() + "======")
    assert len(row.secret) == 16
    assert SECRET.upper() not in repr(row) and "secret" not in repr(row)


def test_header_is_case_insensitive_spaced_and_in_any_order_with_bom_and_crlf():
    body = ("\ufeff Model , UPN,Serial Number ,SECRET KEY,Time Interval,manufacturer\r\n"
            f"HardwareKey,bob,S-1,{SECRET},30,Contoso\r\n").encode()
    [row] = parse_csv(body)
    assert (row.upn, row.serial, row.period, row.model, row.manufacturer) == ("bob", "S-1", 30, "HardwareKey",
                                                                             "Contoso")


def test_secret_spaces_case_and_padding_are_ignored():
    raw = bytes(range(20))
    spaced = " ".join(b32(raw).lower()[i:i + 4] for i in range(0, 32, 4))
    assert parse_secret(spaced) == (raw, None)
    assert parse_secret(b32(raw) + "====") == (raw, None)
    assert parse_secret(base64.b32encode(bytes(16)).decode()) == (bytes(16), None)  # 26 chars + padding


@pytest.mark.parametrize("value,detail", [
    ("", "is required"),
    ("2234567abcdef2234567abcde1", "must be base32 (A-Z, 2-7)"),
    ("2234567abcdef2234567abcd+f", "must be base32 (A-Z, 2-7)"),
    (b32(bytes(15)), "must be at least 128 bits (26 base32 characters)"),  # 24 characters
    ("A" * 25, "must be at least 128 bits (26 base32 characters)"),
    ("A" * 27, "is not valid base32 (its length is impossible)"),  # 27 mod 8 == 3
    (b32(bytes(129)), "must be at most 1024 bits"),
])
def test_bad_secrets(value, detail):
    assert parse_secret(value) == (None, detail)


def test_secret_bounds_are_inclusive():
    assert parse_secret(b32(bytes(128)))[0] == bytes(128)  # 1024 bits
    assert parse_secret(b32(bytes(16)))[0] == bytes(16)  # 128 bits


def test_blank_lines_are_skipped_but_counted():
    body = csv_of("", f"a,1,{SECRET},30,,", ",,,,,", f"b,2,{SECRET},60,,")
    assert [(r.row, r.upn) for r in parse_csv(body)] == [(2, "a"), (4, "b")]


@pytest.mark.parametrize("header", [
    "upn,serial number,secret key,time interval,manufacturer",
    "upn,serial number,secret key,time interval,manufacturer,model,extra",
    "upn,serial,secret key,time interval,manufacturer,model",
    "upn,upn,secret key,time interval,manufacturer,model",
    f"alice@contoso.com,1234567,{SECRET},60,Contoso,HardwareKey",
])
def test_header_row_is_required(header):
    assert errors_of(csv_of(f"a,1,{SECRET},30,,", header=header)) == [
        {"row": 0, "field": "header", "detail": "the first row must be the header: " + HEADER}]


@pytest.mark.parametrize("body", [b"", b"\n\n", HEADER.encode(), (HEADER + "\n,,,,,\n").encode()])
def test_empty_file_or_no_rows(body):
    assert [e["field"] for e in errors_of(body)] in (["header"], ["file"])


def test_every_field_is_checked_and_reported_by_row():
    rows = [
        f"al ice,1,{SECRET},30,,",  # bad upn
        f"{'u' * 129},2,{SECRET},30,,",  # upn too long
        f"a,,{SECRET},30,,",  # empty serial
        f"a,{'9' * 65},{SECRET},30,,",  # serial too long
        f"a,ab/1,{SECRET},30,,",
        f"a,ab\\1,{SECRET},30,,",
        f"a,ab#1,{SECRET},30,,",
        f"a,ab?1,{SECRET},30,,",
        f"a,ab%1,{SECRET},30,,",
        f"a,ab'1,{SECRET},30,,",
        f"a,ab\x071,{SECRET},30,,",
        f"a,sérial,{SECRET},30,,",
        "a,13,not-base32!,30,,",
        f"a,14,{SECRET},45,,",
        f"a,15,{SECRET},30s,,",
        f"a,16,{SECRET},30,{'m' * 65},",
        f"a,17,{SECRET},30,,mod\x7fel",
        f"a,18,{SECRET},30,Contoso",  # five fields
        f"b,19,{SECRET},60,{'m' * 64},{'n' * 64}",  # the only good row
    ]
    errors = errors_of(csv_of(*rows))
    got = [(e["row"], e["field"]) for e in errors]
    assert got == [(1, "upn"), (2, "upn")] + [(n, "serial number") for n in range(3, 13)] + [
        (13, "secret key"), (14, "time interval"), (15, "time interval"), (16, "manufacturer"), (17, "model"),
        (18, "row")]
    assert errors[4]["detail"] == "must be printable ASCII without / \\ # ? % '"
    assert errors[-1]["detail"] == "has 5 fields, expected 6"


def test_several_errors_of_one_row_are_all_reported():
    errors = errors_of(csv_of("bad upn,a/b,xyz,10,,"))
    assert [e["field"] for e in errors] == ["upn", "serial number", "secret key", "time interval"]


def test_errors_never_echo_the_secret():
    secret = "ABCDEFGHIJKLMNOPQRSTUVWXY"  # 25 characters: a base32 string one short of 128 bits
    body = csv_of(f"a,1,{secret},30,,", f"b,2,{secret.lower()}Z1,30,,", f"c,3,{secret}ZZ,30,,")
    errors = errors_of(body)
    text = repr(errors)
    assert [e["field"] for e in errors] == ["secret key"] * 3
    assert secret not in text and secret.lower() not in text and "ABCDEFGH" not in text


def test_duplicate_serials_within_the_file_case_insensitive():
    body = csv_of(f"a,Tok-1,{SECRET},30,,", f"b,tok-2,{SECRET},30,,", f"c,TOK-1,{SECRET},30,,",
                  f"a,tok-1,{SECRET},30,,")
    assert errors_of(body) == [
        {"row": 3, "field": "serial number", "detail": "duplicates the serial number on row 1"},
        {"row": 4, "field": "serial number", "detail": "duplicates the serial number on row 1"}]
    assert serial_key("Tok-1") == serial_key("TOK-1")


def test_at_most_five_rows_for_one_user():
    five = [f"a,s{i},{SECRET},30,," for i in range(5)]
    assert len(parse_csv(csv_of(*five))) == 5
    assert errors_of(csv_of(*five, f"a,s9,{SECRET},30,,", f"b,s10,{SECRET},30,,")) == [
        {"row": 6, "field": "upn", "detail": "a user can have at most 5 TOTP devices"}]


def test_at_most_1000_rows():
    rows = [f"u{i},s{i},{SECRET},30,," for i in range(1000)]
    assert len(parse_csv(csv_of(*rows))) == 1000
    errors = errors_of(csv_of(*rows, f"x,sx,{SECRET},30,,"))
    assert errors == [{"row": 1001, "field": "row", "detail": "a file holds at most 1000 token rows"}]


def test_body_limit_is_one_mebibyte():
    filler = "\n" * (MAX_CSV_BYTES - len(GOOD))  # blank lines, ignored
    assert len(parse_csv((GOOD + filler).encode())) == 1
    with pytest.raises(PayloadTooLarge) as err:
        parse_csv((GOOD + filler + "\n").encode())
    assert err.value.status == 413 and err.value.code == "payload_too_large"


def test_bad_csv_and_encoding():
    assert errors_of(csv_of(f'a,"1"x,{SECRET},30,,')) == [
        {"row": 1, "field": "row", "detail": "is not valid CSV (check the quoting)"}]
    assert errors_of(csv_of(f"a,1,{SECRET},30,,", f'b,"2,{SECRET},30,,'))[0]["row"] == 2
    assert errors_of(HEADER.encode() + b"\na,1,\xff\xfe,30,,\n") == [
        {"row": 0, "field": "file", "detail": "the file must be UTF-8 text"}]


def test_a_quoted_newline_is_a_control_character():
    errors = errors_of(csv_of(f'a,"12\n34",{SECRET},30,,'))
    assert errors == [{"row": 1, "field": "serial number", "detail": "must be printable ASCII without / \\ # ? % '"}]


def test_error_list_is_capped():
    rows = [f"bad upn,s{i},{SECRET},30,," for i in range(MAX_REPORTED_ERRORS + 20)]
    with pytest.raises(InvalidRequest) as err:
        parse_csv(csv_of(*rows))
    problem = err.value.problem()
    assert len(problem["errors"]) == MAX_REPORTED_ERRORS and problem["errorCount"] == MAX_REPORTED_ERRORS + 20
    assert problem["errors"][0]["row"] == 1
