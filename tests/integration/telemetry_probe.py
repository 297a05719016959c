"""Run as `python -m tests.integration.telemetry_probe` by test_telemetry_export.py, in a process of its own
(OpenTelemetry's providers can be set once per process): configures telemetry through the app's one path
(functions/telemetry.configure, with in-memory sinks added), drives an SMS enrolment and sign-in, and the
delivery of one security event to the emulator's webhook, through the real triggers against Azurite and the SMS emulator, and prints what was exported, with the codes it
saw, as one JSON document."""
from __future__ import annotations

import base64
import json
import logging
import os
import sys
from typing import Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from functions import telemetry

logging.getLogger().setLevel(logging.INFO)  # as the Functions worker sets it (host.json: Information)
SINKS = telemetry.Sinks(InMemorySpanExporter(), InMemoryLogRecordExporter(), InMemoryMetricReader())
MODE = telemetry.configure(os.environ, sinks=SINKS)  # before the app's modules, as function_app.py does

import azure.functions as func  # noqa: E402 - after configure, as in function_app.py

from functions import challenges, enrolment, events, sms_sender  # noqa: E402
from shared.channels.sms import outbox_message  # noqa: E402
from shared.wiring import get_deps  # noqa: E402
from tests.helpers import other_code, sms_code_for  # noqa: E402


def call(fn: Any, url: str, body: dict, **params: str) -> dict:
    req = func.HttpRequest("POST", f"http://127.0.0.1/api/{url}", body=json.dumps(body).encode(),
                           route_params=params, headers={"content-type": "application/json"})
    resp = fn(req)
    return {**json.loads(resp.get_body() or b"{}"), "http": resp.status_code}


def send(challenge_id: str) -> None:
    """What the host does with the outbox message: hand it to the queue trigger."""
    sms_sender.send_sms(func.QueueMessage(id="probe", body=outbox_message(challenge_id).encode()))


def flow(user: str, phone: str) -> list[str]:
    codes = []
    enrolled = call(enrolment.enrol_phone, f"v1/users/{user}/phone", {"phoneNumber": phone}, userId=user)
    send(enrolled["challengeId"])
    codes.append(sms_code_for(get_deps(), enrolled["challengeId"]))
    approved = call(challenges.verify_challenge, "verify", {"code": codes[-1]}, challengeId=enrolled["challengeId"])
    assert approved["http"] == 200, approved
    begun = call(challenges.begin_challenge, "v1/challenges", {"userId": user})
    assert begun["http"] == 201, begun
    send(begun["challengeId"])
    codes.append(sms_code_for(get_deps(), begun["challengeId"]))
    wrong = call(challenges.verify_challenge, "verify", {"code": other_code(codes[-1])},
                 challengeId=begun["challengeId"])
    assert wrong["http"] == 403, wrong
    approved = call(challenges.verify_challenge, "verify", {"code": codes[-1]}, challengeId=begun["challengeId"])
    assert approved["http"] == 200, approved
    return codes


def deliver_one_event() -> None:
    """What the host does with one message of the events queue: hand it to the webhook trigger."""
    message = next(iter(get_deps().events.queue.receive_messages(max_messages=1, visibility_timeout=60)))
    events.deliver_security_event(func.QueueMessage(id="probe-event", body=base64.b64decode(message.content)))


def exported() -> dict:
    spans = [{"name": s.name, "kind": s.kind.name, "id": f"{s.context.span_id:016x}",
              "parent": f"{s.parent.span_id:016x}" if s.parent else None, "attributes": dict(s.attributes or {})}
             for s in SINKS.spans.get_finished_spans()]
    logs = [{"body": str(r.log_record.body), "attributes": dict(r.log_record.attributes or {})}
            for r in SINKS.logs.get_finished_logs()]
    data = SINKS.metrics.get_metrics_data()
    names = sorted({m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics})
    return {"spans": spans, "logs": logs, "metrics": names}


if __name__ == "__main__":
    codes = flow(sys.argv[1], sys.argv[2])
    deliver_one_event()
    print(json.dumps({"mode": MODE, "codes": codes, **exported()}, default=str))
