"""Per-call overhead of the Storage clients, against Azurite: the clients are built once
and a call reuses them; no call starts a thread (the exchange deadline is one watchdog for the process,
not a timer thread per call; a transaction is prepared and parsed without azure-core's thread pools) or
reads the environment (no proxy lookup: an HTTP_PROXY set after the clients were built changes nothing, so
no proxy ever sits between the service and Storage; no AZURE_HTTP_USER_AGENT lookup)."""
from __future__ import annotations

import logging
import threading

import pytest
import requests

from shared import clients
from shared.store.table import StaleWrite, Tx


def test_storage_calls_start_no_thread(deps, monkeypatch):
    deps.store.ping()
    deps.store.get("overhead", "warm")  # the watchdog thread may start on first use
    started = []
    real_start = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for i in range(20):
        assert deps.store.get("overhead", f"missing{i}") is None
    assert started == []


def test_a_transaction_starts_no_thread_and_writes_every_row(deps, monkeypatch):
    """azure-core would prepare and parse a $batch on two new thread pools; the store's client does both
    inline (shared/inline_batch.py), and the transaction still writes all its rows and returns their ETags."""
    deps.store.ping()
    deps.store.transact(Tx().create({"PartitionKey": "overhead", "RowKey": "warm"}))
    started = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda t: started.append(t.name) or real_start(t))
    deps.store.transact(Tx().create({"PartitionKey": "overhead", "RowKey": "a", "n": 1})
                        .create({"PartitionKey": "overhead", "RowKey": "b", "n": 2}))
    assert started == []
    assert [deps.store.get("overhead", k)["n"] for k in ("a", "b")] == [1, 2]
    row = deps.store.get("overhead", "a")
    row["n"] = 3
    deps.store.transact(Tx().replace(row))
    assert deps.store.get("overhead", "a")["n"] == 3
    row["n"] = 4  # the ETag it carries is stale now: the condition still holds inline
    with pytest.raises(StaleWrite):
        deps.store.transact(Tx().replace(row))


def test_storage_calls_read_no_proxy_from_the_environment(deps, monkeypatch):
    deps.store.ping()
    lookups = []
    real = requests.utils.get_environ_proxies
    monkeypatch.setattr(requests.sessions, "get_environ_proxies",
                        lambda *a, **k: lookups.append(a) or real(*a, **k))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there: a proxy used would fail
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for i in range(5):
        assert deps.store.get("overhead", f"missing{i}") is None
    assert lookups == []


def test_the_deadline_transport_keeps_one_session(deps):
    transport = clients.DeadlineTransport()
    assert transport.session is not None and transport.session.trust_env is False


def test_storage_clients_read_no_user_agent_from_the_environment(deps, monkeypatch):
    """AZURE_HTTP_USER_AGENT is read by the SDK on every call unless told not to: the clients are told."""
    agents: list[str] = []

    def hook(request) -> None:
        agents.append(request.http_request.headers.get("User-Agent", ""))

    monkeypatch.setenv("AZURE_HTTP_USER_AGENT", "from-the-environment")
    table = clients.table_client(deps.settings, hook)  # type: ignore[arg-type]  # any raw_request_hook
    queue = clients.queue_client(deps.settings, hook, queue="overhead-ua")  # type: ignore[arg-type]
    table.create_table()
    queue.create_queue()
    assert len(agents) == 2 and agents[0] and not any("from-the-environment" in ua for ua in agents), agents
    table.delete_table()
    queue.delete_queue()


def test_storage_calls_log_no_record_per_call(deps, caplog):
    """The Functions worker forwards INFO records to the host; the SDK's per-call request/response log
    (URL and headers at INFO) is quieted, so a sign-in's Storage calls log nothing while they succeed."""
    caplog.set_level(logging.INFO)
    table = clients.table_client(deps.settings)
    table.create_table()
    table.upsert_entity({"PartitionKey": "overhead", "RowKey": "log"})
    table.get_entity("overhead", "log")
    assert [r for r in caplog.records if r.name.startswith("azure")] == []
    table.delete_table()
