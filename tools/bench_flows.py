"""`make bench`: what users feel, flow by flow, against the storage floor of the same round trips.

Starts its own in-memory Azurite, the SMS emulator (in this process) and a dev host serving the app of
`--app-dir` (default: this checkout; the bench code is always this one's, so two trees can alternate), then:
1. counts each flow's Storage round trips on the wire (bench_wire: a second dev host behind a recording
   proxy, each flow run alone a few times);
2. runs each flow (TOTP sign-in, wrong-code verify, SMS sign-in, passkey sign-in) at each client count,
   bounded by time AND flow count: flows/s, p50/p90/p99, errors, CPU ms per flow of the function host
   and of Azurite (/proc), and for SMS begin -> SMS at the emulator;
3. replays the same round trips with the raw SDK from this process (bench_floor) at the same client
   counts, right after the first flow run that makes them: the floor's p50 and client CPU per flow, and
   the flow's ratios to them.
Writes a JSON result (--out, default .bench/<time>.json) and prints a table. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import base64
import collections
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tools import azurite, sms_emulator
from tools.bench_floor import floor_clients
from tools.bench_load import RunResult, load_average, run
from tools.bench_report import print_report
from tools.bench_users import (
    FKEY,
    ORIGIN,
    Inbox,
    TotpPool,
    enrol_all,
    enrol_passkey,
    enrol_sms,
    enrol_totp,
    passkey_flow,
    sms_flow,
    totp_flow,
)
from tools.bench_wire import RecordingProxy, app_kinds

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ("totp", "wrong", "sms", "passkey")
PHONES = [f"+142555501{i:02d}" for i in range(100)]  # valid US test numbers, one per SMS user


def app_env(store: azurite.Azurite, emulator_url: str, table: str, queues: str) -> dict[str, str]:
    """Everything the app reads, set explicitly (a local.settings.json in the app dir adds nothing), with
    the SMS limits at their maxima so the bench measures the flow, not the rate limiter."""
    return {
        "AzureWebJobsStorage": store.connection_string, "MFA_TABLE_NAME": table,
        "MFA_SMS_QUEUE": f"{queues}-sms", "MFA_EVENTS_QUEUE": f"{queues}-events", "MFA_DUE_QUEUE": f"{queues}-due",
        "MFA_HMAC_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "MFA_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "MFA_OTP_HOST": "login.example.test", "ACS_ENDPOINT": emulator_url,
        "ACS_ACCESS_KEY": sms_emulator.DEFAULT_KEY, "ACS_SENDER": "+18005550100",
        "MFA_WEBHOOK_URL": f"{emulator_url}/webhook",
        "MFA_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
        "MFA_WEBAUTHN_RP_ID": "localhost", "MFA_WEBAUTHN_RP_NAME": "bench", "MFA_WEBAUTHN_ORIGINS": ORIGIN,
        "MFA_SMS_PER_USER_PER_HOUR": "100", "MFA_SMS_PER_PHONE_PER_HOUR": "100",
        "MFA_SMS_PER_IP_PER_HOUR": "10000", "MFA_SMS_PER_PREFIX_PER_HOUR": "100000",
        "MFA_SMS_DAILY_BUDGET": "10000000", "MFA_LOCKOUT_THRESHOLD": "100", "MFA_TELEMETRY": "off",
        "DEVHOST_FUNCTION_KEY": FKEY,
    }


class Host:
    """A dev host subprocess serving `app_dir`'s function app (its own tools.devhost and shared)."""

    def __init__(self, app_dir: Path, env: dict[str, str]) -> None:
        self.port = azurite.free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.devhost", "--port", str(self.port)], cwd=app_dir,
            env={**os.environ, **env}, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        azurite.wait_for_port(self.port, timeout=90, process=self.process)
        self.base = f"http://127.0.0.1:{self.port}/api"

    def stop(self) -> None:
        azurite.stop_process(self.process)


