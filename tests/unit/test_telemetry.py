"""The twostep.* metrics (shared/kernel/telemetry.py): each counter moves at its decision point with the
documented attributes and never carries a code or a phone number; the exporter is imported only when
configured, and MFA_TELEMETRY=console prints the metrics."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from functions import telemetry as config
from shared.channels.sms import DeliveryFailed
from shared.channels.webhook import deliver_event
from shared.delivery.sender import deliver
from shared.flows import enrolment, signin, verify
from shared.kernel import telemetry
from shared.kernel.errors import IncorrectCode, Locked, RateLimited
from tests.helpers import other_code, sms_code_for
from tests.integration.test_flows import enrol_sms
from tests.integration.test_webhook_delivery import queued_event
from tests.memory_deps import memory_deps

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+14255550123"
READER = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))  # once per process: the API allows one


def totals() -> dict[tuple[str, tuple], int]:
    """Every twostep.* data point, cumulative, by (name, sorted attributes)."""
    out: dict[tuple[str, tuple], int] = {}
    data = READER.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    out[(m.name, tuple(sorted((p.attributes or {}).items())))] = p.value
    return out


class Delta:
    """What changed in the counters since it was made."""

    def __init__(self) -> None:
        self.before = totals()

    def __call__(self) -> dict[tuple[str, tuple], int]:
        after = totals()
        return {k: v - self.before.get(k, 0) for k, v in after.items() if v != self.before.get(k, 0)}


@pytest.fixture
def deps(clock):
    return memory_deps(clock)


def _no_secrets(delta, *secrets: str) -> None:
    text = json.dumps([list(k) for k in delta])
    for s in secrets:
        assert s not in text and s.lstrip("+") not in text


def test_begin_and_verify_count_by_method(deps):
    enrol_sms(deps, "alice", PHONE)
    seen = Delta()
    ch = signin.begin(deps, {"userId": "alice"}).view
    code = sms_code_for(deps, ch["challengeId"])
    with pytest.raises(IncorrectCode):
        verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
    verify.verify(deps, ch["challengeId"], {"code": code})
    delta = seen()
    assert delta == {
        ("twostep.challenges.begun", (("method", "sms"), ("purpose", "signin"))): 1,
        ("twostep.sms.sent", (("country", "US"),)): 1,  # the begin sends it inline
        ("twostep.sms.segments", (("country", "US"),)): 1,
        ("twostep.verify.failed", (("method", "sms"),)): 1,
        ("twostep.verify.approved", (("method", "sms"),)): 1,
    }
    _no_secrets(delta, code, PHONE)


def test_a_lockout_is_counted_once(clock):
    deps = memory_deps(clock, MFA_LOCKOUT_THRESHOLD="2")
    enrol_sms(deps, "bob", PHONE)
    ch = signin.begin(deps, {"userId": "bob"}).view
    code = sms_code_for(deps, ch["challengeId"])
    seen = Delta()
    with pytest.raises(IncorrectCode):
        verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
    assert ("twostep.users.locked", ()) not in seen()
    with pytest.raises(Locked):
        verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
    assert seen()[("twostep.users.locked", ())] == 1


def test_a_refused_sms_is_counted_by_country_and_limit(clock):
    deps = memory_deps(clock, MFA_SMS_PER_USER_PER_HOUR="2")
    enrol_sms(deps, "carol", PHONE)
    signin.begin(deps, {"userId": "carol"})
    seen = Delta()
    with pytest.raises(RateLimited):
        signin.begin(deps, {"userId": "carol"})
    delta = seen()
    assert delta == {("twostep.sms.rate_limited", (("country", "US"), ("limit", "user"))): 1}
    _no_secrets(delta, PHONE)


class FakeGateway:
    """Stands in for ACS at the sender's seam: accepts, or refuses as the provider would."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    def send(self, phone, text, **_):
        if self.refuse:
            raise DeliveryFailed("provider refused")
        return "message-1"


@pytest.mark.parametrize("refuse", [False, True])
def test_sms_sent_failed_and_segments_by_country(deps, refuse, queue_path):  # the queue sender's counts
    view = enrolment.enrol_phone(deps, "dave", {"phoneNumber": "+4915123456789"}).view
    verify.verify(deps, view["challengeId"], {"code": sms_code_for(deps, view["challengeId"])})
    ch = signin.begin(deps, {"userId": "dave"}).view
    deps.sms = FakeGateway(refuse)
    seen = Delta()
    body = json.dumps({"v": 1, "challengeId": ch["challengeId"]}).encode()
    if refuse:
        with pytest.raises(DeliveryFailed):
            deliver(deps, body)
        assert seen() == {("twostep.sms.failed", (("country", "DE"),)): 1}
    else:
        assert deliver(deps, body) == "sent"
        assert seen() == {("twostep.sms.sent", (("country", "DE"),)): 1,
                          ("twostep.sms.segments", (("country", "DE"),)): 1}


def test_segments_follow_the_encoding():
    assert telemetry.segments("a" * 160) == 1 and telemetry.segments("a" * 161) == 2
    assert telemetry.segments("é" * 70) == 1 and telemetry.segments("é" * 71) == 2


def test_webhook_deliveries_by_outcome():
    seen = Delta()
    deliver_event(None, None, queued_event("erin").encode())
    deliver_event("http://127.0.0.1:9/hook", "whsec_x", b"not an event")
    with pytest.raises(Exception):
        deliver_event("http://127.0.0.1:9/hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", queued_event("erin").encode(),
                      deadline=2)
    assert seen() == {("twostep.webhook.deliveries", (("outcome", o),)): 1
                      for o in ("unconfigured", "dropped", "failed")}


