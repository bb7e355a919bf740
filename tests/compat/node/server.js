// A real confab process for one test file: its own port and data folder.
//
// CONFAB_BIN names the binary (default <repo>/target/debug/confab).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const bin = process.env.CONFAB_BIN || path.join(repo, "target/debug/confab");

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function waitFor(check, what, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/// Starts confab with this account (and any extra environment); resolves
/// once it answers /healthz. `stop()` kills it and removes its data.
export async function startConfab({ accountSid, authToken, env = {} }) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "confab-node-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [], {
    env: {
      PATH: process.env.PATH,
      CONFAB_BIND: `127.0.0.1:${port}`,
      CONFAB_PUBLIC_URL: base,
      CONFAB_DATA_DIR: dataDir,
      CONFAB_ACCOUNT_SID: accountSid,
      CONFAB_AUTH_TOKEN: authToken,
      RUST_LOG: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor(async () => {
    try {
      return (await fetch(`${base}/healthz`)).ok;
    } catch {
      return false;
    }
  }, "confab to start");
  return {
    base,
    stop() {
      child.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
