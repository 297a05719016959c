"""Command line: arguments, logging, signals, exit statuses (0 stopped, 1 cannot serve, 2 refused configuration)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from tools.loopback import is_loopback

from .config import ConfigCheckError, DevHostError
from .host import DevHost

# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the function app locally (stands in for func start).")
    parser.add_argument("--app-dir", default=".", help="folder holding function_app.py and host.json")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--check", metavar="MODULE:CALLABLE",
                        help="callable run before serving; if it raises, exit with status 2")
    return parser.parse_args(argv)


def configure_logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="[%(asctime)s] %(message)s")
    # The SDKs log every HTTP call at INFO.
    logging.getLogger("azure").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_loopback(args.host):
        print(f"devhost: refusing to listen on non-loopback host {args.host!r}", file=sys.stderr)
        return 2
    configure_logging()
    app_dir = Path(args.app_dir).resolve()
    os.chdir(app_dir)  # the worker runs with the app root as its working directory
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    host = DevHost(app_dir, args.host, args.port, args.check)
    try:
        host.start()
    except ConfigCheckError as exc:
        print(f"devhost: {exc}", file=sys.stderr, flush=True)
        return 2
    except DevHostError as exc:
        print(f"devhost: {exc}", file=sys.stderr, flush=True)
        return 1
    while not stopping.wait(0.5):
        pass
    print("Stopping host", file=sys.stderr, flush=True)
    host.stop()
    return 0
