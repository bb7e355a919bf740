/**
 * confab.js: a small browser client for Confab (Twilio Conversations v1 REST,
 * the Media Content Service and the `GET /v1/Events` WebSocket stream).
 *
 * An ES module with no dependencies and no build step:
 *
 *   import { Client } from "/confab.js";
 *   const client = new Client(jwt, { tokenProvider: () => fetch("/token").then((r) => r.text()) });
 *   client.on("messageAdded", (frame) => show(frame.data));
 *   client.connect();
 *   await client.sendMessage(conversationSid, { body: "Look", files: input.files });
 *
 * `fetch`, `WebSocket`, `XMLHttpRequest`, the timers and the clock are taken
 * from the options when given (tests pass fakes), else from the page.
 */

/** Confab's default `CONFAB_MAX_MEDIA_BYTES` (150 MiB). */
export const DEFAULT_MAX_MEDIA_BYTES = 150 * 1024 * 1024;
/** Close codes of `GET /v1/Events`. */
export const CLOSE_TOKEN_EXPIRED = 4001;
export const CLOSE_CREDENTIAL_REVOKED = 4003;
export const CLOSE_TOO_SLOW = 4008;
/** The server passes on one `typing` per conversation a second: sending more is wasted. */
const TYPING_EVERY_MS = 1000;

