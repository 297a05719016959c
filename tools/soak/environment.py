"""What the soak runs against, all on free loopback ports: its own Azurite, the SMS emulator (also the
webhook receiver) and the dev host, with a fault proxy (tools/faultproxy.py) in front of Azurite's Table
and Queue ports so the phases can flap Storage under the service."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools import azurite as azurite_tool
from tools import faultproxy, sms_emulator

from .config import CODE_RE, ENC_KEY, FUNCTION_KEY, HMAC_KEY, MASTER_KEY, OTP_HOST, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]


class Environment:
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

    def delivered_events(self) -> list[str]:
        return [d["headers"].get("webhook-id", "") for d in self.emulator.app.state.webhooks()]

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
