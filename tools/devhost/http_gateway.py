"""The WSGI gateway: route matching, auth levels and keys, request/response conversion, a quiet access log that
escapes what it prints.

Named http_gateway, not http, so it can never shadow the standard library's `http`."""

from __future__ import annotations

import hmac
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from shared.kernel.errors import MethodNotAllowed, NotFound, TwostepError, Unauthorized

from .config import ACCESS_LOG, DEFAULT_FUNCTION_KEY, DEFAULT_MASTER_KEY, LOG
from .functions import FunctionInfo, Invoker, binding_value, ms_since
from .routes import CompiledRoute, compile_route

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
        methods = frozenset(binding_value(m).upper() for m in trigger.methods) if trigger.methods else None
        level = binding_value(trigger.auth_level or "function").lower()
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
                        ms_since(started))
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        route, params, allowed = None, None, set()
        for candidate in self._routes:
            values = candidate.compiled.match(request.path)
            if values is None:
                continue
            allowed |= candidate.methods or set()
            if candidate.methods is None or request.method.upper() in candidate.methods:
                route, params = candidate, values
                break
        if route is None:  # RFC 9110: a 405 lists the methods the path does take
            if allowed:
                methods = ", ".join(sorted(allowed))
                return problem(MethodNotAllowed(f"This route takes {methods}."), {"Allow": methods})
            return problem(NotFound("No route matches this path."))
        if not self._keys.allows(route.auth_level, presented_key(request)):
            needs = "the host's master key (admin routes)" if route.auth_level == "admin" \
                else "a function key (x-functions-key header or code query)"
            return problem(Unauthorized(f"This route needs {needs}."))
        try:
            result = self._invoker.call(route.info, to_function_request(request, params or {}))
            return to_wsgi_response(result)
        except Exception:  # noqa: BLE001 - logged with its traceback (LOG.exception), answered 500
            LOG.exception("Executed 'Functions.%s' (Failed)", route.info.name)
            return Response(status=500)


def problem(error: TwostepError, headers: dict[str, str] | None = None) -> Response:
    """The dev host's own refusals as problem+json, so a newcomer reads what to fix (the Azure host's differ:
    README, "Errors")."""
    return Response(json.dumps(error.problem()), status=error.status, headers=headers,
                    content_type="application/problem+json")


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
