"""Account recovery against a real Azurite, with an injected clock: temporary access passes (R2), recovery
codes (R3), both counting toward lockout (R4), admin and per-device removal (R5), and step-up with a
recovery factor (R6); D1 for their secrets in rows and events. The end-to-end stories through the dev host
are in test_http_recovery.py."""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.crypto.otp import totp
from shared.flows import access_pass, admin, challenge_rows, enrolment, recovery_codes, removal, signin, verify
from shared.kernel.errors import (
    Canceled,
    IdempotencyKeyReused,
    IdempotentResultGone,
    IncorrectCode,
    InvalidRequest,
    Locked,
    NotEnrolled,
    NotFound,
    StepUpRequired,
)
from shared.kernel.results import ChallengeStarted, CodesIssued, SecretIssued
from tests.helpers import all_rows_text, secret_bytes, sms_code_for
from tests.integration.test_events import queued_events
from tests.integration.test_flows import approved_signin, enrol_sms, events

PASS_RE = re.compile(r"[23456789A-HJ-NP-Z]{4}(-[23456789A-HJ-NP-Z]{4}){3}")
CODE_RE = re.compile(r"[23456789a-hj-np-z]{4}(-[23456789a-hj-np-z]{4}){3}")


def begin(deps, user="alice", **body):
    """(201 for a started challenge, else 200; the view), as the HTTP route answers it."""
    result = signin.begin(deps, {"userId": user, **body})
    return (201 if isinstance(result, ChallengeStarted) else 200), result.view


def issue(deps, user="alice", **body):
    return access_pass.issue(deps, user, {"reason": "lost phone, ticket 4711", **body}, "admin-key")


def sign_in(deps, user, method, code):
    status, ch = begin(deps, user, method=method)
    assert status == 201 and "destination" not in ch
    return ch["challengeId"], verify.verify(deps, ch["challengeId"], {"code": code})


def codes_for(deps, user="alice"):
    result = recovery_codes.generate(deps, user, {"proofChallengeId": approved_signin(deps, user)})
    assert isinstance(result, CodesIssued)
    return result.view["codes"]


def profile_row(deps, user="alice"):
    return deps.store.get(user, "profile")


