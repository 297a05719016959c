"""The whole host: import and index the app, install the test clock, run the --check callable, then serve HTTP
and run the queue and timer workers until stopped."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import azure.functions as func
from werkzeug.serving import BaseWSGIServer, make_server

from tools.loopback import is_loopback

from .config import LOG, ConfigCheckError, DevHostError, QueueOptions, load_local_settings, read_host_json, route_prefix
from .functions import FunctionInfo, Invoker
from .http_gateway import HttpGateway, HttpRoute, Keys, QuietRequestHandler
from .queues import QueueListener
from .timers import TimerRunner

# --------------------------------------------------------------------------- the host


def load_app(app_dir: Path) -> Any:
    """Import <app_dir>/function_app.py and return its FunctionApp (`app`, as the worker expects)."""
    app_dir = app_dir.resolve()
    if not (app_dir / "function_app.py").is_file():
        raise DevHostError(f"{app_dir / 'function_app.py'} does not exist")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    loaded = sys.modules.get("function_app")
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve().parent != app_dir:
        raise DevHostError(f"another function_app module is already imported: {loaded.__file__}")
    module = importlib.import_module("function_app")
    app = getattr(module, "app", None)
    if app is None:
        app = next((v for v in vars(module).values() if isinstance(v, func.FunctionRegister)), None)
    if app is None:
        raise DevHostError("function_app.py defines no FunctionApp named `app`")
    return app


def install_test_clock(path: str) -> None:
    """DEVHOST_CLOCK_FILE (tests only): the app's clock reads the instant from that file, through the app's
    `shared.kernel.clock.install_test_clock`, which refuses when the process runs in Azure."""
    try:
        clock = importlib.import_module("shared.kernel.clock")
        clock.install_test_clock(clock.FileClock(path))
    except (ImportError, AttributeError, RuntimeError) as exc:
        raise DevHostError(f"DEVHOST_CLOCK_FILE: {exc}") from exc


def run_check(spec: str) -> None:
    """Run the MODULE:CALLABLE configuration check; any exception becomes ConfigCheckError."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise DevHostError(f"--check must be MODULE:CALLABLE, got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        target()
    except Exception as exc:
        raise ConfigCheckError(f"configuration check {spec} failed: {exc}") from exc


class DevHost:
    """The whole host: `load()` imports and indexes the app, `start()` serves, `stop()` shuts down."""

    def __init__(self, app_dir: str | Path = ".", host: str = "127.0.0.1", port: int = 7071,
                 check: str | None = None, out: TextIO | None = None) -> None:
        if not is_loopback(host):
            raise DevHostError(f"refusing to listen on non-loopback host {host!r}")
        self.app_dir = Path(app_dir).resolve()
        self.host = host
        self.port = port
        self.check = check
        self.out = out or sys.stdout
        self.host_json: dict[str, Any] = {}
        self.prefix = "api"
        self.http_routes: list[HttpRoute] = []
        self.queue_functions: list[FunctionInfo] = []
        self.timer_functions: list[FunctionInfo] = []
        self._stop_event = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._workers: list[QueueListener | TimerRunner] = []
        self._invoker: Invoker | None = None
        self._loaded = False

    @property
    def url(self) -> str:
        port = self._server.server_port if self._server else self.port
        return f"http://{self.host}:{port}"

    def load(self) -> None:
        """Settings, import, index (get_functions once), then the configuration check."""
        load_local_settings(self.app_dir)
        self.host_json = read_host_json(self.app_dir)
        self.prefix = route_prefix(self.host_json)
        app = load_app(self.app_dir)
        if os.environ.get("DEVHOST_CLOCK_FILE"):
            install_test_clock(os.environ["DEVHOST_CLOCK_FILE"])
        for fn in app.get_functions():
            info = FunctionInfo.from_function(fn)
            self._check_signature(info)
            if info.trigger_type == "httpTrigger":
                self.http_routes.append(HttpRoute.from_function(fn, info, self.prefix))
            elif info.trigger_type == "queueTrigger":
                self.queue_functions.append(info)
            elif info.trigger_type == "timerTrigger":
                self.timer_functions.append(info)
            else:
                LOG.warning("function %s: %s is not supported by the dev host; skipped", info.name,
                            info.trigger_type)
        if self.check:
            run_check(self.check)
        self._loaded = True

    @staticmethod
    def _check_signature(info: FunctionInfo) -> None:
        """The worker refuses a function whose trigger binding name is not one of its parameters."""
        params = inspect.signature(info.callable).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if info.arg_name not in params and not takes_kwargs:
            raise DevHostError(f"function {info.name}: trigger binding {info.arg_name!r} is not a parameter "
                               f"of {info.callable.__name__}{inspect.signature(info.callable)}")
        for binding in info.other_bindings:
            LOG.warning("function %s: %s binding %r is not supported by the dev host", info.name,
                        binding.get("type"), binding.get("name"))

    def start(self) -> None:
        if not self._loaded:
            self.load()
        self._invoker = Invoker(self.app_dir)
        gateway = HttpGateway(self.http_routes, Keys.from_environ(), self._invoker)
        self._server = make_server(self.host, self.port, gateway, threaded=True,
                                   request_handler=QuietRequestHandler)
        self._workers = self._build_workers()
        self.print_functions()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="devhost-http", daemon=True
        )
        self._server_thread.start()
        for worker in self._workers:
            worker.start()
        print("Host started", file=self.out, flush=True)

    def _build_workers(self) -> list[QueueListener | TimerRunner]:
        assert self._invoker is not None
        workers: list[QueueListener | TimerRunner] = []
        options = QueueOptions.from_host_json(self.host_json)
        for info in self.queue_functions:
            try:
                workers.append(QueueListener(info, options, self._invoker, self._stop_event))
            except DevHostError as exc:  # as the host does: this function is in error, the rest run
                LOG.error("function %s is disabled: %s", info.name, exc)
        for info in self.timer_functions:
            try:
                workers.append(TimerRunner(info, self._invoker, self._stop_event))
            except DevHostError as exc:
                LOG.error("function %s is disabled: %s", info.name, exc)
        return workers

    def print_functions(self) -> None:
        lines = ["", "Functions:", ""]
        for route in self.http_routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "ALL"
            lines.append(f"        {route.info.name}: [{methods}] {self.url}{route.url_path(self.prefix)}"
                         f"  (auth: {route.auth_level})")
        for worker in self._workers:
            if isinstance(worker, QueueListener):
                lines.append(f"        {worker.info.name}: queueTrigger (queue '{worker.queue_name}', "
                             f"poison '{worker.poison_name}')")
            else:
                startup = ", runOnStartup" if worker.run_on_startup else ""
                lines.append(f"        {worker.info.name}: timerTrigger "
                             f"(schedule '{worker.schedule.expression}'{startup})")
        print("\n".join(lines) + "\n", file=self.out, flush=True)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and polling; running functions are not waited for beyond `timeout`."""
        self._stop_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if self._invoker is not None:
            self._invoker.close()
