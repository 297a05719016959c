"""SMS toll fraud (L8, L9) through the dev host over real HTTP, against Azurite and the SMS emulator:
enrolment takes the app's `context` and its SMS count against the per-IP limit; only mobile numbers of a
country get an SMS."""
from __future__ import annotations

import time

import pytest

from tests.integration.api_client import Api, fresh_phone
from tests.integration.test_http_api import is_problem

# One of each kind of number that must never get a code (each is valid for phonenumbers 9.0.x).
REFUSED = {
    "+870301234567": "Inmarsat (satellite, non-geographic, typed MOBILE)",
    "+881612345678": "Iridium (satellite, non-geographic, typed MOBILE)",
    "+8823421234": "international networks (non-geographic, typed MOBILE)",
    "+883510012345": "international networks (non-geographic VoIP)",
    "+80012345678": "universal international freephone",
    "+447012345678": "UK personal number",
    "+445612345678": "UK VoIP",
    "+447640123456": "UK pager",
    "+448001234567": "UK toll-free",
    "+445512345678": "UK UAN",
    "+449012345678": "UK premium rate",
    "+971700012345": "UAE shared cost",
    "+441212345678": "UK fixed line",
    "+18005550100": "US toll-free",
}


@pytest.fixture(scope="module")
def api(start_devhost, base_env, emulator) -> Api:
    """A host of its own table with a small per-IP limit (the other limits stay at their defaults)."""
    host = start_devhost({**base_env, "MFA_TABLE_NAME": "tollfraud", "MFA_SMS_PER_IP_PER_HOUR": "2"})
    return Api(host.url, emulator.url)


def test_numbers_that_cannot_receive_an_sms_in_a_country_are_400_and_get_nothing(api):
    for i, number in enumerate(REFUSED):
        user = f"toll{i}"
        r = api.call("POST", f"/api/v1/users/{user}/phone", json={"phoneNumber": number})
        assert is_problem(r, 400, "invalid_request"), (number, REFUSED[number], r.text)
        assert r.json()["field"] == "phoneNumber"
        assert api.call("GET", f"/api/v1/users/{user}").status_code == 404  # nothing was written
    time.sleep(2)  # well past the SMS sender's polling interval
    assert [n for n in REFUSED if api.messages(n)] == []


@pytest.mark.parametrize("number", ["+447400123456", "+33612345678", "+4915112345678", "+14255550142"])
def test_mobile_numbers_of_a_country_are_accepted(api, number):
    r = api.call("POST", f"/api/v1/users/ok{number[1:]}/phone", json={"phoneNumber": number})
    assert r.status_code == 202, r.text


def test_enrolment_sms_count_against_the_per_ip_limit(api):
    ip = "198.51.100.7"
    first, second, third = fresh_phone(), fresh_phone(), fresh_phone()
    assert api.call("POST", "/api/v1/users/ipa/phone",
                    json={"phoneNumber": first, "context": {"ip": ip}}).status_code == 202
    assert api.call("POST", "/api/v1/users/ipb/phone",
                    json={"phoneNumber": second, "context": {"ip": ip}}).status_code == 202
    before = len(api.messages(third))
    r = api.call("POST", "/api/v1/users/ipc/phone", json={"phoneNumber": third, "context": {"ip": ip}})
    assert is_problem(r, 429, "rate_limited") and int(r.headers["Retry-After"]) >= 1
    assert api.call("POST", "/api/v1/users/ipc/phone",
                    json={"phoneNumber": third, "context": {"ip": "198.51.100.8"}}).status_code == 202
    api.sms_code(third, after=before)
    time.sleep(1)
    assert len(api.messages(third)) == before + 1  # only the second IP's request sent one


def test_sign_in_and_enrolment_share_the_per_ip_count(api):
    ip = "2001:db8:77::1"
    phone = fresh_phone()
    api.enrol_sms("shared-ip", phone)  # no context: counts for the user, not for this IP
    assert api.begin("shared-ip", context={"ip": ip}).status_code == 201
    assert api.call("POST", "/api/v1/users/shared-ip2/phone",
                    json={"phoneNumber": fresh_phone(), "context": {"ip": "2001:db8:77::2"}}).status_code == 202
    third = api.call("POST", "/api/v1/users/shared-ip3/phone",  # the same /64 as the two before
                     json={"phoneNumber": fresh_phone(), "context": {"ip": "2001:db8:77::3"}})
    assert is_problem(third, 429, "rate_limited")
    assert is_problem(api.begin("shared-ip", context={"ip": ip}), 429, "rate_limited")


@pytest.mark.parametrize("route,body", [("phone", {"phoneNumber": "+14255550143"}), ("totp", {})])
@pytest.mark.parametrize("context", ["x", [], {"ip": "999.1.1.1"}, {"ip": "10.0.0.1\n"}, {"riskLevel": "extreme"},
                                     {"deviceToken": 5}])
def test_a_malformed_context_on_enrolment_is_400(api, route, body, context):
    r = api.call("POST", f"/api/v1/users/ctx-bad/{route}", json={**body, "context": context})
    assert is_problem(r, 400, "invalid_request"), r.text
    assert api.call("GET", "/api/v1/users/ctx-bad").status_code == 404


@pytest.mark.parametrize("route,body", [("phone", {"phoneNumber": "+14255550144"}), ("totp", {})])
def test_enrolment_at_a_blocked_risk_level_is_refused(api, route, body):
    r = api.call("POST", f"/api/v1/users/risky-{route}/{route}", json={**body, "context": {"riskLevel": "high"}})
    assert is_problem(r, 403, "risk_blocked")
    assert api.call("GET", f"/api/v1/users/risky-{route}").status_code == 404
    ok = api.call("POST", f"/api/v1/users/risky-{route}/{route}", json={**body, "context": {"riskLevel": "medium"}})
    assert ok.status_code in (201, 202), ok.text  # require_mfa does not stop an enrolment; step-up rules apply
