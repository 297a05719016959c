"""Claimed accounts through the dev host, against Azurite and the SMS emulator (R7, E1, D7): once an account
has held a factor, an enrolment without proof is 403 `step_up_required` and sends nothing, however the last
factor went (a spent pass, the last recovery code, an expired or revoked pass, an imported token never
used), while the user's own enrolment with a pass's or code's proof completes; a blocked or locked user
changes no factor whatever the proof; an access-pass challenge dies with its pass."""
from __future__ import annotations

import base64
import os

import pytest

from tests.helpers import other_code
from tests.integration.api_client import Api, fresh_phone, pinned_api
from tests.integration.test_http_recovery import enrol_new_phone, refused_without_proof, typed_sign_in

LOCKOUT = 3
ACTIONS = ("recovery_codes", "delete_method", "delete_device", "enrol_phone", "enrol_totp")


@pytest.fixture(scope="module")
def host(start_devhost, base_env):
    return start_devhost({**base_env, "MFA_TABLE_NAME": "claimed" + os.urandom(4).hex(),
                          "MFA_LOCKOUT_THRESHOLD": str(LOCKOUT)})


@pytest.fixture(scope="module")
def api(host, emulator):
    with pinned_api(host, emulator.url) as api:  # the expired pass moves the host's clock
        yield api


def new_user(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


def refused_app(api: Api, user: str, body: dict | None = None) -> None:
    r = api.call("POST", f"/api/v1/users/{user}/totp", json=body or {})
    assert r.status_code == 403 and r.json()["code"] == "step_up_required", r.text
    assert "secret" not in r.text


def claimed_and_bare(api: Api, user: str, new_phone: str) -> None:
    """The account holds no factor at all, and binding one needs a proof (R7)."""
    view = api.call("GET", f"/api/v1/users/{user}").json()
    assert view["methods"] == [] and view["recoveryCodesRemaining"] == 0
    assert api.begin(user, method="access_pass").json()["code"] == "not_enrolled"
    refused_app(api, user)
    refused_without_proof(api, user, new_phone)


def lost_phone_with_a_pass(api: Api, user: str, **body) -> str:
    """An SMS user whose phone support removed after issuing a pass; the pass."""
    api.enrol_sms(user, fresh_phone())
    issued = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "lost phone", **body})
    assert issued.status_code == 201, issued.text
    removed = api.admin("DELETE", f"/api/v1/admin/users/{user}/methods/sms", json={"reason": "lost phone"})
    assert removed.status_code == 204
    return issued.json()["accessPass"]


def test_support_path_the_spent_pass_leaves_the_account_claimed(api):
    user, new_phone = new_user("spent"), fresh_phone()
    the_pass = lost_phone_with_a_pass(api, user)
    signed_in = typed_sign_in(api, user, "access_pass", the_pass)  # spends the one-time pass
    claimed_and_bare(api, user, new_phone)  # someone with the password cannot bind an app of their own
    enrol_new_phone(api, user, new_phone, signed_in["challengeId"])  # the user's own enrolment completes
    assert [m["type"] for m in api.call("GET", f"/api/v1/users/{user}").json()["methods"]] == ["sms"]


def test_after_the_last_recovery_code_binding_needs_its_proof(api):
    user, old_phone, new_phone = new_user("lastcode"), fresh_phone(), fresh_phone()
    api.enrol_sms(user, old_phone)
    proof = api.begin(user, method="sms").json()["challengeId"]
    assert api.call("POST", f"/api/v1/challenges/{proof}/verify",
                    json={"code": api.sms_code(old_phone, after=1)}).status_code == 200
    codes = api.call("POST", f"/api/v1/users/{user}/recovery-codes", json={"proofChallengeId": proof}).json()["codes"]
    removed = api.admin("DELETE", f"/api/v1/admin/users/{user}/methods/sms", json={"reason": "lost phone"})
    assert removed.status_code == 204
    proofs = [typed_sign_in(api, user, "recovery_code", code) for code in codes]
    assert proofs[-1]["recoveryCodesRemaining"] == 0
    claimed_and_bare(api, user, new_phone)
    enrol_new_phone(api, user, new_phone, proofs[-1]["challengeId"])


def test_an_expired_pass_leaves_the_account_claimed_until_support_issues_another(api):
    user, new_phone = new_user("expired"), fresh_phone()
    lost_phone_with_a_pass(api, user, lifetimeMinutes=10)
    api.clock.advance(601)
    claimed_and_bare(api, user, new_phone)
    second = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "again"}).json()
    enrol_new_phone(api, user, new_phone, typed_sign_in(api, user, "access_pass", second["accessPass"])["challengeId"])


