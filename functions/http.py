"""HTTP mapping shared by every HTTP trigger: JSON responses, RFC 9457 problems, and one guard that
turns any error into a safe answer (no stack trace or library text ever reaches a client)."""
from __future__ import annotations

import functools
import json
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import azure.functions as func
from opentelemetry import trace

from shared.clients import request_budget
from shared.kernel import signals
from shared.kernel.errors import ConfigError, CryptoError, Misconfigured, TwostepError, crypto_problem
from shared.kernel.validation import MAX_BODY_BYTES, check_fields, parse_json_body

from .openapi import request_fields
from .tracing import invocation

log = logging.getLogger("twostep.http")
JSON = "application/json"
PROBLEM = "application/problem+json"
_NO_STORE = {"Cache-Control": "no-store"}


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> func.HttpResponse:
    all_headers = {**_NO_STORE, **(headers or {})}
    if body is None:
        return func.HttpResponse(status_code=status, headers=all_headers)
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=JSON, headers=all_headers)


def problem(error: TwostepError) -> func.HttpResponse:
    headers = {**_NO_STORE, **error.headers()}
    return func.HttpResponse(json.dumps(error.problem()), status_code=error.status, mimetype=PROBLEM,
                             headers=headers)


def json_body(req: func.HttpRequest, required: bool = True, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's JSON object, held to its operation's body schema in functions/openapi.json: an unknown
    or a missing member is a 400 naming it (`field`) before any route reads it (functions/openapi.py)."""
    body = parse_json_body(req.get_body(), required=required, limit=limit)
    fields = request_fields(req.method, req.url)
    if fields is not None:
        check_fields(body, fields)
    return body


def idempotency_key(req: func.HttpRequest) -> str | None:
    return req.headers.get("idempotency-key")


def endpoint(fn: Callable[..., func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    @invocation("http", fn.__name__)
    @functools.wraps(fn)
    def guarded(req: func.HttpRequest) -> func.HttpResponse:
        return reported(fn.__name__, _answer(fn, req))

    return guarded


def _answer(fn: Callable[..., func.HttpResponse], req: func.HttpRequest) -> func.HttpResponse:
    try:
        with request_budget():  # all Storage calls of this request end inside functionTimeout (Q5)
            return fn(req)
    except TwostepError as error:
        return problem(error)
    except CryptoError as error:  # already logged as crypto_failure; the client sees a generic 503
        return problem(crypto_problem(error))
    except ConfigError as error:
        log.critical("twostep refuses to serve: %s", error)
        return problem(Misconfigured())
    except Exception:  # noqa: BLE001 - the last line of defence: log it, answer generically
        log.exception("unhandled error in %s", fn.__name__)
        return problem(TwostepError())


def reported(function: str, response: func.HttpResponse) -> func.HttpResponse:
    """Every 5xx answer is one `twostep.http.5xx` log line: the host records these executions as
    successful, so this line is what the 5xx alert counts. A refusal's problem code goes on the
    invocation's span (functions/tracing.py)."""
    if response.status_code >= 400:
        trace.get_current_span().set_attribute("twostep.problem", _problem_code(response))
    if response.status_code >= 500:
        signals.http_5xx(log, function, response.status_code, _problem_code(response))
    return response


def _problem_code(response: func.HttpResponse) -> str:
    if response.mimetype != PROBLEM:
        return "none"
    try:
        code = json.loads(response.get_body()).get("code")
    except (ValueError, AttributeError):
        return "unreadable"
    return code if isinstance(code, str) else "none"


def location(req: func.HttpRequest, resource_id: str) -> dict[str, str]:
    """The `Location` of a resource created under the route this request came to: the request's path
    (never its query, which may carry the function key) plus the new id, so no route is spelled twice."""
    return {"Location": f"{urllib.parse.urlsplit(req.url).path.rstrip('/')}/{resource_id}"}


def route_param(req: func.HttpRequest, name: str) -> str:
    return req.route_params.get(name) or ""
