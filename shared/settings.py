"""Settings, read lazily from app settings (environment) and validated once.

Anything missing, malformed or outside its safe bounds raises ConfigError with a message that names the
setting: the app refuses to run rather than run insecurely. Values are never echoed into the message.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .kernel.environment import running_in_azure
from .kernel.errors import ConfigError
from .settings_keys import check_webhook_secret, distinct_rings, parse_keys
from .settings_tables import (  # noqa: F401 - TableSettings, load_table_settings, STORAGE_CONNECTION: re-exported
    STORAGE_CONNECTION,
    TableSettings,
    _endpoint,
    _raw,
    load_table_settings,
)

# The SMS outbox queue. MFA_SMS_QUEUE (optional, read when the app is indexed, since trigger bindings are
# fixed then) lets two deployments, or the test suite's dev hosts, share one storage account without
# taking each other's messages; load_settings checks its grammar.
SMS_QUEUE = os.environ.get("MFA_SMS_QUEUE") or "sms-outbox"
SMS_POISON_QUEUE = f"{SMS_QUEUE}-poison"
# The security events queue (N1), read the same way and for the same reasons (MFA_EVENTS_QUEUE).
EVENTS_QUEUE = os.environ.get("MFA_EVENTS_QUEUE") or "events"
EVENTS_POISON_QUEUE = f"{EVENTS_QUEUE}-poison"
# The due sweep's chain (shared/channels/due.py), read the same way and for the same reasons (MFA_DUE_QUEUE).
DUE_QUEUE = os.environ.get("MFA_DUE_QUEUE") or "due-sweep"
DUE_POISON_QUEUE = f"{DUE_QUEUE}-poison"
_QUEUE_RE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?!-)){1,54}[a-z0-9]")  # leaves room for "-poison" in 63
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")


@dataclass(frozen=True)
class Settings:
    hmac_keys: tuple[tuple[str, bytes], ...]
    encryption_keys: tuple[tuple[str, bytes], ...]
    otp_host: str
    totp_issuer: str
    table_name: str
    code_ttl_seconds: int
    code_digits: int
    max_attempts: int
    lockout_threshold: int
    lockout_reset_minutes: int
    lockout_minutes: int
    bypass_default_seconds: int
    bypass_max_seconds: int
    fraud_block_days: int
    totp_algorithm: str
    totp_digits: int
    audit_retention_days: int
    sms_per_user_per_hour: int
    sms_per_phone_per_hour: int
    sms_per_ip_per_hour: int
    sms_per_prefix_per_hour: int
    sms_daily_budget: int
    sms_limit_shards: int  # MFA_SMS_LIMIT_SHARDS: shard rows per sharded SMS limit (methods/limits.py)
    sms_limit_lanes: int  # MFA_SMS_LIMIT_LANES: partitions the day's SMS counters spread over (methods/limits_lanes.py)
    sms_allowed_countries: frozenset[str] | None  # None: every country
    admin_role: str
    acs_endpoint: str
    acs_access_key: str | None
    acs_sender: str
    identity_client_id: str | None
    storage_connection_string: str | None
    table_service_uri: str | None
    queue_service_uri: str | None
    storage_client_id: str | None
    platform_auth_enabled: bool
    admin_entra_required: bool  # MFA_ADMIN_ENTRA_REQUIRED: refuse admin calls unless platform auth is active
    webhook_url: str | None = None  # MFA_WEBHOOK_URL: where security events are POSTed (N2); None: nowhere
    webhook_secret: str | None = None  # MFA_WEBHOOK_SECRET (`whsec_` + base64), required with the URL
    # MFA_WEBAUTHN_*, as set: checked into the passkeys' relying party by wiring.build_deps (crypto sits
    # above this layer), with `in_azure`, where nothing is assumed (crypto/webauthn_settings.py)
    webauthn: tuple[tuple[str, str], ...] = ()
    in_azure: bool = False
    # Several storage accounts for the table (docs/scale.md): MFA_TABLE_ACCOUNTS (N, default 1), the table
    # endpoints (or local connection strings) of accounts 1.. (MFA_TABLE_ACCOUNT_1, ...; account 0 is
    # AzureWebJobsStorage), and MFA_TABLE_ACCOUNTS_PREVIOUS, the N before, while a rebalance moves users
    table_account_count: int = 1
    table_accounts: tuple[str, ...] = ()
    table_accounts_previous: int | None = None


WEBAUTHN_SETTINGS = ("MFA_WEBAUTHN_RP_ID", "MFA_WEBAUTHN_RP_NAME", "MFA_WEBAUTHN_ORIGINS")

# (setting, default, minimum, maximum) for every bounded integer.
BOUNDS: dict[str, tuple[str, int, int, int]] = {
    "code_ttl_seconds": ("MFA_CODE_TTL_SECONDS", 300, 60, 600),
    "code_digits": ("MFA_CODE_DIGITS", 6, 6, 8),
    "max_attempts": ("MFA_MAX_ATTEMPTS", 5, 1, 10),
    "lockout_threshold": ("MFA_LOCKOUT_THRESHOLD", 10, 1, 100),
    "lockout_reset_minutes": ("MFA_LOCKOUT_RESET_MINUTES", 15, 1, 1440),
    "lockout_minutes": ("MFA_LOCKOUT_MINUTES", 15, 1, 1440),
    "bypass_default_seconds": ("MFA_BYPASS_DEFAULT_SECONDS", 300, 1, 3600),
    "bypass_max_seconds": ("MFA_BYPASS_MAX_SECONDS", 1800, 1, 3600),
    "fraud_block_days": ("MFA_FRAUD_BLOCK_DAYS", 90, 1, 3650),
    "totp_digits": ("MFA_TOTP_DIGITS", 6, 6, 8),
    "audit_retention_days": ("MFA_AUDIT_RETENTION_DAYS", 90, 1, 3650),
    "sms_per_user_per_hour": ("MFA_SMS_PER_USER_PER_HOUR", 10, 1, 100),
    "sms_per_phone_per_hour": ("MFA_SMS_PER_PHONE_PER_HOUR", 10, 1, 100),
    "sms_per_ip_per_hour": ("MFA_SMS_PER_IP_PER_HOUR", 50, 1, 10000),
    "sms_per_prefix_per_hour": ("MFA_SMS_PER_PREFIX_PER_HOUR", 200, 1, 100000),
    "sms_daily_budget": ("MFA_SMS_DAILY_BUDGET", 10000, 1, 10000000),
    # The daily budget and each prefix's limit are split over this many shard rows (fewer for a small
    # limit), so concurrent SMS rarely meet on one row; sized in docs/scale.md for 1,000 SMS/s.
    "sms_limit_shards": ("MFA_SMS_LIMIT_SHARDS", 256, 1, 1024),
    # The day's counters spread over this many partitions ("lanes"), each under Azure's ~2,000 entities/s per
    # partition; 1 keeps the one partition of before. Sized in docs/scale.md (8 for 1,000 SMS/s).
    "sms_limit_lanes": ("MFA_SMS_LIMIT_LANES", 1, 1, 64),
}


def _required(env: Mapping[str, str], name: str) -> str:
    value = _raw(env, name)
    if value is None:
        raise ConfigError(f"{name} is not set")
    return value


def _int(env: Mapping[str, str], field: str) -> int:
    name, default, low, high = BOUNDS[field]
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    """`true` or `false` (any case), unset = false; anything else is refused rather than guessed."""
    raw = (_raw(env, name, "false") or "false").lower()
    if raw not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false")
    return raw == "true"


def _countries(env: Mapping[str, str]) -> frozenset[str] | None:
    import phonenumbers

    raw = (_raw(env, "MFA_SMS_ALLOWED_COUNTRIES", "*") or "*").upper()
    if raw == "*":
        return None
    regions = frozenset(part.strip() for part in raw.split(","))
    if not regions or not regions <= phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError("MFA_SMS_ALLOWED_COUNTRIES must be * or a comma-separated list of ISO 3166 region "
                          "codes such as US,CA,GB")
    return regions



def _webhook(env: Mapping[str, str], in_azure: bool) -> tuple[str | None, str | None]:
    """MFA_WEBHOOK_URL (https, http only for loopback) and its secret, which must come with it."""
    url = _raw(env, "MFA_WEBHOOK_URL")
    secret = _raw(env, "MFA_WEBHOOK_SECRET")
    if url is None:
        return None, secret
    if secret is None:
        raise ConfigError("MFA_WEBHOOK_SECRET must be set when MFA_WEBHOOK_URL is")
    check_webhook_secret(secret, in_azure)
    return _endpoint("MFA_WEBHOOK_URL", url), secret


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    in_azure = running_in_azure(env)
    ints = {field: _int(env, field) for field in BOUNDS}
    if ints["bypass_default_seconds"] > ints["bypass_max_seconds"]:
        raise ConfigError("MFA_BYPASS_DEFAULT_SECONDS must not exceed MFA_BYPASS_MAX_SECONDS")
    if ints["sms_limit_lanes"] > ints["sms_limit_shards"]:  # every lane holds shards of each pool
        raise ConfigError("MFA_SMS_LIMIT_LANES must not exceed MFA_SMS_LIMIT_SHARDS")
    if ints["totp_digits"] not in (6, 8):
        raise ConfigError("MFA_TOTP_DIGITS must be 6 or 8")
    for name, default in (("MFA_SMS_QUEUE", SMS_QUEUE), ("MFA_EVENTS_QUEUE", EVENTS_QUEUE),
                          ("MFA_DUE_QUEUE", DUE_QUEUE)):
        if not _QUEUE_RE.fullmatch(env.get(name) or default):
            raise ConfigError(f"{name} must be 3-56 of a-z 0-9 and single hyphens, starting and ending "
                              "with a letter or digit")
    otp_host = _required(env, "MFA_OTP_HOST")
    if not _HOST_RE.fullmatch(otp_host):
        raise ConfigError("MFA_OTP_HOST must be a bare host name such as login.contoso.com")
    algorithm = (_raw(env, "MFA_TOTP_ALGORITHM", "SHA1") or "SHA1").upper()
    if algorithm not in ("SHA1", "SHA256", "SHA512"):
        raise ConfigError("MFA_TOTP_ALGORITHM must be SHA1, SHA256 or SHA512")
    issuer = _raw(env, "MFA_TOTP_ISSUER", "twostep") or "twostep"
    if ":" in issuer or len(issuer) > 64:
        raise ConfigError("MFA_TOTP_ISSUER must be at most 64 characters with no ':'")
    tables = load_table_settings(env)
    queue_uri = _raw(env, f"{STORAGE_CONNECTION}__queueServiceUri")
    if tables.storage_connection_string is None and not queue_uri:
        raise ConfigError(f"{STORAGE_CONNECTION} (connection string) or {STORAGE_CONNECTION}__tableServiceUri "
                          f"and {STORAGE_CONNECTION}__queueServiceUri (identity-based) must be set")
    hmac_keys = parse_keys("MFA_HMAC_KEYS", _required(env, "MFA_HMAC_KEYS"), in_azure)
    encryption_keys = parse_keys("MFA_ENCRYPTION_KEYS", _required(env, "MFA_ENCRYPTION_KEYS"), in_azure)
    distinct_rings(hmac_keys, encryption_keys)
    webhook_url, webhook_secret = _webhook(env, in_azure)
    return Settings(
        table_account_count=tables.table_account_count,
        table_accounts=tables.table_accounts,
        table_accounts_previous=tables.table_accounts_previous,
        webauthn=tuple((name, env.get(name) or "") for name in WEBAUTHN_SETTINGS),
        in_azure=in_azure,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        hmac_keys=hmac_keys,
        encryption_keys=encryption_keys,
        otp_host=otp_host,
        totp_issuer=issuer,
        table_name=tables.table_name,
        totp_algorithm=algorithm,
        admin_role=_raw(env, "MFA_ADMIN_ROLE", "Twostep.Admin") or "Twostep.Admin",
        acs_endpoint=_endpoint("ACS_ENDPOINT", _required(env, "ACS_ENDPOINT")),
        acs_access_key=_raw(env, "ACS_ACCESS_KEY"),
        acs_sender=_required(env, "ACS_SENDER"),
        identity_client_id=_raw(env, "AZURE_CLIENT_ID"),
        storage_connection_string=tables.storage_connection_string,
        table_service_uri=tables.table_service_uri,
        queue_service_uri=queue_uri,
        storage_client_id=tables.storage_client_id,
        platform_auth_enabled=(env.get("WEBSITE_AUTH_ENABLED", "").lower() == "true"),
        admin_entra_required=_flag(env, "MFA_ADMIN_ENTRA_REQUIRED"),
        sms_allowed_countries=_countries(env),
        **ints,
    )


_lock = threading.Lock()
_settings: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, loaded on first use (not at import, so the host can index functions)."""
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
    return _settings
