// twilio-node's client.chat.v2 (and client.ipMessaging.v2) against a real
// confab process: the media flow of Programmable Chat's documents (upload
// to the Media Content Service with plain HTTP, a message with MediaSid,
// message.media, the media's temporary URL), paging, aliases and errors.
//
//   cd tests/compat/node && npm ci && node --test
//
// CONFAB_BIN names the binary (default <repo>/target/debug/confab).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import twilio from "twilio";
import { startConfab } from "./server.js";

const accountSid = "AC" + "8".repeat(32);
const authToken = "node-chat-token-" + Math.random().toString(16).slice(2);
const basic = "Basic " + Buffer.from(`${accountSid}:${authToken}`).toString("base64");

let server, base, client, chat, serviceSid;

before(async () => {
  server = await startConfab({ accountSid, authToken });
  base = server.base;
  client = twilio(accountSid, authToken);
  // Both hosts Chat apps use reach the same server.
  client.chat.baseUrl = base;
  client.ipMessaging.baseUrl = base;
  chat = client.chat.v2;
  serviceSid = (await chat.services.create({ friendlyName: "node chat" })).sid;
});

after(() => server?.stop());

test("the media flow of Chat's documents, with twilio-node", async () => {
  const service = chat.services(serviceSid);
  const updated = await service.update({ "media.compatibilityMessage": "[photo]", "limits.channelMembers": 50 });
  assert.equal(updated.media.compatibility_message, "[photo]");
  assert.equal(updated.limits.channel_members, 50);

  const channel = await service.channels.create({ friendlyName: "photos", uniqueName: "photos" });
  assert.equal(channel.type, "public");
  await service.channels("photos").members.create({ identity: "alice" });

  const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]);
  const upload = await fetch(`${base}/v1/Services/${serviceSid}/Media?Filename=cat.png`, {
    method: "POST",
    headers: { Authorization: basic, "Content-Type": "image/png" },
    body: bytes,
  });
  assert.equal(upload.status, 201);
  const media = await upload.json();

  const message = await service.channels("photos").messages.create({ from: "alice", mediaSid: media.sid });
  assert.equal(message.type, "media");
  assert.equal(message.from, "alice");
  assert.equal(message.body, "[photo]");
  assert.deepEqual(message.media, { sid: media.sid, size: bytes.length, content_type: "image/png", filename: "cat.png" });
  assert.ok(message.dateCreated instanceof Date);

  const fetched = await service.channels(channel.sid).messages(message.sid).fetch();
  assert.equal(fetched.media.sid, media.sid);
  const described = await (
    await fetch(`${base}/v1/Services/${serviceSid}/Media/${media.sid}`, { headers: { Authorization: basic } })
  ).json();
  const content = await fetch(described.links.content_direct_temporary);
  assert.equal(content.status, 200);
  assert.deepEqual(Buffer.from(await content.arrayBuffer()), bytes);

  // The same message through Conversations: one media in a list.
  client.conversations.baseUrl = base;
  const same = await client.conversations.v1.services(serviceSid).conversations(channel.sid).messages(message.sid).fetch();
  assert.equal(same.media.length, 1);
  assert.equal(same.media[0].sid, media.sid);
});

test("paging, aliases and Chat's error codes, with twilio-node", async () => {
  const service = client.ipMessaging.v2.services(serviceSid);
  const channel = await service.channels.create({ uniqueName: "paged", type: "private" });
  for (const i of [1, 2, 3, 4, 5]) {
    await service.channels("paged").messages.create({ from: "bob", body: `m${i}` });
  }
  const bodies = [];
  await service.channels(channel.sid).messages.each({ pageSize: 2, order: "desc" }, (m) => bodies.push(m.body));
  assert.deepEqual(bodies, ["m5", "m4", "m3", "m2", "m1"]);

  const edited = await service.channels("paged").messages(
    (await service.channels("paged").messages.list({ limit: 1 }))[0].sid,
  ).update({ body: "m1!", lastUpdatedBy: "carol" });
  assert.equal(edited.wasEdited, true);
  assert.equal(edited.lastUpdatedBy, "carol");

  const role = await service.roles.create({ friendlyName: "poster", type: "channel", permission: ["sendMessage", "leaveChannel"] });
  assert.deepEqual(role.permissions, ["sendMessage", "leaveChannel"]);

  await assert.rejects(service.channels("no-such-channel").fetch(), (e) => e.status === 404 && e.code === 50300);
  await assert.rejects(service.channels.create({ uniqueName: "paged" }), (e) => e.status === 409 && e.code === 50307);
  await assert.rejects(
    service.roles.create({ friendlyName: "x", type: "channel", permission: ["flyToMoon"] }),
    (e) => e.status === 400 && e.code === 50104,
  );
});
