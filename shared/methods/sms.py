"""The SMS method (a code derived per challenge, delivered through the outbox): the phone number, sealed,
in the profile's `phone` and `phoneMasked` columns."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.aad import bound_aad
from ..crypto.keys import codes_equal, derive_code
from ..kernel.results import CodeSent
from ..model.factors import SealedField
from ..model.phone import mask, parse_e164, refuse_country
from ..model.records import Challenge, Profile
from . import limits
from .base import ENROL_SMS, parse_digits

if TYPE_CHECKING:
    from ..ports import Clocked, Counting, Keys, KeysAndSettings
    from ..store import UserRows

LABEL = "phone"  # the label of a sealed number's associated data


def phone_aad(user_id: str) -> str:
    return bound_aad(LABEL, user_id)


class Sms:
    name: ClassVar[str] = "sms"
    delivered: ClassVar[bool] = True
    recovery: ClassVar[bool] = False
    phishing_resistant: ClassVar[bool] = False  # W8: a code can be relayed by a phishing site
    strength_recovery: ClassVar[bool] = False
    sealed: ClassVar[tuple[SealedField, ...]] = (SealedField("profile", "phone", LABEL),
                                                 SealedField("challenge", "destination", LABEL))
    enrols: ClassVar[bool] = True
    enrol_action: ClassVar[str] = "enrol_phone"
    enrol_scope: ClassVar[str] = "phone"

    # ---- stored state ----
    def held(self, profile: Profile, now: datetime | None) -> bool:
        return bool(profile.phone)

    def provisioned(self, profile: Profile) -> bool:
        return bool(profile.phone)

    def ever_held(self, profile: Profile) -> bool:
        return bool(profile.phone)

    def factor_state(self, profile: Profile) -> Any:
        return profile.phone

    def to_columns(self, profile: Profile) -> dict[str, Any]:
        return {"phone": profile.phone, "phoneMasked": profile.phone_masked}

    def from_columns(self, row: dict[str, Any], profile: Profile) -> None:
        profile.phone, profile.phone_masked = row.get("phone"), row.get("phoneMasked")

    # ---- enrolment ----
    def parse_enrolment(self, body: dict[str, Any]) -> Any:
        return parse_e164(body.get("phoneNumber"))

    def refuse_enrolment(self, profile: Profile | None) -> None:
        return None

    def enrolment_fields(self, d: Counting, user_id: str, parsed: Any, context: dict[str, Any],
                         unit: UserRows) -> dict[str, Any]:
        refuse_country(parsed, d.settings.sms_allowed_countries)
        limits.consume_sms(d, user_id, parsed, context.get("ip"))
        return {"destination": d.sealer.seal(parsed.encode(), phone_aad(user_id)),
                "destination_masked": mask(parsed)}

    def enrolment_answer(self, d: object, ch: Challenge, view: dict[str, Any]) -> CodeSent:
        return CodeSent(view)

    # ---- sign-in ----
    def challenge_fields(self, d: KeysAndSettings) -> dict[str, Any]:
        return {"digits": d.settings.code_digits, "key_id": d.hmac_keys.current_id, "delivery": "queued"}

    def prepare(self, d: Counting, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        phone = d.sealer.open(profile.phone, phone_aad(profile.user_id), kind="profile").decode()
        refuse_country(phone, d.settings.sms_allowed_countries)
        limits.consume_sms(d, profile.user_id, phone, context.get("ip"))
        return {"destination": profile.phone, "destination_masked": profile.phone_masked}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return profile is not None and ch.destination == profile.phone

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {"destination": ch.destination_masked} if created else {"delivery": ch.delivery}

    def parse_code(self, code: str) -> str:
        return parse_digits(code)

    def check(self, d: Keys, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        expected = derive_code(d.hmac_keys.get(ch.key_id, "sms-code", "challenge"), ch.token, ch.digits)
        return True if codes_equal(expected, code) else None

    def approve(self, d: Clocked, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        if ch.purpose == ENROL_SMS:
            replaced = profile.phone
            profile.phone, profile.phone_masked = ch.destination, ch.destination_masked
            if replaced:  # the old number's pending codes die with it (E1), committed with the approval
                voided = [p for p in unit.pending_challenges(self.name, d.clock.now())
                          if p.row_key != ch.row_key and p.destination == replaced]
                for p in voided:
                    p.status = "canceled"
                unit.save_later(voided)
        return {}

    def activates(self, proof: object) -> bool:
        return False

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        return [{"type": self.name, "destination": profile.phone_masked}] if profile.phone else []

    def remove(self, profile: Profile, unit: UserRows) -> None:
        profile.phone = profile.phone_masked = None
