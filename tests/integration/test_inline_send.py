"""The first SMS attempt inline, right after the commit (shared/delivery/inline.py), in process against
Azurite (behind the fault proxy) and the emulator through the real azure-communication-sms SDK, with an
injected clock. The queue sender stays the retry path every SMS can take; whatever the inline attempt
does, each challenge ends with exactly one SMS at the provider (Q2, Q5)."""
from __future__ import annotations

import base64
import contextlib
import json
import logging
import time

import pytest
import requests
from azure.storage.queue import QueueClient

from shared.channels.sms import outbox_message
from shared.delivery import inline, redrive, sweeper
from shared.delivery.sender import deliver, repeatability_id
from shared.flows import challenge_rows, enrolment, signin, verify
from shared.kernel.ids import parse_challenge_id
from shared.methods.base import SIGNIN
from shared.store import challenge_from
from tests.helpers import sms_code_for
from tests.integration.test_due_items import due_rows

PHONE = "+14255550144"


@pytest.fixture
def provider(emulator):
    """The emulator, its inbox and faults cleared before and after."""
    requests.delete(f"{emulator.url}/messages", timeout=5)
    requests.delete(f"{emulator.url}/faults", timeout=5)
    yield emulator
    requests.delete(f"{emulator.url}/faults", timeout=5)


def fault(emulator, **faults) -> None:
    body = {"status": None, **faults}
    assert requests.put(f"{emulator.url}/faults", json=body, timeout=5).status_code == 200


def received(emulator) -> list[dict]:
    return requests.get(f"{emulator.url}/messages", params={"to": PHONE}, timeout=5).json()


def outbox(d) -> list[bytes]:
    """Every message on the SMS outbox, taken off it as the host does after running the sender."""
    raw = QueueClient.from_connection_string(d.settings.storage_connection_string, d.outbox.queue.queue_name)
    taken = []
    for message in raw.receive_messages(max_messages=32, visibility_timeout=5):
        raw.delete_message(message)
        taken.append(base64.b64decode(message.content))
    return taken


@contextlib.contextmanager
def table_down_after_the_send(d, table):
    """The provider takes the SMS, then the Table refuses every call until the block ends."""
    send = d.sms.send

    def send_then_table_down(*args, **kwargs):
        message_id = send(*args, **kwargs)
        table.set_mode("refuse")
        return message_id

    d.sms.send = send_then_table_down
    try:
        yield
    finally:
        d.sms.send = send
        table.set_mode("pass")


def enrolled(d, emulator) -> None:
    view = enrolment.enrol_phone(d, "alice", {"phoneNumber": PHONE}).view
    verify.verify(d, view["challengeId"], {"code": sms_code_for(d, view["challengeId"])})
    requests.delete(f"{emulator.url}/messages", timeout=5)


def test_the_begin_sends_inline_and_the_queue_path_sends_nothing_more(pdeps, provider, clock):
    enrolled(pdeps, provider)
    view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "sent"  # before the answer
    [message] = received(provider)
    assert message["message"].endswith("#" + sms_code_for(pdeps, view["challengeId"]))
    assert outbox(pdeps) == []  # nothing was queued: the queue's polling is not on the way
    sent = [json.loads(r["detail"]) for r in pdeps.store.query_prefix("alice", "au|") if r["event"] == "sms_sent"]
    assert [s["attempt"] for s in sent] == [0, 0]  # the enrolment's and this one, both sent inline (try 0)
    # a message for it anyway (an idempotent replay, a re-drive) sends nothing more
    assert deliver(pdeps, outbox_message(view["challengeId"]).encode()) == "already_sent"
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    # the enrolment's marker is settled, not re-driven; the sign-in, sent before its commit, wrote none
    assert sweeper.sweep(pdeps) == {"done": 1}
    assert len(received(provider)) == 1


