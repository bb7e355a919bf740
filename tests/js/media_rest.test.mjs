// REST, uploads and media of static/confab.js: errors with Confab's code,
// token refresh on 401, paging, upload progress and MediaSid order,
// temporary URL renewal, one download per media SID.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Client, ConfabError, tokenPayload, urlExpiry } from "../../static/confab.js";
import { BASE, SERVICE, fakeFetch, fakeTimers, fakeXHR, json, makeToken, settle, twilioError } from "./fakes.mjs";

const ME = (n) => "ME" + String(n).padStart(32, "0");

function setup(handler, options = {}) {
  const timers = fakeTimers();
  const http = fakeFetch(handler);
  const xhr = fakeXHR(options.respond ?? (() => {}));
  const client = new Client(options.token ?? makeToken(), {
    baseUrl: BASE,
    fetch: http.fetch,
    XMLHttpRequest: xhr.FakeXHR,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    now: timers.now,
    ...options,
  });
  return { client, http, timers, xhr };
}

/** The Media resource as GET /v1/Services/{IS}/Media/{ME} renders it, its URL valid `ttl` s from `nowMs`. */
function mediaResource(sid, nowMs, ttl = 300, n = 1) {
  const expires = Math.floor(nowMs / 1000) + ttl;
  return {
    sid, service_sid: SERVICE, size: 3, content_type: "image/png", filename: "cat.png",
    links: {
      content: `/v1/Services/${SERVICE}/Media/${sid}/Content`,
      content_direct_temporary: `${BASE}/v1/Services/${SERVICE}/Media/${sid}/Content?Expires=${expires}&Signature=s${n}`,
    },
  };
}

test("helpers read the token's grant and a temporary URL's expiry", () => {
  assert.equal(tokenPayload(makeToken()).grants.chat.service_sid, SERVICE);
  assert.deepEqual(tokenPayload("not a jwt"), {});
  assert.equal(urlExpiry(`${BASE}/x/Content?Expires=1700000300&Signature=abc`), 1_700_000_300_000);
  assert.equal(urlExpiry("/relative"), 0);
});

test("a REST error carries Confab's code, message, status, more_info and Retry-After", async () => {
  const { client } = setup(async () =>
    twilioError(429, 20429, "You have 4 uploads in progress", { "Retry-After": "5" }));
  const error = await client.getConversation("CH1").catch((e) => e);
  assert.ok(error instanceof ConfabError);
  assert.equal(error.code, 20429);
  assert.equal(error.status, 429);
  assert.equal(error.message, "You have 4 uploads in progress");
  assert.equal(error.moreInfo, "https://www.twilio.com/docs/errors/20429");
  assert.equal(error.retryAfter, 5);
});

test("a failure that never reached Confab is a ConfabError with status 0 and no code", async () => {
  const { client } = setup(async () => { throw new TypeError("Failed to fetch"); });
  const error = await client.getConversation("CH1").catch((e) => e);
  assert.ok(error instanceof ConfabError);
  assert.equal(error.status, 0);
  assert.equal(error.code, null);
});

test("requests send the token as Bearer and forms in Twilio's parameter names", async () => {
  const { client, http } = setup(async () => json(201, { sid: "CH1" }));
  await client.createConversation({ friendlyName: "Support", attributes: { topic: "billing" }, "Timers.Inactive": "PT5M" });
  const { url, init } = http.calls[0];
  assert.equal(url.href, `${BASE}/v1/Conversations`);
  assert.equal(init.method, "POST");
  assert.equal(init.headers.Authorization, `Bearer ${makeToken()}`);
  assert.equal(init.headers["Content-Type"], "application/x-www-form-urlencoded");
  const form = new URLSearchParams(init.body);
  assert.equal(form.get("FriendlyName"), "Support");
  assert.equal(form.get("Attributes"), '{"topic":"billing"}');
  assert.equal(form.get("Timers.Inactive"), "PT5M");
});

