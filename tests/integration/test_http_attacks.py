"""The attacker's questions asked of the passkey, erasure and unblock routes, over
HTTP through the dev host against Azurite: twenty concurrent duplicates, a replay after success, a retry
after a lost response (the same Idempotency-Key), a trailing newline, a blocked user, and a passkey
removed between begin and verify. Each answer must be what the present state says, never more."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import webauthn_soft as soft
from tests.integration.api_client import Api, fresh_phone
from tests.integration.test_http_api import is_problem
from tests.integration.test_http_passkeys import register, sign_in, start, unb64

USERS = "/api/v1/admin/users"


@pytest.fixture(scope="module")
def api(start_devhost, base_env, emulator) -> Api:
    # SMS limits at their maxima: a storm of duplicates is about what gets sent, not about the limits
    host = start_devhost({**base_env, "MFA_TABLE_NAME": "attacks" + os.urandom(4).hex(),
                          "MFA_SMS_PER_USER_PER_HOUR": "100", "MFA_SMS_PER_PHONE_PER_HOUR": "100"})
    return Api(host.url, emulator.url)


def new_user() -> str:
    return "atk-" + os.urandom(3).hex()


def twenty(fn) -> list:
    with ThreadPoolExecutor(20) as pool:
        return list(pool.map(lambda _: fn(), range(20)))


def passkeys(api: Api, user: str) -> list[dict]:
    r = api.call("GET", f"/api/v1/users/{user}/passkeys")
    assert r.status_code == 200, r.text
    return r.json()["passkeys"]


def test_twenty_concurrent_assertions_of_one_challenge_approve_once(api):
    user = new_user()
    cred, ok = register(api, user)
    assert ok.status_code == 200, ok.text
    r = api.begin(user, method="passkey").json()
    assertion = soft.authenticate(cred, unb64(r["publicKey"]["challenge"]))
    path = f"/api/v1/challenges/{r['challengeId']}/verify"
    answers = twenty(lambda: api.call("POST", path, json={"credential": assertion}))
    approved = [a for a in answers if a.status_code == 200]
    assert len(approved) == 1, [a.text for a in answers]
    assert all(a.status_code in (409, 410) for a in answers if a.status_code != 200), [a.text for a in answers]
    replay = api.call("POST", path, json={"credential": assertion})
    assert replay.status_code in (409, 410) and replay.json()["code"] != "approved", replay.text


def test_twenty_concurrent_registration_finishes_bind_one_passkey(api):
    user = new_user()
    r = start(api, user)
    assert r.status_code == 201, r.text
    options = r.json()["publicKey"]
    cred = soft.SoftCredential(user_handle=unb64(options["user"]["id"]))
    attestation = soft.register(cred, unb64(options["challenge"]))
    path = f"/api/v1/challenges/{r.json()['challengeId']}/verify"
    answers = twenty(lambda: api.call("POST", path, json={"credential": attestation}))
    assert sum(a.status_code == 200 for a in answers) == 1, [a.text for a in answers]
    assert len(passkeys(api, user)) == 1
    again = api.call("POST", path, json={"credential": attestation})  # a replay after success binds nothing
    assert again.status_code in (409, 410), again.text
    assert len(passkeys(api, user)) == 1


def test_a_retried_registration_begin_after_a_lost_response_answers_the_same_challenge(api):
    user = new_user()
    answers = twenty(lambda: start(api, user, **{"Idempotency-Key": "lost-1"}))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["challengeId"] for a in answers}) == 1


def test_a_name_with_a_trailing_newline_is_refused_naming_the_field(api):
    user = new_user()
    refused = start(api, user, name="laptop\n")
    assert is_problem(refused, 400, "invalid_request") and refused.json()["field"] == "name", refused.text
    _, ok = register(api, user)
    pid = passkeys(api, user)[0]["passkeyId"]
    renamed = api.call("PATCH", f"/api/v1/users/{user}/passkeys/{pid}", json={"name": "work\n"})
    assert is_problem(renamed, 400, "invalid_request") and renamed.json()["field"] == "name", renamed.text
    assert passkeys(api, user)[0]["name"] == "laptop"
    wrong_id = api.call("PATCH", f"/api/v1/users/{user}/passkeys/{pid}%0A", json={"name": "x"})
    assert wrong_id.status_code in (400, 404) and wrong_id.json()["code"] in ("invalid_request", "not_found")


def test_a_blocked_user_neither_signs_in_nor_registers_with_a_passkey(api):
    user = new_user()
    cred, ok = register(api, user)
    assert ok.status_code == 200, ok.text
    pending = api.begin(user, method="passkey").json()  # begun before the block
    ch = api.begin(user, method="passkey").json()["challengeId"]
    assert api.call("POST", f"/api/v1/challenges/{ch}/report-fraud").status_code == 200
    assert is_problem(api.begin(user, method="passkey"), 403, "user_blocked")
    late = api.call("POST", f"/api/v1/challenges/{pending['challengeId']}/verify", json={
        "credential": soft.authenticate(cred, unb64(pending["publicKey"]["challenge"]))})
    assert late.status_code in (403, 410) and late.json()["code"] in ("user_blocked", "canceled"), late.text
    assert is_problem(start(api, user, "second"), 403, "user_blocked")


def test_a_passkey_removed_between_begin_and_verify_approves_nothing(api):
    user = new_user()
    cred, ok = register(api, user)
    assert ok.status_code == 200, ok.text
    proof, v = sign_in(api, user, cred)
    assert v.status_code == 200, v.text
    pending = api.begin(user, method="passkey").json()
    pid = passkeys(api, user)[0]["passkeyId"]
    assert api.admin("DELETE", f"{USERS}/{user}/passkeys/{pid}", json={"reason": "lost"}).status_code == 204
    late = api.call("POST", f"/api/v1/challenges/{pending['challengeId']}/verify", json={
        "credential": soft.authenticate(cred, unb64(pending["publicKey"]["challenge"]))})
    assert late.status_code == 410 and late.json()["code"] == "canceled", late.text


def test_twenty_concurrent_erasures_erase_once(api):
    user = new_user()
    assert register(api, user)[1].status_code == 200
    answers = twenty(lambda: api.admin("DELETE", f"{USERS}/{user}", json={"reason": "ticket 7"}))
    codes = sorted(a.status_code for a in answers)  # joiners of the one erasure answer 204 too
    assert codes.count(204) >= 1 and set(codes) <= {204, 404}, [a.text for a in answers]
    assert is_problem(api.admin("DELETE", f"{USERS}/{user}", json={"reason": "again"}), 404, "not_found")
    assert is_problem(api.admin("GET", f"{USERS}/{user}/groups"), 404, "not_found")
    assert is_problem(api.begin(user, method="passkey"), 409, "not_enrolled")


def test_twenty_concurrent_unblocks_leave_one_unblocked_user(api):
    user = new_user()
    assert register(api, user)[1].status_code == 200
    ch = api.begin(user, method="passkey").json()["challengeId"]
    assert api.call("POST", f"/api/v1/challenges/{ch}/report-fraud").status_code == 200
    answers = twenty(lambda: api.admin("POST", f"{USERS}/{user}/unblock", json={"reason": "verified by phone"}))
    assert {a.status_code for a in answers} <= {200, 204}, [a.text for a in answers]
    assert api.begin(user, method="passkey").status_code == 201
    newline = api.admin("POST", f"{USERS}/{user}/unblock", json={"reason": "x\n"})
    assert is_problem(newline, 400, "invalid_request") and newline.json()["field"] == "reason", newline.text


def test_twenty_concurrent_sms_begins_with_one_idempotency_key_send_one_sms(api):
    """The begin now sends its SMS inline: the duplicates that lose the race replay the one challenge and
    must send nothing of their own, inline or through the queue."""
    user, phone = new_user(), fresh_phone()
    api.enrol_sms(user, phone)
    before = len(api.messages(phone))
    headers = {"Idempotency-Key": "storm-" + user}
    answers = twenty(lambda: api.call("POST", "/api/v1/challenges", json={"userId": user, "method": "sms"},
                                      headers=dict(headers)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["challengeId"] for a in answers}) == 1
    api.sms_code(phone, after=before)
    time.sleep(3)  # past the queue host's idle polling interval: a queued second SMS would have arrived
    assert len(api.messages(phone)) == before + 1


def test_a_trailing_newline_in_a_user_id_or_a_bad_idempotency_key_sends_nothing(api):
    user, phone = new_user(), fresh_phone()
    api.enrol_sms(user, phone)
    before = len(api.messages(phone))
    newline_user = api.begin(user + "\n", method="sms")
    assert is_problem(newline_user, 400, "invalid_request") and newline_user.json()["field"] == "userId", newline_user.text
    newline_key = api.call("POST", "/api/v1/challenges", json={"userId": user, "method": "sms"},
                           headers={"Idempotency-Key": "k\u00e9"})  # HTTP itself carries no newline in a header
    assert newline_key.status_code == 400 and newline_key.json()["code"] == "invalid_request", newline_key.text
    time.sleep(3)
    assert len(api.messages(phone)) == before  # neither sent an SMS
