"""The one way the app puts a message on a Storage queue (the SMS outbox, the security events, the due
sweep): every call bounded by the client's transport (clients.py), any failure surfaced as
StorageUnavailable, and the queue created on first use locally (infra/ provisions it in Azure)."""
from __future__ import annotations

import contextlib
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from ..kernel.errors import StorageUnavailable
from ..store import StaleWrite, storage_call


class QueueGateway:
    def __init__(self, client: Any, **options: Any) -> None:
        self.queue = client  # the SDK QueueClient (tests and tools reach its name through here)
        self.options = options  # per-call options, e.g. no retry for the SMS outbox

    def send(self, text: str, ttl_seconds: int, delay_seconds: int = 0) -> None:
        """Put `text` on the queue, visible after `delay_seconds`, kept at most `ttl_seconds`."""
        kwargs = {"time_to_live": max(int(ttl_seconds), 1), **self.options}
        if delay_seconds > 0:
            kwargs["visibility_timeout"] = int(delay_seconds)

        def put() -> None:
            try:
                self.queue.send_message(text, **kwargs)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):  # created by a concurrent caller
                    self.queue.create_queue()
                self.queue.send_message(text, **kwargs)
        try:
            storage_call(put)
        except StaleWrite:
            raise StorageUnavailable() from None