class TestAccessPass:
    def test_issued_once_stored_as_a_keyed_hash_listed_without_it(self, deps):  # R2, D1
        enrol_sms(deps)
        issued = issue(deps, lifetimeMinutes=120)
        assert PASS_RE.fullmatch(issued["accessPass"]) and issued["oneTime"] is True
        assert issued["expiresAt"] == "2026-11-27T21:30:00Z"
        plain = issued["accessPass"].replace("-", "")
        text = all_rows_text(deps)
        assert issued["accessPass"] not in text and plain not in text and plain.lower() not in text
        listed = access_pass.list_passes(deps, "alice")["accessPasses"]
        assert listed == [{"accessPassId": issued["accessPassId"], "status": "active", "expiresAt": issued["expiresAt"],
                           "reason": "lost phone, ticket 4711", "createdBy": "admin-key",
                           "createdAt": "2026-11-27T19:30:00Z", "usedAt": None, "oneTime": True}]
        assert "access_pass_issued" in events(deps)

    def test_bounds_reason_and_unknown_user(self, deps):
        enrol_sms(deps)
        for body in ({"lifetimeMinutes": 9}, {"lifetimeMinutes": 43201}, {"lifetimeMinutes": "60"},
                     {"oneTime": "yes"}, {"reason": "x" * 257}, {"reason": "a\nb"}):
            with pytest.raises(InvalidRequest):
                issue(deps, **body)
        with pytest.raises(InvalidRequest):
            access_pass.issue(deps, "alice", {}, "admin-key")
        assert issue(deps, lifetimeMinutes=43200)["expiresAt"] == "2026-12-27T19:30:00Z"
        with pytest.raises(NotFound):
            issue(deps, "nobody")

    def test_sign_in_spends_a_one_time_pass_and_proves_a_step_up(self, deps, clock):  # R2
        enrol_sms(deps)
        issued = issue(deps)
        typed = " ".join(issued["accessPass"].lower().split("-"))  # spaces instead of dashes, lower case
        cid, answer = sign_in(deps, "alice", "access_pass", typed)
        assert answer == {"status": "approved", "userId": "alice", "method": "access_pass"}
        assert access_pass.list_passes(deps, "alice")["accessPasses"][0]["status"] == "used"
        with pytest.raises(NotEnrolled):
            begin(deps, "alice", method="access_pass")
        result = enrolment.enrol_totp(deps, "alice", {"proofChallengeId": cid})
        assert isinstance(result, SecretIssued)
        view = result.view
        verify.verify(deps, view["challengeId"], {"code": totp(secret_bytes(view["secret"]), clock.now())})
        assert {"access_pass_used", "verify_approved"} <= set(events(deps))

    def test_a_pass_that_is_not_one_time_works_until_it_expires(self, deps, clock):
        enrol_sms(deps)
        issued = issue(deps, oneTime=False, lifetimeMinutes=10)
        for _ in range(2):
            sign_in(deps, "alice", "access_pass", issued["accessPass"])
        clock.advance(600)
        with pytest.raises(NotEnrolled):
            begin(deps, "alice", method="access_pass")
        assert access_pass.list_passes(deps, "alice")["accessPasses"][0]["status"] == "expired"

    def test_a_new_pass_revokes_the_old_and_revoking_kills_pending_challenges(self, deps):
        enrol_sms(deps)
        old = issue(deps)
        new = issue(deps)
        assert [p["status"] for p in access_pass.list_passes(deps, "alice")["accessPasses"]] == ["active", "revoked"]
        _, ch = begin(deps, "alice", method="access_pass")
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch["challengeId"], {"code": old["accessPass"]})
        access_pass.revoke(deps, "alice", "admin-key")
        with pytest.raises(Canceled):
            verify.verify(deps, ch["challengeId"], {"code": new["accessPass"]})
        assert challenge_rows.get(deps, ch["challengeId"])["status"] == "canceled"
        access_pass.revoke(deps, "alice", "admin-key")  # none active: nothing happens
        assert events(deps).count("access_pass_revoked") == 1

    def test_wrong_passes_count_toward_the_lockout(self, make_deps):  # R4
        deps = make_deps(MFA_LOCKOUT_THRESHOLD="3")
        enrol_sms(deps)
        issued = issue(deps)
        _, ch = begin(deps, "alice", method="access_pass")
        _, sms = begin(deps, "alice", method="sms")
        for _ in range(2):
            with pytest.raises(IncorrectCode):
                verify.verify(deps, ch["challengeId"], {"code": "2222-2222-2222-2222"})
        with pytest.raises(Locked):
            verify.verify(deps, sms["challengeId"], {"code": "000000"})  # the third failure, on another method
        with pytest.raises(Locked):
            verify.verify(deps, ch["challengeId"], {"code": issued["accessPass"]})  # even the right pass

    def test_a_malformed_answer_is_400_and_uses_no_attempt(self, deps):  # C10
        enrol_sms(deps)
        issued = issue(deps)
        _, ch = begin(deps, "alice", method="access_pass")
        _, sms = begin(deps, "alice", method="sms")
        for bad in (issued["accessPass"] + " ", issued["accessPass"] + "\n", "-" + issued["accessPass"],
                    issued["accessPass"].replace("-", "--"), "123456", issued["accessPass"][:-1],
                    issued["accessPass"][:-1] + "0", 1234567890123456):
            with pytest.raises(InvalidRequest):
                verify.verify(deps, ch["challengeId"], {"code": bad})
        with pytest.raises(InvalidRequest):
            verify.verify(deps, sms["challengeId"], {"code": issued["accessPass"]})  # digits stay the sms rule
        assert challenge_rows.get(deps, ch["challengeId"])["attemptsRemaining"] == 5
        assert profile_row(deps).get("failures", 0) == 0

    def test_concurrent_verifies_of_a_one_time_pass_approve_once(self, deps):
        enrol_sms(deps)
        issued = issue(deps)
        ids = [begin(deps, "alice", method="access_pass")[1]["challengeId"] for _ in range(6)]

        def answer(cid):
            try:
                return verify.verify(deps, cid, {"code": issued["accessPass"]})["status"]
            except Canceled:  # the pass is spent: its other pending challenges are dead, and cost no failure
                return "canceled"

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(answer, ids))
        assert results.count("approved") == 1 and results.count("canceled") == 5, results
        assert events(deps).count("access_pass_used") == 1 and profile_row(deps).get("failures", 0) == 0

    def test_an_active_pass_is_a_factor_once_the_lost_phone_is_removed(self, deps):  # R6
        enrol_sms(deps)
        issue(deps)
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "phone lost"}, "admin-key")
        with pytest.raises(StepUpRequired):
            enrolment.enrol_phone(deps, "alice", {"phoneNumber": "+14255550199"})
        with pytest.raises(StepUpRequired):
            enrolment.enrol_totp(deps, "alice", {})

    def test_begin_with_an_idempotency_key_answers_the_same_challenge(self, deps):
        enrol_sms(deps)
        issue(deps)
        first = signin.begin(deps, {"userId": "alice", "method": "access_pass"}, "key-1")
        again = signin.begin(deps, {"userId": "alice", "method": "access_pass"}, "key-1")
        assert isinstance(first, ChallengeStarted) and isinstance(again, ChallengeStarted)
        assert first.view["challengeId"] == again.view["challengeId"]
        access_pass.revoke(deps, "alice", "admin-key")
        with pytest.raises(IdempotentResultGone):
            signin.begin(deps, {"userId": "alice", "method": "access_pass"}, "key-1")


