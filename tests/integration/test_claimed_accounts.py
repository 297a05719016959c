"""Claimed accounts and factor changes (R7, E1, D7) against a real Azurite with an injected clock: a claimed
account needs a proof to bind a method even with no factor left (rows stored before the flag included), a
blocked or locked user changes no factor whatever the proof, enrolments are bound to a methods version that
only grows, and an access-pass challenge dies with its pass. The same stories through the dev host are in
test_http_claimed.py."""
from __future__ import annotations

import hashlib
import json

import pytest
from azure.data.tables import UpdateMode

from shared.crypto.otp import totp
from shared.flows import access_pass, admin, challenge_rows, enrolment, recovery_codes, removal, verify
from shared.kernel.errors import Canceled, IncorrectCode, Locked, NotEnrolled, StepUpRequired, UserBlocked
from shared.kernel.ids import PROFILE_RK, parse_challenge_id
from shared.kernel.results import CodesIssued, SecretIssued
from shared.store import profile_from
from tests.helpers import other_code, secret_bytes, sms_code_for
from tests.integration.test_flows import approved_signin, enrol_app, enrol_sms, events
from tests.integration.test_recovery import begin, codes_for, issue, sign_in

PHONE = "+14255550161"


def profile_row(deps, user="alice"):
    return deps.store.get(user, PROFILE_RK)


def rewrite(deps, entity, drop=(), **values) -> None:
    """Store `entity` as a row written by an older version would be: without `drop`, with `values`."""
    row = {k: v for k, v in entity.items() if k not in drop}
    deps.store.table.upsert_entity({**row, **values}, mode=UpdateMode.REPLACE)


def failures(deps, user="alice") -> int:
    return profile_row(deps, user).get("failures", 0)


def refusals(deps, user="alice"):
    return {(e["action"], e["code"]): e["count"] for e in admin.audit_events(deps, user)["events"]
            if e["event"] == "request_refused"}


class TestClaimed:  # R7
    def test_after_the_pass_is_spent_binding_needs_its_proof(self, deps, clock):
        enrol_sms(deps, phone=PHONE)
        the_pass = issue(deps)["accessPass"]
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "phone lost"}, "ops")
        cid, _ = sign_in(deps, "alice", "access_pass", the_pass)  # spends it: the account holds nothing now
        with pytest.raises(StepUpRequired):
            enrolment.enrol_totp(deps, "alice", {})
        with pytest.raises(StepUpRequired):
            enrolment.enrol_phone(deps, "alice", {"phoneNumber": "+14255550162"})
        enrol_app(deps, clock, proof=cid)  # the user's own enrolment with the pass's proof completes
        assert [m["type"] for m in enrolment.get_user(deps, "alice")["methods"]] == ["totp"]

    def test_a_claimed_account_with_no_factor_left_gets_codes_with_a_proof(self, deps):
        enrol_sms(deps, phone=PHONE)
        codes = codes_for(deps)
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "phone lost"}, "ops")
        proofs = [sign_in(deps, "alice", "recovery_code", code)[0] for code in codes]  # the last one spent too
        with pytest.raises(StepUpRequired):
            recovery_codes.generate(deps, "alice", {})
        assert isinstance(recovery_codes.generate(deps, "alice", {"proofChallengeId": proofs[-1]}), CodesIssued)
        with pytest.raises(NotEnrolled):  # an account that never held a factor has nothing to recover
            recovery_codes.generate(deps, "nobody", {})

    def test_a_profile_stored_before_the_flag_is_claimed_by_its_audit_trail(self, deps):
        enrol_sms(deps, phone=PHONE)
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "phone lost"}, "ops")
        rewrite(deps, profile_row(deps), drop=("claimed", "methodsVersion"))  # as stored before the change
        assert profile_from(profile_row(deps)).claimed is None
        with pytest.raises(StepUpRequired):  # `method_removed` (and the phone's approval) say it held one
            enrolment.enrol_totp(deps, "alice", {})

    def test_a_profile_stored_before_the_flag_that_never_held_a_factor_enrols_freely(self, deps, clock):
        admin.set_groups(deps, "carol", {"groups": ["staff"]}, "ops")  # a profile with nothing on it
        rewrite(deps, profile_row(deps, "carol"), drop=("claimed", "methodsVersion"))
        enrol_app(deps, clock, "carol")  # the first enrolment
        assert profile_row(deps, "carol")["claimed"] is True


