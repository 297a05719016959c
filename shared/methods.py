"""Sign-in methods: one class per method, one small protocol, one table (`METHODS`).

A flow never asks which method it holds; it asks the method. A method says what a new challenge of
its kind carries (`challenge_fields`, `prepare`), whether it is delivered (`delivered`: an SMS goes
through the queue and the sweeper), whether a pending sign-in challenge still matches the profile
(`still_enrolled`), checks an answer in constant time (`check` returns a proof, or None when wrong) and
applies what approval changes on the profile (`approve`).

New methods are new classes registered here. An access pass (no delivery, a typed secret compared
against a keyed hash on the profile) is `delivered = False`, `prepare` returns {}, `check` compares the
secret, `approve` counts a use. A recovery code (spend one of a set) is the same, with `check`
returning the index of the matched code and `approve` marking that one spent; the profile's ETag
makes sure a code is spent once.

`check` and `approve` also get the decision's unit of work (`store.UserRows`): the rows of the user's
partition as read, where a method whose state lives outside the profile reads its row (`unit.read`) and
registers its change (`unit.save`, `unit.put`, `unit.patch`, `unit.delete`): e.g. an access pass kept
in a row of its own is marked used in the same ETag-conditional transaction that approves the
challenge, so a pass is used once even under concurrent verifies.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from . import limits
from .aad import phone_aad, totp_aad
from .crypto import codes_equal, derive_code
from .errors import Conflict
from .ids import random_token
from .models import MAX_TOTP_DEVICES, Challenge, Profile, TotpDevice
from .otp import match_totp_step

if TYPE_CHECKING:
    from .deps import Deps
    from .store import UserRows

SIGNIN, ENROL_SMS, ENROL_TOTP = "signin", "enrol_sms", "enrol_totp"


class Method(Protocol):
    name: ClassVar[str]
    delivered: ClassVar[bool]

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        """Fields of every new challenge of this method (digits, key id, delivery state)."""
        ...

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        """Before a sign-in challenge is created: limits to spend, destination fields to add."""
        ...

    def still_enrolled(self, ch: Challenge, profile: Profile | None) -> bool:
        """Whether a pending sign-in challenge still matches what the user has enrolled (E1)."""
        ...

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        """Method-specific fields of the challenge's public view."""
        ...

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        """A proof that `code` answers `ch` (compared in constant time), or None. `unit` holds the user's
        rows of this decision: a method whose secret lives in a row of its own reads it there
        (`unit.read(row_key)`, one more point read)."""
        ...

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> None:
        """What approval changes on the profile (an enrolled phone or device, a spent step); a change to
        another row of the user goes into `unit` (`unit.save(model)`, `unit.put(row, read)`) and is
        committed with the approval, in its one transaction."""
        ...

    def enrolled_view(self, profile: Profile) -> dict[str, Any] | None:
        """The method's entry in a user's method list, or None when not enrolled."""
        ...

    def remove(self, profile: Profile) -> None:
        """Take the method off the profile."""
        ...


class Sms:
    name: ClassVar[str] = "sms"
    delivered: ClassVar[bool] = True

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        return {"digits": d.settings.code_digits, "key_id": d.hmac_keys.current_id, "delivery": "queued"}

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        phone = d.sealer.open(profile.phone, phone_aad(profile.user_id), kind="profile").decode()
        limits.consume_sms(d, profile.user_id, phone, context.get("ip"))
        return {"destination": profile.phone, "destination_masked": profile.phone_masked}

    def still_enrolled(self, ch: Challenge, profile: Profile | None) -> bool:
        return profile is not None and ch.destination == profile.phone

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {"destination": ch.destination_masked} if created else {"delivery": ch.delivery}

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        expected = derive_code(d.hmac_keys.get(ch.key_id, "sms-code", "challenge"), ch.token, ch.digits)
        return True if codes_equal(expected, code) else None

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> None:
        if ch.purpose == ENROL_SMS:
            profile.phone, profile.phone_masked = ch.destination, ch.destination_masked

    def enrolled_view(self, profile: Profile) -> dict[str, Any] | None:
        return {"type": self.name, "destination": profile.phone_masked} if profile.phone else None

    def remove(self, profile: Profile) -> None:
        profile.phone = profile.phone_masked = None


@dataclass(frozen=True)
class _TotpProof:
    step: int
    device: TotpDevice | None = None  # None: the enrolment's pending secret


class Totp:
    name: ClassVar[str] = "totp"
    delivered: ClassVar[bool] = False

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        return {"digits": d.settings.totp_digits, "key_id": None, "delivery": None}

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        return {}

    def still_enrolled(self, ch: Challenge, profile: Profile | None) -> bool:
        return profile is not None and bool(profile.totp)

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {}

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        if ch.purpose == ENROL_TOTP:
            secret = d.sealer.open(ch.pending_secret, totp_aad(ch.user_id), kind="challenge")
            step = match_totp_step(secret, code, now, digits=ch.digits, algorithm=d.settings.totp_algorithm)
            return None if step is None else _TotpProof(step)
        for device in profile.totp:  # any of the user's devices, imported hardware tokens included
            secret = d.sealer.open(device.secret, totp_aad(ch.user_id), kind="profile")
            step = match_totp_step(secret, code, now, digits=device.digits, algorithm=device.algorithm,
                                   period=device.period)
            # A replay: at or below this device's last accepted step, or a time step no newer than the last
            # one the user signed in with from any device (two devices may share a secret) (C11).
            if step is not None and step > device.last_step and step * device.period > profile.totp_last_at:
                return _TotpProof(step, device)
        return None

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> None:
        assert isinstance(proof, _TotpProof)
        device = proof.device
        if device is None:
            if len(profile.totp) >= MAX_TOTP_DEVICES:
                raise Conflict(f"A user can have at most {MAX_TOTP_DEVICES} TOTP devices.")
            profile.totp.append(TotpDevice(id=random_token(6), secret=ch.pending_secret,
                                           algorithm=d.settings.totp_algorithm, digits=ch.digits, period=30,
                                           last_step=proof.step))
            profile.totp_last_at = max(profile.totp_last_at, proof.step * 30)
            return
        device.last_step = proof.step
        profile.totp_last_at = proof.step * device.period
        device.active = True  # a hardware token becomes an active method with its first good code

    def enrolled_view(self, profile: Profile) -> dict[str, Any] | None:
        return {"type": self.name} if any(dev.active for dev in profile.totp) else None

    def remove(self, profile: Profile) -> None:
        profile.totp = []


METHODS: dict[str, Method] = {m.name: m for m in (Sms(), Totp())}


def delivers(method: str) -> bool:
    """Whether challenges of `method` are sent through the queue (a row of an unknown method is not)."""
    m = METHODS.get(method)
    return m is not None and m.delivered
