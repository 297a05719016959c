"""Storage faults through a fault-injecting TCP proxy in front of Azurite (tools/faultproxy.py), in
process with an injected clock (Q5):
- a Table or Queue call that stalls mid-response, or trickles, is abandoned inside the configured bound;
- an SMS challenge committed while the queue is down answers 201 and is re-driven by the sweeper once the
  queue is back, or marked `failed` when its code expired first; a message stuck invisible is re-sent.

The bound checks below are liveness limits derived from the configured timeouts (a hang would take the
300 s transport default), not speed measurements.
"""
from __future__ import annotations

import base64
import threading
import time

import pytest
import requests
from azure.storage.queue import QueueClient

from shared import clients
from shared.delivery import redrive, sweeper
from shared.delivery.sender import deliver
from shared.flows import challenge_rows, enrolment, signin, verify
from shared.kernel.errors import StorageUnavailable
from shared.kernel.results import ChallengeStarted
from shared.methods import base as methods
from tests.conftest import app_env
from tests.helpers import sms_code_for
from tests.integration.api_client import Api, fresh_phone
from tools import azurite as azurite_tool
from tools import faultproxy

PHONE = "+14255550143"


@pytest.fixture(autouse=True)
def _queue_path(queue_path):
    """These tests drive the queue path and the sweep: the begin leaves every SMS to the queue, as it does
    when its inline attempt fails (tests/integration/test_inline_send.py covers that attempt)."""


def received(emulator):
    return requests.get(f"{emulator.url}/messages", params={"to": PHONE}, timeout=5).json()


