"""What the emulator remembers, shared by the request threads under one lock: the inbox (messages
accepted, read back at ``GET /messages``), the current faults, the repeatability ids of accepted sends
(so a repeat answers the first result and records nothing) and the webhook deliveries received."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .faults import Faults

REPEATABILITY_WINDOW = timedelta(minutes=30)


@dataclass
class EmulatorState:
    """Recorded messages and fault settings, shared by the request threads."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _messages: list[dict[str, str]] = field(default_factory=list)
    _faults: Faults = field(default_factory=Faults)
    _repeats: dict[str, tuple[str, datetime, dict[str, Any]]] = field(default_factory=dict)
    _webhooks: list[dict[str, Any]] = field(default_factory=list)

    def record_webhook(self, delivery: dict[str, Any]) -> None:
        with self._lock:
            self._webhooks.append(delivery)

    def webhooks(self, subject: str | None = None) -> list[dict[str, Any]]:
        """Webhook deliveries received, oldest first; with `subject`, only events about that subject."""
        with self._lock:
            return [dict(d) for d in self._webhooks
                    if subject is None or (isinstance(d["body"], dict) and d["body"].get("subject") == subject)]

    def first_result(self, request_id: str, first_sent: str, now: datetime) -> dict[str, Any] | None:
        """The remembered result of an accepted send with this id inside the window, else None."""
        with self._lock:
            for key in [k for k, (_, at, _) in self._repeats.items() if now - at > REPEATABILITY_WINDOW]:
                del self._repeats[key]
            seen = self._repeats.get(request_id)
        if seen is None:
            return None
        if seen[0] != first_sent:
            return {"httpStatusCode": 400, "repeatabilityResult": "rejected", "successful": False,
                    "messageId": None, "errorMessage": "repeatabilityFirstSent differs from the first request."}
        return seen[2]

    def remember(self, request_id: str, first_sent: str, now: datetime, result: dict[str, Any]) -> None:
        with self._lock:
            self._repeats.setdefault(request_id, (first_sent, now, result))

    def record(self, message: dict[str, str]) -> None:
        with self._lock:
            self._messages.append(dict(message))

    def messages(self, to: str | None = None) -> list[dict[str, str]]:
        with self._lock:
            return [dict(m) for m in self._messages if to is None or m["to"] == to]

    def clear_messages(self) -> None:
        with self._lock:
            self._messages.clear()
            self._repeats.clear()

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
