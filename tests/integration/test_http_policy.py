"""The policy admin API and Idempotency-Key through the dev host over real HTTP."""
from __future__ import annotations

import json
import random

import pytest

from shared.kernel.validation import MAX_POLICY_DOCUMENT_BYTES
from shared.model.policy import MAX_LOCATIONS, MAX_RANGES
from tests.conftest import app_env
from tests.integration.api_client import MASTER_KEY, fresh_phone, pinned_api
from tests.integration.test_http_api import is_problem
from tools import azurite as azurite_tool


@pytest.fixture(scope="module")
def api(start_devhost, emulator):
    """A host of its own (own Azurite): policy changes here must not leak into other modules' hosts."""
    store = azurite_tool.start_azurite(*(azurite_tool.free_port() for _ in range(3)))
    host = start_devhost(app_env(store, emulator, MFA_TABLE_NAME="policyapi"))
    with pinned_api(host, emulator.url) as api:
        yield api
    store.stop()


def test_policy_get_patch_and_validation(api):
    assert api.call("GET", "/api/v1/admin/policy").status_code == 401  # function key refused
    assert api.call("PATCH", "/api/v1/admin/policy", json={"maxAttempts": 3}).status_code == 401
    doc = api.admin("GET", "/api/v1/admin/policy").json()
    assert doc["risk"]["high"] == "block" and doc["rememberDeviceDays"] == 0
    bad = api.admin("PATCH", "/api/v1/admin/policy", json={"trustedNetworks": [{"name": "x", "cidrs": ["10.0.0.0/8"]}]})
    assert is_problem(bad, 400, "invalid_request") and bad.json()["field"] == "trustedNetworks[0].cidrs[0]"
    assert api.admin("GET", "/api/v1/admin/policy").json() == doc
    r = api.admin("PATCH", "/api/v1/admin/policy", json={"trustedNetworks": [{"name": "hq", "cidrs": ["203.0.113.0/24"]}],
                                                        "rememberDeviceDays": 30})
    assert r.status_code == 200 and r.json()["trustedNetworks"] == [{"name": "hq", "cidrs": ["203.0.113.0/24"]}]
    api.enrol_totp("pol-user")
    b = api.begin("pol-user", context={"ip": "203.0.113.50"})
    assert b.json() == {"status": "not_required", "reason": "trusted_network"}
    spoofed = api.call("POST", "/api/v1/challenges", json={"userId": "pol-user"},  # L6: headers are not the IP
                       headers={"X-Forwarded-For": "203.0.113.50", "X-Real-IP": "203.0.113.50",
                                "X-Client-IP": "203.0.113.50", "Forwarded": "for=203.0.113.50"})
    assert spoofed.status_code == 201


def test_groups_and_revoke_sessions_routes(api):
    assert api.call("PUT", "/api/v1/admin/users/glass/groups", json={"groups": ["break-glass"]}).status_code == 401
    r = api.admin("PUT", "/api/v1/admin/users/glass/groups", json={"groups": ["break-glass"]})
    assert r.json() == {"userId": "glass", "groups": ["break-glass"]}
    assert is_problem(api.admin("PUT", "/api/v1/admin/users/glass/groups", json={"groups": "x"}), 400, "invalid_request")
    api.admin("PATCH", "/api/v1/admin/policy", json={"excludedGroups": ["break-glass"]})
    assert api.begin("glass").json()["reason"] == "excluded_group"
    assert api.call("POST", "/api/v1/admin/users/glass/revoke-sessions").status_code == 401
    r = api.admin("POST", "/api/v1/admin/users/glass/revoke-sessions")
    assert r.status_code == 200 and r.json()["sessionsRevokedAt"].endswith("Z")


