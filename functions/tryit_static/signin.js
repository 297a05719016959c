// A sign-in: begin a challenge for the user (default method or the one chosen), then verify its code.
import { $, call, show, userId, verify } from "./api.js";

let challengeId = null;

export function init() {
  $("signin-begin").addEventListener("click", async () => {
    const body = { userId: userId() };
    if ($("signin-method").value) {
      body.method = $("signin-method").value;
    }
    const result = await call("POST", "/api/v1/challenges", body);
    challengeId = result.ok ? result.body.challengeId || null : null;
    show($("signin-out"), result, challengeId ? "Challenge started" : "Done");
  });
  $("signin-verify").addEventListener("click", async () => {
    show($("signin-out"), await verify(challengeId || "", $("signin-code").value), "Signed in");
  });
}
