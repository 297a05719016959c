// Enrol an authenticator app: show the QR (the answer's qrSvg, as an image) and secret, then verify a code.
import { $, call, show, userPath, verify } from "./api.js";

let challengeId = null;

export function init() {
  $("totp-enrol").addEventListener("click", async () => {
    const result = await call("POST", userPath("/totp"), {});
    const body = result.body || {};
    $("totp-issued").hidden = !result.ok;
    if (result.ok) {
      challengeId = body.challengeId;
      $("totp-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(body.qrSvg);
      $("totp-secret").textContent = body.secret;
      show($("totp-out"), { ...result, body: { challengeId, status: body.status, expiresAt: body.expiresAt } },
        "Enrolment started: scan the QR code, then type the app's code");
    } else {
      show($("totp-out"), result);
    }
  });
  $("totp-verify").addEventListener("click", async () => {
    show($("totp-out"), await verify(challengeId || "", $("totp-code").value), "Authenticator app enrolled");
  });
}
