// The chat view: one user's conversations, messages, media and typing,
// live over the event stream, built only on confab.js (what an app would
// use). The console opens it with a token for "chat as".

import { Client } from "/confab.js";
import { h, fill, formatBytes, formatTime, describeError, notice, avatar } from "/console/ui.js";

const PAGE_SIZE = 30;
/** Older messages load when the view is scrolled this close to its top (px). */
const LOAD_OLDER_AT = 240;
/** A sent message's progress bars stay this long, so the sender sees them finish (ms). */
const SENT_LINGER_MS = 8000;

const enc = encodeURIComponent;

export async function openChat(root, { token, tokenProvider, identity, serviceSid, maxMediaBytes, maxMediaPerMessage = 10 }) {
  const client = new Client(token, { tokenProvider, serviceSid, maxMediaBytes });
  const conversations = new Map(); // sid → {sid, name, unread, lastRead, lastIndex, typing: Set, item}
  let open = null; // the conversation on screen: {sid, byIndex: Map, next, loading, seen, visible: Set}
  let chosen = []; // files picked for the next message
  let closed = false; // close() was called: nothing more is loaded

  // ---- layout ----
  const status = h("span", { class: "connection", id: "connection", role: "status" }, "Connecting…");
  const list = h("ul", { class: "conversation-list", "aria-label": "Conversations" });
  const title = h("h2", { class: "chat-title" }, "");
  const members = h("span", { class: "chat-members muted" });
  const older = h("div", { class: "older muted" });
  const messages = h("ol", { class: "messages", role: "log", "aria-label": "Messages" });
  const scroller = h("div", { class: "chat-scroll" }, older, messages);
  const jump = h("button", { type: "button", class: "jump", hidden: true, onclick: () => scrollToEnd() }, "New messages ↓");
  const typingLine = h("div", { class: "typing", "aria-live": "polite" });
  const notices = h("div", { class: "chat-notices" });
  const uploads = h("div", { class: "uploads" });
  const body = h("textarea", { name: "body", rows: 1, placeholder: "Write a message", "aria-label": "Message" });
  const files = h("input", { type: "file", multiple: true, id: "files", class: "visually-hidden", "aria-label": "Attach files" });
  const chips = h("ul", { class: "chosen" });
  const sendButton = h("button", { type: "submit", class: "primary send", id: "send" }, "Send");
  const composer = h("form", { class: "composer", id: "composer" },
    chips,
    h("div", { class: "composer-row" },
      h("label", { class: "attach", for: "files", title: "Attach photos, videos or files" }, "+", files),
      body, sendButton));
  const pane = h("section", { class: "chat-pane empty-pane" },
    h("header", { class: "chat-head" },
      h("button", { type: "button", class: "ghost back-to-list", "aria-label": "Back to conversations", onclick: () => leave() }, "←"),
      h("div", {}, title, members)),
    h("div", { class: "chat-body" }, scroller, jump),
    typingLine, notices, uploads, composer,
    h("div", { class: "drop-hint" }, "Drop files to attach them"));
  const chat = h("div", { class: "chat", dataset: { identity } },
    h("aside", { class: "chat-side" },
      h("div", { class: "me" }, avatar(identity), h("div", {}, h("strong", {}, identity), status)),
      list),
    pane);
  root.append(chat);

  // ---- the conversation list ----

  function entry(c) {
    const badge = h("span", { class: "unread", hidden: true });
    const preview = h("span", { class: "preview muted" });
    const name = h("span", { class: "name" });
    const item = h("li", { dataset: { sid: c.sid } },
      h("button", { type: "button", onclick: () => show(c.sid) }, avatar(c.name), h("span", { class: "text" }, name, preview), badge));
    const conv = { ...c, typing: new Set(), item, badge, preview, nameEl: name };
    conversations.set(c.sid, conv);
    paint(conv);
    return conv;
  }

  function paint(conv) {
    conv.nameEl.textContent = conv.name;
    const unread = conv.unread ?? 0;
    conv.badge.hidden = !(unread > 0);
    conv.badge.textContent = unread > 99 ? "99+" : String(unread);
    conv.badge.title = `${unread} unread`;
    conv.item.classList.toggle("has-unread", unread > 0);
    conv.item.classList.toggle("active", open?.sid === conv.sid);
    conv.preview.textContent = conv.typing.size ? `${[...conv.typing].join(", ")} typing…` : conv.last ?? "";
    conv.preview.classList.toggle("is-typing", conv.typing.size > 0);
  }

  const nameOf = (c) => c.friendly_name || c.unique_name || c.conversation_sid || c.sid;
  const previewOf = (m) => `${m.author === identity ? "You" : m.author}: ${m.body || (m.media?.length ? `${m.media.length} attachment${m.media.length > 1 ? "s" : ""}` : "")}`;

  async function loadConversations() {
    const found = [];
    try {
      for await (const uc of client.list(`/v1/Users/${enc(identity)}/Conversations`, { PageSize: 50 })) found.push(uc);
    } catch (e) {
      // A user is made when an identity first joins a conversation: none yet is an empty list.
      if (e.status !== 404) throw e;
    }
    list.replaceChildren();
    conversations.clear();
    const loaded = found.reverse().map((uc) => {
      const conv = entry({ sid: uc.conversation_sid, name: nameOf(uc), unread: uc.unread_messages_count, lastRead: uc.last_read_message_index });
      list.append(conv.item);
      return conv;
    });
    // Each one's newest message: its preview, and where live messages start counting as unread.
    await Promise.all(loaded.map((conv) => latest(conv).catch(() => {})));
    if (!found.length) list.append(h("li", { class: "empty muted" }, "No conversations yet. An admin adds this user to one under Conversations."));
  }

  /** The newest message of a conversation: its preview, and the unread count before a horizon exists. */
  async function latest(conv) {
    const page = await client.request("GET", `/v1/Conversations/${enc(conv.sid)}/Messages`, { query: { Order: "desc", PageSize: 1 } });
    const m = page.messages[0];
    if (!m) return;
    conv.lastIndex = Math.max(conv.lastIndex ?? -1, m.index);
    conv.last ??= previewOf(m);
    if (conv.lastRead === null || conv.lastRead === undefined) conv.unread = m.index + 1;
    paint(conv);
  }

  function toTop(conv) {
    if (list.firstElementChild !== conv.item) list.prepend(conv.item);
  }

  // ---- one conversation ----

  /** Closes the conversation on screen, sending its read horizon first. */
  function leave() {
    if (open) flushHorizon(open);
    open = null;
    observer.disconnect();
    chat.classList.remove("show-pane");
    for (const c of conversations.values()) paint(c);
  }

  async function show(sid) {
    const conv = conversations.get(sid);
    if (!conv || closed) return;
    if (open) flushHorizon(open);
    observer.disconnect();
    open = { sid, byIndex: new Map(), next: null, loading: false, seen: conv.lastRead ?? -1, visible: new Set() };
    const current = open;
    for (const c of conversations.values()) paint(c);
    pane.classList.remove("empty-pane");
    chat.classList.add("show-pane");
    title.textContent = conv.name;
    members.textContent = "";
    messages.replaceChildren();
    notices.replaceChildren();
    older.textContent = "";
    paintTyping();
    try {
      const page = await client.request("GET", `/v1/Conversations/${enc(sid)}/Messages`, { query: { Order: "desc", PageSize: PAGE_SIZE } });
      if (open !== current) return;
      addPage(page);
      scrollToEnd();
      // A first page that does not fill the view gives nothing to scroll: load on until it
      // does, stopping at a failure or once the view is gone (a hidden view never fills).
      while (open === current && open.next && scroller.isConnected && scroller.clientHeight > 0
        && scroller.scrollHeight <= scroller.clientHeight && await loadOlder());
      if (!messages.children.length) older.textContent = "No messages yet. Say hello.";
      loadMembers(current).catch(() => {});
      body.focus();
    } catch (e) {
      if (open === current) notices.append(notice("error", describeError(e)));
    }
  }

  async function loadMembers(current) {
    const people = [];
    for await (const p of client.listParticipants(current.sid, { PageSize: 50 })) people.push(p.identity ?? p.messaging_binding?.address ?? "guest");
    if (open === current) members.textContent = `${people.length} ${people.length === 1 ? "participant" : "participants"}: ${people.join(", ")}`;
  }

  function addPage(page) {
    // Through place(): a live message that arrived while the page loaded keeps its order.
    for (const m of page.messages) if (!open.byIndex.has(m.index)) place(m);
    open.next = page.meta.next_page_url;
    older.textContent = open.next ? "" : messages.children.length ? "The beginning of the conversation" : "";
    const conv = conversations.get(open.sid);
    const newest = page.messages[0]?.index;
    if (conv && newest !== undefined && !(conv.lastIndex > newest)) conv.lastIndex = newest;
  }

  /** One older page above the others; false when none came (the end, or a failure). */
  async function loadOlder() {
    if (!open?.next || open.loading) return false;
    const current = open;
    current.loading = true;
    older.textContent = "Loading older messages…";
    try {
      const page = await client.request("GET", current.next);
      if (open !== current) return false;
      // Keep what the reader is looking at in place while older messages go in above it.
      const before = scroller.scrollHeight - scroller.scrollTop;
      addPage(page);
      scroller.scrollTop = scroller.scrollHeight - before;
      return true;
    } catch (e) {
      if (open === current) older.textContent = `Older messages could not be loaded: ${describeError(e)}`;
      return false;
    } finally {
      current.loading = false;
    }
  }

  // A reader at the end stays at the end while the list grows (a new message, an image
  // that finishes loading); one who scrolled up to read stays where they are.
  let pinned = true;
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < LOAD_OLDER_AT) loadOlder();
    pinned = nearEnd();
    if (pinned) jump.hidden = true;
  });
  const growth = new ResizeObserver(() => { if (pinned) scrollToEnd(); });
  growth.observe(messages);
  growth.observe(scroller); // the view shrinking (a notice, the upload tray) keeps the end in view too

  const nearEnd = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  function scrollToEnd() {
    scroller.scrollTop = scroller.scrollHeight;
    pinned = true;
    jump.hidden = true;
  }

  /** A message in the list, in index order (live frames and replays may arrive in any order). */
  function place(m) {
    const existing = open.byIndex.get(m.index);
    if (existing) {
      observer.unobserve(existing);
      return existing.replaceWith(render(m));
    }
    let after = null;
    for (const [index, node] of open.byIndex) if (index > m.index && (!after || index < Number(after.dataset.index))) after = node;
    messages.insertBefore(render(m), after);
    older.textContent = older.textContent === "No messages yet. Say hello." ? "" : older.textContent;
  }

  function render(m) {
    const mine = m.author === identity;
    const bodyEl = h("p", { class: "body" }, m.body ?? "");
    const el = h("li", { class: `message${mine ? " mine" : ""}`, dataset: { index: m.index, sid: m.sid, author: m.author } },
      mine ? null : avatar(m.author),
      h("div", { class: "bubble" },
        h("div", { class: "meta" }, h("strong", {}, mine ? "You" : m.author), " ",
          h("time", { datetime: m.date_created, title: new Date(m.date_created).toLocaleString() }, formatTime(m.date_created)),
          m.date_updated && m.date_updated !== m.date_created ? h("span", { class: "edited" }, " · edited") : null),
        m.body ? bodyEl : null,
        m.media?.length ? h("div", { class: "attachments" }, m.media.map(attachment)) : null,
        mine ? h("div", { class: "message-actions" },
          m.body !== null ? h("button", { type: "button", class: "ghost small", onclick: () => edit(m, el) }, "Edit") : null,
          h("button", { type: "button", class: "ghost small", onclick: () => remove(m) }, "Delete")) : null));
    open.byIndex.set(m.index, el);
    observer.observe(el);
    return el;
  }

  /** Media shows from temporary URLs only; an expired one is renewed once and the player resumes. */
  function attachment(media) {
    const type = media.content_type ?? "";
    const label = `${media.filename ?? "file"} · ${formatBytes(media.size)}`;
    const load = async (el, force = false) => {
      el.src = await client.getTemporaryUrl(media.sid, { force });
    };
    // An expired URL fails the next range request: renew it and carry on where the player was.
    // Once per failure: a URL that fails again straight after renewal is broken, not expired.
    const renewOnce = (el) => {
      let renewed = false;
      el.addEventListener("loadeddata", () => { renewed = false; });
      el.addEventListener("error", () => {
        if (renewed || !el.getAttribute("src")) return el.closest(".attachment")?.classList.add("broken");
        renewed = true;
        const at = el.currentTime;
        const playing = el.paused === false;
        load(el, true).then(() => {
          if (at) el.currentTime = at;
          if (playing) el.play?.().catch(() => {});
        }).catch(() => el.closest(".attachment")?.classList.add("broken"));
      });
    };
    const failed = (el) => () => el.closest(".attachment")?.classList.add("broken");
    if (type.startsWith("image/")) {
      const img = h("img", { alt: media.filename ?? "image", decoding: "async" });
      renewOnce(img);
      load(img).catch(failed(img));
      return h("figure", { class: "attachment image", dataset: { sid: media.sid } }, img, h("figcaption", { class: "muted" }, label));
    }
    if (type.startsWith("video/") || type.startsWith("audio/")) {
      const player = h(type.startsWith("video/") ? "video" : "audio", { controls: true, preload: "metadata", playsinline: true });
      renewOnce(player);
      load(player).catch(failed(player));
      return h("figure", { class: `attachment ${type.startsWith("video/") ? "video" : "audio"}`, dataset: { sid: media.sid } }, player, h("figcaption", { class: "muted" }, label));
    }
    const link = h("a", { class: "attachment file", href: "#", download: media.filename ?? "", dataset: { sid: media.sid } },
      h("span", { class: "file-icon", "aria-hidden": "true" }, (media.filename?.split(".").pop() ?? "file").slice(0, 4).toUpperCase()),
      h("span", {}, h("strong", {}, media.filename ?? "file"), h("small", { class: "muted" }, `${type} · ${formatBytes(media.size)}`)));
    link.addEventListener("click", async (e) => {
      if (link.dataset.fresh) return; // the click below, on a URL just fetched: let it through
      e.preventDefault();
      // The URL is fetched on click, so the link works however long the page has been open;
      // the server sends such files as attachments, so following it downloads.
      try {
        link.href = await client.getTemporaryUrl(media.sid);
        link.dataset.fresh = "1";
        link.click();
      } catch (err) {
        notices.append(notice("error", `“${media.filename}” could not be downloaded: ${describeError(err)}`));
      } finally {
        delete link.dataset.fresh;
      }
    });
    return link;
  }

  async function edit(m, el) {
    const field = h("textarea", { class: "edit-field", rows: 2 }, m.body ?? "");
    field.value = m.body ?? "";
    const bodyEl = el.querySelector(".body");
    const form = h("form", { class: "edit", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await client.updateMessage(open.sid, m.sid, { Body: field.value });
      } catch (err) {
        notices.append(notice("error", describeError(err)));
        form.replaceWith(bodyEl ?? "");
      }
    } }, field, h("div", {}, h("button", { class: "primary small" }, "Save"),
      h("button", { type: "button", class: "ghost small", onclick: () => form.replaceWith(bodyEl ?? "") }, "Cancel")));
    (bodyEl ?? el.querySelector(".meta")).after(form);
    bodyEl?.remove();
    field.focus();
  }

  async function remove(m) {
    if (!confirm("Delete this message for everyone?")) return;
    try {
      await client.deleteMessage(open.sid, m.sid);
    } catch (err) {
      notices.append(notice("error", describeError(err)));
    }
  }

  // ---- the read horizon: advanced as messages come into view ----

  const observer = new IntersectionObserver((entries) => {
    if (!open) return;
    for (const e of entries) {
      const index = Number(e.target.dataset.index);
      if (open.byIndex.get(index) !== e.target) continue; // queued for a conversation since left
      // Half of a message in view, or half the view filled by it (one taller than the view).
      const seen = e.isIntersecting && (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= (e.rootBounds?.height ?? Infinity) / 2);
      if (seen) open.visible.add(index);
      else open.visible.delete(index);
    }
    markSeen();
  }, { root: scroller, threshold: [0, 0.25, 0.5, 0.75, 1] });

  const horizonTimers = new Map(); // conversation SID → pending update
  function markSeen() {
    if (!open || document.visibilityState !== "visible" || !open.visible.size) return;
    const newest = Math.max(...open.visible);
    if (newest <= open.seen) return;
    open.seen = newest;
    const current = open;
    // One update for a burst of messages scrolled past.
    clearTimeout(horizonTimers.get(current.sid));
    horizonTimers.set(current.sid, setTimeout(() => flushHorizon(current), 300));
  }

  /** Sends a conversation's pending read horizon now (it is being left, or the wait is over). */
  function flushHorizon(current) {
    if (!horizonTimers.has(current.sid)) return;
    clearTimeout(horizonTimers.get(current.sid));
    horizonTimers.delete(current.sid);
    advance(current);
  }

  async function advance(current) {
    const conv = conversations.get(current.sid);
    if (!conv || (conv.lastRead ?? -1) >= current.seen) return;
    const index = current.seen;
    try {
      await client.request("POST", `/v1/Users/${enc(identity)}/Conversations/${enc(current.sid)}`, { form: { LastReadMessageIndex: index } });
      conv.lastRead = Math.max(conv.lastRead ?? -1, index);
      conv.unread = [...current.byIndex.keys()].filter((i) => i > conv.lastRead).length;
      paint(conv);
    } catch (e) {
      if (e.status !== 404) notices.append(notice("error", `The read position could not be saved: ${describeError(e)}`));
    }
  }

  document.addEventListener("visibilitychange", markSeen);

  // ---- typing ----

  function paintTyping() {
    const conv = open && conversations.get(open.sid);
    const who = conv ? [...conv.typing] : [];
    typingLine.textContent = who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : `${who.slice(0, -1).join(", ")} and ${who.at(-1)} are typing…`;
  }

  body.addEventListener("input", () => {
    if (open) client.typing(open.sid);
    body.style.height = "auto";
    body.style.height = `${Math.min(body.scrollHeight, 160)}px`;
  });
  body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });

  // ---- choosing files: the picker and drag and drop ----

  function choose(list) {
    for (const file of list) {
      if (file.size > maxMediaBytes) {
        notices.append(notice("error", `“${file.name}” (${formatBytes(file.size)}) is larger than the ${formatBytes(maxMediaBytes)} limit for a file. It was not attached and nothing was uploaded.`));
        continue;
      }
      const total = chosen.reduce((sum, f) => sum + f.size, file.size);
      if (total > maxMediaBytes) {
        notices.append(notice("error", `“${file.name}” would bring this message's files to ${formatBytes(total)}: a message carries at most ${formatBytes(maxMediaBytes)} in all. It was not attached.`));
        continue;
      }
      if (chosen.length >= maxMediaPerMessage) {
        notices.append(notice("error", `A message carries at most ${maxMediaPerMessage} files; “${file.name}” was not attached.`));
        continue;
      }
      chosen.push(file);
    }
    paintChosen();
  }

  function paintChosen() {
    fill(chips, chosen.map((file, i) => h("li", { class: "chip" }, `${file.name} · ${formatBytes(file.size)}`,
      h("button", { type: "button", class: "icon", "aria-label": `Remove ${file.name}`, onclick: () => { chosen.splice(i, 1); paintChosen(); } }, "×"))));
  }

  files.addEventListener("change", () => {
    choose([...files.files]);
    files.value = "";
  });
  let dragDepth = 0;
  pane.addEventListener("dragenter", (e) => {
    if (!e.dataTransfer?.types.includes("Files")) return;
    dragDepth++;
    pane.classList.add("dropping");
  });
  pane.addEventListener("dragleave", (e) => {
    if (!e.dataTransfer?.types.includes("Files")) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) pane.classList.remove("dropping");
  });
  // A file dropped beside the pane would make the browser open it and leave the chat.
  const keepFiles = (e) => { if (e.dataTransfer?.types.includes("Files") && !pane.contains(e.target)) e.preventDefault(); };
  window.addEventListener("dragover", keepFiles);
  window.addEventListener("drop", keepFiles);
  pane.addEventListener("dragover", (e) => {
    if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
  });
  pane.addEventListener("drop", (e) => {
    e.preventDefault();
    dragDepth = 0;
    pane.classList.remove("dropping");
    if (open && e.dataTransfer?.files.length) choose([...e.dataTransfer.files]);
  });

  // ---- sending: a progress bar per file and a saved mark, then the message ----

  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!open) return;
    const text = body.value.trim();
    if (!text && !chosen.length) return;
    const outgoing = { sid: open.sid, body: text || undefined, files: chosen };
    body.value = "";
    body.style.height = "auto";
    chosen = [];
    paintChosen();
    send(outgoing);
  });

  async function send(outgoing) {
    const rows = outgoing.files.map((file) => {
      const bar = h("progress", { max: file.size || 1, value: 0 });
      const state = h("span", { class: "upload-state" }, "Waiting");
      const row = h("li", { class: "upload", dataset: { name: file.name } },
        h("span", { class: "upload-name" }, `${file.name} · ${formatBytes(file.size)}`), bar, state);
      return { row, bar, state };
    });
    const group = h("div", { class: "outgoing" }, rows.length ? h("ul", {}, rows.map((r) => r.row)) : null);
    if (rows.length) uploads.append(group);
    try {
      await client.sendMessage(outgoing.sid, { body: outgoing.body, files: outgoing.files }, {
        onProgress: ({ index, loaded, total, state, error }) => {
          const { row, bar, state: label } = rows[index];
          bar.max = total || 1;
          bar.value = state === "saved" ? bar.max : loaded;
          row.classList.toggle("saved", state === "saved");
          row.classList.toggle("failed", state === "failed");
          label.textContent = state === "saved" ? "Saved ✓" : state === "failed" ? describeError(error) : `${Math.floor((100 * loaded) / (total || 1))}%`;
        },
      });
      group.classList.add("sent");
      setTimeout(() => group.remove(), SENT_LINGER_MS);
    } catch (err) {
      group.classList.add("failed");
      const retry = h("button", { type: "button", class: "ghost small", onclick: () => { box.remove(); group.remove(); send(outgoing); } }, "Try again");
      const box = notice("error", `Not sent: ${describeError(err)}`, err.code ? `Error ${err.code}: ${err.message}` : null);
      box.classList.add("refusal");
      box.append(retry);
      box.querySelector("button.icon").addEventListener("click", () => group.remove());
      notices.append(box);
    }
  }

  // ---- live events ----

  // Frames that arrive while the conversation list loads wait for it, so none is dropped for a
  // conversation not listed yet.
  let early = [];
  const live = (fn) => (frame) => (early ? early.push(() => fn(frame)) : fn(frame));

  const labels = { connected: "Online", connecting: "Reconnecting…", disconnected: "Offline", denied: "Signed out: the token was refused" };
  client.on("connectionStateChanged", (state) => {
    status.textContent = labels[state] ?? state;
    status.dataset.state = state;
  });
  client.on("tokenExpired", () => notices.append(notice("error", "The chat session expired and could not be renewed. Reload to continue.")));

  client.on("conversationAdded", live(({ data }) => {
    if (conversations.has(data.sid)) return;
    list.querySelector(".empty")?.remove();
    const conv = entry({ sid: data.sid, name: nameOf(data), unread: 0, lastRead: null });
    list.prepend(conv.item);
  }));
  client.on("conversationUpdated", live(({ data }) => {
    const conv = conversations.get(data.sid);
    if (!conv) return;
    conv.name = nameOf(data);
    if (open?.sid === data.sid) title.textContent = conv.name;
    paint(conv);
  }));
  client.on("conversationRemoved", live(({ data, conversation_sid }) => {
    const sid = data?.sid ?? conversation_sid;
    const conv = conversations.get(sid);
    if (!conv) return;
    conv.item.remove();
    conversations.delete(sid);
    if (open?.sid === sid) {
      open = null;
      messages.replaceChildren();
      pane.classList.add("empty-pane");
      notices.replaceChildren(notice("info", `You are no longer in “${conv.name}”.`));
    }
  }));

  client.on("messageAdded", live(({ data: m, conversation_sid }) => {
    const conv = conversations.get(conversation_sid);
    if (!conv) return;
    if (conv.typing.has(m.author)) setTyping(conv, m.author, false);
    const known = conv.lastIndex ?? -1;
    conv.lastIndex = Math.max(known, m.index);
    conv.last = previewOf(m);
    toTop(conv);
    if (open?.sid === conversation_sid) {
      const follow = m.author === identity || pinned;
      place(m);
      if (follow) scrollToEnd();
      else jump.hidden = false;
      paintTyping();
    } else if (m.author !== identity && m.index > (conv.lastRead ?? -1) && m.index > known) {
      // Not if the list's REST load already counted it (a frame buffered while it loaded).
      conv.unread = (conv.unread ?? 0) + 1;
    }
    paint(conv);
  }));
  client.on("messageUpdated", live(({ data: m, conversation_sid }) => {
    if (open?.sid === conversation_sid && open.byIndex.has(m.index)) place(m);
  }));
  client.on("messageRemoved", live(({ data: m, conversation_sid }) => {
    for (const media of m.media ?? []) client.forgetMedia(media.sid);
    if (open?.sid !== conversation_sid) return;
    open.byIndex.get(m.index)?.remove();
    open.byIndex.delete(m.index);
    open.visible.delete(m.index);
  }));

  client.on("participantUpdated", live(({ data: p, conversation_sid }) => {
    const conv = conversations.get(conversation_sid);
    if (!conv || p.identity !== identity || p.last_read_message_index === null) return;
    // Read elsewhere (another tab or device): this one follows.
    if (p.last_read_message_index > (conv.lastRead ?? -1)) {
      conv.lastRead = p.last_read_message_index;
      conv.unread = conv.lastIndex === undefined ? 0 : Math.max(0, conv.lastIndex - conv.lastRead);
      paint(conv);
    }
  }));
  const membersChanged = ({ conversation_sid }) => { if (open?.sid === conversation_sid) loadMembers(open).catch(() => {}); };
  client.on("participantJoined", live(membersChanged));
  client.on("participantLeft", live(membersChanged));

  // Typing frames are not replayed: a `typingEnded` sent while the stream was down never
  // comes, so every indicator goes when the stream drops. (While connected, the server ends
  // each one after the service's typing timeout.)
  function setTyping(conv, who, on) {
    if (on) conv.typing.add(who);
    else conv.typing.delete(who);
    paint(conv);
    if (open?.sid === conv.sid) paintTyping();
  }
  const typing = (on) => ({ data, conversation_sid }) => {
    const conv = conversations.get(conversation_sid);
    if (conv && data?.identity && data.identity !== identity) setTyping(conv, data.identity, on);
  };
  client.on("connectionStateChanged", (state) => {
    if (state === "connected") return;
    for (const conv of conversations.values()) for (const who of [...conv.typing]) setTyping(conv, who, false);
  });
  client.on("typingStarted", typing(true));
  client.on("typingEnded", typing(false));

  /** Loads the list from REST; frames arriving meanwhile wait for it, then apply. */
  async function reload() {
    early ??= [];
    try {
      await loadConversations();
    } finally {
      const waiting = early ?? [];
      early = null;
      for (const apply of waiting) apply();
    }
  }

  // The stream's history did not reach back far enough: reload from REST.
  client.on("resync", async () => {
    const was = open?.sid;
    try {
      await reload();
    } catch (e) {
      notices.append(notice("error", `The conversations could not be reloaded: ${describeError(e)}`));
    }
    if (was && conversations.has(was)) show(was);
    else if (was) leave();
  });

  function close() {
    if (closed) return;
    closed = true;
    if (open) flushHorizon(open);
    open = null;
    client.disconnect();
    observer.disconnect();
    growth.disconnect();
    document.removeEventListener("visibilitychange", markSeen);
    window.removeEventListener("dragover", keepFiles);
    window.removeEventListener("drop", keepFiles);
  }

  // The stream first, so nothing committed while the list loads is missed (its frames wait).
  client.connect();
  try {
    await reload();
  } catch (e) {
    close();
    throw e;
  }
  const first = list.querySelector("li[data-sid]");
  if (first && matchMedia("(min-width: 760px)").matches) show(first.dataset.sid);
  return { client, close };
}