/** An error as Confab reports it: Twilio's `code`, `message`, `more_info`, `status`. */
export class ConfabError extends Error {
  /**
   * @param {string} message
   * @param {{code?: number|null, status?: number|null, moreInfo?: string|null, retryAfter?: number|null}} [fields]
   *   `code` is null for failures that never reached Confab (network); `retryAfter`
   *   (seconds) comes with 429 and 503, so an app can wait rather than hammer.
   */
  constructor(message, { code = null, status = null, moreInfo = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ConfabError";
    this.code = code;
    this.status = status;
    this.moreInfo = moreInfo;
    this.retryAfter = retryAfter;
  }
}

/** The error of a failed response, from Twilio's error body when there is one. */
function errorFrom(status, body, header) {
  const retryAfter = Number(header?.("Retry-After")) || null;
  if (body && typeof body.code === "number") {
    return new ConfabError(body.message ?? `HTTP ${status}`, {
      code: body.code, status: body.status ?? status, moreInfo: body.more_info ?? null, retryAfter,
    });
  }
  return new ConfabError(`HTTP ${status}`, { status, retryAfter });
}

function networkError(cause) {
  const error = new ConfabError("Confab could not be reached", { status: 0 });
  error.cause = cause;
  return error;
}

/**
 * The payload of an access token, unverified: the server verifies it; the
 * client only needs to know when it expires and which service it is for.
 */
export function tokenPayload(token) {
  try {
    const part = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(part + "=".repeat((4 - (part.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}

/** When a temporary media URL stops working (ms since the epoch), from its `Expires` (seconds); 0 if unknown. */
export function urlExpiry(url) {
  try {
    return Number(new URL(url).searchParams.get("Expires")) * 1000 || 0;
  } catch {
    return 0;
  }
}

/**
 * Form parameters in Twilio's names: `friendlyName` becomes `FriendlyName`
 * (dotted names such as `Timers.Inactive` pass as given), arrays repeat the
 * parameter (`MediaSid`), objects become JSON (`Attributes`).
 */
function toForm(params) {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    const name = key[0].toUpperCase() + key.slice(1);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === undefined || v === null) continue;
      form.append(name, typeof v === "object" ? JSON.stringify(v) : String(v));
    }
  }
  return form;
}

const enc = encodeURIComponent;

export class Client {
  /**
   * @param {string} token an access token (`grants.chat.service_sid` names the service).
   * @param {object} [options]
   * @param {string} [options.baseUrl] Confab's origin; the page's by default.
   * @param {() => (string|Promise<string>)} [options.tokenProvider] returns a fresh token: called when
   *   the stream closes for an expired or revoked token, on a REST 401, and before using a token about to expire.
   * @param {number} [options.since] the last position the app processed (kept across page loads).
   * @param {string} [options.serviceSid] the service for media, if not the token's.
   * @param {number} [options.maxMediaBytes] the server's `CONFAB_MAX_MEDIA_BYTES`.
   * @param {{min?: number, max?: number}} [options.reconnectDelay] backoff bounds in ms.
   * @param {number} [options.urlMarginMs] a temporary URL this close to its expiry is renewed first.
   * @param {number} [options.mediaCacheEntries] downloads kept in memory.
   * @param {EventTarget} [options.network] where `online` and `offline` are heard; the page by default.
   */
  constructor(token, options = {}) {
    const g = globalThis;
    // Browsers refuse `fetch` and the timers called on another object: call them on the global.
    const bound = (f) => (f ? (...args) => f.apply(g, args) : undefined);
    this.token = token;
    this.baseUrl = (options.baseUrl ?? g.location?.origin ?? "").replace(/\/+$/, "");
    this.tokenProvider = options.tokenProvider ?? null;
    this.position = options.since ?? null;
    this.maxMediaBytes = options.maxMediaBytes ?? DEFAULT_MAX_MEDIA_BYTES;
    this.reconnectDelay = { min: 1000, max: 30000, ...options.reconnectDelay };
    this.urlMarginMs = options.urlMarginMs ?? 30000;
    this.mediaCacheEntries = options.mediaCacheEntries ?? 50;
    this.connectionState = "disconnected";
    this._serviceSid = options.serviceSid ?? null;
    this._fetch = bound(options.fetch ?? g.fetch);
    this._WebSocket = options.WebSocket ?? g.WebSocket;
    this._XMLHttpRequest = options.XMLHttpRequest ?? g.XMLHttpRequest;
    this._setTimeout = bound(options.setTimeout ?? g.setTimeout);
    this._clearTimeout = bound(options.clearTimeout ?? g.clearTimeout);
    this._now = options.now ?? (() => Date.now());
    this._network = options.network ?? (typeof g.addEventListener === "function" ? g : null);
    this._onOffline = () => this._dropOffline();
    this._onOnline = () => this.retryNow();
    this._random = options.random ?? Math.random;
    this._listeners = new Map();
    this._urls = new Map(); // media SID → {promise, pending, url, expires, media}
    this._downloads = new Map(); // media SID → Promise<Blob>, oldest first
    this._typed = new Map(); // conversation SID → when `typing` was last sent
    this._seen = new Set(); // frame types delivered at `position`
    this._generation = 0; // bumped by disconnect(): stale reconnects see it and stop
    this._active = false;
    this._ws = null;
    this._timer = null;
    this._attempt = 0;
    this._wasConnected = false;
  }

  /** The service of uploads and media URLs. */
  get serviceSid() {
    return this._serviceSid ?? tokenPayload(this.token).grants?.chat?.service_sid ?? null;
  }

  // ---- events ----

  /** Listens to a frame type (`messageAdded`, `typingStarted`, …), `connectionStateChanged`, `resync`, `error`, `tokenExpired`. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }

  _emit(type, value) {
    for (const fn of [...(this._listeners.get(type) ?? [])]) {
      try {
        fn(value);
      } catch (e) {
        // One broken listener must not stop the others or the stream.
        (globalThis.reportError ?? ((err) => queueMicrotask(() => { throw err; })))(e);
      }
    }
  }

  // ---- tokens ----

  /** Replaces the token (an app that refreshes on its own calls this); a stream denied for its token resumes. */
  updateToken(token) {
    this.token = token;
    if (this._active && this.connectionState === "denied") this._schedule(0);
  }

  /** Asks the tokenProvider for a new token; concurrent callers share one call. */
  refreshToken() {
    if (!this.tokenProvider) {
      return Promise.reject(new ConfabError("Invalid Access Token", { code: 20101, status: 401 }));
    }
    this._refreshing ??= Promise.resolve()
      .then(() => this.tokenProvider())
      .then((token) => { this.updateToken(token); return token; })
      .finally(() => { this._refreshing = null; });
    return this._refreshing;
  }

  _expiresWithin(ms) {
    const exp = tokenPayload(this.token).exp;
    return typeof exp === "number" && exp * 1000 - this._now() <= ms;
  }

  /** Runs `attempt` with a fresh token; after a 401 it refreshes once and tries again. */
  async _withToken(attempt) {
    if (this.tokenProvider && this._expiresWithin(10000)) await this.refreshToken();
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof ConfabError) || e.status !== 401 || !this.tokenProvider) throw e;
      await this.refreshToken();
      return attempt();
    }
  }

