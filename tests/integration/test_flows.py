"""The domain's decisions against a real Azurite, with an injected clock (C2, C4, C6, C7, L1, L2, B2-B5,
D1 for tables, D5, step-up). HTTP-level behaviour is covered in test_http_*.py through the dev host."""
from __future__ import annotations

import pytest

from shared.crypto.otp import totp
from shared.flows import admin, challenge_rows, enrolment, signin, verify
from shared.kernel.errors import (
    AlreadyUsed,
    Expired,
    IncorrectCode,
    InvalidRequest,
    Locked,
    MaxAttemptsReached,
    NotEnrolled,
    NotFound,
    StepUpRequired,
    UserBlocked,
)
from shared.kernel.results import ChallengeStarted, CodeSent, NotRequired, SecretIssued
from shared.ops.purge import purge
from tests.helpers import all_rows_text, other_code, secret_bytes, sms_code_for

PHONE = "+14255550123"


def enrol_sms(deps, user="alice", phone=PHONE):
    result = enrolment.enrol_phone(deps, user, {"phoneNumber": phone})
    view = result.view
    assert isinstance(result, CodeSent) and view["destination"] == "+1*******" + phone[-2:]
    assert verify.verify(deps, view["challengeId"], {"code": sms_code_for(deps, view["challengeId"])})[
        "status"] == "approved"
    return view


def enrol_app(deps, clock, user="alice", proof=None):
    body = {"proofChallengeId": proof} if proof else {}
    result = enrolment.enrol_totp(deps, user, body)
    view = result.view
    assert isinstance(result, SecretIssued)
    secret = secret_bytes(view["secret"])
    verify.verify(deps, view["challengeId"], {"code": totp(secret, clock.now())})
    clock.advance(30)
    return secret, view


def begin(deps, user="alice", **body):
    return signin.begin(deps, {"userId": user, **body})


def approved_signin(deps, user="alice"):
    ch = begin(deps, user, method="sms").view
    verify.verify(deps, ch["challengeId"], {"code": sms_code_for(deps, ch["challengeId"])})
    return ch["challengeId"]


def events(deps, user="alice"):
    return [e["event"] for e in admin.audit_events(deps, user)["events"]]


class TestSms:
    def test_code_valid_until_lifetime_then_expired(self, deps, clock):  # C2
        enrol_sms(deps)
        valid = begin(deps).view
        late = begin(deps).view
        clock.advance(299)  # the last second of both lifetimes: still good
        assert challenge_rows.get(deps, late["challengeId"])["status"] == "pending"
        assert verify.verify(deps, valid["challengeId"], {"code": sms_code_for(deps, valid["challengeId"])})[
            "status"] == "approved"
        clock.advance(1)  # exactly the lifetime: expired, even with the right code
        with pytest.raises(Expired):
            verify.verify(deps, late["challengeId"], {"code": sms_code_for(deps, late["challengeId"])})
        assert challenge_rows.get(deps, late["challengeId"])["status"] == "expired"

    def test_code_only_works_for_its_own_challenge(self, deps):  # C4
        enrol_sms(deps, "alice")
        enrol_sms(deps, "bob", "+14255550124")
        a1 = begin(deps, "alice").view
        a2 = begin(deps, "alice").view
        b1 = begin(deps, "bob").view
        code_a1 = sms_code_for(deps, a1["challengeId"])
        for target in (a2, b1):
            if sms_code_for(deps, target["challengeId"]) != code_a1:
                with pytest.raises(IncorrectCode):
                    verify.verify(deps, target["challengeId"], {"code": code_a1})
        assert verify.verify(deps, a1["challengeId"], {"code": code_a1})["status"] == "approved"
        with pytest.raises(AlreadyUsed):
            verify.verify(deps, a1["challengeId"], {"code": code_a1})

    def test_attempts_per_challenge(self, deps):  # L1
        enrol_sms(deps)
        ch = begin(deps).view
        code = sms_code_for(deps, ch["challengeId"])
        for remaining in (4, 3, 2, 1, 0):
            with pytest.raises(IncorrectCode) as err:
                verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
            assert err.value.extra["attemptsRemaining"] == remaining
        with pytest.raises(MaxAttemptsReached):
            verify.verify(deps, ch["challengeId"], {"code": code})

    def test_nothing_secret_in_table_rows(self, deps):  # D1 (tables)
        view = enrol_sms(deps)
        ch = begin(deps).view
        text = all_rows_text(deps)
        assert PHONE not in text and PHONE[1:] not in text
        for cid in (view["challengeId"], ch["challengeId"]):
            assert sms_code_for(deps, cid) not in text


