"""Managing a user's passkeys beyond the generic flows: list, rename, remove one (the user, behind the
step-up proof a claimed account needs; or an admin, with a reason). Each runs on the user's unit of work:
a removal is one ETag-conditional write of the profile, its audit event (`passkey_removed`, announced as
`com.twostep.passkey.removed`) and the cancelation of the pending challenges it voids (E1). Registration
is `flows.enrolment.enrol(d, "passkey", ...)`; sign-in and verify are the generic flows."""
from __future__ import annotations

import re
from typing import Any

from ..kernel.errors import NotFound
from ..kernel.ids import validate_user_id
from ..kernel.validation import text
from ..methods.passkey import MAX_NAME, Passkey, StoredPasskey, state
from ..ports import Clocked, Deciding, StepUp, Units
from ..store import UserRows
from .challenge_rows import cancel_challenges
from .step_up import require_step_up, with_proof

PASSKEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _passkey_id(value: str) -> str:
    if not PASSKEY_ID_RE.fullmatch(value):
        raise NotFound()
    return value


def _find(unit: UserRows, passkey_id: str) -> StoredPasskey:
    found = next((c for c in state(unit.profile).credentials if c.id == passkey_id), None) if unit.profile else None
    if found is None:
        raise NotFound()
    return found


def list_passkeys(d: Units, user_id: str) -> dict[str, Any]:
    profile = d.load_unit(validate_user_id(user_id)).profile
    return {"passkeys": [c.view() for c in state(profile).credentials] if profile else []}


def rename(d: Deciding, user_id: str, passkey_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A new name is no change of factors: no step-up, no version change; audited."""
    user_id, passkey_id = validate_user_id(user_id), _passkey_id(passkey_id)
    name = text(body, "name", max_len=MAX_NAME, required=True)

    def attempt(unit: UserRows) -> dict[str, Any]:
        passkey = _find(unit, passkey_id)
        passkey.name = name
        assert unit.profile is not None
        unit.save(unit.profile)
        unit.audit(d.clock.now(), "passkey_renamed", "application", passkeyId=passkey_id)
        unit.commit()
        return passkey.view()

    return d.in_unit(user_id, attempt)


def _remove(d: Clocked, unit: UserRows, passkey_id: str, actor: str, **detail: Any) -> None:
    now = d.clock.now()
    profile = unit.profile
    passkey = _find(unit, passkey_id)
    assert profile is not None
    state(profile).credentials.remove(passkey)
    profile.pick_default()
    pending = unit.pending_challenges(Passkey.name, now)  # every pending passkey challenge (E1)
    unit.save(profile)
    unit.audit(now, "passkey_removed", actor, passkeyId=passkey_id, challengesCanceled=len(pending) or None,
               **detail)
    cancel_challenges(unit, pending)
    unit.commit()


def remove(d: StepUp, user_id: str, passkey_id: str, body: dict[str, Any]) -> None:
    """The user removes one passkey, behind a step-up proof (a claimed account always needs one)."""
    user_id, passkey_id = validate_user_id(user_id), _passkey_id(passkey_id)
    proof_id = text(body, "proofChallengeId", max_len=256)

    def attempt(unit: UserRows, proof_rk: str | None) -> None:
        _find(unit, passkey_id)  # 404 before a proof is spent
        require_step_up(unit, proof_rk, d.clock.now(), d.policy())
        _remove(d, unit, passkey_id, "application")

    with_proof(d, user_id, "delete_passkey", proof_id, attempt)


def admin_remove(d: Deciding, user_id: str, passkey_id: str, body: dict[str, Any], actor: str) -> None:
    """An operator removes one passkey (a lost device), with a reason kept in the audit trail."""
    user_id, passkey_id = validate_user_id(user_id), _passkey_id(passkey_id)
    reason = text(body, "reason", max_len=256, required=True)
    d.in_unit(user_id, lambda unit: _remove(d, unit, passkey_id, actor, reason=reason))
