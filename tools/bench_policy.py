"""Benchmark (P1): what the sign-in policy costs a begin-challenge, empty versus at the documented maximum
(195 named locations x 2000 ranges), and what a refresh costs.

Part 1 needs nothing running: parsing and validating the maximum document, building its NetworkSet, and a
warm begin decision (the cached policy plus the evaluation, a trusted-network hit and a miss).
Part 2 starts its own Azurite on free loopback ports: storing the maximum document (its chunk rows and the
pointer flip), its first load on another instance, a refresh that finds the version unchanged, and a whole
warm `begin` (TOTP, storage included) under the empty and the stored policy. Numbers, not assertions.

    .venv/bin/python -m tools.bench_policy [--iterations 20000] [--begins 100] [--no-storage]
"""
from __future__ import annotations

import argparse
import base64
import os
import statistics
import time
from datetime import datetime, timedelta, timezone

from shared.crypto.otp import totp
from shared.flows import enrolment, signin, verify
from shared.kernel.results import ChallengeStarted
from shared.model.policy import MAX_LOCATIONS, MAX_RANGES, Policy, apply_patch, defaults
from shared.model.records import Profile
from shared.settings import load_settings
from shared.store.policy_store import CACHE_SECONDS, PolicyStore, _encode
from shared.wiring import build_deps
from tools import azurite

NOW = datetime(2026, 11, 27, 19, 30, tzinfo=timezone.utc)


def cidr(location: int, index: int) -> str:
    """Distinct ranges: even locations IPv4 /24s from 11.0.0.0, odd ones IPv6 /48s."""
    if location % 2 == 0:
        k = (location // 2) * MAX_RANGES + index
        return f"{11 + (k >> 16)}.{(k >> 8) & 255}.{k & 255}.0/24"
    return f"2001:{location:x}:{index:x}::/48"


def networks_doc(locations: int, ranges: int) -> dict:
    return {"trustedNetworks": [{"name": f"loc{i}", "cidrs": [cidr(i, j) for j in range(ranges)]}
                                for i in range(locations)]}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def spread(samples: list[float], unit: float = 1e6, label: str = "us") -> str:
    s = sorted(samples)
    q = statistics.quantiles(s, n=100, method="inclusive")
    return f"p50={q[49] * unit:8.2f} {label}  p99={q[98] * unit:8.2f} {label}  max={s[-1] * unit:8.2f} {label}"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def decision_times(store: PolicyStore, ip: str, iterations: int) -> list[float]:
    """A warm begin decision: the cached policy, then the evaluation (no storage)."""
    profile = Profile(user_id="bench", created_at=NOW)
    context = {"ip": ip}
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        signin.evaluate(store.current(), profile, context, NOW, lambda: False)
        samples.append(time.perf_counter() - start)
    return samples


class CachedOnly:
    """A PolicyStore stand-in holding one policy (part 1 has no Storage)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def current(self) -> Policy:
        return self.policy


def part_in_process(iterations: int) -> None:
    settings = bench_settings("UseDevelopmentStorage=true")
    empty = defaults(settings)
    doc = networks_doc(MAX_LOCATIONS, MAX_RANGES)
    print(f"maximum document: {MAX_LOCATIONS} locations x {MAX_RANGES} ranges = {MAX_LOCATIONS * MAX_RANGES} ranges")
    parse_s, full = timed(lambda: apply_patch(empty, doc))
    build_s, _ = timed(lambda: full.networks)
    print(f"  parse and validate (once per version) {ms(parse_s)}")
    print(f"  NetworkSet build   (once per version) {ms(build_s)}")
    inside, outside = "11.0.5.9", "198.51.100.7"
    assert inside in full.networks and outside not in full.networks
    print(f"warm begin decision, {iterations} iterations each:")
    for label, policy, ip in (("empty policy, no IP match   ", empty, outside),
                              ("maximum policy, IP outside   ", full, outside),
                              ("maximum policy, trusted IP   ", full, inside)):
        print(f"  {label} {spread(decision_times(CachedOnly(policy), ip, iterations))}")


def bench_settings(connection: str):
    return load_settings({
        "AzureWebJobsStorage": connection, "MFA_TABLE_NAME": "t" + os.urandom(6).hex(),
        "MFA_HMAC_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "MFA_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
        "MFA_OTP_HOST": "login.example.test", "ACS_ENDPOINT": "http://127.0.0.1:9", "ACS_ACCESS_KEY": "eA==",
        "ACS_SENDER": "+18005550100"})


def begin_times(deps, user: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        result = signin.begin(deps, {"userId": user, "method": "totp", "context": {"ip": "198.51.100.7"}})
        samples.append(time.perf_counter() - start)
        assert isinstance(result, ChallengeStarted)
    return samples


def part_storage(begins: int) -> None:
    store = azurite.start_azurite(*(azurite.free_port() for _ in range(3)))
    try:
        deps = build_deps(bench_settings(store.connection_string))
        view = enrolment.enrol_totp(deps, "bench", {}).view
        secret = base64.b32decode(view["secret"] + "=" * (-len(view["secret"]) % 8))
        code = totp(secret, datetime.now(timezone.utc) - timedelta(seconds=30))
        verify.verify(deps, view["challengeId"], {"code": code})
        begin_times(deps, "bench", 5)  # warm the connection
        empty = begin_times(deps, "bench", begins)
        doc = networks_doc(MAX_LOCATIONS, MAX_RANGES)
        count = sum(len(n["cidrs"]) for n in doc["trustedNetworks"])
        chunks, _ = _encode(doc)
        patch_s, _ = timed(lambda: deps.policies.patch(doc, "bench", datetime.now(timezone.utc)))
        clock = [0.0]
        other = PolicyStore(deps.store, deps.settings, monotonic=lambda: clock[0])  # another instance
        load_s, _ = timed(other.current)
        clock[0] += CACHE_SECONDS
        check_s, _ = timed(other.current)
        print(f"stored document: {MAX_LOCATIONS} x {count // MAX_LOCATIONS} = {count} ranges "
              f"({len(chunks)} chunk rows, {sum(map(len, chunks)) / 1e6:.2f} MB compressed)")
        print(f"  PATCH (validate, store chunks, flip)     {ms(patch_s)}")
        print(f"  first load on another instance           {ms(load_s)}")
        print(f"  refresh, version unchanged (ETag query)  {ms(check_s)}")
        deps.policies.current()
        begin_times(deps, "bench", 5)
        stored = begin_times(deps, "bench", begins)
        print(f"whole warm begin (TOTP, Azurite), {begins} each:")
        print(f"  empty policy   {spread(empty, 1e3, 'ms')}")
        print(f"  stored policy  {spread(stored, 1e3, 'ms')}")
    finally:
        store.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--begins", type=int, default=100)
    parser.add_argument("--no-storage", action="store_true", help="part 1 only (no Azurite)")
    args = parser.parse_args()
    part_in_process(args.iterations)
    if not args.no_storage:
        part_storage(args.begins)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
