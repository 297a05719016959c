"""Passkey profiles (W7): per group, which passkeys may be registered. A profile is
`{"passkeyTypes": ["deviceBound", "synced"], "aaguidAllow"?: [...], "aaguidBlock"?: [...]}`; the device
type comes from the backup-eligible flag (a key that may be synced is `synced` even before its first
backup). Without attestation (the default) the AAGUID is the authenticator's own claim: the lists sort
honest authenticators, they do not stop a hostile one (docs/passkeys.md).
"""
from __future__ import annotations

import re
from typing import Any

from ..kernel.errors import InvalidRequest

PASSKEY_TYPES = ("deviceBound", "synced")
MAX_AAGUIDS = 500
_AAGUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_KEYS = {"passkeyTypes", "aaguidAllow", "aaguidBlock"}
DEFAULT_PROFILE: dict[str, Any] = {"passkeyTypes": list(PASSKEY_TYPES)}


def _aaguids(value: Any, path: str) -> list[str]:
    if (not isinstance(value, list) or len(value) > MAX_AAGUIDS
            or not all(isinstance(a, str) and _AAGUID_RE.fullmatch(a.lower()) for a in value)):
        raise InvalidRequest(f"{path}: must be a list of at most {MAX_AAGUIDS} AAGUIDs (8-4-4-4-12 hex)", field=path)
    return sorted({a.lower() for a in value})


def parse_profile(doc: Any, path: str = "passkeyProfile") -> dict[str, Any]:
    """A profile checked whole and normalised (AAGUIDs lower-case, sorted, unique), or InvalidRequest."""
    if not isinstance(doc, dict) or not set(doc) <= _KEYS:
        raise InvalidRequest(f"{path}: must be {{passkeyTypes, aaguidAllow?, aaguidBlock?}}", field=path)
    types = doc.get("passkeyTypes")
    if not isinstance(types, list) or not types or not all(t in PASSKEY_TYPES for t in types):
        raise InvalidRequest(f"{path}.passkeyTypes: must list deviceBound and/or synced", field=f"{path}.passkeyTypes")
    profile: dict[str, Any] = {"passkeyTypes": [t for t in PASSKEY_TYPES if t in types]}
    for key in ("aaguidAllow", "aaguidBlock"):
        if key in doc:
            profile[key] = _aaguids(doc[key], f"{path}.{key}")
    return profile


def profile_refusal(device_type: str, aaguid: str, profile: dict[str, Any]) -> str | None:
    """Why `profile` refuses a passkey of this type and AAGUID (a fixed token for the audit trail), or
    None when it is allowed. The block list wins over the allow list."""
    aaguid = aaguid.lower()
    if device_type not in profile.get("passkeyTypes", ()):
        return "passkey_type_not_allowed"
    if aaguid in profile.get("aaguidBlock", ()):
        return "aaguid_blocked"
    if "aaguidAllow" in profile and aaguid not in profile["aaguidAllow"]:
        return "aaguid_not_allowed"
    return None


MAX_PROFILE_GROUPS = 100


def parse_profiles(doc: Any, path: str = "passkeyProfiles") -> dict[str, Any]:
    """The policy's `passkeyProfiles`: `{"default"?: profile, "groups"?: {group: profile}}`, checked whole.
    The groups keep their order: the first of them the user is in decides (`profile_for`)."""
    if not isinstance(doc, dict) or not set(doc) <= {"default", "groups"}:
        raise InvalidRequest(f"{path}: must be {{default?, groups?}}", field=path)
    groups = doc.get("groups", {})
    if not isinstance(groups, dict) or len(groups) > MAX_PROFILE_GROUPS or not all(
            isinstance(g, str) and 0 < len(g) <= 128 for g in groups):
        raise InvalidRequest(f"{path}.groups: must map at most {MAX_PROFILE_GROUPS} group names to profiles",
                             field=f"{path}.groups")
    out: dict[str, Any] = {}
    if "default" in doc:
        out["default"] = parse_profile(doc["default"], f"{path}.default")
    if groups:
        out["groups"] = {g: parse_profile(p, f"{path}.groups.{g}") for g, p in groups.items()}
    return out


def profile_for(profiles: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    """The profile of the first listed group the user is in, else `default`, else every passkey."""
    for group, profile in profiles.get("groups", {}).items():
        if group in groups:
            return dict(profile)
    return dict(profiles.get("default", DEFAULT_PROFILE))
