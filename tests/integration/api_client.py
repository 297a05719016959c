"""A tiny client for the dev host in tests: keys, JSON, and reading SMS codes from the emulator."""
from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from shared.crypto.otp import totp
from tests.conftest import FUNCTION_KEY, MASTER_KEY
from tests.helpers import secret_bytes
from tests.openapi_contract import check_response

_numbers = itertools.count(10)


def fresh_phone() -> str:
    """A distinct valid test number (+1 425 555 01xx) per call, so tests never read each other's SMS."""
    return f"+142555501{next(_numbers) % 100:02d}"


class HostClock:
    """The dev host's clock (its DEVHOST_CLOCK_FILE): real time until pinned; pinned, it moves only when the
    test moves it, so no TOTP code depends on where the wall clock falls within a step."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def pin(self, at: datetime | None = None) -> datetime:
        """Stop the host's clock at `at` (default: the start of the current minute, a step boundary for
        both 30 s and 60 s tokens)."""
        at = at or datetime.fromtimestamp(time.time() // 60 * 60, tz=timezone.utc)
        self.path.write_text(repr(at.timestamp()))
        return at

    def now(self) -> datetime:
        text = self.path.read_text().strip()
        assert text, "pin the dev host's clock (HostClock.pin) before computing a TOTP code for it"
        return datetime.fromtimestamp(float(text), tz=timezone.utc)

    def advance(self, seconds: float) -> datetime:
        return self.pin(self.now() + timedelta(seconds=seconds))

    def release(self) -> None:
        self.path.write_text("")


class Api:
    def __init__(self, base: str, emulator_url: str, clock: HostClock | None = None) -> None:
        self.base = base
        self.sms_url = emulator_url
        self.clock = clock
        self.http = requests.Session()

    def call(self, method: str, path: str, key: str | None = FUNCTION_KEY, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key:
            headers["x-functions-key"] = key
        response = self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)
        check_response(response)  # every answer a test sees conforms to functions/openapi.json
        return response

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.call(method, path, key=MASTER_KEY, **kwargs)

    def sms_code(self, phone: str, after: int = 0, timeout: float = 20.0) -> str:
        """Wait until the emulator has more than `after` messages for `phone`; return the newest code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = requests.get(f"{self.sms_url}/messages", params={"to": phone}, timeout=5).json()
            if len(messages) > after:
                return re.search(r"#(\d{6,8})$", messages[-1]["message"]).group(1)
            time.sleep(0.05)
        raise AssertionError(f"no SMS reached {phone} within {timeout}s")

    def wait_for(self, path: str, field: str, value: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.call("GET", path).json()
            if body.get(field) == value:
                return body
            time.sleep(0.05)
        raise AssertionError(f"{path} never had {field}={value} (last: {body})")

    def messages(self, phone: str) -> list[dict]:
        return requests.get(f"{self.sms_url}/messages", params={"to": phone}, timeout=5).json()

    def enrol_sms(self, user: str, phone: str) -> dict:
        before = len(self.messages(phone))
        r = self.call("POST", f"/api/v1/users/{user}/phone", json={"phoneNumber": phone})
        assert r.status_code == 202, r.text
        code = self.sms_code(phone, after=before)
        v = self.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify", json={"code": code})
        assert v.status_code == 200, v.text
        return r.json()

    def totp(self, secret: bytes, steps: int = 0, period: int = 30) -> str:
        """The code `steps` steps from the host's pinned instant."""
        assert self.clock is not None, "TOTP over HTTP needs the host's clock: use pinned_api()"
        return totp(secret, self.clock.now() + timedelta(seconds=steps * period), period=period)

    def enrol_totp(self, user: str) -> bytes:
        """Enrol an app, answering with the previous step's code (one step of drift back is accepted), so
        a sign-in right after can use the current step without being refused as a replay."""
        r = self.call("POST", f"/api/v1/users/{user}/totp", json={})
        assert r.status_code == 201, r.text
        secret = secret_bytes(r.json()["secret"])
        v = self.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                      json={"code": self.totp(secret, steps=-1)})
        assert v.status_code == 200, v.text
        return secret

    def begin(self, user: str, **body) -> requests.Response:
        return self.call("POST", "/api/v1/challenges", json={"userId": user, **body})


@contextmanager
def pinned_api(host, emulator_url: str) -> Iterator[Api]:
    """An Api for a conftest DevHost whose clock is pinned for the duration (released after)."""
    api = Api(host.url, emulator_url, HostClock(host.clock_file))
    api.clock.pin()
    try:
        yield api
    finally:
        api.clock.release()
