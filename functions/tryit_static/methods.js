// The user's methods (GET /api/v1/users/{id}): one line per method entry.
import { $, call, show, userPath } from "./api.js";

export function init() {
  $("methods-show").addEventListener("click", async () => {
    const result = await call("GET", userPath());
    const list = $("methods-list");
    list.replaceChildren();
    if (result.ok) {
      for (const method of result.body.methods) {
        const li = document.createElement("li");
        const details = Object.entries(method).filter(([k, v]) => k !== "type" && v !== null);
        li.textContent = `${method.type}${details.length ? ": " : ""}${details.map(([k, v]) => `${k} ${v}`).join(", ")}`;
        list.append(li);
      }
    }
    show($("methods-out"), result, `${result.ok ? result.body.methods.length : 0} method(s)`);
  });
}
