"""The composition root: builds the service's `Deps` (clients, store, queues, the SMS gateway, the
after-commit hook) once per process. Only functions/, tests/ and tools/ import it; shared/ is handed a
`Deps` and sees it only through the narrow protocols of `ports.py`."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import clients
from .channels.due import Sweeps
from .channels.events import EventPublisher
from .channels.queues import QueueGateway
from .channels.sms import Outbox, SmsGateway
from .crypto.webauthn_settings import relying_party
from .deps import Deps
from .kernel.clock import Clock, process_clock
from .settings import DUE_QUEUE, EVENTS_QUEUE, SMS_QUEUE, Settings, TableSettings, get_settings
from .store import Store
from .store.placement import Layout


def build_deps(settings: Settings, clock: Clock | None = None, counter: clients.RequestCounter | None = None,
               events_queue: str = EVENTS_QUEUE, due_queue: str = DUE_QUEUE, *, table: Any = None,
               queues: Callable[[str], Any] | None = None, more_tables: list[Any] | None = None) -> Deps:
    """The collaborators; committed audit rows are published as security events on `events_queue`, and
    the due sweep's chain runs on `due_queue`. `table` and `queues` (a queue client by name) replace the
    Azure clients; tests pass the in-memory ones (store/memory.py, channels/memory.py), and `more_tables`
    those of accounts 1.. when the settings name several."""
    clock = clock or process_clock()
    queue = queues or (lambda name: clients.queue_client(settings, counter, queue=name))
    store = table_store(settings, counter, table, more_tables)
    sweeps = Sweeps(QueueGateway(queue(due_queue)), store, clock)
    events = EventPublisher(queue(events_queue), settings.otp_host, store, sweeps)
    store.before_commit.append(events.due)
    store.after_commit.append(events.committed)
    return Deps(settings=settings, store=store, outbox=Outbox(queue(SMS_QUEUE)), clock=clock, events=events,
                sweeps=sweeps, sms_gateway=lambda: SmsGateway(clients.sms_client(settings), settings.acs_sender),
                webauthn_rp=relying_party(dict(settings.webauthn), settings.in_azure))


def table_store(settings: Settings | TableSettings, counter: clients.RequestCounter | None = None, table: Any = None,
                more_tables: list[Any] | None = None, credential: Any = None) -> Store:
    """The store over every table account the settings name (one, unless MFA_TABLE_ACCOUNTS says more)."""
    layout = Layout(settings.table_account_count, settings.table_accounts_previous)
    if table is None:
        tables = clients.table_clients(settings, counter, credential)
    else:
        tables = [table, *(more_tables or [])]
    return Store(tables[0], tables[1:], layout)


_lock = threading.Lock()
_deps: Deps | None = None


def get_deps() -> Deps:
    global _deps
    if _deps is None:
        with _lock:
            if _deps is None:
                _deps = build_deps(get_settings())
    return _deps
