// The admin views: services, conversations with their participants and
// messages, users and roles with a permission editor. Each takes the
// context main.js builds: `api` (Basic auth), `service`, `config`, `main`.

import { h, fill, formatBytes, formatTime, describeError, notice, avatar } from "/console/ui.js";

const enc = encodeURIComponent;

/** A page title with actions on the right. */
function heading(title, ...actions) {
  return h("div", { class: "heading" }, h("h2", {}, title), h("div", { class: "actions" }, actions));
}

/** Runs `action` from a form or button, showing its refusal in words in `where`. */
async function attempt(where, action, success) {
  where.querySelectorAll(":scope > .notice").forEach((n) => n.remove());
  try {
    const result = await action();
    if (success) where.prepend(notice("ok", success));
    return result;
  } catch (e) {
    where.prepend(notice("error", describeError(e), e.code ? `Error ${e.code}: ${e.message}` : null));
    return undefined;
  }
}

/**
 * A table filled page by page: `columns` are [label, item → cell]; a
 * "Load more" button follows the API's next page.
 */
async function pagedTable(first, columns, { onOpen, empty = "Nothing here yet." } = {}) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "ghost more" }, "Load more");
  const wrap = h("div", { class: "table-wrap" },
    h("table", {}, h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", {}, label)))), body), more);
  let next = null;
  const add = (page) => {
    for (const item of page.items) {
      const row = h("tr", { class: onOpen ? "clickable" : null, dataset: { sid: item.sid ?? "" } },
        columns.map(([label, cell]) => h("td", { "data-label": label }, cell(item))));
      if (onOpen) {
        row.tabIndex = 0;
        row.addEventListener("click", (e) => { if (!e.target.closest("button, a")) onOpen(item); });
        row.addEventListener("keydown", (e) => { if (e.key === "Enter") onOpen(item); });
      }
      body.append(row);
    }
    next = page.next;
    more.hidden = !next;
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)));
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    await attempt(wrap, async () => add(await next()));
    more.disabled = false;
  });
  add(await first);
  return wrap;
}

const code = (text) => h("code", { class: "sid" }, text);

// ---- services ----

export async function services(ctx) {
  const name = h("input", { name: "friendlyName", required: true, placeholder: "Friendly name" });
  const form = h("form", { class: "inline-form", onsubmit: async (e) => {
    e.preventDefault();
    const created = await attempt(ctx.main, () => ctx.api.post("/v1/Services", { FriendlyName: name.value }));
    if (created) {
      sessionStorage.setItem("confab.console.service", created.sid);
      ctx.refresh();
    }
  } }, name, h("button", { class: "primary" }, "Create service"));
  const table = await pagedTable(ctx.api.page("/v1/Services?PageSize=50"), [
    ["Name", (s) => h("strong", {}, s.friendly_name || "(unnamed)")],
    ["SID", (s) => code(s.sid)],
    ["Created", (s) => formatTime(s.date_created)],
    ["", (s) => (s.sid === ctx.service ? h("span", { class: "badge" }, "selected") : null)],
  ], { onOpen: (s) => {
    sessionStorage.setItem("confab.console.service", s.sid);
    ctx.go("#/conversations");
  }, empty: "No services yet: create one." });
  ctx.main.append(heading("Services"), h("p", { class: "muted" },
    "A service holds conversations, users and roles. Pick one to manage it."), form, table);
}

// ---- conversations ----

export async function conversations(ctx) {
  const base = `/v1/Services/${ctx.service}/Conversations`;
  const name = h("input", { name: "friendlyName", placeholder: "Friendly name" });
  const unique = h("input", { name: "uniqueName", placeholder: "Unique name (optional)" });
  const form = h("form", { class: "inline-form", onsubmit: async (e) => {
    e.preventDefault();
    const created = await attempt(ctx.main, () =>
      ctx.api.post(base, { FriendlyName: name.value || undefined, UniqueName: unique.value || undefined }));
    if (created) ctx.go(`#/conversations/${created.sid}`);
  } }, name, unique, h("button", { class: "primary" }, "New conversation"));
  const table = await pagedTable(ctx.api.page(`${base}?PageSize=50`), [
    ["Name", (c) => h("strong", {}, c.friendly_name || c.unique_name || "(unnamed)")],
    ["Unique name", (c) => c.unique_name ?? ""],
    ["State", (c) => h("span", { class: `state state-${c.state}` }, c.state)],
    ["SID", (c) => code(c.sid)],
    ["Created", (c) => formatTime(c.date_created)],
  ], { onOpen: (c) => ctx.go(`#/conversations/${c.sid}`), empty: "No conversations yet." });
  ctx.main.append(heading("Conversations"), form, table);
}

