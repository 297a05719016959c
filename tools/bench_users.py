"""The benchmark's users and the flows they run over HTTP against a dev host, as an integrating app would:
TOTP sign-in, wrong-code verify, SMS sign-in (code read where the SMS lands, at the emulator) and passkey
sign-in (tests/webauthn_soft.py plays the authenticator). No two clients ever hold one user at once, so
they never race on one user's rows: SMS and passkey clients own theirs, TOTP clients share a pool."""
from __future__ import annotations

import base64
import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from shared.crypto.otp import time_step, totp
from tests import webauthn_soft as soft
from tools.bench_load import FlowError, PoolExhausted

FKEY = "bench-function-key"
ORIGIN = "http://localhost:7071"  # the WebAuthn origin the bench configures (MFA_WEBAUTHN_ORIGINS)


def unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class Api:
    """One client's keep-alive session with the function key."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["x-functions-key"] = FKEY

    def post(self, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
        r = self.http.post(self.base + path, json=body, timeout=30)
        if r.status_code != expect:
            raise FlowError(f"POST {path.split('/')[2]} -> {r.status_code} {r.text[:120]}")
        return r.json() if r.content else {}

    def verify(self, challenge_id: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
        return self.post(f"/v1/challenges/{challenge_id}/verify", body, expect)


class Inbox:
    """SMS as they reach the in-process emulator, per phone, with the instant they arrived."""

    def __init__(self, emulator: Any) -> None:
        self._queues: dict[str, queue.Queue[tuple[float, str]]] = {}
        self._lock = threading.Lock()
        state = emulator.app.state
        record = state.record

        def recorded(message: dict[str, str]) -> None:
            record(message)
            self._queue(message["to"]).put((time.perf_counter(), message["message"]))

        state.record = recorded

    def _queue(self, phone: str) -> queue.Queue[tuple[float, str]]:
        with self._lock:
            return self._queues.setdefault(phone, queue.Queue())

    def drain(self, phone: str) -> None:
        q = self._queue(phone)
        while not q.empty():
            q.get_nowait()

    def code(self, phone: str, timeout: float = 15.0) -> tuple[float, str]:
        try:
            at, text = self._queue(phone).get(timeout=timeout)
        except queue.Empty:
            raise FlowError(f"no SMS within {timeout:.0f} s") from None
        found = re.search(r"#(\d{6,8})$", text)
        if not found:
            raise FlowError("an SMS without a code")
        return at, found.group(1)


@dataclass
class TotpUser:
    user: str
    secret: bytes
    last_step: int


def _now() -> datetime:
    return datetime.now(timezone.utc)


def enrol_totp(api: Api, user: str) -> TotpUser:
    r = api.post(f"/v1/users/{user}/totp", {}, 201)
    secret = base64.b32decode(r["secret"] + "=" * (-len(r["secret"]) % 8))
    back = _now() - timedelta(seconds=30)  # the previous step: the current one stays free for a sign-in
    try:
        api.verify(r["challengeId"], {"code": totp(secret, back)})
    except FlowError:  # a step boundary passed on the way (a loaded machine): that step is gone, use this one
        back = _now()
        api.verify(r["challengeId"], {"code": totp(secret, back)})
    return TotpUser(user, secret, time_step(back, 30))


def enrol_sms(api: Api, inbox: Inbox, user: str, phone: str) -> tuple[str, str]:
    inbox.drain(phone)
    r = api.post(f"/v1/users/{user}/phone", {"phoneNumber": phone}, 202)
    api.verify(r["challengeId"], {"code": inbox.code(phone)[1]})
    return user, phone


def enrol_passkey(api: Api, user: str) -> tuple[str, soft.SoftCredential]:
    r = api.post(f"/v1/users/{user}/passkeys", {"name": "bench"}, 201)
    options = r["publicKey"]
    cred = soft.SoftCredential(user_handle=unb64(options["user"]["id"]))
    api.verify(r["challengeId"], {"credential": soft.register(cred, unb64(options["challenge"]), origin=ORIGIN)})
    return user, cred


def enrol_all(base: str, fn: Callable[..., Any], args: list[tuple[Any, ...]], workers: int = 8) -> list[Any]:
    """Enrol concurrently (setup, not measured); each worker thread has its own session."""
    local = threading.local()

    def one(a: tuple[Any, ...]) -> Any:
        if not hasattr(local, "api"):
            local.api = Api(base)
        return fn(local.api, *a)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, args))


class TotpPool:
    """TOTP users shared by a run's clients: a client takes one no other client holds and that has not
    signed in during this 30 s step yet, so a fast client never runs dry while a slow one sits on spares."""

    def __init__(self, users: list[TotpUser]) -> None:
        self._free = list(users)
        self._lock = threading.Lock()

    def take(self, step: int, wrong: bool) -> TotpUser:
        with self._lock:
            for i, u in enumerate(self._free):
                if wrong or u.last_step < step:
                    return self._free.pop(i)
        raise PoolExhausted()

    def give_back(self, user: TotpUser) -> None:
        with self._lock:
            self._free.append(user)  # to the back: the least recently used user comes first


def totp_flow(base: str, pool: TotpPool, wrong: bool = False) -> Callable[[], None]:
    """Begin + verify with the current code (each user once per time step: a code is never replayed), or
    with a wrong code (403 incorrect_code; the same users serve, since a refusal consumes no step)."""
    api = Api(base)

    def flow() -> None:
        step = time_step(_now(), 30)
        u = pool.take(step, wrong)
        try:
            ch = api.post("/v1/challenges", {"userId": u.user, "method": "totp"}, 201)
            code = totp(u.secret, datetime.fromtimestamp(step * 30, timezone.utc))
            if wrong:
                bad = f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
                if api.verify(ch["challengeId"], {"code": bad}, 403).get("code") != "incorrect_code":
                    raise FlowError("a wrong code was not answered incorrect_code")
                return
            u.last_step = step
            if api.verify(ch["challengeId"], {"code": code}).get("status") != "approved":
                raise FlowError("TOTP sign-in not approved")
        finally:
            pool.give_back(u)

    return flow


def sms_flow(base: str, inbox: Inbox, users: list[tuple[str, str]]) -> Callable[[], float]:
    """Begin, wait for the SMS at the emulator, verify its code; returns begin -> SMS at the emulator (ms)."""
    api, turn = Api(base), [0]

    def flow() -> float:
        user, phone = users[turn[0] % len(users)]
        turn[0] += 1
        inbox.drain(phone)
        t0 = time.perf_counter()
        ch = api.post("/v1/challenges", {"userId": user, "method": "sms"}, 201)
        at, code = inbox.code(phone)
        if api.verify(ch["challengeId"], {"code": code}).get("status") != "approved":
            raise FlowError("SMS sign-in not approved")
        return (at - t0) * 1000

    return flow


def passkey_flow(base: str, users: list[tuple[str, soft.SoftCredential]]) -> Callable[[], None]:
    api, turn = Api(base), [0]

    def flow() -> None:
        user, cred = users[turn[0] % len(users)]
        turn[0] += 1
        ch = api.post("/v1/challenges", {"userId": user, "method": "passkey"}, 201)
        assertion = soft.authenticate(cred, unb64(ch["publicKey"]["challenge"]), origin=ORIGIN)
        if api.verify(ch["challengeId"], {"credential": assertion}).get("status") != "approved":
            raise FlowError("passkey sign-in not approved")

    return flow
