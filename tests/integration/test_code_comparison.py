"""C5: the SMS and TOTP verify paths hand the expected and the submitted code to the constant-time
comparison, and its answer alone decides. `codes_equal` is replaced (wherever shared/ bound it) by a spy
that records its arguments and returns a forced answer: forced True must approve a wrong code, forced
False must refuse the right one. A check beside it (`expected != code or ...`) fails one of the two."""
from __future__ import annotations

import sys

import pytest

from shared.crypto import keys as crypto
from shared.crypto.otp import totp
from shared.flows import enrolment, signin, verify
from shared.kernel.errors import IncorrectCode
from tests.helpers import other_code, secret_bytes, sms_code_for
from tests.integration.test_flows import enrol_sms

PHONE = "+14255550131"


@pytest.fixture
def force(monkeypatch):
    """force(answer) -> the list of (a, b) pairs compared from then on; every comparison returns `answer`."""
    def install(answer: bool) -> list[tuple[str, str]]:
        calls: list[tuple[str, str]] = []

        def spy(a: str, b: str) -> bool:
            calls.append((a, b))
            return answer

        real = crypto.codes_equal
        for name, module in list(sys.modules.items()):
            if (name == "shared" or name.startswith("shared.")) and getattr(module, "codes_equal", None) is real:
                monkeypatch.setattr(module, "codes_equal", spy)
        return calls
    return install


def compared(calls, expected: str, submitted: str) -> bool:
    return any({a, b} == {expected, submitted} for a, b in calls)


def sms_signin(deps) -> str:
    return signin.begin(deps, {"userId": "alice", "method": "sms"}).view["challengeId"]


def test_sms_forced_true_approves_a_wrong_code(deps, force):
    enrol_sms(deps, "alice", PHONE)
    cid = sms_signin(deps)
    wrong = other_code(sms_code_for(deps, cid))
    calls = force(True)
    assert verify.verify(deps, cid, {"code": wrong})["status"] == "approved"
    assert compared(calls, sms_code_for(deps, cid), wrong), calls


def test_sms_forced_false_refuses_the_right_code(deps, force):
    enrol_sms(deps, "alice", PHONE)
    cid = sms_signin(deps)
    right = sms_code_for(deps, cid)
    calls = force(False)
    with pytest.raises(IncorrectCode):
        verify.verify(deps, cid, {"code": right})
    assert compared(calls, right, right), calls


def test_sms_enrolment_forced_true_activates_the_phone(deps, force):
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    wrong = other_code(sms_code_for(deps, view["challengeId"]))
    calls = force(True)
    assert verify.verify(deps, view["challengeId"], {"code": wrong})["status"] == "approved"
    assert compared(calls, sms_code_for(deps, view["challengeId"]), wrong)
    assert enrolment.get_user(deps, "alice")["methods"] == [{"type": "sms", "destination": "+1*******31"}]


def enrol_app(deps, clock) -> bytes:
    view = enrolment.enrol_totp(deps, "alice", {}).view
    secret = secret_bytes(view["secret"])
    verify.verify(deps, view["challengeId"], {"code": totp(secret, clock.now())})
    clock.advance(60)  # past the enrolment's step and the one-step-back window: any step here is new
    return secret


def test_totp_forced_true_approves_a_wrong_code(deps, clock, force):
    secret = enrol_app(deps, clock)
    cid = signin.begin(deps, {"userId": "alice"}).view["challengeId"]
    right = totp(secret, clock.now())
    calls = force(True)
    assert verify.verify(deps, cid, {"code": other_code(right)})["status"] == "approved"
    assert compared(calls, right, other_code(right)), calls


def test_totp_forced_false_refuses_the_right_code(deps, clock, force):
    secret = enrol_app(deps, clock)
    cid = signin.begin(deps, {"userId": "alice"}).view["challengeId"]
    right = totp(secret, clock.now())
    calls = force(False)
    with pytest.raises(IncorrectCode):
        verify.verify(deps, cid, {"code": right})
    assert compared(calls, right, right), calls


@pytest.mark.parametrize("answer", [True, False])
def test_totp_enrolment_follows_the_comparison(deps, clock, force, answer):
    view = enrolment.enrol_totp(deps, "alice", {}).view
    right = totp(secret_bytes(view["secret"]), clock.now())
    submitted = other_code(right) if answer else right
    calls = force(answer)
    if answer:
        assert verify.verify(deps, view["challengeId"], {"code": submitted})["status"] == "approved"
    else:
        with pytest.raises(IncorrectCode):
            verify.verify(deps, view["challengeId"], {"code": submitted})
    assert compared(calls, right, submitted), calls
    assert bool(enrolment.get_user(deps, "alice")["methods"]) is answer