def test_a_revoked_pass_leaves_the_account_claimed(api):
    user, new_phone = new_user("revoked"), fresh_phone()
    lost_phone_with_a_pass(api, user)
    assert api.admin("DELETE", f"/api/v1/admin/users/{user}/access-pass").status_code == 204
    claimed_and_bare(api, user, new_phone)


def test_an_imported_token_never_used_claims_the_account(api):
    user, phone = new_user("hw") + "@contoso.com", fresh_phone()
    secret = base64.b32encode(os.urandom(20)).decode().rstrip("=")
    csv = ("upn,serial number,secret key,time interval,manufacturer,model\r\n"
           f"{user},{os.urandom(6).hex()},{secret},60,Contoso,HardwareKey\r\n")
    assert api.admin("POST", "/api/v1/admin/oath-tokens", data=csv.encode()).status_code == 201
    assert api.call("GET", f"/api/v1/users/{user}").json()["methods"] == []  # not active yet
    refused_app(api, user)
    refused_without_proof(api, user, phone)


def app_user(api: Api, prefix: str) -> tuple[str, bytes, str, str]:
    """A user with an authenticator app (first enrolment, free), a proof from it, and its device id."""
    user = new_user(prefix)
    secret = api.enrol_totp(user)
    ch = api.begin(user, method="totp").json()["challengeId"]
    assert api.call("POST", f"/api/v1/challenges/{ch}/verify", json={"code": api.totp(secret)}).status_code == 200
    device = api.call("GET", f"/api/v1/users/{user}").json()["methods"][0]["deviceId"]
    return user, secret, ch, device


def factor_changes(api: Api, user: str, proof: str, device: str) -> dict:
    body = {"proofChallengeId": proof}
    return {  # keys: the actions their refusals are audited as
        "recovery_codes": api.call("POST", f"/api/v1/users/{user}/recovery-codes", json=body),
        "delete_method": api.call("DELETE", f"/api/v1/users/{user}/methods/totp", json=body),
        "delete_device": api.call("DELETE", f"/api/v1/users/{user}/methods/totp/{device}", json=body),
        "enrol_phone": api.call("POST", f"/api/v1/users/{user}/phone", json={**body, "phoneNumber": fresh_phone()}),
        "enrol_totp": api.call("POST", f"/api/v1/users/{user}/totp", json=body),
    }


def refusal_counts(api: Api, user: str) -> dict:
    events = api.admin("GET", f"/api/v1/admin/users/{user}/audit").json()["events"]
    return {(e["action"], e["code"]): e["count"] for e in events if e["event"] == "request_refused"}


def test_a_blocked_user_changes_no_factor_whatever_the_proof(api):
    user, _, proof, device = app_user(api, "blocked")
    reported = api.begin(user, method="totp").json()["challengeId"]
    assert api.call("POST", f"/api/v1/challenges/{reported}/report-fraud").status_code == 200
    for action, r in factor_changes(api, user, proof, device).items():
        assert r.status_code == 403 and r.json()["code"] == "user_blocked", (action, r.text)
    assert refusal_counts(api, user) == {(action, "user_blocked"): 1 for action in ACTIONS}
    assert len(api.call("GET", f"/api/v1/users/{user}").json()["methods"]) == 1
    admin = api.admin("DELETE", f"/api/v1/admin/users/{user}/methods/totp/{device}", json={"reason": "fraud"})
    assert admin.status_code == 204  # admin routes are unaffected


def test_a_locked_user_changes_no_factor_whatever_the_proof(api):
    user, secret, proof, device = app_user(api, "locked")
    ch = api.begin(user, method="totp").json()["challengeId"]
    for _ in range(LOCKOUT):
        r = api.call("POST", f"/api/v1/challenges/{ch}/verify", json={"code": other_code(api.totp(secret))})
    assert r.status_code == 429
    for action, r in factor_changes(api, user, proof, device).items():
        assert r.status_code == 429 and r.json()["code"] == "locked", (action, r.text)
        assert int(r.headers["Retry-After"]) > 0, action
    assert refusal_counts(api, user) == {(action, "locked"): 1 for action in ACTIONS}


def test_an_access_pass_challenge_dies_with_its_pass(api):
    user = new_user("passbound")
    api.enrol_sms(user, fresh_phone())
    first = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "a"}).json()
    ch = api.begin(user, method="access_pass").json()["challengeId"]
    second = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "b"}).json()
    assert api.call("GET", f"/api/v1/challenges/{ch}").json()["status"] == "canceled"
    for typed in (first["accessPass"], second["accessPass"]):
        r = api.call("POST", f"/api/v1/challenges/{ch}/verify", json={"code": typed})
        assert r.status_code == 410 and r.json()["code"] == "canceled", r.text
    profile_failures = [e for e in api.admin("GET", f"/api/v1/admin/users/{user}/audit").json()["events"]
                        if e["event"] == "verify_failed"]
    assert profile_failures == []  # typing the old pass there counts no failure