def ends_within(fn, bound: float):
    """Run fn in a thread; return (finished within bound, exception raised or None)."""
    out: dict[str, BaseException | None] = {"exc": None}

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            out["exc"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(bound)
    return not worker.is_alive(), out["exc"]


@pytest.mark.parametrize("side", ["table", "queue"])
@pytest.mark.parametrize("fault", [{"mode": "stall", "stall_after": 20},
                                   {"mode": "slow", "delay": 0.5, "slow_chunk": 8}])
def test_a_call_that_hangs_mid_response_is_abandoned_within_the_bound(pdeps, proxies, side, fault):  # Q5
    table, queue = proxies
    proxy, call = ((table, lambda: pdeps.store.get("alice", "profile")) if side == "table"
                   else (queue, lambda: pdeps.outbox.put("x.y", 60)))
    proxy.set_mode(**fault)
    finished, exc = ends_within(call, clients.CALL_BOUND + 2)
    proxy.set_mode("pass")
    assert finished, f"{side} call still running after {clients.CALL_BOUND + 2} s"
    assert isinstance(exc, StorageUnavailable)


def test_a_request_whose_every_call_is_slow_ends_inside_its_storage_budget(pdeps, proxies):  # Q5
    table, _ = proxies
    enrol(pdeps)
    table.set_mode("slow", delay=1.5)  # every Table call answers, 1.5 s late: no timeout ever trips

    def begin_with_budget() -> None:
        with clients.request_budget(3):
            signin.begin(pdeps, {"userId": "alice", "method": "sms"})  # five Table calls: 7.5 s

    finished, exc = ends_within(begin_with_budget, 3 + 2)
    table.set_mode("pass")
    assert finished, "the begin ran past its Storage budget"
    assert isinstance(exc, StorageUnavailable)


def test_begin_with_the_queue_down_answers_201_fast_and_the_sweeper_delivers(pdeps, proxies, sms, clock):  # Q5
    _, queue = proxies
    enrol(pdeps)
    queue.set_mode("refuse")
    started = time.monotonic()
    result = signin.begin(pdeps, {"userId": "alice", "method": "sms"})
    view = result.view
    answered_in = time.monotonic() - started
    assert isinstance(result, ChallengeStarted) and answered_in < clients.CALL_BOUND
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "queued"
    assert sweeper.sweep(pdeps) == {"wait": 1}  # too young to look stuck: kept
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    assert sweeper.sweep(pdeps) == {"wait": 1}  # still due, but the queue is down: kept for the next run
    queue.set_mode("pass")
    assert sweeper.sweep(pdeps) == {"redrive": 1}
    assert deliver(pdeps, take(pdeps)) == "sent"
    [message] = received(sms)
    assert f"#{sms_code_for(pdeps, view['challengeId'])}" in message["message"]
    assert sweeper.sweep(pdeps) == {"done": 1}  # delivered: the marker goes
    assert sweeper.sweep(pdeps) == {}


def test_a_challenge_still_queued_at_expiry_is_marked_failed(pdeps, proxies, sms, clock):  # Q5
    _, queue = proxies
    enrol(pdeps)
    queue.set_mode("refuse")
    view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view
    clock.advance(pdeps.settings.code_ttl_seconds)
    queue.set_mode("pass")
    assert sweeper.sweep(pdeps) == {"failed": 1}
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "failed"
    events = [r["event"] for r in pdeps.store.query_prefix("alice", "au|")]
    assert "sms_failed" in events
    assert sweeper.sweep(pdeps) == {}
    assert received(sms) == []


def test_a_message_stuck_invisible_is_re_sent_and_only_once_per_interval(pdeps, sms, clock):  # Q5
    enrol(pdeps)
    view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view
    raw = raw_queue(pdeps)
    assert len(raw.receive_messages(visibility_timeout=600).__next__().content) > 0  # hidden for 10 min
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    assert sweeper.sweep(pdeps) == {"redrive": 1}
    assert sweeper.sweep(pdeps) == {"wait": 1}  # re-driven a moment ago: no second fresh message
    body = take(pdeps)
    assert deliver(pdeps, body) == "sent"
    assert deliver(pdeps, body) == "already_sent"
    assert len(received(sms)) == 1
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "sent"


def test_a_marker_whose_challenge_never_committed_is_dropped(pdeps, clock):  # Q5
    enrol(pdeps)
    ch = challenge_rows.new_challenge(pdeps, pdeps.policy(), "alice", methods.SIGNIN, "sms", clock.now(), None)
    redrive.note_due(pdeps, ch)  # as if the challenge transaction then failed
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    assert sweeper.sweep(pdeps) == {"missing": 1}
    assert sweeper.sweep(pdeps) == {}


def test_begin_answers_503_and_leaves_no_marker_when_the_table_is_down(pdeps, proxies, clock):  # Q5
    table, _ = proxies
    enrol(pdeps)
    table.set_mode("refuse")
    with pytest.raises(StorageUnavailable):
        signin.begin(pdeps, {"userId": "alice", "method": "sms"})
    table.set_mode("pass")
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    assert sweeper.sweep(pdeps) == {}


def enrol(d) -> dict:
    view = enrolment.enrol_phone(d, "alice", {"phoneNumber": PHONE}).view
    body = take(d)
    deliver(d, body)
    verify.verify(d, view["challengeId"], {"code": sms_code_for(d, view["challengeId"])})
    requests.delete(f"{d.settings.acs_endpoint}/messages", timeout=5)
    assert sweeper.sweep(d, d.clock.now() + redrive.REDRIVE_AFTER) == {"done": 1}  # the enrolment's marker
    return view


def raw_queue(d) -> QueueClient:
    return QueueClient.from_connection_string(d.settings.storage_connection_string, d.outbox.queue.queue_name)


def take(d) -> bytes:
    """The one visible outbox message, received and deleted as the host would after running the sender."""
    raw = raw_queue(d)
    msgs = list(raw.receive_messages(max_messages=32, visibility_timeout=5))
    assert len(msgs) == 1, [m.content for m in msgs]
    raw.delete_message(msgs[0])
    return base64.b64decode(msgs[0].content)


def test_through_the_dev_host_queue_down_begin_is_201_and_the_sweep_delivers(start_devhost, azurite,
                                                                              emulator):  # Q5
    """The queue alone down costs nothing now (the SMS goes out inline); with the provider failing too, the
    inline attempt and its enqueue both fail, and the sweep chain the host then owes delivers it, once."""
    with faultproxy.FaultProxy(azurite.queue_port) as queue:
        conn = azurite_tool.connection_string(azurite.blob_port, queue.port, azurite.table_port)
        host = start_devhost(app_env(azurite, emulator, AzureWebJobsStorage=conn, MFA_TABLE_NAME="queuedown"))
        api = Api(host.url, emulator.url)
        phone = fresh_phone()
        api.enrol_sms("qdown", phone)
        before = len(api.messages(phone))
        queue.set_mode("refuse")
        r = api.begin("qdown", method="sms")
        assert r.status_code == 201, r.text
        assert api.call("GET", f"/api/v1/challenges/{r.json()['challengeId']}").json()["delivery"] == "sent"
        assert len(api.messages(phone)) == before + 1  # sent inline: the queue was not needed
        before += 1
        requests.put(f"{emulator.url}/faults", json={"status": 503}, timeout=5)
        try:
            started = time.monotonic()
            r = api.begin("qdown", method="sms")
            answered_in = time.monotonic() - started
        finally:
            requests.delete(f"{emulator.url}/faults", timeout=5)
        assert r.status_code == 201, r.text
        assert answered_in < clients.CALL_BOUND  # today ~19 s, then 503
        cid = r.json()["challengeId"]
        assert api.call("GET", f"/api/v1/challenges/{cid}").json()["delivery"] == "queued"
        time.sleep(1)
        queue.set_mode("pass")
        # the sweep chain the host owed re-drove it
        api.wait_for(f"/api/v1/challenges/{cid}", "delivery", "sent", timeout=90)
        code = api.sms_code(phone, after=before)
        assert api.call("POST", f"/api/v1/challenges/{cid}/verify", json={"code": code}).status_code == 200
        assert len(api.messages(phone)) == before + 1
