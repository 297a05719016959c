"""Security events end to end (N1, N2): committed decisions put CloudEvents on the `events` queue (in
process, against Azurite), and through the dev host a method added, a bypass used and a lockout reach the
emulator's webhook inbox with a Standard Webhooks signature that the library's verifier accepts; a
webhook that keeps failing leaves the event in `events-poison`. No event holds a code, secret or phone."""
from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Iterator

import pytest
import requests
from azure.storage.queue import QueueClient
from standardwebhooks import Webhook

from shared import clients
from shared.channels import events
from shared.crypto.otp import totp
from shared.delivery import sweeper
from shared.flows import admin, verify
from shared.settings import load_settings
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import sms_code_for
from tests.integration.api_client import Api, fresh_phone, pinned_api
from tests.integration.test_flows import PHONE, begin, enrol_sms
from tools import azurite as azurite_tool


def queued_events(queue: QueueClient) -> list[dict]:
    found = []
    for message in queue.receive_messages(messages_per_page=32, visibility_timeout=60):
        found.append(json.loads(base64.b64decode(message.content)))
    return found


def raw_queue(conn: str, name: str) -> QueueClient:
    return QueueClient.from_connection_string(conn, name)


class TestQueue:
    def test_committed_decisions_are_cloudevents_on_the_queue(self, deps):
        view = enrol_sms(deps, "evan")
        ch = begin(deps, "evan", method="sms").view
        code = sms_code_for(deps, ch["challengeId"])
        admin.create_bypass(deps, "evan", {"seconds": 60, "reason": "ticket 1"}, "admin-key")
        queued = queued_events(deps.events.queue)
        assert [e["type"] for e in queued] == ["com.twostep.method.added", "com.twostep.bypass.created"]
        added = queued[0]
        assert added["specversion"] == "1.0" and added["source"] == "/twostep/login.example.test"
        assert added["subject"] == "evan" and added["datacontenttype"] == "application/json"
        assert added["data"]["method"] == "sms" and added["data"]["challengeId"] == view["challengeId"]
        text = json.dumps(queued)
        assert PHONE[1:] not in text and PHONE[-7:] not in text and code not in text

    def test_refusals_and_sign_ins_publish_nothing(self, deps):
        enrol_sms(deps, "fay")
        queued_events(deps.events.queue)  # take the enrolment's event
        ch = begin(deps, "fay", method="sms").view
        verify.verify(deps, ch["challengeId"], {"code": sms_code_for(deps, ch["challengeId"])})
        assert queued_events(deps.events.queue) == []

    def test_a_hardware_token_activated_by_its_first_code_is_an_event(self, deps, clock):
        from tests.integration.test_oath import do_import, new_secret, row, sign_in

        secret = new_secret()
        do_import(deps, row("hw-evt@contoso.com", "7654321", secret, 60))
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        sign_in(deps, "hw-evt@contoso.com", totp(key, clock.now(), period=60))
        clock.advance(60)
        sign_in(deps, "hw-evt@contoso.com", totp(key, clock.now(), period=60))  # already active: no event
        queued = queued_events(deps.events.queue)
        assert [e["type"] for e in queued] == ["com.twostep.oathtokens.imported", "com.twostep.method.activated"]
        assert secret not in json.dumps(queued)

    def test_a_queue_failure_after_commit_keeps_the_decision_and_the_sweep_publishes_it(self, make_deps, azurite,
                                                                                        base_env, caplog):
        deps = make_deps()
        queue = deps.events.queue
        closed = azurite_tool.connection_string(azurite.blob_port, azurite_tool.free_port(), azurite.table_port)
        deps.events.queue = clients.queue_client(load_settings({**base_env, "AzureWebJobsStorage": closed}),
                                                 queue="events-nowhere")  # the app's own short retries
        before = events.UNPUBLISHED["count"]
        with caplog.at_level(logging.ERROR, logger="twostep.events"):
            enrol_sms(deps, "gus")  # the enrolment stands
        assert deps.store.get("gus", "profile") is not None
        assert events.UNPUBLISHED["count"] == before + 1
        assert any("not published now" in r.getMessage() and "method.added" in r.getMessage() for r in caplog.records)
        deps.events.queue = queue  # back
        assert sweeper.sweep(deps, deps.clock.now() + events.REPUBLISH_AFTER).get("done")
        assert [e["type"] for e in queued_events(queue)] == ["com.twostep.method.added"]


