"""Where telemetry is exported, decided once at start-up: the app's one configuration path.

The app itself calls `configure_azure_monitor()` when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set (the
worker's own `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` is never set: both at once export everything
twice). `MFA_TELEMETRY=off` turns it off; `MFA_TELEMETRY=console` prints the metrics locally instead. The
exporter (≈ 12 MB, ≈ 0.5 s of import) is imported only when configured, and its "statsbeat" usage reports
to Microsoft are off unless `APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL` says otherwise.
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping

STATSBEAT_OFF = "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"
CONSOLE_EXPORT_MILLIS = 10_000


def mode(env: MutableMapping[str, str]) -> str:
    """"console", "azure" or "off", from `MFA_TELEMETRY` and the connection string."""
    wanted = env.get("MFA_TELEMETRY", "").strip().lower()
    if wanted in ("off", "console"):
        return wanted
    return "azure" if env.get("APPLICATIONINSIGHTS_CONNECTION_STRING") else "off"


def configure(env: MutableMapping[str, str] = os.environ, interval_millis: int = CONSOLE_EXPORT_MILLIS) -> str:
    """Install the exporters `mode` names (once per process); returns the mode."""
    chosen = mode(env)
    if chosen == "azure":
        env.setdefault(STATSBEAT_OFF, "true")  # read by the exporter when it starts: set before
        from azure.monitor.opentelemetry import configure_azure_monitor
        configure_azure_monitor(logger_name="twostep")
    elif chosen == "console":
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
        reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=interval_millis)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return chosen