class TestTotp:
    def test_replayed_step_refused_across_challenges(self, deps, clock):  # C6
        secret, _ = enrol_app(deps, clock)
        ch1 = begin(deps).view
        ch2 = begin(deps).view
        code = totp(secret, clock.now())
        assert verify.verify(deps, ch1["challengeId"], {"code": code})["status"] == "approved"
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch2["challengeId"], {"code": code})
        clock.advance(30)
        assert verify.verify(deps, ch2["challengeId"], {"code": totp(secret, clock.now())})["status"] == \
            "approved"

    def test_older_step_than_last_accepted_is_refused(self, deps, clock):  # C6
        secret, _ = enrol_app(deps, clock)
        previous = totp(secret, clock.now())
        clock.advance(30)
        ch = begin(deps).view
        assert verify.verify(deps, ch["challengeId"], {"code": totp(secret, clock.now())})["status"] == \
            "approved"
        ch2 = begin(deps).view
        with pytest.raises(IncorrectCode):  # one step back would be in the window, but is below the last step
            verify.verify(deps, ch2["challengeId"], {"code": previous})

    def test_client_supplied_time_is_ignored(self, deps, clock):  # C9
        secret, _ = enrol_app(deps, clock)
        ch = begin(deps).view
        future = clock.now().timestamp() + 3600
        from datetime import datetime, timezone
        code = totp(secret, datetime.fromtimestamp(future, tz=timezone.utc))
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch["challengeId"], {"code": code, "time": future, "timestamp": future})

    def test_secret_encrypted_at_rest_and_returned_once(self, deps, clock):  # C7
        secret, view = enrol_app(deps, clock)
        text = all_rows_text(deps)
        assert view["secret"] not in text and secret.hex() not in text
        assert "secret" not in str(enrolment.get_user(deps, "alice"))
        assert [m["type"] for m in enrolment.get_user(deps, "alice")["methods"]] == ["totp"]

    def test_secrets_are_unique_per_user(self, deps, clock):  # C7
        a, _ = enrol_app(deps, clock, "alice")
        b, _ = enrol_app(deps, clock, "bob")
        assert a != b


class TestLockout:
    def test_failures_count_across_challenges_and_lock(self, deps, clock):  # L2
        enrol_sms(deps)
        for wrong_guesses in (5, 4):
            ch = begin(deps).view
            code = sms_code_for(deps, ch["challengeId"])
            for _ in range(wrong_guesses):
                with pytest.raises(IncorrectCode):
                    verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
        ch = begin(deps).view  # a new challenge does not reset the count
        code = sms_code_for(deps, ch["challengeId"])
        with pytest.raises(Locked) as err:
            verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
        assert err.value.retry_after == 15 * 60
        with pytest.raises(Locked):  # even the right code is refused
            verify.verify(deps, ch["challengeId"], {"code": code})
        with pytest.raises(Locked):
            begin(deps)
        assert "user_locked" in events(deps)
        clock.advance(15 * 60)
        ch = begin(deps).view
        assert verify.verify(deps, ch["challengeId"], {"code": sms_code_for(deps, ch["challengeId"])})[
            "status"] == "approved"

    def test_admin_unblock_clears_lockout(self, make_deps):  # L4
        deps = make_deps(MFA_SMS_PER_USER_PER_HOUR="100", MFA_SMS_PER_PHONE_PER_HOUR="100")  # many SMS in one hour
        enrol_sms(deps)
        ch = begin(deps).view
        code = sms_code_for(deps, ch["challengeId"])
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
        for _ in range(deps.settings.lockout_threshold - 1):
            c = begin(deps).view
            try:
                verify.verify(deps, c["challengeId"], {"code": other_code(sms_code_for(deps, c["challengeId"]))})
            except IncorrectCode:
                continue
            except Locked:
                break
        assert enrolment.get_user(deps, "alice")["lockedUntil"] is not None
        with pytest.raises(Locked):
            begin(deps)
        admin.unblock(deps, "alice", {"reason": "test"}, "admin-key")
        assert enrolment.get_user(deps, "alice")["lockedUntil"] is None
        assert isinstance(begin(deps), ChallengeStarted)


