"""The server wrapper: a threaded werkzeug server serving an SmsEmulatorApp on loopback only, startable
from tests on a free port, with a request log that never holds a body or a query (message text carries
one-time codes)."""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tools.loopback import is_loopback

from .app import SmsEmulatorApp
from .auth import DEFAULT_KEY
from .http_json import utc_now

DEFAULT_HOST = "127.0.0.1"

_CONTROL_CHARS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}


class QuietRequestHandler(WSGIRequestHandler):
    """Logs one line per request to stderr: method, path without query, status. Never bodies."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        try:
            path = urlsplit(self.path).path
            line = f"{self.command} {path} {code}"
        except AttributeError:  # the request line could not be parsed
            line = f"- - {code}"
        stamp = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
        sys.stderr.write(f"{stamp} sms-emulator {line.translate(_CONTROL_CHARS)}\n")
        sys.stderr.flush()


@dataclass
class EmulatorServer:
    """A running emulator: a threaded werkzeug server serving an SmsEmulatorApp on loopback."""

    server: BaseWSGIServer
    app: SmsEmulatorApp
    thread: threading.Thread

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=10)
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(host: str = DEFAULT_HOST, port: int = 0, access_key: str = DEFAULT_KEY,
                    allow_origin: str | None = None) -> EmulatorServer:
    """Start the emulator on a background thread; ``port=0`` picks a free port (see ``.url``)."""
    if not is_loopback(host):
        raise ValueError(f"The SMS emulator listens on loopback only, not {host!r}.")
    app = SmsEmulatorApp(access_key, allow_origin)
    try:
        server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    except SystemExit as exit_:  # werkzeug exits the process when it cannot bind; a library must not
        raise OSError(f"cannot listen on {host}:{port}") from exit_
    thread = threading.Thread(target=server.serve_forever, name="sms-emulator", daemon=True)
    thread.start()
    return EmulatorServer(server=server, app=app, thread=thread)
