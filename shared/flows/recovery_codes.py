"""Recovery codes (R3): a set of ten single-use codes a user generates while they still hold a method,
kept for the day they lose it; `method: "recovery_code"` signs in with one (methods.RecoveryCode).

The profile holds the keyed hash of each unspent code (never a code), so generating a set, and spending
one code, is one unit of work: the profile saved If-Match with its audit event; a new set replaces the old.
Generating needs the step-up proof of any other method change, and an account that is claimed (R7: it has
held a factor, step_up.claimed): a user who never enrolled gets 409 `not_enrolled` (codes of their own
would otherwise let whoever knows the password block the owner's first enrolment behind a step-up). A
blocked or locked user gets no codes, whatever the proof (step_up.require_step_up).

Codes are shown once. A repeated `Idempotency-Key` never shows them again: it answers 409
`idempotency_result_gone` (a different body with that key, 422 `idempotency_key_reused`), and a plain retry
finds its proof already used (403 `step_up_required`); the client generates a new set with a new proof.
"""
from __future__ import annotations

from typing import Any

from ..crypto.recovery_secrets import keyed_hash, new_secret, normalize
from ..kernel.clock import iso
from ..kernel.errors import IdempotentResultGone, NotEnrolled
from ..kernel.ids import validate_user_id
from ..kernel.results import CodesIssued
from ..kernel.validation import text
from ..methods.base import RECOVERY_CODE_LABEL
from ..ports import Recovering
from ..store import UserRows
from ..store.idempotency import CODES, Idempotency, Replay
from .challenge_rows import replay_of
from .step_up import claimed, require_step_up, with_proof

SET_SIZE = 10


def generate(d: Recovering, user_id: str, body: dict[str, Any], idempotency_key: str | None = None) -> CodesIssued:
    user_id = validate_user_id(user_id)
    proof_id = text(body, "proofChallengeId", max_len=256)
    idem = Idempotency.from_request(d.index, idempotency_key, f"recovery-codes/{user_id}", body)

    def attempt(unit: UserRows, proof_rk: str | None) -> CodesIssued:
        now = d.clock.now()
        profile = unit.profile
        if replay_of(unit, idem, now) is not None:  # the codes were shown once, to the first request
            raise IdempotentResultGone()
        if profile is None or not claimed(unit):
            raise NotEnrolled()
        require_step_up(unit, proof_rk, now, d.policy())
        codes = [new_secret(lower=True) for _ in range(SET_SIZE)]
        replaced = len(profile.recovery_codes) if profile.recovery_codes_at else None
        profile.recovery_codes = [keyed_hash(d.index, RECOVERY_CODE_LABEL, user_id, normalize(c) or "") for c in codes]
        profile.recovery_codes_at = now
        unit.save(profile)
        unit.audit(now, "recovery_codes_generated", "application", recoveryCodesRemaining=SET_SIZE,
                   replacedUnspent=replaced)
        if idem is not None:
            idem.add_record(unit, Replay(CODES, iso(now) or ""), now, d.policy().code_ttl_seconds)
        unit.commit()
        return CodesIssued({"codes": codes, "createdAt": iso(now)})

    return with_proof(d, user_id, "recovery_codes", proof_id, attempt, idem.row_key if idem else None)
