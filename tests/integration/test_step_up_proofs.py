"""Step-up for changing a user's methods: only a sign-in challenge of *that* user, approved within the last
5 minutes and not used before, is a proof. Each other kind of challenge id is refused for each of the three
changes (add phone, add app, remove a method), changes nothing, and leaves the user able to make the change
with a real proof right after (so the refusal came from the proof, not from the request)."""
from __future__ import annotations

import pytest

from shared.flows import admin, challenge_rows, enrolment, verify
from shared.flows import signin as signin_flow
from shared.kernel.errors import StepUpRequired
from tests.integration.test_flows import approved_signin, enrol_sms

ALICE_PHONE, BOB_PHONE, NEW_PHONE = "+14255550151", "+14255550152", "+14255550153"


def signin(deps, user: str = "alice") -> str:
    return signin_flow.begin(deps, {"userId": user, "method": "sms"}).view["challengeId"]


def enrolment_proof(deps, clock, enrol_cid):
    return enrol_cid  # approved a moment ago, well within the 5 minutes: only its purpose is wrong


def canceled_proof(deps, clock, enrol_cid):
    cid = signin(deps)
    verify.report_fraud(deps, cid)
    admin.unblock(deps, "alice", {"reason": "test"}, "ops")
    assert challenge_rows.get(deps, cid)["status"] == "canceled"
    return cid


def expired_proof(deps, clock, enrol_cid):
    cid = signin(deps)
    clock.advance(300)
    assert challenge_rows.get(deps, cid)["status"] == "expired"
    return cid


def too_old_proof(deps, clock, enrol_cid):
    cid = approved_signin(deps)
    clock.advance(301)
    return cid


def other_users_proof(deps, clock, enrol_cid):
    enrol_sms(deps, "bob", BOB_PHONE)
    return approved_signin(deps, "bob")


def add_phone(deps, proof):
    return enrolment.enrol_phone(deps, "alice", {"phoneNumber": NEW_PHONE, "proofChallengeId": proof})


def add_app(deps, proof):
    return enrolment.enrol_totp(deps, "alice", {"proofChallengeId": proof})


def remove_sms(deps, proof):
    return enrolment.delete_method(deps, "alice", "sms", {"proofChallengeId": proof})


PROOFS = [enrolment_proof, canceled_proof, expired_proof, too_old_proof, other_users_proof]
# The refusal's `reason`, which its detail spells out: what the client must fetch anew.
REASONS = {"enrolment_proof": "not_a_signin", "canceled_proof": "not_a_signin", "expired_proof": "not_a_signin",
           "too_old_proof": "expired", "other_users_proof": "other_user"}
CHANGES = [add_phone, add_app, remove_sms]


def state(deps) -> tuple:
    """What a change could alter: the user's methods and every challenge row's status and proof use."""
    user = enrolment.get_user(deps, "alice")
    rows = sorted((r["RowKey"], r.get("status"), r.get("proofUsedAt")) for r in deps.store.table.list_entities()
                  if r["RowKey"].startswith("ch|"))
    return user["methods"], rows


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("make_proof", PROOFS, ids=lambda f: f.__name__)
def test_refused_as_proof(deps, clock, make_proof, change):
    enrol_cid = enrol_sms(deps, "alice", ALICE_PHONE)["challengeId"]  # approved, of purpose enrol_sms
    proof = make_proof(deps, clock, enrol_cid)
    before = state(deps)
    with pytest.raises(StepUpRequired) as refused:
        change(deps, proof)
    assert refused.value.problem()["reason"] == REASONS[make_proof.__name__]
    assert StepUpRequired.REASONS[REASONS[make_proof.__name__]] in refused.value.problem()["detail"]
    assert state(deps) == before
    change(deps, approved_signin(deps))  # a real proof, same request: accepted


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_a_proof_serves_once(deps, clock, change):
    enrol_sms(deps, "alice", ALICE_PHONE)
    proof = approved_signin(deps)
    add_app(deps, proof)
    with pytest.raises(StepUpRequired) as refused:
        change(deps, proof)
    assert refused.value.problem()["reason"] == "used"


@pytest.mark.parametrize("proof", ["x" * 40, "not-a-challenge-id", "YWxpY2U.AAAAAAAAAAAAAAAAAAAAAA"])
def test_malformed_or_unknown_ids_are_refused(deps, proof):
    enrol_sms(deps, "alice", ALICE_PHONE)
    for change in CHANGES:
        with pytest.raises(StepUpRequired) as refused:
            change(deps, proof)
        assert refused.value.problem()["reason"] == "missing"


def test_no_proof_is_refused_as_missing(deps):
    enrol_sms(deps, "alice", ALICE_PHONE)
    for change in CHANGES:
        with pytest.raises(StepUpRequired) as refused:
            change(deps, None)
        assert refused.value.problem()["reason"] == "missing", change.__name__
