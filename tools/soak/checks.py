"""The invariants checked after the load: every SMS challenge answered 201 got exactly one SMS, every
security event committed reached the webhook (and none arrived that was not committed), and a final
round of sign-ins for users the load never touched all succeeds. The settle steps wait (bounded) for the
sweeper, which re-drives stragglers, before judging."""
from __future__ import annotations

import time

from .client import Client, Stats, User
from .environment import Environment
from .load import Load, code_of


def settle(env: Environment, stats: Stats, timeout: float = 90.0) -> tuple[list[str], list[str], float]:
    """Wait until every SMS challenge answered 201 has its SMS (the sweeper re-drives stragglers)."""
    expected = {cid: (phone, "#" + code_of(cid)) for cid, phone in stats.sms_challenges}
    started = time.monotonic()
    while True:
        counts = {cid: sum(text.endswith(tag) for text in env.messages(phone))
                  for cid, (phone, tag) in expected.items()}
        lost = [cid for cid, n in counts.items() if n == 0]
        if not lost or time.monotonic() - started > timeout:
            break
        time.sleep(1)
    duplicates = [cid for cid, n in counts.items() if n > 1]
    return lost, duplicates, time.monotonic() - started


def settle_events(env: Environment, timeout: float = 90.0) -> dict[str, int]:
    """Wait until every committed security event reached the webhook (the sweep publishes stragglers)."""
    started = time.monotonic()
    while True:
        committed, delivered = env.committed_events(), env.delivered_events()
        lost = committed - set(delivered)
        if not lost or time.monotonic() - started > timeout:
            break
        time.sleep(1)
    return {"committed": len(committed), "lost": len(lost), "phantom": len(set(delivered) - committed),
            "repeats": len(delivered) - len(set(delivered)), "waited": round(time.monotonic() - started, 1)}


def final_round(load: Load, users: list[User]) -> bool:
    env = load.env
    client = Client(env.base, load.stats)
    ok = True
    for user in users:
        r = client.call("final.totp.begin", "POST", "/api/v1/challenges",
                        json={"userId": user.user_id, "method": "totp"})
        ok &= r is not None and r.status_code == 201 and load.totp_verify(client, user, r.json()["challengeId"],
                                                                          "final.totp.verify") == 200
        before = len(env.messages(user.phone))
        r = client.call("final.sms.begin", "POST", "/api/v1/challenges",
                        json={"userId": user.user_id, "method": "sms"})
        code = env.wait_code(user.phone, before, 20) if r is not None and r.status_code == 201 else None
        v = client.call("final.sms.verify", "POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                        json={"code": code}) if code else None
        ok &= v is not None and v.status_code == 200
    return ok