def test_an_inline_attempt_the_provider_fails_is_delivered_by_the_queue_exactly_once(pdeps, provider, caplog):
    enrolled(pdeps, provider)
    fault(provider, status=503)
    with caplog.at_level(logging.WARNING, logger="twostep.delivery"):
        view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view  # 201 all the same
    assert "inline sms attempt not completed" in caplog.text
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "queued"
    assert f"sms|{view['challengeId']}" in {r["RowKey"] for r in due_rows(pdeps)}  # written before the commit
    [body] = outbox(pdeps)  # left to the queue at once
    requests.delete(f"{provider.url}/faults", timeout=5)
    assert deliver(pdeps, body, 1) == "sent"
    assert deliver(pdeps, body, 2) == "already_sent"  # a repeated message
    [message] = received(provider)
    assert message["message"].endswith("#" + sms_code_for(pdeps, view["challengeId"]))
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "sent"


def test_a_refused_inline_attempt_makes_the_queue_try_a_new_request(pdeps, provider, clock):
    enrolled(pdeps, provider)
    fault(provider, failRecipients=[PHONE])
    view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view
    user_id, row_key = parse_challenge_id(view["challengeId"])
    ch = challenge_from(pdeps.store.get(user_id, row_key))
    assert (ch.sms_attempt, ch.sms_attempt_at, ch.delivery) == (1, clock.now(), "queued")
    [body] = outbox(pdeps)
    requests.delete(f"{provider.url}/faults", timeout=5)
    assert deliver(pdeps, body) == "sent"
    [message] = received(provider)
    assert message["repeatabilityRequestId"] == repeatability_id(pdeps.hmac_keys.get(ch.key_id), ch, 1)


def test_a_keyed_begin_whose_record_failed_is_not_sent_twice_by_the_queue(pdeps, proxies, provider):
    """A keyed begin commits, then sends: the provider took the send, then the Table failed before `sent`
    was recorded; the queue's try repeats the request with the same repeatability pair and the provider
    drops the repeat."""
    enrolled(pdeps, provider)
    with table_down_after_the_send(pdeps, proxies[0]):
        view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}, idempotency_key="k-1").view
    assert len(received(provider)) == 1
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "queued"  # not recorded
    [body] = outbox(pdeps)
    assert deliver(pdeps, body) == "sent"  # recorded now
    assert len(received(provider)) == 1  # the provider answered the first result: no second SMS


def test_a_send_whose_commit_failed_is_audited_alone(pdeps, provider, monkeypatch):
    """D5: the SMS went out, then the challenge's transaction failed (a Storage blip): the send is audited
    on its own, marked as bound to no committed challenge."""
    from shared.kernel.errors import StorageUnavailable

    enrolled(pdeps, provider)
    transact, failed = pdeps.store.transact, []

    def first_fails(tx):
        if not failed and any(op[1].get("event") == "sms_sent" for op in tx.ops if len(op) > 1):
            failed.append(tx)
            raise StorageUnavailable()
        return transact(tx)

    monkeypatch.setattr(pdeps.store, "transact", first_fails)
    with pytest.raises(StorageUnavailable):
        signin.begin(pdeps, {"userId": "alice", "method": "sms"})
    assert failed and len(received(provider)) == 1
    sent = [json.loads(r["detail"]) for r in pdeps.store.query_prefix("alice", "au|") if r["event"] == "sms_sent"]
    # the enrolment's and this one (audit rows of one instant come in no set order)
    assert sorted(str(s.get("challengeCommitted")) for s in sent) == ["False", "None"]
    assert [r for r in pdeps.store.query_prefix("alice", "ch|") if r["purpose"] == SIGNIN] == []  # no challenge


def test_a_send_whose_commit_failed_answers_503_and_leaves_no_challenge(pdeps, proxies, provider, caplog):
    """Without an Idempotency-Key the SMS goes out before the challenge's transaction; when that
    transaction then fails, the begin answers 503: no challenge, nothing queued, no marker. The one SMS
    the user got names a challenge that never existed (no code can be verified against it), and the app,
    which got no challenge id, begins again."""
    from shared.kernel.errors import StorageUnavailable

    table, _ = proxies
    enrolled(pdeps, provider)
    before = {r["RowKey"] for r in pdeps.store.query_prefix("alice", "ch|")}
    markers = {r["RowKey"] for r in due_rows(pdeps)}  # the enrolment's
    with table_down_after_the_send(pdeps, table), pytest.raises(StorageUnavailable):
        signin.begin(pdeps, {"userId": "alice", "method": "sms"})
    assert "an sms went out but neither its challenge nor its audit event could be committed" in caplog.text
    assert len(received(provider)) == 1
    assert {r["RowKey"] for r in pdeps.store.query_prefix("alice", "ch|")} == before
    assert outbox(pdeps) == []
    assert {r["RowKey"] for r in due_rows(pdeps)} == markers


