"""The soak's printed report: statuses and latency per phase, the slowest answer while a dependency was
down (reported, not judged), then the invariants; the exit status is 1 when any invariant fails."""
from __future__ import annotations

import json
import statistics

from .client import Stats
from .config import PHASES


def report(s: Stats, lost: list[str], duplicates: list[str], waited: float, final_ok: bool,
           event_check: dict[str, int]) -> int:
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
        f"lost events (of {event_check['committed']} committed; settled after "
        f"{event_check['waited']} s; {event_check['repeats']} repeats by id)": event_check["lost"],
        "events delivered that were never committed": event_check["phantom"],
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
