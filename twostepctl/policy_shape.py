"""A local check of a policy document's shape for `policy validate` / `policy set`.

The service has no dry-run route, so this checks what does not depend on the deployment: JSON, known
fields, types, the risk table, ranges that parse. Numeric bounds and list limits come from the service's
settings; the service checks them (400 with `field`) when the document is set, and nothing changes then.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Any

RISK_LEVELS = ("none", "low", "medium", "high")
RISK_ACTIONS = ("allow_skip", "require_mfa", "block")
LOCKOUT = ("threshold", "resetMinutes", "lockMinutes")
NUMBERS = ("rememberDeviceDays", "bypassMaxSeconds", "fraudBlockDays", "codeTtlSeconds", "maxAttempts")
FIELDS = ("trustedNetworks", "excludedGroups", "risk", "lockout", "passkeyProfiles", *NUMBERS)

Problem = tuple[str, str]  # (field, detail), as the service's problem `field` names it


def check_text(text: str) -> tuple[Any, list[Problem]]:
    try:
        doc = json.loads(text)
    except ValueError as error:
        return None, [("", f"not JSON: {error}")]
    return doc, check(doc)


def check(doc: Any) -> list[Problem]:
    if not isinstance(doc, dict) or not doc:
        return [("", "must be a non-empty JSON object of policy fields")]
    problems = [(key, "is not a policy field") for key in doc if key not in FIELDS]
    if "trustedNetworks" in doc:
        problems += _networks(doc["trustedNetworks"])
    if "excludedGroups" in doc and not _strings(doc["excludedGroups"]):
        problems.append(("excludedGroups", "must be a list of group names"))
    if "risk" in doc:
        problems += _risk(doc["risk"])
    if "passkeyProfiles" in doc and not isinstance(doc["passkeyProfiles"], dict):
        problems.append(("passkeyProfiles", "must be an object: {default?, groups?}"))  # the service checks the rest
    if "lockout" in doc:
        lockout = doc["lockout"]
        if not isinstance(lockout, dict) or sorted(lockout) != sorted(LOCKOUT):
            problems.append(("lockout", "must give threshold, resetMinutes and lockMinutes"))
        else:
            problems += [(f"lockout.{k}", "must be a whole number") for k in LOCKOUT if not _whole(lockout[k])]
    problems += [(k, "must be a whole number") for k in NUMBERS if k in doc and not _whole(doc[k])]
    return problems


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _risk(value: Any) -> list[Problem]:
    if not isinstance(value, dict) or sorted(value) != sorted(RISK_LEVELS):
        return [("risk", "must give an action for each of none, low, medium, high")]
    return [(f"risk.{k}", "must be allow_skip, require_mfa or block") for k, v in value.items()
            if v not in RISK_ACTIONS]


def _networks(value: Any) -> list[Problem]:
    if not isinstance(value, list):
        return [("trustedNetworks", "must be a list of named locations")]
    problems: list[Problem] = []
    names: set[str] = set()
    for i, location in enumerate(value):
        path = f"trustedNetworks[{i}]"
        if not isinstance(location, dict) or sorted(location) != ["cidrs", "name"]:
            problems.append((path, 'must be {"name": ..., "cidrs": [...]}'))
            continue
        name = location["name"]
        if not isinstance(name, str) or not name or name in names:
            problems.append((f"{path}.name", "must be a unique, non-empty name"))
        names.add(str(name))
        if not _strings(location["cidrs"]) or not location["cidrs"]:
            problems.append((f"{path}.cidrs", "must be a non-empty list of ranges"))
            continue
        for j, cidr in enumerate(location["cidrs"]):
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                problems.append((f"{path}.cidrs[{j}]", "must be an IPv4 or IPv6 range such as 203.0.113.0/24"))
    return problems
