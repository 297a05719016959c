// The one place that talks to the app: the function key lives in this module's variable only (never in
// storage, cookies or a URL), and every answer is shown either as JSON or as its problem+json fields.
let functionKey = "";

export const $ = (id) => document.getElementById(id);

export function setKey(value) {
  functionKey = value.trim();
}

export function userId() {
  return $("user").value.trim();
}

export function userPath(suffix = "") {
  return `/api/v1/users/${encodeURIComponent(userId())}${suffix}`;
}

export async function call(method, path, body) {
  if (!functionKey) {
    return { ok: false, status: 0, body: { title: "No function key", detail: "Type the function key first.", code: "no_key" } };
  }
  const init = { method, headers: { "x-functions-key": functionKey }, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { ok: false, status: 0, body: { title: "Network error", detail: String(error), code: "network" } };
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { title: "Unreadable answer", detail: text.slice(0, 200), code: "unreadable" };
  }
  if (!response.ok && parsed === null) {  // the platform refuses a wrong key with an empty 401
    parsed = response.status === 401
      ? { title: "Unauthorized", detail: "The function key was not accepted.", code: "no problem body" }
      : { title: response.statusText || "Error", detail: "", code: "no problem body" };
  }
  return { ok: response.ok, status: response.status, body: parsed };
}

// Shows an answer in an <output>: a problem as "status title (code): detail", anything else as JSON.
export function show(out, result, summary) {
  out.classList.toggle("ok", result.ok);
  out.classList.toggle("problem", !result.ok);
  if (result.ok) {
    const body = result.body ? JSON.stringify(result.body, null, 2) : "";
    out.textContent = `${result.status} ${summary || "OK"}\n${body}`;
  } else {
    const p = result.body || {};
    out.textContent = `${result.status || ""} ${p.title || "Error"} (${p.code || "no code"}): ${p.detail || ""}`.trim();
  }
}

export function verify(challengeId, code) {
  return call("POST", `/api/v1/challenges/${encodeURIComponent(challengeId)}/verify`, { code: code.trim() });
}
