"""The TOTP method (authenticator apps and imported hardware tokens)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.aad import totp_aad
from ..crypto.otp import match_totp_step
from ..kernel.clock import iso
from ..kernel.errors import Conflict
from ..kernel.ids import random_token
from ..model.records import MAX_TOTP_DEVICES, Challenge, Profile, TotpDevice
from .base import ENROL_TOTP, parse_digits

if TYPE_CHECKING:
    from ..deps import Deps
    from ..store import UserRows


@dataclass(frozen=True)
class _TotpProof:
    step: int
    at: datetime
    device: TotpDevice | None = None  # None: the enrolment's pending secret


class Totp:
    name: ClassVar[str] = "totp"
    delivered: ClassVar[bool] = False
    recovery: ClassVar[bool] = False

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        return {"digits": d.settings.totp_digits, "key_id": None, "delivery": None}

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        return {}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return profile is not None and bool(profile.totp)

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {}

    def parse_code(self, code: str) -> str:
        return parse_digits(code)

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        if ch.purpose == ENROL_TOTP:
            secret = d.sealer.open(ch.pending_secret, totp_aad(ch.user_id), kind="challenge")
            step = match_totp_step(secret, code, now, digits=ch.digits, algorithm=d.settings.totp_algorithm)
            return None if step is None else _TotpProof(step, now)
        for device in profile.totp:  # any of the user's devices, imported hardware tokens included
            secret = d.sealer.open(device.secret, totp_aad(ch.user_id), kind="profile")
            step = match_totp_step(secret, code, now, digits=device.digits, algorithm=device.algorithm,
                                   period=device.period)
            # A replay: at or below this device's last accepted step, or a time step no newer than the last
            # one the user signed in with from any device (two devices may share a secret) (C11).
            if step is not None and step > device.last_step and step * device.period > profile.totp_last_at:
                return _TotpProof(step, now, device)
        return None

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
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

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        """One entry per active device (label: a hardware token's serial), never its secret."""
        return [{"type": self.name, "deviceId": dev.id, "label": dev.serial, "createdAt": dev.created_at,
                 "lastUsedAt": dev.last_used_at} for dev in profile.totp if dev.active]

    def remove(self, profile: Profile) -> None:
        profile.totp = []
