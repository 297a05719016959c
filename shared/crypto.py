"""Keyed primitives: SMS code derivation (HMAC PRF), AES-GCM for secrets at rest, blind indexes.

Key lists support rotation (itsdangerous style): the first key is used for new material; older keys
still open what they made, found by the key id stored beside the ciphertext or challenge.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import Misconfigured

_SMS_LABEL = b"twostep/sms-code/v1\x00"
_INDEX_LABEL = b"twostep/index/v1\x00"


class Keyring:
    def __init__(self, keys: tuple[tuple[str, bytes], ...]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys = dict(keys)
        self.current_id = keys[0][0]

    @property
    def current(self) -> bytes:
        return self._keys[self.current_id]

    def find(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)

    def get(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            # A row made with a key that has been retired: fail closed, loudly for the operator.
            raise Misconfigured() from None


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
    """A keyed, non-reversible stand-in for a value (e.g. a phone number) used as a lookup key."""
    mac = hmac.new(key, _INDEX_LABEL + kind.encode() + b"\x00" + value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def aes_key(material: bytes) -> bytes:
    """A 256-bit AES key from the configured key material (which may be longer than 32 bytes)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"twostep/aes-gcm/v1").derive(material)


class Sealer:
    """AES-256-GCM with the purpose and owner bound in as associated data (a sealed value moved to
    another user's row does not open)."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._aes: dict[str, AESGCM] = {}

    def _cipher(self, key_id: str) -> AESGCM:
        if key_id not in self._aes:
            self._aes[key_id] = AESGCM(aes_key(self.keyring.get(key_id)))
        return self._aes[key_id]

    def seal(self, plaintext: bytes, aad: str) -> str:
        nonce = os.urandom(12)
        ct = self._cipher(self.keyring.current_id).encrypt(nonce, plaintext, aad.encode())
        return f"{self.keyring.current_id}:{base64.b64encode(nonce + ct).decode()}"

    def open(self, token: str, aad: str) -> bytes:
        key_id, _, blob = token.partition(":")
        raw = base64.b64decode(blob)
        try:
            return self._cipher(key_id).decrypt(raw[:12], raw[12:], aad.encode())
        except InvalidTag:
            raise Misconfigured() from None
