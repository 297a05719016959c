"""The sign-in policy document (Azure MFA's model): trusted networks, excluded groups, risk actions,
remembered devices, and the live-editable knobs whose defaults and hard bounds come from settings.

A document is validated whole before it is stored; an invalid one names the field and changes nothing.
PATCH replaces the top-level keys it names (nested objects are given whole).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..kernel.errors import InvalidRequest
from ..settings import BOUNDS, Settings
from . import lockout
from .networks import NetworkSet
from .passkey_profile import parse_profiles

RISK_LEVELS = ("none", "low", "medium", "high")
RISK_ACTIONS = ("allow_skip", "require_mfa", "block")
DEFAULT_RISK = {"none": "allow_skip", "low": "allow_skip", "medium": "require_mfa", "high": "block"}
MAX_LOCATIONS, MAX_RANGES, MAX_GROUPS = 195, 2000, 500
GROUP_RE = re.compile(r"[A-Za-z0-9._@+\- ]{1,128}")
_NAME_RE = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,128}")

# document key -> (attribute, settings field whose bounds apply)
KNOBS = {
    "bypassMaxSeconds": ("bypass_max_seconds", "bypass_max_seconds"),
    "fraudBlockDays": ("fraud_block_days", "fraud_block_days"),
    "codeTtlSeconds": ("code_ttl_seconds", "code_ttl_seconds"),
    "maxAttempts": ("max_attempts", "max_attempts"),
}
LOCKOUT = lockout.KNOBS  # the lockout rule and its knobs' defaults: lockout.py


def _default(attr: str) -> int:
    return BOUNDS[attr][1]  # every knob's default is its setting's (settings.BOUNDS)


@dataclass(frozen=True)
class Policy:
    trusted_networks: tuple[dict[str, Any], ...] = ()
    excluded_groups: tuple[str, ...] = ()
    risk: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RISK))
    remember_device_days: int = 0
    lockout_threshold: int = lockout.DEFAULT_THRESHOLD
    lockout_reset_minutes: int = lockout.DEFAULT_RESET_MINUTES
    lockout_minutes: int = lockout.DEFAULT_LOCK_MINUTES
    bypass_max_seconds: int = _default("bypass_max_seconds")
    fraud_block_days: int = _default("fraud_block_days")
    code_ttl_seconds: int = _default("code_ttl_seconds")
    max_attempts: int = _default("max_attempts")
    passkey_profiles: dict[str, Any] = field(default_factory=dict)  # W7: passkey_profile.parse_profiles

    @cached_property
    def networks(self) -> NetworkSet:
        return NetworkSet(cidr for location in self.trusted_networks for cidr in location["cidrs"])

    def to_doc(self) -> dict[str, Any]:
        return {
            "trustedNetworks": [dict(n) for n in self.trusted_networks],
            "excludedGroups": list(self.excluded_groups),
            "risk": dict(self.risk),
            "rememberDeviceDays": self.remember_device_days,
            "lockout": {k: getattr(self, attr) for k, attr in LOCKOUT.items()},
            **{k: getattr(self, attr) for k, (attr, _) in KNOBS.items()},
            "passkeyProfiles": dict(self.passkey_profiles),
        }


def defaults(settings: Settings) -> Policy:
    return Policy(
        lockout_threshold=settings.lockout_threshold, lockout_reset_minutes=settings.lockout_reset_minutes,
        lockout_minutes=settings.lockout_minutes, bypass_max_seconds=settings.bypass_max_seconds,
        fraud_block_days=settings.fraud_block_days, code_ttl_seconds=settings.code_ttl_seconds,
        max_attempts=settings.max_attempts,
    )


def _bad(path: str, detail: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {detail}", field=path)


def _int(value: Any, path: str, settings_field: str) -> int:
    _, _, low, high = BOUNDS[settings_field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(path, f"must be a whole number from {low} to {high}")
    return value


def _networks(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list) or len(value) > MAX_LOCATIONS:
        raise _bad("trustedNetworks", f"must be a list of at most {MAX_LOCATIONS} named locations")
    names: set[str] = set()
    out = []
    for i, location in enumerate(value):
        path = f"trustedNetworks[{i}]"
        if not isinstance(location, dict) or set(location) != {"name", "cidrs"}:
            raise _bad(path, 'must be {"name": ..., "cidrs": [...]}')
        name, cidrs = location["name"], location["cidrs"]
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in names:
            raise _bad(f"{path}.name", "must be a unique name of 1-128 characters")
        names.add(name)
        if not isinstance(cidrs, list) or not 1 <= len(cidrs) <= MAX_RANGES:
            raise _bad(f"{path}.cidrs", f"must list 1 to {MAX_RANGES} ranges")
        canonical = []
        for j, cidr in enumerate(cidrs):
            try:
                network = ipaddress.ip_network(cidr, strict=True) if isinstance(cidr, str) else None
            except ValueError:
                network = None
            if network is None:
                raise _bad(f"{path}.cidrs[{j}]", "must be an IPv4 or IPv6 range such as 203.0.113.0/24")
            if network.prefixlen <= 8:
                raise _bad(f"{path}.cidrs[{j}]", "masks must be longer than /8")
            canonical.append(str(network))  # parsed once: a maximum policy has 390,000 ranges
        out.append({"name": name, "cidrs": canonical})
    return tuple(out)


def _groups(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_GROUPS or not all(
            isinstance(g, str) and GROUP_RE.fullmatch(g) for g in value):
        raise _bad("excludedGroups", f"must be a list of at most {MAX_GROUPS} group names (1-128 characters)")
    return tuple(dict.fromkeys(value))


def _risk(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(RISK_LEVELS):
        raise _bad("risk", "must give an action for each of none, low, medium, high")
    for level, action in value.items():
        if action not in RISK_ACTIONS:
            raise _bad(f"risk.{level}", "must be allow_skip, require_mfa or block")
    return dict(value)


def apply_patch(current: Policy, patch: Any) -> Policy:
    """The policy with `patch`'s top-level keys replaced, validated whole."""
    if not isinstance(patch, dict) or not patch:
        raise InvalidRequest("The body must be a non-empty JSON object of policy fields.")
    known = {"trustedNetworks", "excludedGroups", "risk", "rememberDeviceDays", "lockout", "passkeyProfiles", *KNOBS}
    for key in patch:
        if key not in known:
            raise _bad(key, "is not a policy field")
    values = {k: getattr(current, k) for k in current.__dataclass_fields__}
    if "trustedNetworks" in patch:
        values["trusted_networks"] = _networks(patch["trustedNetworks"])
    if "excludedGroups" in patch:
        values["excluded_groups"] = _groups(patch["excludedGroups"])
    if "risk" in patch:
        values["risk"] = _risk(patch["risk"])
    if "rememberDeviceDays" in patch:
        days = patch["rememberDeviceDays"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
            raise _bad("rememberDeviceDays", "must be a whole number from 0 (off) to 365")
        values["remember_device_days"] = days
    if "lockout" in patch:
        lockout = patch["lockout"]
        if not isinstance(lockout, dict) or set(lockout) != set(LOCKOUT):
            raise _bad("lockout", "must give threshold, resetMinutes and lockMinutes")
        for key, attr in LOCKOUT.items():
            values[attr] = _int(lockout[key], f"lockout.{key}", attr)
    if "passkeyProfiles" in patch:
        values["passkey_profiles"] = parse_profiles(patch["passkeyProfiles"])
    for key, (attr, bounds) in KNOBS.items():
        if key in patch:
            values[attr] = _int(patch[key], key, bounds)
    return Policy(**values)


def from_doc(doc: dict[str, Any], settings: Settings) -> Policy:
    return apply_patch(defaults(settings), doc)