test("a REST 401 refreshes the token once and retries; concurrent 401s share one refresh", async () => {
  let refreshes = 0;
  const { client, http } = setup(
    async (url, init) =>
      init.headers.Authorization === `Bearer ${makeToken({ tag: "new" })}`
        ? json(200, { sid: url.pathname.split("/").pop() })
        : twilioError(401, 20101, "Invalid Access Token"),
    {
      token: makeToken({ tag: "old" }),
      tokenProvider: async () => { refreshes++; await settle(1); return makeToken({ tag: "new" }); },
    },
  );
  const [a, b] = await Promise.all([client.getConversation("CH1"), client.getConversation("CH2")]);
  assert.equal(a.sid, "CH1");
  assert.equal(b.sid, "CH2");
  assert.equal(refreshes, 1);
  assert.equal(http.calls.length, 4);
  assert.equal(client.token, makeToken({ tag: "new" }));
});

test("a 401 that persists after the refresh is thrown, not retried forever", async () => {
  let refreshes = 0;
  const { client, http } = setup(async () => twilioError(401, 20101, "Invalid Access Token"), {
    tokenProvider: () => { refreshes++; return makeToken({ tag: String(refreshes) }); },
  });
  const error = await client.getConversation("CH1").catch((e) => e);
  assert.equal(error.code, 20101);
  assert.equal(refreshes, 1);
  assert.equal(http.calls.length, 2);
});

test("lists follow meta.next_page_url, sent to the client's base URL", async () => {
  const { client, http } = setup(async (url) =>
    url.searchParams.get("Page") === "1"
      ? json(200, { messages: [{ index: 2 }], meta: { key: "messages", next_page_url: null } })
      : json(200, {
          messages: [{ index: 0 }, { index: 1 }],
          meta: { key: "messages", next_page_url: "https://public.example.com/v1/Conversations/CH1/Messages?PageSize=2&Page=1&PageToken=PT1" },
        }));
  const indexes = [];
  for await (const m of client.listMessages("CH1", { pageSize: 2 })) indexes.push(m.index);
  assert.deepEqual(indexes, [0, 1, 2]);
  assert.equal(http.calls[0].url.href, `${BASE}/v1/Conversations/CH1/Messages?PageSize=2`);
  assert.equal(http.calls[1].url.href, `${BASE}/v1/Conversations/CH1/Messages?PageSize=2&Page=1&PageToken=PT1`);
});

test("sendMessage uploads each file with progress, 'saved' once the media exists, then sends every MediaSid in order", async () => {
  let uploaded = 0;
  const { client, http, xhr } = setup(async () => json(201, { sid: "IM1", media: [] }), {
    respond: (req) => {
      req.progress(0);
      req.progress(Math.floor(req.body.size / 2));
      req.progress(req.body.size);
      req.respond(201, { sid: ME(++uploaded), size: req.body.size });
    },
  });
  const files = [
    new File(["0123456789"], "cat.png", { type: "image/png" }),
    new File(["abcd"], "notes.txt", { type: "" }),
  ];
  const events = [];
  const message = await client.sendMessage("CH1", { body: "Look", files, attributes: { a: 1 } }, {
    onProgress: (p) => events.push(`${p.index} ${p.file.name} ${p.state} ${p.loaded}/${p.total}${p.media ? " " + p.media.sid : ""}`),
  });
  assert.equal(message.sid, "IM1");
  assert.deepEqual(events, [
    "0 cat.png uploading 0/10", "0 cat.png uploading 0/10", "0 cat.png uploading 5/10", "0 cat.png uploading 10/10",
    `0 cat.png saved 10/10 ${ME(1)}`,
    "1 notes.txt uploading 0/4", "1 notes.txt uploading 0/4", "1 notes.txt uploading 2/4", "1 notes.txt uploading 4/4",
    `1 notes.txt saved 4/4 ${ME(2)}`,
  ]);
  // The uploads: raw body, the file's type, the token, the service of the token's grant.
  assert.equal(xhr.requests.length, 2);
  const [first, second] = xhr.requests;
  assert.equal(first.method, "POST");
  assert.equal(first.url.href, `${BASE}/v1/Services/${SERVICE}/Media?Filename=cat.png`);
  assert.equal(first.headers["Content-Type"], "image/png");
  assert.equal(first.headers.Authorization, `Bearer ${makeToken()}`);
  assert.equal(first.body, files[0]);
  assert.equal(second.headers["Content-Type"], "application/octet-stream");
  // Then one message with both, in order.
  assert.equal(http.calls.length, 1);
  assert.equal(http.calls[0].url.pathname, "/v1/Conversations/CH1/Messages");
  const form = new URLSearchParams(http.calls[0].init.body);
  assert.deepEqual(form.getAll("MediaSid"), [ME(1), ME(2)]);
  assert.equal(form.get("Body"), "Look");
  assert.equal(form.get("Attributes"), '{"a":1}');
  assert.equal(form.has("Author"), false);
});

