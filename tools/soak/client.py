"""The soak's HTTP client and what it counts: every answer is recorded under the phase in which its
request started, and a non-503 5xx or a client-side timeout is a violation the moment it is seen."""
from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import requests

from .config import CLIENT_TIMEOUT, FUNCTION_KEY, MASTER_KEY


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