def test_mode_has_one_path():
    assert config.mode({}) == "off"
    assert config.mode({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}) == "azure"
    assert config.mode({"APPLICATIONINSIGHTS_CONNECTION_STRING": "x", "MFA_TELEMETRY": "off"}) == "off"
    assert config.mode({"MFA_TELEMETRY": "console"}) == "console"


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS", "MFA_TELEMETRY"))}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=120, check=True)


def test_the_exporter_is_not_imported_unless_configured():
    out = _run("import sys, function_app; print('azure.monitor.opentelemetry' in sys.modules)")
    assert out.stdout.strip() == "False"


def test_console_mode_prints_a_metric():
    out = _run("from functions import telemetry as t; from opentelemetry import metrics\n"
               "assert t.configure(interval_millis=60_000) == 'console'\n"
               "from shared.kernel import telemetry as k; k.USERS_LOCKED.add(1)\n"
               "metrics.get_meter_provider().shutdown()", MFA_TELEMETRY="console")
    assert "twostep.users.locked" in out.stdout


def test_azure_mode_turns_statsbeat_off_before_configuring(monkeypatch):
    called: dict[str, str | None] = {}
    env: dict[str, str] = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}
    import azure.monitor.opentelemetry as monitor
    monkeypatch.setattr(monitor, "configure_azure_monitor",
                        lambda **kw: called.setdefault("statsbeat", env.get(config.STATSBEAT_OFF)))
    assert config.configure(env) == "azure"
    assert called == {"statsbeat": "true"}


def test_every_function_opens_an_invocation_span():
    import function_app
    from functions.tracing import is_traced

    untraced = [f.get_function_name() for f in function_app.app.get_functions() if not is_traced(f.get_user_function())]
    assert not untraced


def test_a_decision_is_logged_with_its_event_and_challenge_id(deps, caplog):
    enrol_sms(deps, "frank", PHONE)
    caplog.set_level("INFO", logger="twostep.decisions")
    ch = signin.begin(deps, {"userId": "frank"}).view
    code = sms_code_for(deps, ch["challengeId"])
    with pytest.raises(IncorrectCode):
        verify.verify(deps, ch["challengeId"], {"code": other_code(code)})
    records = [r for r in caplog.records if r.name == "twostep.decisions"]
    assert [(r.event, r.challengeId, getattr(r, "method", None)) for r in records] == [
        ("twostep.sms.sent", ch["challengeId"], None), ("twostep.challenges.begun", ch["challengeId"], "sms"),
        ("twostep.verify.failed", ch["challengeId"], "sms")]  # the SMS is sent inline, just before the commit
    assert all(r.getMessage().startswith(r.event + ": ") for r in records)
    text = " ".join(r.getMessage() + json.dumps(vars(r), default=str) for r in records)
    for forbidden in (code, other_code(code), PHONE, PHONE.lstrip("+")):
        assert forbidden not in text


def test_a_refused_sms_is_logged_without_the_number(clock, caplog):
    deps = memory_deps(clock, MFA_SMS_PER_USER_PER_HOUR="1")
    enrol_sms(deps, "gina", PHONE)
    caplog.set_level("INFO", logger="twostep.decisions")
    with pytest.raises(RateLimited):
        signin.begin(deps, {"userId": "gina"})
    [record] = [r for r in caplog.records if r.name == "twostep.decisions"]
    assert (record.event, record.country, record.limit) == ("twostep.sms.rate_limited", "US", "user")
    assert PHONE.lstrip("+") not in json.dumps(vars(record), default=str)


def test_azure_mode_asks_for_the_azure_sdk_spans_and_the_twostep_logger(monkeypatch):
    called: dict = {}
    import azure.monitor.opentelemetry as monitor
    monkeypatch.setattr(monitor, "configure_azure_monitor", lambda **kw: called.update(kw))
    config.configure({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"})
    assert called["instrumentation_options"]["azure_sdk"] == {"enabled": True}
    assert called["logger_name"] == "twostep"
    assert called["span_processors"] == [] and called["metric_readers"] == []


def test_console_mode_prints_a_line_per_span_of_an_invocation_only():
    out = _run("from functions import telemetry as t\n"
               "assert t.configure(interval_millis=60_000) == 'console'\n"
               "from functions.tracing import invocation\n"
               "from opentelemetry import trace\n"
               "tracer = trace.get_tracer('probe')\n"
               "with tracer.start_as_current_span('outside'): pass\n"
               "@invocation('pubsub')\n"
               "def work():\n"
               "    with tracer.start_as_current_span('inside'): pass\n"
               "work()\n", MFA_TELEMETRY="console")
    lines = [line for line in out.stdout.splitlines() if line.lstrip().startswith("span ")]
    assert [line.split(" ms")[0].rsplit(" ", 1)[0] for line in lines] == ["  span inside", "span work"]


def test_the_exporter_leaves_alert_lines_to_the_host(monkeypatch):
    """The host forwards every line's text to `traces`, where the alerts count the signal lines: the
    exporter's copy of those would make each event count twice."""
    import logging

    import azure.monitor.opentelemetry as monitor
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from shared.kernel import signals

    exported = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exported))
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("twostep")
    monkeypatch.setattr(monitor, "configure_azure_monitor", lambda **kw: logger.addHandler(handler))
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        config.configure({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"})
        signals.http_5xx(logging.getLogger("twostep.http"), "begin_challenge", 503, "storage_unavailable")
        telemetry.USERS_LOCKED.decision("Y2g.abc")
    finally:
        logger.removeHandler(handler)
    events = [r.log_record.attributes.get("event") for r in exported.get_finished_logs()]
    assert events == ["twostep.users.locked"]
