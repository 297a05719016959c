"""The Storage time budget of one HTTP request, and the one shared pool that runs a request's independent
Storage calls beside its own thread under that same budget. Kept apart from the SDK clients (clients.py
reads it) so the domain can ask "how much time is left" or "run this beside" without importing the SDK
wiring."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
# Seconds for all Storage calls of one HTTP request together (host.json functionTimeout: 30 s).
REQUEST_BUDGET = 20.0
_budget = threading.local()  # .ends: time.monotonic() by which this thread's HTTP request must be done


@contextlib.contextmanager
def request_budget(seconds: float = REQUEST_BUDGET) -> Iterator[None]:
    """Bound the Storage time of everything this thread does inside the block (one HTTP request)."""
    outer = getattr(_budget, "ends", None)
    _budget.ends = time.monotonic() + seconds if outer is None else min(outer, time.monotonic() + seconds)
    try:
        yield
    finally:
        _budget.ends = outer


def _remaining() -> float | None:
    ends = getattr(_budget, "ends", None)
    return None if ends is None else ends - time.monotonic()


def budget_left() -> float | None:
    """Seconds left of this thread's request budget (None outside an HTTP request)."""
    return _remaining()


PARALLEL_WORKERS = 8  # Storage calls of requests that run beside the request's own thread
ALONGSIDE_THREADS = "storage-alongside"
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def alongside(fn: Callable[[], T]) -> Future[T]:
    """Run `fn` (Storage calls that do not depend on what this thread does next) on the process's one
    shared pool, under this thread's request budget; the caller joins it with `.result()`, which raises
    what `fn` raised. The pool is built once, not per request."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(PARALLEL_WORKERS, thread_name_prefix=ALONGSIDE_THREADS)
    ends = getattr(_budget, "ends", None)

    def run() -> T:
        _budget.ends = ends  # the budget of the request that asked, not of whatever ran here before
        try:
            return fn()
        finally:
            _budget.ends = None
    return _pool.submit(run)


