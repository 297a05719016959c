"""`make soak`: the service under flapping Storage, end to end, with invariants that must hold.

Starts its own Azurite, the SMS emulator and the dev host (free loopback ports), puts a fault proxy
(tools/faultproxy.py) in front of Azurite's Table and Queue ports, runs a bounded mixed load from a few
client threads (TOTP sign-ins, SMS sign-ins, wrong codes, admin bypasses spent by two racing begins, and
one thread issuing and revoking bypasses for a steady stream of security events)
through phases: warm-up, joint Table+Queue outages, Queue-only and Table-only outages, a slow phase, a
stall, then recovery. Afterwards it waits for the SMS pipeline to settle and runs a final round.

It reports statuses per phase and the invariants, and exits 1 when one fails:
  lost SMS 0 (every SMS challenge answered 201 got its SMS), duplicate SMS 0, lost events 0 (every
  security event committed, by id, reached the webhook; none arrived that was not committed), non-503
  5xx 0, client-side timeouts 0, wrong-code approvals 0, bypass used at most once, final round all good.
Outage latency (how long a request takes while a dependency is down) is reported, not judged.

Run: `python -m tools.soak [--clients 4] [--scale 1.0]` (scale stretches every phase; 1.0 is ~3.5 min).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests

from shared.crypto.otp import time_step, totp
from tools import azurite as azurite_tool
from tools import faultproxy, sms_emulator

ROOT = Path(__file__).resolve().parent.parent

FUNCTION_KEY, MASTER_KEY = "soak-function-key", "soak-master-key"
HMAC_KEY = "soak1:" + "KB0srrP7eAjTIJEJJ6XMXJ4s4ZFYqC5u/seJt2VeIxE="  # local-only: sha256("twostep-soak-hmac")
WEBHOOK_SECRET = "whsec_" + "2vgMWgk1grFoTuhpw1iVF70IyCVMRIJq9Q5OlP4hr3Q="  # local-only (the tests' one)
OTP_HOST = "login.soak.test"
ENC_KEY = "soak1:" + "G5SNXa7/L827PUe2qEd3byxrKa8XkB7JH9XcISt6qsI="  # local-only: sha256("twostep-soak-enc")
CLIENT_TIMEOUT = 30.0  # host.json functionTimeout: a request taking longer is a failure
FINAL_USERS = 4  # enrolled at the start, never used by the load: the final round asks what a fresh user gets
# (the load may have spent its users' hourly SMS limits, which the settings cap at 100)
CODE_RE = re.compile(r"#(\d{6,8})$")

# (name, seconds, table mode, queue mode): outages 5 s down in every 20 s
PHASES = [
    ("warm", 20, "pass", "pass"),
    *[p for _ in range(2) for p in (("joint-down", 5, "refuse", "refuse"), ("joint-up", 15, "pass", "pass"))],
    *[p for _ in range(2) for p in (("queue-down", 5, "pass", "refuse"), ("queue-up", 15, "pass", "pass"))],
    *[p for _ in range(2) for p in (("table-down", 5, "refuse", "pass"), ("table-up", 15, "pass", "pass"))],
    ("slow", 20, "slow", "slow"),
    ("stall", 6, "stall", "stall"),
    ("recovery", 30, "pass", "pass"),
]


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    phase: str = "setup"
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    violations: list[str] = field(default_factory=list)
    sms_challenges: list[tuple[str, str]] = field(default_factory=list)  # (challengeId, phone) answered 201
    bypass_answers: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def record(self, phase: str, op: str, status: int | str, seconds: float) -> None:
        """Count one answer under the phase in which its request started."""
        with self.lock:
            self.statuses[phase][f"{op} {status}"] += 1
            self.latency[phase].append(seconds)
            if isinstance(status, int) and status >= 500 and status != 503:
                self.violations.append(f"{phase}: {op} answered {status}")
            if status == "timeout":
                self.violations.append(f"{phase}: {op} took over {CLIENT_TIMEOUT} s")


class Client:
    def __init__(self, base: str, stats: Stats) -> None:
        self.base, self.stats = base, stats
        self.session = requests.Session()

    def call(self, op: str, method: str, path: str, admin: bool = False, **kwargs) -> requests.Response | None:
        key = MASTER_KEY if admin else FUNCTION_KEY
        phase, started = self.stats.phase, time.monotonic()
        try:
            r = self.session.request(method, self.base + path, headers={"x-functions-key": key},
                                     timeout=CLIENT_TIMEOUT, **kwargs)
        except requests.Timeout:
            self.stats.record(phase, op, "timeout", time.monotonic() - started)
            return None
        except requests.ConnectionError:
            self.stats.record(phase, op, "conn-error", time.monotonic() - started)
            return None
        self.stats.record(phase, op, r.status_code, time.monotonic() - started)
        return r


@dataclass
class User:
    user_id: str
    phone: str
    secret: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_step: int = -1


class Soak:
    def __init__(self, clients: int, scale: float) -> None:
        self.clients, self.scale = clients, scale
        self.stats = Stats()
        self.stop = threading.Event()

    # ------------------------------------------------------------------ environment
    def start(self) -> None:
        ports = [azurite_tool.free_port() for _ in range(3)]
        self.azurite = azurite_tool.start_azurite(*ports, location=tempfile.mkdtemp(prefix="twostep-soak-"))
        self.emulator = sms_emulator.start_in_thread(port=0)
        self.table = faultproxy.FaultProxy(self.azurite.table_port)
        self.queue = faultproxy.FaultProxy(self.azurite.queue_port)
        conn = azurite_tool.connection_string(self.azurite.blob_port, self.queue.port, self.table.port)
        port = azurite_tool.free_port()
        env = {**os.environ, "AzureWebJobsStorage": conn, "MFA_HMAC_KEYS": HMAC_KEY, "MFA_ENCRYPTION_KEYS": ENC_KEY,
               "MFA_OTP_HOST": OTP_HOST, "MFA_TOTP_ISSUER": "soak", "ACS_ENDPOINT": self.emulator.url,
               "ACS_ACCESS_KEY": sms_emulator.DEFAULT_KEY, "ACS_SENDER": "+18005550100", "MFA_TABLE_NAME": "soak",
               "MFA_SMS_PER_USER_PER_HOUR": "100", "MFA_SMS_PER_PHONE_PER_HOUR": "100",
               "MFA_SMS_PER_PREFIX_PER_HOUR": "100000", "MFA_LOCKOUT_THRESHOLD": "100",
               "MFA_WEBHOOK_URL": f"{self.emulator.url}/webhook", "MFA_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "DEVHOST_FUNCTION_KEY": FUNCTION_KEY, "DEVHOST_MASTER_KEY": MASTER_KEY}
        self.log = open(tempfile.mkstemp(prefix="soak-devhost-", suffix=".log")[1], "wb")  # noqa: SIM115
        self.host = subprocess.Popen(
            [sys.executable, "-m", "tools.devhost", "--app-dir", str(ROOT), "--port", str(port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        azurite_tool.wait_for_port(port, timeout=60, process=self.host)
        self.base = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        azurite_tool.stop_process(self.host)
        self.log.close()
        self.table.close()
        self.queue.close()
        self.emulator.stop()
        self.azurite.stop()

    def messages(self, phone: str) -> list[str]:
        return [m["message"] for m in self.emulator.app.state.messages(phone)]

    def wait_code(self, phone: str, after: int, timeout: float, expect: str | None = None) -> str | None:
        """The newest code sent to `phone` after `after` messages (or wait for exactly `expect`: a late SMS
        of an earlier challenge must not be taken for this one's)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [CODE_RE.search(t).group(1) for t in self.messages(phone)[after:]]
            if codes and (expect is None or expect in codes):
                return expect or codes[-1]
            time.sleep(0.1)
        return None

    @staticmethod
    def code_of(challenge_id: str) -> str:
        """The SMS code of a challenge, derived as the sender does (the soak knows the local-only key)."""
        from shared.crypto.keys import derive_code
        from shared.kernel.ids import parse_challenge_id

        _, row_key = parse_challenge_id(challenge_id)
        return derive_code(base64.b64decode(HMAC_KEY.split(":", 1)[1]), row_key[3:], 6)

    # ------------------------------------------------------------------ setup
    def enrol(self, client: Client, n: int) -> User:
        user_id, phone = f"soak{n:02d}", f"+1425555{150 + n:04d}"
        before = len(self.messages(phone))
        r = client.call("setup", "POST", f"/api/v1/users/{user_id}/phone", json={"phoneNumber": phone})
        code = self.wait_code(phone, before, 20)
        client.call("setup", "POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify", json={"code": code})
        r = client.call("setup", "POST", "/api/v1/challenges", json={"userId": user_id, "method": "sms"})
        code = self.wait_code(phone, before + 1, 20)
        proof = r.json()["challengeId"]
        client.call("setup", "POST", f"/api/v1/challenges/{proof}/verify", json={"code": code})
        r = client.call("setup", "POST", f"/api/v1/users/{user_id}/totp", json={"proofChallengeId": proof})
        body = r.json()
        secret = base64.b32decode(body["secret"] + "=" * (-len(body["secret"]) % 8))
        user = User(user_id, phone, secret)
        self.totp_verify(client, user, body["challengeId"], "setup")
        return user

    def totp_verify(self, client: Client, user: User, challenge_id: str, op: str) -> int | None:
        """Answer with the current code, unless this step was already spent (a replay is refused)."""
        now = datetime.now(timezone.utc)
        step = time_step(now, 30)
        while step <= user.last_step:
            time.sleep(0.5)
            now = datetime.now(timezone.utc)
            step = time_step(now, 30)
        r = client.call(op, "POST", f"/api/v1/challenges/{challenge_id}/verify", json={"code": totp(user.secret, now)})
        if r is not None and r.status_code == 200:
            user.last_step = step
        elif r is not None and r.status_code == 403:
            with self.stats.lock:
                self.stats.notes.append(f"{self.stats.phase}: right TOTP code refused for {user.user_id} at step "
                                        f"{step} (+{now.timestamp() % 30:.1f} s), last approved {user.last_step}: "
                                        f"{r.text[:160]}")
        return r.status_code if r is not None else None

    # ------------------------------------------------------------------ load
    def op_totp(self, client: Client, user: User) -> None:
        if time_step(datetime.now(timezone.utc), 30) <= user.last_step:
            return self.op_sms(client, user)  # this step's code is spent: waiting would idle the client
        r = client.call("totp.begin", "POST", "/api/v1/challenges", json={"userId": user.user_id, "method": "totp"})
        if r is not None and r.status_code == 201:
            self.totp_verify(client, user, r.json()["challengeId"], "totp.verify")

    def op_sms(self, client: Client, user: User) -> None:
        before = len(self.messages(user.phone))
        r = client.call("sms.begin", "POST", "/api/v1/challenges", json={"userId": user.user_id, "method": "sms"})
        if r is None or r.status_code != 201:
            return
        cid = r.json()["challengeId"]
        with self.stats.lock:
            self.stats.sms_challenges.append((cid, user.phone))
        code = self.wait_code(user.phone, before, 8, expect=self.code_of(cid))
        if code is not None:
            client.call("sms.verify", "POST", f"/api/v1/challenges/{cid}/verify", json={"code": code})

    def op_wrong(self, client: Client, user: User) -> None:
        r = client.call("wrong.begin", "POST", "/api/v1/challenges", json={"userId": user.user_id, "method": "totp"})
        if r is None or r.status_code != 201:
            return
        right = totp(user.secret, datetime.now(timezone.utc))
        wrong = str((int(right) + 1 + random.randrange(999_998)) % 1_000_000).zfill(6)
        v = client.call("wrong.verify", "POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                        json={"code": wrong})
        if v is not None and 200 <= v.status_code < 300:
            with self.stats.lock:
                self.stats.violations.append(f"{self.stats.phase}: a wrong code was approved")

    def op_bypass(self, client: Client, user: User) -> None:
        r = client.call("bypass.issue", "POST", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True,
                        json={"seconds": 120, "reason": "soak"})
        if r is None or r.status_code != 201:
            return
        bypass_id = r.json()["bypassId"]
        answers: list[requests.Response | None] = []

        def racer() -> None:
            answers.append(Client(self.base, self.stats).call("bypass.begin", "POST", "/api/v1/challenges",
                                                              json={"userId": user.user_id, "method": "totp"}))
        racers = [threading.Thread(target=racer) for _ in range(2)]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        used = sum(1 for a in answers if a is not None and a.status_code == 200
                   and a.json().get("reason") == "bypass")
        with self.stats.lock:
            self.stats.bypass_answers[bypass_id] += used
            if self.stats.bypass_answers[bypass_id] > 1:
                self.stats.violations.append(f"{self.stats.phase}: bypass {bypass_id} used twice")
        client.call("bypass.revoke", "DELETE", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True)

    def event_worker(self, user: User) -> None:
        """Security events all the time, whatever the phase (the SMS workers mostly wait for codes while the
        queue is down): a bypass issued and revoked, two events, about every half second."""
        client = Client(self.base, self.stats)
        while not self.stop.is_set():
            client.call("event.issue", "POST", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True,
                        json={"seconds": 60, "reason": "soak events"})
            client.call("event.revoke", "DELETE", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True)
            time.sleep(0.3)

    def worker(self, users: list[User], wrong_user: User, bypass_user: User) -> None:
        client = Client(self.base, self.stats)
        ops = [(self.op_totp, 4), (self.op_sms, 4), (self.op_wrong, 1), (self.op_bypass, 1)]
        while not self.stop.is_set():
            op = random.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
            user = wrong_user if op == self.op_wrong else bypass_user if op == self.op_bypass else random.choice(users)
            if not user.lock.acquire(timeout=1):
                continue
            try:
                op(client, user)
            finally:
                user.lock.release()
            time.sleep(random.uniform(0.05, 0.2))

    # ------------------------------------------------------------------ run
    def run(self) -> int:
        setup = Client(self.base, self.stats)
        people = [self.enrol(setup, n) for n in range(self.clients * 3 + 3 + FINAL_USERS)]
        wrong_users, bypass_users, event_user = people[:1], people[1:2], people[2]
        users, final_users = people[3:-FINAL_USERS], people[-FINAL_USERS:]
        threads = [threading.Thread(target=self.worker, args=(users, wrong_users[0], bypass_users[0]), daemon=True)
                   for _ in range(self.clients)]
        threads.append(threading.Thread(target=self.event_worker, args=(event_user,), daemon=True))
        for t in threads:
            t.start()
        for name, seconds, table_mode, queue_mode in PHASES:
            with self.stats.lock:
                self.stats.phase = name
            self.table.set_mode(table_mode, delay=0.3, slow_chunk=4096)
            self.queue.set_mode(queue_mode, delay=0.3, slow_chunk=4096)
            time.sleep(seconds * self.scale)
        self.table.set_mode("pass")
        self.queue.set_mode("pass")
        self.stop.set()
        for t in threads:
            t.join(CLIENT_TIMEOUT + 10)
        with self.stats.lock:
            self.stats.phase = "final"
        lost, duplicates, waited = self.settle()
        self.event_check = self.settle_events()
        final_ok = self.final_round(final_users)
        return self.report(lost, duplicates, waited, final_ok)

    def settle(self, timeout: float = 90.0) -> tuple[list[str], list[str], float]:
        """Wait until every SMS challenge answered 201 has its SMS (the sweeper re-drives stragglers)."""
        expected = {cid: (phone, "#" + self.code_of(cid)) for cid, phone in self.stats.sms_challenges}
        started = time.monotonic()
        while True:
            counts = {cid: sum(text.endswith(tag) for text in self.messages(phone))
                      for cid, (phone, tag) in expected.items()}
            lost = [cid for cid, n in counts.items() if n == 0]
            if not lost or time.monotonic() - started > timeout:
                break
            time.sleep(1)
        duplicates = [cid for cid, n in counts.items() if n > 1]
        return lost, duplicates, time.monotonic() - started

    def committed_events(self) -> set[str]:
        """The id of every security event the service committed: read from the audit rows themselves
        (Azurite directly, not through the fault proxy), each built as the publisher builds it."""
        from azure.data.tables import TableClient

        from shared.channels.events import build_event
        from shared.store import audit_events

        conn = azurite_tool.connection_string(self.azurite.blob_port, self.azurite.queue_port, self.azurite.table_port)
        table = TableClient.from_connection_string(conn, "soak")
        rows = table.query_entities("RowKey ge @lo and RowKey lt @hi", parameters={"lo": "au|", "hi": "au}"})
        built = (build_event(audit, OTP_HOST) for audit in audit_events([("create", row) for row in rows]))
        return {event.get_id() for event in built if event is not None}

    def delivered_events(self) -> list[str]:
        return [d["headers"].get("webhook-id", "") for d in self.emulator.app.state.webhooks()]

    def settle_events(self, timeout: float = 90.0) -> dict[str, int]:
        """Wait until every committed security event reached the webhook (the sweep publishes stragglers)."""
        started = time.monotonic()
        while True:
            committed, delivered = self.committed_events(), self.delivered_events()
            lost = committed - set(delivered)
            if not lost or time.monotonic() - started > timeout:
                break
            time.sleep(1)
        return {"committed": len(committed), "lost": len(lost), "phantom": len(set(delivered) - committed),
                "repeats": len(delivered) - len(set(delivered)), "waited": round(time.monotonic() - started, 1)}

    def final_round(self, users: list[User]) -> bool:
        client = Client(self.base, self.stats)
        ok = True
        for user in users:
            r = client.call("final.totp.begin", "POST", "/api/v1/challenges",
                            json={"userId": user.user_id, "method": "totp"})
            ok &= r is not None and r.status_code == 201 and self.totp_verify(client, user, r.json()["challengeId"],
                                                                              "final.totp.verify") == 200
            before = len(self.messages(user.phone))
            r = client.call("final.sms.begin", "POST", "/api/v1/challenges",
                            json={"userId": user.user_id, "method": "sms"})
            code = self.wait_code(user.phone, before, 20) if r is not None and r.status_code == 201 else None
            v = client.call("final.sms.verify", "POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                            json={"code": code}) if code else None
            ok &= v is not None and v.status_code == 200
        return ok

    def report(self, lost: list[str], duplicates: list[str], waited: float, final_ok: bool) -> int:
        s = self.stats
        print("\n== statuses per phase (op status: count) and latency (p50 / p95 / max, s)")
        for phase in dict.fromkeys([p[0] for p in PHASES] + ["final"]):
            if phase not in s.statuses:
                continue
            lat = sorted(s.latency[phase])
            p95 = lat[int(0.95 * (len(lat) - 1))] if lat else 0
            print(f"{phase:12} {statistics.median(lat):.3f} / {p95:.3f} / {lat[-1]:.3f}  "
                  + json.dumps(dict(sorted(s.statuses[phase].items()))))
        print("\n== outage latency: slowest answer of any request while a dependency was down")
        for phase in ("joint-down", "queue-down", "table-down", "slow", "stall"):
            if s.latency.get(phase):
                print(f"{phase:12} max {max(s.latency[phase]):.3f} s over {len(s.latency[phase])} requests")
        sms_total = len(s.sms_challenges)
        checks = {
            f"lost SMS (of {sms_total} answered 201; settled after {waited:.1f} s)": len(lost),
            "duplicate SMS": len(duplicates),
            f"lost events (of {self.event_check['committed']} committed; settled after "
            f"{self.event_check['waited']} s; {self.event_check['repeats']} repeats by id)": self.event_check["lost"],
            "events delivered that were never committed": self.event_check["phantom"],
            "non-503 5xx / client timeouts": sum(1 for v in s.violations if "answered" in v or "took over" in v),
            "wrong-code approvals": sum(1 for v in s.violations if "wrong code" in v),
            "bypass used twice": sum(1 for v in s.violations if "used twice" in v),
            "final round failed": 0 if final_ok else 1,
        }
        print("\n== invariants")
        for name, value in checks.items():
            print(f"{'OK  ' if value == 0 else 'FAIL'} {name}: {value}")
        for v in s.violations[:20]:
            print("  ", v)
        if s.notes:
            print(f"\n== notes ({len(s.notes)}; not invariants)")
            for note in s.notes[:10]:
                print("  ", note)
        failed = any(checks.values())
        print("\nsoak", "FAILED" if failed else "passed")
        return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0, help="stretch (or shrink) every phase")
    args = parser.parse_args(argv)
    soak = Soak(args.clients, args.scale)
    soak.start()
    try:
        return soak.run()
    finally:
        soak.close()


if __name__ == "__main__":
    sys.exit(main())