class TestBypass:
    def test_used_once_then_challenges_again(self, deps):  # B2
        enrol_sms(deps)
        admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "lost phone, ticket 4711"}, "ops@contoso")
        assert begin(deps) == NotRequired("bypass")
        assert isinstance(begin(deps), ChallengeStarted)
        listed = admin.list_bypasses(deps, "alice")["bypasses"]
        assert listed[0]["status"] == "used" and listed[0]["usedAt"] and listed[0]["createdBy"] == "ops@contoso"

    def test_expires_after_its_seconds(self, deps, clock):  # B2
        enrol_sms(deps)
        admin.create_bypass(deps, "alice", {"seconds": 60, "reason": "travel"}, "ops")
        clock.advance(60)
        assert isinstance(begin(deps), ChallengeStarted)
        assert admin.list_bypasses(deps, "alice")["bypasses"][0]["status"] == "expired"

    def test_bound_to_one_user_and_bounded(self, deps):  # B3
        enrol_sms(deps, "alice")
        enrol_sms(deps, "bob", "+14255550124")
        admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "ticket"}, "ops")
        assert isinstance(begin(deps, "bob"), ChallengeStarted)
        with pytest.raises(InvalidRequest):
            admin.create_bypass(deps, "bob", {"seconds": 1801, "reason": "ticket"}, "ops")
        with pytest.raises(InvalidRequest):
            admin.create_bypass(deps, "bob", {"seconds": 0, "reason": "ticket"}, "ops")
        with pytest.raises(NotFound):
            admin.create_bypass(deps, "carol", {"seconds": 60, "reason": "ticket"}, "ops")

    def test_revoke_and_audit(self, deps, clock):  # B4
        enrol_sms(deps)
        created = admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "ticket 1"}, "ops@contoso")
        clock.advance(1)
        admin.revoke_bypass(deps, "alice", "lead@contoso")
        assert isinstance(begin(deps), ChallengeStarted)
        clock.advance(1)
        admin.create_bypass(deps, "alice", {"reason": "ticket 2"}, "ops@contoso")
        assert isinstance(begin(deps), NotRequired)
        log = admin.audit_events(deps, "alice")["events"]
        by_event = {e["event"]: e for e in log}  # newest first, so the oldest of each kind wins
        assert by_event["bypass_created"]["actor"] == "ops@contoso"
        assert by_event["bypass_created"]["reason"] == "ticket 1"
        assert by_event["bypass_created"]["expiresAt"] == created["expiresAt"]
        assert by_event["bypass_revoked"]["actor"] == "lead@contoso"
        assert by_event["bypass_used"]["at"]
        statuses = [b["status"] for b in admin.list_bypasses(deps, "alice")["bypasses"]]
        assert statuses == ["used", "revoked"]

    def test_does_not_reset_failures_or_enrolment(self, deps):  # B5
        enrol_sms(deps)
        ch = begin(deps).view
        for _ in range(3):
            with pytest.raises(IncorrectCode):
                verify.verify(deps, ch["challengeId"], {"code": other_code(sms_code_for(deps, ch["challengeId"]))})
        before = enrolment.get_user(deps, "alice")
        admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "ticket"}, "ops")
        begin(deps)
        from shared.kernel.ids import PROFILE_RK
        assert deps.store.get("alice", PROFILE_RK)["failures"] == 3
        assert enrolment.get_user(deps, "alice") == before

    def test_bypass_works_for_a_locked_user(self, deps):  # L4: the support path out of a lockout
        enrol_sms(deps)
        from shared.kernel.ids import PROFILE_RK
        row = deps.store.get("alice", PROFILE_RK)
        row["lockedUntil"] = deps.clock.now().replace(year=2030)
        deps.store.table.update_entity(row)
        admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "locked out"}, "ops")
        assert begin(deps) == NotRequired("bypass")
        assert events(deps).count("bypass_used") == 1
        assert enrolment.get_user(deps, "alice")["lockedUntil"] == "2030-11-27T19:30:00Z"  # the lock stays
        with pytest.raises(Locked):  # the bypass was used up; the next sign-in meets the lock again
            begin(deps)


