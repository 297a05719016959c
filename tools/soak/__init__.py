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

How the pieces fit: `config` (local-only keys, the phase plan) needs nothing of the package; `client`
(the counting HTTP client, users); `environment` (Azurite, emulator, fault proxies, dev host); `load` (the
load generator); `checks` (the invariants, after settling); `report` (the printed report, exit status);
`runner` (one run: phases, then checks and report).
"""
from __future__ import annotations

import argparse

from .config import PHASES
from .runner import Soak

__all__ = ["PHASES", "Soak", "main"]


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
