"""The try-it page end to end in Debian's chromium: TOTP and SMS enrolment and sign-in through the page
alone, problems shown clearly, and W6 in the browser: the strict CSP is sent and enforced, the page talks
only to the app and the local SMS emulator, and the function key never leaves the page's memory."""
from __future__ import annotations

import time
import uuid

from playwright.sync_api import expect

from tests.browser.conftest import Session, TryHost, open_page
from tests.conftest import FUNCTION_KEY
from tests.helpers import secret_bytes
from tests.integration.api_client import fresh_phone, pinned_api


def csp_with(inbox: str) -> str:
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {inbox}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


def new_user(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}@contoso.com"


def assert_key_only_in_memory_and_requests_contained(s: Session, try_host: TryHost) -> None:
    """W6: nothing left the app's and the emulator's origins; the key went only as a header to the app."""
    assert s.requests and s.origins() <= {try_host.origin, try_host.inbox.url}, s.origins()
    for r in s.requests:
        assert FUNCTION_KEY not in r.url
        if not r.url.startswith(try_host.origin):
            assert "x-functions-key" not in r.headers  # the emulator never sees the key
    page = s.page
    stored = page.evaluate("() => [JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie,"
                           " location.href, history.length]")
    assert stored[:3] == ["{}", "{}", ""] and FUNCTION_KEY not in stored[3]
    assert page.context.cookies() == []
    errors = [e for e in s.console_errors if not e.startswith("Failed to load resource")]  # a 4xx answer
    assert not errors, errors  # a CSP violation or a script error would be one


def refresh_inbox_until(s: Session, count: int, timeout: float = 20.0) -> None:
    """Press "Refresh inbox" until it lists `count` messages (delivery goes through the queue)."""
    items = s.page.locator("#inbox-list li")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.page.get_by_role("button", name="Refresh inbox").click()
        expect(s.page.locator("#inbox-out")).to_contain_text("message(s) to")
        if items.count() >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"the inbox never listed {count} message(s): {s.page.locator('#inbox-out').text_content()}")


def test_totp_enrolment_and_sign_in_through_the_page(session: Session, try_host: TryHost):
    s, page, user = session, session.page, new_user("totp")
    with pinned_api(try_host.host, try_host.inbox.url) as api:
        open_page(s, try_host, user)
        s.shot("opened")
        page.get_by_role("button", name="Enrol authenticator app").click()
        expect(page.locator("#totp-out")).to_contain_text("201 Enrolment started")
        secret = secret_bytes(page.locator("#totp-secret").text_content())
        qr = page.get_by_role("img", name="QR code of the otpauth URI: scan it with an authenticator app")
        assert qr.get_attribute("src").startswith("data:image/svg+xml")
        assert qr.evaluate("img => img.complete && img.naturalWidth") > 100  # the SVG rendered
        s.shot("totp-issued")
        page.get_by_label("Code from the app", exact=True).fill(api.totp(secret, steps=-1))
        page.get_by_role("button", name="Verify").first.click()
        expect(page.locator("#totp-out")).to_contain_text("Authenticator app enrolled")
        expect(page.locator("#totp-out")).to_contain_text('"status": "approved"')
        s.shot("totp-verified")

        page.get_by_label("Method", exact=True).select_option("totp")
        page.get_by_role("button", name="Begin").click()
        expect(page.locator("#signin-out")).to_contain_text("201 Challenge started")
        page.get_by_label("Code", exact=True).fill(api.totp(secret))
        page.locator("#signin-verify").click()
        expect(page.locator("#signin-out")).to_contain_text("200 Signed in")
        expect(page.locator("#signin-out")).to_contain_text('"method": "totp"')
        s.shot("totp-signed-in")

        page.get_by_role("button", name="Show methods").click()
        expect(page.locator("#methods-list li")).to_have_count(1)
        expect(page.locator("#methods-list li")).to_contain_text("totp: deviceId")
        s.shot("methods")
    assert_key_only_in_memory_and_requests_contained(s, try_host)


