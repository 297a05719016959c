"""Benchmark: storage round trips per flow and HTTP latency percentiles through the dev host.

Starts its own Azurite, SMS emulator and dev host on free loopback ports, runs bounded loops, prints a
report, and stops everything. Numbers, not assertions: run `make bench` and read them.
"""
from __future__ import annotations

import argparse
import base64
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from shared.crypto.otp import totp
from shared.settings import load_settings
from tools import azurite, sms_emulator
from tools.flows import counted_deps, measure

ROOT = Path(__file__).resolve().parent.parent

FKEY = "bench-function-key"


def env_for(store: azurite.Azurite, emulator_url: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": store.connection_string,
        "MFA_HMAC_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "MFA_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "MFA_OTP_HOST": "login.example.test", "ACS_ENDPOINT": emulator_url,
        "ACS_ACCESS_KEY": sms_emulator.DEFAULT_KEY, "ACS_SENDER": "+18005550100",
    }


def pct(samples: list[float]) -> str:
    s = sorted(samples)
    q = statistics.quantiles(s, n=100, method="inclusive")
    return f"n={len(s):3d}  p50={q[49]:7.1f} ms  p95={q[94]:7.1f} ms  p99={q[98]:7.1f} ms  max={s[-1]:7.1f} ms"


def session_cpu(sid: int) -> float | None:
    """CPU seconds (user + system) used so far by every process of session `sid` (the dev host and any
    worker it started), from /proc; None where there is no /proc. Counts exited children only once
    reaped, so read it around a loop of requests, not across a restart."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == sid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_per(before: float | None, after: float | None, n: int) -> str:
    return "n/a (no /proc)" if before is None or after is None else f"{(after - before) / n * 1000:5.1f} ms"


def timed(fn) -> tuple[float, requests.Response]:
    start = time.perf_counter()
    r = fn()
    return (time.perf_counter() - start) * 1000, r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50, help="TOTP sign-ins to time (bounded)")
    parser.add_argument("--sms", type=int, default=20, help="SMS sign-ins to time (bounded, <= 90)")
    args = parser.parse_args()
    ports = [azurite.free_port() for _ in range(3)]
    store = azurite.start_azurite(*ports, location=tempfile.mkdtemp(prefix="twostep-bench-"))
    emulator = sms_emulator.start_in_thread(port=0)
    env = env_for(store, emulator.url)
    port = azurite.free_port()
    host = subprocess.Popen([sys.executable, "-m", "tools.devhost", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env, "DEVHOST_FUNCTION_KEY": FKEY}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        azurite.wait_for_port(port, timeout=60, process=host)
        report_round_trips(env)
        report_latency(f"http://127.0.0.1:{port}/api", emulator.url, min(args.users, 200), min(args.sms, 90),
                       host.pid)
    finally:
        azurite.stop_process(host)
        emulator.stop()
        store.stop()
    return 0


def report_round_trips(env: dict[str, str]) -> None:
    settings = load_settings({**env, "MFA_TABLE_NAME": "roundtrips"})
    deps, counter = counted_deps(settings, queue="bench-outbox")
    deps.store.ping()
    counts = measure(deps, counter, "bench-rt", "+14255550199")
    print("Storage round trips per step (Table + Queue requests; the ACS call is not counted):")
    for name, n in counts.items():
        print(f"  {name:12s} {n}")
    print(f"  SMS flow (begin + send + verify): {counts['sms.begin'] + counts['sms.send'] + counts['sms.verify']}")
    print(f"  TOTP flow (begin + verify):       {counts['totp.begin'] + counts['totp.verify']}")
    print("  (plus, for SMS, the queue host's own get + delete of the message)\n")


def report_latency(base: str, sms_url: str, users: int, sms_users: int, host_sid: int) -> None:
    http = requests.Session()
    http.headers["x-functions-key"] = FKEY
    secrets: list[bytes] = []
    for i in range(users):
        r = http.post(f"{base}/v1/users/bench{i}/totp", json={}, timeout=30).json()
        secret = base64.b32decode(r["secret"] + "=" * (-len(r["secret"]) % 8))
        back = datetime.now(timezone.utc) - timedelta(seconds=30)
        http.post(f"{base}/v1/challenges/{r['challengeId']}/verify", json={"code": totp(secret, back)}, timeout=30)
        secrets.append(secret)
    begins, verifies = [], []
    cpu_start = session_cpu(host_sid)
    for i, secret in enumerate(secrets):
        ms, r = timed(lambda i=i: http.post(f"{base}/v1/challenges", json={"userId": f"bench{i}"}, timeout=30))
        begins.append(ms)
        cid = r.json()["challengeId"]
        code = totp(secret, datetime.now(timezone.utc))
        ms, r = timed(lambda cid=cid, code=code: http.post(f"{base}/v1/challenges/{cid}/verify",
                                                         json={"code": code}, timeout=30))
        assert r.status_code == 200, r.text
        verifies.append(ms)
    totp_cpu = cpu_per(cpu_start, session_cpu(host_sid), len(secrets))
    print("HTTP latency through the dev host (sequential, loopback, Azurite):")
    print(f"  TOTP begin   {pct(begins)}")
    print(f"  TOTP verify  {pct(verifies)}")
    sms_begins, to_emulator, idle = [], [], []
    enrol_cpu: list[float | None] = []
    for i in range(sms_users + 8):
        if i >= sms_users:
            # Let the queue host back off towards its idle polling interval; a random gap, so the send does
            # not always land just before a poll.
            time.sleep(random.uniform(2.5, 6.0))
        phone = f"+142555501{i:02d}"
        seen = len(requests.get(f"{sms_url}/messages", params={"to": phone}, timeout=5).json())
        start = time.perf_counter()
        cpu_start = session_cpu(host_sid) if i < sms_users else None
        ms, r = timed(lambda i=i, phone=phone: http.post(f"{base}/v1/users/sms{i}/phone",
                                                        json={"phoneNumber": phone}, timeout=30))
        assert r.status_code == 202, r.text
        sms_begins.append(ms)
        if cpu_start is not None:
            cpu_end = session_cpu(host_sid)
            enrol_cpu.append(None if cpu_end is None else cpu_end - cpu_start)
        target = idle if i >= sms_users else to_emulator
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msgs = requests.get(f"{sms_url}/messages", params={"to": phone}, timeout=5).json()
            if len(msgs) > seen and re.search(r"#\d+$", msgs[-1]["message"]):
                target.append((time.perf_counter() - start) * 1000)
                break
            time.sleep(0.01)
    print(f"  SMS enrol    {pct(sms_begins)}   (POST /users/{{id}}/phone: limits, challenge, enqueue)")
    print(f"  begin -> SMS at emulator, busy queue  {pct(to_emulator)}")
    print(f"  begin -> SMS at emulator, idle queue  {pct(idle)}")
    print("  (an idle queue host polls every 2 s at most: host.json maxPollingInterval)")
    print("Dev host CPU (user + system, all its threads incl. idle pollers, from /proc; not waiting time, but")
    print("still moved by the VM's own noise: compare alternating runs of two trees, not one run each):")
    print(f"  per TOTP sign-in (begin + verify)  {totp_cpu}")
    known = [c for c in enrol_cpu if c is not None]
    print(f"  per SMS enrol (request only)       "
          f"{cpu_per(0.0, sum(known), len(known)) if known else 'n/a (no /proc)'}")


if __name__ == "__main__":
    sys.exit(main())
