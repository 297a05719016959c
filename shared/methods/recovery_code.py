"""Recovery codes as a sign-in method (R3)."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.keys import codes_equal
from ..crypto.recovery_secrets import keyed_hash
from ..kernel.ids import challenge_id_for
from ..model.records import Challenge, Profile
from .base import RECOVERY_CODE_LABEL
from .typed_secret import CodeProof, TypedSecret

if TYPE_CHECKING:
    from ..deps import Deps
    from ..store import UserRows


class RecoveryCode(TypedSecret):
    """One of the user's ten recovery codes (R3): each is a keyed hash on the profile, removed when used."""

    name: ClassVar[str] = "recovery_code"

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        typed = keyed_hash(d.index, RECOVERY_CODE_LABEL, ch.user_id, code)
        found = None
        for i, stored in enumerate(profile.recovery_codes):  # every one compared, in constant time each
            if codes_equal(stored, typed) and found is None:
                found = i
        return None if found is None else CodeProof(now, found)

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        assert isinstance(proof, CodeProof)
        del profile.recovery_codes[proof.index]
        remaining = {"recoveryCodesRemaining": len(profile.recovery_codes)}
        unit.audit(proof.at, "recovery_code_used", "application",
                   challengeId=challenge_id_for(ch.user_id, ch.row_key), **remaining)
        return remaining