def test_sms_enrolment_and_sign_in_through_the_inbox_panel(session: Session, try_host: TryHost):
    s, page, phone = session, session.page, fresh_phone()
    open_page(s, try_host, new_user("sms"))
    page.get_by_label("Phone number (E.164)", exact=True).fill(phone)
    page.get_by_role("button", name="Send code").click()
    expect(page.locator("#phone-out")).to_contain_text("202 Code sent")
    refresh_inbox_until(s, 1)
    expect(page.locator("#inbox-list li").last).to_contain_text("Your sign-in code")
    page.locator("#inbox-list li").last.get_by_role("button").click()  # "Use code NNNNNN"
    expect(page.get_by_label("Code from the SMS", exact=True)).to_have_value(page.locator("#inbox-list li button").last
                                                                    .text_content().removeprefix("Use code "))
    s.shot("sms-inbox")
    page.locator("#phone-verify").click()
    expect(page.locator("#phone-out")).to_contain_text("Phone enrolled")
    s.shot("sms-verified")

    page.get_by_label("Method", exact=True).select_option("sms")
    page.get_by_role("button", name="Begin").click()
    expect(page.locator("#signin-out")).to_contain_text("201 Challenge started")
    refresh_inbox_until(s, 2)
    page.locator("#inbox-list li").last.get_by_role("button").click()
    page.locator("#signin-verify").click()
    expect(page.locator("#signin-out")).to_contain_text("200 Signed in")
    expect(page.locator("#signin-out")).to_contain_text('"method": "sms"')
    page.get_by_role("button", name="Show methods").click()
    expect(page.locator("#methods-list li")).to_contain_text(f"sms: destination {phone[:2]}")
    s.shot("sms-signed-in")
    assert_key_only_in_memory_and_requests_contained(s, try_host)


def test_problems_are_shown_with_title_code_and_detail(session: Session, try_host: TryHost):
    s, page = session, session.page
    open_page(s, try_host, new_user("bad"))
    page.get_by_label("Phone number (E.164)", exact=True).fill("12345")
    page.get_by_role("button", name="Send code").click()
    out = page.locator("#phone-out")
    expect(out).to_have_class("out problem")
    expect(out).to_contain_text("400 Invalid request (invalid_request): ")
    page.get_by_label("Method", exact=True).select_option("totp")
    page.get_by_role("button", name="Begin").click()
    expect(page.locator("#signin-out")).to_contain_text("409 ")
    expect(page.locator("#signin-out")).to_contain_text("(not_enrolled)")
    page.get_by_label("Function key", exact=True).fill("not-the-key")
    page.get_by_role("button", name="Show methods").click()
    expect(page.locator("#methods-out")).to_contain_text(
        "401 Unauthorized (unauthorized): This route needs a function key")
    # Azure's own host answers a wrong key with an empty 401; the page still says what went wrong.
    page.route("**/api/v1/users/**", lambda route: route.fulfill(status=401, body=""))
    page.get_by_role("button", name="Show methods").click()
    expect(page.locator("#methods-out")).to_contain_text("401 Unauthorized (no problem body): The function key was")
    page.unroute("**/api/v1/users/**")
    s.shot("problems")
    assert_key_only_in_memory_and_requests_contained(s, try_host)


def test_the_page_sends_and_the_browser_enforces_a_strict_csp(session: Session, try_host: TryHost):
    s, page = session, session.page
    response = open_page(s, try_host, new_user("csp"))
    assert response.headers["content-security-policy"] == csp_with(try_host.inbox.url)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    blocked = page.evaluate("""async () => {
        try { await fetch("http://127.0.0.2:9/x"); return "fetched"; } catch (e) { return e.name; } }""")
    assert blocked == "TypeError" and any("Content Security Policy" in e for e in s.console_errors)
    inline = page.evaluate("""() => { const el = document.createElement("script"); el.textContent =
        "window.inlineRan = true"; document.body.append(el); return window.inlineRan === true; }""")
    assert inline is False  # no inline script runs
    assert s.origins() == {try_host.origin}  # the page, its modules and stylesheet: nothing else
    loaded = {r.url.removeprefix(try_host.origin) for r in s.requests}
    assert {"/api/try", "/api/try/try.js", "/api/try/api.js", "/api/try/try.css"} <= loaded