  // ---- REST ----

  _url(path, query) {
    // `next_page_url` is absolute under CONFAB_PUBLIC_URL: keep its path, send it where this client talks.
    if (/^https?:/.test(path)) {
      const u = new URL(path);
      path = u.pathname + u.search;
    }
    const q = query ? toForm(query).toString() : "";
    return this.baseUrl + path + (q ? (path.includes("?") ? "&" : "?") + q : "");
  }

  /** One REST call: JSON back, or a ConfabError. `form` is sent form-encoded (see toForm). */
  request(method, path, { form, query } = {}) {
    return this._withToken(async () => {
      // No cookies: the token is the credential, and a 401 never brings up the browser's login prompt.
      const init = { method, headers: { Authorization: `Bearer ${this.token}` }, credentials: "omit" };
      if (form) {
        init.body = toForm(form).toString();
        init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      }
      const res = await this._fetch(this._url(path, query), init).catch((e) => { throw networkError(e); });
      const body = res.status === 204 ? null : await res.json().catch(() => null);
      if (!res.ok) throw errorFrom(res.status, body, (name) => res.headers?.get(name));
      return body;
    });
  }

  /** Every item of a list, page after page (`for await (const c of client.list(...))`). */
  async *list(path, query) {
    let url = this._url(path, query);
    while (url) {
      const page = await this.request("GET", url);
      yield* page[page.meta.key] ?? [];
      url = page.meta.next_page_url ? this._url(page.meta.next_page_url) : null;
    }
  }

  listConversations(query) { return this.list("/v1/Conversations", query); }
  getConversation(sid) { return this.request("GET", `/v1/Conversations/${enc(sid)}`); }
  createConversation(params = {}) { return this.request("POST", "/v1/Conversations", { form: params }); }
  updateConversation(sid, params) { return this.request("POST", `/v1/Conversations/${enc(sid)}`, { form: params }); }
  deleteConversation(sid) { return this.request("DELETE", `/v1/Conversations/${enc(sid)}`); }
  listParticipants(ch, query) { return this.list(`/v1/Conversations/${enc(ch)}/Participants`, query); }
  addParticipant(ch, params) { return this.request("POST", `/v1/Conversations/${enc(ch)}/Participants`, { form: params }); }
  updateParticipant(ch, sid, params) {
    return this.request("POST", `/v1/Conversations/${enc(ch)}/Participants/${enc(sid)}`, { form: params });
  }
  removeParticipant(ch, sid) { return this.request("DELETE", `/v1/Conversations/${enc(ch)}/Participants/${enc(sid)}`); }
  listMessages(ch, query) { return this.list(`/v1/Conversations/${enc(ch)}/Messages`, query); }
  getMessage(ch, sid) { return this.request("GET", `/v1/Conversations/${enc(ch)}/Messages/${enc(sid)}`); }
  updateMessage(ch, sid, params) {
    return this.request("POST", `/v1/Conversations/${enc(ch)}/Messages/${enc(sid)}`, { form: params });
  }
  deleteMessage(ch, sid) { return this.request("DELETE", `/v1/Conversations/${enc(ch)}/Messages/${enc(sid)}`); }

