"""Security events on the real queue (N1; found by mutation testing, docs/testing.md): an event is kept
on the queue for 7 days, the longest Storage allows, and an event lost to a queue failure is logged on
the `twostep.events` logger an operator alerts on."""
from __future__ import annotations

from datetime import timedelta

from shared.store import audit_events, audit_row


def an_audit_event(now):
    (audit,) = audit_events([("create", audit_row("ella", now, "bypass_created", "ops", 90))])
    return audit


def test_an_event_stays_on_the_queue_for_7_days(make_deps, clock):
    deps = make_deps()
    deps.events.committed([an_audit_event(clock.now())])
    (message,) = deps.events.queue.peek_messages(max_messages=5)
    assert message.expires_on - message.inserted_on == timedelta(days=7)


