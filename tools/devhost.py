"""Development host: serves the v2-model function app without Azure Functions Core Tools.

Core Tools downloads the Functions host when it is installed, which fails offline, so this stands in
for `func start` on developer and CI machines. It reads the same metadata the real host reads
(`app.get_functions()`, host.json, local.settings.json) and mimics the behaviour the app relies on:
HTTP route templates, methods and auth levels; queue triggers with host.json `extensions.queues`
semantics (visibility timeout, maxDequeueCount, `<queue>-poison`, base64 encoding, polling backoff);
timer triggers with NCRONTAB schedules. It binds to loopback only.

    python tools/devhost.py [--app-dir .] [--host 127.0.0.1] [--port 7071] [--check MODULE:CALLABLE]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import importlib
import inspect
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, TextIO

import azure.functions as func
from azure.functions.queue import QueueMessage as RuntimeQueueMessage
from azure.functions.timer import TimerRequest
from loopback import is_loopback  # tools/loopback.py (tools/ is on sys.path)
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

LOG = logging.getLogger("devhost")
ACCESS_LOG = logging.getLogger("devhost.access")

DEFAULT_FUNCTION_KEY = "local-function-key"
DEFAULT_MASTER_KEY = "local-master-key"
DEFAULT_CONNECTION = "AzureWebJobsStorage"
# Messages being processed stay invisible for host.json's functionTimeout plus this margin (the host ends
# a function by then), so a message whose failure could not be handed back (Storage down at that moment)
# reappears after about a minute, not after the 10 minutes the Functions host uses, which outlast a code.
PROCESSING_MARGIN_SECONDS = 30
DEFAULT_FUNCTION_TIMEOUT = 300.0
MIN_POLL_SECONDS = 0.1


class DevHostError(Exception):
    """The app or its configuration cannot be served; the message says why."""


class ConfigCheckError(DevHostError):
    """The --check callable raised: the app refuses to start with bad configuration."""


# --------------------------------------------------------------------------- configuration


def load_local_settings(app_dir: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Copy local.settings.json "Values" into the environment without overriding, as `func start` does.

    Returns the names that were set.
    """
    env = os.environ if environ is None else environ
    path = app_dir / "local.settings.json"
    if not path.is_file():
        return []
    values = json.loads(path.read_text(encoding="utf-8")).get("Values") or {}
    added = []
    for name, value in values.items():
        if name not in env and value is not None:
            env[name] = value if isinstance(value, str) else json.dumps(value)
            added.append(name)
    return added


def read_host_json(app_dir: Path) -> dict[str, Any]:
    """host.json as a dict; an app without one gets the host defaults."""
    path = app_dir / "host.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


_TIMESPAN = re.compile(r"(?:(?P<days>\d+)\.)?(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)")


def parse_timespan(value: Any, default: float) -> float:
    """Seconds from a host.json duration: a .NET TimeSpan string ("[d.]hh:mm:ss[.fff]") or milliseconds."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text) / 1000.0
    match = _TIMESPAN.fullmatch(text)
    if not match:
        raise ValueError(f"not a TimeSpan (hh:mm:ss) or milliseconds: {value!r}")
    days = int(match["days"] or 0)
    return days * 86400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues`, with the Functions host defaults."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"
    processing_visibility: float = DEFAULT_FUNCTION_TIMEOUT + PROCESSING_MARGIN_SECONDS

    @classmethod
    def from_host_json(cls, host_json: dict[str, Any]) -> QueueOptions:
        cfg = (host_json.get("extensions") or {}).get("queues") or {}
        encoding = str(cfg.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise DevHostError(f"host.json extensions.queues.messageEncoding must be base64 or none, "
                               f"not {encoding!r}")
        return cls(
            # Azure Storage returns at most 32 messages per receive.
            batch_size=max(1, min(32, int(cfg.get("batchSize", 16)))),
            max_dequeue_count=max(1, int(cfg.get("maxDequeueCount", 5))),
            visibility_timeout=parse_timespan(cfg.get("visibilityTimeout"), 0.0),
            max_polling_interval=max(MIN_POLL_SECONDS, parse_timespan(cfg.get("maxPollingInterval"), 60.0)),
            message_encoding=encoding,
            processing_visibility=parse_timespan(host_json.get("functionTimeout"), DEFAULT_FUNCTION_TIMEOUT)
            + PROCESSING_MARGIN_SECONDS,
        )


def route_prefix(host_json: dict[str, Any]) -> str:
    """host.json `extensions.http.routePrefix`; "api" unless set (an empty string means no prefix)."""
    prefix = ((host_json.get("extensions") or {}).get("http") or {}).get("routePrefix", "api")
    return str(prefix or "").strip("/")


_SETTING_REF = re.compile(r"%([^%]+)%")


def resolve_setting_refs(value: str) -> str:
    """Replace %NAME% binding expressions with app settings, as the host does for binding properties."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise DevHostError(f"binding expression %{name}% names an app setting that is not set")
        return os.environ[name]

    return _SETTING_REF.sub(lookup, value)