  /**
   * Uploads each file to the Media Content Service, one after the other (the
   * server caps a user's concurrent uploads), then sends one message with
   * every MediaSid in the files' order. `onProgress` hears, per file,
   * `{file, index, loaded, total, state}` with state `uploading`, then `saved`
   * (the media exists; `media` holds it) or `failed` (`error`). Sizes are
   * checked before any upload starts, so nothing is half sent.
   */
  async sendMessage(conversationSid, { body, files = [], attributes } = {}, { onProgress } = {}) {
    files = [...files];
    let sum = 0;
    for (const file of files) {
      sum += file.size;
      if (file.size > this.maxMediaBytes) {
        throw new ConfabError(`Media is limited to ${this.maxMediaBytes} bytes`, { code: 20413, status: 413 });
      }
    }
    if (sum > this.maxMediaBytes) {
      throw new ConfabError(`A message's media is limited to ${this.maxMediaBytes} bytes in all`, { code: 50512, status: 400 });
    }
    const mediaSids = [];
    for (const [index, file] of files.entries()) {
      let loaded = 0;
      const report = (state, extra) => onProgress?.({ file, index, loaded, total: file.size, state, ...extra });
      report("uploading");
      try {
        const media = await this.uploadMedia(file, { onProgress: (n) => { loaded = n; report("uploading"); } });
        loaded = file.size;
        report("saved", { media });
        mediaSids.push(media.sid);
      } catch (error) {
        report("failed", { error });
        throw error;
      }
    }
    return this.request("POST", `/v1/Conversations/${enc(conversationSid)}/Messages`, {
      form: { Body: body, Attributes: attributes, MediaSid: mediaSids },
    });
  }

