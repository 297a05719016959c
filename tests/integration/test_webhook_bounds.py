"""N4: the webhook sender bounds its time and memory whatever the receiver does. Each test runs a real
misbehaving HTTP receiver on loopback (a raw socket server: it can trickle, flood, redirect or say
nothing, which a well-behaved framework would not) and hands `deliver_event` a real queued event."""
from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timezone

import pytest

from shared.channels import webhook
from shared.channels.events import build_event, to_json
from shared.kernel.environment import AZURE_MARKERS
from shared.store import audit_events, audit_row

SECRET = "whsec_" + "2vgMWgk1grFoTuhpw1iVF70IyCVMRIJq9Q5OlP4hr3Q="
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"


def event_body() -> bytes:
    (audit,) = audit_events([("create", audit_row("alice", datetime.now(timezone.utc), "fraud_reported", "user", 30))])
    return to_json(build_event(audit, "login.example.test")).encode()


class Receiver:
    """One loopback listener; `behave(conn)` is what it does with each request it reads."""

    def __init__(self, behave) -> None:
        self.behave, self.requests, self.sent = behave, [], 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests.append(data.split(b"\r\n", 1)[0].decode())
            try:
                self.behave(self, conn)
            except OSError:
                pass  # the sender closed the connection: what the bounds are for

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def receive():
    made = []

    def make(behave):
        made.append(Receiver(behave))
        return made[-1]
    yield make
    for r in made:
        r.close()


def trickle(r: Receiver, conn: socket.socket) -> None:
    """Headers, then one byte of a long body every 0.5 s for 40 s: never silent long enough for a read
    timeout, so only a deadline on the whole exchange ends it."""
    r.send(conn, HEAD + b"Content-Length: 100\r\n\r\n")
    for _ in range(80):
        time.sleep(0.5)
        r.send(conn, b"x")


def huge(r: Receiver, conn: socket.socket) -> None:
    """A 64 MiB answer body, sent as fast as the sender takes it."""
    r.send(conn, HEAD + b"Content-Length: 67108864\r\n\r\n")
    block = b"x" * 65536
    for _ in range(1024):
        r.send(conn, block)


def silent(r: Receiver, conn: socket.socket) -> None:
    time.sleep(40)


def test_a_trickling_receiver_is_cut_at_the_delivery_deadline(receive):
    r = receive(trickle)
    started = time.monotonic()
    with pytest.raises(webhook.WebhookFailed, match="within"):
        webhook.deliver_event(r.url, SECRET, event_body())
    took = time.monotonic() - started
    assert webhook.DELIVERY_DEADLINE - 0.5 <= took <= webhook.DELIVERY_DEADLINE + 1.5, took
    assert webhook.DELIVERY_DEADLINE + webhook.CONNECT_TIMEOUT < 30  # host.json functionTimeout


def test_a_huge_answer_is_read_only_a_few_kib_then_the_connection_is_closed(receive):
    r = receive(huge)
    started = time.monotonic()
    assert webhook.deliver_event(r.url, SECRET, event_body()).startswith("delivered")  # its status was 200
    time.sleep(0.5)  # the receiver notices the closed connection
    assert time.monotonic() - started < 3
    assert r.sent < 16 * 2**20, r.sent  # socket buffers take a few MiB at most; the rest was never sent


def test_a_receiver_that_never_answers_fails_within_the_read_timeout(receive):
    r = receive(silent)
    started = time.monotonic()
    with pytest.raises(webhook.WebhookFailed):
        webhook.deliver_event(r.url, SECRET, event_body())
    assert time.monotonic() - started <= webhook.READ_TIMEOUT + 1.5


def test_a_redirect_is_not_followed(receive):
    target = receive(lambda r, conn: r.send(conn, HEAD + b"Content-Length: 0\r\n\r\n"))
    r = receive(lambda r, conn: r.send(conn, b"HTTP/1.1 307 Temporary Redirect\r\nLocation: "
                                       + target.url.encode() + b"/elsewhere\r\nContent-Length: 0\r\n\r\n"))
    with pytest.raises(webhook.WebhookFailed, match="307"):
        webhook.deliver_event(r.url, SECRET, event_body())
    time.sleep(0.2)
    assert len(r.requests) == 1 and target.requests == []


@pytest.mark.parametrize("marker", AZURE_MARKERS)
def test_in_azure_nothing_is_posted_to_a_non_https_url(receive, monkeypatch, marker):
    r = receive(lambda r, conn: r.send(conn, HEAD + b"Content-Length: 0\r\n\r\n"))
    assert webhook.deliver_event(r.url, SECRET, event_body()).startswith("delivered")  # locally: loopback http
    monkeypatch.setenv(marker, "0123456789abcdef")  # either platform marker (config.running_in_azure)
    with pytest.raises(webhook.WebhookFailed, match="https"):
        webhook.deliver_event(r.url, SECRET, event_body())
    time.sleep(0.2)
    assert len(r.requests) == 1
