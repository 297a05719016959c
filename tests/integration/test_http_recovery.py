"""The two lost-phone stories end to end through the dev host, against Azurite and the SMS emulator
(R2-R6): (a) support issues a temporary access pass and removes the lost phone; (b) the user recovers
alone with a recovery code. In both, an enrolment without proof is refused, the new phone signs in, the
old phone's pending challenge is dead, the audit trail tells the story in order, and the security
events reach the emulator's webhook inbox with Standard Webhooks signatures the library verifies and
without the pass, a code or a phone number."""
from __future__ import annotations

import os

import pytest
from standardwebhooks import Webhook

from tests.conftest import FUNCTION_KEY, WEBHOOK_SECRET
from tests.integration.api_client import Api, fresh_phone
from tests.integration.test_events import webhook_events


@pytest.fixture(scope="module")
def host(start_devhost, base_env):
    return start_devhost({**base_env, "MFA_TABLE_NAME": "recovery" + os.urandom(4).hex()})


@pytest.fixture(scope="module")
def api(host, emulator) -> Api:
    return Api(host.url, emulator.url)


def sms_sign_in(api: Api, user: str, phone: str) -> str:
    before = len(api.messages(phone))
    r = api.begin(user, method="sms")
    assert r.status_code == 201, r.text
    cid = r.json()["challengeId"]
    v = api.call("POST", f"/api/v1/challenges/{cid}/verify", json={"code": api.sms_code(phone, after=before)})
    assert v.status_code == 200, v.text
    return cid


def typed_sign_in(api: Api, user: str, method: str, secret: str) -> dict:
    r = api.begin(user, method=method)
    assert r.status_code == 201 and "destination" not in r.json(), r.text
    v = api.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify", json={"code": secret})
    assert v.status_code == 200, v.text
    return {"challengeId": r.json()["challengeId"], **v.json()}


def pending_old_phone_challenge(api: Api, user: str, phone: str) -> tuple[str, str]:
    """A sign-in begun before the loss, with the code that reached the (now lost) phone."""
    before = len(api.messages(phone))
    r = api.begin(user, method="sms")
    assert r.status_code == 201, r.text
    return r.json()["challengeId"], api.sms_code(phone, after=before)


def enrol_new_phone(api: Api, user: str, phone: str, proof: str | None) -> None:
    body = {"phoneNumber": phone, **({"proofChallengeId": proof} if proof else {})}
    before = len(api.messages(phone))
    r = api.call("POST", f"/api/v1/users/{user}/phone", json=body)
    assert r.status_code == 202, r.text
    v = api.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                 json={"code": api.sms_code(phone, after=before)})
    assert v.status_code == 200, v.text


def refused_without_proof(api: Api, user: str, phone: str) -> None:
    before = len(api.messages(phone))
    r = api.call("POST", f"/api/v1/users/{user}/phone", json={"phoneNumber": phone})
    assert r.status_code == 403 and r.json()["code"] == "step_up_required", r.text
    assert len(api.messages(phone)) == before  # nothing was sent to the number an attacker would bind


def story(api: Api, user: str) -> list[str]:
    """The user's audit trail, oldest first, without refusal counters (coalesced per minute) and SMS delivery
    bookkeeping (the sender records it while the test already reads the code at the emulator)."""
    r = api.admin("GET", f"/api/v1/admin/users/{user}/audit")
    assert r.status_code == 200
    return [f"{e['event']}:{e.get('method') or e.get('purpose') or ''}"
            for e in reversed(r.json()["events"]) if e["event"] not in ("request_refused", "sms_sent")]


def in_order(trail: list[str], expected: list[str | set[str]]) -> None:
    """`trail` is `expected`, where a set stands for events of one transaction (same millisecond, any order)."""
    i = 0
    for step in expected:
        group = step if isinstance(step, set) else {step}
        assert set(trail[i:i + len(group)]) == group, (trail, step)
        i += len(group)
    assert i == len(trail), trail


def assert_signed_events(emulator_url: str, user: str, wanted: set[str], secrets: list[str]) -> None:
    received = webhook_events(emulator_url, user, wanted)
    verifier = Webhook(WEBHOOK_SECRET)
    for delivery in received:
        assert verifier.verify(delivery["raw"], delivery["headers"]) == delivery["body"]
        assert delivery["body"]["subject"] == user
        raw = delivery["raw"]
        for secret in secrets:
            assert secret not in raw and secret.replace("-", "") not in raw, delivery["body"]["type"]


