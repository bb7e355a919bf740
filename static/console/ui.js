// Small DOM helpers for the console. Text always goes in as text nodes,
// never as HTML: message bodies and names come from users.

/** `h("a", {href, class, onclick, dataset: {sid}}, "text", child, …)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = n;
  let unit = -1;
  do {
    value /= 1024;
    unit++;
  } while (value >= 1024 && unit < units.length - 1);
  return `${value >= 10 ? Math.round(value) : Number(value.toFixed(1))} ${units[unit]}`;
}

/** "14:05" today, "3 Dec 14:05" otherwise. */
export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

/** Why a permission refused an action, in words a user reads. */
const PERMISSION_WORDS = {
  sendMessage: "You are not allowed to send messages in this conversation.",
  sendMediaMessage: "You are not allowed to send photos, videos or files in this conversation.",
  editOwnMessage: "You are not allowed to edit your messages here.",
  deleteOwnMessage: "You are not allowed to delete your messages here.",
  editAnyMessage: "Only the author may edit this message.",
  deleteAnyMessage: "Only the author may delete this message.",
};

/** A ConfabError (or any error) as a sentence for the page. */
export function describeError(error) {
  if (!error) return "Something went wrong.";
  const missing = /missing permission (\w+)/.exec(error.message ?? "");
  if (missing) return PERMISSION_WORDS[missing[1]] ?? `Your role does not allow this (it lacks ${missing[1]}).`;
  if (error.status === 0) return "Confab could not be reached. Check the connection and try again.";
  if (error.status === 401) return "Your session has expired. Sign in again.";
  if (error.status === 429 || error.status === 503) {
    return `The server is busy${error.retryAfter ? `; try again in ${error.retryAfter} s` : ""}.`;
  }
  return error.message || "Something went wrong.";
}

/** A dismissible message at the top of an element. */
export function notice(kind, text, detail) {
  const el = h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "notice-text" }, text),
    detail ? h("small", { class: "notice-detail" }, detail) : null,
    h("button", { type: "button", class: "icon", title: "Dismiss", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  return el;
}

/** Initials for an avatar. */
export function initials(name) {
  const words = String(name ?? "?").trim().split(/[\s._@-]+/).filter(Boolean);
  return ((words[0]?.[0] ?? "?") + (words[1]?.[0] ?? "")).toUpperCase();
}

/** A stable hue per name, so each person keeps a colour. */
export function hue(name) {
  let n = 0;
  for (const c of String(name)) n = (n * 31 + c.charCodeAt(0)) >>> 0;
  return n % 360;
}

export function avatar(name) {
  const el = h("span", { class: "avatar", "aria-hidden": "true" }, initials(name));
  el.style.setProperty("--hue", hue(name));
  return el;
}
