"""Edges of the recovery methods that mutation testing found unstated (docs/testing.md, "make mutate"):
each test states one promise of R2/R3/R5 through the public functions, on a real Azurite."""
from __future__ import annotations

import pytest

from shared.flows import access_pass, admin, enrolment, recovery_codes, removal
from shared.kernel.errors import InvalidRequest, StepUpRequired
from tests.integration.test_flows import approved_signin, enrol_app, enrol_sms
from tests.integration.test_recovery import codes_for, issue, sign_in, sign_in_totp
from tests.integration.test_refusals import counts


def test_a_pass_issued_without_a_lifetime_lasts_60_minutes(deps):  # R2
    enrol_sms(deps)
    assert issue(deps)["expiresAt"] == "2026-11-27T20:30:00Z"  # the clock stands at 19:30


def test_the_listing_keeps_the_20_newest_passes_newest_first(deps):  # R2
    enrol_sms(deps)
    ids = [issue(deps)["accessPassId"] for _ in range(21)]
    listed = access_pass.list_passes(deps, "alice")["accessPasses"]
    assert [p["accessPassId"] for p in listed] == ids[::-1][:20]
    assert [p["status"] for p in listed] == ["active"] + ["revoked"] * 19


def test_a_revoked_pass_is_listed_as_revoked(deps):  # R2
    enrol_sms(deps)
    issued = issue(deps)
    access_pass.revoke(deps, "alice", "admin-key")
    listed = access_pass.list_passes(deps, "alice")["accessPasses"]
    assert [(p["accessPassId"], p["status"]) for p in listed] == [(issued["accessPassId"], "revoked")]


def test_a_new_set_of_codes_is_dated_and_audited_with_the_unspent_codes_it_replaced(deps):  # R3
    enrol_sms(deps)
    first = recovery_codes.generate(deps, "alice", {"proofChallengeId": approved_signin(deps)}).view
    assert first["createdAt"] == "2026-11-27T19:30:00Z"
    sign_in(deps, "alice", "recovery_code", first["codes"][0])
    codes_for(deps)
    generated = [e for e in admin.audit_events(deps, "alice")["events"] if e["event"] == "recovery_codes_generated"]
    assert len(generated) == 2 and {(e["actor"], e["recoveryCodesRemaining"], e.get("replacedUnspent"))
                                    for e in generated} == {("application", 10, 9), ("application", 10, None)}


def test_a_proof_id_is_at_most_256_characters(deps):  # C10: bounded before any read
    enrol_sms(deps)
    with pytest.raises(StepUpRequired):  # well formed, and not a proof
        recovery_codes.generate(deps, "alice", {"proofChallengeId": "a" * 256})
    with pytest.raises(InvalidRequest):
        recovery_codes.generate(deps, "alice", {"proofChallengeId": "a" * 257})


def test_a_refused_generation_is_counted_under_its_own_action(deps):  # D7
    enrol_sms(deps)
    with pytest.raises(StepUpRequired):
        recovery_codes.generate(deps, "alice", {})
    assert counts(deps) == {("recovery_codes", "step_up_required"): 1}


def test_an_admin_removal_reason_is_at_most_256_characters(deps):  # R5
    enrol_sms(deps)
    with pytest.raises(InvalidRequest):
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "x" * 257}, "admin-key")
    removal.admin_remove_method(deps, "alice", "sms", {"reason": "x" * 256}, "admin-key")


def test_a_users_own_device_removal_is_audited_as_the_application_and_refusals_as_delete_device(deps, clock):
    secret, _ = enrol_app(deps, clock)  # R5, D7
    (device,) = [d["deviceId"] for d in enrolment.get_user(deps, "alice")["methods"]]
    with pytest.raises(StepUpRequired):
        removal.remove_device(deps, "alice", device, {})
    with pytest.raises(InvalidRequest):
        removal.remove_device(deps, "alice", device, {"proofChallengeId": "a" * 257})
    with pytest.raises(StepUpRequired):
        removal.remove_device(deps, "alice", device, {"proofChallengeId": "a" * 256})
    assert counts(deps) == {("delete_device", "step_up_required"): 2}
    removal.remove_device(deps, "alice", device, {"proofChallengeId": sign_in_totp(deps, clock, secret)})
    (removed,) = [e for e in admin.audit_events(deps, "alice")["events"] if e["event"] == "method_removed"]
    assert (removed["actor"], removed["by"], removed["deviceId"]) == ("application", "user", device)
