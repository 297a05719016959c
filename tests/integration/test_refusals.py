"""Refusals are audited and coalesced (D7), and the lockout holds past 100 failures until an admin
acts (L7), against Azurite with an injected clock."""
from __future__ import annotations

import pytest

from shared.crypto.otp import totp
from shared.flows import admin, enrolment, signin, verify
from shared.kernel.errors import IncorrectCode, Locked, RateLimited, RiskBlocked, StepUpRequired, UserBlocked
from shared.kernel.ids import AUDIT_PREFIX
from shared.model.lockout import MAX_CONSECUTIVE_FAILURES
from shared.store.audit import record_refusal
from tests.helpers import other_code
from tests.integration.test_flows import approved_signin, enrol_app, enrol_sms

PHONE = "+14255550181"
HIGH_RISK = {"userId": "alice", "context": {"riskLevel": "high"}}


def refusals(deps, user="alice"):
    return [e for e in admin.audit_events(deps, user)["events"] if e["event"] == "request_refused"]


def counts(deps, user="alice"):
    return {(e["action"], e["code"]): e["count"] for e in refusals(deps, user)}


def guess_wrong(deps, secret, clock, stop) -> None:
    """Wrong TOTP codes, five per fresh challenge, until `stop(error, failures so far)` is true."""
    failures = 0
    while True:
        ch = signin.begin(deps, {"userId": "alice"}).view
        for _ in range(5):
            with pytest.raises((IncorrectCode, Locked)) as err:
                verify.verify(deps, ch["challengeId"], {"code": other_code(totp(secret, clock.now()))})
            failures += 1
            if stop(err.value, failures):
                return


def test_a_flood_of_refusals_is_one_row_per_kind_and_minute(deps, clock):
    enrol_sms(deps, phone=PHONE)
    for _ in range(30):
        with pytest.raises(RiskBlocked):
            signin.begin(deps, HIGH_RISK)
    assert counts(deps) == {("begin", "risk_blocked"): 30}
    clock.advance(60)
    with pytest.raises(RiskBlocked):
        signin.begin(deps, HIGH_RISK)
    assert [e["count"] for e in refusals(deps)] == [1, 30]  # newest first
    assert len(deps.store.query_prefix("alice", AUDIT_PREFIX, limit=1000)) < 40


def test_blocked_locked_and_step_up_refusals_are_audited(deps, clock):
    enrol_sms(deps, phone=PHONE)
    with pytest.raises(StepUpRequired):
        enrolment.enrol_totp(deps, "alice", {})
    with pytest.raises(StepUpRequired):
        enrolment.delete_method(deps, "alice", "sms", {})
    reported = signin.begin(deps, {"userId": "alice"}).view
    ch = signin.begin(deps, {"userId": "alice"}).view
    verify.report_fraud(deps, reported["challengeId"])
    with pytest.raises(UserBlocked):
        signin.begin(deps, {"userId": "alice"})
    with pytest.raises(UserBlocked):
        verify.verify(deps, ch["challengeId"], {"code": "123456"})
    assert counts(deps) == {("enrol_totp", "step_up_required"): 1, ("delete_method", "step_up_required"): 1,
                            ("begin", "user_blocked"): 1, ("verify", "user_blocked"): 1}
    for event in refusals(deps):
        assert set(event) == {"at", "event", "actor", "action", "code", "count", "lastAt"}  # nothing secret


def test_verify_and_begin_while_locked_are_audited(deps, clock):
    secret, _ = enrol_app(deps, clock)
    spare = signin.begin(deps, {"userId": "alice"}).view
    guess_wrong(deps, secret, clock, lambda error, _: isinstance(error, Locked))
    assert counts(deps) == {}  # the failure that locks is the `user_locked` event, not a refusal
    for _ in range(3):
        with pytest.raises(Locked):
            verify.verify(deps, spare["challengeId"], {"code": totp(secret, clock.now())})
    with pytest.raises(Locked):
        signin.begin(deps, {"userId": "alice"})
    assert counts(deps) == {("verify", "locked"): 3, ("begin", "locked"): 1}


def test_rate_limited_requests_are_audited(make_deps, clock):
    deps = make_deps(MFA_SMS_PER_USER_PER_HOUR="1")
    secret, _ = enrol_app(deps, clock)

    def proof():
        clock.advance(30)
        ch = signin.begin(deps, {"userId": "alice"}).view
        verify.verify(deps, ch["challengeId"], {"code": totp(secret, clock.now())})
        return ch["challengeId"]

    enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE, "proofChallengeId": proof()})
    for _ in range(2):
        with pytest.raises(RateLimited):
            enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE, "proofChallengeId": proof()})
    assert [(e["action"], e["code"], e["count"]) for e in refusals(deps)] == [("enrol_phone", "rate_limited", 1)] * 2


def test_no_rows_for_a_user_id_without_a_profile(deps):
    for user in ("ghost1", "ghost2"):
        with pytest.raises(RiskBlocked):
            signin.begin(deps, {**HIGH_RISK, "userId": user})
        assert list(deps.store.query("PartitionKey eq @pk", {"pk": user})) == []


def test_a_refusal_still_answers_when_its_audit_row_loses_every_race(deps, clock, monkeypatch):
    enrol_sms(deps, phone=PHONE)
    from shared import store

    def stale(_tx):
        raise store.StaleWrite()
    monkeypatch.setattr(deps.store, "transact", stale)
    record_refusal(deps.store, "alice", clock.now(), "begin", "locked", 30)  # logged, not raised
    monkeypatch.undo()
    assert counts(deps) == {}


def test_hundred_consecutive_failures_lock_until_an_admin_unblocks(deps, clock):  # L7
    secret, _ = enrol_app(deps, clock)

    def stop(error, failures):
        if isinstance(error, Locked) and failures < MAX_CONSECUTIVE_FAILURES:
            clock.advance(2 * 24 * 3600)  # wait out each timed lock (none is longer than a day)
        return failures == MAX_CONSECUTIVE_FAILURES

    guess_wrong(deps, secret, clock, stop)
    user = enrolment.get_user(deps, "alice")
    assert user["lockedUntil"] == "9999-12-31T23:59:59Z"
    clock.advance(365 * 24 * 3600)
    with pytest.raises(Locked) as err:
        signin.begin(deps, {"userId": "alice"})
    assert err.value.retry_after is None
    admin.unblock(deps, "alice", {"reason": "test"}, "ops")
    ch = signin.begin(deps, {"userId": "alice"}).view
    assert verify.verify(deps, ch["challengeId"], {"code": totp(secret, clock.now())})["status"] == "approved"


def test_step_up_proof_unaffected(deps, clock):
    enrol_sms(deps, phone=PHONE)
    enrol_app(deps, clock, proof=approved_signin(deps))
    assert counts(deps) == {}
