"""Identifiers: user ids, challenge ids, row keys.

A challenge id carries its user id (base64url) so that one point query in the user's partition finds the
challenge together with the user's profile, and one entity-group transaction updates both. The user id
is not a secret from the calling application; the 128-bit random part is what makes the id unguessable.

User ids are case-insensitive (C13): `Alice@Contoso.com` and `alice@contoso.com` name one user, so every
route folds the id to lower case before it touches Storage and echoes the folded form. The grammar is
ASCII only and is checked before folding, so `str.lower()` and `str.casefold()` give the same result;
`lower()` is the plainer of the two.
Every pattern is matched whole (`fullmatch`, C10): `$` would let a trailing newline through.
"""
from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import TypeGuard

from .errors import InvalidRequest, NotFound

USER_ID_RE = re.compile(r"[A-Za-z0-9._@+\-]{1,128}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]{16,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_\-]{2,172}")

PROFILE_RK = "profile"
CHALLENGE_PREFIX = "ch|"
BYPASS_PREFIX = "bp|"
AUDIT_PREFIX = "au|"


def is_user_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and USER_ID_RE.fullmatch(value) is not None


def fold_user_id(user_id: str) -> str:
    """The one stored spelling of a (valid, hence ASCII) user id."""
    return user_id.lower()


def validate_user_id(user_id: object) -> str:
    """A user id from a request, folded: the partition key every route reads and writes."""
    if not is_user_id(user_id):
        raise InvalidRequest("userId must be 1-128 characters of A-Z a-z 0-9 . _ @ + -", field="userId")
    return fold_user_id(user_id)


def _b64url(user_id: str) -> str:
    return base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")


def random_token(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)


def new_challenge_id(user_id: str) -> tuple[str, str]:
    """Return (challengeId, row key)."""
    token = random_token(16)
    return f"{_b64url(user_id)}.{token}", CHALLENGE_PREFIX + token


def parse_challenge_id(challenge_id: str) -> tuple[str, str]:
    """Return (user id, row key); any malformed id is simply not found (never an error that leaks why).

    An id has exactly one spelling (C12): the user part must be the unpadded base64url that
    `new_challenge_id` writes for a folded user id; other encodings of the same bytes (trailing bits set,
    padding, an unfolded user id) are 404 rather than aliases of the real challenge.
    """
    encoded, sep, token = challenge_id.rpartition(".")
    if not sep or not _B64URL_RE.fullmatch(encoded) or not _TOKEN_RE.fullmatch(token):
        raise NotFound()
    try:
        user_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise NotFound() from None
    if not is_user_id(user_id) or user_id != fold_user_id(user_id) or _b64url(user_id) != encoded:
        raise NotFound()
    return user_id, CHALLENGE_PREFIX + token


def challenge_id_for(user_id: str, row_key: str) -> str:
    return f"{_b64url(user_id)}.{row_key[len(CHALLENGE_PREFIX):]}"
