"""Settings the real host reads: local.settings.json, host.json (timespans, queue options, route prefix), %NAME%
references; the host's errors and logger."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
