"""The passkey method (WebAuthn, W1-W5, W7): the ceremonies of crypto/webauthn.py, stored on the profile.

Stored state, in `Profile.extra["passkey"]` (`PasskeyState`), two profile columns:
- `passkeyHandle`: the user's WebAuthn user handle (32 random bytes, made at the first registration), sealed;
- `passkeys`: a JSON list, one object per credential (at most `MAX_PASSKEYS`), whose `secret` is the
  sealed credential id and COSE public key; its id, name, counter, AAGUID, flags and times are plain.
Both are re-sealed through `sealed`. Ten credentials are about 4 KiB: far below a row's 1 MiB, and one
profile write (the unit of work's ETag) decides a counter, a rename or a removal.

A challenge keeps the options it handed out (`Challenge.extra`: the one-time challenge nonce, the
credential ids allowed or excluded, a registration's name) in plain JSON for its short life: the nonce is
no secret (the client signs it), and the ids are what its caller was given.
Credential ids are unique across users through `passkey_index.py`.
"""
from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto import webauthn
from ..crypto.aad import bound_aad
from ..crypto.webauthn_json import MalformedCredential, b64url, parse_assertion, parse_registration
from ..kernel.clock import iso
from ..kernel.errors import Conflict, InvalidRequest, NotFound
from ..kernel.ids import random_token
from ..kernel.results import ChallengeStarted
from ..kernel.validation import text
from ..model.factors import SealedField
from ..model.records import Challenge, Profile
from . import passkey_index
from .base import SIGNIN

if TYPE_CHECKING:
    from ..ports import Ceremonies, Keys, MethodApproving, MethodChecking, RelyingParties
    from ..store import UserRows

NAME = "passkey"
LABEL = "passkey"  # the label of its sealed values' associated data
MAX_PASSKEYS = 10
MAX_NAME = 64


def passkey_aad(user_id: str) -> str:
    return bound_aad(LABEL, user_id)


@dataclass
class StoredPasskey:
    id: str  # the passkeyId of the routes (random), never the credential id
    secret: str  # sealed JSON {credentialId, publicKey} (base64url)
    name: str
    sign_count: int
    aaguid: str
    backup_eligible: bool
    backed_up: bool
    transports: list[str]
    created_at: str
    last_used_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "secret": self.secret, "name": self.name, "signCount": self.sign_count,
                "aaguid": self.aaguid, "backupEligible": self.backup_eligible, "backedUp": self.backed_up,
                "transports": self.transports, "createdAt": self.created_at, "lastUsedAt": self.last_used_at}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StoredPasskey:
        return cls(id=d["id"], secret=d["secret"], name=d["name"], sign_count=d["signCount"], aaguid=d["aaguid"],
                   backup_eligible=d["backupEligible"], backed_up=d["backedUp"], transports=d["transports"],
                   created_at=d["createdAt"], last_used_at=d.get("lastUsedAt"))

    def view(self) -> dict[str, Any]:
        return {"passkeyId": self.id, "name": self.name, "createdAt": self.created_at,
                "lastUsedAt": self.last_used_at, "aaguid": self.aaguid, "backedUp": self.backed_up}


@dataclass
class PasskeyState:
    handle: str | None = None  # sealed user handle
    credentials: list[StoredPasskey] = field(default_factory=list)


def state(profile: Profile | None) -> PasskeyState:
    """The profile's passkey state to read (an empty one, not attached, when it has none: reading never
    changes a profile, so a profile that never held a passkey still equals a fresh one)."""
    found = profile.extra.get(NAME) if profile is not None else None
    return found if found is not None else PasskeyState()


def _attached(profile: Profile) -> PasskeyState:
    """The profile's passkey state to change, attached to it when absent."""
    return profile.extra.setdefault(NAME, PasskeyState())


def _open(d: Keys, user_id: str, sealed: str) -> dict[str, Any]:
    return json.loads(d.sealer.open(sealed, passkey_aad(user_id), kind="profile"))


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def credential_ids(d: Keys, profile: Profile | None) -> list[bytes]:
    return [_unb64(_open(d, p.user_id, c.secret)["credentialId"])
            for p in ([profile] if profile else []) for c in state(p).credentials]


