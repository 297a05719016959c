"""One-time passwords: HOTP/TOTP (RFC 4226 / RFC 6238) through pyotp, plus the step-window rule.

The server clock alone decides (callers pass `now`); a step is accepted at most once per device: any step
at or below the last accepted one is a replay.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime

import pyotp

from .keys import codes_equal

DIGESTS: dict[str, Callable] = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
TOTP_SECRET_BYTES = 20  # 160 bits: RFC 4226 section 4 recommends at least this
STEPS_BACK = 1  # one step of clock drift back is accepted
STEPS_FORWARD = 0  # no step forward: a code from the future is refused


def b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def new_totp_secret() -> bytes:
    return secrets.token_bytes(TOTP_SECRET_BYTES)


def hotp(secret: bytes, counter: int, digits: int = 6, algorithm: str = "SHA1") -> str:
    return pyotp.HOTP(b32(secret), digits=digits, digest=DIGESTS[algorithm]).at(counter)


def time_step(now: datetime, period: int = 30) -> int:
    return int(now.timestamp()) // period


def totp(secret: bytes, now: datetime, digits: int = 6, algorithm: str = "SHA1", period: int = 30) -> str:
    return hotp(secret, time_step(now, period), digits, algorithm)


def match_totp_step(
    secret: bytes, code: str, now: datetime, *, digits: int = 6, algorithm: str = "SHA1", period: int = 30,
) -> int | None:
    """The time step whose code equals `code` within the accepted window, or None.

    Every candidate is computed and compared in constant time, so timing does not say which step matched.
    """
    current = time_step(now, period)
    matched = None
    for step in range(current - STEPS_BACK, current + STEPS_FORWARD + 1):
        if codes_equal(hotp(secret, step, digits, algorithm), code) and matched is None:
            matched = step
    return matched


def provisioning_uri(secret: bytes, account: str, issuer: str, digits: int, algorithm: str, period: int) -> str:
    return pyotp.TOTP(b32(secret), digits=digits, digest=DIGESTS[algorithm], interval=period,
                      issuer=issuer, name=account).provisioning_uri()
