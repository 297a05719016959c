"""Service deps on the in-memory table and queues (shared/store/memory.py, shared/channels/memory.py), built
by the one composition root: the flow rules run unchanged, in milliseconds, with no Azurite, and see it through
the same narrow ports (shared/ports.py) as in production."""
from __future__ import annotations

from shared.channels.memory import MemoryQueues, MemorySms
from shared.settings import load_settings
from shared.store.memory import MemoryTable
from shared.wiring import build_deps
from tests.conftest import ENC_KEY, HMAC_KEY, WEBHOOK_SECRET

# Never contacted: the storage clients and the ACS gateway are replaced by in-memory ones.
ENV = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "MFA_HMAC_KEYS": HMAC_KEY,
    "MFA_ENCRYPTION_KEYS": ENC_KEY,
    "MFA_OTP_HOST": "login.example.test",
    "MFA_TOTP_ISSUER": "twostep-test",
    "ACS_ENDPOINT": "http://127.0.0.1:9",
    "ACS_ACCESS_KEY": "dGVzdA==",
    "ACS_SENDER": "+18005550100",
    "MFA_WEBHOOK_URL": "http://127.0.0.1:9/webhook",
    "MFA_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def memory_deps(clock, **overrides: str):
    """Deps whose table and queues live in memory; queue visibility and TTL follow the test's clock."""
    settings = load_settings({**ENV, "MFA_TABLE_NAME": "memory", **overrides})
    deps = build_deps(settings, clock=clock, table=MemoryTable(),
                      queues=MemoryQueues(now=lambda: clock.now().timestamp()))
    deps.sms = MemorySms()  # type: ignore[assignment]  # the gateway's surface, in memory
    return deps
