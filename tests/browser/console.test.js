// The console and confab.js in Debian's chromium against a real confab:
// two people chat with a photo and a video, see each other live, hit a
// permission refusal, an admin changes a role in the editor, and a client
// cut off the network catches up with nothing missing.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { makeFixtures, screenshots, startConfab, waitFor } from "./confab.js";

const ACCOUNT = "AC" + "b".repeat(32);
const TOKEN = "browser-test-auth-token";
const MAX_MEDIA = 8 * 1024 * 1024; // above the 5 MiB clip, below the over-size file

let confab;
let browser;
let fixtures;
let service;
const shot = screenshots();
const problems = []; // page errors and console errors (a CSP violation is one), from every page

before(async () => {
  fixtures = makeFixtures();
  confab = await startConfab({ accountSid: ACCOUNT, authToken: TOKEN, env: { CONFAB_MAX_MEDIA_BYTES: String(MAX_MEDIA) } });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
  });
  service = (await confab.get("/v1/Services")).services[0].sid;
});

after(async () => {
  await browser?.close();
  await confab?.stop();
  fixtures?.cleanup();
});

/** A person in a browser context of their own (separate storage), signed in to the console. */
async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`${name}: ${e.message}`));
  page.on("console", (m) => {
    // The refusals this test provokes are 403s the page shows in words; anything else counts.
    if (m.type() === "error" && !/status of 403/.test(m.text())) problems.push(`${name}: ${m.text()} ${m.location().url}`);
  });
  await page.goto(confab.base + "/");
  await page.fill("#signin input[name=account]", ACCOUNT);
  await page.fill("#signin input[name=token]", TOKEN);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("header.topbar nav a[data-nav=conversations]");
  return { context, page, name };
}

async function chatAs(who, identity) {
  await who.page.click("nav a[data-nav=chat]");
  await who.page.fill("#chat-as input[name=identity]", identity);
  await who.page.click("#chat-as button.primary");
  await who.page.waitForSelector(`.chat[data-identity="${identity}"] .connection[data-state=connected]`);
}

async function openConversation(who, sid) {
  await who.page.click(`.conversation-list li[data-sid="${sid}"] button`);
  await who.page.waitForSelector(`.conversation-list li.active[data-sid="${sid}"]`);
}

const NOTES = { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("Agenda: colours, motion, sound.\n".repeat(40)) };

const messageCount = (who) => who.page.locator(".messages > li.message").count();