class Users:
    """Each flow's users; SMS and passkey ones split so that client i owns users i, i+C, i+2C... A TOTP
    user signs in at most once per 30 s step (a code is never replayed), so each TOTP run gets its own
    `max_flows` users (and a few spare); the wrong-code runs share them (a refusal uses up no step)."""

    def __init__(self, base: str, inbox: Inbox, args: argparse.Namespace, flows: list[str]) -> None:
        # A tenth spare: a user whose enrolment crossed a step boundary cannot sign in before the next step.
        top, self.per_run = max(args.clients), args.max_flows + args.max_flows // 10 + 2
        self.base, self.inbox = base, inbox
        n_totp = 1 + self.per_run * len(args.clients) if {"totp", "wrong"} & set(flows) else 0
        self.totp = enrol_all(base, enrol_totp, [(f"bench-totp-{i}",) for i in range(n_totp)])
        n_sms = min(len(PHONES), 2 * top) if "sms" in flows else 0
        self.sms = enrol_all(base, lambda api, u, p: enrol_sms(api, inbox, u, p),
                             [(f"bench-sms-{i}", PHONES[i]) for i in range(n_sms)])
        n_passkey = top if "passkey" in flows else 0
        self.passkey = enrol_all(base, enrol_passkey, [(f"bench-pk-{i}",) for i in range(n_passkey)])

    def clients(self, flow: str, count: int, run: int = -1) -> list[Any]:
        """Client flows for the `run`-th run at this level (-1: warming up, one user of each kind)."""
        if flow in ("totp", "wrong"):
            users = self.totp[:1] if run < 0 else self.totp[1 + run * self.per_run:1 + (run + 1) * self.per_run]
            pool = TotpPool(self.totp if flow == "wrong" and run >= 0 else users)
            return [totp_flow(self.base, pool, wrong=flow == "wrong") for _ in range(count)]
        if flow == "sms":
            return [sms_flow(self.base, self.inbox, self.sms[i::count]) for i in range(count)]
        return [passkey_flow(self.base, self.passkey[i::count]) for i in range(count)]


