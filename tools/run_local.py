"""`make run`: start Azurite, the ACS SMS emulator and the functions dev host on loopback, print the URLs
and a working example, and stop all three on Ctrl-C (or when any of them dies)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tools import azurite

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FUNCTIONS_PORT, SMS_PORT = 7071, 7072
# The try-it page is opened at localhost (a secure context, as WebAuthn wants), and reads the emulator's inbox.
TRY_ORIGIN, INBOX = f"http://localhost:{FUNCTIONS_PORT}", f"http://127.0.0.1:{SMS_PORT}"


def ensure_local_settings() -> None:
    settings = ROOT / "local.settings.json"
    if not settings.exists():
        shutil.copyfile(ROOT / "local.settings.example.json", settings)
        print("created local.settings.json from local.settings.example.json")


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, start_new_session=True, env=env)


def devhost_env() -> dict[str, str]:
    """Security events go to the emulator's webhook inbox, also with a local.settings.json made before
    the webhook existed (the secret is then the example one)."""
    import json

    values = json.loads((ROOT / "local.settings.json").read_text(encoding="utf-8")).get("Values") or {}
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))["Values"]
    env = dict(os.environ)
    env.setdefault("MFA_TELEMETRY", "console")  # twostep.* metrics every 10 s, one line per span of an invocation
    env.setdefault("MFA_WEBHOOK_URL", f"{INBOX}/webhook")
    env.setdefault("MFA_TRY_SMS_INBOX_URL", INBOX)  # the try-it page's SMS inbox panel (local runs only)
    env.setdefault("MFA_WEBAUTHN_ORIGINS", TRY_ORIGIN)  # passkeys on the try-it page (rp id: localhost)
    env.setdefault("MFA_WEBHOOK_SECRET", values.get("MFA_WEBHOOK_SECRET") or example["MFA_WEBHOOK_SECRET"])
    return env


def banner() -> None:
    fkey = os.environ.get("DEVHOST_FUNCTION_KEY", "local-function-key")
    mkey = os.environ.get("DEVHOST_MASTER_KEY", "local-master-key")
    base = f"http://127.0.0.1:{FUNCTIONS_PORT}/api"
    print(f"""
twostep is running (Ctrl-C stops everything):
  functions      {base}   (function key: {fkey}, master key: {mkey})
  health         {base}/health
  try-it page    {TRY_ORIGIN}/api/try   (type the function key into the page)
  SMS emulator   http://127.0.0.1:{SMS_PORT}/messages   (what the app "sent")
  events         http://127.0.0.1:{SMS_PORT}/webhook/events   (security events the webhook received)
  Azurite        blob 10000, queue 10001, table 10002 (data in .azurite/)

Try it:
  curl -s -X POST {base}/v1/users/alice@contoso.com/phone -H 'x-functions-key: {fkey}' \\
       -d '{{"phoneNumber": "+14255550100"}}'
  curl -s http://127.0.0.1:{SMS_PORT}/messages          # read the code from the last line: #123456
  curl -s -X POST {base}/v1/challenges/<challengeId>/verify -H 'x-functions-key: {fkey}' \\
       -d '{{"code": "123456"}}'
  curl -s -X POST {base}/v1/challenges -H 'x-functions-key: {fkey}' -d '{{"userId": "alice@contoso.com"}}'
""", flush=True)


def main() -> int:
    ensure_local_settings()
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        store = azurite.start_azurite(location=str(ROOT / ".azurite"))
        children.append(store.process)
        children.append(start([PY, "-m", "tools.sms_emulator", "--port", str(SMS_PORT), "--allow-origin", TRY_ORIGIN]))
        azurite.wait_for_port(SMS_PORT, process=children[-1])
        children.append(start([PY, "-m", "tools.devhost", "--port", str(FUNCTIONS_PORT),
                               "--check", "shared.settings:get_settings"], env=devhost_env()))
        azurite.wait_for_port(FUNCTIONS_PORT, timeout=60, process=children[-1])
        banner()
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        return 0 if stopping else 1
    except (RuntimeError, TimeoutError) as error:
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            azurite.stop_process(child)


if __name__ == "__main__":
    sys.exit(main())