# --------------------------------------------------------------------------- routes

# Route constraints that narrow what a segment matches; anything else (min, length, regex...) is
# accepted as a plain segment: the dev host only has to route, not validate.
_CONSTRAINT_PATTERNS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])",
    "guid": r"\{?[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}\}?",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}
_SEGMENT_PARAM = r"[^/]+"


@dataclass(frozen=True)
class RouteParam:
    name: str
    pattern: str
    optional: bool
    default: str | None
    constrained: bool


def _split_braces(segment: str) -> list[str]:
    """Split a template segment into literal text and "{...}" tokens (braces may nest in constraints)."""
    tokens, depth, start = [], 0, 0
    for i, ch in enumerate(segment):
        if ch == "{":
            if depth == 0 and i > start:
                tokens.append(segment[start:i])
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                tokens.append(segment[start:i + 1])
                start = i + 1
    if start < len(segment):
        tokens.append(segment[start:])
    return tokens


def _parse_param(token: str) -> RouteParam:
    inner = token[1:-1].lstrip("*")
    optional = inner.endswith("?")
    inner = inner.rstrip("?")
    default = None
    if "=" in inner:
        inner, default = inner.split("=", 1)
    name, _, constraints = inner.partition(":")
    pattern = _SEGMENT_PARAM
    for constraint in filter(None, constraints.split(":")):
        known = _CONSTRAINT_PATTERNS.get(constraint.strip().lower())
        if known:
            pattern = known
            break
    return RouteParam(name.strip(), pattern, optional or default is not None, default, bool(constraints))


@dataclass(frozen=True)
class CompiledRoute:
    """A route template turned into an anchored regex (route params never match "/")."""

    template: str
    regex: re.Pattern[str]
    params: dict[str, RouteParam]  # regex group name -> parameter
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        values = {}
        for group, param in self.params.items():
            value = found.group(group)
            if value is None:
                value = param.default
            if value is not None:
                values[param.name] = value
        return values


def compile_route(prefix: str, template: str) -> CompiledRoute:
    """Compile `<prefix>/<template>` the way the host routes it: literals case-insensitive, one segment per
    parameter, `{name?}` optional, `{name=default}` defaulted, `{name:int}`-style constraints."""
    segments = [s for s in f"{prefix}/{template.strip('/')}".split("/") if s]
    regex, params, precedence = "", {}, []
    for segment in segments:
        tokens = _split_braces(segment)
        whole_param = len(tokens) == 1 and tokens[0].startswith("{") and tokens[0].endswith("}")
        part, rank = "", 0
        for token in tokens:
            if token.startswith("{") and token.endswith("}"):
                param = _parse_param(token)
                group = f"p{len(params)}"
                params[group] = param
                # Greedy: in "{name}.{ext}" the last "." splits, as ASP.NET's right-to-left matching does.
                part += f"(?P<{group}>{param.pattern})"
                rank = max(rank, 3 if param.optional else 1 if param.constrained else 2)
            else:
                part += re.escape(token)
        if whole_param and params[f"p{len(params) - 1}"].optional:
            regex += f"(?:/{part})?"
        else:
            regex += f"/{part}"
        precedence.append(rank)
    return CompiledRoute(template, re.compile(regex + "/?", re.IGNORECASE), params, tuple(precedence))


