"""An in-memory queue with the QueueClient surface the project calls (send, create, delete, properties,
receive, delete a message), for the fast unit tests of the flows; no production path imports it.

Like the service: a queue does not exist until created (a send to it raises ResourceNotFoundError, which
QueueGateway answers by creating it), a message sent with a visibility delay is not received before it,
one past its time to live is gone, and a received message stays hidden until deleted or its timeout ends.
Content is held base64-encoded, as the project's clients send it (clients.py, TextBase64EncodePolicy) and a
receiver gets it back. tests/integration/test_queue_contract.py runs the same cases on Azurite.
"""
from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

_ids = itertools.count(1)


@dataclass
class MemoryMessage:
    id: str
    content: str
    visible_at: float
    expires_at: float
    dequeue_count: int = 0
    pop_receipt: str | None = None


class MemoryQueue:
    def __init__(self, queue_name: str, now: Callable[[], float] = time.time) -> None:
        self.queue_name, self._now = queue_name, now
        self._messages: list[MemoryMessage] | None = None
        self._lock = threading.Lock()

    def _queue(self) -> list[MemoryMessage]:
        if self._messages is None:
            exc = ResourceNotFoundError(message="The specified queue does not exist.")
            exc.error_code = "QueueNotFound"  # type: ignore[attr-defined]  # what the SDK's decoded errors carry
            raise exc
        now = self._now()
        self._messages[:] = [m for m in self._messages if m.expires_at > now]
        return self._messages

    def create_queue(self, **_: Any) -> None:
        with self._lock:
            if self._messages is not None:
                raise ResourceExistsError(message="The specified queue already exists.")
            self._messages = []

    def delete_queue(self, **_: Any) -> None:
        with self._lock:
            self._messages = None

    def send_message(self, content: str, *, visibility_timeout: int | None = None, time_to_live: int | None = None,
                     **_: Any) -> MemoryMessage:
        with self._lock:
            now = self._now()
            encoded = base64.b64encode(content.encode("utf-8")).decode("ascii")
            message = MemoryMessage(str(next(_ids)), encoded, now + (visibility_timeout or 0),
                                    now + (time_to_live or 7 * 24 * 3600))
            self._queue().append(message)
            return message

    def get_queue_properties(self, **_: Any) -> SimpleNamespace:
        with self._lock:
            return SimpleNamespace(name=self.queue_name, approximate_message_count=len(self._queue()))

    def peek_messages(self, max_messages: int = 1, **_: Any) -> list[MemoryMessage]:
        with self._lock:
            return [m for m in self._queue() if m.visible_at <= self._now()][:max_messages]

    def receive_messages(self, *, max_messages: int | None = None, messages_per_page: int | None = None,
                         visibility_timeout: int = 30, **_: Any) -> Iterator[MemoryMessage]:
        with self._lock:
            now = self._now()
            taken = [m for m in self._queue() if m.visible_at <= now][:max_messages or messages_per_page or 32]
            for m in taken:
                m.visible_at, m.dequeue_count, m.pop_receipt = now + visibility_timeout, m.dequeue_count + 1, m.id
            return iter(taken)

    def delete_message(self, message: MemoryMessage | str, pop_receipt: str | None = None, **_: Any) -> None:
        ident = message if isinstance(message, str) else message.id
        with self._lock:
            self._queue()[:] = [m for m in self._queue() if m.id != ident]

    def clear_messages(self, **_: Any) -> None:
        with self._lock:
            self._queue().clear()


class MemoryQueues:
    """Queues by name, made on first mention (each one still needs creating, as in the service)."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._queues: dict[str, MemoryQueue] = {}
        self._now = now

    def __call__(self, name: str) -> MemoryQueue:
        return self._queues.setdefault(name, MemoryQueue(name, self._now))


class MemorySms:
    """The SmsGateway surface (`send`) in memory, for the unit tests of the flows (the begin sends its SMS
    inline): it records each message it takes and answers a repeat of a taken request (same repeatability
    id and first-sent time) with the first message id and no second message, as ACS and the emulator do."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self._first: dict[tuple[str, Any], str] = {}
        self._lock = threading.Lock()

    def send(self, to: str, text: str, tag: str, request_id: str, first_sent: Any, **timeouts: float) -> str:
        with self._lock:
            if (request_id, first_sent) in self._first:
                return self._first[(request_id, first_sent)]
            message_id = f"memory-{next(_ids)}"
            self._first[(request_id, first_sent)] = message_id
            self.sent.append({"to": to, "message": text, "repeatabilityRequestId": request_id})
            return message_id
