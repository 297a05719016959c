"""The HTTP contract through the dev host, over real HTTP, against real Azurite and the SMS emulator:
the end-to-end flows, keys (B1), problem+json errors (D2) and hostile input (D4)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from tests.conftest import MASTER_KEY
from tests.integration.api_client import Api, fresh_phone, pinned_api


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


def is_problem(r, status: int, code: str) -> bool:
    body = r.json()
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    assert {"type", "title", "status", "detail", "code"} <= set(body), body
    assert body["status"] == status and r.status_code == status, (r.status_code, body)
    assert body["code"] == code, body
    return True


def test_health_is_anonymous(api):
    r = api.call("GET", "/api/health", key=None)
    assert r.status_code == 200 and r.json()["storage"] == "ok"


def test_sms_enrolment_and_sign_in_end_to_end(api):
    phone = fresh_phone()
    r = api.call("POST", "/api/v1/users/carol@contoso.com/phone", json={"phoneNumber": phone})
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "pending" and body["method"] == "sms" and body["destination"] == "+1*******" + phone[-2:]
    assert body["expiresAt"].endswith("Z")
    code = api.sms_code(phone)
    got = api.wait_for(f"/api/v1/challenges/{body['challengeId']}", "delivery", "sent")
    assert got["status"] == "pending" and set(got) == {"challengeId", "status", "method", "expiresAt",
                                                       "attemptsRemaining", "delivery"}
    v = api.call("POST", f"/api/v1/challenges/{body['challengeId']}/verify", json={"code": code})
    assert v.status_code == 200 and v.json() == {"status": "approved", "userId": "carol@contoso.com", "method": "sms"}
    user = api.call("GET", "/api/v1/users/carol@contoso.com").json()
    assert user == {"userId": "carol@contoso.com", "methods": [{"type": "sms", "destination": "+1*******" + phone[-2:]}],
                    "defaultMethod": "sms", "blockedUntil": None, "lockedUntil": None, "recoveryCodesRemaining": 0}
    b = api.begin("carol@contoso.com")
    assert b.status_code == 201 and b.headers["Location"] == f"/api/v1/challenges/{b.json()['challengeId']}"
    assert b.json()["attemptsRemaining"] == 5
    code = api.sms_code(phone, after=1)
    wrong = api.call("POST", f"/api/v1/challenges/{b.json()['challengeId']}/verify",
                     json={"code": "000000" if code != "000000" else "111111"})
    assert is_problem(wrong, 403, "incorrect_code") and wrong.json()["attemptsRemaining"] == 4
    ok = api.call("POST", f"/api/v1/challenges/{b.json()['challengeId']}/verify", json={"code": code})
    assert ok.status_code == 200
    again = api.call("POST", f"/api/v1/challenges/{b.json()['challengeId']}/verify", json={"code": code})
    assert is_problem(again, 410, "already_used")


def test_totp_enrolment_returns_secret_once(api):
    r = api.call("POST", "/api/v1/users/dave/totp", json={})
    body = r.json()
    assert r.status_code == 201 and body["otpauthUri"].startswith("otpauth://totp/")
    assert len(body["secret"]) >= 32  # 160 bits in base32
    assert "secret" not in api.call("GET", f"/api/v1/challenges/{body['challengeId']}").text


def test_fraud_report_then_unblock(api):
    secret = api.enrol_totp("erin")
    ch = api.begin("erin").json()
    r = api.call("POST", f"/api/v1/challenges/{ch['challengeId']}/report-fraud")
    assert r.status_code == 200 and r.json()["status"] == "blocked"
    assert is_problem(api.begin("erin"), 403, "user_blocked")
    v = api.call("POST", f"/api/v1/challenges/{ch['challengeId']}/verify",
                 json={"code": api.totp(secret)})
    assert is_problem(v, 410, "canceled")
    assert api.admin("POST", "/api/v1/admin/users/erin/unblock", json={"reason": "t"}).status_code == 200
    assert api.begin("erin").status_code == 201


def test_not_enrolled_and_not_found(api):
    assert is_problem(api.begin("nobody"), 409, "not_enrolled")
    assert is_problem(api.call("GET", "/api/v1/users/nobody"), 404, "not_found")
    api.enrol_totp("frank")
    assert is_problem(api.begin("frank", method="sms"), 409, "not_enrolled")


class TestKeys:  # B1; every admin route against every non-admin key: test_http_admin_entra.py (A1)
    def test_application_routes_need_a_key(self, api):
        assert api.call("POST", "/api/v1/challenges", key=None, json={"userId": "a"}).status_code == 401
        assert api.call("POST", "/api/v1/challenges", key="nope", json={"userId": "a"}).status_code == 401

    def test_admin_bypass_round_trip(self, api):
        api.enrol_totp("gina")
        r = api.admin("POST", "/api/v1/admin/users/gina/bypass", json={"seconds": 300, "reason": "lost phone, ticket 4711"})
        assert r.status_code == 201 and set(r.json()) == {"bypassId", "userId", "expiresAt"}
        assert api.begin("gina").json() == {"status": "not_required", "reason": "bypass"}
        listed = api.admin("GET", "/api/v1/admin/users/gina/bypass").json()["bypasses"]
        assert listed[0]["status"] == "used" and listed[0]["createdBy"] == "admin-key"
        assert is_problem(api.admin("POST", "/api/v1/admin/users/gina/bypass", json={"seconds": 1801, "reason": "x"}),
                          400, "invalid_request")
        assert is_problem(api.admin("POST", "/api/v1/admin/users/nobody/bypass", json={"seconds": 60, "reason": "x"}),
                          404, "not_found")
        api.clock.advance(1)  # the audit lists newest first: give each event its own second
        assert api.admin("POST", "/api/v1/admin/users/gina/bypass", json={"seconds": 60, "reason": "y"}).status_code == 201
        api.clock.advance(1)
        assert api.admin("DELETE", "/api/v1/admin/users/gina/bypass").status_code == 204
        api.clock.advance(1)
        assert api.begin("gina").status_code == 201
        events = [e["event"] for e in api.admin("GET", "/api/v1/admin/users/gina/audit").json()["events"]]
        assert events[:2] == ["challenge_created", "bypass_revoked"]  # newest first


HOSTILE_IDS = ["alice' or PartitionKey ne '", "a%2Fb", "a%23b", "a%3Fb", "a%00b", "x" * 129, "%27%20or%201%20eq%201",
               "al ice", "a%0Ab", "..%2F..%2Fadmin"]


class TestHostileInput:  # D2, D4
    @pytest.mark.parametrize("user", HOSTILE_IDS)
    def test_injection_shaped_user_ids(self, api, user):
        for method, path, body in [("GET", f"/api/v1/users/{user}", None),
                                   ("POST", f"/api/v1/users/{user}/totp", {}),
                                   ("POST", f"/api/v1/users/{user}/phone", {"phoneNumber": "+14255550100"})]:
            r = api.call(method, path, json=body)
            assert r.status_code in (400, 404), (path, r.status_code, r.text)
        r = api.begin(user.replace("%2F", "/"))
        assert r.status_code == 400

    @pytest.mark.parametrize("cid", ["x", "YWxpY2U.' or 1 eq 1", "YWxpY2U.%2F%2F", "Li4v.aaaaaaaaaaaaaaaaaaaaaa",
                                     "JyBvciAnJz0n.aaaaaaaaaaaaaaaaaaaaaa", "%00" * 40])
    def test_injection_shaped_challenge_ids(self, api, cid):
        for r in (api.call("GET", f"/api/v1/challenges/{cid}"),
                  api.call("POST", f"/api/v1/challenges/{cid}/verify", json={"code": "123456"})):
            assert r.status_code == 404
            assert not r.content or is_problem(r, 404, "not_found")  # an id with "/" matches no route at all

    @pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b"\xff\xfe", b'{"userId": 5}', b'{"userId": ["a"]}',
                                     b'{"userId": "a\\u0000b"}', b'{"userId": "alice", "method": "voice"}',
                                     b'{"userId": "alice", "context": "x"}', b'{"userId": "alice", "context": {"ip": "999.1.1.1"}}',
                                     b'{"userId": "alice", "context": {"riskLevel": "extreme"}}', b"", b"[" * 5000])
    def test_malformed_begin_bodies(self, api, raw):
        r = api.call("POST", "/api/v1/challenges", data=raw, headers={"Content-Type": "application/json"})
        assert is_problem(r, 400, "invalid_request")
        assert "Traceback" not in r.text and "Error" not in r.json()["detail"]

    @pytest.mark.parametrize("code", ["12345", "123456789", "12345a", 123456, None, "１２３４５６", " 123456"])
    def test_malformed_codes(self, api, code):
        if api.call("GET", "/api/v1/users/hank").status_code == 404:
            api.enrol_totp("hank")
        ch = api.begin("hank").json()
        r = api.call("POST", f"/api/v1/challenges/{ch['challengeId']}/verify", json={"code": code})
        assert is_problem(r, 400, "invalid_request")
        assert api.call("GET", f"/api/v1/challenges/{ch['challengeId']}").json()["attemptsRemaining"] == 5

    def test_oversized_body(self, api):
        r = api.call("POST", "/api/v1/challenges", data=json.dumps({"userId": "a", "pad": "x" * 17000}))
        assert is_problem(r, 413, "payload_too_large")

    @pytest.mark.parametrize("body", [{"phoneNumber": "+19005550100"}, {"phoneNumber": "4255550100"},
                                      {"phoneNumber": "+1425555010"}, {"phoneNumber": "+1 425 555 0100"},
                                      {"phoneNumber": 14255550100}, {"phoneNumber": "+" + "1" * 40}])
    def test_bad_phone_numbers(self, api, body):
        assert is_problem(api.call("POST", "/api/v1/users/ivy/phone", json=body), 400, "invalid_request")

    def test_bad_bypass_bodies(self, api):
        api.enrol_totp("jack")
        for body in [{"seconds": "300", "reason": "x"}, {"seconds": True, "reason": "x"}, {"seconds": 60},
                     {"seconds": 60, "reason": "x" * 257}, {"seconds": 60, "reason": "a\x07b"}, {"seconds": -1, "reason": "x"}]:
            r = api.call("POST", "/api/v1/admin/users/jack/bypass", key=MASTER_KEY, json=body)
            assert is_problem(r, 400, "invalid_request"), body
        assert api.admin("GET", "/api/v1/admin/users/jack/bypass").json() == {"bypasses": []}

    def test_unknown_method_type_is_not_found(self, api):
        assert is_problem(api.call("DELETE", "/api/v1/users/jack/methods/voice"), 404, "not_found")



def test_the_host_runs_on_the_pinned_clock(api):
    """What makes every TOTP test over HTTP deterministic: the host decides at the pinned instant."""
    api.clock.pin(datetime(2031, 1, 1, tzinfo=timezone.utc))
    try:
        r = api.call("POST", "/api/v1/users/pinned-user/totp", json={})
        assert r.status_code == 201 and r.json()["expiresAt"] == "2031-01-01T00:05:00Z"
        api.clock.advance(300)
        assert api.call("GET", f"/api/v1/challenges/{r.json()['challengeId']}").json()["status"] == "expired"
    finally:
        api.clock.pin()
