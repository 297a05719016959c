"""The TOTP method (authenticator apps and imported hardware tokens): the devices, each secret sealed, in the
profile's `totp` JSON column, and the newest accepted time step in `totpLastAt`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.aad import bound_aad
from ..crypto.otp import b32, match_totp_step, new_totp_secret, provisioning_uri
from ..kernel.clock import iso
from ..kernel.errors import Conflict, IdempotentResultGone
from ..kernel.ids import random_token
from ..kernel.results import SecretIssued
from ..model.factors import SealedField
from ..model.records import MAX_TOTP_DEVICES, Challenge, Profile, TotpDevice
from .base import ENROL_TOTP, WrongAnswer, parse_digits

if TYPE_CHECKING:
    from ..ports import Configured, Keys, KeysAndSettings
    from ..store import UserRows


LABEL = "totp"  # the label of a sealed secret's associated data
REPLAYED = WrongAnswer("This code was already used to sign in; each code works once. Wait for the next code "
                       "from the authenticator app and send that one.")


def totp_aad(user_id: str) -> str:
    return bound_aad(LABEL, user_id)


@dataclass(frozen=True)
class _TotpProof:
    step: int
    at: datetime
    device: TotpDevice | None = None  # None: the enrolment's pending secret


class Totp:
    name: ClassVar[str] = "totp"
    delivered: ClassVar[bool] = False
    recovery: ClassVar[bool] = False
    phishing_resistant: ClassVar[bool] = False  # W8: a code can be relayed by a phishing site
    strength_recovery: ClassVar[bool] = False
    sealed: ClassVar[tuple[SealedField, ...]] = (SealedField("profile", "totp", LABEL, json_list=True),
                                                 SealedField("challenge", "pendingSecret", LABEL))
    enrols: ClassVar[bool] = True
    enrol_action: ClassVar[str] = "enrol_totp"
    enrol_scope: ClassVar[str] = "totp"

    # ---- stored state ----
    def held(self, profile: Profile, now: datetime | None) -> bool:
        return any(device.active for device in profile.totp)

    def provisioned(self, profile: Profile) -> bool:
        return bool(profile.totp)

    def ever_held(self, profile: Profile) -> bool:
        return bool(profile.totp)  # an imported token not yet used included

    def factor_state(self, profile: Profile) -> Any:
        return tuple((device.id, device.active) for device in profile.totp)

    def to_columns(self, profile: Profile) -> dict[str, Any]:
        last = profile.totp_last_at  # stored as a DateTime: a Unix time passes the SDK's Int32 in 2038
        return {"totp": json.dumps([device.to_json() for device in profile.totp]),
                "totpLastAt": datetime.fromtimestamp(last, timezone.utc) if last >= 0 else None}

    def from_columns(self, row: dict[str, Any], profile: Profile) -> None:
        profile.totp = [TotpDevice.from_json(device) for device in json.loads(row.get("totp") or "[]")]
        profile.totp_last_at = int(row["totpLastAt"].timestamp()) if row.get("totpLastAt") else -1

    # ---- enrolment ----
    def parse_enrolment(self, body: dict[str, Any]) -> Any:
        return None

    def refuse_enrolment(self, profile: Profile | None) -> None:
        if profile is not None and len(profile.totp) >= MAX_TOTP_DEVICES:
            raise Conflict(f"A user can have at most {MAX_TOTP_DEVICES} TOTP devices.")

    def enrolment_fields(self, d: Keys, user_id: str, parsed: Any, context: dict[str, Any],
                         unit: UserRows) -> dict[str, Any]:
        return {"pending_secret": d.sealer.seal(new_totp_secret(), totp_aad(user_id))}

    def enrolment_answer(self, d: KeysAndSettings, ch: Challenge, view: dict[str, Any]) -> SecretIssued:
        """The secret, shown again only while that enrolment is pending and still current."""
        if ch.pending_secret is None:
            raise IdempotentResultGone()
        s = d.settings
        secret = d.sealer.open(ch.pending_secret, totp_aad(ch.user_id), kind="challenge")
        view["secret"] = b32(secret)
        view["otpauthUri"] = provisioning_uri(secret, ch.user_id, s.totp_issuer, s.totp_digits, s.totp_algorithm, 30)
        return SecretIssued(view)

    # ---- sign-in ----
    def challenge_fields(self, d: Configured) -> dict[str, Any]:
        return {"digits": d.settings.totp_digits, "key_id": None, "delivery": None}

    def prepare(self, d: object, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        return {}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return profile is not None and bool(profile.totp)

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {}

    def parse_code(self, code: str) -> str:
        return parse_digits(code)

    def check(self, d: KeysAndSettings, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        if ch.purpose == ENROL_TOTP:
            secret = d.sealer.open(ch.pending_secret, totp_aad(ch.user_id), kind="challenge")
            step = match_totp_step(secret, code, now, digits=ch.digits, algorithm=d.settings.totp_algorithm)
            return None if step is None else _TotpProof(step, now)
        replayed = False
        for device in profile.totp:  # any of the user's devices, imported hardware tokens included
            secret = d.sealer.open(device.secret, totp_aad(ch.user_id), kind="profile")
            step = match_totp_step(secret, code, now, digits=device.digits, algorithm=device.algorithm,
                                   period=device.period)
            # A replay: at or below this device's last accepted step, or a time step no newer than the last
            # one the user signed in with from any device (two devices may share a secret) (C11). Refused
            # and counted like a wrong code, but said: the user typed the right code a second time.
            if step is not None and step > device.last_step and step * device.period > profile.totp_last_at:
                return _TotpProof(step, now, device)
            replayed = replayed or step is not None
        return REPLAYED if replayed else None

    def approve(self, d: Configured, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        assert isinstance(proof, _TotpProof)
        device = proof.device
        if device is None:
            assert ch.pending_secret is not None  # a TOTP enrolment challenge always carries it
            if len(profile.totp) >= MAX_TOTP_DEVICES:
                raise Conflict(f"A user can have at most {MAX_TOTP_DEVICES} TOTP devices.")
            profile.totp.append(TotpDevice(id=random_token(6), secret=ch.pending_secret,
                                           algorithm=d.settings.totp_algorithm, digits=ch.digits, period=30,
                                           last_step=proof.step, created_at=iso(proof.at)))
            profile.totp_last_at = max(profile.totp_last_at, proof.step * 30)
            return {}
        device.last_step = proof.step
        device.last_used_at = iso(proof.at)
        profile.totp_last_at = proof.step * device.period
        device.active = True  # a hardware token becomes an active method with its first good code
        return {}

    def activates(self, proof: object) -> bool:
        """A hardware token becomes an active method with its first good code."""
        return isinstance(proof, _TotpProof) and proof.device is not None and not proof.device.active

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        """One entry per active device (label: a hardware token's serial), never its secret."""
        return [{"type": self.name, "deviceId": dev.id, "label": dev.serial, "createdAt": dev.created_at,
                 "lastUsedAt": dev.last_used_at} for dev in profile.totp if dev.active]

    def remove(self, profile: Profile, unit: UserRows) -> None:
        profile.totp = []