def test_idempotency_key_sends_one_sms(api):
    phone = fresh_phone()
    api.enrol_sms("idem-user", phone)
    before = len(api.messages(phone))
    headers = {"Idempotency-Key": "7f1c0b7e-retry-1"}
    first = api.call("POST", "/api/v1/challenges", json={"userId": "idem-user"}, headers=dict(headers))
    second = api.call("POST", "/api/v1/challenges", json={"userId": "idem-user"}, headers=dict(headers))
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    api.sms_code(phone, after=before)
    reused = api.call("POST", "/api/v1/challenges", json={"userId": "idem-user", "method": "sms"}, headers=dict(headers))
    assert is_problem(reused, 422, "idempotency_key_reused")
    import time
    time.sleep(3)  # longer than the queue host's idle polling interval: a second SMS would have arrived
    assert len(api.messages(phone)) == before + 1


def test_sms_limit_answers_429_with_retry_after(api):  # L5 over HTTP
    phone = fresh_phone()
    api.enrol_sms("limited", phone)  # one SMS of the ten this user may get this hour
    statuses = [api.begin("limited").status_code for _ in range(10)]
    assert statuses[:9] == [201] * 9
    r = api.begin("limited")
    assert is_problem(r, 429, "rate_limited") and 0 < int(r.headers["Retry-After"]) <= 3600


def test_replay_of_an_approved_challenge_is_409_and_refusals_are_audited(api):  # R1, D7 over HTTP
    phone = fresh_phone()
    api.enrol_sms("replayed", phone)
    before = len(api.messages(phone))
    headers = {"Idempotency-Key": "replay-after-approval"}
    first = api.call("POST", "/api/v1/challenges", json={"userId": "replayed"}, headers=dict(headers)).json()
    code = api.sms_code(phone, after=before)
    assert api.call("POST", f"/api/v1/challenges/{first['challengeId']}/verify", json={"code": code}).status_code == 200
    again = api.call("POST", "/api/v1/challenges", json={"userId": "replayed"}, headers=dict(headers))
    assert is_problem(again, 409, "idempotency_result_gone")
    for _ in range(2):
        assert is_problem(api.begin("replayed", context={"riskLevel": "high"}), 403, "risk_blocked")
    events = api.admin("GET", "/api/v1/admin/users/replayed/audit").json()["events"]
    refused = [e for e in events if e["event"] == "request_refused"]
    assert {(e["action"], e["code"]) for e in refused} == {("begin", "risk_blocked")}
    assert sum(e["count"] for e in refused) == 2 and len(refused) <= 2  # one row a minute (the two may straddle one)


def maximum_document() -> dict:
    """The documented maximum in its longest spelling: 195 locations x 2000 distinct full-length IPv6 ranges."""
    rng = random.Random(195)

    def cidr() -> str:
        return ":".join(f"{rng.getrandbits(16) | 0x1000:x}" for _ in range(8)) + "/128"
    return {"trustedNetworks": [{"name": f"location-{i:03d}", "cidrs": [cidr() for _ in range(MAX_RANGES)]}
                                for i in range(MAX_LOCATIONS)]}


def test_a_maximum_size_policy_is_stored_and_read_through_the_route(api):
    """P2: the documented maximum passes PATCH /admin/policy whole (its body is far above 1 MiB) and reads back."""
    doc = maximum_document()
    body = json.dumps(doc).encode()
    assert len(body) > 16 * 1024 * 1024  # the body limit of this route is MAX_POLICY_DOCUMENT_BYTES, not 16 KiB
    headers = {"x-functions-key": MASTER_KEY, "Content-Type": "application/json"}
    r = api.http.patch(api.base + "/api/v1/admin/policy", data=body, headers=headers, timeout=120)
    assert r.status_code == 200, r.text[:300]
    got = api.http.get(api.base + "/api/v1/admin/policy", headers=headers, timeout=120).json()["trustedNetworks"]
    assert got == doc["trustedNetworks"]
    inside = doc["trustedNetworks"][194]["cidrs"][1999].split("/")[0]
    api.enrol_totp("max-policy-user")
    assert api.begin("max-policy-user", context={"ip": inside}).json()["reason"] == "trusted_network"
    too_big = b" " * (MAX_POLICY_DOCUMENT_BYTES - len(body) + 1) + body
    assert is_problem(api.http.patch(api.base + "/api/v1/admin/policy", data=too_big, headers=headers, timeout=120),
                      413, "payload_too_large")
