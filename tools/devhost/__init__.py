"""Development host: serves the v2-model function app without Azure Functions Core Tools.

Core Tools downloads the Functions host when it is installed, which fails offline, so this stands in
for `func start` on developer and CI machines. It reads the same metadata the real host reads
(`app.get_functions()`, host.json, local.settings.json) and mimics the behaviour the app relies on:
HTTP route templates, methods and auth levels; queue triggers with host.json `extensions.queues`
semantics (visibility timeout, maxDequeueCount, `<queue>-poison`, base64 encoding, polling backoff);
timer triggers with NCRONTAB schedules. It binds to loopback only.

    python -m tools.devhost [--app-dir .] [--host 127.0.0.1] [--port 7071] [--check MODULE:CALLABLE]

How the pieces fit: `cli` parses arguments and builds a `host.DevHost`, which reads settings and host.json
(`config`), imports and indexes the app into `functions.FunctionInfo`s, then hands HTTP triggers to the
WSGI gateway (`http_gateway`, matching paths with `routes`), queue triggers to `queues.QueueListener`s and
timer triggers to `timers.TimerRunner`s; all three call the app through one `functions.Invoker`.
Imports run one way: `config` and `routes` need nothing of the package, `functions` needs `config`,
`http_gateway`, `queues` and `timers` need those, `host` assembles them all and `cli` drives `host`.
"""

from .config import (
    PROCESSING_MARGIN_SECONDS,
    ConfigCheckError,
    DevHostError,
    QueueOptions,
    parse_timespan,
    route_prefix,
)
from .host import DevHost
from .routes import compile_route
from .timers import ncrontab_to_croniter

__all__ = [
    "PROCESSING_MARGIN_SECONDS",
    "ConfigCheckError",
    "DevHost",
    "DevHostError",
    "QueueOptions",
    "compile_route",
    "ncrontab_to_croniter",
    "parse_timespan",
    "route_prefix",
]