class TestEnrolmentAndFraud:
    def test_unknown_user_is_not_enrolled(self, deps):
        with pytest.raises(NotEnrolled):
            begin(deps, "nobody")
        with pytest.raises(NotFound):
            enrolment.get_user(deps, "nobody")

    def test_second_method_needs_fresh_proof_used_once(self, deps, clock):
        enrol_sms(deps)
        with pytest.raises(StepUpRequired):
            enrolment.enrol_totp(deps, "alice", {})
        proof = approved_signin(deps)
        enrol_app(deps, clock, proof=proof)
        with pytest.raises(StepUpRequired):  # a proof works once
            enrolment.enrol_phone(deps, "alice", {"phoneNumber": "+14255550199", "proofChallengeId": proof})
        stale = approved_signin(deps)
        clock.advance(301)
        with pytest.raises(StepUpRequired):
            enrolment.delete_method(deps, "alice", "sms", {"proofChallengeId": stale})
        enrolment.delete_method(deps, "alice", "sms", {"proofChallengeId": approved_signin(deps)})
        assert [m["type"] for m in enrolment.get_user(deps, "alice")["methods"]] == ["totp"]
        assert enrolment.get_user(deps, "alice")["defaultMethod"] == "totp"

    def test_fraud_report_blocks_and_unblock_restores(self, deps):
        enrol_sms(deps)
        ch = begin(deps).view
        out = verify.report_fraud(deps, ch["challengeId"])
        assert out["status"] == "blocked" and out["blockedUntil"] == "2027-02-25T19:30:00Z"
        assert challenge_rows.get(deps, ch["challengeId"])["status"] == "canceled"
        with pytest.raises(UserBlocked):
            begin(deps)
        admin.unblock(deps, "alice", {"reason": "test"}, "ops")
        assert isinstance(begin(deps), ChallengeStarted)

    def test_every_decision_is_audited(self, deps, clock):  # D5
        enrol_sms(deps)
        ch = begin(deps).view
        code = sms_code_for(deps, ch["challengeId"])
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
        verify.verify(deps, ch["challengeId"], {"code": code})
        admin.create_bypass(deps, "alice", {"seconds": 60, "reason": "r"}, "ops")
        begin(deps)
        ch = begin(deps).view
        verify.report_fraud(deps, ch["challengeId"])
        admin.unblock(deps, "alice", {"reason": "test"}, "ops")
        got = set(events(deps))
        assert {"enrolment_started", "verify_approved", "challenge_created", "verify_failed", "bypass_created",
                "bypass_used", "fraud_reported", "user_unblocked"} <= got
        text = str(admin.audit_events(deps, "alice"))
        assert code not in text and PHONE not in text


def test_purge_removes_rows_past_retention(deps, clock):
    enrol_sms(deps)
    ch = begin(deps).view
    clock.advance(86400 + 301)
    assert purge(deps).deleted >= 2  # the two challenges, a day after expiry
    with pytest.raises(NotFound):
        challenge_rows.get(deps, ch["challengeId"])
    assert enrolment.get_user(deps, "alice")["methods"]  # profile kept
    clock.advance(91 * 86400)
    purge(deps)
    assert admin.audit_events(deps, "alice")["events"] == []

