"""The WebAuthn Level 3 JSON forms a client sends (RegistrationResponseJSON, AuthenticationResponseJSON),
checked whole before anything is read or verified: every binary field is strict, canonical, unpadded
base64url within a bound, every known field has its type, and clientDataJSON is a JSON object with its
three string members. What passes is handed to py_webauthn rebuilt from these checked values only, so a
malformed credential is a clean `MalformedCredential` (400), never an exception from inside the library.
Unknown members are ignored (newer browsers add some), the known ones are never trusted unchecked."""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn L3: credential ids are at most 1023 bytes
MAX_CLIENT_DATA_BYTES = 2048
MAX_ATTESTATION_OBJECT_BYTES = 8192  # a none/packed object is a few hundred bytes; chains fit too
MAX_AUTHENTICATOR_DATA_BYTES = 1024  # 37 bytes plus extensions
MAX_SIGNATURE_BYTES = 1024  # RS256 with a 4096-bit key is 512
MAX_USER_HANDLE_BYTES = 64  # WebAuthn: user.id is at most 64 bytes
MIN_AUTHENTICATOR_DATA_BYTES = 37  # rpIdHash (32) + flags (1) + signCount (4)
MAX_TRANSPORTS = 8
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_TRANSPORT_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_ATTACHMENTS = ("platform", "cross-platform")


class PasskeyError(Exception):
    """A ceremony did not succeed. `reason` is a short fixed token, safe for logs and the audit trail;
    no library text and no input ever goes into it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedCredential(PasskeyError):
    """The credential's JSON is not a well-formed response: answer 400 `invalid_request`."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(value: Any, name: str, *, max_bytes: int, min_bytes: int = 1) -> bytes:
    """Strict unpadded base64url of `min_bytes`..`max_bytes` bytes, in its one canonical spelling."""
    if not isinstance(value, str) or len(value) > (max_bytes * 4 + 2) // 3 or not _B64URL_RE.fullmatch(value):
        raise MalformedCredential(f"{name}_not_base64url")
    data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)) if len(value) % 4 != 1 else None
    if data is None or b64url(data) != value:
        raise MalformedCredential(f"{name}_not_base64url")
    if not min_bytes <= len(data) <= max_bytes:
        raise MalformedCredential(f"{name}_size")
    return data


@dataclass(frozen=True)
class ClientData:
    """The members of clientDataJSON a verifier needs, read from the exact bytes the authenticator signed."""

    raw: bytes
    type: str
    challenge: bytes
    origin: str
    cross_origin: bool


def _client_data(value: Any) -> ClientData:
    raw = unb64url(value, "client_data", max_bytes=MAX_CLIENT_DATA_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedCredential("client_data_not_json") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("type", "challenge", "origin")):
        raise MalformedCredential("client_data_members")
    cross_origin = data.get("crossOrigin", False)
    if not isinstance(cross_origin, bool):
        raise MalformedCredential("client_data_members")
    challenge = unb64url(data["challenge"], "client_data_challenge", max_bytes=256)
    return ClientData(raw, data["type"], challenge, data["origin"], cross_origin)


def _common(body: Any) -> tuple[bytes, dict[str, Any]]:
    """The checks both forms share: an object, `id` equal to `rawId`, type public-key, a response object."""
    if not isinstance(body, dict):
        raise MalformedCredential("credential_not_object")
    credential_id = unb64url(body.get("id"), "credential_id", max_bytes=MAX_CREDENTIAL_ID_BYTES)
    if body.get("rawId") != body.get("id"):
        raise MalformedCredential("raw_id_differs")
    if body.get("type") != "public-key":
        raise MalformedCredential("credential_type")
    attachment = body.get("authenticatorAttachment")
    if attachment is not None and attachment not in _ATTACHMENTS:
        raise MalformedCredential("authenticator_attachment")
    extensions = body.get("clientExtensionResults", {})
    if not isinstance(extensions, dict):
        raise MalformedCredential("client_extension_results")
    response = body.get("response")
    if not isinstance(response, dict):
        raise MalformedCredential("response_not_object")
    return credential_id, response


@dataclass(frozen=True)
class ParsedRegistration:
    credential_id: bytes
    client_data: ClientData
    attestation_object: bytes
    transports: tuple[str, ...]

    def library_form(self) -> dict[str, Any]:
        """The RegistrationResponseJSON py_webauthn reads, rebuilt from the checked values only."""
        cid = b64url(self.credential_id)
        return {"id": cid, "rawId": cid, "type": "public-key", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(self.client_data.raw),
                             "attestationObject": b64url(self.attestation_object),
                             "transports": list(self.transports)}}


def parse_registration(body: Any) -> ParsedRegistration:
    """A RegistrationResponseJSON checked whole (see the module docstring), or MalformedCredential."""
    credential_id, response = _common(body)
    client_data = _client_data(response.get("clientDataJSON"))
    attestation = unb64url(response.get("attestationObject"), "attestation_object",
                           max_bytes=MAX_ATTESTATION_OBJECT_BYTES)
    transports = response.get("transports", [])
    if (not isinstance(transports, list) or len(transports) > MAX_TRANSPORTS
            or not all(isinstance(t, str) and _TRANSPORT_RE.fullmatch(t) for t in transports)):
        raise MalformedCredential("transports")
    return ParsedRegistration(credential_id, client_data, attestation, tuple(dict.fromkeys(transports)))


@dataclass(frozen=True)
class ParsedAssertion:
    credential_id: bytes
    client_data: ClientData
    authenticator_data: bytes
    signature: bytes
    user_handle: bytes | None

    def library_form(self) -> dict[str, Any]:
        """The AuthenticationResponseJSON py_webauthn reads, rebuilt from the checked values only."""
        cid = b64url(self.credential_id)
        response = {"clientDataJSON": b64url(self.client_data.raw),
                    "authenticatorData": b64url(self.authenticator_data), "signature": b64url(self.signature)}
        return {"id": cid, "rawId": cid, "type": "public-key", "clientExtensionResults": {}, "response": response}


def parse_assertion(body: Any) -> ParsedAssertion:
    """An AuthenticationResponseJSON checked whole, or MalformedCredential. Parse first, then look the
    credential id up in the user's own partition, then verify."""
    credential_id, response = _common(body)
    client_data = _client_data(response.get("clientDataJSON"))
    authenticator_data = unb64url(response.get("authenticatorData"), "authenticator_data",
                                  max_bytes=MAX_AUTHENTICATOR_DATA_BYTES, min_bytes=MIN_AUTHENTICATOR_DATA_BYTES)
    signature = unb64url(response.get("signature"), "signature", max_bytes=MAX_SIGNATURE_BYTES)
    handle = response.get("userHandle")
    user_handle = None if handle is None else unb64url(handle, "user_handle", max_bytes=MAX_USER_HANDLE_BYTES)
    return ParsedAssertion(credential_id, client_data, authenticator_data, signature, user_handle)
