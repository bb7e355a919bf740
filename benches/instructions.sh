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
set -euo pipefail
N=${N:-300}
PORT=${PORT:-18991}
AC=AC00000000000000000000000000000009
TOKEN=instructions-bench-token-0009
for BIN in "$@"; do
  T=$(mktemp -d)
  CONFAB_BIND=127.0.0.1:$PORT CONFAB_ACCOUNT_SID=$AC CONFAB_AUTH_TOKEN=$TOKEN CONFAB_DATA_DIR=$T \
    CONFAB_BACKGROUND=off CONFAB_WORKERS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$BIN" serve >"$T/log" 2>&1 &
  VP=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  python3 - "$PORT" "$N" "$AC" "$TOKEN" <<'PY'
import base64, http.client, json, subprocess, sys
port, n, ac, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
auth = "Basic " + base64.b64encode(f"{ac}:{token}".encode()).decode()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
def post(path, body):
    c.request("POST", path, body=body,
              headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse(); data = r.read()
    assert r.status in (200, 201), (r.status, data)
    return data
ch = json.loads(post("/v1/Conversations", "FriendlyName=bench"))["sid"]
for _ in range(200):
    post(f"/v1/Conversations/{ch}/Messages", "Body=warming+up")
subprocess.run(["callgrind_control", "-z"], check=True, capture_output=True)
for i in range(n):
    post(f"/v1/Conversations/{ch}/Messages", f"Body=hello+world+{i}")
subprocess.run(["callgrind_control", "-d"], check=True, capture_output=True)
PY
  kill "$VP"; wait "$VP" 2>/dev/null || true
  IR=$(grep -h '^summary:' "$T/cg.out.1" | awk '{print $2}')
  printf '%s: %d instructions per send\n' "$BIN" $((IR / N))
  rm -rf "$T"
done
