"""The step-up window's edge (R6; found by mutation testing, docs/testing.md): a sign-in approved exactly
5 minutes ago is still a proof; one second later it is not (test_step_up_proofs.py covers 301 s)."""
from __future__ import annotations

import pytest

from shared.flows import enrolment
from shared.kernel.errors import StepUpRequired
from tests.integration.test_flows import approved_signin, enrol_sms


@pytest.mark.parametrize("age,accepted", [(299, True), (300, True), (301, False)])
def test_a_proof_is_accepted_up_to_exactly_five_minutes(deps, clock, age, accepted):
    enrol_sms(deps, "alice", "+14255550161")
    proof = approved_signin(deps)
    clock.advance(age)
    if accepted:
        assert enrolment.enrol_totp(deps, "alice", {"proofChallengeId": proof}).view["secret"]
    else:
        with pytest.raises(StepUpRequired):
            enrolment.enrol_totp(deps, "alice", {"proofChallengeId": proof})