test("two people chat with a photo and a video, live, in a real browser", async (t) => {
  // The backend's part, through the REST API: a conversation with alice, bob and carol, who may only write text.
  const conv = await confab.post(`/v1/Services/${service}/Conversations`, { FriendlyName: "Design review" });
  const random = await confab.post(`/v1/Services/${service}/Conversations`, { FriendlyName: "Random" });
  const textOnly = await confab.post(`/v1/Services/${service}/Roles`, {
    FriendlyName: "text only", Type: "conversation", Permission: ["sendMessage", "leaveConversation"],
  });
  for (const identity of ["alice", "bob"]) {
    await confab.post(`/v1/Services/${service}/Conversations/${random.sid}/Participants`, { Identity: identity });
    await confab.post(`/v1/Services/${service}/Conversations/${conv.sid}/Participants`, { Identity: identity });
  }
  await confab.post(`/v1/Services/${service}/Conversations/${conv.sid}/Participants`, { Identity: "carol", RoleSid: textOnly.sid });

  const alice = await person("alice");
  const bob = await person("bob");
  await chatAs(alice, "alice");
  await chatAs(bob, "bob");
  await openConversation(alice, conv.sid);
  await openConversation(bob, conv.sid);
  await shot(alice.page, "alice-chat-open");

  await t.test("typing shows on the other side", async () => {
    await bob.page.type(".composer textarea", "On my way", { delay: 30 });
    await alice.page.waitForSelector(".typing:has-text('bob is typing')");
    await shot(alice.page, "alice-sees-bob-typing");
    await bob.page.press(".composer textarea", "Enter");
    await alice.page.waitForSelector(".message[data-author=bob] .body:has-text('On my way')");
    await alice.page.waitForFunction(() => !document.querySelector(".typing").textContent);
  });

  await t.test("a photo and a 5 MiB video upload with progress to 100% and the saved mark", async () => {
    assert.ok(fixtures.mp4.buffer.length > 5 * 1024 * 1024, `the clip is ${fixtures.mp4.buffer.length} bytes`);
    // Every progress value the bars take, to see them move and finish.
    await alice.page.evaluate(() => {
      window.progressSeen = [];
      new MutationObserver(() => {
        for (const bar of document.querySelectorAll(".upload progress")) window.progressSeen.push([bar.closest(".upload").dataset.name, bar.value, bar.max]);
      }).observe(document.querySelector(".uploads"), { subtree: true, childList: true, attributes: true, characterData: true });
    });
    // Uploads over loopback finish in one go; at 20 MB/s the bars have time to move.
    const cdp = await alice.context.newCDPSession(alice.page);
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 20e6 });
    await alice.page.setInputFiles("#files", [fixtures.png, fixtures.mp4, NOTES]);
    await alice.page.waitForSelector(".chosen .chip:has-text('clip.mp4')");
    await alice.page.fill(".composer textarea", "Photos from the review");
    await alice.page.click("#send");
    await alice.page.waitForSelector(".upload[data-name='clip.mp4'] .upload-state:has-text('%')");
    await shot(alice.page, "alice-uploading");
    await alice.page.waitForSelector(".upload.saved[data-name='photo.png']");
    await alice.page.waitForSelector(".upload.saved[data-name='clip.mp4']", { timeout: 60000 });
    const bars = await alice.page.$$eval(".upload", (rows) => rows.map((r) => ({
      name: r.dataset.name, value: r.querySelector("progress").value, max: r.querySelector("progress").max, state: r.querySelector(".upload-state").textContent,
    })));
    for (const bar of bars) {
      assert.equal(bar.value, bar.max, `${bar.name} reached 100%`);
      assert.match(bar.state, /Saved/);
    }
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    await shot(alice.page, "alice-uploads-saved");
    const seen = await alice.page.evaluate(() => window.progressSeen);
    const clip = seen.filter(([name]) => name === "clip.mp4").map(([, value]) => value);
    assert.ok(clip.some((v) => v > 0 && v < fixtures.mp4.buffer.length), "the video's bar moved before it finished");
    await alice.page.waitForSelector(".message[data-author=alice] .attachment.video video");
  });

  await t.test("bob sees both live: the image renders, the video loads and seeks", async () => {
    const message = bob.page.locator(".message[data-author=alice]", { hasText: "Photos from the review" });
    await message.waitFor();
    await bob.page.waitForFunction(() => {
      const img = document.querySelector(".message[data-author=alice] .attachment.image img");
      return img && img.complete && img.naturalWidth > 0;
    });
    const width = await message.locator("img").evaluate((img) => img.naturalWidth);
    assert.equal(width, 640);
    const src = await message.locator("img").getAttribute("src");
    assert.match(src, /\/Content\?.*Signature=|Expires=/, "media comes from a temporary URL");
    const video = message.locator("video");
    await video.evaluate((v) => (v.readyState >= 1 ? null : new Promise((ok, fail) => {
      v.addEventListener("loadedmetadata", ok, { once: true });
      v.addEventListener("error", () => fail(new Error("the video failed to load")), { once: true });
    })));
    const duration = await video.evaluate((v) => v.duration);
    assert.ok(Math.abs(duration - 12) < 0.5, `duration ${duration}`);
    const at = await video.evaluate((v) => new Promise((ok, fail) => {
      v.addEventListener("seeked", () => ok(v.currentTime), { once: true });
      v.addEventListener("error", () => fail(new Error("seeking failed")), { once: true });
      v.currentTime = v.duration / 2;
    }));
    assert.ok(Math.abs(at - 6) < 0.5, `seeked to ${at}`);
    await message.scrollIntoViewIfNeeded();
    await shot(bob.page, "bob-sees-photo-and-video");

    // Other files are links with their name and size; following one downloads from a fresh temporary URL.
    const link = message.locator("a.attachment.file");
    assert.match(await link.textContent(), /notes\.txt.*text\/plain · 1\.3 KB/);
    const [download] = await Promise.all([bob.page.waitForEvent("download"), link.click()]);
    assert.match(download.url(), /\/Content\?.*Signature=/);
    assert.equal(download.suggestedFilename(), "notes.txt");
    assert.equal(readFileSync(await download.path(), "utf8"), NOTES.buffer.toString());
  });

  await t.test("edits and deletions appear live", async () => {
    const mine = alice.page.locator(".message.mine", { hasText: "Photos from the review" });
    await mine.hover();
    await mine.locator("button", { hasText: "Edit" }).click();
    await alice.page.fill(".edit textarea", "Photos and a clip from the review");
    await alice.page.click(".edit button.primary");
    await bob.page.waitForSelector(".message[data-author=alice] .body:has-text('Photos and a clip from the review')");
    assert.equal(await bob.page.locator(".message[data-author=alice] .edited").count(), 1, "marked as edited");

    await alice.page.fill(".composer textarea", "A typo");
    await alice.page.press(".composer textarea", "Enter");
    const typo = bob.page.locator(".message[data-author=alice]", { hasText: "A typo" });
    await typo.waitFor();
    const own = alice.page.locator(".message.mine", { hasText: "A typo" });
    await own.hover();
    alice.page.once("dialog", (d) => d.accept());
    await own.locator("button", { hasText: "Delete" }).click();
    await typo.waitFor({ state: "detached" });
  });

  await t.test("older messages load as the reader scrolls up", async () => {
    const history = await confab.post(`/v1/Services/${service}/Conversations`, { FriendlyName: "History" });
    await confab.post(`/v1/Services/${service}/Conversations/${history.sid}/Participants`, { Identity: "bob" });
    for (let i = 0; i < 75; i++) {
      await confab.post(`/v1/Services/${service}/Conversations/${history.sid}/Messages`, { Author: "archive", Body: `Old message ${i}` });
    }
    await bob.page.waitForSelector(`.conversation-list li[data-sid="${history.sid}"]`);
    await openConversation(bob, history.sid);
    await bob.page.waitForSelector(".message .body:has-text('Old message 74')");
    const first = await messageCount(bob);
    assert.ok(first < 75, `one page at first (${first})`);
    await waitFor(async () => {
      await bob.page.evaluate(() => { document.querySelector(".chat-scroll").scrollTop = 0; });
      return (await messageCount(bob)) === 75;
    }, "every older page to load");
    const shown = await bob.page.$$eval(".messages > li.message", (all) => all.map((m) => Number(m.dataset.index)));
    assert.deepEqual(shown, [...Array(75).keys()], "all of them, once, in order");
    await bob.page.waitForSelector(".older:has-text('The beginning of the conversation')");
    await openConversation(bob, conv.sid);
  });

  await t.test("unread counts, and the read horizon advances as messages are seen", async () => {
    await alice.page.click(`.conversation-list li[data-sid="${random.sid}"] button`);
    await alice.page.fill(".composer textarea", "Lunch?");
    await alice.page.press(".composer textarea", "Enter");
    const badge = bob.page.locator(`.conversation-list li[data-sid="${random.sid}"] .unread`);
    await waitFor(async () => (await badge.isVisible()) && (await badge.textContent()) === "1", "bob's unread count");
    await shot(bob.page, "bob-has-unread");
    await openConversation(bob, random.sid);
    await bob.page.waitForSelector(".message[data-author=alice] .body:has-text('Lunch?')");
    await waitFor(async () => !(await badge.isVisible()), "the unread badge to clear");
    const bobs = (await confab.get(`/v1/Services/${service}/Conversations/${random.sid}/Participants`)).participants.find((p) => p.identity === "bob");
    await waitFor(async () => {
      const p = (await confab.get(`/v1/Services/${service}/Conversations/${random.sid}/Participants/${bobs.sid}`));
      return p.last_read_message_index === 0;
    }, "bob's read horizon to reach the message");
    await openConversation(bob, conv.sid);
    await openConversation(alice, conv.sid);
  });

  await t.test("a user whose role lacks sendMediaMessage sees why; a file over the limit is refused before it starts", async () => {
    const carol = await person("carol");
    await chatAs(carol, "carol");
    await openConversation(carol, conv.sid);
    await carol.page.setInputFiles("#files", [fixtures.png]);
    await carol.page.fill(".composer textarea", "Can I post this?");
    await carol.page.click("#send");
    const refusal = carol.page.locator(".notice.refusal");
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /not allowed to send photos, videos or files/);
    await shot(carol.page, "carol-refused");
    const last = (await confab.get(`/v1/Services/${service}/Conversations/${conv.sid}/Messages?Order=desc&PageSize=1`)).messages[0];
    assert.notEqual(last.author, "carol", "nothing was sent");

    const uploads = [];
    carol.page.on("request", (r) => { if (r.method() === "POST" && /\/Media(\?|$)/.test(r.url())) uploads.push(r.url()); });
    await carol.page.setInputFiles("#files", [{ name: "huge.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(MAX_MEDIA + 1) }]);
    const tooBig = carol.page.locator(".chat-notices .notice.error", { hasText: "huge.bin" });
    await tooBig.waitFor();
    assert.match(await tooBig.textContent(), /larger than the 8 MB limit/);
    assert.equal(await carol.page.locator(".chosen .chip").count(), 0, "the file was not attached");
    assert.deepEqual(uploads, [], "no upload started");
    await shot(carol.page, "carol-over-the-limit");
    await carol.context.close();
  });

  await t.test("an admin unticks sendMediaMessage in the role editor and the next attempt is refused", async () => {
    const admin = await person("admin");
    await admin.page.click("nav a[data-nav=roles]");
    await admin.page.click("tr.clickable:has-text('channel user')");
    const box = admin.page.locator(".role-editor input[value=sendMediaMessage]");
    assert.equal(await box.isChecked(), true);
    // Every permission a conversation role may hold has its box, and only those.
    const boxes = await admin.page.$$eval(".role-editor input[type=checkbox]", (all) => all.map((b) => b.value));
    assert.ok(boxes.includes("leaveConversation") && !boxes.includes("createConversation"), boxes.join(","));
    await box.uncheck();
    await admin.page.click("#save-role");
    await admin.page.waitForSelector(".role-editor .notice.ok");
    await shot(admin.page, "admin-role-editor");
    const roles = (await confab.get(`/v1/Services/${service}/Roles`)).roles;
    const role = roles.find((r) => r.friendly_name === "channel user");
    assert.ok(!role.permissions.includes("sendMediaMessage") && role.permissions.includes("sendMessage"), role.permissions.join(","));

    await alice.page.setInputFiles("#files", [fixtures.png]);
    await alice.page.click("#send");
    const refusal = alice.page.locator(".notice.refusal");
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /not allowed to send photos, videos or files/);
    await shot(alice.page, "alice-refused-after-role-change");
    await admin.context.close();
  });

  await t.test("the admin views: services, conversations with participants and messages, users", async () => {
    const admin = await person("admin");
    await admin.page.click("nav a[data-nav=services]");
    await admin.page.waitForSelector(`tr[data-sid="${service}"] .badge:has-text('selected')`);

    await admin.page.click("nav a[data-nav=conversations]");
    await admin.page.click(`tr[data-sid="${conv.sid}"]`);
    await admin.page.waitForSelector("h2:has-text('Design review')");
    const people = await admin.page.$$eval(".card table tbody tr .who", (all) => all.map((w) => w.lastChild.textContent));
    assert.deepEqual(people.sort(), ["alice", "bob", "carol"]);
    const photos = admin.page.locator(".admin-message", { hasText: "Photos and a clip from the review" });
    assert.match(await photos.textContent(), /photo\.png · image\/png · 30 KB/);
    assert.match(await photos.textContent(), /clip\.mp4 · video\/mp4 · 5\.\d MB/);
    await shot(admin.page, "admin-conversation");

    // A new conversation from the console, someone added, then removed.
    await admin.page.click("nav a[data-nav=conversations]");
    await admin.page.fill(".inline-form input[name=friendlyName]", "Made in the console");
    await admin.page.click(".inline-form button.primary");
    await admin.page.waitForSelector("h2:has-text('Made in the console')");
    await admin.page.fill(".card .inline-form input[name=identity]", "dave");
    await admin.page.click(".card .inline-form button.primary");
    const dave = admin.page.locator(".card table tbody tr", { hasText: "dave" });
    await dave.waitFor();
    const made = (await confab.get(`/v1/Services/${service}/Conversations?PageSize=50`)).conversations.find((c) => c.friendly_name === "Made in the console");
    assert.equal((await confab.get(`/v1/Services/${service}/Conversations/${made.sid}/Participants`)).participants[0].identity, "dave");
    await dave.locator("button", { hasText: "Remove" }).click();
    await dave.waitFor({ state: "detached" });
    assert.equal((await confab.get(`/v1/Services/${service}/Conversations/${made.sid}/Participants`)).participants.length, 0);

    await admin.page.click("nav a[data-nav=users]");
    for (const identity of ["alice", "bob", "carol", "dave"]) await admin.page.waitForSelector(`tbody tr:has-text('${identity}') a:has-text('Chat as')`);
    await shot(admin.page, "admin-users");
    await admin.context.close();
  });

  await t.test("wrong credentials are refused in words, and nothing is kept", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(confab.base + "/");
    await page.fill("#signin input[name=account]", ACCOUNT);
    await page.fill("#signin input[name=token]", "not-the-token");
    await page.click("#signin button[type=submit]");
    await page.waitForSelector(".signin-error .notice.error:has-text('do not match')");
    assert.equal(await page.inputValue("#signin input[name=account]"), ACCOUNT, "the form keeps what was typed");
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await context.close();
  });

  await t.test("cut off and back: the messages sent meanwhile all appear, in order", async () => {
    const before = await messageCount(alice);
    await alice.context.setOffline(true);
    // The browser drops the stream; the client notices and keeps trying.
    await alice.page.waitForSelector(".connection:not([data-state=connected])", { timeout: 10000 });
    for (const text of ["one", "two", "three"]) {
      await bob.page.fill(".composer textarea", `While you were away: ${text}`);
      await bob.page.press(".composer textarea", "Enter");
      await bob.page.waitForSelector(`.message.mine .body:has-text('While you were away: ${text}')`);
    }
    await shot(alice.page, "alice-offline");
    await alice.context.setOffline(false);
    await waitFor(async () => (await messageCount(alice)) === before + 3, "alice to catch up", 30000);
    const shown = await alice.page.$$eval(".messages > li.message", (all) => all.map((m) => Number(m.dataset.index)));
    const stored = (await confab.get(`/v1/Services/${service}/Conversations/${conv.sid}/Messages?PageSize=100`)).messages.map((m) => m.index);
    assert.deepEqual(shown, stored.slice(-shown.length), "every message, once, in order");
    await shot(alice.page, "alice-caught-up");
    await alice.page.waitForFunction(() => !document.querySelector(".typing").textContent, null, { timeout: 10000 });
    // Dismissing the refusal takes its upload row too.
    await alice.page.click(".notice.refusal button.icon");
    assert.equal(await alice.page.locator(".uploads .outgoing").count(), 0);
    await shot(alice.page, "chat-view");
  });

  await t.test("on a phone: the list, then one conversation with a way back", async () => {
    await bob.page.setViewportSize({ width: 390, height: 844 });
    assert.equal(await bob.page.locator(".chat-side").isVisible(), false, "the open conversation fills the screen");
    await shot(bob.page, "phone-conversation");
    await bob.page.click(".back-to-list");
    assert.equal(await bob.page.locator(".chat-side").isVisible(), true);
    assert.equal(await bob.page.locator(".chat-pane").isVisible(), false);
    await shot(bob.page, "phone-list");
  });

  assert.deepEqual(problems, [], "no page errors, console errors or CSP violations");
});