class TestRecoveryCodes:
    def test_ten_codes_shown_once_keyed_hashes_only_and_counted(self, deps):  # R3, D1
        enrol_sms(deps)
        codes = codes_for(deps)
        assert len(codes) == len(set(codes)) == 10 and all(CODE_RE.fullmatch(c) for c in codes)
        text = all_rows_text(deps)
        assert not any(c in text or c.replace("-", "") in text or c.replace("-", "").upper() in text for c in codes)
        assert enrolment.get_user(deps, "alice")["recoveryCodesRemaining"] == 10
        _, answer = sign_in(deps, "alice", "recovery_code", codes[3].upper())
        assert answer == {"status": "approved", "userId": "alice", "method": "recovery_code",
                          "recoveryCodesRemaining": 9}
        assert enrolment.get_user(deps, "alice")["recoveryCodesRemaining"] == 9
        _, ch = begin(deps, "alice", method="recovery_code")
        with pytest.raises(IncorrectCode):  # a spent code is wrong
            verify.verify(deps, ch["challengeId"], {"code": codes[3]})
        assert events(deps).count("recovery_code_used") == 1

    def test_generating_needs_a_step_up_and_something_to_recover(self, deps):
        with pytest.raises(NotEnrolled):
            recovery_codes.generate(deps, "nobody", {})
        enrol_sms(deps)
        with pytest.raises(StepUpRequired):
            recovery_codes.generate(deps, "alice", {})
        assert "request_refused" in events(deps)

    def test_a_new_set_replaces_the_old(self, deps):
        enrol_sms(deps)
        old = codes_for(deps)
        new = codes_for(deps)
        _, ch = begin(deps, "alice", method="recovery_code")
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch["challengeId"], {"code": old[0]})
        assert verify.verify(deps, ch["challengeId"], {"code": new[0]})["recoveryCodesRemaining"] == 9

    def test_concurrent_verifies_with_one_code_approve_once(self, deps):
        enrol_sms(deps)
        code = codes_for(deps)[0]
        ids = [begin(deps, "alice", method="recovery_code")[1]["challengeId"] for _ in range(6)]

        def answer(cid):
            try:
                return verify.verify(deps, cid, {"code": code})["status"]
            except IncorrectCode:
                return "incorrect"

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(answer, ids))
        assert results.count("approved") == 1 and results.count("incorrect") == 5, results
        assert enrolment.get_user(deps, "alice")["recoveryCodesRemaining"] == 9

    def test_wrong_codes_count_toward_the_lockout(self, make_deps):  # R4
        deps = make_deps(MFA_LOCKOUT_THRESHOLD="2")
        enrol_sms(deps)
        codes = codes_for(deps)
        _, ch = begin(deps, "alice", method="recovery_code")
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch["challengeId"], {"code": "2222-2222-2222-2222"})
        with pytest.raises(Locked):
            verify.verify(deps, ch["challengeId"], {"code": "3333-3333-3333-3333"})
        with pytest.raises(Locked):
            verify.verify(deps, ch["challengeId"], {"code": codes[0]})

    def test_a_repeated_idempotency_key_never_shows_the_codes_again(self, deps):
        enrol_sms(deps)
        body = {"proofChallengeId": approved_signin(deps)}
        assert isinstance(recovery_codes.generate(deps, "alice", body, "codes-1"), CodesIssued)
        with pytest.raises(IdempotentResultGone):
            recovery_codes.generate(deps, "alice", body, "codes-1")
        with pytest.raises(IdempotencyKeyReused):
            recovery_codes.generate(deps, "alice", {"proofChallengeId": approved_signin(deps)}, "codes-1")
        with pytest.raises(StepUpRequired):  # a plain retry: its proof is spent
            recovery_codes.generate(deps, "alice", body)

    def test_recovery_codes_alone_are_a_factor(self, deps):  # R6
        enrol_sms(deps)
        codes = codes_for(deps)
        cid, _ = sign_in(deps, "alice", "recovery_code", codes[0])
        enrolment.delete_method(deps, "alice", "sms", {"proofChallengeId": cid})
        with pytest.raises(StepUpRequired):
            enrolment.enrol_phone(deps, "alice", {"phoneNumber": "+14255550198"})


