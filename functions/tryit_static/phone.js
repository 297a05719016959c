// Enrol a phone: the app sends a code by SMS (locally: to the emulator's inbox), then verify it.
import { $, call, show, userPath, verify } from "./api.js";

let challengeId = null;

export function init() {
  $("phone-enrol").addEventListener("click", async () => {
    const result = await call("POST", userPath("/phone"), { phoneNumber: $("phone").value.trim() });
    challengeId = result.ok ? result.body.challengeId : null;
    show($("phone-out"), result, "Code sent");
  });
  $("phone-verify").addEventListener("click", async () => {
    show($("phone-out"), await verify(challengeId || "", $("phone-code").value), "Phone enrolled");
  });
}