async function rolesOf(ctx, type) {
  const page = await ctx.api.page(`/v1/Services/${ctx.service}/Roles?PageSize=50`);
  return page.items.filter((r) => !type || r.type === type);
}

export async function conversation(ctx, sid) {
  const base = `/v1/Services/${ctx.service}/Conversations/${enc(sid)}`;
  const [conv, roles] = await Promise.all([ctx.api.get(base), rolesOf(ctx)]);
  const roleName = (rl) => roles.find((r) => r.sid === rl)?.friendly_name ?? rl ?? "";
  const remove = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!confirm(`Delete the conversation "${conv.friendly_name || conv.sid}" and all its messages?`)) return;
    if (await attempt(ctx.main, () => ctx.api.delete(base).then(() => true))) ctx.go("#/conversations");
  } }, "Delete conversation");

  // Participants, with a form to add one by identity and a role.
  const participants = h("section", { class: "card" });
  const loadParticipants = async () => {
    const identity = h("input", { name: "identity", required: true, placeholder: "Identity", autocomplete: "off" });
    const role = h("select", { name: "role", "aria-label": "Role" }, h("option", { value: "" }, "Default role"),
      roles.filter((r) => r.type === "conversation").map((r) => h("option", { value: r.sid }, r.friendly_name)));
    const add = h("form", { class: "inline-form", onsubmit: async (e) => {
      e.preventDefault();
      const added = await attempt(participants, () =>
        ctx.api.post(`${base}/Participants`, { Identity: identity.value.trim(), RoleSid: role.value || undefined }));
      if (added) loadParticipants();
    } }, identity, role, h("button", { class: "primary" }, "Add participant"));
    const table = await pagedTable(ctx.api.page(`${base}/Participants?PageSize=50`), [
      ["Participant", (p) => h("span", { class: "who", title: p.sid }, avatar(p.identity ?? "?"), p.identity ?? p.messaging_binding?.address ?? "(no identity)")],
      ["Role", (p) => roleName(p.role_sid)],
      ["Last read", (p) => (p.last_read_message_index ?? "—")],
      ["", (p) => h("button", { type: "button", class: "ghost small", onclick: async () => {
        if (await attempt(participants, () => ctx.api.delete(`${base}/Participants/${p.sid}`).then(() => true))) loadParticipants();
      } }, "Remove")],
    ], { empty: "Nobody has joined yet." });
    fill(participants, h("h3", {}, "Participants"), add, table);
  };

  // Messages, newest last; older pages on request. Media open through temporary URLs.
  const messages = h("section", { class: "card" });
  const list = h("ol", { class: "admin-messages" });
  const older = h("button", { type: "button", class: "ghost more" }, "Load older messages");
  let next = null;
  const showPage = (page, atTop) => {
    const items = page.items.map((m) => adminMessage(ctx, base, m, messages));
    if (atTop) list.prepend(...items.reverse());
    else list.append(...items.reverse());
    next = page.next;
    older.hidden = !next;
  };
  older.addEventListener("click", async () => {
    older.disabled = true;
    await attempt(messages, async () => showPage(await next(), true));
    older.disabled = false;
  });
  fill(messages, h("h3", {}, "Messages"), older, list);
  showPage(await ctx.api.page(`${base}/Messages?Order=desc&PageSize=30`), false);
  if (!list.children.length) list.append(h("li", { class: "empty" }, "No messages yet."));

  await loadParticipants();
  ctx.main.append(
    h("a", { class: "back", href: "#/conversations" }, "← Conversations"),
    heading(conv.friendly_name || conv.unique_name || "(unnamed conversation)", remove),
    h("dl", { class: "facts" },
      h("dt", {}, "SID"), h("dd", {}, code(conv.sid)),
      h("dt", {}, "State"), h("dd", {}, conv.state),
      h("dt", {}, "Unique name"), h("dd", {}, conv.unique_name ?? "—"),
      h("dt", {}, "Attributes"), h("dd", {}, code(conv.attributes ?? "{}")),
      h("dt", {}, "Created"), h("dd", {}, formatTime(conv.date_created))),
    h("div", { class: "columns" }, participants, messages));
}

