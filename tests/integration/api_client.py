"""A tiny client for the dev host in tests: keys, JSON, and reading SMS codes from the emulator."""
from __future__ import annotations

import itertools
import re
import time
from datetime import datetime, timedelta, timezone

import requests

from shared.otp import totp
from tests.conftest import FUNCTION_KEY, MASTER_KEY
from tests.helpers import secret_bytes

_numbers = itertools.count(10)


def fresh_phone() -> str:
    """A distinct valid test number (+1 425 555 01xx) per call, so tests never read each other's SMS."""
    return f"+142555501{next(_numbers) % 100:02d}"


class Api:
    def __init__(self, base: str, emulator_url: str) -> None:
        self.base = base
        self.sms_url = emulator_url
        self.http = requests.Session()

    def call(self, method: str, path: str, key: str | None = FUNCTION_KEY, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key:
            headers["x-functions-key"] = key
        return self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

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

    def enrol_totp(self, user: str) -> bytes:
        """Enrol an app, answering with the previous step's code (one step of drift back is accepted), so
        a sign-in right after can use the current step without being refused as a replay."""
        r = self.call("POST", f"/api/v1/users/{user}/totp", json={})
        assert r.status_code == 201, r.text
        secret = secret_bytes(r.json()["secret"])
        v = self.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                      json={"code": totp(secret, datetime.now(timezone.utc) - timedelta(seconds=30))})
        assert v.status_code == 200, v.text
        return secret

    def begin(self, user: str, **body) -> requests.Response:
        return self.call("POST", "/api/v1/challenges", json={"userId": user, **body})
