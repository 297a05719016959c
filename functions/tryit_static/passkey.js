// Passkeys: register one (begin on the app, navigator.credentials.create in the browser's authenticator,
// verify the credential's JSON) and list the user's passkeys. The browser parses and serialises the
// WebAuthn JSON itself (parseCreationOptionsFromJSON, toJSON): no base64url code lives here.
import { $, call, show, userPath } from "./api.js";

// Runs a WebAuthn ceremony; a refusal by the browser or authenticator is shown like a problem.
export async function ceremony(kind, publicKey) {
  try {
    const credential = kind === "create"
      ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) })
      : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
    return { ok: true, credential: credential.toJSON() };
  } catch (error) {
    return { ok: false, status: 0, body: { title: "Browser refused", detail: String(error), code: error.name || "webauthn" } };
  }
}

export function verifyCredential(challengeId, credential) {
  return call("POST", `/api/v1/challenges/${encodeURIComponent(challengeId)}/verify`, { credential });
}

async function register() {
  const out = $("passkey-out");
  const begun = await call("POST", userPath("/passkeys"), { name: $("passkey-name").value.trim() });
  if (!begun.ok) {
    return show(out, begun);
  }
  const made = await ceremony("create", begun.body.publicKey);
  if (!made.ok) {
    return show(out, made);
  }
  show(out, await verifyCredential(begun.body.challengeId, made.credential), "Passkey registered");
}

async function list() {
  const result = await call("GET", userPath("/passkeys"));
  const items = $("passkey-list");
  items.replaceChildren();
  for (const p of result.ok ? result.body.passkeys : []) {
    const li = document.createElement("li");
    li.textContent = `${p.name}: ${p.backedUp ? "synced" : "device-bound"}, created ${p.createdAt}, last used ${p.lastUsedAt || "never"}`;
    items.append(li);
  }
  show($("passkey-out"), result, `${result.ok ? result.body.passkeys.length : 0} passkey(s)`);
}

export function init() {
  $("passkey-register").addEventListener("click", register);
  $("passkey-show").addEventListener("click", list);
}