class TestRemoval:
    def test_admin_removes_a_method_with_a_reason_and_its_pending_challenges_die(self, deps):  # R5
        enrol_sms(deps)
        _, pending = begin(deps, "alice", method="sms")
        with pytest.raises(InvalidRequest):
            removal.admin_remove_method(deps, "alice", "sms", {}, "admin-key")
        for kind in ("access_pass", "recovery_code", "passkey"):
            with pytest.raises(NotFound):
                removal.admin_remove_method(deps, "alice", kind, {"reason": "x"}, "admin-key")
        removal.admin_remove_method(deps, "alice", "sms", {"reason": "phone lost, ticket 4711"}, "ops@contoso.com")
        assert enrolment.get_user(deps, "alice")["methods"] == []
        with pytest.raises(Canceled):
            verify.verify(deps, pending["challengeId"], {"code": sms_code_for(deps, pending["challengeId"])})
        removed = next(e for e in admin.audit_events(deps, "alice")["events"] if e["event"] == "method_removed")
        assert removed == {"at": "2026-11-27T19:30:00Z", "event": "method_removed", "actor": "ops@contoso.com",
                           "method": "sms", "by": "admin", "reason": "phone lost, ticket 4711", "challengesCanceled": 1}
        with pytest.raises(NotFound):
            removal.admin_remove_method(deps, "alice", "sms", {"reason": "again"}, "admin-key")

    def test_each_device_is_listed_and_removed_alone(self, deps, clock):  # R5
        from tests.integration.test_flows import enrol_app

        first, _ = enrol_app(deps, clock)
        proof = sign_in_totp(deps, clock, first)
        second, _ = enrol_app(deps, clock, proof=proof)
        devices = enrolment.get_user(deps, "alice")["methods"]
        assert [set(d) for d in devices] == [{"type", "deviceId", "label", "createdAt", "lastUsedAt"}] * 2
        assert devices[0]["lastUsedAt"] == "2026-11-27T19:30:30Z" and devices[1]["lastUsedAt"] is None
        assert devices[1]["createdAt"] == "2026-11-27T19:31:00Z" and "secret" not in json.dumps(devices)
        with pytest.raises(StepUpRequired):
            removal.remove_device(deps, "alice", devices[0]["deviceId"], {})
        with pytest.raises(NotFound):
            removal.remove_device(deps, "alice", "no-such-device", {})
        with pytest.raises(NotFound):
            removal.remove_device(deps, "alice", "bad/../id", {})
        removal.remove_device(deps, "alice", devices[0]["deviceId"], {"proofChallengeId": sign_in_totp(deps, clock, second)})
        assert [d["deviceId"] for d in enrolment.get_user(deps, "alice")["methods"]] == [devices[1]["deviceId"]]
        clock.advance(1)
        removal.admin_remove_device(deps, "alice", devices[1]["deviceId"], {"reason": "token lost"}, "admin-key")
        assert enrolment.get_user(deps, "alice")["methods"] == []
        removed = [e for e in admin.audit_events(deps, "alice")["events"] if e["event"] == "method_removed"]
        assert [(e["by"], e["deviceId"]) for e in removed] == [("admin", devices[1]["deviceId"]),
                                                                ("user", devices[0]["deviceId"])]


