// A real confab process for the browser tests (its own port and data
// folder, as the twilio-node suite starts it), the account's REST API as a
// backend would call it, and the media fixtures made with ffmpeg.
//
// CONFAB_BIN names the binary (default <repo>/target/debug/confab);
// CONFAB_BROWSER_DATABASE_URL runs it on PostgreSQL instead of SQLite.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startConfab as startProcess, waitFor } from "../compat/node/server.js";

export { waitFor };
export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Starts confab (see ../compat/node/server.js) with the account's REST API at hand, as a backend calls it. */
export async function startConfab({ accountSid, authToken, env = {} }) {
  const database = process.env.CONFAB_BROWSER_DATABASE_URL;
  const server = await startProcess({ accountSid, authToken, env: { ...(database ? { DATABASE_URL: database } : {}), ...env } });
  const auth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`;
  async function call(method, url, form) {
    const res = await fetch(server.base + url, {
      method,
      headers: { Authorization: auth },
      body: form ? new URLSearchParams(Object.entries(form).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x]))) : undefined,
    });
    const body = res.status === 204 ? null : await res.json();
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  }
  return {
    base: server.base,
    get: (url) => call("GET", url),
    post: (url, form) => call("POST", url, form ?? {}),
    stop: () => server.stop(),
  };
}

/** A PNG photo and a 5 MiB H.264 MP4 (index first, so metadata loads from the first byte range). */
export function makeFixtures() {
  const dir = mkdtempSync(path.join(tmpdir(), "confab-fixtures-"));
  const png = path.join(dir, "photo.png");
  const mp4 = path.join(dir, "clip.mp4");
  const quiet = ["-hide_banner", "-loglevel", "error", "-y"];
  execFileSync("ffmpeg", [...quiet, "-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", png]);
  execFileSync("ffmpeg", [...quiet,
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25,noise=alls=40:allf=t",
    "-f", "lavfi", "-i", "sine=frequency=440",
    "-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3500k", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-movflags", "+faststart", mp4]);
  return {
    png: { name: "photo.png", mimeType: "image/png", buffer: readFileSync(png) },
    mp4: { name: "clip.mp4", mimeType: "video/mp4", buffer: readFileSync(mp4) },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Where screenshots go, for a person to look at. */
export function screenshots() {
  const dir = path.join(repo, "target/browser");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let n = 0;
  return (page, name) => page.screenshot({ path: path.join(dir, `${String(++n).padStart(2, "0")}-${name}.png`) });
}
