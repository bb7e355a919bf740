// The event stream of static/confab.js: reconnect with `since`, no frame
// delivered twice, `resync`, token refresh on the stream's close codes, typing.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Client, ConfabError } from "../../static/confab.js";
import { BASE, fakeFetch, fakeTimers, fakeWebSocket, json, makeToken, settle, twilioError } from "./fakes.mjs";

function setup({ fetch = async () => json(200, { conversations: [], meta: { key: "conversations" } }), ...options } = {}) {
  const timers = fakeTimers();
  const { FakeWebSocket, sockets } = fakeWebSocket();
  const http = fakeFetch(fetch);
  const client = new Client(options.token ?? makeToken(), {
    baseUrl: BASE,
    fetch: http.fetch,
    WebSocket: FakeWebSocket,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    now: timers.now,
    random: () => 0.5,
    ...options,
  });
  const received = [];
  for (const type of ["conversationAdded", "participantJoined", "messageAdded", "messageUpdated", "typingStarted"]) {
    client.on(type, (frame) => received.push(`${frame.position ?? "-"} ${frame.type}`));
  }
  const states = [];
  client.on("connectionStateChanged", (state) => states.push(state));
  return { client, timers, sockets, http, received, states };
}

const frame = (position, type, extra = {}) => ({
  position, type, conversation_sid: "CH1", data: { sid: `IM${position}` }, update_reasons: [], ...extra,
});

test("the stream connects with ?token= and no since the first time", async () => {
  const { client, sockets, states } = setup({ token: makeToken({ tag: "1" }) });
  client.connect();
  await settle();
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url.href.split("?")[0], "ws://confab.test/v1/Events");
  assert.equal(sockets[0].url.searchParams.get("token"), makeToken({ tag: "1" }));
  assert.equal(sockets[0].url.searchParams.has("since"), false);
  sockets[0].open();
  assert.deepEqual(states, ["connecting", "connected"]);
});

test("a reconnect resumes just below the last position, and nothing is delivered twice", async () => {
  const { client, sockets, timers, received, http } = setup();
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].frame(frame(10, "messageAdded"));
  // A join brings two frames at one position: both are delivered.
  sockets[0].frame(frame(11, "conversationAdded"));
  sockets[0].frame(frame(11, "participantJoined"));
  sockets[0].serverClose(1006);
  await settle();
  assert.equal(client.connectionState, "connecting");
  assert.equal(http.calls.length, 0, "a stream that had opened is just reconnected, no probe");
  timers.next();
  await settle();
  assert.equal(sockets.length, 2);
  // Just below 11: a frame of position 11 the drop might have cut off comes again.
  assert.equal(sockets[1].url.searchParams.get("since"), "10");
  sockets[1].open();
  // Whatever comes again at or below what was delivered is dropped.
  sockets[1].frame(frame(10, "messageAdded"));
  sockets[1].frame(frame(11, "conversationAdded"));
  sockets[1].frame(frame(11, "participantJoined"));
  sockets[1].frame(frame(12, "messageAdded"));
  sockets[1].frame(frame(12, "messageAdded"));
  sockets[1].frame(frame(13, "messageUpdated"));
  assert.deepEqual(received, [
    "10 messageAdded", "11 conversationAdded", "11 participantJoined", "12 messageAdded", "13 messageUpdated",
  ]);
  assert.equal(client.position, 13);
});

test("a join split by a dropped connection still delivers both frames", async () => {
  const { client, sockets, timers, received } = setup();
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].frame(frame(20, "conversationAdded"));
  sockets[0].serverClose(1006); // before participantJoined (also position 20) arrived
  await settle();
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.get("since"), "19");
  sockets[1].open();
  sockets[1].frame(frame(20, "conversationAdded"));
  sockets[1].frame(frame(20, "participantJoined"));
  assert.deepEqual(received, ["20 conversationAdded", "20 participantJoined"]);
});

test("the position an app kept is where the first connection resumes", async () => {
  const { client, sockets } = setup({ since: 4200 });
  client.connect();
  await settle();
  assert.equal(sockets[0].url.searchParams.get("since"), "4200");
});

test("a stream closed as too slow (4008) reconnects with since", async () => {
  const { client, sockets, timers } = setup();
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].frame(frame(7, "messageAdded"));
  sockets[0].serverClose(4008);
  await settle();
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.get("since"), "6");
});

