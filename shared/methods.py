"""Sign-in methods: one class per method, one small protocol, one table (`METHODS`).

A flow never asks which method it holds; it asks the method. A method says what a new challenge of
its kind carries (`challenge_fields`, `prepare`), whether it is delivered (`delivered`: an SMS goes
through the queue and the sweeper), whether a pending sign-in challenge still matches the profile
(`still_enrolled`), what an answer must look like (`parse_code`: a malformed one is 400 and uses no
attempt), checks an answer in constant time (`check` returns a proof, or None when wrong) and applies
what approval changes on the profile (`approve`, which returns any fields the verify answer adds).

`check` and `approve` also get the decision's unit of work (`store.UserRows`): the rows of the user's
partition as read, where a method whose state lives outside the profile reads its row (`unit.read`) and
registers its change (`unit.save`, `unit.put`, `unit.patch`, `unit.delete`) and its own audit event
(`unit.audit`), all committed with the approval in its one ETag-conditional transaction.

The recovery methods (`recovery = True`) are the temporary access pass (R2) and recovery codes (R3):
not delivered, typed secrets compared as keyed hashes on the profile, never a default method and never
removed through the method routes (a pass is revoked, a set of codes replaced). The access pass's `check`
compares the pass and `approve` spends a one-time pass; a recovery code's `check` returns the index of
the matched code and `approve` removes that one. The profile's ETag makes sure either is spent once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from . import limits
from .aad import phone_aad, totp_aad
from .clock import iso
from .crypto import codes_equal, derive_code
from .errors import Canceled, Conflict, InvalidRequest, NotEnrolled
from .ids import challenge_id_for, random_token
from .models import MAX_TOTP_DEVICES, Challenge, Profile, TotpDevice
from .otp import match_totp_step
from .recovery_secrets import keyed_hash, normalize
from .validation import CODE_RE

if TYPE_CHECKING:
    from .deps import Deps
    from .store import UserRows

SIGNIN, ENROL_SMS, ENROL_TOTP = "signin", "enrol_sms", "enrol_totp"
ACCESS_PASS_LABEL, RECOVERY_CODE_LABEL = "access-pass", "recovery-code"  # labels of their keyed hashes


class Method(Protocol):
    name: ClassVar[str]
    delivered: ClassVar[bool]
    recovery: ClassVar[bool]

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        """Fields of every new challenge of this method (digits, key id, delivery state)."""
        ...

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        """Before a sign-in challenge is created: limits to spend, destination fields to add."""
        ...

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        """Whether a pending sign-in challenge still matches what the user has enrolled at `now` (E1)."""
        ...

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        """Method-specific fields of the challenge's public view."""
        ...

    def parse_code(self, code: str) -> str:
        """The answer in the form `check` compares, or InvalidRequest (400, no attempt used)."""
        ...

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        """A proof that `code` answers `ch` (compared in constant time), or None. `unit` holds the user's
        rows of this decision: a method whose secret lives in a row of its own reads it there
        (`unit.read(row_key)`, one more point read)."""
        ...

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        """What approval changes on the profile (an enrolled phone or device, a spent step or code); a change
        to another row of the user, or an audit event of the method's own, goes into `unit` and is committed
        with the approval, in its one transaction. Returns the fields the verify answer adds."""
        ...

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        """The method's entries in a user's method list (none when not enrolled)."""
        ...

    def remove(self, profile: Profile) -> None:
        """Take the method off the profile."""
        ...


def _digits(code: str) -> str:
    if not CODE_RE.fullmatch(code):
        raise InvalidRequest("code must be a string of 6 to 8 digits.")
    return code


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
        return _digits(code)

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
        return _digits(code)

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


class _Typed:
    """What the two recovery methods share: no delivery, nothing to prepare but a check that the user
    holds the factor, a typed secret, no entry in the method list, never removed as a method."""

    delivered: ClassVar[bool] = False
    recovery: ClassVar[bool] = True
    name: ClassVar[str]

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        return {"digits": 0, "key_id": None, "delivery": None}

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        if self.name not in profile.recovery_methods(d.clock.now()):
            raise NotEnrolled()
        return {}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return profile is not None and self.name in profile.recovery_methods(now)

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {}

    def parse_code(self, code: str) -> str:
        normalized = normalize(code)
        if normalized is None:
            raise InvalidRequest("code must be 16 letters and digits, in groups of four.")
        return normalized

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        return []

    def remove(self, profile: Profile) -> None:
        raise NotEnrolled()  # never reached: the method routes refuse recovery methods


@dataclass(frozen=True)
class _CodeProof:
    at: datetime
    index: int = 0  # which recovery code of the set matched


class AccessPass(_Typed):
    """A temporary access pass an admin issued (R2): compared as a keyed hash, spent on use when one-time.
    Its challenge is bound to the pass it was begun under (E1): once that pass is revoked, replaced, expired
    or spent, the challenge is superseded (410 `canceled`, no failure counted), whatever pass is active."""

    name: ClassVar[str] = "access_pass"

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        super().prepare(d, profile, context)
        assert profile.access_pass is not None  # prepare() refused a user without an unexpired pass
        return {"access_pass_id": profile.access_pass.id}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return (super().still_enrolled(ch, profile, now) and profile is not None and profile.access_pass is not None
                and ch.access_pass_id == profile.access_pass.id)

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        active = profile.access_pass
        if active is None or not self.still_enrolled(ch, profile, now):
            raise Canceled()  # verify refuses a superseded challenge before it asks: nothing to guess at
        typed = keyed_hash(d.index, ACCESS_PASS_LABEL, f"{ch.user_id}\x00{active.id}", code)
        return _CodeProof(now) if codes_equal(active.hash, typed) else None

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        assert isinstance(proof, _CodeProof) and profile.access_pass is not None
        used = profile.access_pass
        for entry in profile.access_pass_history:
            if entry["accessPassId"] == used.id:
                entry["usedAt"] = iso(proof.at)
                if used.one_time:
                    entry["status"] = "used"
        if used.one_time:
            profile.access_pass = None
        unit.audit(proof.at, "access_pass_used", "application", challengeId=challenge_id_for(ch.user_id, ch.row_key),
                   accessPassId=used.id, oneTime=used.one_time)
        return {}


class RecoveryCode(_Typed):
    """One of the user's ten recovery codes (R3): each is a keyed hash on the profile, removed when used."""

    name: ClassVar[str] = "recovery_code"

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        typed = keyed_hash(d.index, RECOVERY_CODE_LABEL, ch.user_id, code)
        found = None
        for i, stored in enumerate(profile.recovery_codes):  # every one compared, in constant time each
            if codes_equal(stored, typed) and found is None:
                found = i
        return None if found is None else _CodeProof(now, found)

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        assert isinstance(proof, _CodeProof)
        del profile.recovery_codes[proof.index]
        remaining = {"recoveryCodesRemaining": len(profile.recovery_codes)}
        unit.audit(proof.at, "recovery_code_used", "application",
                   challengeId=challenge_id_for(ch.user_id, ch.row_key), **remaining)
        return remaining


METHODS: dict[str, Method] = {m.name: m for m in (Sms(), Totp(), AccessPass(), RecoveryCode())}


def delivers(method: str) -> bool:
    """Whether challenges of `method` are sent through the queue (a row of an unknown method is not)."""
    m = METHODS.get(method)
    return m is not None and m.delivered
