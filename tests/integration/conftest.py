"""Fixtures of the integration tests that put the fault proxy (tools/faultproxy.py) in front of Azurite."""
from __future__ import annotations

import pytest
import requests

from shared import clients
from shared.channels.sms import Outbox
from tools import azurite as azurite_tool
from tools import faultproxy


@pytest.fixture(scope="module")
def proxies(azurite):
    table, queue = faultproxy.FaultProxy(azurite.table_port), faultproxy.FaultProxy(azurite.queue_port)
    yield table, queue
    table.close()
    queue.close()


@pytest.fixture
def pdeps(make_deps, azurite, proxies):
    """Service deps whose Table and Queue traffic goes through the proxies."""
    table, queue = proxies
    table.set_mode("pass")
    queue.set_mode("pass")
    conn = azurite_tool.connection_string(azurite.blob_port, queue.port, table.port)
    d = make_deps(AzureWebJobsStorage=conn)
    d.outbox = Outbox(clients.queue_client(d.settings, queue=d.outbox.queue.queue_name))
    d.outbox.queue.create_queue()
    d.store.get("warm", "up")  # creates the table before any fault
    yield d
    table.set_mode("pass")
    queue.set_mode("pass")


@pytest.fixture
def sms(emulator):
    requests.delete(f"{emulator.url}/messages", timeout=5)
    yield emulator
