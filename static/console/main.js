// The console: sign-in with an account's SID and Auth Token, the admin
// views (admin.js) and "chat as" a user (chat.js). Everything it does goes
// through Confab's public REST API, as any backend would.

import { ConfabError } from "/confab.js";
import { h, fill, describeError, notice } from "/console/ui.js";
import * as admin from "/console/admin.js";
import { openChat } from "/console/chat.js";

const SESSION = "confab.console";
const app = document.getElementById("app");

/** Credentials live in session storage: gone when the tab closes. */
function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION)) ?? null;
  } catch {
    return null;
  }
}

function saveSession(session) {
  if (session) sessionStorage.setItem(SESSION, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION);
}

/** The REST API with the account's credentials (Basic auth). */
function accountApi(current) {
  const auth = `Basic ${btoa(`${current.account}:${current.token}`)}`;
  async function call(method, path, form) {
    // credentials "omit": a 401 then never brings up the browser's own login prompt.
    const init = { method, headers: { Authorization: auth }, credentials: "omit" };
    if (form) {
      const body = new URLSearchParams();
      for (const [key, value] of Object.entries(form)) {
        for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined && v !== null) body.append(key, v);
      }
      init.body = body;
    }
    let res;
    try {
      res = await fetch(path.replace(/^https?:\/\/[^/]+/, ""), init);
    } catch (e) {
      throw Object.assign(new ConfabError("Confab could not be reached", { status: 0 }), { cause: e });
    }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      // Signed in and refused (the token was rotated): back to the sign-in form. A sign-in attempt says so itself.
      if (res.status === 401 && session === current) signOut("Your credentials were refused. Sign in again.");
      throw new ConfabError(data?.message ?? `HTTP ${res.status}`, {
        code: data?.code ?? null, status: res.status, moreInfo: data?.more_info ?? null,
        retryAfter: Number(res.headers.get("Retry-After")) || null,
      });
    }
    return data;
  }
  return {
    get: (path) => call("GET", path),
    post: (path, form) => call("POST", path, form ?? {}),
    delete: (path) => call("DELETE", path),
    /** One page of a list; `page.next()` fetches the next (null at the end). */
    async page(path) {
      const data = await call("GET", path);
      const next = data.meta?.next_page_url;
      return { items: data[data.meta.key] ?? [], next: next ? () => this.page(next) : null };
    },
  };
}

let session = loadSession();
let config = null;
let leaveView = null; // the current view's clean-up (a chat closes its stream)

function signOut(message) {
  saveSession(null);
  session = null;
  // Without a hashchange, whose render would drop the message.
  history.replaceState(null, "", location.pathname);
  render(message);
}

