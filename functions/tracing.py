"""One span per function invocation, the parent of the Storage, ACS and webhook dependency spans it makes.

The Azure Monitor distro has no Functions instrumentation, and the host's own record of an execution (its
`requests` row) is not a parent the worker's spans can join without the worker's OpenTelemetry mode, which
this app does not use (functions/telemetry.py). So each trigger opens its own span, named after the
function. It is INTERNAL, not SERVER: Application Insights keeps it with the dependencies instead of
writing a second `requests` row per execution beside the host's (the failures alert counts those rows).
The span carries the trigger type, an HTTP answer's status (functions/http.py adds its problem code),
or a failure's exception type: never a request body, a header, an exception's text or anything else a caller sent.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

TRIGGER = "faas.trigger"  # OpenTelemetry's FaaS convention: http, pubsub (a queue), timer
FUNCTION = "twostep.function"
_MARK = "__twostep_traced__"
_tracer = trace.get_tracer("twostep")
F = TypeVar("F", bound=Callable[..., Any])


def invocation(trigger: str, name: str | None = None) -> Callable[[F], F]:
    """Run the decorated trigger inside a span named after it (or `name`)."""

    def decorate(fn: F) -> F:
        span_name = name or fn.__name__

        @functools.wraps(fn)
        def traced(*args: Any, **kwargs: Any) -> Any:
            attributes = {TRIGGER: trigger, FUNCTION: span_name}
            with _tracer.start_as_current_span(span_name, kind=SpanKind.INTERNAL, attributes=attributes,
                                               record_exception=False, set_status_on_exception=False) as span:
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    span.set_attribute("error.type", type(exc).__name__)
                    span.set_status(Status(StatusCode.ERROR))
                    raise
                _describe(span, result)
                return result

        setattr(traced, _MARK, True)
        return traced  # type: ignore[return-value]  # functools.wraps keeps the signature the worker binds by

    return decorate


def is_traced(fn: Any) -> bool:
    """Whether `fn` (a function app's user function) opens an invocation span."""
    return getattr(fn, _MARK, False) is True


def _describe(span: Span, result: Any) -> None:
    status = getattr(result, "status_code", None)
    if not isinstance(status, int):
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