def relying_party(d: RelyingParties) -> webauthn.RelyingParty:
    rp = d.webauthn_rp
    if rp is None:  # passkeys are off (Azure without MFA_WEBAUTHN_* settings)
        raise NotFound("Passkeys are not configured.")
    return rp


@dataclass(frozen=True)
class _Registered:
    credential: webauthn.RegisteredCredential


@dataclass(frozen=True)
class _Asserted:
    passkey: StoredPasskey
    verified: webauthn.VerifiedAssertion
    at: datetime


class Passkey:
    name: ClassVar[str] = NAME
    delivered: ClassVar[bool] = False
    recovery: ClassVar[bool] = False
    phishing_resistant: ClassVar[bool] = True  # bound to the origin by the authenticator
    strength_recovery: ClassVar[bool] = False
    answer_field: ClassVar[str] = "credential"  # verify takes {"credential": <WebAuthn response JSON>}
    sealed: ClassVar[tuple[SealedField, ...]] = (SealedField("profile", "passkeys", LABEL, json_list=True),
                                                 SealedField("profile", "passkeyHandle", LABEL))
    enrols: ClassVar[bool] = True
    enrol_action: ClassVar[str] = "enrol_passkey"
    enrol_scope: ClassVar[str] = "passkey"

    # ---- stored state ----
    def held(self, profile: Profile, now: datetime | None) -> bool:
        return bool(state(profile).credentials)

    def provisioned(self, profile: Profile) -> bool:
        return self.held(profile, None)

    def ever_held(self, profile: Profile) -> bool:
        return self.held(profile, None)

    def factor_state(self, profile: Profile) -> Any:
        return tuple(c.id for c in state(profile).credentials)  # added or removed, never renamed or used

    def to_columns(self, profile: Profile) -> dict[str, Any]:
        st = profile.extra.get(NAME)
        if st is None or (st.handle is None and not st.credentials):
            return {}
        return {"passkeyHandle": st.handle,
                "passkeys": json.dumps([c.to_json() for c in st.credentials]) if st.credentials else None}

    def from_columns(self, row: dict[str, Any], profile: Profile) -> None:
        if row.get("passkeyHandle") or row.get("passkeys"):
            profile.extra[NAME] = PasskeyState(row.get("passkeyHandle"), [
                StoredPasskey.from_json(c) for c in json.loads(row.get("passkeys") or "[]")])

    # ---- enrolment (registration, W1) ----
    def parse_enrolment(self, body: dict[str, Any]) -> Any:
        return text(body, "name", max_len=MAX_NAME, required=True)

    def refuse_enrolment(self, profile: Profile | None) -> None:
        if profile is not None and len(state(profile).credentials) >= MAX_PASSKEYS:
            raise Conflict(f"A user can have at most {MAX_PASSKEYS} passkeys.")

    def enrolment_fields(self, d: Ceremonies, user_id: str, parsed: Any, context: dict[str, Any],
                         unit: UserRows) -> dict[str, Any]:
        rp = relying_party(d)
        st = state(unit.profile)
        handle = (d.sealer.open(st.handle, passkey_aad(user_id), kind="profile") if st.handle
                  else webauthn.new_user_handle())
        options = webauthn.creation_options(rp, user_handle=handle, user_name=user_id, display_name=user_id,
                                            existing_ids=credential_ids(d, unit.profile),
                                            timeout_seconds=d.policy().code_ttl_seconds)
        return {"extra": {"name": parsed, "handle": b64url(handle), "publicKey": options.public_key}}

    def enrolment_answer(self, d: object, ch: Challenge, view: dict[str, Any]) -> ChallengeStarted:
        return ChallengeStarted(view)

    # ---- sign-in (W2-W5) ----
    def challenge_fields(self, d: object) -> dict[str, Any]:
        return {"digits": 6, "key_id": None, "delivery": None}

    def prepare(self, d: Ceremonies, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        options = webauthn.request_options(relying_party(d), credential_ids=credential_ids(d, profile),
                                           timeout_seconds=d.policy().code_ttl_seconds)
        return {"extra": {"publicKey": options.public_key, "passkeyIds": [c.id for c in state(profile).credentials]}}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        """A sign-in challenge lists the credentials it was begun with: it dies when any is removed (E1)."""
        if profile is None:
            return False
        held = {c.id for c in state(profile).credentials}
        return bool(held) and set(ch.extra.get("passkeyIds", [])) <= held

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {"publicKey": ch.extra["publicKey"]} if created and "publicKey" in ch.extra else {}

    def parse_code(self, code: Any) -> Any:
        return code  # a JSON object (verify checked it); parsed whole in `check`, knowing the ceremony

    def check(self, d: MethodChecking, ch: Challenge, profile: Profile, code: Any, now: datetime,
              unit: UserRows) -> object | None:
        rp = relying_party(d)
        challenge = _unb64(ch.extra["publicKey"]["challenge"])
        try:
            if ch.purpose != SIGNIN:
                return _Registered(webauthn.verify_registration(parse_registration(code), challenge=challenge, rp=rp))
            parsed = parse_assertion(code)
        except MalformedCredential as exc:
            raise InvalidRequest(f"credential is not a well-formed WebAuthn response ({exc.reason}).",
                                 field="credential") from None
        except webauthn.CeremonyFailed:
            return None
        found = self._find(d, profile, parsed.credential_id)
        if found is None:  # not one of this user's credentials (W4): a failed attempt
            return None
        passkey, stored = found
        try:
            return _Asserted(passkey, webauthn.verify_assertion(parsed, stored=stored, challenge=challenge, rp=rp), now)
        except webauthn.CloneSuspected:  # refused, audited and announced (com.twostep.passkey.clone_suspected)
            unit.audit(now, "passkey_clone_suspected", "system", passkeyId=passkey.id, signCount=passkey.sign_count)
            return None
        except webauthn.CeremonyFailed:
            return None

    def _find(self, d: Keys, profile: Profile, credential_id: bytes) -> tuple[StoredPasskey,
                                                                               webauthn.StoredCredential] | None:
        st = state(profile)
        if st.handle is None:
            return None
        handle = d.sealer.open(st.handle, passkey_aad(profile.user_id), kind="profile")
        for c in st.credentials:
            held = _open(d, profile.user_id, c.secret)
            cid = _unb64(held["credentialId"])
            if hmac.compare_digest(cid, credential_id):
                return c, webauthn.StoredCredential(cid, _unb64(held["publicKey"]), c.sign_count, handle)
        return None

    def approve(self, d: MethodApproving, ch: Challenge, profile: Profile, proof: object,
                unit: UserRows) -> dict[str, Any]:
        if isinstance(proof, _Asserted):
            proof.passkey.sign_count = proof.verified.new_sign_count
            proof.passkey.backed_up = proof.verified.backed_up
            proof.passkey.last_used_at = iso(proof.at)
            return {}
        assert isinstance(proof, _Registered)
        return self._add(d, ch, profile, proof.credential, unit)

    def _add(self, d: MethodApproving, ch: Challenge, profile: Profile, cred: webauthn.RegisteredCredential,
             unit: UserRows) -> dict[str, Any]:
        now = d.clock.now()
        st = _attached(profile)
        if len(st.credentials) >= MAX_PASSKEYS:
            raise Conflict(f"A user can have at most {MAX_PASSKEYS} passkeys.")
        passkey_index.refuse_by_profile(d, profile, cred)  # W7: 403 passkey_not_allowed
        passkey_index.claim(d, profile.user_id, cred.credential_id)  # W4: 409 when another user's
        if st.handle is None:
            st.handle = d.sealer.seal(_unb64(ch.extra["handle"]), passkey_aad(profile.user_id))
        secret = json.dumps({"credentialId": b64url(cred.credential_id), "publicKey": b64url(cred.public_key)})
        added = StoredPasskey(id=random_token(8), secret=d.sealer.seal(secret.encode(), passkey_aad(profile.user_id)),
                              name=ch.extra["name"], sign_count=cred.sign_count, aaguid=cred.aaguid,
                              backup_eligible=cred.backup_eligible, backed_up=cred.backed_up,
                              transports=list(cred.transports), created_at=str(iso(now)))
        st.credentials.append(added)
        unit.audit(now, "passkey_added", "application", passkeyId=added.id, aaguid=cred.aaguid,
                   passkeyType=cred.device_type)
        return {"passkeyId": added.id}

    def activates(self, proof: object) -> bool:
        return False

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        return [{"type": self.name, **c.view()} for c in state(profile).credentials]

    def remove(self, profile: Profile, unit: UserRows) -> None:
        state(profile).credentials = []
