"""The settings that reach the table (every storage account of it), and the two readers every setting goes
through. A layer under settings.py: the rebalancing tool (tools/rebalance.py) loads only these, so an
operator running it is not handed the app's keys."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from .kernel.environment import running_in_azure
from .kernel.errors import ConfigError

KEYVAULT_PREFIX = "@Microsoft.KeyVault("
STORAGE_CONNECTION = "AzureWebJobsStorage"
_TABLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
MAX_TABLE_ACCOUNTS = 32


@dataclass(frozen=True)
class TableSettings:
    """Only what reaching the table takes (every account of it): what the rebalancing tool needs, so an
    operator running it is not handed the app's keys."""

    table_name: str
    storage_connection_string: str | None
    table_service_uri: str | None
    storage_client_id: str | None
    table_account_count: int = 1
    table_accounts: tuple[str, ...] = ()
    table_accounts_previous: int | None = None


def _raw(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    value = value.strip()
    if value.startswith(KEYVAULT_PREFIX):
        raise ConfigError(f"{name} is an unresolved Key Vault reference: check the app's identity has "
                          "'Key Vault Secrets User' on the vault and the secret exists")
    return value


def _endpoint(name: str, value: str) -> str:
    url = urlparse(value)
    loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
    if url.scheme not in ("https", "http") or not url.hostname or (url.scheme == "http" and not loopback):
        raise ConfigError(f"{name} must be an https URL (http only for a loopback emulator)")
    return value.rstrip("/")


def _count(env: Mapping[str, str], name: str, low: int = 1) -> int | None:
    raw = _raw(env, name)
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= MAX_TABLE_ACCOUNTS:
        raise ConfigError(f"{name} must be a whole number between {low} and {MAX_TABLE_ACCOUNTS}")
    return int(raw)


def _derived_account(table_uri: str | None, i: int) -> str | None:
    """Account i's table endpoint by infra's naming (account 0's name + `t<i>`), from account 0's."""
    url = urlparse(table_uri or "")
    name, _, rest = (url.hostname or "").partition(".")
    if url.scheme != "https" or not rest or len(name) + len(f"t{i}") > 24:
        return None
    return f"https://{name}t{i}.{rest}"


def _table_accounts(env: Mapping[str, str], in_azure: bool,
                    table_uri: str | None) -> tuple[int, tuple[str, ...], int | None]:
    """N, the endpoints of accounts 1..N-1 (of the previous layout's too, during a rebalance), the previous N
    (0 or unset: none). MFA_TABLE_ACCOUNT_<i> names account i: in Azure its table endpoint, reached with the
    app's identity (unset: infra's name for it, account 0's name + `t<i>`); locally a connection string too."""
    count = _count(env, "MFA_TABLE_ACCOUNTS") or 1
    previous = _count(env, "MFA_TABLE_ACCOUNTS_PREVIOUS", low=0) or None
    if previous == count:
        raise ConfigError("MFA_TABLE_ACCOUNTS_PREVIOUS must differ from MFA_TABLE_ACCOUNTS (unset it once the "
                          "rebalance is done)")
    accounts: list[str] = []
    for i in range(1, max(count, previous or 0)):
        name = f"MFA_TABLE_ACCOUNT_{i}"
        value = _raw(env, name) or _derived_account(table_uri, i)
        if value is None:
            raise ConfigError(f"{name} is not set")
        if value.startswith(("https://", "http://")):
            value = _endpoint(name, value)
        elif in_azure or not ("TableEndpoint=" in value or value == "UseDevelopmentStorage=true"):
            raise ConfigError(f"{name} must be the account's table endpoint URL (https://<account>.table.core."
                              "windows.net)" + ("" if in_azure else " or a connection string with a TableEndpoint"))
        if value in accounts:
            raise ConfigError(f"{name} names the same account as another MFA_TABLE_ACCOUNT_ setting")
        accounts.append(value)
    return count, tuple(accounts), previous


def load_table_settings(env: Mapping[str, str] | None = None) -> TableSettings:
    """The table's name and accounts, validated as load_settings does (which reads them through this)."""
    env = os.environ if env is None else env
    table = _raw(env, "MFA_TABLE_NAME", "twostep") or "twostep"
    if not _TABLE_RE.fullmatch(table):
        raise ConfigError("MFA_TABLE_NAME must be 3-63 letters or digits, starting with a letter")
    connection = _raw(env, STORAGE_CONNECTION)
    table_uri = _raw(env, f"{STORAGE_CONNECTION}__tableServiceUri")
    if connection is None and not table_uri:
        raise ConfigError(f"{STORAGE_CONNECTION} (connection string) or {STORAGE_CONNECTION}__tableServiceUri "
                          f"and {STORAGE_CONNECTION}__queueServiceUri (identity-based) must be set")
    count, accounts, previous = _table_accounts(env, running_in_azure(env), table_uri)
    return TableSettings(table_name=table, storage_connection_string=connection, table_service_uri=table_uri,
                         storage_client_id=_raw(env, f"{STORAGE_CONNECTION}__clientId"), table_account_count=count,
                         table_accounts=accounts, table_accounts_previous=previous)
