"""Due items (shared/channels/due.py), in process against Azurite behind the fault proxy, with an injected clock:
- N4: a security event committed while the events queue is down reaches the queue once it is back, with
  the id it would have had right after the commit; a decision that did not commit publishes nothing;
- scale to zero: the sweep runs as a chain of delayed queue messages that exists only while something is
  due; a process that owes one (its queue write failed) starts it once the queue is back; no timer runs
  more often than hourly.
"""
from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from shared.channels import due, events
from shared.delivery import redrive, sweeper
from shared.flows import admin, signin
from shared.kernel.errors import StorageUnavailable
from shared.store import StaleWrite, Tx, audit_row
from tests.infra import code_facts
from tests.integration.test_storage_faults import enrol, take

ADMIN = "admin-key"


@pytest.fixture(autouse=True)
def _queue_path(queue_path):
    """These tests drive the queue path and the sweep: the begin leaves every SMS to the queue, as it does
    when its inline attempt fails (tests/integration/test_inline_send.py covers that attempt)."""


def drain(queue: QueueClient) -> list[dict]:
    """Every visible message of a queue, taken off it, as JSON."""
    found = []
    try:
        for message in queue.receive_messages(messages_per_page=32, visibility_timeout=60):
            found.append(json.loads(base64.b64decode(message.content)))
            queue.delete_message(message)
    except ResourceNotFoundError:
        pass  # not created yet: nothing was ever sent to it
    return found


def audited_ids(d, user: str, event: str) -> list[str]:
    """The event ids of a user's committed audit rows of one kind, as the publisher derives them."""
    return [events.event_id(user, r["RowKey"]) for r in d.store.query_prefix(user, "au|") if r["event"] == event]


def due_rows(d) -> list[dict]:
    return list(d.store.query("PartitionKey gt @lo and PartitionKey lt @hi", {"lo": due.DUE_PREFIX, "hi": "~due}"}))


def test_an_event_committed_while_the_queue_is_down_is_published_by_the_sweep_with_its_id(pdeps, proxies, clock):
    _, queue = proxies
    enrol(pdeps)
    drain(pdeps.events.queue)
    assert due_rows(pdeps) == []  # published events leave no marker
    queue.set_mode("refuse")
    admin.create_bypass(pdeps, "alice", {"seconds": 60, "reason": "ticket 7"}, ADMIN)  # the decision stands
    [event_id] = audited_ids(pdeps, "alice", "bypass_created")
    assert [due.item_of(r) for r in due_rows(pdeps)] == [("evt", event_id)]
    clock.advance(events.REPUBLISH_AFTER.total_seconds())
    assert sweeper.sweep(pdeps) == {"wait": 1}  # the queue is still down: kept
    queue.set_mode("pass")
    assert sweeper.sweep(pdeps) == {"done": 1}
    [published] = drain(pdeps.events.queue)
    assert published["id"] == event_id and published["type"] == "com.twostep.bypass.created"
    assert published["data"]["reason"] == "ticket 7"
    assert due_rows(pdeps) == [] and sweeper.sweep(pdeps) == {}


def test_the_id_is_the_same_right_after_the_commit_and_from_the_sweep(pdeps, clock):
    enrol(pdeps)
    drain(pdeps.events.queue)
    seen = []
    pdeps.store.before_commit.append(lambda audits: seen.extend(pdeps.events.due(audits)) or [])
    admin.create_bypass(pdeps, "alice", {"seconds": 60, "reason": "ticket 8"}, ADMIN)
    [right_away] = drain(pdeps.events.queue)
    [marker] = seen
    due.note(pdeps.store, [marker])  # as if deleting the marker after the publish had failed
    clock.advance(events.REPUBLISH_AFTER.total_seconds())
    assert sweeper.sweep(pdeps) == {"done": 1}
    [again] = drain(pdeps.events.queue)
    assert again == right_away and again["id"] == due.item_of(marker)[1]  # a receiver drops the repeat


def test_a_decision_that_did_not_commit_publishes_nothing(pdeps, clock):
    enrol(pdeps)
    drain(pdeps.events.queue)
    stale = pdeps.store.get("alice", "profile")
    pdeps.store.transact(Tx().replace(pdeps.store.get("alice", "profile")))  # someone else writes first
    with pytest.raises(StaleWrite):
        pdeps.store.transact(Tx().replace(stale).create(audit_row("alice", clock.now(), "fraud_reported", "user", 30)))
    assert len(due_rows(pdeps)) == 1  # written before the transaction, which then failed
    clock.advance(events.REPUBLISH_AFTER.total_seconds())
    assert sweeper.sweep(pdeps) == {"missing": 1}
    assert drain(pdeps.events.queue) == [] and due_rows(pdeps) == []


