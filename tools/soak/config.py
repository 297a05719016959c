"""The soak's fixed inputs: the local-only keys the dev host is started with (the soak derives SMS codes
with the HMAC key, so they must be known), the client timeout that counts as a failure, and the phase
plan of Storage faults."""
from __future__ import annotations

import re

FUNCTION_KEY, MASTER_KEY = "soak-function-key", "soak-master-key"
HMAC_KEY = "soak1:" + "KB0srrP7eAjTIJEJJ6XMXJ4s4ZFYqC5u/seJt2VeIxE="  # local-only: sha256("twostep-soak-hmac")
WEBHOOK_SECRET = "whsec_" + "2vgMWgk1grFoTuhpw1iVF70IyCVMRIJq9Q5OlP4hr3Q="  # local-only (the tests' one)
OTP_HOST = "login.soak.test"
ENC_KEY = "soak1:" + "G5SNXa7/L827PUe2qEd3byxrKa8XkB7JH9XcISt6qsI="  # local-only: sha256("twostep-soak-enc")
CLIENT_TIMEOUT = 30.0  # host.json functionTimeout: a request taking longer is a failure
FINAL_USERS = 4  # enrolled at the start, never used by the load: the final round asks what a fresh user gets
# (the load may have spent its users' hourly SMS limits, which the settings cap at 100)
CODE_RE = re.compile(r"#(\d{6,8})$")

# (name, seconds, table mode, queue mode): outages 5 s down in every 20 s
PHASES = [
    ("warm", 20, "pass", "pass"),
    *[p for _ in range(2) for p in (("joint-down", 5, "refuse", "refuse"), ("joint-up", 15, "pass", "pass"))],
    *[p for _ in range(2) for p in (("queue-down", 5, "pass", "refuse"), ("queue-up", 15, "pass", "pass"))],
    *[p for _ in range(2) for p in (("table-down", 5, "refuse", "pass"), ("table-up", 15, "pass", "pass"))],
    ("slow", 20, "slow", "slow"),
    ("stall", 6, "stall", "stall"),
    ("recovery", 30, "pass", "pass"),
]
