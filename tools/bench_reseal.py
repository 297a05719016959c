"""Benchmark: the re-encryption job and the remaining-count scan against a local Azurite.

Starts its own Azurite on free loopback ports, writes `--users` profiles sealed under an old encryption
key (a phone and one TOTP device each, plus `--audit` audit rows per user that the scan must skip), rotates,
times `GET /api/v1/admin/keys`'s scan and the reseal runs until the pass is complete, and prints numbers.
Numbers, not assertions.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import time
from datetime import datetime, timezone

from shared.methods.sms import phone_aad
from shared.methods.totp import totp_aad
from shared.model.records import Profile, TotpDevice
from shared.ops import reseal
from shared.settings import load_settings
from shared.store import Tx, audit_row, to_entity
from shared.wiring import build_deps
from tests.clocks import FixedClock
from tools import azurite


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--audit", type=int, default=5, help="audit rows per user (not sealed: skipped)")
    parser.add_argument("--rows-per-run", type=int, default=500)
    args = parser.parse_args()
    ports = [azurite.free_port() for _ in range(3)]
    store = azurite.start_azurite(*ports)
    try:
        old, new = f"old:{key()}", f"new:{key()}"
        env = {"AzureWebJobsStorage": store.connection_string, "MFA_HMAC_KEYS": f"h:{key()}",
               "MFA_ENCRYPTION_KEYS": old, "MFA_OTP_HOST": "login.example.test",
               "ACS_ENDPOINT": "http://127.0.0.1:9", "ACS_SENDER": "+18005550100", "MFA_TABLE_NAME": "bench"}
        clock = FixedClock(datetime(2026, 11, 27, 19, 30, tzinfo=timezone.utc))
        d = build_deps(load_settings(env), clock=clock)
        d.store.ping()  # creates the table (a transaction into a missing table is not retried)
        start = time.perf_counter()
        for i in range(args.users):
            user = f"user{i:06d}"
            p = Profile(user_id=user, created_at=clock.now(), phone=d.sealer.seal(b"+14255550100", phone_aad(user)),
                        phone_masked="+1*******00",
                        totp=[TotpDevice(id="app", secret=d.sealer.seal(os.urandom(20), totp_aad(user)))])
            tx = Tx().create(to_entity(p))
            for _ in range(args.audit):
                tx.create(audit_row(user, clock.now(), "verify_approved", "application", 90))
            d.store.transact(tx)
        print(f"seeded {args.users} users ({2 * args.users} sealed values, {args.users * args.audit} audit rows) "
              f"in {time.perf_counter() - start:.1f} s")
        rotated = build_deps(load_settings({**env, "MFA_ENCRYPTION_KEYS": f"{new},{old}"}), clock=clock)
        start = time.perf_counter()
        before = reseal.status(rotated)
        scan = time.perf_counter() - start
        print(f"status scan: {before['scan']['rowsScanned']} rows in {scan * 1000:.0f} ms "
              f"({before['scan']['rowsScanned'] / scan:.0f} rows/s); remaining {before['encryption']['remaining']}")
        start, runs, values = time.perf_counter(), [], 0
        while not runs or not runs[-1][1]["passComplete"]:
            t0 = time.perf_counter()
            summary = reseal.run(rotated, args.rows_per_run, "bench")
            runs.append((time.perf_counter() - t0, summary))
            values += summary["valuesResealed"]
        total = time.perf_counter() - start
        slowest = max(t for t, _ in runs)
        print(f"reseal: {values} values in {len(runs)} runs of <= {args.rows_per_run} rows, {total:.1f} s "
              f"({values / total:.0f} values/s); slowest run {slowest:.1f} s")
        after = reseal.status(rotated)
        print("after:", json.dumps(after["encryption"]["remaining"]), "complete:", after["scan"]["complete"])
    finally:
        store.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