def test_with_the_table_down_no_event_decision_commits(pdeps, proxies):
    table, _ = proxies
    enrol(pdeps)
    table.set_mode("refuse")
    with pytest.raises(StorageUnavailable):
        admin.create_bypass(pdeps, "alice", {"seconds": 60, "reason": "ticket 9"}, ADMIN)
    table.set_mode("pass")
    assert audited_ids(pdeps, "alice", "bypass_created") == []


def test_no_timer_runs_more_often_than_hourly():
    """An idle deployment runs nothing but hourly timers, so it can scale to zero (the old SMS sweep
    ran every 15 s)."""
    schedules = [b["schedule"] for b in code_facts.function_bindings() if b["type"] == "timerTrigger"]
    assert schedules
    for schedule in schedules:
        second, minute, *_ = schedule.split()
        assert second.isdigit() and minute.isdigit(), schedule  # fires once an hour at most


def test_an_idle_sweep_ends_the_chain_after_one_query(pdeps):
    enrol(pdeps)
    drain(pdeps.sweeps.queue.queue)
    assert pdeps.sweeps.start()
    [link] = drain(pdeps.sweeps.queue.queue)
    calls = []
    query = pdeps.store.query
    pdeps.store.query = lambda *a, **k: calls.append(a) or query(*a, **k)
    outcome = sweeper.on_chain_message(pdeps, json.dumps(link).encode())
    assert outcome.endswith("nothing due, the chain ends") and len(calls) == 1
    assert drain(pdeps.sweeps.queue.queue) == []  # no next link: nothing runs until something is due


def test_a_process_that_owes_a_sweep_starts_the_chain_when_the_queue_is_back(pdeps, proxies, sms, clock,
                                                                             monkeypatch):
    _, queue = proxies
    monkeypatch.setattr(due, "SWEEP_EVERY", timedelta(0))  # each next link visible at once, not in 15 s
    enrol(pdeps)
    drain(pdeps.sweeps.queue.queue)
    queue.set_mode("refuse")
    signin.begin(pdeps, {"userId": "alice", "method": "sms"})  # 201; its enqueue failed
    assert pdeps.sweeps.owed
    queue.set_mode("pass")
    deadline, links = time.monotonic() + due.OWED_RETRY_EVERY + 5, []
    while not links and time.monotonic() < deadline:  # no traffic: the process starts it itself
        time.sleep(0.2)
        links = drain(pdeps.sweeps.queue.queue)
    [link] = links
    assert not pdeps.sweeps.owed
    body = json.dumps(link).encode()
    assert sweeper.on_chain_message(pdeps, body).startswith("{'wait': 1}")  # too young: the chain goes on
    [link] = drain(pdeps.sweeps.queue.queue)
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    assert sweeper.on_chain_message(pdeps, json.dumps(link).encode()).startswith("{'redrive': 1}")
    take(pdeps)  # the re-driven SMS message
    [link] = drain(pdeps.sweeps.queue.queue)
    assert pdeps.sweeps.start()  # a newer chain replaces this one
    assert sweeper.on_chain_message(pdeps, json.dumps(link).encode()).startswith("{'wait': 1}")
    assert len(drain(pdeps.sweeps.queue.queue)) == 1  # only the newer chain's link: one chain lives


def test_the_hourly_run_starts_a_chain_only_when_something_is_due(pdeps, proxies, clock):
    """The net for an instance that ended while owing a sweep: the hourly maintenance run."""
    _, queue = proxies
    enrol(pdeps)
    drain(pdeps.sweeps.queue.queue)
    assert sweeper.hourly(pdeps) == {}  # nothing due: no chain
    assert pdeps.store.get(*due.LEASE) is None and drain(pdeps.sweeps.queue.queue) == []
    assert pdeps.sweeps.start() and len(drain(pdeps.sweeps.queue.queue)) == 1
    queue.set_mode("refuse")
    signin.begin(pdeps, {"userId": "alice", "method": "sms"})
    queue.set_mode("pass")
    pdeps.sweeps._owed.clear()  # as if the instance that owed the sweep had ended  # noqa: SLF001
    clock.advance(redrive.REDRIVE_AFTER.total_seconds())
    chain = pdeps.store.get(*due.LEASE)["token"]
    assert sweeper.hourly(pdeps) == {"redrive": 1}
    take(pdeps)
    assert pdeps.store.get(*due.LEASE)["token"] != chain  # a new chain was started (its first link in 15 s)
