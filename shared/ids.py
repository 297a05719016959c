"""Identifiers: user ids, challenge ids, row keys.

A challenge id carries its user id (base64url) so that one point query in the user's partition finds the
challenge together with the user's profile, and one entity-group transaction updates both. The user id
is not a secret from the calling application; the 128-bit random part is what makes the id unguessable.
"""
from __future__ import annotations

import base64
import binascii
import re
import secrets

from .errors import InvalidRequest, NotFound

USER_ID_RE = re.compile(r"^[A-Za-z0-9._@+\-]{1,128}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-]{16,32}$")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_\-]{2,172}$")

PROFILE_RK = "profile"
CHALLENGE_PREFIX = "ch|"
BYPASS_PREFIX = "bp|"
AUDIT_PREFIX = "au|"


def validate_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
        raise InvalidRequest("userId must be 1-128 characters of A-Z a-z 0-9 . _ @ + -")
    return user_id


def random_token(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)


def new_challenge_id(user_id: str) -> tuple[str, str]:
    """Return (challengeId, row key)."""
    token = random_token(16)
    encoded = base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")
    return f"{encoded}.{token}", CHALLENGE_PREFIX + token


def parse_challenge_id(challenge_id: str) -> tuple[str, str]:
    """Return (user id, row key); any malformed id is simply not found (never an error that leaks why)."""
    encoded, sep, token = challenge_id.rpartition(".")
    if not sep or not _B64URL_RE.match(encoded) or not _TOKEN_RE.match(token):
        raise NotFound()
    try:
        user_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise NotFound() from None
    if not USER_ID_RE.match(user_id):
        raise NotFound()
    return user_id, CHALLENGE_PREFIX + token


def challenge_id_for(user_id: str, row_key: str) -> str:
    encoded = base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")
    return f"{encoded}.{row_key[len(CHALLENGE_PREFIX):]}"
