"""A fault-injecting TCP proxy for loopback tests and the soak: put it in front of one Azurite port and
switch its mode while clients talk through it.

Modes (`proxy.set_mode(...)`, effective for every open connection at once):
    pass     forward bytes both ways
    refuse   reset every connection (open ones too) and every new one: an endpoint that is down
    stall    forward the request, then hold the response after its first `stall_after` bytes without
             closing: a service that hangs mid-response (only a read timeout gets the caller out)
    slow     forward, but wait `delay` seconds before each response piece of `slow_chunk` bytes (all of a
             read by default; a few bytes make a trickle that no per-read timeout ever trips)

Standard library only, so tests and tools/soak/ share it without extra packages.
"""
from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

MODES = ("pass", "refuse", "stall", "slow")
CHUNK = 16384


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dead endpoint or a dropped connection looks to the client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class FaultProxy:
    """Listens on 127.0.0.1:`port` (0: a free one) and forwards to 127.0.0.1:`upstream_port`."""

    def __init__(self, upstream_port: int, port: int = 0, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.mode = "pass"
        self.delay = 0.5
        self.stall_after = 1
        self.slow_chunk = CHUNK
        self._changed = threading.Condition()
        self._conns: set[socket.socket] = set()
        self._listener = socket.create_server((host, port), backlog=128)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True)
        self._thread.start()

    def set_mode(self, mode: str, delay: float | None = None, stall_after: int | None = None,
                 slow_chunk: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._changed:
            self.mode = mode
            if delay is not None:
                self.delay = delay
            if stall_after is not None:
                self.stall_after = stall_after
            if slow_chunk is not None:
                self.slow_chunk = slow_chunk
            self._changed.notify_all()
        if mode == "refuse":
            for sock in list(self._conns):
                _reset(sock)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in list(self._conns):
            _reset(sock)
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                _reset(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        self._conns.update((client, upstream))
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, True)

    def _hold_while(self, predicate) -> None:  # noqa: ANN001 - a zero-argument callable
        with self._changed:
            while predicate() and not self._closed:
                self._changed.wait(0.5)

    def _pump(self, src: socket.socket, dst: socket.socket, response: bool) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                if response and self.mode == "slow":
                    while len(data) > self.slow_chunk and self.mode == "slow":
                        time.sleep(self.delay)
                        dst.sendall(data[: self.slow_chunk])
                        sent += self.slow_chunk
                        data = data[self.slow_chunk:]
                    time.sleep(self.delay)
                if response and self.mode == "stall":
                    head = data[: max(self.stall_after - sent, 0)]
                    if head:
                        dst.sendall(head)
                        sent += len(head)
                        data = data[len(head):]
                    self._hold_while(lambda: self.mode == "stall")
                if self.mode == "refuse" or self._closed:
                    break
                if data:
                    dst.sendall(data)
                    sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._conns.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

