"""Passkeys through the try-it page in Debian's chromium with a CDP virtual authenticator (ctap2, internal,
resident key, user verification): register one and sign in with it, and a synced (backup-eligible)
credential refused with `passkey_not_allowed` while the policy's default profile admits device-bound ones
only. The dev host's relying party is localhost with the page's origin (tests/browser/conftest.py)."""
from __future__ import annotations

from contextlib import contextmanager

from playwright.sync_api import expect

from tests.browser.conftest import Session, TryHost, open_page
from tests.browser.test_try_page import assert_key_only_in_memory_and_requests_contained, new_user
from tests.integration.api_client import Api


def add_authenticator(s: Session, synced: bool) -> tuple[object, str]:
    """A virtual platform authenticator on the page; `synced` makes its credentials backup eligible and
    backed up (what a password manager's passkey reports)."""
    cdp = s.page.context.new_cdp_session(s.page)
    cdp.send("WebAuthn.enable")
    made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True,
        "defaultBackupEligibility": synced, "defaultBackupState": synced}})
    return cdp, made["authenticatorId"]


def credentials(cdp, authenticator: str) -> list[dict]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]


@contextmanager
def device_bound_only(api: Api):
    """The default passkey profile admits device-bound passkeys only; the previous profiles come back after."""
    before = api.admin("GET", "/api/v1/admin/policy").json().get("passkeyProfiles")
    changed = api.admin("PATCH", "/api/v1/admin/policy",
                        json={"passkeyProfiles": {"default": {"passkeyTypes": ["deviceBound"]}}})
    assert changed.status_code == 200, changed.text
    try:
        yield
    finally:
        assert api.admin("PATCH", "/api/v1/admin/policy", json={"passkeyProfiles": before}).status_code == 200


def register(s: Session, name: str) -> None:
    s.page.get_by_label("Passkey name", exact=True).fill(name)
    s.page.get_by_role("button", name="Register passkey").click()


def test_register_a_passkey_and_sign_in_with_it_through_the_page(session: Session, try_host: TryHost):
    s, page = session, session.page
    open_page(s, try_host, new_user("passkey"))
    cdp, authenticator = add_authenticator(s, synced=False)
    s.shot("passkey-opened")
    register(s, "laptop")
    out = page.locator("#passkey-out")
    expect(out).to_contain_text("Passkey registered")
    expect(out).to_contain_text('"status": "approved"')
    [credential] = credentials(cdp, authenticator)
    assert credential["isResidentCredential"] and credential["signCount"] == 1
    s.shot("passkey-registered")
    page.get_by_role("button", name="Show passkeys").click()
    expect(page.locator("#passkey-list li")).to_have_count(1)
    expect(page.locator("#passkey-list li")).to_contain_text("laptop: device-bound, created ")
    expect(page.locator("#passkey-list li")).to_contain_text("last used never")
    s.shot("passkey-listed")

    page.get_by_label("Method", exact=True).select_option("passkey")
    page.get_by_role("button", name="Begin").click()  # begin, the authenticator's assertion, verify
    expect(page.locator("#signin-out")).to_contain_text("200 Signed in")
    expect(page.locator("#signin-out")).to_contain_text('"method": "passkey"')
    assert credentials(cdp, authenticator)[0]["signCount"] == 2  # the authenticator signed once more
    s.shot("passkey-signed-in")

    page.get_by_role("button", name="Show passkeys").click()
    expect(page.locator("#passkey-list li")).not_to_contain_text("last used never")
    page.get_by_role("button", name="Show methods").click()
    expect(page.locator("#methods-list li")).to_contain_text("passkey")
    s.shot("passkey-methods")
    assert_key_only_in_memory_and_requests_contained(s, try_host)


def test_a_synced_passkey_is_refused_under_a_device_bound_profile(session: Session, try_host: TryHost):
    s, page = session, session.page
    api = Api(try_host.host.url, try_host.inbox.url)
    open_page(s, try_host, new_user("synced"))
    cdp, authenticator = add_authenticator(s, synced=True)
    with device_bound_only(api):
        register(s, "password manager")
        out = page.locator("#passkey-out")
        expect(out).to_have_class("out problem")
        expect(out).to_contain_text("403 ")
        expect(out).to_contain_text("(passkey_not_allowed)")
        assert len(credentials(cdp, authenticator)) == 1  # the browser made it; the app refused it
        s.shot("synced-refused")
        page.get_by_role("button", name="Show passkeys").click()
        expect(page.locator("#passkey-out")).to_contain_text("0 passkey(s)")
        page.get_by_label("Method", exact=True).select_option("passkey")
        page.get_by_role("button", name="Begin").click()
        expect(page.locator("#signin-out")).to_contain_text("(not_enrolled)")
        s.shot("synced-not-enrolled")
    assert_key_only_in_memory_and_requests_contained(s, try_host)
