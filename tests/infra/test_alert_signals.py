"""Each alert in infra/modules/alerts.bicep fires on something the code really writes (issue: operations,
point 1). The names come from the code (tests/infra/code_facts.py reads shared/kernel/signals.py); each test runs
the code path behind one alert, turns the log records into the `traces` rows the host writes, and evaluates
the alert's own query on them (tests/infra/alert_queries.py). A 4xx answer, a first webhook retry or a
delivered SMS must not match.
"""
from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage

from shared.channels.sms import outbox_message
from shared.crypto.keys import Keyring, Sealer
from shared.delivery.sender import mark_failed
from shared.delivery.sweeper import sweep
from shared.flows import enrolment
from shared.kernel import signals
from shared.kernel.errors import ConfigError, CryptoError, Locked, SealedValueUnreadable, StorageUnavailable
from tests.conftest import WEBHOOK_SECRET
from tests.infra import code_facts
from tests.infra.alert_queries import log_alerts, parse, threshold, trace_rows
from tests.infra.bicep_model import ROOT, Template, infra

HOST_JSON = json.loads((ROOT / "host.json").read_text())


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.DEBUG, logger="twostep")
    return caplog


def query(key: str):
    return parse(log_alerts(infra())[key]["query"])


def hits(key: str, caplog) -> int:
    q = query(key)
    assert q.table == "traces"
    return sum(q.matches(row) for row in trace_rows(caplog.records))


def silent(caplog) -> None:
    """No log alert's query matches what was logged."""
    for key, entry in log_alerts(infra()).items():
        q = parse(entry["query"])
        if q.table == "traces":
            assert not any(q.matches(row) for row in trace_rows(caplog.records)), f"{key} fired on a non-event"


# --------------------------------------------------------------------------------------------------------
# the queries and the code's event names agree


def test_every_log_alert_counts_an_event_the_code_writes_and_every_event_has_one():
    events = code_facts.signal_events()
    assert set(events.values()) >= {"twostep.http.5xx", "twostep.sms.delivery_failed", "crypto_failure",
                                    "twostep.events.parked", "twostep.webhook.failed"}
    alerted = {}
    for key, entry in log_alerts(infra()).items():
        q = parse(entry["query"])
        if q.table == "requests":
            assert q.predicates == (("success", "false"),), f"{key}: only failed executions are counted"
            continue
        assert q.prefix and q.prefix.endswith(":"), f"{key}: match the event name and its colon"
        name = q.prefix[:-1]
        assert name in events.values(), f"{key} counts {name!r}, which the code never writes"
        alerted[name] = key
    missing = sorted(set(events.values()) - set(alerted))
    assert not missing, f"events with no alert: {missing}"


def test_the_log_alerts_sum_item_count_so_sampling_does_not_hide_events():
    alerts = infra().instance("modules/alerts.bicep")
    criterion = Template.body(alerts.template.resources["logAlert"])["properties"]["criteria"]["allOf"][0]
    assert (criterion["timeAggregation"], criterion["metricMeasureColumn"]) == ("Total", "itemCount")
    for key in ("sms-failed", "crypto", "events-parked"):
        assert threshold(log_alerts(infra())[key]) == 0, f"{key}: one occurrence is an incident"


def test_the_evaluator_refuses_kql_it_cannot_check():
    with pytest.raises(AssertionError):
        parse('traces | where message contains "x"')
    with pytest.raises(AssertionError):
        parse('traces | where message startswith "x" | summarize count()')


# --------------------------------------------------------------------------------------------------------
# 5xx answered


def _call(exc: Exception) -> func.HttpResponse:
    from functions.http import endpoint

    @endpoint
    def begin_challenge(req):
        raise exc

    return begin_challenge(func.HttpRequest("POST", "http://x/api/v1/challenges", body=b""))


@pytest.mark.parametrize("exc", [StorageUnavailable(), ConfigError("MFA_HMAC_KEYS unresolved"),
                                 RuntimeError("bug"), SealedValueUnreadable()])
def test_each_5xx_answer_is_one_hit_of_the_5xx_alert(records, exc):
    response = _call(exc)
    assert response.status_code >= 500
    assert hits("http-5xx", records) == 1
    line = next(r for r in records.records if getattr(r, "event", None) == signals.HTTP_5XX)
    assert (line.function, line.status) == ("begin_challenge", response.status_code)
    assert "MFA_HMAC_KEYS" not in line.getMessage(), "the 5xx line names the problem code, not the error text"


def test_a_4xx_answer_fires_nothing(records):
    assert _call(Locked(retry_after=60)).status_code == 429
    silent(records)


def test_health_503_is_a_5xx_hit_and_200_is_not(records, monkeypatch):
    from functions import health

    def ping_fails():
        raise StorageUnavailable()

    monkeypatch.setattr(health, "get_deps", lambda: SimpleNamespace(store=SimpleNamespace(ping=ping_fails)))
    fn = health.health._function.get_user_function()
    assert fn(func.HttpRequest("GET", "http://x/api/health", body=b"")).status_code == 503
    assert hits("http-5xx", records) == 1
    records.clear()
    monkeypatch.setattr(health, "get_deps", lambda: SimpleNamespace(store=SimpleNamespace(ping=lambda: None)))
    assert fn(func.HttpRequest("GET", "http://x/api/health", body=b"")).status_code == 200
    silent(records)


# --------------------------------------------------------------------------------------------------------
# SMS delivery failed


