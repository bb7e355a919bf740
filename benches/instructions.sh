#!/usr/bin/env bash
# Instructions per message send (SQLite, in-process, so the whole send) for
# one or more confab binaries, under callgrind: counts do not depend on what
# else the machine runs, unlike throughput. Needs valgrind and curl.
#
#   cargo build --release && benches/instructions.sh target/release/confab /path/to/other/confab
#
# Each binary: a fresh data folder, one worker, 200 sends to warm up,
# counters zeroed, then N sends (default 300) with Basic auth on one
# keep-alive connection; prints total instructions / N.
#
# HOOK=1: the default service's post-event webhook (onMessageAdded) points
# at a receiver in the driving script, the background loops run, sends ask
# for webhooks, and the counters are read once every delivery arrived: the
# difference from a run with BACKGROUND=on and no HOOK (the loops idle
# alike) is the server's work per delivery.
set -euo pipefail
N=${N:-300}
HOOK=${HOOK:-}
BACKGROUND=${BACKGROUND:-$([ -n "$HOOK" ] && echo on || echo off)}
PORT=${PORT:-18991}
AC=AC00000000000000000000000000000009
TOKEN=instructions-bench-token-0009
for BIN in "$@"; do
  T=$(mktemp -d)
  CONFAB_BIND=127.0.0.1:$PORT CONFAB_ACCOUNT_SID=$AC CONFAB_AUTH_TOKEN=$TOKEN CONFAB_DATA_DIR=$T \
    CONFAB_BACKGROUND=$BACKGROUND CONFAB_WORKERS=1 \
    CONFAB_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 \
    valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$BIN" serve >"$T/log" 2>&1 &
  VP=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  python3 - "$PORT" "$N" "$AC" "$TOKEN" "$HOOK" <<'PY'
import base64, http.client, http.server, json, subprocess, sys, threading, time
port, n, ac, token, hook = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
auth = "Basic " + base64.b64encode(f"{ac}:{token}".encode()).decode()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
received = [0]
class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received[0] += 1
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass
def post(path, body, headers=()):
    c.request("POST", path, body=body,
              headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded", **dict(headers)})
    r = c.getresponse(); data = r.read()
    assert r.status in (200, 201), (r.status, data)
    return data
def wait_for(count):
    deadline = time.time() + 600
    while received[0] < count and time.time() < deadline:
        time.sleep(0.05)
    assert received[0] >= count, (received[0], count)
hooked = [("X-Twilio-Webhook-Enabled", "true")] if hook else []
if hook:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    c.request("GET", "/v1/Services", headers={"Authorization": auth})
    r = c.getresponse(); service = json.loads(r.read())["services"][0]["sid"]
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    post(f"/v1/Services/{service}/Configuration/Webhooks", f"PostWebhookUrl={url}&Filters=onMessageAdded")
ch = json.loads(post("/v1/Conversations", "FriendlyName=bench"))["sid"]
for _ in range(200):
    post(f"/v1/Conversations/{ch}/Messages", "Body=warming+up", hooked)
if hook:
    wait_for(200)
subprocess.run(["callgrind_control", "-z"], check=True, capture_output=True)
for i in range(n):
    post(f"/v1/Conversations/{ch}/Messages", f"Body=hello+world+{i}", hooked)
if hook:
    wait_for(200 + n)
subprocess.run(["callgrind_control", "-d"], check=True, capture_output=True)
PY
  kill "$VP"; wait "$VP" 2>/dev/null || true
  IR=$(grep -h '^summary:' "$T/cg.out.1" | awk '{print $2}')
  printf '%s: %d instructions per send%s\n' "$BIN" $((IR / N)) "${HOOK:+ (with its webhook delivery)}"
  # KEEP=DIR keeps the callgrind profile, for callgrind_annotate.
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$T/cg.out.1" "$KEEP/$(basename "$BIN").${HOOK:+hook.}cg"; fi
  rm -rf "$T"
done
