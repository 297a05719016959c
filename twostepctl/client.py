"""The HTTP side: where the service is, which credentials go with each call, and turning every failure
(refusal, no answer, bad credentials) into a CliError with the right exit code. Standard library only."""
from __future__ import annotations

import http.client
import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exits import AUTH, UNREACHABLE, USAGE, CliError, for_status

DEFAULT_URL = "http://127.0.0.1:7071/api"
USER_AGENT = "twostepctl"


@dataclass(frozen=True)
class Config:
    url: str
    master_key: str | None
    entra_scope: str | None
    timeout: float


@dataclass(frozen=True)
class Reply:
    status: int
    text: str  # the body exactly as the service sent it (`--json` prints this)
    data: Any  # parsed JSON, None for an empty body


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1. The dev tools have the same rule in tools/loopback.py; an installed
    CLI has no tools/ to import it from."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # any other name may resolve anywhere
        return False
    return address.is_loopback


def resolve(url: str | None, key_file: str | None, entra_scope: str | None, allow_http: bool,
            timeout: float, env: Mapping[str, str] = os.environ) -> Config:
    """Flags over environment. The key has no flag of its own (a command line is visible to every local
    user in `ps`): it comes from TWOSTEP_MASTER_KEY or a file."""
    base = (url or env.get("TWOSTEP_URL") or DEFAULT_URL).rstrip("/")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(USAGE, "Invalid service URL", f"{base!r} is not an http(s) URL.")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_http:
        raise CliError(USAGE, "Refusing plain http", f"{parts.hostname} is not a loopback host: the master key "
                       "would cross the network in clear text. Use https, or --allow-insecure-http.")
    if parts.query or parts.fragment or parts.username:
        raise CliError(USAGE, "Invalid service URL", "The URL must not carry a query, fragment or credentials.")
    key = env.get("TWOSTEP_MASTER_KEY") or None
    if key_file:
        try:
            key = Path(key_file).read_text().strip() or None
        except OSError as error:
            raise CliError(USAGE, "Cannot read the master key file", error.strerror) from None
    return Config(base, key, entra_scope or env.get("TWOSTEP_ENTRA_SCOPE") or None, timeout)


def user_path(user: str, *rest: str) -> str:
    """An admin route of one user; every segment percent-encoded whole, so no id can change the route."""
    segments = [urllib.parse.quote(s, safe="@+") for s in (user, *rest)]
    return "/v1/admin/users/" + "/".join(segments)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The admin routes never redirect; following one would hand the key to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        raise CliError(UNREACHABLE, "Unexpected redirect", f"The service answered {code}; not following it.")


class Client:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._bearer: str | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/problem+json"}
        if self.config.master_key:
            headers["x-functions-key"] = self.config.master_key
        if self.config.entra_scope:
            headers["Authorization"] = "Bearer " + self._token()
        if len(headers) == 2:
            raise CliError(USAGE, "No credentials", "Set TWOSTEP_MASTER_KEY (or --master-key-file), and "
                           "TWOSTEP_ENTRA_SCOPE when Entra ID protects the admin routes.")
        return headers

    def _token(self) -> str:
        """An Entra ID access token; azure-identity is imported only here, never in master-key mode."""
        if self._bearer is None:
            try:
                from azure.identity import DefaultAzureCredential
            except ImportError:
                raise CliError(USAGE, "azure-identity is not installed",
                               "Entra ID mode needs it: pip install -r requirements.txt") from None
            try:
                self._bearer = DefaultAzureCredential().get_token(self.config.entra_scope).token
            except Exception as error:  # noqa: BLE001 - any credential failure is an authentication failure
                raise CliError(AUTH, "No Entra ID token", type(error).__name__ + ": sign in with `az login`, "
                               "or configure a credential DefaultAzureCredential can use.") from None
        return self._bearer

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             content_type: str = "application/json") -> Reply:
        headers = self._headers()
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = content_type
        # The scheme was checked in resolve(): http(s) only.
        request = urllib.request.Request(self.config.url + path, data=data, method=method,  # noqa: S310
                                         headers=headers)
        try:
            with self._opener.open(request, timeout=self.config.timeout) as response:
                return _reply(response.status, response.read())
        except urllib.error.HTTPError as error:
            raise _refusal(error) from None
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, resets, TLS
            reason = getattr(error, "reason", error)
            raise CliError(UNREACHABLE, "Cannot reach the service",
                           f"{self.config.url}: {reason}") from None


def _reply(status: int, body: bytes) -> Reply:
    text = body.decode("utf-8", errors="replace")
    try:
        return Reply(status, text, json.loads(text) if text.strip() else None)
    except ValueError:
        raise CliError(UNREACHABLE, "Unreadable answer", f"HTTP {status} with a body that is not JSON.") from None


def _refusal(error: urllib.error.HTTPError) -> CliError:
    try:
        problem = json.loads(error.read() or b"{}")
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    status = error.code
    title = problem.get("title") or _DEFAULT_TITLES.get(status) or f"HTTP {status}"
    detail = problem.get("detail")
    if status == 401 and not detail:
        detail = "The service did not accept the master key."
    return CliError(for_status(status, problem), title, detail, problem, error.headers.get("Retry-After"))


_DEFAULT_TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
                   413: "Body too large", 500: "Server error", 502: "Bad gateway", 503: "Unavailable",
                   504: "Gateway timeout"}