  /** Uploads one file (raw body, its type as Content-Type); resolves to the Media resource. */
  uploadMedia(file, { serviceSid = this.serviceSid, onProgress } = {}) {
    if (!serviceSid) {
      return Promise.reject(new ConfabError("No service SID: use a token with a chat grant or pass serviceSid", { code: 20001 }));
    }
    if (file.size > this.maxMediaBytes) {
      return Promise.reject(new ConfabError(`Media is limited to ${this.maxMediaBytes} bytes`, { code: 20413, status: 413 }));
    }
    // XMLHttpRequest, not fetch: fetch reports no upload progress.
    return this._withToken(() => new Promise((resolve, reject) => {
      const xhr = new this._XMLHttpRequest();
      const query = file.name ? `?Filename=${enc(file.name)}` : "";
      xhr.open("POST", `${this.baseUrl}/v1/Services/${enc(serviceSid)}/Media${query}`);
      xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* not JSON: errorFrom says HTTP <status> */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(errorFrom(xhr.status, body, (name) => xhr.getResponseHeader(name)));
      };
      xhr.onerror = xhr.ontimeout = () => reject(networkError());
      xhr.onabort = () => reject(new ConfabError("The upload was aborted", { status: 0 }));
      xhr.send(file);
    }));
  }

  // ---- media downloads ----

  /**
   * A temporary download URL (no credentials needed: fit for `<img src>`),
   * reused while it has more than `urlMarginMs` left, renewed otherwise;
   * one renewal per SID at a time.
   */
  async getTemporaryUrl(mediaSid, { serviceSid = this.serviceSid, force = false } = {}) {
    return (await this._mediaEntry(mediaSid, serviceSid, force)).url;
  }

  /** The Media resource (metadata) as last fetched with its URL. */
  async getMedia(mediaSid, { serviceSid = this.serviceSid } = {}) {
    return (await this._mediaEntry(mediaSid, serviceSid, false)).media;
  }

  _mediaEntry(sid, serviceSid, force) {
    const cached = this._urls.get(sid);
    if (cached && !force && (cached.pending || cached.expires - this._now() > this.urlMarginMs)) return cached.promise;
    const entry = { pending: true };
    entry.promise = this.request("GET", `/v1/Services/${enc(serviceSid)}/Media/${enc(sid)}`).then((media) => {
      const url = media?.links?.content_direct_temporary;
      if (!url) throw new ConfabError("The media has no content yet (its upload has not finished)", { code: 20404, status: 404 });
      return Object.assign(entry, { pending: false, url, expires: urlExpiry(url), media });
    });
    entry.promise.catch(() => { if (this._urls.get(sid) === entry) this._urls.delete(sid); });
    this._urls.set(sid, entry);
    return entry.promise;
  }

  /** A handle on one media: `media(sid).getTemporaryUrl()`, `.download()`. */
  media(sid, { serviceSid = this.serviceSid } = {}) {
    return {
      sid,
      getTemporaryUrl: () => this.getTemporaryUrl(sid, { serviceSid }),
      getMetadata: () => this.getMedia(sid, { serviceSid }),
      download: () => this.download(sid, { serviceSid }),
    };
  }

  /**
   * The media's content as a Blob, cached per SID: concurrent callers share
   * one request, later ones the result. A failure is not cached.
   */
  download(mediaSid, { serviceSid = this.serviceSid } = {}) {
    let blob = this._downloads.get(mediaSid);
    if (!blob) {
      blob = this._fetchContent(mediaSid, serviceSid);
      blob.catch(() => { if (this._downloads.get(mediaSid) === blob) this._downloads.delete(mediaSid); });
    }
    this._downloads.delete(mediaSid); // re-inserted as the newest: the cache drops the least recently used
    this._downloads.set(mediaSid, blob);
    while (this._downloads.size > this.mediaCacheEntries) this._downloads.delete(this._downloads.keys().next().value);
    return blob;
  }

  /** Drops a media's cached URL and content (after the message is deleted, say). */
  forgetMedia(mediaSid) {
    this._urls.delete(mediaSid);
    this._downloads.delete(mediaSid);
  }

  async _fetchContent(sid, serviceSid) {
    for (let renewed = false; ; renewed = true) {
      const url = await this.getTemporaryUrl(sid, { serviceSid, force: renewed });
      const res = await this._fetch(url).catch((e) => { throw networkError(e); });
      if (res.ok) return res.blob();
      // 403 is an expired URL (a clock off from the server's, a slow queue): renew it once.
      if (res.status === 403 && !renewed) continue;
      throw errorFrom(res.status, await res.json().catch(() => null), (name) => res.headers?.get(name));
    }
  }

  // ---- the event stream ----

  /** Opens the stream, resuming after `position` when known, and keeps it open until disconnect(). */
  connect() {
    if (this._active) return;
    this._active = true;
    this._network?.addEventListener("offline", this._onOffline);
    this._network?.addEventListener("online", this._onOnline);
    this._open(this._generation);
  }

  disconnect() {
    this._network?.removeEventListener("offline", this._onOffline);
    this._network?.removeEventListener("online", this._onOnline);
    this._active = false;
    this._generation++;
    this._clearTimeout(this._timer);
    this._timer = null;
    const ws = this._ws;
    this._ws = null;
    ws?.close(1000);
    this._setState("disconnected");
  }

  /** Reconnects at once if the stream is waiting to (the page came back online, say). */
  retryNow() {
    if (this._active && !this._ws && this._timer !== null) {
      this._attempt = 0;
      this._schedule(0);
    }
  }

  /**
   * The device went offline: a socket open now is dead, though the browser
   * may not say so until TCP gives up minutes later. Dropped at once, so the
   * stream resumes with `since` as soon as the network is back (`online`).
   */
  _dropOffline() {
    const ws = this._ws;
    if (!ws || !this._active) return;
    this._ws = null;
    ws.onclose = null;
    ws.close();
    this._closed(this._generation, 1006, true, this.token);
  }

  /** Tells the conversation's other participants this user is typing (at most once a second). */
  typing(conversationSid) {
    const now = this._now();
    if (this.connectionState !== "connected" || now - (this._typed.get(conversationSid) ?? -Infinity) < TYPING_EVERY_MS) return false;
    this._typed.set(conversationSid, now);
    this._ws.send(JSON.stringify({ type: "typing", conversation_sid: conversationSid }));
    return true;
  }

  _setState(state) {
    if (state === this.connectionState) return;
    this.connectionState = state;
    this._emit("connectionStateChanged", state);
  }

  async _open(generation) {
    this._timer = null;
    this._setState("connecting");
    // The server checks the token only at the upgrade; a browser cannot see that refusal, so refresh first.
    if (this.tokenProvider && this._expiresWithin(5000)) {
      try { await this.refreshToken(); } catch (e) { return this._deny(generation, e); }
    }
    if (generation !== this._generation) return;
    const query = new URLSearchParams({ token: this.token });
    // One event can reach the stream as two frames at one position (a join: conversationAdded and
    // participantJoined). Resuming just below the last position seen replays a sibling the drop
    // cut off; the frames already delivered there are recognised by type and dropped.
    if (this.position !== null) query.set("since", String(this._seen.size ? this.position - 1 : this.position));
    // Connected before but no event came yet: nothing says where to resume, so whatever
    // happened while the stream was down is not replayed. The app must reload through REST.
    const blind = this.position === null && this._wasConnected;
    const token = this.token;
    const ws = new this._WebSocket(`${this.baseUrl.replace(/^http/, "ws")}/v1/Events?${query}`);
    this._ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this._attempt = 0;
      this._wasConnected = true;
      this._setState("connected");
      if (blind) this._emit("resync", { type: "resync", reason: "no position to resume from" });
    };
    ws.onmessage = (m) => this._frame(m.data);
    ws.onerror = () => {}; // a close event follows, with the code that matters
    ws.onclose = (e) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._closed(generation, e.code, opened, token);
    };
  }

  async _closed(generation, code, opened, token) {
    this._setState("connecting");
    let tokenRefused = code === CLOSE_TOKEN_EXPIRED || code === CLOSE_CREDENTIAL_REVOKED;
    if (!opened && !tokenRefused) {
      // A refused upgrade looks like a dropped network: ask REST whether the token still holds.
      const status = await this._fetch(this._url("/v1/Conversations", { PageSize: 1 }), {
        headers: { Authorization: `Bearer ${token}` },
      }).then((r) => r.status, () => 0);
      tokenRefused = status === 401;
    }
    if (generation !== this._generation) return;
    if (tokenRefused && this.token === token) {
      try { await this.refreshToken(); } catch (e) { return this._deny(generation, e); }
      return this._schedule(0);
    }
    if (tokenRefused) return this._schedule(0); // refreshed meanwhile (a REST 401, updateToken)
    const base = Math.min(this.reconnectDelay.max, this.reconnectDelay.min * 2 ** this._attempt++);
    this._schedule(base / 2 + (this._random() * base) / 2); // jitter: clients dropped together do not return together
  }

  _schedule(ms) {
    if (!this._active) return;
    this._clearTimeout(this._timer);
    const generation = this._generation;
    this._timer = this._setTimeout(() => this._open(generation), ms);
  }

  _deny(generation, error) {
    if (generation !== this._generation) return;
    this._setState("denied");
    this._emit("tokenExpired", error);
  }

  _frame(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    if (frame.type === "error") return this._emit("error", errorFrom(frame.status, frame));
    // `resync`, `typingStarted` and `typingEnded` carry no position: they are always delivered.
    if (typeof frame.position === "number") {
      // Frames a join or a removal brings share one position: a repeat is the same position *and* type.
      if (this.position !== null && frame.position < this.position) return;
      if (frame.position === this.position) {
        if (this._seen.has(frame.type)) return;
      } else {
        this.position = frame.position;
        this._seen.clear();
      }
      this._seen.add(frame.type);
    }
    this._emit(frame.type, frame);
  }
}
