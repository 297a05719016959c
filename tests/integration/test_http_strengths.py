"""Authentication strengths (W8) through the dev host, against its own Azurite: a group or a risk level under
`phishingResistant` signs in only with a phishing-resistant method (here a throw-away one, strong_pin, that
the host registers: tests/integration/strong_pin.py), the access pass is the recovery path that only enrols
such a method, step-up proofs honour the same strength, and every refusal is audited.

The strong_pin method is not in the OpenAPI document's method list, so the calls that answer with it go
through plain `requests` (`raw`); every other call is checked against the document (Api.call)."""
from __future__ import annotations

import pytest
import requests

from shared.flows import enrolment, verify
from shared.settings import load_settings
from shared.wiring import build_deps
from tests.conftest import FUNCTION_KEY, app_env
from tests.integration.api_client import Api, fresh_phone
from tests.integration.strong_pin import NAME, StrongPin
from tests.integration.test_http_api import is_problem
from tests.integration.test_http_recovery import sms_sign_in, typed_sign_in
from tools import azurite as azurite_tool

PIN = "482913"
STRONG = {"groups": {"strong": "phishingResistant"}, "riskLevels": {"high": "phishingResistant"}}
RISK = {"none": "allow_skip", "low": "allow_skip", "medium": "require_mfa", "high": "require_mfa"}


@pytest.fixture(scope="module")
def env(emulator):
    store = azurite_tool.start_azurite(*(azurite_tool.free_port() for _ in range(3)))
    yield app_env(store, emulator, MFA_TABLE_NAME="strengths")
    store.stop()


@pytest.fixture(scope="module")
def host(start_devhost, env):
    return start_devhost(env, module="tests.integration.strong_pin")


@pytest.fixture(scope="module")
def api(host, emulator) -> Api:
    api = Api(host.url, emulator.url)
    r = api.admin("PATCH", "/api/v1/admin/policy", json={"strengths": STRONG, "risk": RISK})
    assert r.status_code == 200 and r.json()["strengths"] == STRONG, r.text
    return api


@pytest.fixture
def pin_deps(env, host):
    """The host's own table in this process, with strong_pin registered here too: its enrolment has no route
    of its own (the real passkey has), so it runs through the enrolment flow itself."""
    from shared.methods.registry import register
    with register(StrongPin()):
        yield build_deps(load_settings(env), events_queue=host.events_queue, due_queue=host.due_queue)


def raw(api: Api, method: str, path: str, **body) -> requests.Response:
    return requests.request(method, api.base + path, json=body, headers={"x-functions-key": FUNCTION_KEY}, timeout=30)


def enrol_pin(d, user: str, proof: str | None) -> None:
    started = enrolment.enrol(d, NAME, user, {"pin": PIN, **({"proofChallengeId": proof} if proof else {})})
    assert verify.verify(d, started.view["challengeId"], {"code": PIN})["status"] == "approved"


def pin_sign_in(api: Api, user: str, **body) -> str:
    r = raw(api, "POST", "/api/v1/challenges", userId=user, **body)
    assert r.status_code == 201 and r.json()["method"] == NAME, r.text
    v = raw(api, "POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify", code=PIN)
    assert v.status_code == 200 and v.json()["status"] == "approved", v.text
    return r.json()["challengeId"]


def refused(r: requests.Response) -> None:
    """403 strength_required naming every registered phishing-resistant method: the built-in passkey and,
    in this host, the test's PIN."""
    assert is_problem(r, 403, "strength_required") and r.json()["allowedMethods"] == ["passkey", NAME], r.text


def put_group(api: Api, user: str) -> None:
    assert api.admin("PUT", f"/api/v1/admin/users/{user}/groups", json={"groups": ["strong"]}).status_code == 200


def refusals(api: Api, user: str) -> dict[tuple[str, str], int]:
    events = api.admin("GET", f"/api/v1/admin/users/{user}/audit").json()["events"]
    return {(e["action"], e["code"]): e["count"] for e in events if e["event"] == "request_refused"}


def test_policy_round_trips_strengths_and_names_a_bad_field(api):
    assert api.admin("GET", "/api/v1/admin/policy").json()["strengths"] == STRONG
    for bad, field in (({"groups": {"strong": "strongest"}}, "strengths.groups.strong"),
                       ({"riskLevels": {"severe": "phishingResistant"}}, "strengths.riskLevels"),
                       ({"devices": {}}, "strengths")):
        r = api.admin("PATCH", "/api/v1/admin/policy", json={"strengths": bad})
        assert is_problem(r, 400, "invalid_request") and r.json()["field"] == field, r.text
    assert api.admin("GET", "/api/v1/admin/policy").json()["strengths"] == STRONG  # nothing changed


