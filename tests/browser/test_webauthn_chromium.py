"""The WebAuthn core against a real browser: what Chromium's `toJSON()` sends (with its extra members
`publicKey`, `publicKeyAlgorithm`, `authenticatorData`) passes the strict parser and verifies, through a
CDP virtual authenticator. The page is served by Playwright itself at http://localhost:7071 (no server is
bound), so the origin is the local default one."""
from __future__ import annotations

import pytest

from shared.crypto import webauthn as wa
from shared.crypto.webauthn_json import parse_assertion, parse_registration
from shared.crypto.webauthn_settings import relying_party

RP = relying_party({}, in_azure=False)
CREATE = ("async (o) => (await navigator.credentials.create("
          "{publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(o)})).toJSON()")
GET = ("async (o) => (await navigator.credentials.get("
       "{publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o)})).toJSON()")


@pytest.fixture
def page_with_authenticator(browser, request):
    context = browser.new_context()
    page = context.new_page()
    page.route(f"{RP.origins[0]}/**", lambda route: route.fulfill(status=200, content_type="text/html",
                                                                   body="<!doctype html><title>t</title>"))
    page.goto(f"{RP.origins[0]}/")
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    synced = getattr(request, "param", False)
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "defaultBackupEligibility": synced, "defaultBackupState": synced}})
    yield page
    context.close()


def _register(page):
    handle = wa.new_user_handle()
    options = wa.creation_options(RP, user_handle=handle, user_name="alice", display_name="Alice",
                               existing_ids=[], timeout_seconds=300)
    done = wa.verify_registration(parse_registration(page.evaluate(CREATE, options.public_key)),
                               challenge=options.challenge, rp=RP)
    return handle, done


def test_chromiums_responses_pass_the_strict_parser_and_verify(page_with_authenticator):
    handle, done = _register(page_with_authenticator)
    assert (done.aaguid, done.sign_count, done.device_type) == ("01020304-0506-0708-0102-030405060708", 1,
                                                                "deviceBound")
    stored = wa.StoredCredential(done.credential_id, done.public_key, done.sign_count, handle)
    for expected in (2, 3):
        options = wa.request_options(RP, credential_ids=[done.credential_id], timeout_seconds=300)
        body = page_with_authenticator.evaluate(GET, options.public_key)
        assert body["response"]["userHandle"] is not None  # a discoverable credential sends the handle
        result = wa.verify_assertion(parse_assertion(body), stored=stored, challenge=options.challenge, rp=RP)
        assert result.new_sign_count == expected
        stored = wa.StoredCredential(done.credential_id, done.public_key, result.new_sign_count, handle)


@pytest.mark.parametrize("page_with_authenticator", [True], indirect=True)
def test_a_backup_eligible_virtual_authenticator_registers_a_synced_passkey(page_with_authenticator):
    _, done = _register(page_with_authenticator)
    assert (done.device_type, done.backed_up) == ("synced", True)
