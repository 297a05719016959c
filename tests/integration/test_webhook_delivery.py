"""Webhook delivery (N2) in-process: `deliver_event` POSTs a queued event over real HTTP to the emulator's
receiver (verified with the standardwebhooks library) and to a small local server answering a chosen
status, so every outcome the queue trigger maps is stated: delivered, dropped, not configured, retried."""
from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from standardwebhooks import Webhook

from shared.channels.events import build_event, to_json
from shared.channels.webhook import WebhookFailed, deliver_event
from shared.store import audit_events, audit_row
from tests.conftest import WEBHOOK_SECRET

NOW = datetime(2026, 11, 27, 19, 30, 0, tzinfo=timezone.utc)
RUN = os.urandom(3).hex()  # subjects of this run only: the emulator's receiver serves the whole session


def queued_event(user: str) -> str:
    (audit,) = audit_events([("create", audit_row(user, NOW, "bypass_used", "application", 90))])
    return to_json(build_event(audit, "login.example.test"))


def received(emulator, user: str) -> list[dict]:
    return requests.get(f"{emulator.url}/webhook/events", params={"subject": user}, timeout=5).json()


class StatusServer:
    """Answers every POST with the status named in its path (`/status/302`) and a `location` of
    `redirect_to` (followed, a redirect would deliver there); records nothing."""

    def __init__(self) -> None:
        owner = self
        self.redirect_to = ""

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(int(self.path.rsplit("/", 1)[1]))
                self.send_header("location", owner.redirect_to)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def status_server():
    server = StatusServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_an_event_is_posted_whole_and_signed_so_the_library_verifies_it(emulator):
    body = queued_event(f"wendy-{RUN}")
    outcome = deliver_event(f"{emulator.url}/webhook", WEBHOOK_SECRET, body.encode())
    assert outcome == "delivered com.twostep.bypass.used"
    (delivery,) = received(emulator, f"wendy-{RUN}")
    assert delivery["raw"] == body
    assert delivery["headers"]["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert delivery["headers"]["webhook-id"] == delivery["body"]["id"]
    assert Webhook(WEBHOOK_SECRET).verify(delivery["raw"], delivery["headers"]) == delivery["body"]


@pytest.mark.parametrize("url,secret", [(None, WEBHOOK_SECRET), ("", WEBHOOK_SECRET), ("{emulator}", None),
                                        ("{emulator}", "")])
def test_without_a_url_or_a_secret_nothing_is_sent(emulator, url, secret):
    url = url and url.format(emulator=f"{emulator.url}/webhook")
    assert deliver_event(url, secret, queued_event(f"nora-{RUN}").encode()) == "no webhook configured"
    assert received(emulator, f"nora-{RUN}") == []


def test_a_message_that_is_not_an_event_is_dropped_not_retried_and_logged(emulator, caplog):
    with caplog.at_level(logging.WARNING):
        assert deliver_event(f"{emulator.url}/webhook", WEBHOOK_SECRET, json.dumps({"subject": f"dora-{RUN}"}).encode()) == "dropped"
        assert deliver_event(f"{emulator.url}/webhook", WEBHOOK_SECRET, b"\xff\xfe") == "dropped"
    assert received(emulator, f"dora-{RUN}") == []
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("twostep.webhook", "WARNING", "queued message is not a twostep event: dropped")] * 2


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_delivered(status_server, status):
    assert deliver_event(f"{status_server.url}/status/{status}", WEBHOOK_SECRET,
                         queued_event(f"sue-{RUN}").encode()) == "delivered com.twostep.bypass.used"


@pytest.mark.parametrize("status", [300, 302, 307, 400, 404, 500, 503])
def test_anything_else_raises_so_the_queue_retries_and_a_redirect_is_not_followed(emulator, status_server,
                                                                                      status):
    status_server.redirect_to = f"{emulator.url}/webhook"
    with pytest.raises(WebhookFailed, match=f"^webhook answered HTTP {status}$"):
        deliver_event(f"{status_server.url}/status/{status}", WEBHOOK_SECRET, queued_event(f"rex{status}-{RUN}").encode())
    assert received(emulator, f"rex{status}-{RUN}") == []


def test_an_unreachable_receiver_raises_so_the_queue_retries(status_server):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}/webhook"
    closed.server_close()  # nothing listens there now
    with pytest.raises(WebhookFailed, match=r"^webhook unreachable: ConnectionError$"):
        deliver_event(url, WEBHOOK_SECRET, queued_event(f"una-{RUN}").encode())