test("a file over maxMediaBytes is refused before any upload starts", async () => {
  const { client, http, xhr } = setup(async () => json(201, {}), { maxMediaBytes: 8 });
  const small = new File(["1234"], "a.txt");
  const big = new File(["123456789"], "b.txt");
  const error = await client.sendMessage("CH1", { files: [small, big] }).catch((e) => e);
  assert.ok(error instanceof ConfabError);
  assert.equal(error.code, 20413);
  assert.equal(xhr.requests.length, 0);
  assert.equal(http.calls.length, 0);
  const together = await client.sendMessage("CH1", { files: [small, new File(["12345"], "c.txt")] }).catch((e) => e);
  assert.equal(together.code, 50512, "files within the limit one by one, over it together");
  assert.equal(xhr.requests.length, 0);
});

test("the default limit is Confab's 150 MiB", () => {
  assert.equal(new Client(makeToken(), { baseUrl: BASE }).maxMediaBytes, 157286400);
});

test("a refused upload reports 'failed' with Confab's error and sends no message", async () => {
  const { client, http } = setup(async () => json(201, {}), {
    respond: (req) => req.respond(429, { code: 20429, message: "Too many uploads", more_info: "x", status: 429 }, { "Retry-After": "5" }),
  });
  const states = [];
  const error = await client
    .sendMessage("CH1", { files: [new File(["abc"], "a.png", { type: "image/png" })] }, { onProgress: (p) => states.push(p.state) })
    .catch((e) => e);
  assert.equal(error.code, 20429);
  assert.equal(error.retryAfter, 5);
  assert.deepEqual(states, ["uploading", "failed"]);
  assert.equal(http.calls.length, 0);
});

test("an upload answered 401 is retried once with a refreshed token", async () => {
  const { client, xhr } = setup(async () => json(201, { sid: "IM1" }), {
    token: makeToken({ tag: "old" }),
    tokenProvider: () => makeToken({ tag: "new" }),
    respond: (req) =>
      req.headers.Authorization.endsWith("old")
        ? req.respond(401, { code: 20101, message: "Invalid Access Token", status: 401 })
        : req.respond(201, { sid: ME(1) }),
  });
  await client.sendMessage("CH1", { files: [new File(["abc"], "a.png")] });
  assert.equal(xhr.requests.length, 2);
  assert.equal(xhr.requests[1].headers.Authorization, `Bearer ${makeToken({ tag: "new" })}`);
});

test("a fresh temporary URL is reused; one near or past its expiry is renewed", async () => {
  let fetched = 0;
  const { client, http, timers } = setup(async () => json(200, mediaResource(ME(1), timers.now(), 300, ++fetched)));
  const first = await client.getTemporaryUrl(ME(1));
  assert.match(first, /Signature=s1$/);
  assert.equal(http.calls[0].url.pathname, `/v1/Services/${SERVICE}/Media/${ME(1)}`);
  timers.advance(200_000);
  assert.equal(await client.getTemporaryUrl(ME(1)), first, "100 s left: reused");
  assert.equal(http.calls.length, 1);
  timers.advance(75_000); // 25 s left, inside the 30 s margin
  const second = await client.getTemporaryUrl(ME(1));
  assert.match(second, /Signature=s2$/);
  assert.equal(http.calls.length, 2);
  timers.advance(600_000); // long expired
  assert.match(await client.media(ME(1)).getTemporaryUrl(), /Signature=s3$/);
  assert.equal(http.calls.length, 3);
});

