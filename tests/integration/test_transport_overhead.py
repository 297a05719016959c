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


def test_a_transaction_body_is_byte_for_byte_azure_cores(deps, monkeypatch):
    """shared/inline_batch.py writes the multipart framing itself (azure-core's goes through the `email`
    package); the bytes sent are the ones azure-core's own `prepare_multipart_body` makes of the same
    prepared request, a changeset nested in the batch, the sub-requests serialized by azure-core."""
    from azure.core.rest import HttpRequest

    from shared import inline_batch

    sent = []
    real = inline_batch._prepare_body

    def both(request):
        copy = HttpRequest(request.method, request.url, headers=dict(request.headers))
        copy.multipart_mixed_info = request.multipart_mixed_info
        copy.prepare_multipart_body()  # azure-core's, on the same prepared sub-requests and boundaries
        real(request)
        sent.append((request.content, request.headers["Content-Type"], copy.content, copy.headers["Content-Type"]))

    monkeypatch.setattr(inline_batch, "_prepare_body", both)
    deps.store.ping()
    deps.store.transact(Tx().create({"PartitionKey": "framing", "RowKey": "a", "s": "x" * 300, "n": 1})
                        .create({"PartitionKey": "framing", "RowKey": "b", "s": "é — ü"}))
    row = deps.store.get("framing", "a")
    row["n"] = 2
    deps.store.transact(Tx().replace(row).merge_existing({"PartitionKey": "framing", "RowKey": "b",
                                                                        "m": True}))
    assert len(sent) == 2
    for ours, our_type, theirs, their_type in sent:
        assert (ours, our_type) == (theirs, their_type)
        assert ours.count(b"Content-ID: ") >= 2


def test_the_parsed_answers_of_a_transaction_are_azure_cores(deps, monkeypatch):
    """The answer's parts, split here, are the ones azure-core's own parser finds: status, headers and body
    of each, for a success and for the refusals a decision meets (409 exists, 412 stale ETag, 404 gone)."""
    from shared import inline_batch

    compared = []
    real_parts = inline_batch._parts

    def checked(response):
        ours = list(real_parts(response))
        theirs = list(response._get_raw_parts())  # azure-core's parser, through the email package
        assert [(p.status_code, dict(p.headers), p.body()) for p in ours] == \
            [(p.status_code, dict(p.headers), p.body()) for p in theirs]
        compared.append(ours)
        return iter(ours)

    monkeypatch.setattr(inline_batch, "_parts", checked)
    deps.store.ping()
    deps.store.transact(Tx().create({"PartitionKey": "answers", "RowKey": "a", "n": 1})
                        .create({"PartitionKey": "answers", "RowKey": "b", "n": 2}))
    row = deps.store.get("answers", "a")
    with pytest.raises(StaleWrite):  # 409: the row exists
        deps.store.transact(Tx().create({"PartitionKey": "answers", "RowKey": "b"}))
    row["n"] = 3
    deps.store.transact(Tx().replace(row))
    row["n"] = 4
    with pytest.raises(StaleWrite):  # 412: the ETag it carries is stale now
        deps.store.transact(Tx().replace(row).create({"PartitionKey": "answers", "RowKey": "c"}))
    with pytest.raises(StaleWrite):  # 404: the row is gone
        deps.store.transact(Tx().merge_existing({"PartitionKey": "answers", "RowKey": "gone", "n": 1}))
    statuses = [[p.status_code for p in parts] for parts in compared]
    assert len(compared) == 5
    assert [all(200 <= c < 300 for c in s) for s in statuses] == [True, False, True, False, False]
    assert [s[0] for s in statuses[1:2] + statuses[3:]] == [409, 412, 404], statuses
