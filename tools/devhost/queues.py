"""Queue triggers with host.json `extensions.queues` semantics: visibility timeout, maxDequeueCount,
`<queue>-poison`, base64 decoding, polling backoff."""

from __future__ import annotations

import base64
import binascii
import math
import os
import threading
from typing import Any

from azure.functions.queue import QueueMessage as RuntimeQueueMessage

from .config import DEFAULT_CONNECTION, LOG, MIN_POLL_SECONDS, DevHostError, QueueOptions, resolve_setting_refs
from .functions import FunctionInfo, Invoker, Worker, timed_call

# --------------------------------------------------------------------------- queues


def storage_connection(name: str | None) -> str:
    """The connection string a trigger's `connection` names (also tried with the AzureWebJobs prefix)."""
    name = name or DEFAULT_CONNECTION
    for candidate in (name, f"AzureWebJobs{name}"):
        value = os.environ.get(candidate)
        if value:
            return value
    if any(k.startswith(f"{name}__") for k in os.environ):
        raise DevHostError(f"connection {name!r} is identity-based; the dev host needs a connection string")
    raise DevHostError(f"connection setting {name!r} is not set")


def decode_body(content: str | None, encoding: str) -> bytes:
    """The message body the function sees; invalid base64 raises (and so counts as a failure)."""
    text = content or ""
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"message is not valid base64: {exc}") from exc


def to_queue_message(message: Any, body: bytes) -> RuntimeQueueMessage:
    return RuntimeQueueMessage(
        id=message.id,
        body=body,
        pop_receipt=message.pop_receipt,
        dequeue_count=message.dequeue_count,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
    )


class Backoff:
    """Exponential polling delay: 100 ms doubling up to the cap; reset after work was found."""

    def __init__(self, cap: float) -> None:
        self.cap = max(MIN_POLL_SECONDS, cap)
        self._next = MIN_POLL_SECONDS

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = MIN_POLL_SECONDS


class QueueListener(Worker):
    """One polling thread per queue trigger, with the host's retry and poison-queue behaviour."""

    def __init__(self, info: FunctionInfo, options: QueueOptions, invoker: Invoker,
                 stop_event: threading.Event) -> None:
        from azure.storage.queue import LinearRetry, QueueClient

        self.info = info
        self.options = options
        self.queue_name = resolve_setting_refs(info.binding["queueName"]).lower()
        self.poison_name = f"{self.queue_name}-poison"
        conn = storage_connection(info.binding.get("connection"))
        # No encode/decode policies: bodies are decoded here, and poison copies keep the original text.
        # Short retries: the SDK's default backoff (15 s and up) would stall polling and shutdown.
        retry = LinearRetry(backoff=0.2, random_jitter_range=0.1, retry_total=2)
        self.client = QueueClient.from_connection_string(conn, self.queue_name, retry_policy=retry)
        self.poison_client = QueueClient.from_connection_string(conn, self.poison_name, retry_policy=retry)
        self._invoker = invoker
        self._stop = stop_event
        self._backoff = Backoff(options.max_polling_interval)
        self._thread = threading.Thread(target=self.run, name=f"devhost-queue-{info.name}", daemon=True)

    def run(self) -> None:
        ready = False
        while not self._stop.is_set():
            try:
                if not ready:
                    self.ensure_queues()
                    ready = True
                found = self.poll_once()
            except Exception as exc:  # noqa: BLE001 - storage down or misbehaving: log, retry, never die
                LOG.warning("queue %s: %s: %s; retrying", self.queue_name, type(exc).__name__, exc)
                self._stop.wait(self._backoff.next_delay())
                continue
            if found:
                self._backoff.reset()
            else:
                self._stop.wait(self._backoff.next_delay())

    def ensure_queues(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for client in (self.client, self.poison_client):
            try:
                client.create_queue()
            except ResourceExistsError:
                pass

    def poll_once(self) -> int:
        """Receive one batch and process it concurrently; returns how many messages there were."""
        pages = self.client.receive_messages(
            messages_per_page=self.options.batch_size, visibility_timeout=math.ceil(self.options.processing_visibility)
        ).by_page()
        page = next(pages, None)
        batch = list(page) if page is not None else []
        workers = [threading.Thread(target=self.process, args=(m,), daemon=True) for m in batch]
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive() and not self._stop.is_set():
                worker.join(0.2)
        return len(batch)

    def process(self, message: Any) -> None:
        try:
            if message.dequeue_count > self.options.max_dequeue_count:
                # Already failed too often (e.g. the host died mid-run): straight to poison.
                self.to_poison(message, f"was dequeued {message.dequeue_count} times without completing")
                return
            try:
                body = decode_body(message.content, self.options.message_encoding)
                timed_call(self._invoker, self.info, to_queue_message(message, body),
                            f"New queue message detected on '{self.queue_name}'")
            except Exception:  # noqa: BLE001 - any failure of the function counts
                self.after_failure(message)
                return
            self.client.delete_message(message.id, message.pop_receipt)
        except Exception as exc:  # noqa: BLE001 - a storage error must not kill the worker
            LOG.warning("queue %s: message %s: %s: %s", self.queue_name, message.id, type(exc).__name__, exc)

    def after_failure(self, message: Any) -> None:
        if message.dequeue_count >= self.options.max_dequeue_count:
            self.to_poison(message, f"failed {message.dequeue_count} times")
        else:
            # The queue service takes whole seconds.
            self.client.update_message(message.id, pop_receipt=message.pop_receipt,
                                       visibility_timeout=math.ceil(self.options.visibility_timeout))

    def to_poison(self, message: Any, why: str) -> None:
        LOG.warning("Message %s %s, reaching MaxDequeueCount of %d; moving it to queue '%s'",
                    message.id, why, self.options.max_dequeue_count, self.poison_name)
        self.poison_client.send_message(message.content or "")
        self.client.delete_message(message.id, message.pop_receipt)
