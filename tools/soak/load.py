"""The load generator: enrols the soak's users (phone, then TOTP), and runs the mixed load of the client
threads (TOTP sign-ins, SMS sign-ins reading the code from the emulator, wrong codes on one user, admin
bypasses spent by two racing begins) and of the event thread (a bypass issued and revoked, all the time).
A wrong code approved or a bypass used twice is recorded as a violation where it is seen."""
from __future__ import annotations

import base64
import random
import threading
import time
from datetime import datetime, timezone

import requests

from shared.crypto.otp import time_step, totp

from .client import Client, Stats, User
from .config import HMAC_KEY
from .environment import Environment


def code_of(challenge_id: str) -> str:
    """The SMS code of a challenge, derived as the sender does (the soak knows the local-only key)."""
    from shared.crypto.keys import derive_code
    from shared.kernel.ids import parse_challenge_id

    _, row_key = parse_challenge_id(challenge_id)
    return derive_code(base64.b64decode(HMAC_KEY.split(":", 1)[1]), row_key[3:], 6)


class Load:
    def __init__(self, env: Environment, stats: Stats, stop: threading.Event) -> None:
        self.env, self.stats, self.stop = env, stats, stop

    # ------------------------------------------------------------------ setup
    def enrol(self, client: Client, n: int) -> User:
        user_id, phone = f"soak{n:02d}", f"+1425555{150 + n:04d}"
        before = len(self.env.messages(phone))
        r = client.call("setup", "POST", f"/api/v1/users/{user_id}/phone", json={"phoneNumber": phone})
        code = self.env.wait_code(phone, before, 20)
        client.call("setup", "POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify", json={"code": code})
        r = client.call("setup", "POST", "/api/v1/challenges", json={"userId": user_id, "method": "sms"})
        code = self.env.wait_code(phone, before + 1, 20)
        proof = r.json()["challengeId"]
        client.call("setup", "POST", f"/api/v1/challenges/{proof}/verify", json={"code": code})
        r = client.call("setup", "POST", f"/api/v1/users/{user_id}/totp", json={"proofChallengeId": proof})
        body = r.json()
        secret = base64.b32decode(body["secret"] + "=" * (-len(body["secret"]) % 8))
        user = User(user_id, phone, secret)
        self.totp_verify(client, user, body["challengeId"], "setup")
        return user

    def totp_verify(self, client: Client, user: User, challenge_id: str, op: str) -> int | None:
        """Answer with the current code, unless this step was already spent (a replay is refused)."""
        now = datetime.now(timezone.utc)
        step = time_step(now, 30)
        while step <= user.last_step:
            time.sleep(0.5)
            now = datetime.now(timezone.utc)
            step = time_step(now, 30)
        r = client.call(op, "POST", f"/api/v1/challenges/{challenge_id}/verify", json={"code": totp(user.secret, now)})
        if r is not None and r.status_code == 200:
            user.last_step = step
        elif r is not None and r.status_code == 403:
            with self.stats.lock:
                self.stats.notes.append(f"{self.stats.phase}: right TOTP code refused for {user.user_id} at step "
                                        f"{step} (+{now.timestamp() % 30:.1f} s), last approved {user.last_step}: "
                                        f"{r.text[:160]}")
        return r.status_code if r is not None else None

    # ------------------------------------------------------------------ load
    def op_totp(self, client: Client, user: User) -> None:
        if time_step(datetime.now(timezone.utc), 30) <= user.last_step:
            return self.op_sms(client, user)  # this step's code is spent: waiting would idle the client
        r = client.call("totp.begin", "POST", "/api/v1/challenges", json={"userId": user.user_id, "method": "totp"})
        if r is not None and r.status_code == 201:
            self.totp_verify(client, user, r.json()["challengeId"], "totp.verify")

    def op_sms(self, client: Client, user: User) -> None:
        before = len(self.env.messages(user.phone))
        r = client.call("sms.begin", "POST", "/api/v1/challenges", json={"userId": user.user_id, "method": "sms"})
        if r is None or r.status_code != 201:
            return
        cid = r.json()["challengeId"]
        with self.stats.lock:
            self.stats.sms_challenges.append((cid, user.phone))
        code = self.env.wait_code(user.phone, before, 8, expect=code_of(cid))
        if code is not None:
            client.call("sms.verify", "POST", f"/api/v1/challenges/{cid}/verify", json={"code": code})

    def op_wrong(self, client: Client, user: User) -> None:
        r = client.call("wrong.begin", "POST", "/api/v1/challenges", json={"userId": user.user_id, "method": "totp"})
        if r is None or r.status_code != 201:
            return
        right = totp(user.secret, datetime.now(timezone.utc))
        wrong = str((int(right) + 1 + random.randrange(999_998)) % 1_000_000).zfill(6)
        v = client.call("wrong.verify", "POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                        json={"code": wrong})
        if v is not None and 200 <= v.status_code < 300:
            with self.stats.lock:
                self.stats.violations.append(f"{self.stats.phase}: a wrong code was approved")

    def op_bypass(self, client: Client, user: User) -> None:
        r = client.call("bypass.issue", "POST", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True,
                        json={"seconds": 120, "reason": "soak"})
        if r is None or r.status_code != 201:
            return
        bypass_id = r.json()["bypassId"]
        answers: list[requests.Response | None] = []

        def racer() -> None:
            answers.append(Client(self.env.base, self.stats).call("bypass.begin", "POST", "/api/v1/challenges",
                                                                  json={"userId": user.user_id, "method": "totp"}))
        racers = [threading.Thread(target=racer) for _ in range(2)]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        used = sum(1 for a in answers if a is not None and a.status_code == 200
                   and a.json().get("reason") == "bypass")
        with self.stats.lock:
            self.stats.bypass_answers[bypass_id] += used
            if self.stats.bypass_answers[bypass_id] > 1:
                self.stats.violations.append(f"{self.stats.phase}: bypass {bypass_id} used twice")
        client.call("bypass.revoke", "DELETE", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True)

    def event_worker(self, user: User) -> None:
        """Security events all the time, whatever the phase (the SMS workers mostly wait for codes while the
        queue is down): a bypass issued and revoked, two events, about every half second."""
        client = Client(self.env.base, self.stats)
        while not self.stop.is_set():
            client.call("event.issue", "POST", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True,
                        json={"seconds": 60, "reason": "soak events"})
            client.call("event.revoke", "DELETE", f"/api/v1/admin/users/{user.user_id}/bypass", admin=True)
            time.sleep(0.3)

    def worker(self, users: list[User], wrong_user: User, bypass_user: User) -> None:
        client = Client(self.env.base, self.stats)
        ops = [(self.op_totp, 4), (self.op_sms, 4), (self.op_wrong, 1), (self.op_bypass, 1)]
        while not self.stop.is_set():
            op = random.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
            user = wrong_user if op == self.op_wrong else bypass_user if op == self.op_bypass else random.choice(users)
            if not user.lock.acquire(timeout=1):
                continue
            try:
                op(client, user)
            finally:
                user.lock.release()
            time.sleep(random.uniform(0.05, 0.2))