test("reconnect delays back off, capped, with jitter, and reset once connected", async () => {
  const { client, sockets, timers } = setup({ reconnectDelay: { min: 1000, max: 8000 } });
  client.connect();
  await settle();
  const delays = [];
  for (let i = 0; i < 6; i++) {
    sockets.at(-1).serverClose(1006); // never opened: a REST probe says the token is fine (200)
    await settle();
    delays.push(timers.next());
    await settle();
  }
  // random() = 0.5: each delay is 3/4 of 1 s, 2 s, 4 s, 8 s, 8 s, …
  assert.deepEqual(delays, [750, 1500, 3000, 6000, 6000, 6000]);
  sockets.at(-1).open();
  sockets.at(-1).serverClose(1006);
  await settle();
  assert.equal(timers.next(), 750);
});

test("a resync frame emits resync, and the frames after it carry on", async () => {
  const { client, sockets, timers, received } = setup({ since: 5 });
  const resyncs = [];
  client.on("resync", (f) => resyncs.push(f));
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].frame({ type: "resync" });
  assert.equal(resyncs.length, 1);
  sockets[0].frame(frame(900, "messageAdded"));
  assert.deepEqual(received, ["900 messageAdded"]);
  sockets[0].serverClose(1001);
  await settle();
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.get("since"), "899");
});

test("an expired token (4001) is refreshed through tokenProvider before reconnecting", async () => {
  let calls = 0;
  const { client, sockets, timers } = setup({
    token: makeToken({ tag: "old" }),
    tokenProvider: async () => { calls++; return makeToken({ tag: "new" }); },
  });
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].frame(frame(3, "messageAdded"));
  sockets[0].serverClose(4001);
  await settle();
  assert.equal(calls, 1);
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.get("token"), makeToken({ tag: "new" }));
  assert.equal(sockets[1].url.searchParams.get("since"), "2");
});

test("a revoked credential (4003) is refreshed too", async () => {
  const { client, sockets, timers } = setup({ tokenProvider: () => makeToken({ tag: "new" }) });
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].serverClose(4003);
  await settle();
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.get("token"), makeToken({ tag: "new" }));
});

test("without a tokenProvider an expired token leaves the stream denied until updateToken", async () => {
  const { client, sockets, timers, states } = setup();
  const expired = [];
  client.on("tokenExpired", (e) => expired.push(e));
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].serverClose(4001);
  await settle();
  assert.equal(client.connectionState, "denied");
  assert.equal(expired.length, 1);
  assert.ok(expired[0] instanceof ConfabError);
  assert.equal(expired[0].code, 20101);
  assert.equal(timers.pending.length, 0, "no reconnect with a token known to be refused");
  client.updateToken(makeToken({ tag: "later" }));
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.get("token"), makeToken({ tag: "later" }));
  assert.deepEqual(states, ["connecting", "connected", "connecting", "denied", "connecting"]);
});

test("an upgrade refused for the token (seen as 401 through REST) refreshes it", async () => {
  const { client, sockets, timers, http } = setup({
    token: makeToken({ tag: "revoked" }),
    tokenProvider: () => makeToken({ tag: "new" }),
    fetch: async (url, init) =>
      init.headers.Authorization.endsWith("revoked")
        ? twilioError(401, 20101, "Invalid Access Token")
        : json(200, { conversations: [], meta: { key: "conversations" } }),
  });
  client.connect();
  await settle();
  sockets[0].serverClose(1006); // what a browser reports for a 401 upgrade
  await settle();
  assert.equal(http.calls.length, 1);
  assert.equal(http.calls[0].url.pathname, "/v1/Conversations");
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.get("token"), makeToken({ tag: "new" }));
});

test("a token about to expire is refreshed before the stream opens", async () => {
  const timers = fakeTimers();
  const { client, sockets } = setup({
    token: makeToken({ exp: Math.floor(timers.now() / 1000) + 2 }),
    now: timers.now,
    tokenProvider: () => makeToken({ tag: "fresh" }),
  });
  client.connect();
  await settle();
  assert.equal(sockets[0].url.searchParams.get("token"), makeToken({ tag: "fresh" }));
});

