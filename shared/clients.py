"""Azure SDK clients built from settings: connection string locally (Azurite), managed identity in Azure.

Every Storage call is bounded (Q5): a caller waiting for a sign-in gets a fast 503 when Storage is down,
and the queue host (not the SDK) owns SMS retries. Three things make the bound hold, each learnt the
hard way:
- the transport carries the timeouts itself: the SDKs apply `connection_timeout`/`read_timeout` only to a
  transport they build, so a transport passed in kept requests' 300 s defaults;
- the queue SDK ignores `retry_backoff_factor` (its ExponentialRetry waits 15 s before the first retry,
  hence the ~19 s answers while the queue was down): it gets an explicit short LinearRetry;
- a read timeout is per socket read, so a response that trickles a byte at a time never trips it: each
  try also has a whole-exchange deadline after which its socket is shut down.
And since a request makes several calls, each HTTP request runs under a Storage budget
(`request_budget`, set by functions/http.py's guard): a call that would start or run past it fails at
once, so a request whose every call is slow-but-answering still ends well inside the functionTimeout.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import requests
from azure.core.exceptions import AzureError, ServiceRequestTimeoutError, ServiceResponseTimeoutError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from azure.storage.queue import LinearRetry, QueueClient, TextBase64EncodePolicy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .inline_batch import inline_batches
from .kernel.budget import (  # noqa: F401 - re-exported: functions/ and tools/ set the budget here
    ALONGSIDE_THREADS,
    REQUEST_BUDGET,
    _remaining,
    alongside,
    budget_left,
    request_budget,
)
from .settings import SMS_QUEUE, Settings, TableSettings

CONNECT_TIMEOUT = 2.0  # seconds to open a TCP connection to Storage
READ_TIMEOUT = 3.0  # seconds of silence tolerated while waiting for a response
EXCHANGE_DEADLINE = 4.0  # seconds for one whole try (send + response + body), whatever trickles
RETRIES = 1  # one retry per call; the caller gets 503 and retries itself
BACKOFF = 0.2  # seconds before the retry
# Worst case per call: (1 + RETRIES) * EXCHANGE_DEADLINE + BACKOFF = 8.2 s; a request stops at its first
# failed call, and all its calls together stay inside REQUEST_BUDGET (host.json functionTimeout: 30 s).
CALL_BOUND = (1 + RETRIES) * EXCHANGE_DEADLINE + BACKOFF + 0.1  # seconds; tests check calls end inside it
TABLE_RETRY: dict[str, Any] = {"retry_total": RETRIES, "retry_backoff_factor": BACKOFF, "retry_backoff_max": 1}
OUTBOX_PUT_TIMEOUTS: dict[str, Any] = {"retry_total": 0}  # the sweeper re-drives what this misses
NO_ENV: dict[str, Any] = {"user_agent_use_env": False}  # no AZURE_HTTP_USER_AGENT lookup on every call

T = TypeVar("T")
_in_flight: dict[int, HTTPConnection] = {}  # thread id -> the connection its current request uses
class _TrackedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _in_flight[threading.get_ident()] = self
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _in_flight[threading.get_ident()] = self
        super().request(*args, **kwargs)


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


def _abort(thread_id: int, fired: threading.Event) -> None:
    """Shut the socket of `thread_id`'s request: its blocked read returns at once and the try fails."""
    fired.set()
    conn = _in_flight.get(thread_id)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Deadline:
    __slots__ = ("armed", "fired", "thread_id")

    def __init__(self, thread_id: int) -> None:
        self.thread_id, self.fired, self.armed = thread_id, threading.Event(), True


