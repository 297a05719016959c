"""Step-up (S-rules, R6, R7): changing a user's factors needs a fresh sign-in approval of that user once the
account is *claimed*: it has ever held a factor (a phone, a TOTP device or an imported token used or not, an
access pass, recovery codes), even when none is left. Only a never-claimed account enrols its first method
freely. A blocked or locked user changes no factor, whatever proof is presented. `with_proof` runs a change
on a unit that also holds the named proof challenge (one query) and audits a refusal; `require_step_up`
refuses a barred user, then checks the proof and spends it (If-Match, so one approval proves one change).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ..kernel.errors import NotFound, StepUpRequired
from ..kernel.ids import parse_challenge_id
from ..methods.base import SIGNIN
from ..model import strength
from ..model.policy import Policy
from ..ports import Proving
from ..store import UserRows
from .challenge_rows import audited_refusals, refuse_if_barred

PROOF_WINDOW = timedelta(minutes=5)
# Audit events that only an account holding a factor can have: what tells a profile stored before the
# `claimed` flag, which no longer holds anything, that it was claimed.
CLAIMING_EVENTS = ("verify_approved", "method_removed", "oath_tokens_imported", "access_pass_issued",
                   "recovery_codes_generated")
T = TypeVar("T")


def proof_key(user_id: str, proof_id: str | None) -> str | None:
    """The row key of the named proof challenge (parsed once, before the conflict-retry loop); it must be
    one of this user's."""
    if proof_id is None:
        return None
    try:
        proof_user, proof_rk = parse_challenge_id(proof_id)
    except NotFound:
        raise StepUpRequired("missing") from None
    if proof_user != user_id:
        raise StepUpRequired("other_user")
    return proof_rk


def with_proof(d: Proving, user_id: str, action: str, proof_id: str | None,
                attempt: Callable[[UserRows, str | None], T], *row_keys: str | None) -> T:
    """Run `attempt(unit, proof_rk)` on a unit that also holds the named proof challenge (one query),
    again after a lost race; a refusal, a bad proof id's included, is audited."""
    def run() -> T:
        proof_rk = proof_key(user_id, proof_id)
        return d.in_unit(user_id, lambda unit: attempt(unit, proof_rk), proof_rk, *row_keys)
    return audited_refusals(d, user_id, action, run)


def claimed(unit: UserRows) -> bool:
    """Whether the unit's user has ever held a factor (R7). A profile stored before the flag that holds
    nothing now is asked its audit trail (one query, until the profile is next written with the answer)."""
    profile = unit.profile
    if profile is None:
        return False
    if profile.is_claimed():
        return True
    if profile.claimed is None:
        profile.claimed = unit.audited_any(CLAIMING_EVENTS)
    return bool(profile.claimed)


def require_step_up(unit: UserRows, proof_rk: str | None, now: datetime, policy: Policy,
                    context: dict[str, Any] | None = None, enrolling: str | None = None) -> None:
    """A factor change by the user: refused for a blocked or locked user (R7, D7), and on a claimed account
    it needs `proof_rk`, which it spends. Under an authentication strength (W8: the user's groups, or the
    change request's own `context.riskLevel`) the proof must be as strong (model.strength.check_proof)."""
    refuse_if_barred(unit.profile, now)
    if not claimed(unit):  # the first enrolment of an account that never held a factor
        return
    proof = unit.challenge(proof_rk) if proof_rk else None
    if proof is None:
        raise StepUpRequired("missing")
    if proof.purpose != SIGNIN or proof.status != "approved" or proof.approved_at is None:
        raise StepUpRequired("not_a_signin")
    if proof.proof_used_at is not None:
        raise StepUpRequired("used")
    if now - proof.approved_at > PROOF_WINDOW:
        raise StepUpRequired("expired")
    assert unit.profile is not None  # claimed() is False without one
    required = strength.required(policy.strength_groups, policy.strength_risk, unit.profile.groups,
                                 (context or {}).get("riskLevel"))
    strength.check_proof(required, proof.method, enrolling)
    proof.proof_used_at = now
    unit.save(proof)
