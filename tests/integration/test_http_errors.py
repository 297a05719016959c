"""Errors a newcomer can act on, over real HTTP through the dev host: the host's own refusals (no or a
wrong key, an unknown route, a wrong method) are problem+json that say what to fix; a body member the route
does not take, or one it needs and lacks, is named (`field`) on every route; a TOTP code used twice, a
pasted code with whitespace around it and a too-weak step-up say exactly that."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from functions.openapi import BASE, DOCUMENT, resolve
from tests.conftest import FUNCTION_KEY, MASTER_KEY
from tests.integration.api_client import Api, pinned_api
from tests.integration.test_http_api import is_problem


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


def test_a_missing_or_wrong_key_is_a_401_problem_naming_the_key(api):
    for key in (None, "wrong"):
        r = api.call("GET", "/api/v1/users/ann", key=key)
        assert is_problem(r, 401, "unauthorized")
        assert "function key" in r.json()["detail"] and "x-functions-key" in r.json()["detail"]
        r = api.call("GET", "/api/v1/admin/keys", key=key)
        assert is_problem(r, 401, "unauthorized")
        assert "master key" in r.json()["detail"]


def test_an_unknown_route_is_a_404_problem(api):
    assert is_problem(api.call("GET", "/api/v1/nothing-here"), 404, "not_found")


def test_a_wrong_method_is_a_405_problem_with_allow(api):
    r = api.call("PUT", "/api/health")
    assert is_problem(r, 405, "method_not_allowed")
    assert r.headers["Allow"] and r.headers["Allow"] in r.json()["detail"]


def test_step_up_required_says_why(api):
    user = "errors-stepup"
    api.enrol_totp(user)
    r = api.call("POST", f"/api/v1/users/{user}/totp", json={})
    assert is_problem(r, 403, "step_up_required")
    assert r.json()["reason"] == "missing" and "no proofChallengeId" in r.json()["detail"]


def body_operations() -> list[tuple[str, str, dict]]:
    """(METHOD, path template, operation) of every operation whose request body is JSON, from the document."""
    found = []
    for template, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            content = resolve(operation.get("requestBody", {})).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), template, operation))
    return found


def example(operation: dict) -> dict:
    media = resolve(operation["requestBody"])["content"]["application/json"]
    return dict(media.get("example") or {})


def path_of(template: str, user: str) -> str:
    values = {"userId": user, "challengeId": "nothing-here", "methodType": "sms", "deviceId": "dev1",
              "passkeyId": "pk1"}
    return BASE + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def send(api: Api, method: str, template: str, operation: dict, body: dict, user: str = "errors-fields"):
    key = MASTER_KEY if operation.get("security") == [{"masterKey": []}] else FUNCTION_KEY
    return api.call(method, path_of(template, user), key=key, json=body)


def test_an_unknown_field_is_refused_on_every_route_with_a_body(api):
    """`{"userId": "u", "metod": "sms"}` must not start a challenge of the default method: every route that
    reads a JSON body refuses a member its schema lacks, 400 naming it, even next to a valid body."""
    operations = body_operations()
    assert len(operations) == 21  # every JSON body of the API (the OATH import's is CSV)
    for method, template, operation in operations:
        r = send(api, method, template, operation, {**example(operation), "unknownMember": 1})
        assert is_problem(r, 400, "invalid_request"), (method, template, r.text)
        assert r.json()["field"] == "unknownMember", (method, template, r.text)
    r = api.call("POST", "/api/v1/challenges", json={"userId": "errors-fields", "metod": "sms"})
    assert is_problem(r, 400, "invalid_request") and r.json()["field"] == "metod"
    assert "Unknown field metod" in r.json()["detail"] and "method" in r.json()["detail"]
    r = api.call("POST", "/api/v1/challenges", json={"userId": "errors-fields", "context": {"riskLevl": "high"}})
    assert is_problem(r, 400, "invalid_request") and r.json()["field"] == "context.riskLevl", r.text


def test_a_missing_field_is_named_as_missing_on_every_route(api):
    required = [(method, template, operation, name) for method, template, operation in body_operations()
                for name in resolve(operation["requestBody"])["content"]["application/json"]["schema"].get(
                    "required", ())]
    assert {operation["operationId"] for _, _, operation, _ in required} == {
        "enrolPhone", "registerPasskey", "renamePasskey", "beginChallenge", "createBypass", "issueAccessPass",
        "adminRemoveMethod", "adminRemoveDevice", "adminRemovePasskey", "unblockUser", "setUserGroups",
        "eraseUser"}
    for method, template, operation, name in required:
        body = {k: v for k, v in example(operation).items() if k != name}
        for sent in (body, {**body, name: None}):
            r = send(api, method, template, operation, sent)
            assert is_problem(r, 400, "invalid_request"), (method, template, r.text)
            assert r.json()["field"] == name and r.json()["detail"] == f"{name} is required.", (template, r.text)
    r = api.call("POST", "/api/v1/challenges/nothing-here/verify", json={"rememberDevice": True})
    assert is_problem(r, 400, "invalid_request") and r.json()["field"] == "code", r.text
    assert r.json()["detail"].startswith("code is required")


def test_a_totp_code_used_twice_says_so_and_counts_as_a_wrong_one(api):
    user = "errors-replay"
    secret = api.enrol_totp(user)
    code = api.totp(secret)
    first = api.begin(user, method="totp").json()["challengeId"]
    assert api.call("POST", f"/api/v1/challenges/{first}/verify", json={"code": code}).status_code == 200
    again = api.begin(user, method="totp").json()
    r = api.call("POST", f"/api/v1/challenges/{again['challengeId']}/verify", json={"code": code})
    assert is_problem(r, 403, "incorrect_code") and "already used" in r.json()["detail"], r.text
    assert r.json()["attemptsRemaining"] == again["attemptsRemaining"] - 1  # counted as any wrong code
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    r = api.call("POST", f"/api/v1/challenges/{again['challengeId']}/verify", json={"code": wrong})
    assert is_problem(r, 403, "incorrect_code") and "already used" not in r.json()["detail"], r.text
    assert r.json()["attemptsRemaining"] == again["attemptsRemaining"] - 2


def test_a_pasted_pass_or_recovery_code_with_whitespace_says_exactly_that(api):
    user = "errors-paste"
    api.enrol_totp(user)
    issued = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "errors test"})
    the_pass = issued.json()["accessPass"]
    begun = api.begin(user, method="access_pass").json()
    path = f"/api/v1/challenges/{begun['challengeId']}/verify"
    for pasted in (f" {the_pass}", f"{the_pass}\n", f"  {the_pass} \r\n"):
        r = api.call("POST", path, json={"code": pasted})
        assert is_problem(r, 400, "invalid_request") and r.json()["field"] == "code", r.text
        assert "spaces or a line break before or after it" in r.json()["detail"], r.text
    r = api.call("POST", path, json={"code": f"{the_pass}!"})  # not a whitespace matter: the usual message
    assert is_problem(r, 400, "invalid_request") and "line break" not in r.json()["detail"], r.text
    now = api.call("GET", f"/api/v1/challenges/{begun['challengeId']}").json()
    assert now["attemptsRemaining"] == begun["attemptsRemaining"]  # nothing counted, as for any malformed code
    signed_in = api.call("POST", path, json={"code": the_pass})
    assert signed_in.status_code == 200, signed_in.text
    codes = api.call("POST", f"/api/v1/users/{user}/recovery-codes",
                     json={"proofChallengeId": begun["challengeId"]}).json()["codes"]
    begun = api.begin(user, method="recovery_code").json()
    r = api.call("POST", f"/api/v1/challenges/{begun['challengeId']}/verify", json={"code": codes[0] + "\n"})
    assert is_problem(r, 400, "invalid_request") and "line break before or after" in r.json()["detail"], r.text