class _Watchdog:
    """One thread for every exchange deadline of the process, started on first use: a deadline costs a
    heap push, not a timer thread per Storage call. It fires under the lock its disarm takes, so it never
    cuts a socket its thread has moved on from."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> _Deadline:
        deadline = _Deadline(threading.get_ident())
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="twostep-deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._seq), deadline))
            if self._heap[0][2] is deadline:  # sooner than what the thread sleeps towards
                self._cond.notify()
        return deadline

    def disarm(self, deadline: _Deadline) -> None:
        with self._cond:
            deadline.armed = False  # left in the heap; dropped when its time comes

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    deadline = heapq.heappop(self._heap)[2]
                    if deadline.armed:
                        deadline.armed = False
                        _abort(deadline.thread_id, deadline.fired)
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


_watchdog = _Watchdog()


def deadline_session() -> requests.Session:
    """A requests session whose connections `exchange_deadline` can cut (its sockets are tracked). It
    ignores the environment (trust_env off): no proxy or netrc lookup per call, and no proxy in the path."""
    session = requests.Session()
    session.trust_env = False
    adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextlib.contextmanager
def exchange_deadline(seconds: float) -> Iterator[threading.Event]:
    """Shut this thread's socket (of a `deadline_session`) down after `seconds`, whatever trickles; the
    event yielded is set when the deadline struck, so whatever arrived is known to be partial."""
    deadline = _watchdog.arm(seconds)
    try:
        yield deadline.fired
    finally:
        _watchdog.disarm(deadline)
        _in_flight.pop(deadline.thread_id, None)


class DeadlineTransport(RequestsTransport):
    """RequestsTransport with bounded connect/read timeouts and a deadline on each whole exchange."""

    def __init__(self, deadline: float = EXCHANGE_DEADLINE) -> None:
        super().__init__(session=deadline_session(), session_owner=False, connection_timeout=CONNECT_TIMEOUT,
                         read_timeout=READ_TIMEOUT, use_env_settings=False)
        self.deadline = deadline

    def send(self, request: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("stream", False)  # read the body inside the deadline, not later
        deadline, remaining = self.deadline, _remaining()
        if remaining is not None:
            if remaining <= 0:
                raise ServiceRequestTimeoutError("the request's Storage budget is spent")
            deadline = min(deadline, remaining)
        with exchange_deadline(deadline) as fired:
            try:
                response = super().send(request, **kwargs)
            except AzureError:
                if fired.is_set():
                    raise ServiceResponseTimeoutError(f"no complete response within {deadline:.1f} s") from None
                raise
        if fired.is_set():  # whatever arrived before the cut is partial: never parse it
            raise ServiceResponseTimeoutError(f"no complete response within {deadline:.1f} s")
        return response


def _transport() -> RequestsTransport:
    return DeadlineTransport()


def _credential(client_id: str | None) -> Any:
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


class RequestCounter:
    """A `raw_request_hook` that records every request sent; benchmarks use it to count round trips.
    It also notes which calls ran beside the request's own thread (on the `alongside` pool), so `waits`
    can count the round trips a caller waits for one after the other."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._beside: list[bool] = []  # per call, in the order of `calls`: made on the `alongside` pool
        self._lock = threading.Lock()

    def __call__(self, request: Any) -> None:
        http = request.http_request
        beside = threading.current_thread().name.startswith(ALONGSIDE_THREADS)
        with self._lock:
            self.calls.append((http.method, http.url.split("?")[0]))
            self._beside.append(beside)

    def waits(self, since: int = 0) -> int:
        """Round trips among the calls from index `since` on that the caller waits for one after the other:
        a call made beside them (`alongside`) is joined only after at least as many calls of the caller's
        own (flows/challenge_rows.py's marker beside the two of the SMS limits), so it adds no wait."""
        with self._lock:
            return self._beside[since:].count(False)


def _hooks(counter: RequestCounter | None) -> dict[str, Any]:
    return {"raw_request_hook": counter} if counter else {}


def _linear_retry() -> LinearRetry:
    """BACKOFF s between tries, +/- 0.1 s: the SDK sleeps float seconds, though its hints say int."""
    return LinearRetry(backoff=BACKOFF, random_jitter_range=0.1, retry_total=RETRIES)  # type: ignore[arg-type]  # floats


def _service_uri(uri: str | None) -> str:
    """An identity-based service URI: settings require both whenever there is no connection string."""
    if not uri:
        raise ValueError("no storage connection string and no service URI")
    return uri


# azure-core's HttpLoggingPolicy writes every call's URL and headers at INFO, and the Functions worker forwards
# INFO records to the host: a record per Storage call that nobody reads. Warnings and errors still pass.
SDK_HTTP_LOG = "azure.core.pipeline.policies.http_logging_policy"


def _quiet_sdk_http_log() -> None:
    logging.getLogger(SDK_HTTP_LOG).setLevel(logging.WARNING)


def table_client(settings: Settings | TableSettings, counter: RequestCounter | None = None, account: str | None = None,
                 credential: Any = None) -> Any:
    """The table in account 0 (AzureWebJobsStorage), or in `account`: one of MFA_TABLE_ACCOUNT_n, a table
    endpoint reached with the app's identity (or `credential`) or a local connection string."""
    _quiet_sdk_http_log()
    kwargs = {**TABLE_RETRY, **NO_ENV, "transport": _transport(), **_hooks(counter)}
    connection = settings.storage_connection_string if account is None else (
        None if account.startswith(("https://", "http://")) else account)
    if connection:
        service = TableServiceClient.from_connection_string(connection, **kwargs)
    else:
        service = TableServiceClient(_service_uri(settings.table_service_uri if account is None else account),
                                     credential=credential or _credential(settings.storage_client_id), **kwargs)
    return inline_batches(service.get_table_client(settings.table_name))


def table_clients(settings: Settings | TableSettings, counter: RequestCounter | None = None,
                  credential: Any = None) -> list[Any]:
    """The table in every account the settings name (account 0 first); see shared/store/placement.py."""
    return [table_client(settings, counter, credential=credential),
            *(table_client(settings, counter, account, credential) for account in settings.table_accounts)]


def queue_client(settings: Settings, counter: RequestCounter | None = None, queue: str = SMS_QUEUE) -> QueueClient:
    """The SMS outbox; messages are base64 text, as the Functions queue trigger expects by default."""
    _quiet_sdk_http_log()
    kwargs = {**NO_ENV, "transport": _transport(), **_hooks(counter), "message_encode_policy": TextBase64EncodePolicy(),
              "retry_policy": _linear_retry()}
    if settings.storage_connection_string:
        return QueueClient.from_connection_string(settings.storage_connection_string, queue, **kwargs)
    return QueueClient(_service_uri(settings.queue_service_uri), queue,
                       credential=_credential(settings.storage_client_id), **kwargs)


def sms_client(settings: Settings) -> Any:
    """ACS SmsClient: access key locally (the emulator), managed identity in Azure. No SDK retries."""
    from azure.communication.sms import SmsClient
    from azure.core.credentials import AzureKeyCredential

    credential = (AzureKeyCredential(settings.acs_access_key) if settings.acs_access_key
                  else _credential(settings.identity_client_id))
    return SmsClient(settings.acs_endpoint, credential, retry_total=0, connection_timeout=5, read_timeout=15)
