"""Storage round trips seen on the wire: a recording proxy in front of Azurite's table and queue ports.

The benchmark counts what a flow costs in Storage requests without importing the app it measures (which may
be another checkout, `--app-dir`): a second dev host is pointed at these proxies, each flow runs a few times
alone, and every request line is classified. The kinds recorded are what `bench_floor` replays with the raw
SDK. Standard library only; the measured runs never go through it.
"""
from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import threading
import time
from dataclasses import dataclass

CHUNK = 65536
HOST_KINDS = frozenset({"receive", "ack", "requeue", "queue-admin"})  # the queue host's work, not the app's
_ENTITY = re.compile(r"/[^/]+/[^/()]+\(.+\)")  # /account/Table(PartitionKey='..',RowKey='..')


@dataclass(frozen=True)
class Request:
    at: float
    port: int
    method: str
    path: str
    ops: int  # operations inside a $batch (1 otherwise)


def classify(request: Request, queue_port: int) -> str:
    """The kind of one Storage request: what the app asked for, in the floor's vocabulary."""
    path, _, query = request.path.partition("?")
    method = request.method
    if request.port == queue_port:
        if path.endswith("/messages") and method == "POST":
            return "enqueue"
        if path.endswith("/messages") and method == "GET":
            return "receive"
        if "/messages/" in path:
            return "ack" if method == "DELETE" else "requeue"
        return "queue-admin"
    if path.endswith("/$batch"):
        return f"batch{request.ops}"
    if path.rstrip("/").endswith("/Tables") or "/Tables(" in path:
        return "table-admin"
    if method == "GET":
        return "get" if _ENTITY.fullmatch(path) and "$filter" not in query else "query"
    if method == "POST":
        return "insert"
    if method == "DELETE":
        return "delete"
    return "update"  # PUT, MERGE, PATCH on an entity


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: RecordingProxy


class _Connection(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.proxy._serve(self.request)


class RecordingProxy:
    """Forwards 127.0.0.1:`port` to the upstream port and records each HTTP/1.1 request it carries."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Connection)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name=f"bench-proxy-{self.port}", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def since(self, start: float) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.at >= start]

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        buffer = b""
        try:
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    data = client.recv(CHUNK)
                    if not data:
                        break
                    buffer += data
                    continue
                head = buffer[:head_end].decode("latin-1")
                length = _content_length(head)
                while len(buffer) < head_end + 4 + length:
                    data = client.recv(CHUNK)
                    if not data:
                        raise OSError("client closed mid-request")
                    buffer += data
                message, buffer = buffer[:head_end + 4 + length], buffer[head_end + 4 + length:]
                self._record(head, message[head_end + 4:])
                upstream.sendall(message)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _record(self, head: str, body: bytes) -> None:
        method, path = (head.split("\r\n", 1)[0].split(" ") + ["", ""])[:2]
        ops = max(1, body.count(b"Content-Type: application/http")) if path.split("?")[0].endswith("/$batch") else 1
        with self._lock:
            self.requests.append(Request(time.monotonic(), self.port, method, path, ops))


def _content_length(head: str) -> int:
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip())
        if name.strip().lower() == "transfer-encoding":
            raise OSError("chunked requests are not recorded")  # the Azure SDKs send Content-Length
    return 0


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)


def app_kinds(requests: list[Request], queue_port: int) -> list[str]:
    """The app's own round trips, in order (the queue host's polling and acknowledgements left out)."""
    kinds = [classify(r, queue_port) for r in sorted(requests, key=lambda r: r.at)]
    return [k for k in kinds if k not in HOST_KINDS]
