"""The relying party from app settings (W5): MFA_WEBAUTHN_RP_ID, MFA_WEBAUTHN_RP_NAME and
MFA_WEBAUTHN_ORIGINS (comma-separated origins, each matched exactly against clientDataJSON.origin).

Locally the defaults are rp id `localhost` and origin `http://localhost:7071` (the dev host). In Azure
nothing is assumed: with none of the three set passkeys are off (None); `localhost` and plain http are
refused there. Every origin must be the rp id or a subdomain of it, since browsers refuse any other pair,
so a setting that could never work stops the app at start rather than failing every ceremony.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from ..kernel.errors import ConfigError
from .webauthn import RelyingParty

LOCAL_RP_ID = "localhost"
LOCAL_ORIGINS = ("http://localhost:7071",)
DEFAULT_RP_NAME = "twostep"
MAX_ORIGINS = 10
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_RP_ID_RE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")
_ORIGIN_RE = re.compile(rf"(https|http)://({_LABEL}(?:\.{_LABEL})*)(?::([0-9]{{1,5}}))?")
_NAME_RE = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,64}")
_NAMES = ("MFA_WEBAUTHN_RP_ID", "MFA_WEBAUTHN_RP_NAME", "MFA_WEBAUTHN_ORIGINS")


def _origin(value: str, rp_id: str, in_azure: bool) -> str:
    match = _ORIGIN_RE.fullmatch(value)
    if match is None or len(match[2]) > 253 or (match[3] is not None and not 0 < int(match[3]) < 65536):
        raise ConfigError("MFA_WEBAUTHN_ORIGINS must list origins such as https://login.example.com "
                          "(scheme, host and optional port; no path, no trailing slash)")
    scheme, host = match[1], match[2]
    if match[3] is not None and int(match[3]) == {"https": 443, "http": 80}[scheme]:
        raise ConfigError("MFA_WEBAUTHN_ORIGINS must leave out a default port: browsers send the origin without it")
    if scheme == "http" and (host != "localhost" or in_azure):
        raise ConfigError("MFA_WEBAUTHN_ORIGINS may use http:// only for localhost, and not in Azure")
    if host != rp_id and not host.endswith("." + rp_id):
        raise ConfigError("each origin in MFA_WEBAUTHN_ORIGINS must be MFA_WEBAUTHN_RP_ID or a subdomain of it")
    return value


def relying_party(env: Mapping[str, str], in_azure: bool) -> RelyingParty | None:
    """The relying party the settings describe, None when passkeys are off (Azure, nothing set), or
    ConfigError naming the setting."""
    raw = {name: (env.get(name) or "").strip() for name in _NAMES}
    if in_azure and not any(raw.values()):
        return None
    if in_azure and not (raw["MFA_WEBAUTHN_RP_ID"] and raw["MFA_WEBAUTHN_ORIGINS"]):
        raise ConfigError("MFA_WEBAUTHN_RP_ID and MFA_WEBAUTHN_ORIGINS must be set together")
    rp_id = raw["MFA_WEBAUTHN_RP_ID"] or LOCAL_RP_ID
    if not _RP_ID_RE.fullmatch(rp_id) or (in_azure and rp_id == LOCAL_RP_ID):
        raise ConfigError("MFA_WEBAUTHN_RP_ID must be a lower-case host name such as example.com")
    name = raw["MFA_WEBAUTHN_RP_NAME"] or DEFAULT_RP_NAME
    if not _NAME_RE.fullmatch(name):
        raise ConfigError("MFA_WEBAUTHN_RP_NAME must be 1-64 characters without control characters")
    listed = [o.strip() for o in raw["MFA_WEBAUTHN_ORIGINS"].split(",")] if raw["MFA_WEBAUTHN_ORIGINS"] else []
    origins = tuple(dict.fromkeys(_origin(o, rp_id, in_azure) for o in listed)) or LOCAL_ORIGINS
    if len(origins) > MAX_ORIGINS:
        raise ConfigError(f"MFA_WEBAUTHN_ORIGINS may list at most {MAX_ORIGINS} origins")
    return RelyingParty(rp_id, name, origins)
