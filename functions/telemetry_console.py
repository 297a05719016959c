"""`MFA_TELEMETRY=console` (make run): the metrics every few seconds and one line per span of an invocation,
on the console. Imported only in that mode, like the Azure exporter in the other."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from azure.core.settings import settings
from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult

from .tracing import TRIGGER


class InvocationsOnly(Sampler):
    """Start a trace only at an invocation span: the dev host's own queue polling (every 2 s) goes through
    the Storage SDK as well and would otherwise print a span each time."""

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Mapping[str, Any] | None = None, links: Sequence[Any] | None = None,
                      trace_state: Any = None) -> SamplingResult:
        wanted = bool(attributes and TRIGGER in attributes)
        return SamplingResult(Decision.RECORD_AND_SAMPLE if wanted else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "twostep invocations only"


def one_line(span: ReadableSpan) -> str:
    """`span <name> <ms> ms` indented under its invocation: readable among the host's log lines."""
    millis = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    indent = "  " if span.parent is not None else ""
    status = span.attributes.get("http.response.status_code", "") if span.attributes else ""
    return f"{indent}span {span.name} {millis:.1f} ms {status}".rstrip() + "\n"


def install(extra: Any, interval_millis: int, logger: str) -> None:
    """Metrics every `interval_millis`, spans of invocations, and logs to `extra.logs` only when given (the
    console shows the log lines already)."""
    reader = extra.metrics or PeriodicExportingMetricReader(ConsoleMetricExporter(),
                                                            export_interval_millis=interval_millis)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    tracer = TracerProvider(sampler=ParentBased(root=InvocationsOnly()))
    tracer.add_span_processor(SimpleSpanProcessor(extra.spans or ConsoleSpanExporter(formatter=one_line)))
    trace.set_tracer_provider(tracer)
    settings.tracing_implementation = OpenTelemetrySpan  # what the distro's azure_sdk option does
    if extra.logs:
        provider = LoggerProvider()
        provider.add_log_record_processor(SimpleLogRecordProcessor(extra.logs))
        set_logger_provider(provider)
        logging.getLogger(logger).addHandler(LoggingHandler(logger_provider=provider))
