// twilio-node's client.chat.v2 configuring Chat's webhooks against a real
// confab process: the Service's webhook fields and a channel webhook, and
// a receiver that checks every request with twilio-node's validateRequest,
// unchanged, and sees Chat's event names and parameters.
//
//   cd tests/compat/node && npm ci && node --test
//
// CONFAB_BIN names the binary (default <repo>/target/debug/confab).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import twilio from "twilio";
import { startConfab, waitFor } from "./server.js";

const accountSid = "AC" + "9".repeat(32);
const authToken = "node-chat-hooks-" + Math.random().toString(16).slice(2);

let server, receiver, client, chat;
const hits = [];

before(async () => {
  server = await startConfab({ accountSid, authToken, env: { CONFAB_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1" } });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const params = {};
      for (const [k, v] of new URLSearchParams(body)) {
        params[k] = k in params ? [].concat(params[k], v) : v;
      }
      const url = `http://127.0.0.1:${receiver.address().port}${req.url}`;
      const signature = req.headers["x-twilio-signature"] || "";
      hits.push({ url, params, valid: twilio.validateRequest(authToken, signature, url, params) });
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  client = twilio(accountSid, authToken);
  client.chat.baseUrl = server.base;
  chat = client.chat.v2;
});

after(() => {
  receiver?.close();
  server?.stop();
});

const hookUrl = (p) => `http://127.0.0.1:${receiver.address().port}${p}`;

test("Chat's webhooks, configured with twilio-node, deliver Chat's events signed", async () => {
  const svc = await chat.services.create({ friendlyName: "node chat hooks" });
  const service = chat.services(svc.sid);
  const serviceHook = hookUrl("/service?who=chat");
  const updated = await service.update({
    postWebhookUrl: serviceHook,
    webhookFilters: ["onChannelAdded", "onMessageSent"],
    webhookMethod: "POST",
    postWebhookRetryCount: 2,
  });
  assert.equal(updated.postWebhookUrl, serviceHook);
  assert.deepEqual(updated.webhookFilters, ["onChannelAdded", "onMessageSent"]);
  assert.equal(updated.postWebhookRetryCount, 2);

  const channel = await service.channels.create({ friendlyName: "hooks", uniqueName: "hooks", xTwilioWebhookEnabled: "true" });
  const scopedUrl = hookUrl("/channel");
  const hook = await service.channels(channel.sid).webhooks.create({
    type: "webhook",
    "configuration.url": scopedUrl,
    "configuration.filters": ["onMessageSent"],
    "configuration.retryCount": 1,
  });
  assert.match(hook.sid, /^WH[0-9a-f]{32}$/);
  assert.equal(hook.type, "webhook");
  assert.deepEqual(hook.configuration.filters, ["onMessageSent"]);
  assert.equal(hook.configuration.retry_count, 1);
  const listed = await service.channels(channel.sid).webhooks.list();
  assert.deepEqual(listed.map((h) => h.sid), [hook.sid]);

  const message = await service.channels(channel.sid).messages.create({
    from: "alice",
    body: "hello from node",
    xTwilioWebhookEnabled: "true",
  });
  await waitFor(() => hits.length >= 3, "three deliveries");

  for (const hit of hits) {
    assert.ok(hit.valid, `signature of ${hit.url}`);
    assert.equal(hit.params.InstanceSid, svc.sid);
    assert.equal(hit.params.ChannelSid, channel.sid);
    assert.equal(hit.params.ChatServiceSid, undefined);
  }
  const added = hits.find((h) => h.params.EventType === "onChannelAdded");
  assert.equal(added.url, serviceHook);
  assert.equal(added.params.ChannelType, "public");
  const sent = hits.filter((h) => h.params.EventType === "onMessageSent");
  assert.deepEqual(sent.map((h) => h.url).sort(), [scopedUrl, serviceHook].sort());
  for (const h of sent) {
    assert.equal(h.params.MessageSid, message.sid);
    assert.equal(h.params.From, "alice");
    assert.equal(h.params.Body, "hello from node");
  }
  assert.equal(sent.find((h) => h.url === scopedUrl).params.WebhookSid, hook.sid);

  await service.channels(channel.sid).webhooks(hook.sid).remove();
  await assert.rejects(service.channels(channel.sid).webhooks(hook.sid).fetch(), (e) => e.status === 404 && e.code === 50320);
});
