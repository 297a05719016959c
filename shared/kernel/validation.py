"""Request-body validation: types, lengths and control characters checked before anything is read or
written, so bad input is a clear 400 that changes nothing."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from .errors import InvalidRequest, PayloadTooLarge

MAX_BODY_BYTES = 16 * 1024
# PATCH /admin/policy: the documented maximum (195 locations x 2000 ranges) is up to ~18 MB of compact JSON
# (full-length IPv6 ranges), more when pretty-printed; the Functions host itself accepts up to 100 MB.
MAX_POLICY_DOCUMENT_BYTES = 24 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CODE_RE = re.compile(r"[0-9]{6,8}")


def has_control(value: str) -> bool:
    """C0/C1 control characters: refused in every stored label and identifier (log and CSV injection)."""
    return _CONTROL.search(value) is not None


def parse_json_body(raw: bytes | None, required: bool = True, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """A JSON object from a request body of at most `limit` bytes; an empty body is {} when allowed."""
    raw = raw or b""
    if len(raw) > limit:
        raise PayloadTooLarge()
    if not raw.strip():
        if required:
            raise InvalidRequest("A JSON object body is required.")
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


@dataclass(frozen=True)
class Fields:
    """What a JSON object may and must carry: `allowed` its members (None: any), `required` the ones that
    must be there (not null), `nested` the same for a member that is itself an object."""
    allowed: frozenset[str] | None = None
    required: tuple[str, ...] = ()
    nested: Mapping[str, Fields] = field(default_factory=dict)


def check_fields(body: dict[str, Any], fields: Fields, prefix: str = "") -> None:
    """An unknown member (a typo such as `metod` must not be read as "no method") or a missing one is a
    400 naming it in `field` (dotted for a nested one, e.g. `context.riskLevl`); an unknown one first,
    since it is most often the missing one misspelt."""
    if fields.allowed is not None:
        unknown = sorted(set(body) - fields.allowed)
        if unknown:
            takes = ", ".join(sorted(fields.allowed)) or "no members"
            where = f"{prefix[:-1]} takes" if prefix else "This route's body takes"
            raise InvalidRequest(f"Unknown field {prefix}{unknown[0]}: {where} {takes}.", field=prefix + unknown[0])
    for name in fields.required:
        if body.get(name) is None:
            raise InvalidRequest(f"{prefix}{name} is required.", field=prefix + name)
    for name, inner in fields.nested.items():
        if isinstance(body.get(name), dict):
            check_fields(body[name], inner, f"{prefix}{name}.")


@overload
def text(body: dict[str, Any], name: str, *, max_len: int, required: Literal[True], min_len: int = 1) -> str: ...
@overload
def text(body: dict[str, Any], name: str, *, max_len: int, required: bool = False, min_len: int = 1) -> str | None: ...
def text(body: dict[str, Any], name: str, *, max_len: int, required: bool = False,
         min_len: int = 1) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{name} is required.", field=name)
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string.", field=name)
    if not min_len <= len(value) <= max_len:
        raise InvalidRequest(f"{name} must be {min_len}-{max_len} characters.", field=name)
    if has_control(value):
        raise InvalidRequest(f"{name} must not contain control characters.", field=name)
    return value


def boolean(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false.", field=name)
    return value


def integer(body: dict[str, Any], name: str, *, low: int, high: int, default: int | None = None) -> int:
    value = body.get(name, default)
    if value is None:
        raise InvalidRequest(f"{name} is required.", field=name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name} must be a whole number.", field=name)
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}.", field=name)
    return value


def choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of: {', '.join(allowed)}.", field=name)
    return value


def otp_code(body: dict[str, Any]) -> str:
    code = body.get("code")
    if not isinstance(code, str) or not CODE_RE.fullmatch(code):
        raise InvalidRequest("code must be a string of 6 to 8 digits.", field="code")
    return code


MAX_CREDENTIAL_MEMBERS = 16


def answer(body: dict[str, Any]) -> str | dict[str, Any]:
    """The verify body's answer: `code` (see `answer_code`) or `credential`, a JSON object (a passkey's
    WebAuthn response, checked whole by its method); never both. Which one the challenge takes is
    checked once it is read (`methods.base.answer_field`)."""
    if "credential" in body:
        credential = body["credential"]
        if "code" in body:
            raise InvalidRequest("Send either code or credential, not both.", field="credential")
        if not isinstance(credential, dict) or len(credential) > MAX_CREDENTIAL_MEMBERS:
            raise InvalidRequest("credential must be a WebAuthn response JSON object.", field="credential")
        return credential
    return answer_code(body)


def answer_code(body: dict[str, Any]) -> str:
    """The verify body's `code` in a shape some method accepts (digits, or a typed pass or recovery code
    in groups), checked whole before anything is read; the challenge's method then checks its own format."""
    code = body.get("code")
    if code is None:
        raise InvalidRequest("code is required (credential instead, for a passkey challenge).", field="code")
    if not isinstance(code, str) or not _answer_shape(code):
        stripped = code.strip() if isinstance(code, str) else ""
        if stripped != code and _answer_shape(stripped):  # pasted with a space or a line break around it
            raise InvalidRequest(SURROUNDING_WHITESPACE, field="code")
        raise InvalidRequest("code must be 6 to 8 digits, or a pass or recovery code.", field="code")
    return code


SURROUNDING_WHITESPACE = ("code has spaces or a line break before or after it (as pasted): send the code alone, "
                          "without surrounding whitespace. Nothing was counted.")


def _answer_shape(code: str) -> bool:
    return CODE_RE.fullmatch(code) is not None or is_typed_shape(code)


KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TYPED = re.compile(r"[A-Za-z0-9]+(?:[ -][A-Za-z0-9]+)*")  # groups with single separators between them
MAX_TYPED = 64


def is_typed_shape(code: str) -> bool:
    """Whether `code` has the shape a typed secret may be sent in (checked before any read)."""
    return len(code) <= MAX_TYPED and _TYPED.fullmatch(code) is not None