function signIn(message) {
  const error = h("div", { class: "signin-error" }, message ? notice("error", message) : null);
  const account = h("input", { name: "account", required: true, autocomplete: "username", spellcheck: "false",
    pattern: "AC[0-9a-fA-F]{32}", placeholder: "AC…", title: "AC followed by 32 hexadecimal digits" });
  const token = h("input", { name: "token", type: "password", required: true, autocomplete: "current-password" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "signin", id: "signin", onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    const candidate = { account: account.value.trim(), token: token.value.trim() };
    try {
      await accountApi(candidate).get("/v1/Services?PageSize=1");
      saveSession(candidate);
      session = candidate;
      render();
    } catch (err) {
      fill(error, notice("error", err.status === 401 ? "That Account SID and Auth Token do not match." : describeError(err)));
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", {}, h("span", { class: "logo", "aria-hidden": "true" }), "Confab"),
  h("p", { class: "lead" }, "A self-hosted messaging backend that speaks the Twilio Conversations API. Sign in with your account to manage services, conversations, users and roles, or to chat as one of your users."),
  error,
  h("label", {}, "Account SID", account),
  h("label", {}, "Auth Token", token),
  button,
  h("p", { class: "hint" }, "The console keeps them in this tab's session storage only. ",
    h("code", {}, "confab admin create-account"), " makes an account and prints both (or set ",
    h("code", {}, "CONFAB_ACCOUNT_SID"), " and ", h("code", {}, "CONFAB_AUTH_TOKEN"), ")."),
  h("p", { class: "hint" }, "Backends call the same API: ",
    h("code", {}, `curl -u "$ACCOUNT_SID:$AUTH_TOKEN" ${location.origin}/v1/Conversations`)));
  fill(app, h("main", { class: "signin-page" }, form));
  account.focus();
}

const NAV = [
  ["services", "Services"],
  ["conversations", "Conversations"],
  ["users", "Users"],
  ["roles", "Roles"],
  ["chat", "Chat as…"],
];

let generation = 0; // bumped by each render: a slower, older one stops when it sees a newer one

/** The header, the service picker and the view for the current hash. */
async function render(message) {
  const mine = ++generation;
  const stale = () => mine !== generation;
  leaveView?.();
  leaveView = null;
  if (!session) return signIn(message);
  const api = accountApi(session);
  config ??= await fetch("/console/config").then((r) => r.json()).catch(() => ({ permissions: {} }));
  const [, route = "conversations", ...rest] = location.hash.replace(/^#\/?/, "#/").split("/");

  const services = await api.page("/v1/Services?PageSize=50").catch((e) => ({ items: [], error: e }));
  if (stale()) return;
  if (services.error?.status === 401) return signIn("Your credentials were refused. Sign in again.");
  let service = sessionStorage.getItem(`${SESSION}.service`);
  if (service && !services.items.some((s) => s.sid === service)) {
    // Chosen from a later page of the Services list.
    const found = await api.get(`/v1/Services/${service}`).catch(() => null);
    if (stale()) return;
    if (found) services.items.push(found);
  }
  if (!services.items.some((s) => s.sid === service)) service = services.items[0]?.sid ?? null;

  const picker = h("select", { "aria-label": "Service", class: "service-picker", onchange: () => {
    sessionStorage.setItem(`${SESSION}.service`, picker.value);
    render();
  } }, services.items.map((s) => h("option", { value: s.sid, selected: s.sid === service }, s.friendly_name || s.sid)));
  const main = h("main", { class: `view view-${route}` });
  document.body.classList.toggle("chatting", route === "chat" && rest.length >= 2);
  const header = h("header", { class: "topbar" },
    h("a", { class: "brand", href: "#/conversations" }, h("span", { class: "logo", "aria-hidden": "true" }), "Confab"),
    h("nav", {}, NAV.map(([key, label]) =>
      h("a", { href: `#/${key}`, dataset: { nav: key }, class: key === route ? "active" : null }, label))),
    h("div", { class: "topbar-end" }, picker,
      h("button", { type: "button", class: "ghost", onclick: () => signOut() }, "Sign out")));
  fill(app, header, main);
  if (message) main.append(notice("info", message));

  const ctx = {
    api, config, service, services: services.items, main,
    account: session.account,
    go: (hash) => { location.hash = hash; },
    refresh: () => render(),
    stale,
  };
  try {
    if (!service && route !== "services") return await admin.services(ctx);
    switch (route) {
      case "services": return await admin.services(ctx);
      case "conversations": return await (rest[0] ? admin.conversation(ctx, rest[0]) : admin.conversations(ctx));
      case "users": return await admin.users(ctx);
      case "roles": return await (rest[0] ? admin.role(ctx, rest[0]) : admin.roles(ctx));
      case "chat":
        if (rest.length >= 2) return await chat(ctx, rest[0], decodeURIComponent(rest.slice(1).join("/")));
        return admin.chatAs(ctx);
      default: return await admin.conversations(ctx);
    }
  } catch (e) {
    if (!stale()) main.append(notice("error", describeError(e), e.code ? `Error ${e.code}` : null));
  }
}

/** A console token for `identity`: signed by the account's console key. */
async function consoleToken(api, serviceSid, identity) {
  const minted = await api.post("/console/token", { Identity: identity, ServiceSid: serviceSid });
  return minted.token;
}

async function chat(ctx, serviceSid, identity) {
  const tokenProvider = () => consoleToken(ctx.api, serviceSid, identity);
  let view = null;
  try {
    const token = await tokenProvider();
    if (ctx.stale()) return;
    view = await openChat(ctx.main, {
      token, tokenProvider, identity, serviceSid,
      maxMediaBytes: ctx.config.max_media_bytes, maxMediaPerMessage: ctx.config.max_media_per_message,
    });
  } finally {
    // Left while it opened: close it now, or its stream would outlive the view.
    if (view && ctx.stale()) view.close();
  }
  if (!ctx.stale()) leaveView = () => view.close();
}

window.addEventListener("hashchange", () => render());
render();