def test_a_slow_provider_is_left_to_the_queue_within_the_inline_bound(pdeps, provider):
    """The provider takes the message but answers after the inline read timeout: the begin answers
    anyway, and the queue's try (same repeatability pair) sends no second SMS."""
    enrolled(pdeps, provider)
    fault(provider, delaySeconds=inline.TIMEOUTS["read_timeout"] + 2)
    started = time.monotonic()
    view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view
    took = time.monotonic() - started
    requests.delete(f"{provider.url}/faults", timeout=5)
    assert took < inline.TIMEOUTS["read_timeout"] + 1.5, took
    assert challenge_rows.get(pdeps, view["challengeId"])["delivery"] == "queued"
    [body] = outbox(pdeps)
    assert deliver(pdeps, body) == "sent"
    assert len(received(provider)) == 1


def test_a_refused_begin_takes_back_the_marker_it_wrote_beside_the_limits(pdeps, provider, clock):
    """A keyed begin writes its due marker while the SMS limits are counted; one the limits refuse
    leaves none."""
    from shared.kernel.errors import RateLimited

    enrolled(pdeps, provider)
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    sweeper.sweep(pdeps)  # settles the enrolment's marker
    assert due_rows(pdeps) == []
    for i in range(pdeps.settings.sms_per_user_per_hour - 1):  # the enrolment's SMS counted too
        signin.begin(pdeps, {"userId": "alice", "method": "sms"}, idempotency_key=f"k-{i}")
    with pytest.raises(RateLimited):
        signin.begin(pdeps, {"userId": "alice", "method": "sms"}, idempotency_key="k-last")
    markers = due_rows(pdeps)
    assert len(markers) == pdeps.settings.sms_per_user_per_hour - 1  # one per challenge created, no more


def test_twenty_concurrent_unkeyed_begins_send_one_sms_per_committed_challenge(pdeps, provider):
    """Twenty concurrent begins without a key are twenty begins: each SMS is counted against the limits
    before it is sent, so no more go out than the user's hourly limit allows, and every SMS that went out
    names a challenge that was committed (sending first leaves none behind under contention)."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.kernel.errors import Conflict, RateLimited

    enrolled(pdeps, provider)

    def one(_):
        try:
            return signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view["challengeId"]
        except (RateLimited, Conflict):  # over the limit, or a lost race retried past its bound
            return None

    with ThreadPoolExecutor(20) as pool:
        started = [c for c in pool.map(one, range(20)) if c is not None]
    assert 0 < len(started) <= pdeps.settings.sms_per_user_per_hour - 1  # the enrolment's SMS counted too
    messages = received(provider)
    assert len(messages) == len(started)
    assert sorted(m["message"].rsplit("#", 1)[1] for m in messages) == sorted(
        sms_code_for(pdeps, c) for c in started)
    assert all(challenge_rows.get(pdeps, c)["delivery"] == "sent" for c in started)


def test_a_phone_removed_while_its_sms_is_sent_leaves_a_challenge_that_verifies_nothing(pdeps, provider):
    """The window sending first widens: the phone is removed by an admin after the begin read the profile
    and while the SMS is on its way. The challenge is committed, but its code approves nothing (E1)."""
    from shared.flows import removal
    from shared.kernel.errors import Canceled

    enrolled(pdeps, provider)
    send = pdeps.sms.send

    def send_then_remove(*args, **kwargs):
        message_id = send(*args, **kwargs)
        removal.admin_remove_method(pdeps, "alice", "sms", {"reason": "lost phone"}, "ops")
        return message_id

    pdeps.sms.send = send_then_remove
    try:
        view = signin.begin(pdeps, {"userId": "alice", "method": "sms"}).view
    finally:
        pdeps.sms.send = send
    with pytest.raises(Canceled):
        verify.verify(pdeps, view["challengeId"], {"code": sms_code_for(pdeps, view["challengeId"])})
    assert challenge_rows.get(pdeps, view["challengeId"])["status"] == "canceled"
