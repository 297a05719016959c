"""Passkeys end to end through the dev host over HTTP, against Azurite, with the software authenticator of
tests/webauthn_soft.py answering the options the server hands out (W1-W5, W7): register, sign in, list,
rename, remove behind a step-up, the pending challenge dead afterwards (410), an admin removal with a
reason, the refusals, and the clone alarm delivered to the emulator's webhook with a Standard Webhooks
signature the library verifies."""
from __future__ import annotations

import base64
import os

import pytest
from standardwebhooks import Webhook

from tests import webauthn_soft as soft
from tests.conftest import WEBHOOK_SECRET
from tests.integration.api_client import Api
from tests.integration.test_events import webhook_events


def unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture(scope="module")
def host(start_devhost, base_env):
    return start_devhost({**base_env, "MFA_TABLE_NAME": "passkeys" + os.urandom(4).hex()})


@pytest.fixture(scope="module")
def api(host, emulator) -> Api:
    return Api(host.url, emulator.url)


def new_user() -> str:
    return "pk-" + os.urandom(3).hex()


def start(api: Api, user: str, name: str = "laptop", proof: str | None = None, **headers: str):
    body = {"name": name, **({"proofChallengeId": proof} if proof else {})}
    return api.call("POST", f"/api/v1/users/{user}/passkeys", json=body, headers=headers)


def register(api: Api, user: str, name: str = "laptop", proof: str | None = None, **wrong):
    r = start(api, user, name, proof)
    assert r.status_code == 201, r.text
    options = r.json()["publicKey"]
    cred = soft.SoftCredential(user_handle=unb64(options["user"]["id"]))
    v = api.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                 json={"credential": soft.register(cred, unb64(options["challenge"]), **wrong)})
    return cred, v


def sign_in(api: Api, user: str, cred: soft.SoftCredential, **wrong):
    r = api.begin(user, method="passkey")
    assert r.status_code == 201, r.text
    challenge = unb64(r.json()["publicKey"]["challenge"])
    v = api.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                 json={"credential": soft.authenticate(cred, challenge, **wrong)})
    return r.json()["challengeId"], v


