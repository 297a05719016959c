// A sign-in: begin a challenge for the user (default method or the one chosen), then verify it: with the
// typed code, or for a passkey challenge with the browser's assertion (navigator.credentials.get).
import { $, call, show, userId, verify } from "./api.js";
import { ceremony, verifyCredential } from "./passkey.js";

let challengeId = null;

async function verifyPasskey(publicKey) {
  const got = await ceremony("get", publicKey);
  show($("signin-out"), got.ok ? await verifyCredential(challengeId, got.credential) : got, "Signed in");
}

export function init() {
  $("signin-begin").addEventListener("click", async () => {
    const body = { userId: userId() };
    if ($("signin-method").value) {
      body.method = $("signin-method").value;
    }
    const result = await call("POST", "/api/v1/challenges", body);
    challengeId = result.ok ? result.body.challengeId || null : null;
    show($("signin-out"), result, challengeId ? "Challenge started" : "Done");
    if (challengeId && result.body.publicKey) {  // a passkey challenge: the authenticator answers it
      await verifyPasskey(result.body.publicKey);
    }
  });
  $("signin-verify").addEventListener("click", async () => {
    show($("signin-out"), await verify(challengeId || "", $("signin-code").value), "Signed in");
  });
}
