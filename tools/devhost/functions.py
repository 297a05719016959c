"""The indexed function (trigger binding, other bindings), the `context` it may take, and the invoker that calls
sync and async functions with the host's log lines."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

from .config import LOG, DevHostError

# --------------------------------------------------------------------------- functions


def binding_value(value: Any) -> str:
    return str(getattr(value, "value", value))


@dataclass
class FunctionInfo:
    """What the dev host needs from one indexed function."""

    name: str
    trigger_type: str
    binding: dict[str, Any]
    callable: Callable[..., Any]
    other_bindings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def arg_name(self) -> str:
        return self.binding["name"]

    @functools.cached_property
    def takes_context(self) -> bool:
        """Whether the function declares `context` (read once, not per invocation)."""
        return "context" in inspect.signature(self.callable).parameters and self.arg_name != "context"

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.callable)

    @classmethod
    def from_function(cls, fn: Any) -> FunctionInfo:
        bindings = json.loads(fn.get_function_json())["bindings"]
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None:
            raise DevHostError(f"function {fn.get_function_name()} has no trigger binding")
        others = [b for b in bindings if b is not trigger and b.get("name") != "$return"]
        return cls(fn.get_function_name(), trigger["type"], trigger, fn.get_user_function(), others)


class DevContext(func.Context):
    """The `context` argument the Python worker passes to functions that declare one."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()
        self._local.invocation_id = self._invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class Invoker:
    """Calls user functions: sync ones on the caller's thread, async ones on one shared event loop
    (as the Python worker does, so loop-bound clients cached by the app keep working)."""

    def __init__(self, app_dir: Path) -> None:
        self._app_dir = str(app_dir)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devhost-asyncio", daemon=True)
        self._thread.start()

    def call(self, info: FunctionInfo, trigger_value: Any) -> Any:
        kwargs = {info.arg_name: trigger_value}
        if info.takes_context:
            kwargs["context"] = DevContext(info.name, self._app_dir)
        if info.is_async:
            return asyncio.run_coroutine_threadsafe(info.callable(**kwargs), self._loop).result()
        return info.callable(**kwargs)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=1)


def timed_call(invoker: Invoker, info: FunctionInfo, value: Any, reason: str) -> None:
    """Invoke a non-HTTP function with the host's Executing/Executed log lines; exceptions propagate."""
    started = time.perf_counter()
    LOG.info("Executing 'Functions.%s' (Reason='%s')", info.name, reason)
    try:
        invoker.call(info, value)
    except Exception:
        LOG.exception("Executed 'Functions.%s' (Failed, Duration=%.0fms)", info.name, ms_since(started))
        raise
    LOG.info("Executed 'Functions.%s' (Succeeded, Duration=%.0fms)", info.name, ms_since(started))


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class Worker:
    """One trigger's background thread (a queue listener or a timer), which the host starts and joins."""

    _thread: threading.Thread

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