def test_register_sign_in_rename_remove(api):
    user = new_user()
    r = start(api, user)
    assert r.status_code == 201, r.text
    options = r.json()["publicKey"]
    assert options["rp"]["id"] == "localhost" and options["authenticatorSelection"]["userVerification"] == "required"
    assert user.encode() not in unb64(options["user"]["id"])  # W1: a random handle, never the user id
    cred = soft.SoftCredential(user_handle=unb64(options["user"]["id"]))
    v = api.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                 json={"credential": soft.register(cred, unb64(options["challenge"]))})
    assert v.status_code == 200 and v.json()["method"] == "passkey", v.text

    listed = api.call("GET", f"/api/v1/users/{user}/passkeys").json()["passkeys"]
    assert [(p["name"], p["backedUp"], p["aaguid"]) for p in listed] == [("laptop", False, soft.CHROMIUM_AAGUID)]
    pid = listed[0]["passkeyId"]
    methods = api.call("GET", f"/api/v1/users/{user}").json()["methods"]
    assert methods[0]["type"] == "passkey" and methods[0]["passkeyId"] == pid

    proof, v = sign_in(api, user, cred)
    assert v.status_code == 200, v.text
    renamed = api.call("PATCH", f"/api/v1/users/{user}/passkeys/{pid}", json={"name": "work laptop"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "work laptop", renamed.text

    pending = api.begin(user, method="passkey").json()
    refused = api.call("DELETE", f"/api/v1/users/{user}/passkeys/{pid}", json={})
    assert refused.status_code == 403 and refused.json()["code"] == "step_up_required", refused.text
    gone = api.call("DELETE", f"/api/v1/users/{user}/passkeys/{pid}", json={"proofChallengeId": proof})
    assert gone.status_code == 204, gone.text
    late = api.call("POST", f"/api/v1/challenges/{pending['challengeId']}/verify", json={"credential": soft.authenticate(
        cred, unb64(pending["publicKey"]["challenge"]))})
    assert late.status_code == 410 and late.json()["code"] == "canceled", late.text
    none = api.begin(user, method="passkey")
    assert none.status_code == 409 and none.json()["code"] == "not_enrolled", none.text


def test_refusals_over_http(api):
    user = new_user()
    _, bad = register(api, user, origin="https://evil.example")
    assert bad.status_code == 403 and bad.json()["code"] == "incorrect_code", bad.text
    cred, ok = register(api, user)
    assert ok.status_code == 200, ok.text
    for wrong in ({"uv": False}, {"rp_id": "evil.example"}):
        _, v = sign_in(api, user, cred, **wrong)
        assert v.status_code == 403 and v.json()["code"] == "incorrect_code", v.text
    r = api.begin(user, method="passkey").json()
    malformed = api.call("POST", f"/api/v1/challenges/{r['challengeId']}/verify", json={"credential": {"id": 1}})
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_request", malformed.text
    digits = api.call("POST", f"/api/v1/challenges/{r['challengeId']}/verify", json={"code": "123456"})
    assert digits.status_code == 400 and digits.json()["field"] == "credential", digits.text
    second = start(api, user, "phone")
    assert second.status_code == 403 and second.json()["code"] == "step_up_required", second.text


def test_idempotent_registration_begin(api):
    user = new_user()
    first = start(api, user, **{"Idempotency-Key": "reg-1"})
    again = start(api, user, **{"Idempotency-Key": "reg-1"})
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["challengeId"] == first.json()["challengeId"]
    assert again.json()["publicKey"] == first.json()["publicKey"]


def test_profile_violation_is_403_passkey_not_allowed(api):
    user = new_user()
    assert api.admin("PUT", f"/api/v1/admin/users/{user}/groups", json={"groups": ["kiosk"]}).status_code == 200
    policy = api.admin("PATCH", "/api/v1/admin/policy", json={"passkeyProfiles": {
        "groups": {"kiosk": {"passkeyTypes": ["deviceBound"]}}}})
    assert policy.status_code == 200, policy.text
    try:
        _, v = register(api, user, be=True)
        assert v.status_code == 403 and v.json()["code"] == "passkey_not_allowed", v.text
        assert v.json()["reason"] == "passkey_type_not_allowed"
    finally:
        api.admin("PATCH", "/api/v1/admin/policy", json={"passkeyProfiles": {}})


def test_clone_suspected_and_admin_removal_reach_the_webhook(api, emulator):
    user = new_user()
    cred, _ = register(api, user)
    assert sign_in(api, user, cred, sign_count=7)[1].status_code == 200
    _, v = sign_in(api, user, cred, sign_count=7)
    assert v.status_code == 403 and v.json()["code"] == "incorrect_code", v.text
    pid = api.call("GET", f"/api/v1/users/{user}/passkeys").json()["passkeys"][0]["passkeyId"]
    assert api.admin("DELETE", f"/api/v1/admin/users/{user}/passkeys/{pid}", json={}).status_code == 400
    removed = api.admin("DELETE", f"/api/v1/admin/users/{user}/passkeys/{pid}", json={"reason": "lost laptop"})
    assert removed.status_code == 204, removed.text
    wanted = {"com.twostep.passkey.added", "com.twostep.passkey.clone_suspected", "com.twostep.passkey.removed"}
    received = webhook_events(emulator.url, user, wanted)
    verifier = Webhook(WEBHOOK_SECRET)
    for delivery in received:
        assert verifier.verify(delivery["raw"], delivery["headers"]) == delivery["body"]
        assert soft.b64url(cred.credential_id) not in delivery["raw"]  # no credential id in an event
    audit = api.admin("GET", f"/api/v1/admin/users/{user}/audit").json()["events"]
    assert [e["reason"] for e in audit if e["event"] == "passkey_removed"] == ["lost laptop"]
