"""Recovery codes as a sign-in method (R3): the unspent codes' keyed hashes in the profile's
`recoveryCodes` column, when the set was generated in `recoveryCodesAt`."""
from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.keys import codes_equal
from ..crypto.recovery_secrets import keyed_hash
from ..kernel.ids import challenge_id_for
from ..model.records import Challenge, Profile
from .base import RECOVERY_CODE_LABEL
from .typed_secret import CodeProof, TypedSecret

if TYPE_CHECKING:
    from ..ports import Keys
    from ..store import UserRows


class RecoveryCode(TypedSecret):
    """One of the user's ten recovery codes (R3): each is a keyed hash on the profile, removed when used."""

    name: ClassVar[str] = "recovery_code"

    def held(self, profile: Profile, now: datetime | None) -> bool:
        return bool(profile.recovery_codes)

    def ever_held(self, profile: Profile) -> bool:
        return bool(profile.recovery_codes_at)  # a set ever generated, spent or not

    def factor_state(self, profile: Profile) -> Any:
        return tuple(profile.recovery_codes), profile.recovery_codes_at

    def to_columns(self, profile: Profile) -> dict[str, Any]:
        generated = profile.recovery_codes_at
        return {"recoveryCodes": json.dumps(profile.recovery_codes) if generated else None,
                "recoveryCodesAt": generated}

    def from_columns(self, row: dict[str, Any], profile: Profile) -> None:
        profile.recovery_codes = json.loads(row.get("recoveryCodes") or "[]")
        profile.recovery_codes_at = row.get("recoveryCodesAt")

    def check(self, d: Keys, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        typed = keyed_hash(d.index, RECOVERY_CODE_LABEL, ch.user_id, code)
        found = None
        for i, stored in enumerate(profile.recovery_codes):  # every one compared, in constant time each
            if codes_equal(stored, typed) and found is None:
                found = i
        return None if found is None else CodeProof(now, found)

    def approve(self, d: object, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        assert isinstance(proof, CodeProof)
        del profile.recovery_codes[proof.index]
        remaining = {"recoveryCodesRemaining": len(profile.recovery_codes)}
        unit.audit(proof.at, "recovery_code_used", "application",
                   challengeId=challenge_id_for(ch.user_id, ch.row_key), **remaining)
        return remaining
