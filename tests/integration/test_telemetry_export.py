"""Telemetry as exported (D1): through the app's one configuration path, the Azure
Monitor distro's, with in-memory sinks added, a real SMS enrolment and sign-in against Azurite and the SMS
emulator yields a span per function invocation, Storage and ACS dependency spans under it, structured
decision logs with the event name and the challenge id, a webhook delivery under its trigger's span,
and every twostep.* metric it moved; no span or
log attribute holds a code, a key, a secret or the full phone number. The probe runs in a process of its
own (tests/integration/telemetry_probe.py): OpenTelemetry's providers can be set once per process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ENC_KEY, HMAC_KEY, ROOT, WEBHOOK_SECRET, app_env
from tools import sms_emulator

PHONE = "+14255550147"
# Ingestion goes nowhere (a closed loopback port): the in-memory sinks are what the test reads.
CONNECTION = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
              "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/")


@pytest.fixture(scope="module")
def exported(azurite, emulator, tmp_path_factory):
    name = "tele" + uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS", "MFA_", "OTEL_"))}
    env.update(app_env(azurite, emulator), MFA_TABLE_NAME=name, MFA_SMS_QUEUE=f"sms-{name}",
               MFA_EVENTS_QUEUE=f"events-{name}", MFA_DUE_QUEUE=f"due-{name}",
               APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION, OTEL_TRACES_SAMPLER="always_on",
               TMPDIR=str(tmp_path_factory.mktemp("telemetry")))  # the exporter's retry files
    out = subprocess.run([sys.executable, "-m", "tests.integration.telemetry_probe", name, PHONE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def spans_named(exported, prefix: str) -> list[dict]:
    return [s for s in exported["spans"] if s["name"].startswith(prefix)]


def test_the_azure_monitor_path_was_the_one_configured(exported):
    assert exported["mode"] == "azure"


def test_each_invocation_has_its_span(exported):
    invocations = [s for s in exported["spans"] if "faas.trigger" in s["attributes"]]
    assert [s["name"] for s in invocations] == ["enrol_phone", "send_sms", "verify_challenge", "begin_challenge",
                                                "send_sms", "verify_challenge", "verify_challenge",
                                                "deliver_security_event"]
    assert all(s["parent"] is None and s["kind"] == "INTERNAL" for s in invocations)
    statuses = [s["attributes"].get("http.response.status_code") for s in invocations]
    assert statuses == [202, None, 200, 201, None, 403, 200, None]
    assert invocations[5]["attributes"]["twostep.problem"] == "incorrect_code"


def url_of(span: dict) -> str:
    """azure-core writes the current HTTP conventions, the requests instrumentation the older ones."""
    return span["attributes"].get("url.full", span["attributes"].get("http.url", ""))


def root_of(exported, span: dict) -> dict:
    by_id = {s["id"]: s for s in exported["spans"]}
    while span["parent"] in by_id:
        span = by_id[span["parent"]]
    return span


def test_storage_and_sms_calls_are_dependency_spans_of_an_invocation(exported):
    """azure-core traces each SDK call (an INTERNAL span named after the method) and its HTTP request (a
    CLIENT span, the dependency); the SMS client's generated operation, which the gateway calls, only the
    latter; the webhook's POST is traced by the requests instrumentation."""
    by_id = {s["id"]: s for s in exported["spans"]}
    calls = [(by_id.get(s["parent"], {}).get("name", ""), s, root_of(exported, s)["name"])
             for s in exported["spans"] if s["kind"] == "CLIENT"]
    tables = {(parent, root) for parent, _, root in calls if parent.startswith(("TableClient.", "TableOperations."))}
    queues = {(parent, root) for parent, _, root in calls if parent.startswith("QueueClient.")}
    sms = [(span, root) for parent, span, root in calls if "/sms?api-version=" in url_of(span)]
    assert {parent for parent, span, _ in calls if "/sms?api-version=" in url_of(span)} == {"SmsGateway.send"}
    assert {("TableClient.submit_transaction", "verify_challenge"), ("TableClient.get_entity", "send_sms"),
            ("TableClient.submit_transaction", "begin_challenge")} <= tables
    assert ("QueueClient.send_message", "verify_challenge") in queues  # its security events
    # each SMS goes out inline, under the request that began it; the queue sender then finds it sent
    assert len(sms) == 2 and {root for _, root in sms} == {"enrol_phone", "begin_challenge"}, "one span per SMS"
    assert {span["attributes"].get("http.response.status_code", span["attributes"].get("http.status_code"))
            for span, _ in sms} == {202}
    webhook = {root for _, span, root in calls if url_of(span).endswith("/webhook")}
    assert webhook == {"deliver_security_event"}


def test_decision_logs_carry_the_event_and_the_challenge_id(exported):
    decisions = [r["attributes"] for r in exported["logs"] if r["attributes"].get("event", "").startswith("twostep.")
                 and r["body"].split(":")[0] == r["attributes"]["event"]]
    events = [d["event"] for d in decisions if "challengeId" in d]
    assert events.count("twostep.challenges.begun") == 2 and events.count("twostep.sms.sent") == 2
    assert events.count("twostep.verify.approved") == 2 and events.count("twostep.verify.failed") == 1
    begun = [d for d in decisions if d["event"] == "twostep.challenges.begun"]
    assert {d["method"] for d in begun} == {"sms"} and all(d["challengeId"] for d in begun)
    assert [d["outcome"] for d in decisions if d["event"] == "twostep.webhook.deliveries"] == ["delivered"]


def test_the_flow_moved_its_metrics(exported):
    assert {"twostep.challenges.begun", "twostep.verify.approved", "twostep.verify.failed", "twostep.sms.sent",
            "twostep.sms.segments", "twostep.webhook.deliveries"} <= set(exported["metrics"])


def test_no_code_secret_or_phone_number_is_exported(exported):
    text = json.dumps([exported["spans"], exported["logs"]])
    forbidden = [*exported["codes"], PHONE, PHONE.lstrip("+"), PHONE.replace("+", "%2B"), HMAC_KEY.split(":")[1],
                 ENC_KEY.split(":")[1], WEBHOOK_SECRET, sms_emulator.DEFAULT_KEY, "AccountKey", "sig="]
    leaked = [f for f in forbidden if f in text]
    assert not leaked
