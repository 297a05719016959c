"""CPU per step of an SMS and a TOTP sign-in, in-process against a throwaway Azurite, with the SMS emulator
in a process of its own so its work is not counted (docs/scale.md sizes Flex Consumption instances on it):

    ip netns exec <name> .venv/bin/python -m tools.bench_cpu [users]

Process CPU time (all threads of this process: the domain, the Storage and ACS SDKs), median over the
users after five warm-up ones. The dev host's HTTP handling comes on top (README "Performance").
"""
from __future__ import annotations

import base64
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shared.crypto.otp import totp
from shared.flows import enrolment, signin, verify
from shared.settings import load_settings
from shared.wiring import build_deps
from tools import azurite
from tools.bench_flows import ROOT, app_env
from tools.flows import _code, _signin_sms

STEPS = ("sms.begin", "sms.verify", "totp.begin", "totp.verify")  # an SMS begin sends inline


def measure(deps: Any, users: int) -> dict[str, list[float]]:
    cpu: dict[str, list[float]] = {k: [] for k in STEPS}

    def timed(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.process_time()
        out = fn(*args)
        cpu[name].append(time.process_time() - start)
        return out

    for i in range(users):
        user = f"cpu{i}"
        view = enrolment.enrol_phone(deps, user, {"phoneNumber": f"+1425555{i:04d}"}).view
        verify.verify(deps, view["challengeId"], {"code": _code(deps, view["challengeId"])})
        app = enrolment.enrol_totp(deps, user, {"proofChallengeId": _signin_sms(deps, user)}).view
        secret = base64.b32decode(app["secret"] + "=" * (-len(app["secret"]) % 8))
        verify.verify(deps, app["challengeId"], {"code": totp(secret, deps.clock.now() - timedelta(seconds=30))})
        sms = timed("sms.begin", signin.begin, deps, {"userId": user, "method": "sms"}).view["challengeId"]
        code = _code(deps, sms)
        timed("sms.verify", verify.verify, deps, sms, {"code": code})
        app_ch = timed("totp.begin", signin.begin, deps, {"userId": user, "method": "totp"}).view["challengeId"]
        timed("totp.verify", verify.verify, deps, app_ch, {"code": totp(secret, deps.clock.now())})
    return {k: v[5:] for k, v in cpu.items()}


def main() -> int:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    store = azurite.start_azurite(*[azurite.free_port() for _ in range(3)],
                                  location=tempfile.mkdtemp(prefix="twostep-cpu-"))
    port = azurite.free_port()
    emulator = subprocess.Popen([sys.executable, "-m", "tools.sms_emulator", "--port", str(port)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        azurite.wait_for_port(port, timeout=30, process=emulator)
        env = app_env(store, f"http://127.0.0.1:{port}", "cpu", "cpu")
        cpu = measure(build_deps(load_settings(env)), max(users, 6))
    finally:
        azurite.stop_process(emulator)
        store.stop()
    median = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
    for name in STEPS:
        print(f"  {name:12s} {median[name]:6.1f} ms CPU (median of {len(cpu[name])})")
    sms, app = (sum(median[k] for k in STEPS if k.startswith(p)) for p in ("sms.", "totp."))
    print(f"  SMS sign-in {sms:.1f} ms, TOTP sign-in {app:.1f} ms (ratio {sms / app:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
