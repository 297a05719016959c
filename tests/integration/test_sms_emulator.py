"""The local ACS SMS emulator (tools/sms_emulator/), driven by the real azure-communication-sms SDK.

The SDK signs each request with HMAC-SHA256; these tests prove the emulator accepts exactly what the SDK
sends with the right key and refuses what the real service refuses, and that its fault switches produce
the errors and per-recipient failures the app's sender must handle.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from azure.communication.sms import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

from tools import sms_emulator

ROOT = Path(__file__).resolve().parents[2]

KEY = "WxDF+6dyUa/J5u7skPwcWFNehdPiOoe4lvXJR9JArm4="
OTHER_KEY = base64.b64encode(b"k" * 32).decode("ascii")
SENDER = "+18005550100"
ALICE = "+14255550123"
BOB = "+14255550124"
CODE_TEXT = "Your sign-in code is 123456. Don't share it.\n\n@localhost #123456"
SEND_PATH = "/sms?api-version=2021-03-07"
TIMEOUT = 10


@pytest.fixture(scope="module")
def emulator() -> Iterator[object]:
    server = sms_emulator.start_in_thread(port=0, access_key=KEY)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean_emulator(emulator: object) -> None:
    assert requests.delete(f"{emulator.url}/messages", timeout=TIMEOUT).status_code == 204
    assert requests.delete(f"{emulator.url}/faults", timeout=TIMEOUT).status_code == 204


def client(emulator: object, key: str = KEY) -> SmsClient:
    return SmsClient(emulator.url, AzureKeyCredential(key), retry_total=0,
                     connection_timeout=TIMEOUT, read_timeout=TIMEOUT)


def messages(emulator: object, **params: str) -> list[dict[str, str]]:
    response = requests.get(f"{emulator.url}/messages", params=params, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()


def set_faults(emulator: object, status: int | None = None, fail: list[str] | None = None) -> None:
    body = {"status": status, "failRecipients": fail or []}
    response = requests.put(f"{emulator.url}/faults", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


def signed_headers(url: str, body: bytes, key: str = KEY, date: datetime | None = None,
                   content_hash: str | None = None) -> dict[str, str]:
    """Sign a POST to /sms the way the ACS HMAC scheme specifies (written here from the spec, not the SDK)."""
    host = urlsplit(url).netloc
    x_ms_date = (date or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    content_hash = content_hash or base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    to_sign = f"POST\n{SEND_PATH}\n{x_ms_date};{host};{content_hash}"
    signature = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest())
    return {
        "Content-Type": "application/json",
        "x-ms-date": x_ms_date,
        "x-ms-content-sha256": content_hash,
        "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
        + signature.decode("ascii"),
    }


def send_body(to: str = ALICE, message: str = CODE_TEXT) -> bytes:
    return json.dumps({"from": SENDER, "smsRecipients": [{"to": to}], "message": message}).encode()


def raw_post(emulator: object, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{emulator.url}{SEND_PATH}", data=body, headers=headers, timeout=TIMEOUT)


def test_sdk_send_is_recorded_with_the_exact_text(emulator: object) -> None:
    [result] = client(emulator).send(from_=SENDER, to=ALICE, message=CODE_TEXT)

    assert result.successful is True
    assert result.http_status_code == 202
    assert result.to == ALICE and result.message_id
    [recorded] = messages(emulator)
    assert {k: recorded[k] for k in ("to", "from", "message")} == {
        "to": ALICE, "from": SENDER, "message": CODE_TEXT}
    assert recorded["receivedAt"].endswith("Z")
    received = datetime.fromisoformat(recorded["receivedAt"])
    assert abs(datetime.now(UTC) - received) < timedelta(minutes=1)


def test_messages_are_listed_in_order_and_filtered_by_recipient(emulator: object) -> None:
    sms = client(emulator)
    sms.send(from_=SENDER, to=ALICE, message="first")
    sms.send(from_=SENDER, to=BOB, message="second")
    sms.send(from_=SENDER, to=ALICE, message="third")

    assert [m["message"] for m in messages(emulator)] == ["first", "second", "third"]
    assert [m["message"] for m in messages(emulator, to=ALICE)] == ["first", "third"]


def test_wrong_access_key_is_refused(emulator: object) -> None:
    with pytest.raises(ClientAuthenticationError) as raised:
        client(emulator, key=OTHER_KEY).send(from_=SENDER, to=ALICE, message=CODE_TEXT)

    assert raised.value.status_code == 401
    assert messages(emulator) == []


def test_hand_signed_request_is_accepted(emulator: object) -> None:
    """The signing helper below is right, so the 401s in the next test are about what was tampered."""
    body = send_body()
    response = raw_post(emulator, body, signed_headers(emulator.url, body))

    assert response.status_code == 202, response.text
    assert response.json()["value"][0]["successful"] is True
    assert len(messages(emulator)) == 1


@pytest.mark.parametrize("tamper", ["content_hash", "body_after_signing", "stale_date", "future_date",
                                    "no_date", "no_authorization", "wrong_signed_headers"])
def test_tampered_request_is_refused_with_401(emulator: object, tamper: str) -> None:
    body = send_body()
    headers = signed_headers(emulator.url, body)
    if tamper == "content_hash":
        headers = signed_headers(emulator.url, body, content_hash=base64.b64encode(b"\0" * 32).decode())
    elif tamper == "body_after_signing":  # hash matches the new body, but the signature covers the old one
        body = send_body(message="Your sign-in code is 654321.")
        headers["x-ms-content-sha256"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
    elif tamper == "stale_date":
        headers = signed_headers(emulator.url, body, date=datetime.now(UTC) - timedelta(minutes=16))
    elif tamper == "future_date":
        headers = signed_headers(emulator.url, body, date=datetime.now(UTC) + timedelta(minutes=16))
    elif tamper == "no_date":
        del headers["x-ms-date"]
    elif tamper == "no_authorization":
        del headers["Authorization"]
    elif tamper == "wrong_signed_headers":
        headers["Authorization"] = headers["Authorization"].replace("x-ms-date;host;", "host;x-ms-date;")

    response = raw_post(emulator, body, headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Denied"
    assert messages(emulator) == []


@pytest.mark.parametrize("payload", [
    b"{not json",
    b"[]",
    json.dumps({"smsRecipients": [{"to": ALICE}], "message": "m"}).encode(),
    json.dumps({"from": SENDER, "smsRecipients": [{"to": ALICE}]}).encode(),
    json.dumps({"from": SENDER, "smsRecipients": [], "message": "m"}).encode(),
    json.dumps({"from": SENDER, "smsRecipients": [ALICE], "message": "m"}).encode(),
    json.dumps({"from": SENDER, "smsRecipients": [{"phone": ALICE}], "message": "m"}).encode(),
], ids=["not-json", "not-object", "no-from", "no-message", "no-recipients", "recipient-not-object",
        "recipient-without-to"])
def test_malformed_signed_body_is_400(emulator: object, payload: bytes) -> None:
    response = raw_post(emulator, payload, signed_headers(emulator.url, payload))

    assert response.status_code == 400
    assert response.json()["error"]["code"]
    assert messages(emulator) == []


def test_fault_503_raises_and_records_nothing(emulator: object) -> None:
    set_faults(emulator, status=503)

    with pytest.raises(HttpResponseError) as raised:
        client(emulator).send(from_=SENDER, to=ALICE, message=CODE_TEXT)

    assert raised.value.status_code == 503
    assert messages(emulator) == []


def test_fault_429_carries_retry_after(emulator: object) -> None:
    set_faults(emulator, status=429)

    with pytest.raises(HttpResponseError) as raised:
        client(emulator).send(from_=SENDER, to=ALICE, message=CODE_TEXT)

    assert raised.value.status_code == 429
    assert raised.value.response.headers.get("Retry-After") == "1"
    assert messages(emulator) == []


def test_failed_recipient_is_unsuccessful_while_the_other_succeeds(emulator: object) -> None:
    set_faults(emulator, fail=[ALICE])

    results = client(emulator).send(from_=SENDER, to=[ALICE, BOB], message=CODE_TEXT)

    by_number = {r.to: r for r in results}
    assert by_number[ALICE].successful is False
    assert by_number[ALICE].http_status_code == 400
    assert by_number[ALICE].error_message
    assert by_number[BOB].successful is True
    assert [m["to"] for m in messages(emulator)] == [BOB]


def test_faults_can_be_read_and_cleared(emulator: object) -> None:
    set_faults(emulator, status=503, fail=[ALICE])
    assert requests.get(f"{emulator.url}/faults", timeout=TIMEOUT).json() == {
        "status": 503, "failRecipients": [ALICE], "delaySeconds": 0.0}

    assert requests.delete(f"{emulator.url}/faults", timeout=TIMEOUT).status_code == 204

    assert requests.get(f"{emulator.url}/faults", timeout=TIMEOUT).json() == {
        "status": None, "failRecipients": [], "delaySeconds": 0.0}
    [result] = client(emulator).send(from_=SENDER, to=ALICE, message=CODE_TEXT)
    assert result.successful is True


@pytest.mark.parametrize("body", [{"status": 500}, {"status": "503"}, {"failRecipients": ALICE}, {"stauts": 503}])
def test_invalid_fault_settings_are_400(emulator: object, body: dict[str, object]) -> None:
    response = requests.put(f"{emulator.url}/faults", json=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert requests.get(f"{emulator.url}/faults", timeout=TIMEOUT).json()["status"] is None


def test_delete_messages_clears_them(emulator: object) -> None:
    client(emulator).send(from_=SENDER, to=ALICE, message=CODE_TEXT)
    assert len(messages(emulator)) == 1

    assert requests.delete(f"{emulator.url}/messages", timeout=TIMEOUT).status_code == 204

    assert messages(emulator) == []


def test_health(emulator: object) -> None:
    assert requests.get(f"{emulator.url}/health", timeout=TIMEOUT).status_code == 200


def test_request_log_never_holds_the_message_text(emulator: object, capsys: pytest.CaptureFixture[str]) -> None:
    client(emulator).send(from_=SENDER, to=ALICE, message=CODE_TEXT)
    messages(emulator, to=ALICE)

    log = capsys.readouterr().err
    assert "POST /sms 202" in log
    assert "GET /messages 200" in log
    assert "123456" not in log
    assert ALICE not in log


def test_refuses_a_non_loopback_host() -> None:
    with pytest.raises(ValueError):
        sms_emulator.start_in_thread(host="0.0.0.0", port=0)


def test_a_busy_port_raises_instead_of_exiting(emulator: object) -> None:
    with pytest.raises(OSError):
        sms_emulator.start_in_thread(port=emulator.port)


def test_command_line_serves_and_stops_on_sigterm() -> None:
    env = {**os.environ, "SMS_EMULATOR_ACCESS_KEY": OTHER_KEY}
    process = subprocess.Popen([sys.executable, "-m", "tools.sms_emulator", "--port", "0"], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, text=True)
    try:
        first_line = process.stderr.readline()
        assert "listening on http://127.0.0.1:" in first_line
        url = first_line.rsplit(" ", 1)[1].strip()
        sms = SmsClient(url, AzureKeyCredential(OTHER_KEY), retry_total=0)
        assert sms.send(from_=SENDER, to=ALICE, message=CODE_TEXT)[0].successful is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_command_line_refuses_a_non_loopback_host() -> None:
    result = subprocess.run([sys.executable, "-m", "tools.sms_emulator", "--host", "0.0.0.0"], cwd=ROOT,
                            check=False, capture_output=True, text=True, timeout=TIMEOUT)

    assert result.returncode != 0
    assert "loopback" in result.stderr


def test_a_repeated_request_id_answers_the_first_result_and_records_once(emulator: object) -> None:  # Q5
    from shared.channels.sms import SmsGateway, first_sent_header

    gateway = SmsGateway(client(emulator), SENDER)
    first_sent = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    request_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
    first = gateway.send(ALICE, CODE_TEXT, "t", request_id, first_sent)
    again = gateway.send(ALICE, CODE_TEXT, "t", request_id, first_sent)
    assert again == first
    other_id = "1f8fad5b-d9cb-469f-a165-70867728950e"
    assert gateway.send(ALICE, CODE_TEXT, "t", other_id, first_sent) != first
    assert [m["repeatabilityRequestId"] for m in messages(emulator)] == [request_id, other_id]
    assert first_sent_header(first_sent) == "Tue, 01 Dec 2026 21:30:00 GMT"


def test_same_request_id_with_another_first_sent_is_rejected(emulator: object) -> None:  # Q5
    from shared.channels.sms import DeliveryFailed, SmsGateway

    gateway = SmsGateway(client(emulator), SENDER)
    request_id = "2f8fad5b-d9cb-469f-a165-70867728950e"
    gateway.send(ALICE, CODE_TEXT, "t", request_id, datetime(2026, 12, 1, 21, 30, tzinfo=UTC))
    with pytest.raises(DeliveryFailed):
        gateway.send(ALICE, CODE_TEXT, "t", request_id, datetime(2026, 12, 1, 21, 31, tzinfo=UTC))
    assert len(messages(emulator)) == 1


def test_a_refused_recipient_is_not_remembered(emulator: object) -> None:  # Q5
    from shared.channels.sms import DeliveryFailed, SmsGateway

    gateway = SmsGateway(client(emulator), SENDER)
    request_id, first_sent = "3f8fad5b-d9cb-469f-a165-70867728950e", datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    set_faults(emulator, fail=[ALICE])
    with pytest.raises(DeliveryFailed):
        gateway.send(ALICE, CODE_TEXT, "t", request_id, first_sent)
    set_faults(emulator)
    assert gateway.send(ALICE, CODE_TEXT, "t", request_id, first_sent)
    assert len(messages(emulator)) == 1


def test_malformed_repeatability_fields_are_400(emulator: object) -> None:  # Q5
    body = json.dumps({"from": SENDER, "message": CODE_TEXT, "smsRecipients": [
        {"to": ALICE, "repeatabilityRequestId": "not-a-uuid", "repeatabilityFirstSent": "yesterday"}]}).encode()
    response = raw_post(emulator, body, signed_headers(emulator.url, body))
    assert response.status_code == 400
    assert messages(emulator) == []


PAGE = "http://localhost:7071"


def test_the_inbox_allows_exactly_the_configured_page_origin() -> None:
    """The try-it page reads GET /messages cross-origin; only that route answers CORS, only to that origin."""
    with sms_emulator.start_in_thread(port=0, access_key=KEY, allow_origin=PAGE) as server:
        ok = requests.get(f"{server.url}/messages", headers={"Origin": PAGE}, timeout=TIMEOUT)
        assert ok.headers["Access-Control-Allow-Origin"] == PAGE and ok.headers["Vary"] == "Origin"
        for origin in ("http://127.0.0.1:7071", "http://localhost:7071.evil.test", "null", PAGE + "/"):
            other = requests.get(f"{server.url}/messages", headers={"Origin": origin}, timeout=TIMEOUT)
            assert "Access-Control-Allow-Origin" not in other.headers, origin
        for method, path in (("GET", "/faults"), ("GET", "/webhook/events"), ("DELETE", "/messages"),
                             ("GET", "/health"), ("OPTIONS", "/messages")):
            r = requests.request(method, server.url + path, headers={"Origin": PAGE}, timeout=TIMEOUT)
            assert "Access-Control-Allow-Origin" not in r.headers, (method, path)


def test_without_a_page_origin_the_inbox_allows_none(emulator: object) -> None:
    r = requests.get(f"{emulator.url}/messages", headers={"Origin": PAGE}, timeout=TIMEOUT)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_command_line_takes_the_page_origin() -> None:
    process = subprocess.Popen([sys.executable, "-m", "tools.sms_emulator", "--port", "0", "--allow-origin", PAGE],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stderr.readline().rsplit(" ", 1)[1].strip()
        r = requests.get(f"{url}/messages", headers={"Origin": PAGE}, timeout=TIMEOUT)
        assert r.headers.get("Access-Control-Allow-Origin") == PAGE
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT)
        process.stderr.close()


def test_a_delayed_answer_comes_late_but_the_message_is_recorded_at_once(emulator: object) -> None:
    """`delaySeconds`: a provider that accepted a message and answers late (a client may give up first)."""
    response = requests.put(f"{emulator.url}/faults", json={"delaySeconds": 1.5}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    slow = SmsClient(emulator.url, AzureKeyCredential(KEY), retry_total=0, connection_timeout=TIMEOUT, read_timeout=0.5)
    try:
        with pytest.raises(AzureError):  # the client gave up before the answer came
            slow.send(from_=SENDER, to=ALICE, message=CODE_TEXT)
        assert [m["to"] for m in messages(emulator)] == [ALICE]  # yet the message was taken
        bad = requests.put(f"{emulator.url}/faults", json={"delaySeconds": 31}, timeout=TIMEOUT)
        assert bad.status_code == 400
    finally:
        requests.delete(f"{emulator.url}/faults", timeout=TIMEOUT)
