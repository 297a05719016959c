"""The operational signal lines (shared/kernel/signals.py): the event name first, then plain fields, at a level an
operator filters on; never a phone number or a code."""
import logging

import pytest

from shared.kernel import signals


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.DEBUG, logger="twostep")
    return caplog


def test_a_signal_line_starts_with_its_event_and_carries_it_as_an_attribute(records):
    signals.http_5xx(logging.getLogger("twostep.http"), "begin_challenge", 503, "storage_unavailable")
    (record,) = records.records
    assert record.getMessage() == ("twostep.http.5xx: answered a server error function=begin_challenge status=503 "
                                   "problem=storage_unavailable")
    assert (record.levelno, record.event, record.status) == (logging.ERROR, signals.HTTP_5XX, 503)


@pytest.mark.parametrize(("tries", "parked"), [(1, False), (signals.HOST_MAX_DEQUEUE_COUNT - 1, False),
                                               (signals.HOST_MAX_DEQUEUE_COUNT, True), (None, False)])
def test_only_the_last_try_of_a_security_event_is_parked(records, tries, parked):
    signals.queue_try_failed(logging.getLogger("twostep.events"), tries, "webhook answered HTTP 500")
    events = [r.event for r in records.records]
    assert events == [signals.WEBHOOK_FAILED] + ([signals.EVENTS_PARKED] if parked else [])
    assert records.records[-1].levelno == (logging.ERROR if parked else logging.WARNING)


def test_event_names_are_distinct_and_no_name_is_a_prefix_of_another():
    assert len(set(signals.ALL)) == len(signals.ALL)
    for a in signals.ALL:
        for b in signals.ALL:
            assert a == b or not (b + ":").startswith(a + ":")