def sign_in_totp(deps, clock, secret):
    _, ch = begin(deps, "alice", method="totp")
    verify.verify(deps, ch["challengeId"], {"code": totp(secret, clock.now())})
    clock.advance(30)
    return ch["challengeId"]


def test_no_pass_or_code_in_the_partition_or_the_events(deps):  # D1, N1
    enrol_sms(deps)
    issued = issue(deps)
    codes = codes_for(deps)
    sign_in(deps, "alice", "access_pass", issued["accessPass"])
    sign_in(deps, "alice", "recovery_code", codes[0])
    rows = all_rows_text(deps)
    queued = queued_events(deps.events.queue)
    assert {"com.twostep.accesspass.issued", "com.twostep.accesspass.used", "com.twostep.recoverycodes.generated",
            "com.twostep.recoverycodes.used"} <= {e["type"] for e in queued}
    text = rows + json.dumps(queued)
    for secret in [issued["accessPass"], *codes]:
        plain = secret.replace("-", "")
        assert secret not in text and plain not in text and plain.upper() not in text and plain.lower() not in text
    used = next(e for e in queued if e["type"] == "com.twostep.recoverycodes.used")
    assert used["data"]["recoveryCodesRemaining"] == 9


class TestForcedRaces:
    """A competing verify forced between the flow's read and its commit (test_stale_writes.py's `race`):
    the profile's ETag makes the flow re-read, and the pass or code it read is spent by then."""

    @pytest.fixture
    def race(self, deps, monkeypatch):
        from tests.integration.test_stale_writes import race

        return race.__wrapped__(deps, monkeypatch)

    def test_a_one_time_pass_is_spent_once(self, deps, race):
        from tests.integration.test_stale_writes import lost_then_reread

        enrol_sms(deps)
        the_pass = issue(deps)["accessPass"]
        mine, theirs = (begin(deps, "alice", method="access_pass")[1]["challengeId"] for _ in range(2))
        trace = race(lambda: verify.verify(deps, theirs, {"code": the_pass}))
        with pytest.raises(Canceled):  # re-read: the pass is spent, its other challenges are dead
            verify.verify(deps, mine, {"code": the_pass})
        assert trace[0][1]["status"] == "approved" and lost_then_reread(trace), trace
        assert events(deps).count("access_pass_used") == 1

    def test_a_recovery_code_is_spent_once(self, deps, race):
        from tests.integration.test_stale_writes import lost_then_reread

        enrol_sms(deps)
        code = codes_for(deps)[0]
        mine, theirs = (begin(deps, "alice", method="recovery_code")[1]["challengeId"] for _ in range(2))
        trace = race(lambda: verify.verify(deps, theirs, {"code": code}))
        with pytest.raises(IncorrectCode):  # re-read: that code is gone, so it is a wrong one now
            verify.verify(deps, mine, {"code": code})
        assert trace[0][1]["recoveryCodesRemaining"] == 9 and lost_then_reread(trace), trace
        assert enrolment.get_user(deps, "alice")["recoveryCodesRemaining"] == 9