function adminMessage(ctx, base, m, where) {
  const item = h("li", { class: "admin-message", dataset: { index: m.index } },
    h("div", { class: "meta" }, avatar(m.author), h("strong", {}, m.author), h("span", { class: "muted" }, ` #${m.index} · ${formatTime(m.date_created)}`),
      h("button", { type: "button", class: "ghost small", onclick: async () => {
        if (await attempt(where, () => ctx.api.delete(`${base}/Messages/${m.sid}`).then(() => true))) item.remove();
      } }, "Delete")),
    m.body ? h("p", { class: "body" }, m.body) : null,
    (m.media ?? []).map((media) => h("div", { class: "media-row" },
      h("span", {}, `${media.filename ?? media.sid} · ${media.content_type} · ${formatBytes(media.size)}`),
      h("button", { type: "button", class: "ghost small", onclick: async () => {
        // A temporary URL, fetched when asked for: it expires, so none is kept in the page.
        // The tab opens now, while the click still counts as the user's gesture.
        const tab = window.open("about:blank", "_blank");
        if (tab) tab.opener = null;
        const found = await attempt(where, () => ctx.api.get(`/v1/Services/${ctx.service}/Media/${media.sid}`));
        const url = found?.links?.content_direct_temporary;
        if (url && tab) tab.location = url;
        else tab?.close();
      } }, "Open"))));
  return item;
}

// ---- users ----

export async function users(ctx) {
  const base = `/v1/Services/${ctx.service}/Users`;
  const roles = await rolesOf(ctx, "service");
  const identity = h("input", { name: "identity", required: true, placeholder: "Identity", autocomplete: "off" });
  const name = h("input", { name: "friendlyName", placeholder: "Friendly name" });
  const role = h("select", { name: "role", "aria-label": "Role" }, h("option", { value: "" }, "Default role"),
    roles.map((r) => h("option", { value: r.sid }, r.friendly_name)));
  const form = h("form", { class: "inline-form", onsubmit: async (e) => {
    e.preventDefault();
    const made = await attempt(ctx.main, () => ctx.api.post(base, {
      Identity: identity.value.trim(), FriendlyName: name.value || undefined, RoleSid: role.value || undefined,
    }));
    if (made) ctx.refresh();
  } }, identity, name, role, h("button", { class: "primary" }, "Create user"));
  const table = await pagedTable(ctx.api.page(`${base}?PageSize=50`), [
    ["User", (u) => h("span", { class: "who" }, avatar(u.identity), h("strong", {}, u.identity))],
    ["Friendly name", (u) => u.friendly_name ?? ""],
    ["Role", (u) => roles.find((r) => r.sid === u.role_sid)?.friendly_name ?? u.role_sid ?? ""],
    ["SID", (u) => code(u.sid)],
    ["", (u) => h("a", { class: "button ghost small", href: `#/chat/${ctx.service}/${enc(u.identity)}` }, "Chat as")],
  ], { empty: "No users yet. A user is made when an identity first joins a conversation." });
  ctx.main.append(heading("Users"), form, table);
}

// ---- roles ----

