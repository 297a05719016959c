"""``python -m tools.sms_emulator``: arguments (loopback host only), the access key from the environment,
and a foreground run until SIGINT or SIGTERM."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from tools.loopback import is_loopback

from .auth import DEFAULT_KEY
from .server import DEFAULT_HOST, start_in_thread

DEFAULT_PORT = 7072
ACCESS_KEY_ENV = "SMS_EMULATOR_ACCESS_KEY"
ALLOW_ORIGIN_ENV = "SMS_EMULATOR_ALLOW_ORIGIN"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Local Azure Communication Services SMS emulator.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (0: any free)")
    parser.add_argument("--allow-origin", default=os.environ.get(ALLOW_ORIGIN_ENV),
                        help="the one page origin (scheme://host:port) allowed to read GET /messages (CORS)")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host must be a loopback address, not {args.host!r}")
    return args


def wait_for_stop_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    access_key = os.environ.get(ACCESS_KEY_ENV) or DEFAULT_KEY
    try:
        emulator = start_in_thread(args.host, args.port, access_key, args.allow_origin)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"sms-emulator: cannot start: {error}\n")
        return 1
    sys.stderr.write(f"sms-emulator listening on {emulator.url}\n")
    sys.stderr.flush()
    try:
        wait_for_stop_signal()
    finally:
        emulator.stop()
    sys.stderr.write("sms-emulator stopped\n")
    return 0