PHONE = "+14255550143"


def test_a_poison_message_fires_the_sms_alert(deps, records, queue_path):
    view = enrolment.enrol_phone(deps, "alice", {"phoneNumber": PHONE}).view
    silent(records)
    assert mark_failed(deps, outbox_message(view["challengeId"]).encode()) == "failed"
    assert hits("sms-failed", records) == 1
    text = " ".join(r["message"] for r in trace_rows(records.records))
    assert PHONE not in text and PHONE[-7:] not in text


def test_a_code_that_expired_undelivered_fires_the_sms_alert(deps, clock, records, queue_path):
    enrolment.enrol_phone(deps, "bob", {"phoneNumber": PHONE})
    clock.advance(deps.settings.code_ttl_seconds + 60)
    assert sweep(deps).get("failed") == 1
    assert hits("sms-failed", records) == 1


# --------------------------------------------------------------------------------------------------------
# crypto failure


def test_stored_data_that_does_not_open_fires_the_crypto_alert(records):
    sealer = Sealer(Keyring((("k1", b"\x01" * 32),), "MFA_ENCRYPTION_KEYS"))
    sealed = sealer.seal(b"+14255550100", "phone|alice")
    tampered = sealed[:-6] + ("AAAA==" if not sealed.endswith("AAAA==") else "BBBB==")
    with pytest.raises(CryptoError):
        sealer.open(tampered, "phone|alice", kind="profile")
    assert hits("crypto", records) == 1


# --------------------------------------------------------------------------------------------------------
# webhook failures and events parked in events-poison


EVENT = json.dumps({"specversion": "1.0", "id": "evt_0123", "type": "com.twostep.policy.changed",
                    "source": "/twostep/login.example.test", "data": {}})


def _deliver(monkeypatch, url: str, dequeue_count: int) -> None:
    from functions import events

    settings = SimpleNamespace(webhook_url=url, webhook_secret=WEBHOOK_SECRET)
    monkeypatch.setattr(events, "get_settings", lambda: settings)
    events.deliver_security_event(QueueMessage(id="m1", body=EVENT.encode(), dequeue_count=dequeue_count))


def test_a_failed_webhook_try_fires_the_webhook_alert_and_only_the_last_parks(emulator, monkeypatch, records):
    failing = f"{emulator.url}/webhook-missing"  # the emulator answers 404
    with pytest.raises(Exception):  # noqa: B017 - the host must see the failure to retry or park
        _deliver(monkeypatch, failing, 1)
    assert (hits("webhook", records), hits("events-parked", records)) == (1, 0)
    records.clear()
    with pytest.raises(Exception):  # noqa: B017
        _deliver(monkeypatch, failing, signals.HOST_MAX_DEQUEUE_COUNT)
    assert (hits("webhook", records), hits("events-parked", records)) == (1, 1)
    records.clear()
    _deliver(monkeypatch, f"{emulator.url}/webhook", 1)
    silent(records)


def test_the_app_knows_the_hosts_poison_threshold():
    """The parked line is written on the try after which the host moves the message to <queue>-poison."""
    assert HOST_JSON["extensions"]["queues"]["maxDequeueCount"] == signals.HOST_MAX_DEQUEUE_COUNT


# --------------------------------------------------------------------------------------------------------
# failed executions and the availability test


def test_failed_executions_reach_the_requests_table():
    """The `failures` alert reads requests with success == false: host.json must keep them (Host.Results at
    Error or more verbose); the queue triggers raise on failure (see the webhook test above)."""
    level = HOST_JSON["logging"]["logLevel"]["Host.Results"]
    assert level in ("Trace", "Debug", "Information", "Warning", "Error")
    assert parse(log_alerts(infra())["failures"]["query"]).table == "requests"


def test_the_availability_test_probes_the_health_route_the_app_serves():
    alerts = infra().instance("modules/alerts.bicep")
    web_test = alerts.resolve(Template.body(alerts.template.resources["healthTest"]))
    request = web_test["properties"]["Request"]
    url = request["RequestUrl"]
    health = [b for b in code_facts.function_bindings() if b["function"] == "health" and b["type"] == "httpTrigger"]
    assert len(health) == 1 and health[0]["authLevel"].lower() == "anonymous"
    assert "GET" in [m.upper() for m in health[0]["methods"]]
    path = f"/{HOST_JSON['extensions']['http']['routePrefix']}/{health[0]['route']}"
    assert url.parts[-1] == path and url.parts[0] == alerts.symbol("appUrl")
    assert request["HttpVerb"] == "GET"
    assert web_test["properties"]["ValidationRules"]["ExpectedHttpStatusCode"] == 200
    assert web_test["kind"] == web_test["properties"]["Kind"] == "standard"
    alert = alerts.resolve(Template.body(alerts.template.resources["healthAlert"]))["properties"]
    assert alert["criteria"]["odata.type"] == "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"
    assert alert["criteria"]["webTestId"].text() == "healthTest.id"
    assert alert["criteria"]["failedLocationCount"] <= len(web_test["properties"]["Locations"])
    assert main_passes_the_app_url()


def main_passes_the_app_url() -> bool:
    from tests.infra.bicep_model import MAIN, Symbol

    main = infra().main
    body = Template.body(main.template.modules["alerts"])
    url = main.resolve(body["params"]["appUrl"])
    expected = main.follow(Symbol(MAIN, "module", "functionApp"), ("outputs", "url"))
    return url == expected
