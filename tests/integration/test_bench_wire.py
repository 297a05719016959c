"""make bench counts a flow's Storage round trips on the wire (tools/bench_wire.py): each request is classified
in the floor's vocabulary, the queue host's polling is left out, and the recording proxy forwards what it
records byte for byte (a loopback HTTP server stands in for Azurite)."""
from __future__ import annotations

import http.server
import threading

import requests

from tools.bench_wire import RecordingProxy, Request, app_kinds, classify

T, Q = 1000, 2000  # table and queue proxy ports


def req(port: int, method: str, path: str, ops: int = 1) -> Request:
    return Request(0.0, port, method, path, ops)


def test_table_and_queue_requests_are_classified():
    cases = {
        ("GET", "/devstoreaccount1/t(PartitionKey='u',RowKey='profile')"): "get",
        ("GET", "/devstoreaccount1/t()?$filter=PartitionKey%20eq%20'u'"): "query",
        ("GET", "/devstoreaccount1/t(PartitionKey='u',RowKey='x')?$filter=a"): "query",
        ("POST", "/devstoreaccount1/t"): "insert",
        ("PUT", "/devstoreaccount1/t(PartitionKey='u',RowKey='x')"): "update",
        ("MERGE", "/devstoreaccount1/t(PartitionKey='u',RowKey='x')"): "update",
        ("DELETE", "/devstoreaccount1/t(PartitionKey='u',RowKey='x')"): "delete",
        ("POST", "/devstoreaccount1/Tables"): "table-admin",
    }
    for (method, path), kind in cases.items():
        assert classify(req(T, method, path), Q) == kind, path
    assert classify(req(T, "POST", "/devstoreaccount1/$batch", ops=3), Q) == "batch3"
    assert classify(req(Q, "POST", "/devstoreaccount1/sms-outbox/messages"), Q) == "enqueue"
    assert classify(req(Q, "GET", "/devstoreaccount1/sms-outbox/messages?numofmessages=16"), Q) == "receive"
    assert classify(req(Q, "DELETE", "/devstoreaccount1/sms-outbox/messages/id?popreceipt=p"), Q) == "ack"


def test_the_queue_hosts_own_requests_are_not_the_apps():
    seen = [req(Q, "GET", "/a/q/messages"), req(T, "GET", "/a/t(PartitionKey='u',RowKey='p')"),
            req(Q, "POST", "/a/q/messages"), req(Q, "DELETE", "/a/q/messages/1"), req(Q, "PUT", "/a/q")]
    assert app_kinds(seen, Q) == ["get", "enqueue"]


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - the handler's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_the_proxy_records_each_request_and_forwards_it_unchanged():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = RecordingProxy(server.server_address[1])
    try:
        batch = b"--b\r\nContent-Type: application/http\r\n\r\nPOST x\r\n--b\r\nContent-Type: application/http\r\n\r\n"
        with requests.Session() as session:  # one keep-alive connection carries both
            first = session.post(f"http://127.0.0.1:{proxy.port}/acct/$batch", data=batch, timeout=5)
            second = session.post(f"http://127.0.0.1:{proxy.port}/acct/t", data=b"{}", timeout=5)
        assert (first.status_code, first.content, second.content) == (202, batch, b"{}")
        assert [(r.method, r.path, r.ops) for r in proxy.since(0.0)] == [("POST", "/acct/$batch", 2),
                                                                         ("POST", "/acct/t", 1)]
    finally:
        proxy.close()
        server.shutdown()
