"""The SMS sender through the real azure-communication-sms SDK to the local emulator (Q1, Q2, Q4, D1 for
queue messages; Q5: at most one SMS per accepted attempt), driven in-process with an injected clock."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError

from shared.channels.sms import DeliveryFailed
from shared.delivery.sender import deliver, mark_failed, repeatability_id, send_attempt
from shared.flows import challenge_rows, enrolment, signin, verify
from shared.kernel.ids import parse_challenge_id
from shared.store import challenge_from
from tests.helpers import sms_code_for

PHONE = "+14255550142"


@pytest.fixture
def sms(emulator, queue_path):  # these tests drive the queue sender: the begin leaves every SMS to the queue
    requests.delete(f"{emulator.url}/messages", timeout=5)
    requests.delete(f"{emulator.url}/faults", timeout=5)
    yield emulator
    requests.delete(f"{emulator.url}/faults", timeout=5)


def received(emulator, to=PHONE):
    return requests.get(f"{emulator.url}/messages", params={"to": to}, timeout=5).json()


def take_message(deps):
    """Receive the outbox message raw (as the host would) and return (raw text, decoded body)."""
    from azure.storage.queue import QueueClient

    raw_client = QueueClient.from_connection_string(deps.settings.storage_connection_string,
                                                    deps.outbox.queue.queue_name)
    msgs = list(raw_client.receive_messages(max_messages=32, visibility_timeout=1))
    assert len(msgs) == 1
    return msgs[0], base64.b64decode(msgs[0].content)


def test_message_is_base64_names_only_the_challenge_and_expires_with_the_code(deps, sms):  # Q1, D1
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    msg, body = take_message(deps)
    assert json.loads(body) == {"v": 1, "challengeId": view["challengeId"]}
    code = sms_code_for(deps, view["challengeId"])
    assert code not in msg.content and code.encode() not in body and PHONE.encode() not in body
    ttl = (msg.expires_on - msg.inserted_on).total_seconds()
    assert 0 < ttl <= deps.settings.code_ttl_seconds


def test_sends_the_origin_bound_text_and_the_same_code_on_redelivery(deps, sms):  # Q2, Q5
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    _, body = take_message(deps)
    assert deliver(deps, body, 1) == "sent"
    deps.store.table.update_entity({"PartitionKey": "alice", "RowKey": "ch|" + view["challengeId"].split(".")[1],
                                    "delivery": "queued"})  # as if the first send was not recorded
    assert deliver(deps, body, 2) == "sent"  # the retry sends again, with the same repeatability pair...
    texts = [m["message"] for m in received(sms)]
    code = sms_code_for(deps, view["challengeId"])
    assert texts == [f"Your sign-in code is {code}. Don't share it.\n\n@login.example.test #{code}"]  # ...so one SMS
    assert challenge_rows.get(deps, view["challengeId"])["delivery"] == "sent"
    assert len(texts[0]) <= 160 and texts[0].isascii() and "http" not in texts[0]


def test_every_send_carries_a_stable_keyed_repeatability_uuid(deps, sms):  # Q5
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    _, body = take_message(deps)
    deliver(deps, body)
    [message] = received(sms)
    request_id = message["repeatabilityRequestId"]
    assert str(uuid.UUID(request_id)) == request_id
    user_id, row_key = parse_challenge_id(view["challengeId"])
    ch = challenge_from(deps.store.get(user_id, row_key))
    assert request_id == repeatability_id(deps.hmac_keys.get(ch.key_id), ch, 0)
    assert send_attempt(ch) == (0, ch.created_at)
    assert ch.token not in request_id and view["challengeId"] not in request_id


def test_a_duplicate_message_sends_nothing_once_delivery_is_settled(deps, sms):  # Q5
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    _, body = take_message(deps)
    assert deliver(deps, body, 1) == "sent"
    assert deliver(deps, body, 1) == "already_sent"  # e.g. an idempotent replay enqueued it again
    assert mark_failed(deps, body) == "already_sent"  # a duplicate that ended in poison changes nothing
    assert challenge_rows.get(deps, view["challengeId"])["delivery"] == "sent"
    assert len(received(sms)) == 1


def test_a_refused_attempt_makes_the_next_try_a_new_request(deps, sms, clock):  # Q5
    requests.put(f"{sms.url}/faults", json={"status": None, "failRecipients": [PHONE]}, timeout=5)
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    _, body = take_message(deps)
    with pytest.raises(DeliveryFailed):
        deliver(deps, body, 1)
    user_id, row_key = parse_challenge_id(view["challengeId"])
    ch = challenge_from(deps.store.get(user_id, row_key))
    assert send_attempt(ch) == (1, clock.now())
    requests.delete(f"{sms.url}/faults", timeout=5)
    assert deliver(deps, body, 2) == "sent"
    [message] = received(sms)
    assert message["repeatabilityRequestId"] == repeatability_id(deps.hmac_keys.get(ch.key_id), ch, 1)


def test_no_send_for_a_challenge_no_longer_pending(deps, sms, clock):  # Q2
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    _, body = take_message(deps)
    verify.verify(deps, view["challengeId"], {"code": sms_code_for(deps, view["challengeId"])})
    assert deliver(deps, body) == "skipped"
    signin.begin(deps, {"userId": "alice"})
    clock.advance(deps.settings.code_ttl_seconds)
    _, body2 = take_message(deps)
    assert deliver(deps, body2) == "skipped"
    assert received(sms) == []


def test_per_recipient_failure_raises_and_poison_marks_failed(deps, sms):  # Q4, Q3 (domain half)
    requests.put(f"{sms.url}/faults", json={"status": None, "failRecipients": [PHONE]}, timeout=5)
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    _, body = take_message(deps)
    with pytest.raises(DeliveryFailed):
        deliver(deps, body)
    assert challenge_rows.get(deps, view["challengeId"])["delivery"] == "queued"
    assert mark_failed(deps, body) == "failed"
    assert challenge_rows.get(deps, view["challengeId"])["delivery"] == "failed"


def test_provider_outage_raises(deps, sms):  # Q3 (the host retries what raises)
    requests.put(f"{sms.url}/faults", json={"status": 503}, timeout=5)
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    _, body = take_message(deps)
    with pytest.raises((DeliveryFailed, HttpResponseError)) as err:  # a provider error, not a crash of ours
        deliver(deps, body)
    assert isinstance(err.value, DeliveryFailed) or err.value.status_code == 503
    assert received(sms) == []
    assert challenge_rows.get(deps, view["challengeId"])["delivery"] == "queued"  # not sent, not given up
    requests.delete(f"{sms.url}/faults", timeout=5)
    assert deliver(deps, body, 2) == "sent"  # the host's retry after the outage delivers the same code
    assert received(sms)[0]["message"].endswith("#" + sms_code_for(deps, view["challengeId"]))


def test_malformed_messages_are_dropped_not_retried(deps):
    assert deliver(deps, b"not json") == "dropped"
    assert deliver(deps, json.dumps({"challengeId": "x/../y"}).encode()) == "dropped"
