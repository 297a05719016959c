"""The temporary access pass as a sign-in method (R2): the active pass (its keyed hash) in the profile's
`accessPass` column, the bounded history in `accessPassHistory`."""
from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..crypto.keys import codes_equal
from ..crypto.recovery_secrets import keyed_hash
from ..kernel.clock import iso
from ..kernel.errors import Canceled
from ..kernel.ids import challenge_id_for
from ..model.records import AccessPassState, Challenge, Profile
from .base import ACCESS_PASS_LABEL
from .typed_secret import CodeProof, TypedSecret

if TYPE_CHECKING:
    from ..ports import Clocked, Keys
    from ..store import UserRows


class AccessPass(TypedSecret):
    """A temporary access pass an admin issued (R2): compared as a keyed hash, spent on use when one-time.
    Its challenge is bound to the pass it was begun under (E1): once that pass is revoked, replaced, expired
    or spent, the challenge is superseded (410 `canceled`, no failure counted), whatever pass is active."""

    name: ClassVar[str] = "access_pass"
    strength_recovery: ClassVar[bool] = True  # W8: signs in a user with no phishing-resistant method

    def held(self, profile: Profile, now: datetime | None) -> bool:
        return profile.access_pass is not None and (now is None or profile.access_pass.expires_at > now)

    def ever_held(self, profile: Profile) -> bool:
        return bool(profile.access_pass or profile.access_pass_history)  # active, or in its history

    def factor_state(self, profile: Profile) -> Any:
        return profile.access_pass.id if profile.access_pass else None

    def to_columns(self, profile: Profile) -> dict[str, Any]:
        active, history = profile.access_pass, profile.access_pass_history
        return {"accessPass": json.dumps(active.to_json()) if active else None,
                "accessPassHistory": json.dumps(history) if history else None}

    def from_columns(self, row: dict[str, Any], profile: Profile) -> None:
        active = row.get("accessPass")
        profile.access_pass = AccessPassState.from_json(json.loads(active)) if active else None
        profile.access_pass_history = json.loads(row.get("accessPassHistory") or "[]")

    def prepare(self, d: Clocked, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        super().prepare(d, profile, context)
        assert profile.access_pass is not None  # prepare() refused a user without an unexpired pass
        return {"access_pass_id": profile.access_pass.id}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return (super().still_enrolled(ch, profile, now) and profile is not None and profile.access_pass is not None
                and ch.access_pass_id == profile.access_pass.id)

    def check(self, d: Keys, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        active = profile.access_pass
        if active is None or not self.still_enrolled(ch, profile, now):
            raise Canceled()  # verify refuses a superseded challenge before it asks: nothing to guess at
        typed = keyed_hash(d.index, ACCESS_PASS_LABEL, f"{ch.user_id}\x00{active.id}", code)
        return CodeProof(now) if codes_equal(active.hash, typed) else None

    def approve(self, d: object, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        assert isinstance(proof, CodeProof) and profile.access_pass is not None
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