def test_support_path_access_pass(api, emulator, host):  # (a): R2, R5, R6, E1, N1-N2
    user, old_phone, new_phone = "lost-" + os.urandom(3).hex(), fresh_phone(), fresh_phone()
    api.enrol_sms(user, old_phone)
    stale, stale_code = pending_old_phone_challenge(api, user, old_phone)

    issued = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass",
                       json={"lifetimeMinutes": 60, "reason": "lost phone, ticket 4711"})
    assert issued.status_code == 201, issued.text
    the_pass = issued.json()["accessPass"]
    assert api.call("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "x"},
                    key=FUNCTION_KEY).status_code in (401, 403)  # an application key opens no admin route
    removed = api.admin("DELETE", f"/api/v1/admin/users/{user}/methods/sms", json={"reason": "lost phone, ticket 4711"})
    assert removed.status_code == 204, removed.text
    refused_without_proof(api, user, new_phone)  # the pass is the account's only factor now (R6)

    signed_in = typed_sign_in(api, user, "access_pass", the_pass.lower())
    assert signed_in["method"] == "access_pass"
    enrol_new_phone(api, user, new_phone, signed_in["challengeId"])
    sms_sign_in(api, user, new_phone)

    dead = api.call("POST", f"/api/v1/challenges/{stale}/verify", json={"code": stale_code})
    assert dead.status_code == 410 and dead.json()["code"] == "canceled", dead.text
    listed = api.admin("GET", f"/api/v1/admin/users/{user}/access-pass").json()["accessPasses"]
    assert [p["status"] for p in listed] == ["used"]
    view = api.call("GET", f"/api/v1/users/{user}").json()
    assert view["methods"] == [{"type": "sms", "destination": "+1*******" + new_phone[-2:]}]

    in_order(story(api, user), [
        "enrolment_started:sms", "verify_approved:sms",  # the phone later lost
        "challenge_created:sms",  # the sign-in begun before the loss
        "access_pass_issued:", "method_removed:sms",
        "challenge_created:access_pass", {"verify_approved:access_pass", "access_pass_used:"},
        "enrolment_started:sms", "verify_approved:sms",  # the new phone, with the pass's proof
        "challenge_created:sms", "verify_approved:sms",  # signed in with it
    ])
    assert_signed_events(emulator.url, user, {"com.twostep.method.added", "com.twostep.accesspass.issued",
                                              "com.twostep.method.removed", "com.twostep.accesspass.used"},
                         [the_pass, old_phone[1:], old_phone[-7:], new_phone[1:], new_phone[-7:], stale_code])
    logs = host.logs()  # D1: the host's log (access log, app log) never saw the pass
    assert "/access-pass" in logs  # the log is there (its access lines name the routes)
    assert the_pass not in logs and the_pass.lower() not in logs and the_pass.replace("-", "") not in logs


