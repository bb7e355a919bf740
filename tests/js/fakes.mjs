// Fakes of what static/confab.js takes from the browser: fetch, WebSocket,
// XMLHttpRequest, timers and the clock. No npm packages: node's own
// Response, Blob and File stand in for the browser's.

export const BASE = "http://confab.test";
export const SERVICE = "IS" + "0".repeat(32);

/** An unsigned access token with Twilio's claims (the client never verifies). */
export function makeToken({ identity = "alice", service = SERVICE, exp, tag = "" } = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const payload = { iss: "SK1", sub: "AC1", grants: { identity, chat: { service_sid: service } } };
  if (exp !== undefined) payload.exp = exp;
  return `${b64({ alg: "HS256", typ: "JWT", cty: "twilio-fpa;v=1" })}.${b64(payload)}.sig${tag}`;
}

/** A clock and timers the test moves by hand. */
export function fakeTimers(start = 1_700_000_000_000) {
  let now = start;
  const pending = [];
  return {
    pending,
    now: () => now,
    setTimeout: (fn, ms = 0) => {
      const timer = { fn, ms, at: now + ms };
      pending.push(timer);
      return timer;
    },
    clearTimeout: (timer) => {
      const i = pending.indexOf(timer);
      if (i >= 0) pending.splice(i, 1);
    },
    /** Moves the clock, running the timers that come due. */
    advance(ms) {
      now += ms;
      for (const timer of pending.filter((t) => t.at <= now)) {
        pending.splice(pending.indexOf(timer), 1);
        timer.fn();
      }
    },
    /** Runs the next pending timer, whatever its delay, and says what the delay was. */
    next() {
      const timer = pending.shift();
      if (!timer) throw new Error("no timer pending");
      now = Math.max(now, timer.at);
      timer.fn();
      return timer.ms;
    },
  };
}

/** A WebSocket class whose instances the test drives from the server's side. */
export function fakeWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = new URL(url);
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code) { this.closedWith = code; }
    // the server's side
    open() { this.onopen?.({}); }
    frame(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
    serverClose(code) { this.onclose?.({ code }); }
  }
  return { FakeWebSocket, sockets };
}

export function json(status, body, headers = {}) {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function twilioError(status, code, message, headers) {
  return json(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers);
}

/** fetch answering with `handler(url, init)`; every call is recorded. */
export function fakeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const call = { url: new URL(url), init };
    calls.push(call);
    return handler(call.url, init, calls.length);
  };
  return { fetch, calls };
}

/** XMLHttpRequest whose `send` hands the request to `respond(xhr)` on the next turn. */
export function fakeXHR(respond) {
  const requests = [];
  class FakeXHR {
    constructor() {
      this.upload = {};
      this.headers = {};
      requests.push(this);
    }
    open(method, url) { this.method = method; this.url = new URL(url); }
    setRequestHeader(name, value) { this.headers[name] = value; }
    getResponseHeader(name) { return this.responseHeaders?.[name] ?? null; }
    send(body) {
      this.body = body;
      setImmediate(() => respond(this));
    }
    // the server's side
    progress(loaded) { this.upload.onprogress?.({ loaded, total: this.body.size, lengthComputable: true }); }
    respond(status, body, headers = {}) {
      this.status = status;
      this.responseText = JSON.stringify(body);
      this.responseHeaders = headers;
      this.onload();
    }
  }
  return { FakeXHR, requests };
}

/** Lets pending promises (and setImmediate callbacks) run. */
export async function settle(rounds = 5) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