@pytest.fixture(scope="module")
def host(start_devhost, base_env):
    return start_devhost({**base_env, "MFA_TABLE_NAME": "events" + os.urandom(4).hex(),
                          "MFA_LOCKOUT_THRESHOLD": "2"})


@pytest.fixture(scope="module")
def api(host, emulator) -> Iterator[Api]:
    with pinned_api(host, emulator.url) as api:
        yield api


def webhook_events(emulator_url: str, subject: str, types: set[str], timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = requests.get(f"{emulator_url}/webhook/events", params={"subject": subject}, timeout=5).json()
        if types <= {d["body"]["type"] for d in got}:
            return got
        time.sleep(0.1)
    raise AssertionError(f"webhook never saw {types} for {subject} (saw {[d['body']['type'] for d in got]})")


def test_method_bypass_and_lockout_reach_the_webhook_signed(api, emulator):
    user, phone = "ivy-" + os.urandom(3).hex(), fresh_phone()
    api.enrol_sms(user, phone)
    codes = [m["message"].rsplit("#", 1)[1] for m in api.messages(phone)]
    assert api.admin("POST", f"/api/v1/admin/users/{user}/bypass",
                     json={"seconds": 60, "reason": "lost phone"}).status_code == 201
    assert api.begin(user).json() == {"status": "not_required", "reason": "bypass"}
    ch = api.begin(user, method="sms").json()["challengeId"]
    wrong = [api.call("POST", f"/api/v1/challenges/{ch}/verify", json={"code": "000000"}) for _ in range(2)]
    assert wrong[-1].status_code == 429 and wrong[-1].json()["code"] == "locked", wrong[-1].text
    wanted = {"com.twostep.method.added", "com.twostep.bypass.created", "com.twostep.bypass.used",
              "com.twostep.user.locked"}
    received = webhook_events(emulator.url, user, wanted)
    verifier = Webhook(WEBHOOK_SECRET)
    for delivery in received:
        assert verifier.verify(delivery["raw"], delivery["headers"]) == delivery["body"]
        assert delivery["headers"]["webhook-id"] == delivery["body"]["id"]
        assert delivery["headers"]["content-type"].startswith("application/cloudevents+json")
        assert delivery["body"]["source"] == "/twostep/login.example.test"
        text = delivery["raw"]
        assert phone[1:] not in text and phone[-7:] not in text
        assert not any(code in text for code in codes)
    types = [d["body"]["type"] for d in received]  # in any order: the host runs a batch in parallel
    assert len(types) == len(set(types)), types  # each event once (no redelivery after a 204)
    by_type = {d["body"]["type"]: d["body"] for d in received}
    assert by_type["com.twostep.method.added"]["time"] <= by_type["com.twostep.bypass.created"]["time"]


def test_a_failing_webhook_parks_the_event_in_poison(start_devhost, base_env, azurite):
    env = {**base_env, "MFA_TABLE_NAME": "evpoison" + os.urandom(4).hex(),
           "MFA_WEBHOOK_URL": base_env["MFA_WEBHOOK_URL"] + "-missing"}  # the emulator answers 404
    failing = start_devhost(env)
    api = Api(failing.url, base_env["ACS_ENDPOINT"])
    assert api.admin("PATCH", "/api/v1/admin/policy", json={"maxAttempts": 4}).status_code == 200
    poison = raw_queue(azurite.connection_string, f"{failing.events_queue}-poison")
    deadline = time.monotonic() + 60
    parked: list[dict] = []
    while time.monotonic() < deadline and not parked:
        try:
            parked = [json.loads(base64.b64decode(m.content)) for m in poison.receive_messages(visibility_timeout=60)]
        except Exception:  # noqa: BLE001 - the poison queue exists only once the host parks something
            parked = []
        time.sleep(0.5)
    assert [e["type"] for e in parked] == ["com.twostep.policy.changed"]
    assert "subject" not in parked[0]
    assert "failed 5 times" in failing.logs()
    # The app's own signal for the alert, written on the very try after which the host parked it.
    assert failing.logs().count("twostep.events.parked:") == 1
    assert failing.logs().count("twostep.webhook.failed:") == 5
