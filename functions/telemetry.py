"""Where telemetry is exported, decided once at start-up: the app's one configuration path.

The app itself calls `configure_azure_monitor()` when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set (the
worker's own `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` is never set: both at once export everything
twice). `MFA_TELEMETRY=off` turns it off; `MFA_TELEMETRY=console` prints the metrics and one line per span
locally instead. The exporter (≈ 12 MB, ≈ 0.5 s of import) is imported only when configured, and its
"statsbeat" usage reports to Microsoft are off unless `APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL` says
otherwise.

Traces: each trigger opens a span (functions/tracing.py); the Azure SDKs (Tables, Queues, the ACS SMS
client) trace their calls as its children through azure-core's OpenTelemetry plugin, which the distro's
`azure_sdk` instrumentation switches on (asked for by name below, so no default can drop it), and the
webhook's POST through the distro's requests instrumentation. Logs: the `twostep` logger's records
go out with their `extra=` fields as attributes (shared/kernel/telemetry.py's decision lines).

`sinks` adds exporters of the caller's (tests: in memory) to whichever path is chosen, the same way.
"""
from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from shared.kernel import signals

STATSBEAT_OFF = "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"
CONSOLE_EXPORT_MILLIS = 10_000
LOGGER = "twostep"  # every module logs under twostep.*: the one logger whose records are exported
INSTRUMENTATION = {"azure_sdk": {"enabled": True}}  # Storage and ACS dependency spans (azure-core tracing)


@dataclass
class Sinks:
    """Extra exporters: a span exporter, a log record exporter, a metric reader (any may be None)."""

    spans: Any = None
    logs: Any = None
    metrics: Any = None


def mode(env: MutableMapping[str, str]) -> str:
    """"console", "azure" or "off", from `MFA_TELEMETRY` and the connection string: "azure" (infra's
    default) or unset exports only when a connection string is there to export to."""
    wanted = env.get("MFA_TELEMETRY", "").strip().lower()
    if wanted in ("off", "console"):
        return wanted
    return "azure" if env.get("APPLICATIONINSIGHTS_CONNECTION_STRING") else "off"


def configure(env: MutableMapping[str, str] = os.environ, interval_millis: int = CONSOLE_EXPORT_MILLIS,
              sinks: Sinks | None = None) -> str:
    """Install the exporters `mode` names (once per process); returns the mode."""
    chosen = mode(env)
    extra = sinks or Sinks()
    if chosen == "azure":
        env.setdefault(STATSBEAT_OFF, "true")  # read by the exporter when it starts: set before
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        configure_azure_monitor(
            logger_name=LOGGER, instrumentation_options=INSTRUMENTATION,
            span_processors=[SimpleSpanProcessor(extra.spans)] if extra.spans else [],
            log_record_processors=[SimpleLogRecordProcessor(extra.logs)] if extra.logs else [],
            metric_readers=[extra.metrics] if extra.metrics else [])
        leave_alert_lines_to_the_host(logging.getLogger(LOGGER))
    elif chosen == "console":
        from .telemetry_console import install
        install(extra, interval_millis, LOGGER)
    return chosen



def leave_alert_lines_to_the_host(logger: logging.Logger) -> None:
    """The Functions host already sends every log line's text to `traces`, where the alerts count the
    signal lines (shared/kernel/signals.py); the exporter's handler skips those, so no alert counts one
    event twice. Every other line (the decision lines) goes out with its attributes as well."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler

    def not_a_signal(record: logging.LogRecord) -> bool:
        return getattr(record, "event", None) not in signals.ALL

    for handler in logger.handlers:
        if isinstance(handler, LoggingHandler):
            handler.addFilter(not_a_signal)
