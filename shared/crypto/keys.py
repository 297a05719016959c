"""Keyed primitives: SMS code derivation (HMAC PRF), AES-GCM for secrets at rest, blind indexes.

Key lists support rotation (itsdangerous style): the first key is used for new material; older keys
still open what they made, found by the key id stored beside the ciphertext or challenge. Anything that
cannot be opened (a retired key id, a failed tag, a malformed value) is logged at error level with the key
id, purpose and row kind (never the value) as one `crypto_failure` event, and raises a `CryptoError`
(errors.py) that the HTTP edge answers with a 503 problem.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..kernel.errors import KeyNotListed, SealedValueUnreadable
from ..kernel.signals import CRYPTO_FAILURE

log = logging.getLogger("twostep.crypto")
_SMS_LABEL = b"twostep/sms-code/v1\x00"
_INDEX_LABEL = b"twostep/index/v1\x00"
# `kid:base64(nonce || ciphertext || tag)`: a 12-byte nonce and a 16-byte tag at least.
_SEALED_RE = re.compile(r"([A-Za-z0-9_-]{1,32}):((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)")
_NONCE, _TAG = 12, 16
FAILURE_EVENT = CRYPTO_FAILURE


def crypto_failure(reason: str, key_id: str | None, purpose: str, kind: str) -> None:
    """The one log line (and Application Insights custom event dimensions) for stored data that does not
    open or verify: an operator alerts on `event == crypto_failure`."""
    log.error("%s: stored %s value for %s under key id %s (%s)", FAILURE_EVENT, kind, purpose, key_id, reason,
              extra={"event": FAILURE_EVENT, "reason": reason, "keyId": key_id, "purpose": purpose,
                     "rowKind": kind})


class Keyring:
    """An ordered key list (the first makes new material); `name` is the setting it came from."""

    def __init__(self, keys: tuple[tuple[str, bytes], ...], name: str = "keys") -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys = dict(keys)
        self.ids = tuple(kid for kid, _ in keys)
        self.current_id = keys[0][0]
        self.name = name

    @property
    def current(self) -> bytes:
        return self._keys[self.current_id]

    def find(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)

    def get(self, key_id: str | None, purpose: str = "unknown", kind: str = "row") -> bytes:
        """The key a stored row names; a retired (or missing) id fails closed and loudly."""
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            crypto_failure(f"key id not in {self.name}", key_id, purpose, kind)
            raise KeyNotListed()
        return key


def derive_code(key: bytes, challenge_id: str, digits: int) -> str:
    """The SMS code for a challenge: HMAC-SHA256 over its random id, reduced to `digits` decimals.

    Nothing about the code is stored; the sender re-derives the same code on every retry. 64 bits reduced
    mod 10**8 have a bias below 1e-11.
    """
    mac = hmac.new(key, _SMS_LABEL + challenge_id.encode(), hashlib.sha256).digest()
    return str(int.from_bytes(mac[:8], "big") % 10**digits).zfill(digits)


def codes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def blind_index(key: bytes, kind: str, value: str) -> str:
    """A keyed, non-reversible stand-in for a value (e.g. a phone number) used as a lookup key.

    Callers pass the dedicated index key (`Deps.index_key`), which no key rotation changes."""
    mac = hmac.new(key, _INDEX_LABEL + kind.encode() + b"\x00" + value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def aes_key(material: bytes) -> bytes:
    """A 256-bit AES key from the configured key material (which may be longer than 32 bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"twostep/aes-gcm/v1").derive(material)


def sealed_key_id(token: object) -> str | None:
    """The key id a sealed value names, or None when the value is not in the one accepted spelling."""
    if not isinstance(token, str):
        return None
    match = _SEALED_RE.fullmatch(token)
    return match.group(1) if match else None


def _purpose(aad: str) -> str:
    """`twostep/<purpose>/...` -> purpose (the user id after it is not logged)."""
    parts = aad.split("/")
    return parts[1] if len(parts) > 1 else "unknown"


class Sealer:
    """AES-256-GCM with the purpose and owner bound in as associated data (a sealed value moved to
    another user's row does not open)."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._aes: dict[str, AESGCM] = {}

    def _cipher(self, key_id: str, purpose: str, kind: str) -> AESGCM:
        if key_id not in self._aes:
            self._aes[key_id] = AESGCM(aes_key(self.keyring.get(key_id, purpose, kind)))
        return self._aes[key_id]

    def seal(self, plaintext: bytes, aad: str) -> str:
        nonce = os.urandom(_NONCE)
        ct = self._cipher(self.keyring.current_id, _purpose(aad), "new").encrypt(nonce, plaintext, aad.encode())
        return f"{self.keyring.current_id}:{base64.b64encode(nonce + ct).decode()}"

    def open(self, token: object, aad: str, kind: str = "row") -> bytes:
        """Open a stored value; `kind` names the row it came from, for the operator's log line."""
        purpose = _purpose(aad)
        match = _SEALED_RE.fullmatch(token) if isinstance(token, str) else None
        raw = b""
        if match:
            try:
                raw = base64.b64decode(match.group(2), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
        if not match or len(raw) < _NONCE + _TAG or base64.b64encode(raw).decode() != match.group(2):
            crypto_failure("malformed sealed value", match.group(1) if match else None, purpose, kind)
            raise SealedValueUnreadable()
        key_id = match.group(1)
        try:
            return self._cipher(key_id, purpose, kind).decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode())
        except InvalidTag:
            crypto_failure("authentication tag does not verify: tampered, moved or wrong key", key_id, purpose, kind)
            raise SealedValueUnreadable() from None

    def is_current(self, token: object) -> bool:
        return sealed_key_id(token) == self.keyring.current_id