test("concurrent requests for one temporary URL make one request", async () => {
  const { client, http, timers } = setup(async () => json(200, mediaResource(ME(1), timers.now())));
  const urls = await Promise.all([client.getTemporaryUrl(ME(1)), client.getTemporaryUrl(ME(1)), client.getMedia(ME(1))]);
  assert.equal(http.calls.length, 1);
  assert.equal(urls[0], urls[1]);
  assert.equal(urls[2].filename, "cat.png");
});

test("a media still uploading (no temporary URL) is an error, and is not cached", async () => {
  let calls = 0;
  const { client, timers } = setup(async () => {
    const media = mediaResource(ME(1), timers.now());
    if (++calls === 1) media.links.content_direct_temporary = null;
    return json(200, media);
  });
  const error = await client.getTemporaryUrl(ME(1)).catch((e) => e);
  assert.ok(error instanceof ConfabError);
  assert.match(await client.getTemporaryUrl(ME(1)), /Signature=/);
});

test("two concurrent downloads of one media SID make one request and share the Blob; later calls hit the cache", async () => {
  const { client, http, timers } = setup(async (url) =>
    url.pathname.endsWith("/Content")
      ? new Response("PNG", { status: 200, headers: { "Content-Type": "image/png" } })
      : json(200, mediaResource(ME(1), timers.now())));
  const [a, b] = await Promise.all([client.download(ME(1)), client.media(ME(1)).download()]);
  assert.equal(a, b);
  assert.equal(await a.text(), "PNG");
  const content = http.calls.filter((c) => c.url.pathname.endsWith("/Content"));
  assert.equal(content.length, 1);
  assert.equal(content[0].url.searchParams.has("Signature"), true);
  assert.equal(content[0].init.headers, undefined, "the temporary URL needs no credentials");
  assert.equal(http.calls.length, 2);
  assert.equal(await client.download(ME(1)), a);
  assert.equal(http.calls.length, 2);
});

test("a download whose URL was refused as expired renews it once and retries", async () => {
  let signed = 0;
  const { client, http, timers } = setup(async (url) => {
    if (!url.pathname.endsWith("/Content")) return json(200, mediaResource(ME(1), timers.now(), 300, ++signed));
    return url.searchParams.get("Signature") === "s1"
      ? twilioError(403, 20403, "This temporary URL has expired; fetch the media again for a new one")
      : new Response("PNG", { status: 200 });
  });
  const blob = await client.download(ME(1));
  assert.equal(await blob.text(), "PNG");
  assert.deepEqual(http.calls.map((c) => c.url.searchParams.get("Signature")), [null, "s1", null, "s2"]);
});

test("a failed download is not cached: the next call tries again", async () => {
  let attempts = 0;
  const { client, timers } = setup(async (url) => {
    if (!url.pathname.endsWith("/Content")) return json(200, mediaResource(ME(1), timers.now()));
    return ++attempts === 1 ? twilioError(404, 20404, "The requested resource was not found") : new Response("PNG");
  });
  const error = await client.download(ME(1)).catch((e) => e);
  assert.equal(error.code, 20404);
  await settle();
  assert.equal(await (await client.download(ME(1))).text(), "PNG");
});

test("the download cache keeps the most recently used entries", async () => {
  const { client, http, timers } = setup(async (url) =>
    url.pathname.endsWith("/Content") ? new Response("x") : json(200, mediaResource(url.pathname.split("/").pop(), timers.now())),
    { mediaCacheEntries: 2 });
  await client.download(ME(1));
  await client.download(ME(2));
  await client.download(ME(1)); // now the newest
  await client.download(ME(3)); // pushes out ME(2)
  const contents = () => http.calls.filter((c) => c.url.pathname.endsWith("/Content")).length;
  assert.equal(contents(), 3);
  await client.download(ME(1));
  assert.equal(contents(), 3);
  await client.download(ME(2));
  assert.equal(contents(), 4);
});
