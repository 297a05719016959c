// Entry module: wires the key field and each panel. A new panel is one more import and init() here.
import { $, setKey } from "./api.js";
import * as totp from "./totp.js";
import * as phone from "./phone.js";
import * as inbox from "./inbox.js";
import * as passkey from "./passkey.js";
import * as signin from "./signin.js";
import * as methods from "./methods.js";

const key = $("key");
key.addEventListener("input", () => setKey(key.value));
setKey(key.value);
for (const panel of [totp, phone, inbox, passkey, signin, methods]) {
  panel.init();
}
