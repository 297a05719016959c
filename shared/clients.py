"""Azure SDK clients built from settings: connection string locally (Azurite), managed identity in Azure.

Short timeouts and few SDK retries: a caller waiting for a sign-in should get a fast 503 when Storage is
down, and the queue host (not the SDK) owns SMS retries.
"""
from __future__ import annotations

from typing import Any

import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from .config import SMS_QUEUE, Settings

TIMEOUTS: dict[str, Any] = {"connection_timeout": 3, "read_timeout": 10, "retry_total": 1,
                            "retry_backoff_factor": 0.2}


def _transport() -> RequestsTransport:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=False)


def _credential(client_id: str | None) -> Any:
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


class RequestCounter:
    """A `raw_request_hook` that records every request sent; benchmarks use it to count round trips."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: Any) -> None:
        http = request.http_request
        self.calls.append((http.method, http.url.split("?")[0]))


def _hooks(counter: RequestCounter | None) -> dict[str, Any]:
    return {"raw_request_hook": counter} if counter else {}


def table_client(settings: Settings, counter: RequestCounter | None = None) -> Any:
    kwargs = {**TIMEOUTS, "transport": _transport(), **_hooks(counter)}
    if settings.storage_connection_string:
        service = TableServiceClient.from_connection_string(settings.storage_connection_string, **kwargs)
    else:
        service = TableServiceClient(settings.table_service_uri,
                                     credential=_credential(settings.storage_client_id), **kwargs)
    return service.get_table_client(settings.table_name)


def queue_client(settings: Settings, counter: RequestCounter | None = None, queue: str = SMS_QUEUE) -> QueueClient:
    """The SMS outbox; messages are base64 text, as the Functions queue trigger expects by default."""
    kwargs = {**TIMEOUTS, "transport": _transport(), **_hooks(counter),
              "message_encode_policy": TextBase64EncodePolicy()}
    if settings.storage_connection_string:
        return QueueClient.from_connection_string(settings.storage_connection_string, queue, **kwargs)
    return QueueClient(settings.queue_service_uri, queue, credential=_credential(settings.storage_client_id),
                       **kwargs)


def sms_client(settings: Settings) -> Any:
    """ACS SmsClient: access key locally (the emulator), managed identity in Azure. No SDK retries."""
    from azure.communication.sms import SmsClient
    from azure.core.credentials import AzureKeyCredential

    credential = (AzureKeyCredential(settings.acs_access_key) if settings.acs_access_key
                  else _credential(settings.identity_client_id))
    return SmsClient(settings.acs_endpoint, credential, retry_total=0, connection_timeout=5, read_timeout=15)
