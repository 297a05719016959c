"""Remembered-device tokens: signed with the HMAC key ring, bound to one user, expiring, and void when
issued before the user's sessions were revoked. Nothing is stored per token.

A token names the HMAC key id that signed it, so it keeps working after a rotation for as long as that
key stays listed in MFA_HMAC_KEYS; removing the key ends every token it signed (the user is simply
challenged again)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime, timedelta, timezone

from .keys import Keyring

_LABEL = b"twostep/device-token/v1\x00"
PREFIX = "dt1"
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    """Strict unpadded base64url: one spelling per value (no padding, no stray characters, no non-zero
    trailing bits), so a token cannot be re-spelled and still verify."""
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical spelling")
    return data


def _mac(key: bytes, message: str) -> bytes:
    return hmac.new(key, _LABEL + message.encode(), hashlib.sha256).digest()


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def issue(keys: Keyring, user_id: str, now: datetime, days: int) -> tuple[str, datetime]:
    expires = now + timedelta(days=days)
    payload = _b64(json.dumps({"u": user_id, "iat": _ms(now), "exp": _ms(expires), "n": secrets.token_hex(8)},
                              separators=(",", ":")).encode())
    signed = f"{PREFIX}.{keys.current_id}.{payload}"
    return f"{signed}.{_b64(_mac(keys.current, signed))}", expires


def is_valid(keys: Keyring, token: str, user_id: str, now: datetime, revoked_at: datetime | None,
             days: int) -> bool:
    """True only for an untampered token of this user, unexpired, and issued after the last revocation
    and within the current remember-device period."""
    if days <= 0 or not isinstance(token, str):
        return False
    try:
        prefix, key_id, payload, mac = token.split(".")
        if prefix != PREFIX:
            return False
        key = keys.find(key_id)
        if key is None or not hmac.compare_digest(_unb64(mac), _mac(key, f"{prefix}.{key_id}.{payload}")):
            return False
        claims = json.loads(_unb64(payload))
        issued = datetime.fromtimestamp(claims["iat"] / 1000, tz=timezone.utc)
        expires = datetime.fromtimestamp(claims["exp"] / 1000, tz=timezone.utc)
    except (ValueError, KeyError, TypeError):
        return False
    if claims.get("u") != user_id or now >= expires or now >= issued + timedelta(days=days):
        return False
    return revoked_at is None or issued > revoked_at