# --------------------------------------------------------------------------- functions


def _binding_value(value: Any) -> str:
    return str(getattr(value, "value", value))


@dataclass
class FunctionInfo:
    """What the dev host needs from one indexed function."""

    name: str
    trigger_type: str
    binding: dict[str, Any]
    callable: Callable[..., Any]
    other_bindings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def arg_name(self) -> str:
        return self.binding["name"]

    @classmethod
    def from_function(cls, fn: Any) -> FunctionInfo:
        bindings = json.loads(fn.get_function_json())["bindings"]
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None:
            raise DevHostError(f"function {fn.get_function_name()} has no trigger binding")
        others = [b for b in bindings if b is not trigger and b.get("name") != "$return"]
        return cls(fn.get_function_name(), trigger["type"], trigger, fn.get_user_function(), others)


class DevContext(func.Context):
    """The `context` argument the Python worker passes to functions that declare one."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()
        self._local.invocation_id = self._invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class Invoker:
    """Calls user functions: sync ones on the caller's thread, async ones on one shared event loop
    (as the Python worker does, so loop-bound clients cached by the app keep working)."""

    def __init__(self, app_dir: Path) -> None:
        self._app_dir = str(app_dir)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devhost-asyncio", daemon=True)
        self._thread.start()

    def call(self, info: FunctionInfo, trigger_value: Any) -> Any:
        kwargs = {info.arg_name: trigger_value}
        if "context" in inspect.signature(info.callable).parameters and info.arg_name != "context":
            kwargs["context"] = DevContext(info.name, self._app_dir)
        if inspect.iscoroutinefunction(info.callable):
            return asyncio.run_coroutine_threadsafe(info.callable(**kwargs), self._loop).result()
        return info.callable(**kwargs)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=1)


def _timed_call(invoker: Invoker, info: FunctionInfo, value: Any, reason: str) -> None:
    """Invoke a non-HTTP function with the host's Executing/Executed log lines; exceptions propagate."""
    started = time.perf_counter()
    LOG.info("Executing 'Functions.%s' (Reason='%s')", info.name, reason)
    try:
        invoker.call(info, value)
    except Exception:
        LOG.exception("Executed 'Functions.%s' (Failed, Duration=%.0fms)", info.name, _ms_since(started))
        raise
    LOG.info("Executed 'Functions.%s' (Succeeded, Duration=%.0fms)", info.name, _ms_since(started))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# --------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class HttpRoute:
    info: FunctionInfo
    compiled: CompiledRoute
    methods: frozenset[str] | None
    auth_level: str  # "anonymous" | "function" | "admin"

    @classmethod
    def from_function(cls, fn: Any, info: FunctionInfo, prefix: str) -> HttpRoute:
        trigger = fn.get_trigger()
        template = trigger.route or info.name
        methods = frozenset(_binding_value(m).upper() for m in trigger.methods) if trigger.methods else None
        level = _binding_value(trigger.auth_level or "function").lower()
        return cls(info, compile_route(prefix, template), methods, level)

    def url_path(self, prefix: str) -> str:
        return "/" + "/".join(p for p in (prefix, self.compiled.template.strip("/")) if p)