def test_group_strength_signs_in_only_with_a_phishing_resistant_method(api, pin_deps):
    user, phone = "str-group", fresh_phone()
    api.enrol_sms(user, phone)  # the default method
    old_proof = sms_sign_in(api, user, phone)
    enrol_pin(pin_deps, user, old_proof)
    stale_sms_proof = sms_sign_in(api, user, phone)  # signed in with SMS before the strength applied
    put_group(api, user)

    refused(api.begin(user, method="sms"))
    refused(api.begin(user, method="sms", context={"ip": "203.0.113.9"}))
    proof = pin_sign_in(api, user)  # no method: the phishing-resistant one, not the default SMS
    # step-up: an SMS proof changes nothing for this user; the strong one does
    for r in (api.call("DELETE", f"/api/v1/users/{user}/methods/{NAME}", json={"proofChallengeId": stale_sms_proof}),
              api.call("POST", f"/api/v1/users/{user}/phone",
                       json={"phoneNumber": fresh_phone(), "proofChallengeId": stale_sms_proof})):
        refused(r)  # a step-up refusal says why, as step_up_required's do: the proof's sign-in was too weak
        assert r.json()["reason"] == "strength" and "signed in with sms" in r.json()["detail"], r.text
    r = api.call("DELETE", f"/api/v1/users/{user}/methods/sms", json={"proofChallengeId": proof})
    assert r.status_code == 204, r.text
    assert refusals(api, user) == {("begin", "strength_required"): 2, ("delete_method", "strength_required"): 1,
                                   ("enrol_phone", "strength_required"): 1}


def test_users_outside_the_strength_are_unaffected(api):
    user, phone = "str-outside", fresh_phone()
    api.enrol_sms(user, phone)
    sms_sign_in(api, user, phone)
    assert api.begin(user, context={"riskLevel": "medium"}).json()["method"] == "sms"
    assert refusals(api, user) == {}


def test_risk_level_strength(api, pin_deps):
    user, phone = "str-risk", fresh_phone()
    api.enrol_sms(user, phone)
    refused(api.begin(user, method="sms", context={"riskLevel": "high"}))
    refused(api.begin(user, context={"riskLevel": "high"}))  # holds no phishing-resistant method
    sent = len(api.messages(phone))
    assert api.begin(user, context={"riskLevel": "low"}).status_code == 201
    api.sms_code(phone, after=sent)  # that SMS has arrived, so the sign-in below reads its own code
    proof = sms_sign_in(api, user, phone)  # at no asserted risk
    refused(api.call("POST", f"/api/v1/users/{user}/phone",  # the change request asserts high risk
                     json={"phoneNumber": fresh_phone(), "proofChallengeId": proof, "context": {"riskLevel": "high"}}))
    enrol_pin(pin_deps, user, proof)  # the same proof, at no asserted risk
    pin_sign_in(api, user, context={"riskLevel": "high"})
    assert refusals(api, user) == {("begin", "strength_required"): 2, ("enrol_phone", "strength_required"): 1}


def test_access_pass_is_the_recovery_path_to_a_phishing_resistant_method_only(api, pin_deps):
    user, phone = "str-pass", fresh_phone()
    api.enrol_sms(user, phone)
    put_group(api, user)
    refused(api.begin(user))  # no phishing-resistant method: a clear refusal
    issued = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "needs a passkey"})
    assert issued.status_code == 201, issued.text
    proof = typed_sign_in(api, user, "access_pass", issued.json()["accessPass"])["challengeId"]
    refused(api.call("POST", f"/api/v1/users/{user}/phone", json={"phoneNumber": fresh_phone(), "proofChallengeId": proof}))
    refused(api.call("POST", f"/api/v1/users/{user}/totp", json={"proofChallengeId": proof}))
    refused(api.call("DELETE", f"/api/v1/users/{user}/methods/sms", json={"proofChallengeId": proof}))
    enrol_pin(pin_deps, user, proof)  # the one change the pass's proof allows
    pin_sign_in(api, user)
    again = api.admin("POST", f"/api/v1/admin/users/{user}/access-pass", json={"reason": "again"})
    refused(api.begin(user, method="access_pass"))  # holds one now: the pass is no longer the way in
    assert again.status_code == 201
    assert refusals(api, user)[("begin", "strength_required")] == 2


def test_admin_bypass_still_applies(api):
    user = "str-bypass"
    api.enrol_sms(user, fresh_phone())
    put_group(api, user)
    assert api.admin("POST", f"/api/v1/admin/users/{user}/bypass", json={"seconds": 300, "reason": "t"}).status_code == 201
    assert api.begin(user).json() == {"status": "not_required", "reason": "bypass"}
