"""The SMS method (a code derived per challenge, delivered through the outbox)."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.aad import phone_aad
from ..crypto.keys import codes_equal, derive_code
from ..model.records import Challenge, Profile
from . import limits
from .base import ENROL_SMS, parse_digits

if TYPE_CHECKING:
    from ..deps import Deps
    from ..store import UserRows


class Sms:
    name: ClassVar[str] = "sms"
    delivered: ClassVar[bool] = True
    recovery: ClassVar[bool] = False

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        return {"digits": d.settings.code_digits, "key_id": d.hmac_keys.current_id, "delivery": "queued"}

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        phone = d.sealer.open(profile.phone, phone_aad(profile.user_id), kind="profile").decode()
        limits.consume_sms(d, profile.user_id, phone, context.get("ip"))
        return {"destination": profile.phone, "destination_masked": profile.phone_masked}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return profile is not None and ch.destination == profile.phone

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {"destination": ch.destination_masked} if created else {"delivery": ch.delivery}

    def parse_code(self, code: str) -> str:
        return parse_digits(code)

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        expected = derive_code(d.hmac_keys.get(ch.key_id, "sms-code", "challenge"), ch.token, ch.digits)
        return True if codes_equal(expected, code) else None

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        if ch.purpose == ENROL_SMS:
            profile.phone, profile.phone_masked = ch.destination, ch.destination_masked
        return {}

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        return [{"type": self.name, "destination": profile.phone_masked}] if profile.phone else []

    def remove(self, profile: Profile) -> None:
        profile.phone = profile.phone_masked = None