class TestBarred:  # R7, D7: whatever the proof, and the proof is not spent by a refusal
    def changes(self, deps, proof, device_id):
        body = {"proofChallengeId": proof}
        return {
            "recovery_codes": lambda: recovery_codes.generate(deps, "alice", body),
            "delete_method": lambda: enrolment.delete_method(deps, "alice", "sms", body),
            "delete_device": lambda: removal.remove_device(deps, "alice", device_id, body),
            "enrol_phone": lambda: enrolment.enrol_phone(deps, "alice", {**body, "phoneNumber": "+14255550163"}),
            "enrol_totp": lambda: enrolment.enrol_totp(deps, "alice", body),
        }

    def setup(self, deps, clock) -> tuple[str, str]:
        enrol_sms(deps, phone=PHONE)
        enrol_app(deps, clock, proof=approved_signin(deps))
        device_id = enrolment.get_user(deps, "alice")["methods"][1]["deviceId"]
        return approved_signin(deps), device_id

    def test_a_blocked_user_changes_no_factor(self, deps, clock):
        proof, device_id = self.setup(deps, clock)
        verify.report_fraud(deps, begin(deps, "alice", method="sms")[1]["challengeId"])  # after the proof
        before = enrolment.get_user(deps, "alice")
        for change in self.changes(deps, proof, device_id).values():
            with pytest.raises(UserBlocked):
                change()
        assert enrolment.get_user(deps, "alice")["methods"] == before["methods"]
        assert deps.store.get("alice", parse_challenge_id(proof)[1]).get("proofUsedAt") is None
        assert refusals(deps) == {(action, "user_blocked"): 1 for action in self.changes(deps, proof, device_id)}
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "fraud"}, "ops")  # admin routes are unaffected
        assert [m["type"] for m in enrolment.get_user(deps, "alice")["methods"]] == ["totp"]

    def test_a_locked_user_changes_no_factor(self, make_deps, clock):
        deps = make_deps(MFA_LOCKOUT_THRESHOLD="2")
        proof, device_id = self.setup(deps, clock)
        ch = begin(deps, "alice", method="sms")[1]["challengeId"]
        code = other_code(sms_code_for(deps, ch))
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch, {"code": code})
        with pytest.raises(Locked):
            verify.verify(deps, ch, {"code": code})
        for change in self.changes(deps, proof, device_id).values():
            with pytest.raises(Locked) as err:
                change()
            assert err.value.retry_after and err.value.retry_after > 0
        assert refusals(deps) == {(action, "locked"): 1 for action in self.changes(deps, proof, device_id)}
        assert len(enrolment.get_user(deps, "alice")["methods"]) == 2


def legacy_tag(row) -> str:
    """Profile.methods_tag() as it was before the version: what an old enrolment row carries."""
    p = profile_from(row)
    state: list = [p.phone, [(d.id, d.active) for d in p.totp]]
    if p.access_pass is not None or p.recovery_codes_at is not None:
        state += [p.access_pass.id if p.access_pass else None,
                  int(p.recovery_codes_at.timestamp()) if p.recovery_codes_at else None]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


