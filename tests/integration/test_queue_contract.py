"""The in-memory queue (shared/channels/memory.py) against an Azurite queue, through the same
`QueueGateway`: the cases the fast flow tests rely on, so the double cannot drift from the service."""
from __future__ import annotations

import base64
import os
import time

import pytest
from azure.core.exceptions import ResourceNotFoundError

from shared import clients
from shared.channels.memory import MemoryQueue
from shared.channels.queues import QueueGateway
from shared.settings import load_settings


@pytest.fixture(params=["azurite", "memory"])
def queue(request):
    name = "q" + os.urandom(6).hex()
    if request.param == "memory":
        yield MemoryQueue(name)
        return
    client = clients.queue_client(load_settings(request.getfixturevalue("base_env")), queue=name)
    yield client
    client.delete_queue()


def texts(messages) -> list[str]:
    """The messages' text: held base64-encoded, as the project's queue clients send it."""
    return [base64.b64decode(m.content).decode() for m in messages]


def count(queue) -> int:
    return queue.get_queue_properties().approximate_message_count


def test_a_send_to_a_missing_queue_fails_and_the_gateway_creates_it(queue):
    with pytest.raises(ResourceNotFoundError):
        queue.send_message("x", time_to_live=60)
    QueueGateway(queue).send("hello", ttl_seconds=60)
    QueueGateway(queue).send("again", ttl_seconds=60)
    assert count(queue) == 2
    assert texts(queue.receive_messages(max_messages=5)) == ["hello", "again"]


def test_a_delayed_message_is_received_only_after_its_delay(queue):
    QueueGateway(queue).send("later", ttl_seconds=60, delay_seconds=1)
    assert count(queue) == 1 and list(queue.receive_messages(max_messages=5)) == []
    time.sleep(1.2)
    assert texts(queue.receive_messages(max_messages=5)) == ["later"]


def test_a_received_message_is_hidden_until_deleted_or_its_timeout_ends(queue):
    QueueGateway(queue).send("once", ttl_seconds=60)
    (message,) = list(queue.receive_messages(max_messages=5, visibility_timeout=1))
    assert list(queue.receive_messages(max_messages=5)) == []
    time.sleep(1.2)
    (again,) = list(queue.receive_messages(max_messages=5, visibility_timeout=30))
    assert (texts([again]), again.dequeue_count) == (["once"], 2)
    queue.delete_message(again)
    assert count(queue) == 0