/** A checkbox for each permission the role's type allows; `values()` is the ticked set. */
function permissionEditor(ctx, type, selected = []) {
  const names = ctx.config.permissions?.[type] ?? [];
  const boxes = names.map((name) => h("input", { type: "checkbox", name: "permission", value: name, checked: selected.includes(name) }));
  const el = h("fieldset", { class: "permissions" }, h("legend", {}, `Permissions of a ${type} role`),
    names.map((name, i) => h("label", { class: "check" }, boxes[i], h("span", {}, name))));
  return { el, values: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

export async function roles(ctx) {
  const base = `/v1/Services/${ctx.service}/Roles`;
  const name = h("input", { name: "friendlyName", required: true, placeholder: "Role name" });
  const type = h("select", { name: "type", "aria-label": "Type" },
    h("option", { value: "conversation" }, "Conversation role"), h("option", { value: "service" }, "Service role"));
  const holder = h("div");
  let editor = null;
  const showEditor = () => { editor = permissionEditor(ctx, type.value, ["sendMessage"]); fill(holder, editor.el); };
  type.addEventListener("change", showEditor);
  showEditor();
  const form = h("form", { class: "card new-role", onsubmit: async (e) => {
    e.preventDefault();
    const made = await attempt(form, () =>
      ctx.api.post(base, { FriendlyName: name.value, Type: type.value, Permission: editor.values() }));
    if (made) ctx.go(`#/roles/${made.sid}`);
  } }, h("h3", {}, "New role"), h("div", { class: "inline-form" }, name, type), holder,
  h("button", { class: "primary" }, "Create role"));
  const table = await pagedTable(ctx.api.page(`${base}?PageSize=50`), [
    ["Role", (r) => h("strong", {}, r.friendly_name)],
    ["Type", (r) => r.type],
    ["Permissions", (r) => h("span", { class: "muted" }, r.permissions.join(", "))],
    ["SID", (r) => code(r.sid)],
  ], { onOpen: (r) => ctx.go(`#/roles/${r.sid}`) });
  ctx.main.append(heading("Roles"), h("p", { class: "muted" },
    "A service role applies to a user across the service; a conversation role to a participant in one conversation."),
  table, form);
}

export async function role(ctx, sid) {
  const url = `/v1/Services/${ctx.service}/Roles/${enc(sid)}`;
  const found = await ctx.api.get(url);
  const editor = permissionEditor(ctx, found.type, found.permissions);
  const status = h("span", { class: "muted save-status" });
  const form = h("form", { class: "card role-editor", dataset: { sid: found.sid }, onsubmit: async (e) => {
    e.preventDefault();
    // Saving replaces the role's whole set, as the API does.
    const saved = await attempt(form, () => ctx.api.post(url, { Permission: editor.values() }),
      "Saved. The new permissions apply to the next action of every user with this role.");
    if (saved) fill(status, `${saved.permissions.length} permissions · updated ${formatTime(saved.date_updated)}`);
  } }, editor.el, h("div", { class: "form-end" }, h("button", { class: "primary", id: "save-role" }, "Save permissions"), status));
  fill(status, `${found.permissions.length} permissions`);
  const remove = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!confirm(`Delete the role "${found.friendly_name}"?`)) return;
    if (await attempt(ctx.main, () => ctx.api.delete(url).then(() => true))) ctx.go("#/roles");
  } }, "Delete role");
  ctx.main.append(h("a", { class: "back", href: "#/roles" }, "← Roles"),
    heading(found.friendly_name, remove),
    h("dl", { class: "facts" }, h("dt", {}, "SID"), h("dd", {}, code(found.sid)), h("dt", {}, "Type"), h("dd", {}, found.type)),
    form);
}

// ---- chat as ----

export async function chatAs(ctx) {
  const identity = h("input", { name: "identity", required: true, placeholder: "Identity, e.g. alice", autocomplete: "off", list: "known-identities" });
  const known = h("datalist", { id: "known-identities" });
  const service = h("select", { name: "service", "aria-label": "Service" },
    ctx.services.map((s) => h("option", { value: s.sid, selected: s.sid === ctx.service }, s.friendly_name || s.sid)));
  const form = h("form", { class: "card chat-as", id: "chat-as", onsubmit: (e) => {
    e.preventDefault();
    ctx.go(`#/chat/${service.value}/${enc(identity.value.trim())}`);
  } }, h("h3", {}, "Chat as a user"),
  h("p", { class: "muted" }, "Opens the chat as that user, with a short-lived access token Confab signs with the account's console API key (revoke it under Keys like any other key)."),
  h("div", { class: "inline-form" }, identity, service, h("button", { class: "primary" }, "Open chat")), known);
  ctx.main.append(heading("Chat as…"), form);
  identity.focus();
  ctx.api.page(`/v1/Services/${ctx.service}/Users?PageSize=50`)
    .then((page) => known.append(...page.items.map((u) => h("option", { value: u.identity }))))
    .catch(() => {});
}
