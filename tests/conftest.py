"""Shared fixtures: a throwaway Azurite and SMS emulator for the session, settings pointing at them,
and in-process service dependencies with an injected clock."""
from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared import clients
from shared.channels.sms import Outbox
from shared.settings import load_settings
from shared.wiring import build_deps
from tests.clocks import FixedClock
from tools import azurite as azurite_tool
from tools import sms_emulator

ROOT = Path(__file__).resolve().parent.parent

# Test-only keys: SHA-256 of a label, so they pass the random-key checks (32 x 'A' would not).
HMAC_KEY = "test1:" + "DOnqjsrh+XcIWz+yV1vrj9KXUbh1wxzf/bs17E5Sqh4="  # sha256("twostep-test-hmac")
ENC_KEY = "test1:" + "Q8rJgxdbuK+9TiW1wk136KkaP9236ws1yQMLPjjsA1A="  # sha256("twostep-test-enc")
WEBHOOK_SECRET = "whsec_" + "2vgMWgk1grFoTuhpw1iVF70IyCVMRIJq9Q5OlP4hr3Q="  # sha256("twostep-test-webhook")


@pytest.fixture(scope="session")
def azurite():
    ports = [azurite_tool.free_port() for _ in range(3)]
    location = tempfile.mkdtemp(prefix="twostep-azurite-")
    server = azurite_tool.start_azurite(*ports, location=location)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emulator():
    server = sms_emulator.start_in_thread(port=0)
    yield server
    server.stop()


def app_env(azurite, emulator, **overrides: str) -> dict[str, str]:
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "MFA_HMAC_KEYS": HMAC_KEY,
        "MFA_ENCRYPTION_KEYS": ENC_KEY,
        "MFA_OTP_HOST": "login.example.test",
        "MFA_TOTP_ISSUER": "twostep-test",
        "ACS_ENDPOINT": emulator.url,
        "ACS_ACCESS_KEY": sms_emulator.DEFAULT_KEY,
        "ACS_SENDER": "+18005550100",
        "MFA_WEBHOOK_URL": f"{emulator.url}/webhook",
        "MFA_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MFA_WEBAUTHN_RP_ID": "localhost",  # the local defaults, spelled out (tests/webauthn_soft.py's)
        "MFA_WEBAUTHN_RP_NAME": "twostep-test",
        "MFA_WEBAUTHN_ORIGINS": "http://localhost:7071",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def base_env(azurite, emulator) -> dict[str, str]:
    return app_env(azurite, emulator)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 27, 19, 30, 0, tzinfo=timezone.utc))


@pytest.fixture
def make_deps(base_env, clock):
    """Build in-process service dependencies against Azurite; each test gets its own table."""
    made = []

    def make(**overrides: str):
        table = "t" + os.urandom(6).hex()
        settings = load_settings({**base_env, "MFA_TABLE_NAME": table, **overrides})
        # Queues of its own, so a dev host running against the same Azurite never takes their messages.
        deps = build_deps(settings, clock=clock, events_queue=f"events-{table}", due_queue=f"due-{table}")
        deps.outbox = Outbox(clients.queue_client(settings, queue=f"outbox-{table}"))
        made.append(deps)
        return deps

    yield make
    for deps in made:
        try:
            deps.store.table.delete_table()
            deps.outbox.queue.delete_queue()
            deps.events.queue.delete_queue()
            deps.sweeps.queue.queue.delete_queue()
        except Exception:  # noqa: BLE001 - best effort cleanup of a throwaway table
            pass


@pytest.fixture
def deps(make_deps):
    return make_deps()


@pytest.fixture
def queue_path(monkeypatch):
    """Every SMS takes the queue path: the begin's inline attempt (shared/delivery/inline.py) leaves it to
    the queue at once, as it does when that attempt fails. For the tests of the queue sender, the sweep and
    the outbox message themselves."""
    from shared.delivery import inline

    monkeypatch.setattr(inline, "first_attempt",
                        lambda d, ch, challenge_id, now: inline.to_queue(d, ch, challenge_id, now, "queue_path"))
    monkeypatch.setattr(inline, "send_first", lambda d, ch, now: (None, "queue_path"))


FUNCTION_KEY = "test-function-key"
MASTER_KEY = "test-master-key"


class DevHost:
    """The project's dev host serving the real function_app as a subprocess, on a free loopback port."""

    def __init__(self, env: dict[str, str], function_key: str = FUNCTION_KEY, master_key: str = MASTER_KEY,
                 module: str = "tools.devhost", port: int | None = None) -> None:
        """`module`: what `python -m` runs (a test's wrapper that registers a throw-away method first);
        `port`: one the caller picked (when a setting must name it, as the WebAuthn origins do)."""
        import subprocess

        self.port = port or azurite_tool.free_port()  # a caller names it when a setting must hold it (origins)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="devhost-", suffix=".log")[1])
        # The host's clock: real time while this file is empty; a test pins it (api_client.HostClock).
        self.clock_file = Path(tempfile.mkstemp(prefix="devhost-clock-")[1])
        # An SMS queue of its own: every host polls the one Azurite, and a host that took another host's
        # message would find no such challenge in its table and drop it.
        self.sms_queue = env.get("MFA_SMS_QUEUE") or f"sms-outbox-{self.port}"
        self.events_queue = env.get("MFA_EVENTS_QUEUE") or f"events-{self.port}"  # the same for events
        self.due_queue = env.get("MFA_DUE_QUEUE") or f"due-sweep-{self.port}"  # and for the due sweep's chain
        full_env = {**os.environ, **env, "DEVHOST_FUNCTION_KEY": function_key, "DEVHOST_MASTER_KEY": master_key,
                    "DEVHOST_CLOCK_FILE": str(self.clock_file), "MFA_SMS_QUEUE": self.sms_queue,
                    "MFA_EVENTS_QUEUE": self.events_queue, "MFA_DUE_QUEUE": self.due_queue}
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--app-dir", str(ROOT), "--port", str(self.port)],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        azurite_tool.wait_for_port(self.port, timeout=60, process=self.process)

    def logs(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        azurite_tool.stop_process(self.process)
        self.log.close()
        self.clock_file.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def start_devhost():
    hosts: list[DevHost] = []

    def start(env: dict[str, str], module: str = "tools.devhost", **keys) -> DevHost:
        host = DevHost(env, module=module, **keys)
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.stop()


@pytest.fixture(scope="session")
def devhost(start_devhost, base_env) -> DevHost:
    return start_devhost({**base_env, "MFA_TABLE_NAME": "httpapi"})