def test_self_service_path_recovery_code(api, emulator, host):  # (b): R3, R6, E1, N1-N2
    user, old_phone, new_phone = "self-" + os.urandom(3).hex(), fresh_phone(), fresh_phone()
    api.enrol_sms(user, old_phone)
    made = api.call("POST", f"/api/v1/users/{user}/recovery-codes",
                    json={"proofChallengeId": sms_sign_in(api, user, old_phone)})
    assert made.status_code == 201, made.text
    codes = made.json()["codes"]
    assert len(codes) == 10
    stale, stale_code = pending_old_phone_challenge(api, user, old_phone)

    # the phone is lost: a recovery code proves the removal of the old phone
    first = typed_sign_in(api, user, "recovery_code", codes[0])
    assert first["recoveryCodesRemaining"] == 9
    removed = api.call("DELETE", f"/api/v1/users/{user}/methods/sms", json={"proofChallengeId": first["challengeId"]})
    assert removed.status_code == 204, removed.text
    refused_without_proof(api, user, new_phone)  # the remaining codes are a factor (R6)
    second = typed_sign_in(api, user, "recovery_code", codes[1].upper().replace("-", " "))
    enrol_new_phone(api, user, new_phone, second["challengeId"])
    sms_sign_in(api, user, new_phone)

    dead = api.call("POST", f"/api/v1/challenges/{stale}/verify", json={"code": stale_code})
    assert dead.status_code == 410 and dead.json()["code"] == "canceled", dead.text
    spent = api.begin(user, method="recovery_code").json()["challengeId"]
    again = api.call("POST", f"/api/v1/challenges/{spent}/verify", json={"code": codes[0]})
    assert again.status_code == 403 and again.json()["code"] == "incorrect_code"
    view = api.call("GET", f"/api/v1/users/{user}").json()
    assert view["recoveryCodesRemaining"] == 8
    assert view["methods"] == [{"type": "sms", "destination": "+1*******" + new_phone[-2:]}]

    in_order(story(api, user), [
        "enrolment_started:sms", "verify_approved:sms", "challenge_created:sms", "verify_approved:sms",
        "recovery_codes_generated:", "challenge_created:sms",
        "challenge_created:recovery_code", {"verify_approved:recovery_code", "recovery_code_used:"},
        "method_removed:sms",
        "challenge_created:recovery_code", {"verify_approved:recovery_code", "recovery_code_used:"},
        "enrolment_started:sms", "verify_approved:sms", "challenge_created:sms", "verify_approved:sms",
        "challenge_created:recovery_code", "verify_failed:recovery_code",
    ])
    assert_signed_events(emulator.url, user, {"com.twostep.method.added", "com.twostep.recoverycodes.generated",
                                              "com.twostep.recoverycodes.used", "com.twostep.method.removed"},
                         [*codes, old_phone[1:], old_phone[-7:], new_phone[1:], new_phone[-7:], stale_code])
    logs = host.logs()
    assert not any(code in logs or code.upper() in logs or code.replace("-", "") in logs for code in codes)


def test_recovery_routes_refuse_bad_input_and_repeats(api):
    user, phone = "edge-" + os.urandom(3).hex(), fresh_phone()
    api.enrol_sms(user, phone)
    for body in ({"reason": ""}, {"reason": "x", "lifetimeMinutes": 9}, {"reason": "x", "oneTime": 1}, {}):
        r = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json=body)
        assert r.status_code == 400 and r.json()["code"] == "invalid_request", (body, r.text)
    assert api.admin("POST", "/api/v1/admin/users/nobody-here/access-pass", json={"reason": "x"}).status_code == 404
    assert api.admin("DELETE", f"/api/v1/admin/users/{user}/methods/sms", json={}).status_code == 400
    assert api.admin("DELETE", f"/api/v1/admin/users/{user}/methods/access_pass",
                     json={"reason": "x"}).status_code == 404
    assert api.admin("DELETE", f"/api/v1/admin/users/{user}/methods/totp/nope", json={"reason": "x"}).status_code == 404
    assert api.call("DELETE", f"/api/v1/users/{user}/methods/totp/nope", json={}).status_code == 404
    r = api.begin(user, method="access_pass")
    assert r.status_code == 409 and r.json()["code"] == "not_enrolled"
    proof = sms_sign_in(api, user, phone)
    headers = {"Idempotency-Key": "codes-" + user}
    first = api.call("POST", f"/api/v1/users/{user}/recovery-codes", json={"proofChallengeId": proof}, headers=headers)
    assert first.status_code == 201, first.text
    repeat = api.call("POST", f"/api/v1/users/{user}/recovery-codes", json={"proofChallengeId": proof},
                      headers={"Idempotency-Key": "codes-" + user})
    assert repeat.status_code == 409 and repeat.json()["code"] == "idempotency_result_gone"
    assert not any(code in repeat.text for code in first.json()["codes"])
    pending = api.begin(user, method="recovery_code").json()["challengeId"]
    for bad in (first.json()["codes"][2] + "\n", "12345", first.json()["codes"][2] + " "):
        r = api.call("POST", f"/api/v1/challenges/{pending}/verify", json={"code": bad})
        assert r.status_code == 400 and r.json()["code"] == "invalid_request", r.text
    assert api.call("GET", f"/api/v1/challenges/{pending}").json()["attemptsRemaining"] == 5
