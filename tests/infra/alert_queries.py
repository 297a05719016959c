"""The log alerts of infra/modules/alerts.bicep, and a small evaluator for the KQL they use.

The evaluator understands exactly the subset the alerts are written in — `<table> | where <p> and <p> ...`
with `message startswith "..."`, `success == false` and `severityLevel >= N` — and refuses anything else, so
an alert cannot drift into a query these tests cannot check. `trace_rows` turns Python log records into the
`traces` rows the Functions host writes for them (message text, severity 0-4).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from tests.infra.bicep_model import Infra, Param, Template, accessor

_QUERY = re.compile(r"^\s*(?P<table>traces|requests)\s*\|\s*where\s+(?P<where>.+?)\s*$")
_PREDICATES = [
    (re.compile(r'^message startswith "(?P<value>[^"]+)"$'), "prefix"),
    (re.compile(r"^success == (?P<value>true|false)$"), "success"),
    (re.compile(r"^severityLevel >= (?P<value>[0-4])$"), "severity"),
]
# Application Insights severityLevel of a Python log level, as the host maps the worker's log levels.
SEVERITY = {logging.DEBUG: 0, logging.INFO: 1, logging.WARNING: 2, logging.ERROR: 3, logging.CRITICAL: 4}


@dataclass(frozen=True)
class Query:
    table: str
    predicates: tuple[tuple[str, str], ...]

    @property
    def prefix(self) -> str | None:
        return next((value for kind, value in self.predicates if kind == "prefix"), None)

    def matches(self, row: dict[str, Any]) -> bool:
        for kind, value in self.predicates:
            if kind == "prefix" and not str(row.get("message", "")).lower().startswith(value.lower()):
                return False  # KQL startswith is case-insensitive
            if kind == "success" and row.get("success") is not (value == "true"):
                return False
            if kind == "severity" and row.get("severityLevel", -1) < int(value):
                return False
        return True


def parse(text: str) -> Query:
    match = _QUERY.match(text)
    assert match, f"alert query outside the evaluable subset: {text!r}"
    predicates = []
    for part in re.split(r"\s+and\s+", match["where"]):
        for pattern, kind in _PREDICATES:
            found = pattern.match(part.strip())
            if found:
                predicates.append((kind, found["value"]))
                break
        else:
            raise AssertionError(f"predicate outside the evaluable subset: {part!r} in {text!r}")
    return Query(match["table"], tuple(predicates))


def trace_rows(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    return [{"message": r.getMessage(), "severityLevel": SEVERITY.get(r.levelno, 1)} for r in records]


def log_alerts(inf: Infra) -> dict[str, dict[str, Any]]:
    """key -> the alert's entry in `logAlerts` (query text, threshold as int or Param, ...)."""
    alerts = inf.instance("modules/alerts.bicep")
    rule = Template.body(alerts.template.resources["logAlert"])
    loop = alerts.template.resources["logAlert"]["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "logAlerts", "the scheduled query rules are made from logAlerts"
    criteria = rule["properties"]["criteria"]["allOf"][0]
    item = loop["item_name"]
    assert accessor(criteria["query"]) == (item, "query"), "each rule runs its own entry's query"
    assert accessor(criteria["threshold"]) == (item, "threshold"), "each rule has its own entry's threshold"
    return {entry["key"]: entry for entry in alerts.symbol("logAlerts")}


def threshold(entry: dict[str, Any]) -> int:
    value = entry["threshold"]
    return value.default if isinstance(value, Param) else value