class Keys:
    """The local function and master keys (ADMIN needs the master key; FUNCTION accepts either)."""

    def __init__(self, function_key: str, master_key: str) -> None:
        self._function = function_key.encode()
        self._master = master_key.encode()

    @classmethod
    def from_environ(cls) -> Keys:
        return cls(
            os.environ.get("DEVHOST_FUNCTION_KEY") or DEFAULT_FUNCTION_KEY,
            os.environ.get("DEVHOST_MASTER_KEY") or DEFAULT_MASTER_KEY,
        )

    def allows(self, auth_level: str, presented: str | None) -> bool:
        if auth_level == "anonymous":
            return True
        if not presented:
            return False
        given = presented.encode()
        master_ok = hmac.compare_digest(given, self._master)
        if auth_level == "admin":
            return master_ok
        return hmac.compare_digest(given, self._function) or master_ok


def presented_key(request: Request) -> str | None:
    """The key a caller presented: the x-functions-key header, else the `code` query parameter."""
    return request.headers.get("x-functions-key") or request.args.get("code")


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def log_safe(text: str) -> str:
    """`text` with control characters (and the backslash) escaped, so one request is one log line."""
    return _UNPRINTABLE.sub(lambda m: "\\\\" if m.group() == "\\" else f"\\x{ord(m.group()):02x}", text)


class HttpGateway:
    """WSGI app mapping requests onto HTTP-triggered functions."""

    def __init__(self, routes: list[HttpRoute], keys: Keys, invoker: Invoker) -> None:
        # Most specific first: literal segments beat constrained params beat params beat optionals.
        self._routes = sorted(routes, key=lambda r: r.compiled.precedence)
        self._keys = keys
        self._invoker = invoker

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        response = self.handle(request)
        # Path only: the query string may carry a key in `code`. Escaped: a decoded %0A must not forge a line.
        ACCESS_LOG.info("%s %s %d %.0fms", log_safe(request.method), log_safe(request.path), response.status_code,
                        _ms_since(started))
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        route, params, path_matched = None, None, False
        for candidate in self._routes:
            values = candidate.compiled.match(request.path)
            if values is None:
                continue
            path_matched = True
            if candidate.methods is None or request.method.upper() in candidate.methods:
                route, params = candidate, values
                break
        if route is None:
            return Response(status=405 if path_matched else 404)
        if not self._keys.allows(route.auth_level, presented_key(request)):
            return Response(status=401)
        try:
            result = self._invoker.call(route.info, to_function_request(request, params or {}))
            return to_wsgi_response(result)
        except Exception:
            LOG.exception("Executed 'Functions.%s' (Failed)", route.info.name)
            return Response(status=500)


def to_function_request(request: Request, route_params: dict[str, str]) -> func.HttpRequest:
    return func.HttpRequest(
        request.method,
        request.url,
        headers=dict(request.headers.items()),
        params=request.args.to_dict(),
        route_params=route_params,
        body=request.get_data(),
    )


def to_wsgi_response(result: Any) -> Response:
    """Map what the function returned as the worker does: an HttpResponse, or a str/bytes body (200)."""
    if isinstance(result, (str, bytes)):
        return Response(result, status=200, content_type="text/plain; charset=utf-8")
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"HTTP function returned {type(result).__name__}, not func.HttpResponse")
    headers = dict(result.headers.items())
    if not any(name.lower() == "content-type" for name in headers):
        mimetype = result.mimetype or "text/plain"
        headers["Content-Type"] = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") \
            else mimetype
    return Response(result.get_body() or b"", status=int(result.status_code), headers=headers)


class QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's request log prints the query string (which may hold a key): the host logs its own."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log_error(self, format: str, *args: Any) -> None:
        message = format % args if args else format
        LOG.warning("http: %s", log_safe(re.sub(r"\?[^\s'\"]*", "?…", message)))


# --------------------------------------------------------------------------- queues


def storage_connection(name: str | None) -> str:
    """The connection string a trigger's `connection` names (also tried with the AzureWebJobs prefix)."""
    name = name or DEFAULT_CONNECTION
    for candidate in (name, f"AzureWebJobs{name}"):
        value = os.environ.get(candidate)
        if value:
            return value
    if any(k.startswith(f"{name}__") for k in os.environ):
        raise DevHostError(f"connection {name!r} is identity-based; the dev host needs a connection string")
    raise DevHostError(f"connection setting {name!r} is not set")