class TestMethodsVersion:  # E1
    def test_an_enrolment_superseded_while_a_pass_was_active_stays_dead(self, deps, clock):
        enrol_sms(deps, phone=PHONE)
        app = enrolment.enrol_totp(deps, "alice", {"proofChallengeId": approved_signin(deps)}).view
        issue(deps)
        access_pass.revoke(deps, "alice", "ops")  # the methods are as they were when the enrolment began
        with pytest.raises(Canceled):
            verify.verify(deps, app["challengeId"], {"code": totp(secret_bytes(app["secret"]), clock.now())})
        assert [m["type"] for m in enrolment.get_user(deps, "alice")["methods"]] == ["sms"]

    def test_every_change_of_factors_raises_the_version_and_nothing_else_does(self, deps, clock):
        def version():
            return profile_row(deps)["methodsVersion"]

        enrol_sms(deps, phone=PHONE)
        seen = [version()]
        approved_signin(deps)
        assert version() == seen[-1]  # a sign-in is not a change of factors
        codes = codes_for(deps)
        seen.append(version())
        sign_in(deps, "alice", "recovery_code", codes[0])
        seen.append(version())
        sign_in(deps, "alice", "access_pass", issue(deps)["accessPass"])  # issued, then spent
        seen.append(version())
        issue(deps)
        access_pass.revoke(deps, "alice", "ops")
        seen.append(version())
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "x"}, "ops")
        seen.append(version())
        assert seen == [1, 2, 3, 5, 7, 8], seen

    def test_an_enrolment_row_bound_to_a_content_tag_never_completes(self, deps, clock):
        enrol_sms(deps, phone=PHONE)
        app = enrolment.enrol_totp(deps, "alice", {"proofChallengeId": approved_signin(deps)}).view
        row_key = parse_challenge_id(app["challengeId"])[1]
        tag = legacy_tag(profile_row(deps))  # the tag an old row would carry, and it still matches
        rewrite(deps, deps.store.get("alice", row_key), drop=("methodsVersion",), methodsTag=tag)
        with pytest.raises(Canceled):
            verify.verify(deps, app["challengeId"], {"code": totp(secret_bytes(app["secret"]), clock.now())})
        assert challenge_rows.get(deps, app["challengeId"])["status"] == "canceled"


def dead(deps, *answers: tuple[str, str]) -> None:
    """Each (challenge id, typed pass) answers 410 `canceled`, and none counts a failure."""
    for cid, typed in answers:
        with pytest.raises(Canceled):
            verify.verify(deps, cid, {"code": typed})
    assert failures(deps) == 0


class TestPassBinding:  # E1: an access-pass challenge dies with its pass, and costs no failure
    def test_a_new_pass_cancels_the_old_ones_challenges_at_once(self, deps):
        enrol_sms(deps, phone=PHONE)
        old = issue(deps)["accessPass"]
        ch = begin(deps, "alice", method="access_pass")[1]["challengeId"]
        new = issue(deps)["accessPass"]
        assert challenge_rows.get(deps, ch)["status"] == "canceled"
        issued = [e for e in admin.audit_events(deps, "alice")["events"] if e["event"] == "access_pass_issued"]
        assert sorted(e.get("challengesCanceled", 0) for e in issued) == [0, 1]
        dead(deps, (ch, old), (ch, new))

    def test_revoking_cancels_its_challenges_at_once(self, deps):
        enrol_sms(deps, phone=PHONE)
        issue(deps)
        ch = begin(deps, "alice", method="access_pass")[1]["challengeId"]
        access_pass.revoke(deps, "alice", "ops")
        assert challenge_rows.get(deps, ch)["status"] == "canceled"

    def test_an_expired_pass_leaves_its_challenge_canceled_without_a_failure(self, deps, clock):
        enrol_sms(deps, phone=PHONE)
        the_pass = issue(deps, lifetimeMinutes=10)["accessPass"]
        clock.advance(400)
        ch = begin(deps, "alice", method="access_pass")[1]["challengeId"]
        clock.advance(200)  # the pass ran out; the challenge has 100 s to go
        dead(deps, (ch, the_pass))

    def test_a_challenge_whose_cancellation_was_missed_never_approves_with_another_pass(self, deps):
        enrol_sms(deps, phone=PHONE)
        issue(deps)
        mine = begin(deps, "alice", method="access_pass")[1]["challengeId"]
        legacy = begin(deps, "alice", method="access_pass")[1]["challengeId"]
        pending = [deps.store.get("alice", parse_challenge_id(cid)[1]) for cid in (mine, legacy)]
        new = issue(deps)["accessPass"]
        rewrite(deps, pending[0])  # as if the new pass's transaction had missed it
        rewrite(deps, pending[1], drop=("accessPassId",))  # begun before challenges were bound to a pass
        dead(deps, (mine, new), (legacy, new))
        assert "access_pass_used" not in events(deps)
        assert isinstance(enrolment.enrol_totp(deps, "alice", {"proofChallengeId": sign_in(
            deps, "alice", "access_pass", new)[0]}), SecretIssued)  # the new pass itself works
