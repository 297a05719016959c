"""Delivery and failure paths through the dev host: provider failures end in the poison queue with
delivery `failed` (Q3, Q4), a repeated message sends no second SMS (Q2, Q5), Storage down means 503 and
recovery (D3), and nothing secret reaches the logs (D1)."""
from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator

import pytest
import requests
from azure.storage.queue import QueueClient

from tests.conftest import app_env
from tests.integration.api_client import Api, HostClock, fresh_phone, pinned_api
from tools import azurite as azurite_tool


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


@pytest.fixture
def faults(emulator):
    yield lambda body: requests.put(f"{emulator.url}/faults", json=body, timeout=5)
    requests.delete(f"{emulator.url}/faults", timeout=5)


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": None, "failRecipients": "PHONE"}])
def test_failing_provider_ends_in_poison_with_delivery_failed(api, devhost, faults, fault):  # Q3, Q4
    moved = f"failed 5 times, reaching MaxDequeueCount of 5; moving it to queue '{devhost.sms_queue}-poison'"
    moved_before = devhost.logs().count(moved)
    phone = fresh_phone()
    if fault.get("failRecipients"):
        fault = {**fault, "failRecipients": [phone]}
    user = f"poison-{phone[-2:]}"
    faults(fault)
    body = api.call("POST", f"/api/v1/users/{user}/phone", json={"phoneNumber": phone}).json()
    got = api.wait_for(f"/api/v1/challenges/{body['challengeId']}", "delivery", "failed", timeout=60)
    assert got["status"] == "pending"
    assert devhost.logs().count(moved) == moved_before + 1  # five tries by the host, then the poison queue
    assert api.messages(phone) == []
    events = [e["event"] for e in api.admin("GET", f"/api/v1/admin/users/{user}/audit").json()["events"]]
    assert "sms_failed" in events


def test_a_repeated_message_sends_no_second_sms(api, devhost, base_env):  # Q2, Q5
    phone = fresh_phone()
    before = len(api.messages(phone))
    body = api.call("POST", "/api/v1/users/redeliver/phone", json={"phoneNumber": phone}).json()
    first = api.sms_code(phone, after=before)
    api.wait_for(f"/api/v1/challenges/{body['challengeId']}", "delivery", "sent")
    settled = devhost.logs().count(": already_sent")
    q = QueueClient.from_connection_string(base_env["AzureWebJobsStorage"], devhost.sms_queue)
    from azure.storage.queue import TextBase64EncodePolicy
    q._message_encode_policy = TextBase64EncodePolicy()
    q.send_message(json.dumps({"v": 1, "challengeId": body["challengeId"]}))  # the same message again
    deadline = time.monotonic() + 20
    while devhost.logs().count(": already_sent") == settled and time.monotonic() < deadline:
        time.sleep(0.1)
    assert devhost.logs().count(": already_sent") == settled + 1  # the sender saw it and sent nothing
    assert len(api.messages(phone)) == before + 1
    assert api.sms_code(phone, after=before) == first


def test_nothing_secret_in_the_logs(api, devhost):  # D1
    phone = fresh_phone()
    before = len(api.messages(phone))
    body = api.call("POST", "/api/v1/users/logcheck/phone", json={"phoneNumber": phone}).json()
    code = api.sms_code(phone, after=before)
    api.call("POST", f"/api/v1/challenges/{body['challengeId']}/verify", json={"code": code})
    enrol = api.call("POST", "/api/v1/users/logcheck2/totp", json={}).json()
    time.sleep(0.5)
    logs = devhost.logs()
    assert "sms accepted for +1*******" in logs  # the sender did log, masked
    assert phone not in logs and phone[1:] not in logs
    assert not re.search(rf"(?<!\d){code}(?!\d)", logs)
    assert enrol["secret"] not in logs
    assert "test-function-key" not in logs and "test-master-key" not in logs


def test_storage_down_answers_503_and_recovers(start_devhost, emulator):  # D3
    ports = [azurite_tool.free_port() for _ in range(3)]
    location = tempfile.mkdtemp(prefix="twostep-outage-")
    store = azurite_tool.start_azurite(*ports, location=location)
    try:
        host = start_devhost(app_env(store, emulator, MFA_TABLE_NAME="outage"))
        api = Api(host.url, emulator.url, HostClock(host.clock_file))
        api.clock.pin()
        secret = api.enrol_totp("outage")
        cid = api.begin("outage").json()["challengeId"]
        store.stop()
        for _ in range(3):
            r = api.call("POST", f"/api/v1/challenges/{cid}/verify", json={"code": api.totp(secret)})
            assert r.status_code == 503 and r.json()["code"] == "unavailable" and r.headers.get("Retry-After")
        assert api.begin("outage").status_code == 503
        health = api.call("GET", "/api/health", key=None)
        assert health.status_code == 503 and health.headers["Content-Type"].startswith("application/problem+json")
        assert (health.json()["code"], health.json()["storage"]) == ("unavailable", "unreachable")
        store = azurite_tool.start_azurite(*ports, location=location)
        assert api.call("GET", "/api/health", key=None).status_code == 200
        r = api.call("POST", f"/api/v1/challenges/{cid}/verify", json={"code": api.totp(secret)})
        assert r.status_code == 200, r.text
    finally:
        store.stop()