def decode_body(content: str | None, encoding: str) -> bytes:
    """The message body the function sees; invalid base64 raises (and so counts as a failure)."""
    text = content or ""
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"message is not valid base64: {exc}") from exc


def to_queue_message(message: Any, body: bytes) -> RuntimeQueueMessage:
    return RuntimeQueueMessage(
        id=message.id,
        body=body,
        pop_receipt=message.pop_receipt,
        dequeue_count=message.dequeue_count,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
    )


class Backoff:
    """Exponential polling delay: 100 ms doubling up to the cap; reset after work was found."""

    def __init__(self, cap: float) -> None:
        self.cap = max(MIN_POLL_SECONDS, cap)
        self._next = MIN_POLL_SECONDS

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = MIN_POLL_SECONDS


class QueueListener:
    """One polling thread per queue trigger, with the host's retry and poison-queue behaviour."""

    def __init__(self, info: FunctionInfo, options: QueueOptions, invoker: Invoker,
                 stop_event: threading.Event) -> None:
        from azure.storage.queue import LinearRetry, QueueClient

        self.info = info
        self.options = options
        self.queue_name = resolve_setting_refs(info.binding["queueName"]).lower()
        self.poison_name = f"{self.queue_name}-poison"
        conn = storage_connection(info.binding.get("connection"))
        # No encode/decode policies: bodies are decoded here, and poison copies keep the original text.
        # Short retries: the SDK's default backoff (15 s and up) would stall polling and shutdown.
        retry = LinearRetry(backoff=0.2, random_jitter_range=0.1, retry_total=2)
        self.client = QueueClient.from_connection_string(conn, self.queue_name, retry_policy=retry)
        self.poison_client = QueueClient.from_connection_string(conn, self.poison_name, retry_policy=retry)
        self._invoker = invoker
        self._stop = stop_event
        self._backoff = Backoff(options.max_polling_interval)
        self._thread = threading.Thread(target=self.run, name=f"devhost-queue-{info.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def run(self) -> None:
        ready = False
        while not self._stop.is_set():
            try:
                if not ready:
                    self.ensure_queues()
                    ready = True
                found = self.poll_once()
            except Exception as exc:  # noqa: BLE001 - storage down or misbehaving: log, retry, never die
                LOG.warning("queue %s: %s: %s; retrying", self.queue_name, type(exc).__name__, exc)
                self._stop.wait(self._backoff.next_delay())
                continue
            if found:
                self._backoff.reset()
            else:
                self._stop.wait(self._backoff.next_delay())

    def ensure_queues(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for client in (self.client, self.poison_client):
            try:
                client.create_queue()
            except ResourceExistsError:
                pass

    def poll_once(self) -> int:
        """Receive one batch and process it concurrently; returns how many messages there were."""
        pages = self.client.receive_messages(
            messages_per_page=self.options.batch_size, visibility_timeout=math.ceil(self.options.processing_visibility)
        ).by_page()
        page = next(pages, None)
        batch = list(page) if page is not None else []
        workers = [threading.Thread(target=self.process, args=(m,), daemon=True) for m in batch]
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive() and not self._stop.is_set():
                worker.join(0.2)
        return len(batch)

    def process(self, message: Any) -> None:
        try:
            if message.dequeue_count > self.options.max_dequeue_count:
                # Already failed too often (e.g. the host died mid-run): straight to poison.
                self.to_poison(message, f"was dequeued {message.dequeue_count} times without completing")
                return
            try:
                body = decode_body(message.content, self.options.message_encoding)
                _timed_call(self._invoker, self.info, to_queue_message(message, body),
                            f"New queue message detected on '{self.queue_name}'")
            except Exception:  # noqa: BLE001 - any failure of the function counts
                self.after_failure(message)
                return
            self.client.delete_message(message.id, message.pop_receipt)
        except Exception as exc:  # noqa: BLE001 - a storage error must not kill the worker
            LOG.warning("queue %s: message %s: %s: %s", self.queue_name, message.id, type(exc).__name__, exc)

    def after_failure(self, message: Any) -> None:
        if message.dequeue_count >= self.options.max_dequeue_count:
            self.to_poison(message, f"failed {message.dequeue_count} times")
        else:
            # The queue service takes whole seconds.
            self.client.update_message(message.id, pop_receipt=message.pop_receipt,
                                       visibility_timeout=math.ceil(self.options.visibility_timeout))

    def to_poison(self, message: Any, why: str) -> None:
        LOG.warning("Message %s %s, reaching MaxDequeueCount of %d; moving it to queue '%s'",
                    message.id, why, self.options.max_dequeue_count, self.poison_name)
        self.poison_client.send_message(message.content or "")
        self.client.delete_message(message.id, message.pop_receipt)


# --------------------------------------------------------------------------- timers


def ncrontab_to_croniter(schedule: str) -> str:
    """NCRONTAB puts seconds first ("sec min hour day month dow"); croniter wants them last."""
    fields = schedule.split()
    if len(fields) == 6:
        return " ".join(fields[1:] + fields[:1])
    if len(fields) == 5:
        return schedule
    raise DevHostError(f"timer schedule needs 6 NCRONTAB fields (sec min hour day month dow): {schedule!r}")


def schedule_timezone() -> tzinfo:
    """UTC, or WEBSITE_TIME_ZONE (IANA name) as on Linux plans."""
    name = os.environ.get("WEBSITE_TIME_ZONE")
    if not name:
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DevHostError(f"WEBSITE_TIME_ZONE={name!r} is not an IANA time zone") from exc


class Schedule:
    """Next occurrence of an NCRONTAB expression, or of a TimeSpan interval ("hh:mm:ss")."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._interval: float | None = None
        self._cron: str | None = None
        if ":" in expression and len(expression.split()) == 1:
            self._interval = parse_timespan(expression, 0.0)
            if self._interval <= 0:
                raise DevHostError(f"timer interval must be positive: {expression!r}")
        else:
            from croniter import croniter

            self._cron = ncrontab_to_croniter(expression)
            if not croniter.is_valid(self._cron):
                raise DevHostError(f"invalid timer schedule: {expression!r}")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + timedelta(seconds=self._interval)
        from croniter import croniter

        return croniter(self._cron, moment).get_next(datetime)


class TimerRunner:
    """One thread per timer trigger; runs never overlap and missed occurrences are not replayed."""

    PAST_DUE_AFTER = timedelta(seconds=1)

    def __init__(self, info: FunctionInfo, invoker: Invoker, stop_event: threading.Event) -> None:
        self.info = info
        self.schedule = Schedule(resolve_setting_refs(str(info.binding["schedule"])))
        self.run_on_startup = bool(info.binding.get("runOnStartup"))
        self._tz = schedule_timezone()
        self._invoker = invoker
        self._stop = stop_event
        self._last: datetime | None = None
        self._thread = threading.Thread(target=self.run, name=f"devhost-timer-{info.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def run(self) -> None:
        if self.run_on_startup:
            self.fire(datetime.now(self._tz), reason="RunOnStartup")
        while not self._stop.is_set():
            due = self.schedule.next_after(datetime.now(self._tz))
            if not self._sleep_until(due):
                return
            self.fire(due, reason="Timer fired")

    def _sleep_until(self, due: datetime) -> bool:
        """False when stopped first."""
        while not self._stop.is_set():
            remaining = (due - datetime.now(self._tz)).total_seconds()
            if remaining <= 0:
                return True
            self._stop.wait(min(remaining, 60))
        return False

    def fire(self, due: datetime, reason: str) -> None:
        now = datetime.now(self._tz)
        request = TimerRequest(
            past_due=now - due > self.PAST_DUE_AFTER,
            schedule_status={
                "Last": self._last.isoformat() if self._last else None,
                "Next": self.schedule.next_after(now).isoformat(),
                "LastUpdated": now.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        self._last = now
        try:
            _timed_call(self._invoker, self.info, request, reason)
        except Exception:  # noqa: BLE001 - the timer keeps running
            LOG.debug("timer %s failed; already logged", self.info.name)


# --------------------------------------------------------------------------- the host


def load_app(app_dir: Path) -> Any:
    """Import <app_dir>/function_app.py and return its FunctionApp (`app`, as the worker expects)."""
    app_dir = app_dir.resolve()
    if not (app_dir / "function_app.py").is_file():
        raise DevHostError(f"{app_dir / 'function_app.py'} does not exist")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    loaded = sys.modules.get("function_app")
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve().parent != app_dir:
        raise DevHostError(f"another function_app module is already imported: {loaded.__file__}")
    module = importlib.import_module("function_app")
    app = getattr(module, "app", None)
    if app is None:
        app = next((v for v in vars(module).values() if isinstance(v, func.FunctionRegister)), None)
    if app is None:
        raise DevHostError("function_app.py defines no FunctionApp named `app`")
    return app


def install_test_clock(path: str) -> None:
    """DEVHOST_CLOCK_FILE (tests only): the app's clock reads the instant from that file, through the app's
    `shared.clock.install_test_clock`, which refuses when the process runs in Azure."""
    try:
        clock = importlib.import_module("shared.clock")
        clock.install_test_clock(clock.FileClock(path))
    except (ImportError, AttributeError, RuntimeError) as exc:
        raise DevHostError(f"DEVHOST_CLOCK_FILE: {exc}") from exc


def run_check(spec: str) -> None:
    """Run the MODULE:CALLABLE configuration check; any exception becomes ConfigCheckError."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise DevHostError(f"--check must be MODULE:CALLABLE, got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        target()
    except Exception as exc:
        raise ConfigCheckError(f"configuration check {spec} failed: {exc}") from exc


class DevHost:
    """The whole host: `load()` imports and indexes the app, `start()` serves, `stop()` shuts down."""

    def __init__(self, app_dir: str | Path = ".", host: str = "127.0.0.1", port: int = 7071,
                 check: str | None = None, out: TextIO | None = None) -> None:
        if not is_loopback(host):
            raise DevHostError(f"refusing to listen on non-loopback host {host!r}")
        self.app_dir = Path(app_dir).resolve()
        self.host = host
        self.port = port
        self.check = check
        self.out = out or sys.stdout
        self.host_json: dict[str, Any] = {}
        self.prefix = "api"
        self.http_routes: list[HttpRoute] = []
        self.queue_functions: list[FunctionInfo] = []
        self.timer_functions: list[FunctionInfo] = []
        self._stop_event = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._workers: list[QueueListener | TimerRunner] = []
        self._invoker: Invoker | None = None
        self._loaded = False

    @property
    def url(self) -> str:
        port = self._server.server_port if self._server else self.port
        return f"http://{self.host}:{port}"

    def load(self) -> None:
        """Settings, import, index (get_functions once), then the configuration check."""
        load_local_settings(self.app_dir)
        self.host_json = read_host_json(self.app_dir)
        self.prefix = route_prefix(self.host_json)
        app = load_app(self.app_dir)
        if os.environ.get("DEVHOST_CLOCK_FILE"):
            install_test_clock(os.environ["DEVHOST_CLOCK_FILE"])
        for fn in app.get_functions():
            info = FunctionInfo.from_function(fn)
            self._check_signature(info)
            if info.trigger_type == "httpTrigger":
                self.http_routes.append(HttpRoute.from_function(fn, info, self.prefix))
            elif info.trigger_type == "queueTrigger":
                self.queue_functions.append(info)
            elif info.trigger_type == "timerTrigger":
                self.timer_functions.append(info)
            else:
                LOG.warning("function %s: %s is not supported by the dev host; skipped", info.name,
                            info.trigger_type)
        if self.check:
            run_check(self.check)
        self._loaded = True

    @staticmethod
    def _check_signature(info: FunctionInfo) -> None:
        """The worker refuses a function whose trigger binding name is not one of its parameters."""
        params = inspect.signature(info.callable).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if info.arg_name not in params and not takes_kwargs:
            raise DevHostError(f"function {info.name}: trigger binding {info.arg_name!r} is not a parameter "
                               f"of {info.callable.__name__}{inspect.signature(info.callable)}")
        for binding in info.other_bindings:
            LOG.warning("function %s: %s binding %r is not supported by the dev host", info.name,
                        binding.get("type"), binding.get("name"))

    def start(self) -> None:
        if not self._loaded:
            self.load()
        self._invoker = Invoker(self.app_dir)
        gateway = HttpGateway(self.http_routes, Keys.from_environ(), self._invoker)
        self._server = make_server(self.host, self.port, gateway, threaded=True,
                                   request_handler=QuietRequestHandler)
        self._workers = self._build_workers()
        self.print_functions()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="devhost-http", daemon=True
        )
        self._server_thread.start()
        for worker in self._workers:
            worker.start()
        print("Host started", file=self.out, flush=True)

    def _build_workers(self) -> list[QueueListener | TimerRunner]:
        assert self._invoker is not None
        workers: list[QueueListener | TimerRunner] = []
        options = QueueOptions.from_host_json(self.host_json)
        for info in self.queue_functions:
            try:
                workers.append(QueueListener(info, options, self._invoker, self._stop_event))
            except DevHostError as exc:  # as the host does: this function is in error, the rest run
                LOG.error("function %s is disabled: %s", info.name, exc)
        for info in self.timer_functions:
            try:
                workers.append(TimerRunner(info, self._invoker, self._stop_event))
            except DevHostError as exc:
                LOG.error("function %s is disabled: %s", info.name, exc)
        return workers

    def print_functions(self) -> None:
        lines = ["", "Functions:", ""]
        for route in self.http_routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "ALL"
            lines.append(f"        {route.info.name}: [{methods}] {self.url}{route.url_path(self.prefix)}"
                         f"  (auth: {route.auth_level})")
        for worker in self._workers:
            if isinstance(worker, QueueListener):
                lines.append(f"        {worker.info.name}: queueTrigger (queue '{worker.queue_name}', "
                             f"poison '{worker.poison_name}')")
            else:
                startup = ", runOnStartup" if worker.run_on_startup else ""
                lines.append(f"        {worker.info.name}: timerTrigger "
                             f"(schedule '{worker.schedule.expression}'{startup})")
        print("\n".join(lines) + "\n", file=self.out, flush=True)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and polling; running functions are not waited for beyond `timeout`."""
        self._stop_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if self._invoker is not None:
            self._invoker.close()


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the function app locally (stands in for func start).")
    parser.add_argument("--app-dir", default=".", help="folder holding function_app.py and host.json")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--check", metavar="MODULE:CALLABLE",
                        help="callable run before serving; if it raises, exit with status 2")
    return parser.parse_args(argv)


def configure_logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[%(asctime)s] %(message)s")
    # The SDKs log every HTTP call at INFO.
    logging.getLogger("azure").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_loopback(args.host):
        print(f"devhost: refusing to listen on non-loopback host {args.host!r}", file=sys.stderr)
        return 2
    configure_logging()
    app_dir = Path(args.app_dir).resolve()
    os.chdir(app_dir)  # the worker runs with the app root as its working directory
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    host = DevHost(app_dir, args.host, args.port, args.check)
    try:
        host.start()
    except ConfigCheckError as exc:
        print(f"devhost: {exc}", file=sys.stderr, flush=True)
        return 2
    except DevHostError as exc:
        print(f"devhost: {exc}", file=sys.stderr, flush=True)
        return 1
    while not stopping.wait(0.5):
        pass
    print("Stopping host", file=sys.stderr, flush=True)
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
