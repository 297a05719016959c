"""W6 over HTTP: the try-it page and its files are served by the app itself under a strict CSP, from a
fixed allow-list; without the local inbox setting (as in Azure) the page has no inbox and no extra origin."""
from __future__ import annotations

import pytest
import requests

from functions.tryit import ASSETS, csp, inbox_origin

STRICT = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


def get(devhost, path: str) -> requests.Response:
    return requests.get(devhost.url + path, timeout=30)  # anonymous: no function key


def test_the_page_is_anonymous_html_under_a_strict_csp(devhost):
    r = get(devhost, "/api/try")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"] == STRICT
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
    assert '<script type="module" src="/api/try/try.js"></script>' in r.text
    assert "inbox-panel" not in r.text and "<!-- inbox panel -->" not in r.text  # no emulator configured
    assert "<script>" not in r.text and " style=" not in r.text and "http://" not in r.text.replace(
        'xmlns="http://', "")


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_each_listed_file_is_served_with_its_type(devhost, name):
    r = get(devhost, f"/api/try/{name}")
    assert r.status_code == 200 and r.headers["Content-Type"] == ASSETS[name]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-cache"
    assert "http://" not in r.text and "https://" not in r.text  # nothing loaded from outside the app


def test_every_module_the_page_imports_is_listed(devhost):
    import re

    modules = [name for name in ASSETS if name.endswith(".js")]
    imported = {m for name in modules for m in re.findall(r'from "\./([\w.]+)"', get(devhost, f"/api/try/{name}").text)}
    assert {"api.js", "passkey.js"} <= imported <= set(ASSETS)  # signin.js imports passkey.js too


@pytest.mark.parametrize("path", ["/api/try/nope.js", "/api/try/try.html", "/api/try/inbox.html",
                                  "/api/try/..%2Fhttp.py", "/api/try/%2E%2E%2F%2E%2E%2Ffunction_app.py",
                                  "/api/try/TRY.JS", "/api/try/try.js%00"])
def test_anything_else_is_a_404_problem(devhost, path):
    r = get(devhost, path)
    assert r.status_code == 404
    if r.headers.get("Content-Type", "").startswith("application/problem+json"):
        assert r.json()["code"] == "not_found"
    assert "import" not in r.text and "def " not in r.text


@pytest.mark.parametrize(("value", "origin"), [
    ("http://127.0.0.1:7072", "http://127.0.0.1:7072"), ("http://localhost:7072/", "http://localhost:7072"),
    ("http://[::1]:7072", "http://[::1]:7072"), (None, None), ("", None),
    ("http://203.0.113.9:7072", None), ("https://sms.example.com", None), ("http://127.0.0.1:7072/messages", None),
    ("javascript:alert(1)", None), ("http://u:p@127.0.0.1:7072", None), ("http://127.0.0.1:7072?x", None),
    ("http://127.0.0.1:99999", None), ("http://127.0.0.1:7072 'unsafe-inline'", None)])
def test_only_a_loopback_origin_opens_the_csp(value, origin):
    assert inbox_origin(value) == origin
    assert csp(origin).count("connect-src 'self'" + (f" {origin};" if origin else ";")) == 1


def test_the_totp_enrolment_and_its_repeat_carry_the_qr_code(devhost):
    from functions.results import qr_svg
    from tests.conftest import FUNCTION_KEY

    headers = {"x-functions-key": FUNCTION_KEY, "Idempotency-Key": "try-qr-1"}
    url = f"{devhost.url}/api/v1/users/qr-user/totp"
    first = requests.post(url, json={}, headers=headers, timeout=30)
    again = requests.post(url, json={}, headers=headers, timeout=30)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["qrSvg"] == qr_svg(first.json()["otpauthUri"]) and again.json() == first.json()