def count_round_trips(app_dir: Path, store: azurite.Azurite, emulator: Any, inbox: Inbox, flows: list[str],
                      repeats: int) -> dict[str, dict[str, Any]]:
    """Each flow's app round trips, from a dev host whose Storage traffic goes through a recording proxy."""
    tables, queues = RecordingProxy(store.table_port), RecordingProxy(store.queue_port)
    proxied = azurite.Azurite(store.process, store.blob_port, queues.port, tables.port, None)
    host = Host(app_dir, app_env(proxied, emulator.url, "benchcount", "count"))
    try:
        users = Users(host.base, inbox, argparse.Namespace(max_flows=repeats, clients=[1]), flows)
        counted: dict[str, dict[str, Any]] = {}
        for flow in flows:
            users.clients(flow, 1)[0]()  # warm: first-use costs (index keys, queues, policy) are not a flow's
            fn = users.clients(flow, 1, 0)[0]
            seen = []
            for _ in range(repeats):
                time.sleep(0.3)
                start = time.monotonic()
                fn()
                time.sleep(0.5)  # the queue host's send finishes after the SMS is read
                seen.append(tuple(app_kinds(tables.since(start) + queues.since(start), queues.port)))
            kinds, times = collections.Counter(seen).most_common(1)[0]
            counted[flow] = {"round_trips": len(kinds), "kinds": list(kinds), "agreeing_repeats": times,
                             "repeats": repeats, "each_repeat": [len(k) for k in seen]}
        return counted
    finally:
        host.stop()
        tables.close()
        queues.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="checkout whose app and dev host are measured")
    parser.add_argument("--seconds", type=float, default=8.0, help="time bound of each run")
    parser.add_argument("--max-flows", type=int, default=200, help="flow-count bound of each run")
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    parser.add_argument("--flows", type=lambda s: s.split(","), default=list(FLOWS), help=",".join(FLOWS))
    parser.add_argument("--count-repeats", type=int, default=5, help="sequential flows per round-trip count")
    parser.add_argument("--no-floor", action="store_true", help="skip the raw-SDK floor runs")
    parser.add_argument("--label", default="", help="free text stored in the result (e.g. the commit)")
    parser.add_argument("--out", type=Path, help="JSON result path (default .bench/<UTC time>.json)")
    args = parser.parse_args(argv)
    unknown = set(args.flows) - set(FLOWS)
    if unknown or args.seconds <= 0 or args.max_flows < 1 or min(args.clients) < 1:
        parser.error(f"flows are {FLOWS}; seconds, max-flows and clients must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app_dir = args.app_dir.resolve()
    stamp = datetime.now(timezone.utc)
    out = args.out or ROOT / ".bench" / f"{stamp:%Y%m%dT%H%M%SZ}.json"
    result: dict[str, Any] = {
        "started": stamp.isoformat(timespec="seconds"), "label": args.label, "app_dir": str(app_dir),
        "app_commit": _commit(app_dir), "bench_commit": _commit(ROOT), "cpus": os.cpu_count(),
        "python": platform.python_version(), "loadavg_before": load_average(),
        "bounds": {"seconds": args.seconds, "max_flows": args.max_flows, "clients": args.clients}}
    # On disk, as `make run` keeps it: Azurite's persistence is part of what its CPU column shows.
    location = tempfile.mkdtemp(prefix="twostep-bench-")
    store = azurite.start_azurite(azurite.free_port(), azurite.free_port(), azurite.free_port(), location=location)
    emulator = sms_emulator.start_in_thread(port=0)
    handler: Any = emulator.server.RequestHandlerClass  # its access log would print one line per SMS
    emulator.server.RequestHandlerClass = type("Silent", (handler,), {"log_request": lambda *a, **k: None})
    inbox = Inbox(emulator)
    try:
        result["round_trips"] = count_round_trips(app_dir, store, emulator, inbox, args.flows, args.count_repeats)
        result["runs"], result["floor"] = measure(app_dir, store, emulator, inbox, args, result["round_trips"])
    finally:
        emulator.stop()
        store.stop()
        shutil.rmtree(location, ignore_errors=True)
    result["loadavg_after"] = load_average()
    add_ratios(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print_report(result)
    print(f"\nresult written to {out}")
    return 0


def measure(app_dir: Path, store: azurite.Azurite, emulator: Any, inbox: Inbox, args: argparse.Namespace,
            counted: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The flow runs, and (unless --no-floor) each round-trip sequence's floor run right after the first
    flow run that makes it at that client count, so a flow and its floor share the machine's state."""
    host = Host(app_dir, app_env(store, emulator.url, "bench", "bench"))
    try:
        users = Users(host.base, inbox, args, args.flows)
        for flow in args.flows:  # warm every code path once
            users.clients(flow, 1)[0]()
        watch = {"function": host.process.pid, "azurite": store.process.pid}
        runs: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        for level, clients in enumerate(args.clients):
            for flow in args.flows:
                time.sleep(1.0)  # let the queue host settle between runs
                runs.append(run(flow, users.clients(flow, clients, level), args.seconds, args.max_flows,
                                watch).summary())
                kinds = counted[flow]["kinds"]
                if not args.no_floor and not any(f["kinds"] == kinds and f["clients"] == clients for f in floors):
                    floors.append(measure_floor(store, kinds, clients, args, counted))
        return runs, floors
    finally:
        host.stop()


def measure_floor(store: azurite.Azurite, kinds: list[str], clients: int, args: argparse.Namespace,
                  counted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The raw SDK making `kinds` (one flow's round trips) at this client count, with the same bounds."""
    replayers = floor_clients(store.connection_string, clients)
    flows: list[Callable[[], float | None]] = [functools.partial(r, list(kinds)) for r in replayers]
    res: RunResult = run("floor", flows, args.seconds, args.max_flows, {"azurite": store.process.pid})
    return {**res.summary(), "kinds": list(kinds), "flows_of": [f for f, c in counted.items() if c["kinds"] == kinds]}


def add_ratios(result: dict[str, Any]) -> None:
    """Each run's p50 and function CPU over its floor's p50 and client (bench) CPU at the same client count."""
    for r in result["runs"]:
        floor = next((f for f in result.get("floor", []) if r["flow"] in f["flows_of"]
                      and f["clients"] == r["clients"]), None)
        if floor is None or not floor["latency_ms"]["p50"]:
            continue
        fcpu, cpu = floor["cpu_ms_per_flow"].get("bench"), r["cpu_ms_per_flow"].get("function")
        r["floor"] = {"p50_ms": floor["latency_ms"]["p50"], "cpu_ms": fcpu,
                      "p50_ratio": round(r["latency_ms"]["p50"] / floor["latency_ms"]["p50"], 2)
                      if r["latency_ms"]["p50"] else None,
                      "cpu_ratio": round(cpu / fcpu, 2) if cpu and fcpu else None}


def _commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    sys.exit(main())
