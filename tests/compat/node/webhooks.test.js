// twilio-node against a real confab process: webhooks configured with the
// helper library, and a receiver that validates every request with
// twilio-node's own validateRequest, unchanged, as a receiver written for
// Twilio does.
//
//   cd tests/compat/node && npm ci && node --test
//
// CONFAB_BIN names the binary (default <repo>/target/debug/confab).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import twilio from "twilio";
import { startConfab, waitFor } from "./server.js";

const accountSid = "AC" + "7".repeat(32);
const authToken = "node-compat-token-" + Math.random().toString(16).slice(2);

let server, base, client, receiver;
const hits = [];

before(async () => {
  server = await startConfab({
    accountSid,
    authToken,
    env: { CONFAB_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1" },
  });
  base = server.base;

  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      // The parameters as a Twilio receiver's framework gives them:
      // repeated names as arrays.
      const params = {};
      for (const [k, v] of new URLSearchParams(body)) {
        params[k] = k in params ? [].concat(params[k], v) : v;
      }
      const url = `http://127.0.0.1:${receiver.address().port}${req.url}`;
      const signature = req.headers["x-twilio-signature"] || "";
      hits.push({
        method: req.method,
        url,
        params,
        query: Object.fromEntries(new URL(url).searchParams),
        valid: twilio.validateRequest(authToken, signature, url, req.method === "GET" ? {} : params),
        token: req.headers["i-twilio-idempotency-token"],
      });
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));

  client = twilio(accountSid, authToken);
  client.conversations.baseUrl = base;
});

after(async () => {
  receiver?.close();
  server?.stop();
});

const hookUrl = (p) => `http://127.0.0.1:${receiver.address().port}${p}`;

test("service webhooks: configured with twilio-node, every request passes validateRequest", async () => {
  const v1 = client.conversations.v1;
  const { defaultChatServiceSid } = await v1.configuration().fetch();
  const url = hookUrl("/hooks/post?tenant=7&region=eu");
  const hooks = await v1.services(defaultChatServiceSid).configuration.webhooks().update({
    postWebhookUrl: url,
    filters: ["onMessageAdded", "onConversationAdded"],
    method: "POST",
  });
  assert.equal(hooks.postWebhookUrl, url);
  assert.deepEqual(hooks.filters, ["onMessageAdded", "onConversationAdded"]);

  const conversation = await v1.conversations.create({ friendlyName: "node", xTwilioWebhookEnabled: "true" });
  const message = await v1.conversations(conversation.sid).messages.create({
    author: "bot",
    body: "héllo & ünïcode ✓",
    attributes: JSON.stringify({ nested: { list: [1, 2] } }),
    xTwilioWebhookEnabled: "true",
  });
  await waitFor(() => hits.length >= 2, "two webhook requests");
  assert.ok(hits.every((h) => h.valid), JSON.stringify(hits, null, 1));
  const added = hits.find((h) => h.params.EventType === "onMessageAdded");
  assert.equal(added.params.MessageSid, message.sid);
  assert.equal(added.params.Body, "héllo & ünïcode ✓");
  assert.equal(added.params.RetryCount, "0");
  assert.ok(added.token);
});

test("conversation-scoped GET webhooks are signed over their query string", async () => {
  hits.length = 0;
  const v1 = client.conversations.v1;
  const conversation = await v1.conversations.create({});
  const hook = await v1.conversations(conversation.sid).webhooks.create({
    target: "webhook",
    "configuration.url": hookUrl("/scoped?x=1"),
    "configuration.method": "get",
    "configuration.filters": ["onMessageAdded"],
  });
  assert.match(hook.sid, /^WH[0-9a-f]{32}$/);
  await v1.conversations(conversation.sid).messages.create({ author: "a", body: "via GET", xTwilioWebhookEnabled: "true" });
  // (the service's webhook from the test above gets its own request)
  const hit = await waitFor(() => hits.find((h) => h.url.includes("/scoped")), "the scoped webhook request");
  assert.equal(hit.method, "GET");
  assert.ok(hit.valid, JSON.stringify(hit));
  assert.equal(hit.query.Body, "via GET");
  assert.equal(hit.query.WebhookSid, hook.sid);
});
