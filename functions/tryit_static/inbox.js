// The local SMS emulator's inbox (present only when the app names it): the messages sent to the phone
// number above; "Use code" copies the newest code into the code fields. No function key goes there.
import { $ } from "./api.js";

export function init() {
  const panel = $("inbox-panel");
  if (!panel) {
    return;
  }
  $("inbox-refresh").addEventListener("click", () => refresh(panel.dataset.inbox));
}

async function refresh(origin) {
  const list = $("inbox-list");
  const out = $("inbox-out");
  const phone = $("phone").value.trim();
  try {
    const response = await fetch(`${origin}/messages?to=${encodeURIComponent(phone)}`, { credentials: "omit", cache: "no-store" });
    const messages = await response.json();
    list.replaceChildren(...messages.map(item));
    out.textContent = `${messages.length} message(s) to ${phone}`;
  } catch (error) {
    out.textContent = `Cannot read the SMS emulator: ${error}`;
  }
}

function item(message) {
  const li = document.createElement("li");
  li.textContent = `${message.receivedAt} ${message.message}`;
  const code = /#(\d{6,8})$/.exec(message.message);
  if (code) {
    const use = document.createElement("button");
    use.type = "button";
    use.textContent = `Use code ${code[1]}`;
    use.addEventListener("click", () => {
      $("phone-code").value = code[1];
      $("signin-code").value = code[1];
    });
    li.append(" ", use);
  }
  return li;
}
