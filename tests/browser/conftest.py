"""The real-browser harness: Debian's chromium (/usr/bin/chromium, installed by `make browser-deps`, never
by `playwright install`) driven by Playwright for Python, against a dev host serving the try-it page with
the SMS inbox of an emulator of its own. The page is opened at http://localhost:PORT (a secure context:
WebAuthn refuses 127.0.0.1), the host listening on 127.0.0.1."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import FUNCTION_KEY, app_env
from tools import sms_emulator
from tools.azurite import free_port

CHROMIUM = Path(os.environ.get("TWOSTEP_CHROMIUM", "/usr/bin/chromium"))


@dataclass
class TryHost:
    host: object  # tests.conftest.DevHost
    inbox: object  # the emulator whose inbox the page shows
    origin: str  # the page's origin: http://localhost:PORT

    @property
    def page_url(self) -> str:
        return f"{self.origin}/api/try"


@pytest.fixture(scope="session")
def try_host(azurite, start_devhost) -> Iterator[TryHost]:
    inbox = sms_emulator.start_in_thread(port=0)
    port = free_port()
    origin = f"http://localhost:{port}"  # the relying party's one origin: passkeys made on the page verify
    host = start_devhost({**app_env(azurite, inbox), "MFA_TABLE_NAME": "browser", "MFA_TRY_SMS_INBOX_URL": inbox.url,
                          "MFA_WEBAUTHN_RP_ID": "localhost", "MFA_WEBAUTHN_ORIGINS": origin}, port=port)
    inbox.app.allow_origin = origin  # the emulator allows exactly the page's origin
    yield TryHost(host, inbox, origin)
    inbox.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium. Run `make browser-deps` "
                    "(apt-get install chromium fonts-dejavu-core; `make test` does it) - never `playwright install`.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Session:
    """One page in a fresh browser context, with every request it made and every console error."""

    page: object
    shots: Path
    requests: list[object] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    step: int = 0

    def shot(self, name: str) -> Path:
        self.step += 1
        path = self.shots / f"{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def origins(self) -> set[str]:
        return {f"{u.scheme}://{u.netloc}" for u in (urlsplit(r.url) for r in self.requests) if u.scheme != "data"}


@pytest.fixture
def session(browser, try_host, tmp_path) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    s = Session(page, tmp_path)
    page.on("request", lambda r: s.requests.append(r))
    page.on("console", lambda m: s.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: s.console_errors.append(str(e)))
    yield s
    context.close()


def open_page(s: Session, try_host: TryHost, user: str) -> object:
    """Open the try-it page, type the key and the user; returns the page's HTTP response."""
    response = s.page.goto(try_host.page_url)
    s.page.get_by_label("Function key", exact=True).fill(FUNCTION_KEY)
    s.page.get_by_label("User id", exact=True).fill(user)
    return response
