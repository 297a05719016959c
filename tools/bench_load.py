"""Bounded load runs: N client threads repeat one flow until a time limit or a flow count is reached;
latency percentiles, errors, and the CPU that each watched process spent per flow (from /proc)."""
from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class FlowError(Exception):
    """A flow got an answer other than the one it expects (counted as an error, the run goes on)."""


class PoolExhausted(Exception):
    """A client has no user left that can run the flow now (e.g. every TOTP user used this time step)."""


def session_cpu(sid: int) -> float | None:
    """CPU seconds (user + system) of every process in session `sid`, from /proc/<pid>/stat (all threads
    of a process are in its own line); None where there is no /proc."""
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


def load_average() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    if len(samples) == 1:
        return {"p50": samples[0], "p90": samples[0], "p99": samples[0], "max": samples[0]}
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(q[49], 2), "p90": round(q[89], 2), "p99": round(q[98], 2), "max": round(max(samples), 2)}


@dataclass
class RunResult:
    name: str
    clients: int
    flows: int = 0
    errors: int = 0
    seconds: float = 0.0
    ended_by: str = "time"  # time | count | pool
    latencies_ms: list[float] = field(default_factory=list)
    extra_ms: list[float] = field(default_factory=list)  # e.g. begin -> SMS at the emulator
    cpu_ms_per_flow: dict[str, float | None] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        done = self.flows
        return {"flow": self.name, "clients": self.clients, "flows": done, "errors": self.errors,
                "seconds": round(self.seconds, 2), "ended_by": self.ended_by,
                "flows_per_s": round(done / self.seconds, 2) if self.seconds else None,
                "latency_ms": percentiles(self.latencies_ms), "cpu_ms_per_flow": self.cpu_ms_per_flow,
                **({"extra_ms": percentiles(self.extra_ms)} if self.extra_ms else {}),
                "error_samples": self.error_samples[:3]}


def run(name: str, flows: list[Callable[[], float | None]], seconds: float, max_flows: int,
        watch: dict[str, int]) -> RunResult:
    """Run `flows[i]` on client thread i until `seconds` pass or `max_flows` have started. A flow returns
    an optional extra latency (ms) and raises FlowError for a wrong answer. `watch`: name -> session id
    whose CPU is charged per flow (the function host, Azurite; "bench" is this process)."""
    result = RunResult(name, len(flows))
    lock = threading.Lock()
    started = [0]
    stop_at = time.monotonic() + seconds

    def client(flow: Callable[[], float | None]) -> None:
        while time.monotonic() < stop_at:
            with lock:
                if started[0] >= max_flows:
                    result.ended_by = "count"
                    return
                started[0] += 1
            t0 = time.perf_counter()
            try:
                extra = flow()
            except PoolExhausted:
                result.ended_by = "pool"
                with lock:
                    started[0] -= 1
                return
            except Exception as exc:  # noqa: BLE001 - a failed flow is a number in the report
                with lock:
                    result.flows += 1
                    result.errors += 1
                    if len(result.error_samples) < 3:
                        result.error_samples.append(f"{type(exc).__name__}: {str(exc)[:160]}")
                continue
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                result.flows += 1
                result.latencies_ms.append(ms)
                if extra is not None:
                    result.extra_ms.append(extra)

    cpu_before = {k: session_cpu(sid) for k, sid in watch.items()}
    bench_before = time.process_time()
    t_start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(f,), daemon=True) for f in flows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t_start
    n = max(result.flows, 1)
    for key, sid in watch.items():
        after = session_cpu(sid)
        before = cpu_before[key]
        result.cpu_ms_per_flow[key] = None if before is None or after is None else round((after - before) / n * 1000, 2)
    result.cpu_ms_per_flow["bench"] = round((time.process_time() - bench_before) / n * 1000, 2)
    return result
