"""WebAuthn ceremonies (passkeys) through py_webauthn: the options a client needs, and the verification of
its answers against what the server kept. Pure: no Storage, no clock; the method module stores the
challenge, the user's handle and each credential, and maps the typed failures to answers:

- `MalformedCredential` -> 400 `invalid_request` (nothing was verified; see webauthn_json.py);
- `CeremonyFailed` -> 403 `incorrect_code`, counted as a failure (origin, rp id, challenge, flags,
  signature, user handle);
- `CloneSuspected` (a `CeremonyFailed`) -> the same answer, plus an audit record and a security event.

The user handle is 32 random bytes made once per user (`new_user_handle`), never derived from the user id.
"""
from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .webauthn_json import MalformedCredential, ParsedAssertion, ParsedRegistration, PasskeyError

CHALLENGE_BYTES = 32
USER_HANDLE_BYTES = 32
# Preference order: ES256 (every platform authenticator), EdDSA, RS256 (Windows Hello's older keys).
ALGORITHMS = (COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.EDDSA,
              COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256)
_KNOWN_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}
DeviceType = Literal["deviceBound", "synced"]


class CeremonyFailed(PasskeyError):
    """The response is well-formed but does not prove what it must: a failed attempt."""


class CloneSuspected(CeremonyFailed):
    """A valid signature with a counter not above the stored one: two copies of one key may exist."""


@dataclass(frozen=True)
class RelyingParty:
    """Who the server is to authenticators (MFA_WEBAUTHN_RP_ID / _RP_NAME) and the exact origins its pages
    are served from (MFA_WEBAUTHN_ORIGINS); see webauthn_settings.py."""

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]


@dataclass(frozen=True)
class Options:
    """`public_key` goes to the client as is (the `publicKey` member); the server keeps `challenge` with
    the challenge row and compares it when the answer comes."""

    public_key: dict[str, Any]
    challenge: bytes


def new_user_handle() -> bytes:
    """The WebAuthn user.id for one user: random, made once and stored, so no credential reveals the
    user id and handles cannot be linked across deployments."""
    return secrets.token_bytes(USER_HANDLE_BYTES)


def _descriptors(credential_ids: Sequence[bytes]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=bytes(c)) for c in credential_ids]


def creation_options(rp: RelyingParty, *, user_handle: bytes, user_name: str, display_name: str,
                     existing_ids: Sequence[bytes], timeout_seconds: int) -> Options:
    """PublicKeyCredentialCreationOptions: user verification required, a discoverable key preferred, no
    attestation asked for, the user's own credentials excluded (one authenticator, one passkey)."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.rp_name, user_id=user_handle, user_name=user_name,
        user_display_name=display_name, challenge=challenge, timeout=timeout_seconds * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=_descriptors(existing_ids), supported_pub_key_algs=list(ALGORITHMS))
    return Options(json.loads(options_to_json(options)), challenge)


def request_options(rp: RelyingParty, *, credential_ids: Sequence[bytes], timeout_seconds: int) -> Options:
    """PublicKeyCredentialRequestOptions for one known user: only that user's credentials, UV required."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp.rp_id, challenge=challenge, timeout=timeout_seconds * 1000,
        allow_credentials=_descriptors(credential_ids), user_verification=UserVerificationRequirement.REQUIRED)
    return Options(json.loads(options_to_json(options)), challenge)


@dataclass(frozen=True)
class RegisteredCredential:
    """What a verified registration yields; the method module stores all of it with the credential."""

    credential_id: bytes
    public_key: bytes  # COSE_Key, as py_webauthn verifies assertions with it
    sign_count: int
    aaguid: str  # 8-4-4-4-12 lower-case hex; all zeros when the authenticator does not say
    backup_eligible: bool
    backed_up: bool
    transports: tuple[str, ...]

    @property
    def device_type(self) -> DeviceType:
        """`synced` when the key may leave the device (backup eligible), else `deviceBound`."""
        return "synced" if self.backup_eligible else "deviceBound"


def _check_client_data(parsed: ParsedRegistration | ParsedAssertion) -> None:
    if parsed.client_data.cross_origin:
        raise CeremonyFailed("cross_origin")  # the pages are never framed by another origin


def verify_registration(parsed: ParsedRegistration, *, challenge: bytes, rp: RelyingParty) -> RegisteredCredential:
    """A parsed RegistrationResponseJSON checked against the kept challenge, the exact origins, the rp id
    hash, UP and UV, and its attestation statement (`none`, or one py_webauthn verifies)."""
    _check_client_data(parsed)
    try:
        verified = verify_registration_response(
            credential=parsed.library_form(), expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins), require_user_presence=True, require_user_verification=True,
            supported_pub_key_algs=list(ALGORITHMS))
    except InvalidRegistrationResponse:
        raise CeremonyFailed("registration_not_verified") from None
    except Exception:  # noqa: BLE001 - the library's own parse errors (CBOR, COSE): never a 500
        raise MalformedCredential("registration_unreadable") from None
    if verified.credential_id != parsed.credential_id:
        raise CeremonyFailed("credential_id_differs")  # the id sent is not the one the authenticator attested
    transports = tuple(t for t in parsed.transports if t in _KNOWN_TRANSPORTS)
    backup_eligible = verified.credential_device_type == "multi_device"
    return RegisteredCredential(verified.credential_id, verified.credential_public_key, verified.sign_count,
                                verified.aaguid, backup_eligible, verified.credential_backed_up, transports)


@dataclass(frozen=True)
class StoredCredential:
    """What the method module kept for one credential of the user named in the challenge."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    user_handle: bytes  # the user's handle, stored with the user (the same for all their credentials)


@dataclass(frozen=True)
class VerifiedAssertion:
    new_sign_count: int  # store it (ETag-conditional) as the credential's counter
    backed_up: bool


def verify_assertion(parsed: ParsedAssertion, *, stored: StoredCredential, challenge: bytes,
                     rp: RelyingParty) -> VerifiedAssertion:
    """A parsed AuthenticationResponseJSON checked against the kept challenge, the exact origins, the rp id
    hash, UP and UV, the stored public key, the user's handle, then the signature counter.

    The counter is checked only after the signature holds, so a forged response can never raise the
    clone alarm; py_webauthn is therefore given a stored count of 0, which disables its own check."""
    _check_client_data(parsed)
    if not hmac.compare_digest(parsed.credential_id, stored.credential_id):
        raise CeremonyFailed("credential_id_differs")
    if parsed.user_handle is not None and not hmac.compare_digest(parsed.user_handle, stored.user_handle):
        raise CeremonyFailed("user_handle_differs")  # W4: a credential of another user
    try:
        verified = verify_authentication_response(
            credential=parsed.library_form(), expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins), credential_public_key=stored.public_key,
            credential_current_sign_count=0, require_user_verification=True)
    except InvalidAuthenticationResponse:
        raise CeremonyFailed("assertion_not_verified") from None
    except Exception:  # noqa: BLE001 - a stored key or input the library cannot read: never a 500
        raise CeremonyFailed("assertion_unreadable") from None
    count = verified.new_sign_count
    if (count > 0 or stored.sign_count > 0) and count <= stored.sign_count:
        raise CloneSuspected("counter_not_increased")
    return VerifiedAssertion(count, verified.credential_backed_up)
