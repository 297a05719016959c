"""A second, independent test for each defect that a planted-defect run saw caught by one test only:
a TOTP code one step ahead, the per-phone limit's exact value, a code or number in the logs,
and a remembered-device token presented for another user. In-process against Azurite, injected clock."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.channels.sms import outbox_message
from shared.crypto.otp import totp
from shared.delivery.sender import deliver
from shared.flows import admin, enrolment, verify
from shared.flows import signin as signin_flow
from shared.kernel.errors import IncorrectCode, RateLimited
from shared.kernel.results import ChallengeStarted, CodeSent
from tests.helpers import other_code, secret_bytes, sms_code_for
from tests.integration.test_flows import approved_signin

PHONE = "+14255550171"


def enrol_app(deps, clock, user="alice") -> bytes:
    view = enrolment.enrol_totp(deps, user, {}).view
    secret = secret_bytes(view["secret"])
    verify.verify(deps, view["challengeId"], {"code": totp(secret, clock.now())})
    return secret


def signin(deps, user="alice", **body) -> str:
    return signin_flow.begin(deps, {"userId": user, **body}).view["challengeId"]


def test_a_code_one_step_ahead_is_refused_even_a_second_before_its_step(deps, clock):  # C6
    secret = enrol_app(deps, clock)  # 19:30:00, the first second of a step
    clock.advance(59)  # 19:30:59: the last second of the next step
    cid = signin(deps)
    ahead = totp(secret, clock.now() + timedelta(seconds=1))
    with pytest.raises(IncorrectCode):
        verify.verify(deps, cid, {"code": ahead})
    assert verify.verify(deps, cid, {"code": totp(secret, clock.now())})["status"] == "approved"


@pytest.mark.parametrize("limit", [1, 3])
def test_the_per_phone_limit_allows_exactly_its_value(make_deps, limit):  # L5
    deps = make_deps(MFA_SMS_PER_PHONE_PER_HOUR=str(limit), MFA_SMS_PER_USER_PER_HOUR="50")
    for i in range(limit):
        assert isinstance(enrolment.enrol_phone(deps, f"u{i}", {"phoneNumber": PHONE}), CodeSent)
    with pytest.raises(RateLimited):
        enrolment.enrol_phone(deps, "another", {"phoneNumber": PHONE})
    assert isinstance(enrolment.enrol_phone(deps, "another", {"phoneNumber": "+14255550172"}), CodeSent)


def test_no_code_number_or_secret_in_any_log_record(deps, clock, caplog):  # D1
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="twostep")
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    cid = view["challengeId"]
    assert deliver(deps, outbox_message(cid).encode()) == "already_sent"  # sent inline, its logs captured above
    code = sms_code_for(deps, cid)
    with pytest.raises(IncorrectCode):
        verify.verify(deps, cid, {"code": other_code(code)})
    verify.verify(deps, cid, {"code": code})
    app = enrolment.enrol_totp(deps, "alice", {"proofChallengeId": approved_signin(deps)}).view
    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for secret in (code, other_code(code), PHONE, PHONE[1:], PHONE[2:], app["secret"]):
        assert secret not in text, secret


def test_a_remembered_device_serves_only_its_own_user(deps, clock):  # policy: remembered devices
    admin.patch_policy(deps, {"rememberDeviceDays": 30}, "ops")
    alice, bob = enrol_app(deps, clock, "alice"), enrol_app(deps, clock, "bob")
    clock.advance(30)
    tokens = {}
    for user, secret in (("alice", alice), ("bob", bob)):
        cid = signin(deps, user)
        tokens[user] = verify.verify(deps, cid, {"code": totp(secret, clock.now()), "rememberDevice": True})[
            "deviceToken"]
    for user, other in (("alice", "bob"), ("bob", "alice")):
        result = signin_flow.begin(deps, {"userId": user, "context": {"deviceToken": tokens[other]}})
        view = result.view
        assert isinstance(result, ChallengeStarted) and view["status"] == "pending"
        assert signin_flow.begin(deps, {"userId": user, "context": {"deviceToken": tokens[user]}}).view == {
            "status": "not_required", "reason": "remembered_device"}
