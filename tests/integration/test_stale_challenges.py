"""Challenges do not outlive the state they were issued under (E1), against Azurite with an injected
clock: removing or replacing a method cancels its pending challenges, a code for a phone no longer
enrolled cannot approve, and an enrolment cannot complete once the user's methods changed under it."""
from __future__ import annotations

import pytest

from shared.crypto.otp import totp
from shared.flows import admin, challenge_rows, enrolment, signin, verify
from shared.kernel.errors import Canceled
from shared.kernel.ids import PROFILE_RK
from shared.methods.sms import phone_aad
from shared.store import profile_from, to_entity
from tests.helpers import secret_bytes, sms_code_for
from tests.integration.test_flows import approved_signin, enrol_app, enrol_sms

OLD, NEW = "+14255550171", "+14255550172"


def begin(deps, user="alice", **body):
    return signin.begin(deps, {"userId": user, **body}).view


def status(deps, ch):
    return challenge_rows.get(deps, ch["challengeId"])["status"]


def events(deps, user="alice"):
    return admin.audit_events(deps, user)["events"]


def test_removing_a_method_cancels_its_pending_challenges(deps, clock):
    enrol_sms(deps, phone=OLD)
    enrol_app(deps, clock, proof=approved_signin(deps))
    sms1, sms2, app = begin(deps, method="sms"), begin(deps, method="sms"), begin(deps, method="totp")
    enrolment.delete_method(deps, "alice", "sms", {"proofChallengeId": approved_signin(deps)})
    assert status(deps, sms1) == status(deps, sms2) == "canceled"
    assert status(deps, app) == "pending"  # another method's challenge is not touched
    with pytest.raises(Canceled):
        verify.verify(deps, sms1["challengeId"], {"code": sms_code_for(deps, sms1["challengeId"])})
    removed = next(e for e in events(deps) if e["event"] == "method_removed")
    assert removed["challengesCanceled"] == 2


def test_replacing_the_phone_cancels_the_old_numbers_challenges(make_deps):
    deps = make_deps(MFA_SMS_PER_USER_PER_HOUR="100")
    enrol_sms(deps, phone=OLD)
    pending = begin(deps, method="sms")
    new = enrolment.enrol_phone(deps, "alice", {"phoneNumber": NEW, "proofChallengeId": approved_signin(deps)}).view
    assert status(deps, pending) == "pending"  # until the new number is proven
    verify.verify(deps, new["challengeId"], {"code": sms_code_for(deps, new["challengeId"])})
    assert status(deps, pending) == "canceled"
    with pytest.raises(Canceled):
        verify.verify(deps, pending["challengeId"], {"code": sms_code_for(deps, pending["challengeId"])})
    fresh = begin(deps, method="sms")  # the new number works
    assert verify.verify(deps, fresh["challengeId"], {"code": sms_code_for(deps, fresh["challengeId"])})[
        "status"] == "approved"


def test_a_code_for_a_phone_no_longer_enrolled_cannot_approve(deps):
    """Even when the cancellation missed it (a challenge created while the phone was being replaced)."""
    enrol_sms(deps, phone=OLD)
    pending = begin(deps, method="sms")
    profile = profile_from(deps.store.get("alice", PROFILE_RK))
    profile.phone = deps.sealer.seal(NEW.encode(), phone_aad("alice"))
    deps.store.table.update_entity(to_entity(profile))  # a phone change that canceled nothing
    with pytest.raises(Canceled):
        verify.verify(deps, pending["challengeId"], {"code": sms_code_for(deps, pending["challengeId"])})
    assert status(deps, pending) == "canceled"
    assert any(e["event"] == "challenge_canceled" and e["reason"] == "methods_changed" for e in events(deps))


def test_enrolment_started_without_step_up_cannot_complete_after_a_method_is_added(deps, clock):
    app = enrolment.enrol_totp(deps, "carol", {}).view  # carol has no method: no step-up needed
    enrol_sms(deps, "carol", OLD)  # meanwhile a phone becomes active
    with pytest.raises(Canceled):
        verify.verify(deps, app["challengeId"], {"code": totp(secret_bytes(app["secret"]), clock.now())})
    assert enrolment.get_user(deps, "carol")["methods"] == [{"type": "sms", "destination": "+1*******71"}]
    assert status(deps, app) == "canceled"


def test_phone_enrolment_is_void_after_another_method_is_activated(deps, clock):
    phone = enrolment.enrol_phone(deps, "dave", {"phoneNumber": OLD}).view
    enrol_app(deps, clock, "dave")
    with pytest.raises(Canceled):
        verify.verify(deps, phone["challengeId"], {"code": sms_code_for(deps, phone["challengeId"])})
    assert [m["type"] for m in enrolment.get_user(deps, "dave")["methods"]] == ["totp"]


def test_an_unchanged_enrolment_still_completes(deps, clock):
    enrol_sms(deps, phone=OLD)
    app = enrolment.enrol_totp(deps, "alice", {"proofChallengeId": approved_signin(deps)}).view
    begin(deps, method="sms")  # sign-ins and failures do not change the methods
    assert verify.verify(deps, app["challengeId"], {"code": totp(secret_bytes(app["secret"]), clock.now())})[
        "status"] == "approved"
