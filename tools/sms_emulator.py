"""A local stand-in for the Azure Communication Services (ACS) SMS REST API, on loopback only.

Why it exists: the app always sends SMS through the real azure-communication-sms SDK, and only the
endpoint differs between Azure and a developer machine. This emulator answers the one call the SDK makes
(``POST /sms?api-version=2021-03-07``), checks the request the way the real service does (content hash,
``x-ms-date`` freshness, HMAC-SHA256 signature with the access key), records what was accepted so tests
and developers can read it back at ``GET /messages``, and can be told to fail (503, 429, or per recipient)
so retry and poison paths can be exercised without a real ACS resource.

Endpoints:
    POST   /sms?api-version=2021-03-07   the ACS send call (202 with one result per recipient)
    GET    /messages[?to=+1...]          recorded messages, in order received
    DELETE /messages                     forget recorded messages
    GET    /faults                       current fault settings
    PUT    /faults                       {"status": 503 | 429 | null, "failRecipients": ["+1..."],
                                          "delaySeconds": 0-30 (a send is accepted, its answer held that long)}
    DELETE /faults                       clear faults
    GET    /health                       200
    POST   /webhook                      the local security-event webhook receiver (204; records it)
    GET    /webhook/events[?subject=u]   deliveries received, oldest first: {"receivedAt", "headers"
                                         (lower-cased), "body" (parsed JSON), "raw" (the body as sent)}

While a fault ``status`` is set, every ``POST /sms`` answers that status before any other check and
records nothing. With ``delaySeconds``, a send is processed (and recorded) at once and its answer held
that long: a provider that accepted a message but answers late (the client may give up first).

Repeatability, as ACS does it: a recipient sent with ``repeatabilityRequestId`` (a UUID) and
``repeatabilityFirstSent`` (an RFC 1123 date) that repeats an accepted one within REPEATABILITY_WINDOW
answers the first result again (same messageId, ``repeatabilityResult: "accepted"``) and records no
second message; the same id with another first-sent time is ``rejected`` (400 for that recipient).
A refused recipient is not remembered, so its next attempt can go through. ``GET /messages`` entries
carry the ``repeatabilityRequestId`` they were sent with.

Message text is never logged (it carries one-time codes); the request log line holds only method, path
(without query) and status.

Run: ``python -m tools.sms_emulator [--host 127.0.0.1] [--port 7072] [--allow-origin http://localhost:7071]``;
the access key comes from ``SMS_EMULATOR_ACCESS_KEY`` (default: the local-only key that
local.settings.example.json gives the app).

CORS: the try-it page (``/api/try``, another origin) reads the inbox with a plain ``fetch``. Only
``GET /messages`` answers ``Access-Control-Allow-Origin``, and only to exactly the ``--allow-origin``
origin (``SMS_EMULATOR_ALLOW_ORIGIN``); no other route and no other origin is ever allowed.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import quote, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tools.loopback import is_loopback

# Local-only key, the same value local.settings.example.json gives the app as ACS_ACCESS_KEY. Not a secret.
DEFAULT_KEY = "WxDF+6dyUa/J5u7skPwcWFNehdPiOoe4lvXJR9JArm4="
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7072
ACCESS_KEY_ENV = "SMS_EMULATOR_ACCESS_KEY"
ALLOW_ORIGIN_ENV = "SMS_EMULATOR_ALLOW_ORIGIN"

API_VERSION = "2021-03-07"
SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
MAX_CLOCK_SKEW = timedelta(minutes=15)
MAX_BODY_BYTES = 64 * 1024
FAULT_STATUSES = (503, 429)
MAX_DELAY_SECONDS = 30
REPEATABILITY_WINDOW = timedelta(minutes=30)

_AUTH_RE = re.compile(r"^HMAC-SHA256 SignedHeaders=(?P<headers>[^&]+)&Signature=(?P<signature>.+)$")
_RFC1123_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$"
)
_CONTROL_CHARS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    body = {"error": {"code": error.code, "message": error.message}}
    return json_response(body, status=error.status, headers=error.headers)


# --- state -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """What the emulator is told to get wrong."""

    status: int | None = None
    fail_recipients: frozenset[str] = frozenset()
    delay_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "failRecipients": sorted(self.fail_recipients),
                "delaySeconds": self.delay_seconds}


@dataclass
class EmulatorState:
    """Recorded messages and fault settings, shared by the request threads."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _messages: list[dict[str, str]] = field(default_factory=list)
    _faults: Faults = field(default_factory=Faults)
    _repeats: dict[str, tuple[str, datetime, dict[str, Any]]] = field(default_factory=dict)
    _webhooks: list[dict[str, Any]] = field(default_factory=list)

    def record_webhook(self, delivery: dict[str, Any]) -> None:
        with self._lock:
            self._webhooks.append(delivery)

    def webhooks(self, subject: str | None = None) -> list[dict[str, Any]]:
        """Webhook deliveries received, oldest first; with `subject`, only events about that subject."""
        with self._lock:
            return [dict(d) for d in self._webhooks
                    if subject is None or (isinstance(d["body"], dict) and d["body"].get("subject") == subject)]

    def first_result(self, request_id: str, first_sent: str, now: datetime) -> dict[str, Any] | None:
        """The remembered result of an accepted send with this id inside the window, else None."""
        with self._lock:
            for key in [k for k, (_, at, _) in self._repeats.items() if now - at > REPEATABILITY_WINDOW]:
                del self._repeats[key]
            seen = self._repeats.get(request_id)
        if seen is None:
            return None
        if seen[0] != first_sent:
            return {"httpStatusCode": 400, "repeatabilityResult": "rejected", "successful": False,
                    "messageId": None, "errorMessage": "repeatabilityFirstSent differs from the first request."}
        return seen[2]

    def remember(self, request_id: str, first_sent: str, now: datetime, result: dict[str, Any]) -> None:
        with self._lock:
            self._repeats.setdefault(request_id, (first_sent, now, result))

    def record(self, message: dict[str, str]) -> None:
        with self._lock:
            self._messages.append(dict(message))

    def messages(self, to: str | None = None) -> list[dict[str, str]]:
        with self._lock:
            return [dict(m) for m in self._messages if to is None or m["to"] == to]

    def clear_messages(self) -> None:
        with self._lock:
            self._messages.clear()
            self._repeats.clear()

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults


# --- request checks ----------------------------------------------------------------------------------


def denied(message: str) -> ApiError:
    return ApiError(401, "Denied", message)


def path_and_query(request: Request) -> str:
    """The request target as the client sent (and signed) it: path plus query, still percent-encoded."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        target = urlsplit(raw)
        return target.path + (f"?{target.query}" if target.query else "")
    query = request.environ.get("QUERY_STRING", "")
    return quote(request.path) + (f"?{query}" if query else "")


def check_content_hash(request: Request, body: bytes) -> str:
    claimed = request.headers.get("x-ms-content-sha256")
    if not claimed:
        raise denied("Missing x-ms-content-sha256 header.")
    actual = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    if not hmac.compare_digest(claimed.encode("utf-8"), actual.encode("ascii")):
        raise denied("x-ms-content-sha256 does not match the request body.")
    return claimed


def check_date(request: Request, now: datetime) -> str:
    value = request.headers.get("x-ms-date")
    if not value:
        raise denied("Missing x-ms-date header.")
    if not _RFC1123_RE.match(value):
        raise denied("x-ms-date is not an RFC 1123 date.")
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise denied("x-ms-date is not an RFC 1123 date.") from None
    if abs(now - sent) > MAX_CLOCK_SKEW:
        raise denied("x-ms-date is more than 15 minutes away from the server time.")
    return value


def parse_authorization(request: Request) -> str:
    match = _AUTH_RE.match(request.headers.get("Authorization", ""))
    if not match:
        raise denied("Authorization header is missing or not HMAC-SHA256.")
    if match.group("headers").lower() != SIGNED_HEADERS:
        raise denied(f"SignedHeaders must be {SIGNED_HEADERS}.")
    return match.group("signature")


def sign(key: bytes, string_to_sign: str) -> str:
    digest = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authenticate(request: Request, body: bytes, key: bytes) -> None:
    """Raise a 401 ApiError unless the request is signed the way ACS HMAC authentication requires."""
    content_hash = check_content_hash(request, body)
    date = check_date(request, utc_now())
    signature = parse_authorization(request)
    host = request.headers.get("Host")
    if not host:
        raise denied("Missing Host header.")
    string_to_sign = f"{request.method}\n{path_and_query(request)}\n{date};{host};{content_hash}"
    expected = sign(key, string_to_sign)
    if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("ascii")):
        raise denied("The request signature does not match.")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.")
    return payload


def is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _repeatability(recipient: dict[str, Any]) -> tuple[str, str] | None:
    request_id, first_sent = recipient.get("repeatabilityRequestId"), recipient.get("repeatabilityFirstSent")
    if request_id is None and first_sent is None:
        return None
    try:
        uuid.UUID(str(request_id))
        parsedate_to_datetime(str(first_sent))
    except (ValueError, TypeError):
        raise bad_request("repeatabilityRequestId must be a UUID and repeatabilityFirstSent an RFC 1123 date,"
                          " sent together.") from None
    return str(request_id).lower(), str(first_sent)


def parse_send_request(body: bytes) -> tuple[str, str, list[tuple[str, tuple[str, str] | None]]]:
    """Return (from, message, [(to, (requestId, firstSent) or None)]) from an ACS send body, or raise a
    400 ApiError."""
    payload = parse_json_object(body)
    sender, message, recipients = payload.get("from"), payload.get("message"), payload.get("smsRecipients")
    if not is_text(sender):
        raise bad_request("'from' is required.")
    if not is_text(message):
        raise bad_request("'message' is required.")
    if not isinstance(recipients, list) or not recipients:
        raise bad_request("'smsRecipients' must be a non-empty list.")
    if not all(isinstance(r, dict) and is_text(r.get("to")) for r in recipients):
        raise bad_request("Each entry of 'smsRecipients' must be an object with 'to'.")
    return sender, message, [(r["to"], _repeatability(r)) for r in recipients]


def parse_faults(body: bytes) -> Faults:
    payload = parse_json_object(body)
    unknown = set(payload) - {"status", "failRecipients", "delaySeconds"}
    if unknown:
        raise bad_request(f"Unknown fault fields: {sorted(unknown)}.")
    status = payload.get("status")
    if status is not None and (type(status) is not int or status not in FAULT_STATUSES):
        raise bad_request("'status' must be 503, 429 or null.")
    fail = payload.get("failRecipients", [])
    if not isinstance(fail, list) or not all(is_text(n) for n in fail):
        raise bad_request("'failRecipients' must be a list of phone numbers.")
    delay = payload.get("delaySeconds", 0)
    if type(delay) not in (int, float) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise bad_request(f"'delaySeconds' must be a number from 0 to {MAX_DELAY_SECONDS}.")
    return Faults(status=status, fail_recipients=frozenset(fail), delay_seconds=float(delay))


# --- the WSGI application ------------------------------------------------------------------------------


def fault_error(status: int) -> ApiError:
    if status == 429:
        return ApiError(429, "TooManyRequests", "Emulated throttling.", {"Retry-After": "1"})
    return ApiError(503, "ServiceUnavailable", "Emulated outage.")


def message_id() -> str:
    return f"Outgoing_{utc_now():%Y%m%d%H%M%S}{uuid.uuid4().hex}_noam"


def recipient_result(to: str, failed: bool) -> dict[str, Any]:
    if failed:
        return {
            "to": to, "messageId": None, "httpStatusCode": 400, "repeatabilityResult": "accepted",
            "successful": False, "errorMessage": "Emulated failure for this recipient.",
        }
    return {
        "to": to, "messageId": message_id(), "httpStatusCode": 202, "repeatabilityResult": "accepted",
        "successful": True, "errorMessage": None,
    }


class EmulatorRequest(Request):
    max_content_length = MAX_BODY_BYTES


class SmsEmulatorApp:
    """The WSGI application: routes requests to small handlers and turns errors into JSON."""

    def __init__(self, access_key: str = DEFAULT_KEY, allow_origin: str | None = None) -> None:
        self.allow_origin = allow_origin  # the one page origin that may read GET /messages (CORS)
        try:
            self._key = base64.b64decode(access_key, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("The access key must be base64.") from None
        self.state = EmulatorState()
        self._routes = Map([
            Rule("/sms", methods=["POST"], endpoint=self.send),
            Rule("/messages", methods=["GET"], endpoint=self.list_messages),
            Rule("/messages", methods=["DELETE"], endpoint=self.clear_messages),
            Rule("/faults", methods=["GET"], endpoint=self.get_faults),
            Rule("/faults", methods=["PUT"], endpoint=self.put_faults),
            Rule("/faults", methods=["DELETE"], endpoint=self.clear_faults),
            Rule("/health", methods=["GET"], endpoint=self.health),
            Rule("/webhook", methods=["POST"], endpoint=self.receive_webhook),
            Rule("/webhook/events", methods=["GET"], endpoint=self.list_webhooks),
        ])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = EmulatorRequest(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            handler, _ = self._routes.bind_to_environ(request.environ).match()
            return handler(request)
        except ApiError as error:
            return error_response(error)
        except HTTPException as error:
            headers = dict(error.get_headers())
            headers.pop("Content-Type", None)
            return error_response(ApiError(error.code or 500, error.name.replace(" ", ""),
                                           error.description or error.name, headers))

    def send(self, request: Request) -> Response:
        faults = self.state.faults
        if faults.status is not None:
            raise fault_error(faults.status)
        body = request.get_data(cache=True)
        authenticate(request, body, self._key)
        if request.args.get("api-version") != API_VERSION:
            raise bad_request(f"Unsupported api-version; this emulator speaks {API_VERSION}.")
        sender, message, recipients = parse_send_request(body)
        fail = faults.fail_recipients
        now = utc_now()
        results = []
        for to, repeat in recipients:
            first = self.state.first_result(*repeat, now) if repeat else None
            if first is not None:
                results.append({**first, "to": to})  # a repeat: the first answer, no second message
                continue
            result = recipient_result(to, to in fail)
            results.append(result)
            if result["successful"]:
                self.state.record({"to": to, "from": sender, "message": message, "receivedAt": iso_utc(now),
                                   "repeatabilityRequestId": repeat[0] if repeat else None})
                if repeat:
                    self.state.remember(*repeat, now, result)
        if faults.delay_seconds:
            time.sleep(faults.delay_seconds)  # accepted and recorded already: only the answer is late
        return json_response({"value": results}, status=202, headers=self._echo_request_id(request))

    @staticmethod
    def _echo_request_id(request: Request) -> dict[str, str]:
        request_id = request.headers.get("x-ms-client-request-id")
        return {"x-ms-client-request-id": request_id} if request_id else {}

    def list_messages(self, request: Request) -> Response:
        return json_response(self.state.messages(request.args.get("to")), headers=self._cors(request))

    def _cors(self, request: Request) -> dict[str, str]:
        """CORS for the inbox alone: the configured origin, compared whole; anything else gets none."""
        origin = request.headers.get("Origin")
        if self.allow_origin and origin == self.allow_origin:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def clear_messages(self, request: Request) -> Response:
        self.state.clear_messages()
        return Response(status=204)

    def get_faults(self, request: Request) -> Response:
        return json_response(self.state.faults.to_json())

    def put_faults(self, request: Request) -> Response:
        self.state.set_faults(parse_faults(request.get_data(cache=True)))
        return json_response(self.state.faults.to_json())

    def clear_faults(self, request: Request) -> Response:
        self.state.set_faults(Faults())
        return Response(status=204)

    def receive_webhook(self, request: Request) -> Response:
        """The local webhook receiver: records what the app POSTed (headers and parsed JSON body), so a
        developer sees security events arrive and tests verify their signatures. It does not verify, and
        the SMS faults do not apply to it (a failing webhook is any other URL: they answer 404)."""
        body = request.get_data(cache=True)
        try:
            parsed: Any = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise bad_request("The webhook body must be JSON.") from None
        self.state.record_webhook({"receivedAt": iso_utc(utc_now()),
                                   "headers": {k.lower(): v for k, v in request.headers.items()},
                                   "body": parsed, "raw": body.decode("utf-8")})
        return Response(status=204)

    def list_webhooks(self, request: Request) -> Response:
        return json_response(self.state.webhooks(request.args.get("subject")))

    def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})


# --- server ----------------------------------------------------------------------------------------------


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


# --- command line ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Local Azure Communication Services SMS emulator.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (0: any free)")
    parser.add_argument("--allow-origin", default=os.environ.get(ALLOW_ORIGIN_ENV),
                        help="the one page origin (scheme://host:port) allowed to read GET /messages (CORS)")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host must be a loopback address, not {args.host!r}")
    return args


def wait_for_stop_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    access_key = os.environ.get(ACCESS_KEY_ENV) or DEFAULT_KEY
    try:
        emulator = start_in_thread(args.host, args.port, access_key, args.allow_origin)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"sms-emulator: cannot start: {error}\n")
        return 1
    sys.stderr.write(f"sms-emulator listening on {emulator.url}\n")
    sys.stderr.flush()
    try:
        wait_for_stop_signal()
    finally:
        emulator.stop()
    sys.stderr.write("sms-emulator stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
