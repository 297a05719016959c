"""A software authenticator for tests: ES256 credentials whose responses are built by hand with
`cryptography` and a tiny CBOR encoder (independent of py_webauthn, which verifies them), so every flag,
counter, origin and byte a browser would never let a test vary can be varied.

It answers in the WebAuthn Level 3 JSON forms (RegistrationResponseJSON, AuthenticationResponseJSON)."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
CHROMIUM_AAGUID = "01020304-0506-0708-0102-030405060708"  # the CDP virtual authenticator's


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def cbor(value: Any) -> bytes:
    """Canonical-enough CBOR for what an authenticator sends: ints, bytes, text, lists and maps."""
    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        for extra, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if n < 1 << (8 * struct.calcsize(fmt)):
                return bytes([major << 5 | extra]) + struct.pack(fmt, n)
        raise ValueError(n)
    if isinstance(value, bool):
        return bytes([0xF5 if value else 0xF4])
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        return head(3, len(value.encode())) + value.encode()
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value))


@dataclass
class SoftCredential:
    """One ES256 credential on the soft authenticator, with the user handle it was created for."""

    user_handle: bytes
    rp_id: str = "localhost"
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


def _client_data(kind: str, challenge: bytes, origin: str, cross_origin: bool) -> bytes:
    return json.dumps({"type": kind, "challenge": b64url(challenge), "origin": origin,
                       "crossOrigin": cross_origin}).encode()


def _auth_data(rp_id: str, flags: int, count: int) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count)


def register(cred: SoftCredential, challenge: bytes, *, origin: str = "http://localhost:7071",
             rp_id: str | None = None, up: bool = True, uv: bool = True, be: bool = False, bs: bool = False,
             aaguid: str = CHROMIUM_AAGUID, sign_count: int | None = None, kind: str = "webauthn.create",
             cross_origin: bool = False) -> dict[str, Any]:
    """The RegistrationResponseJSON of `cred` (attestation `none`) for `challenge`; each argument is one
    thing a test may get wrong on purpose."""
    count = cred.sign_count if sign_count is None else sign_count
    flags = AT | (UP if up else 0) | (UV if uv else 0) | (BE if be else 0) | (BS if bs else 0)
    attested = uuid.UUID(aaguid).bytes + struct.pack(">H", len(cred.credential_id)) + cred.credential_id
    auth_data = _auth_data(rp_id or cred.rp_id, flags, count) + attested + cred.cose_public_key()
    attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
    cid = b64url(cred.credential_id)
    return {"id": cid, "rawId": cid, "type": "public-key", "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(_client_data(kind, challenge, origin, cross_origin)),
                         "attestationObject": b64url(attestation), "transports": ["internal", "hybrid"]}}


def authenticate(cred: SoftCredential, challenge: bytes, *, origin: str = "http://localhost:7071",
            rp_id: str | None = None, up: bool = True, uv: bool = True, be: bool = False, bs: bool = False,
            sign_count: int | None = None, user_handle: bytes | None | str = "own",
            bad_signature: bool = False, kind: str = "webauthn.get", cross_origin: bool = False) -> dict[str, Any]:
    """The AuthenticationResponseJSON of `cred` for `challenge`. Without `sign_count` the counter goes up
    by one, as Chromium's virtual authenticator does; `user_handle="own"` sends the credential's own."""
    if sign_count is None:
        cred.sign_count += 1
        sign_count = cred.sign_count
    flags = (UP if up else 0) | (UV if uv else 0) | (BE if be else 0) | (BS if bs else 0)
    auth_data = _auth_data(rp_id or cred.rp_id, flags, sign_count)
    client_data = _client_data(kind, challenge, origin, cross_origin)
    signed = auth_data + hashlib.sha256(client_data).digest()
    signature = cred.key.sign(signed + (b"x" if bad_signature else b""), ec.ECDSA(hashes.SHA256()))
    handle = cred.user_handle if user_handle == "own" else user_handle
    cid = b64url(cred.credential_id)
    return {"id": cid, "rawId": cid, "type": "public-key", "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature),
                         "userHandle": None if handle is None else b64url(handle)}}
