"""What the two recovery methods share: a typed secret compared as a keyed hash."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.recovery_secrets import normalize
from ..kernel.errors import InvalidRequest, NotEnrolled
from ..model.factors import SealedField
from ..model.records import Challenge, Profile
from .base import NoEnrolment

if TYPE_CHECKING:
    from ..ports import Clocked
    from ..store import UserRows


class TypedSecret(NoEnrolment):
    """What the two recovery methods share: no delivery, nothing to prepare but a check that the user
    holds the factor, a typed secret (keyed hashes, nothing sealed), no entry in the method list, never
    removed as a method, issued or generated rather than enrolled."""

    delivered: ClassVar[bool] = False
    recovery: ClassVar[bool] = True
    phishing_resistant: ClassVar[bool] = False  # W8: a typed secret can be relayed
    strength_recovery: ClassVar[bool] = False
    sealed: ClassVar[tuple[SealedField, ...]] = ()
    name: ClassVar[str]

    def provisioned(self, profile: Profile) -> bool:
        return self.held(profile, None)

    def held(self, profile: Profile, now: datetime | None) -> bool:
        raise NotImplementedError

    def challenge_fields(self, d: object) -> dict[str, Any]:
        return {"digits": 0, "key_id": None, "delivery": None}

    def prepare(self, d: Clocked, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
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

    def activates(self, proof: object) -> bool:
        return False

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        return []

    def remove(self, profile: Profile, unit: UserRows) -> None:
        raise NotEnrolled()  # never reached: the method routes refuse recovery methods


@dataclass(frozen=True)
class CodeProof:
    at: datetime
    index: int = 0  # which recovery code of the set matched