test("typing sends a typing frame at most once a second; typingStarted reaches listeners", async () => {
  const { client, sockets, timers, received } = setup();
  assert.equal(client.typing("CH1"), false, "not connected yet");
  client.connect();
  await settle();
  sockets[0].open();
  assert.equal(client.typing("CH1"), true);
  assert.equal(client.typing("CH1"), false);
  assert.equal(client.typing("CH2"), true);
  timers.advance(1000);
  assert.equal(client.typing("CH1"), true);
  assert.deepEqual(sockets[0].sent, [
    { type: "typing", conversation_sid: "CH1" },
    { type: "typing", conversation_sid: "CH2" },
    { type: "typing", conversation_sid: "CH1" },
  ]);
  sockets[0].frame({ type: "typingStarted", conversation_sid: "CH1", data: { identity: "bob", participant_sid: "MB1" } });
  assert.deepEqual(received, ["- typingStarted"]);
});

test("an error frame is emitted as a ConfabError with Confab's code and message", async () => {
  const { client, sockets } = setup();
  const errors = [];
  client.on("error", (e) => errors.push(e));
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].frame({
    type: "error", code: 20404, message: "The requested resource was not found",
    more_info: "https://www.twilio.com/docs/errors/20404", status: 404,
  });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof ConfabError);
  assert.equal(errors[0].code, 20404);
  assert.equal(errors[0].status, 404);
  assert.equal(errors[0].message, "The requested resource was not found");
  assert.equal(errors[0].moreInfo, "https://www.twilio.com/docs/errors/20404");
});

test("disconnect closes the socket and stops reconnecting", async () => {
  const { client, sockets, timers } = setup();
  client.connect();
  await settle();
  sockets[0].open();
  client.disconnect();
  assert.equal(sockets[0].closedWith, 1000);
  sockets[0].serverClose(1000);
  await settle();
  assert.equal(timers.pending.length, 0);
  assert.equal(client.connectionState, "disconnected");
});

test("a listener that throws does not stop the others", async () => {
  const { client, sockets, received } = setup();
  const reported = [];
  const original = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    client.on("messageAdded", () => { throw new Error("app bug"); });
    client.connect();
    await settle();
    sockets[0].open();
    sockets[0].frame(frame(1, "messageAdded"));
    sockets[0].frame(frame(2, "messageAdded"));
  } finally {
    globalThis.reportError = original;
  }
  assert.deepEqual(received, ["1 messageAdded", "2 messageAdded"]);
  assert.equal(reported.length, 2);
});

test("going offline drops the socket at once; back online it resumes with since, without waiting", async () => {
  const network = new EventTarget();
  const { client, sockets, timers, received, states } = setup({ network });
  client.connect();
  await settle();
  sockets[0].open();
  sockets[0].frame(frame(20, "messageAdded"));
  network.dispatchEvent(new Event("offline"));
  await settle();
  assert.equal(sockets[0].closedWith, undefined, "closed from this side");
  assert.equal(client.connectionState, "connecting");
  assert.equal(sockets.length, 1);
  assert.equal(timers.pending.length, 1, "a reconnect is scheduled with backoff");
  network.dispatchEvent(new Event("online"));
  assert.equal(timers.pending.length, 1);
  assert.equal(timers.pending[0].ms, 0, "back online: at once");
  timers.next();
  await settle();
  assert.equal(sockets.length, 2);
  assert.equal(sockets[1].url.searchParams.get("since"), "19");
  sockets[1].open();
  sockets[1].frame(frame(20, "messageAdded"));
  sockets[1].frame(frame(21, "messageAdded"));
  assert.deepEqual(received, ["20 messageAdded", "21 messageAdded"]);
  assert.deepEqual(states, ["connecting", "connected", "connecting", "connected"]);
  client.disconnect();
  network.dispatchEvent(new Event("online"));
  assert.equal(timers.pending.length, 0, "a disconnected client no longer listens");
});

test("a reconnect before any event has no position to resume from: resync tells the app to reload", async () => {
  const { client, sockets, timers } = setup();
  const resyncs = [];
  client.on("resync", (frame) => resyncs.push(frame.type));
  client.connect();
  await settle();
  sockets[0].open();
  assert.deepEqual(resyncs, [], "the first connection starts live: the app loads through REST anyway");
  sockets[0].serverClose(1006);
  await settle();
  timers.next();
  await settle();
  assert.equal(sockets[1].url.searchParams.has("since"), false);
  sockets[1].open();
  assert.deepEqual(resyncs, ["resync"]);
  // Once a position is known, reconnects resume from it with no resync.
  sockets[1].frame(frame(5, "messageAdded"));
  sockets[1].serverClose(1006);
  await settle();
  timers.next();
  await settle();
  sockets[2].open();
  assert.equal(sockets[2].url.searchParams.get("since"), "4");
  assert.deepEqual(resyncs, ["resync"]);
});
