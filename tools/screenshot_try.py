"""Take the README's screenshot of the try-it page (docs/try-it.png) from a running `make run`: enrol an
authenticator app, a phone and a passkey for alice through the page, as a reader would, in Debian's
chromium (the passkey made by a CDP virtual authenticator standing in for Windows Hello or Touch ID).

Run: ``python -m tools.screenshot_try [--base http://localhost:7071] [--key local-function-key]``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "try-it.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://localhost:7071")
    parser.add_argument("--key", default="local-function-key")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(f"{args.base}/api/try")
        page.get_by_label("Function key", exact=True).fill(args.key)
        page.get_by_label("User id", exact=True).fill("alice@contoso.com")
        page.get_by_role("button", name="Enrol authenticator app").click()
        expect(page.locator("#totp-out")).to_contain_text("Enrolment started")
        page.get_by_role("button", name="Send code").click()
        expect(page.locator("#phone-out")).to_contain_text("Code sent")
        for _ in range(50):
            page.get_by_role("button", name="Refresh inbox").click()
            if page.locator("#inbox-list li button").count():
                break
            page.wait_for_timeout(200)
        page.locator("#inbox-list li button").last.click()
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}})
        page.get_by_role("button", name="Register passkey").click()
        expect(page.locator("#passkey-out")).to_contain_text("Passkey registered")
        page.get_by_role("button", name="Show passkeys").click()
        expect(page.locator("#passkey-out")).to_contain_text("passkey(s)")
        height = page.evaluate("document.getElementById('passkey-panel').getBoundingClientRect().bottom + scrollY + 16")
        page.screenshot(path=str(OUT), full_page=True, clip={"x": 0, "y": 0, "width": 900, "height": height})
        browser.close()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
