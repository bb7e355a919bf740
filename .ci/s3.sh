#!/usr/bin/env bash
# A throw-away S3-compatible server (moto) for tests that need real S3.
#
#   eval "$(.ci/s3.sh)"          # start (or reuse) it; prints `export` lines
#   cargo test --test media      # e.g. runs against s3://$bucket
#   .ci/s3.sh stop               # stop it
#
# Everything lives in .ci/cache (git-ignored): the Python venv with moto,
# the server's log (moto.log), its pid and port. Running it again while the
# server answers reuses it (and makes sure the bucket exists). Only the
# `export` lines go to stdout; progress goes to stderr.
#
# Environment: PYTHON (default python3; moto needs >= 3.9), S3_BUCKET
# (default confab-ci), S3_PORT (default: a free port).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$here/cache"
venv="$cache/s3-venv"
log="$cache/moto.log"
pid_file="$cache/moto.pid"
port_file="$cache/moto.port"

MOTO_SPEC="moto[server]==5.1.22"
bucket="${S3_BUCKET:-confab-ci}"
access_key="confab-ci"
secret_key="confab-ci-secret"
region="us-east-1"

# 127.0.0.1 never goes through a proxy from the caller's environment.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

say() { printf 's3.sh: %s\n' "$*" >&2; }

# The pid of the running moto server, if the pid file names one.
running_pid() {
    [[ -f "$pid_file" ]] || return 1
    local pid
    pid="$(cat "$pid_file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    # Only a process that is really our moto_server (pids get reused).
    [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "moto_server" || return 1
    echo "$pid"
}

answers() {
    curl -fsS --noproxy '*' -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        say "stopped moto (pid $pid)"
    else
        say "moto is not running"
    fi
    rm -f "$pid_file" "$port_file"
}

install() {
    local python="${PYTHON:-python3}"
    if [[ ! -x "$venv/bin/python" ]]; then
        say "creating $venv"
        "$python" -m venv "$venv"
    fi
    # The marker records what was installed, so a changed pin reinstalls.
    if [[ "$(cat "$venv/.installed" 2>/dev/null)" != "$MOTO_SPEC" || ! -x "$venv/bin/moto_server" ]]; then
        say "installing $MOTO_SPEC"
        # pip's download cache stays in the repository too.
        PIP_CACHE_DIR="$cache/pip" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "$MOTO_SPEC"
        echo "$MOTO_SPEC" >"$venv/.installed"
    fi
}

free_port() {
    "$venv/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local pid port
    if pid="$(running_pid)" && port="$(cat "$port_file" 2>/dev/null)" && answers "$port"; then
        say "reusing moto on 127.0.0.1:$port (pid $pid)"
        return
    fi
    [[ -f "$pid_file" ]] && stop
    for attempt in 1 2 3; do
        port="${S3_PORT:-$(free_port)}"
        printf '\n--- %s: moto_server on 127.0.0.1:%s\n' "$(date '+%F %T')" "$port" >>"$log"
        # Its own session: it outlives this script and the caller's job
        # control, and holds none of the caller's file descriptors.
        setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" </dev/null >>"$log" 2>&1 &
        pid=$!
        echo "$pid" >"$pid_file"
        echo "$port" >"$port_file"
        for _ in $(seq 300); do  # up to 30 s
            if answers "$port"; then
                say "moto started on 127.0.0.1:$port (pid $pid, log $log)"
                return
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        stop
        say "moto did not come up on port $port (attempt $attempt); last log lines:"
        tail -n 15 "$log" >&2
        [[ -n "${S3_PORT:-}" ]] && break
    done
    say "giving up"
    exit 1
}

create_bucket() {
    AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key" \
        "$venv/bin/python" - "$1" "$bucket" "$region" <<'EOF'
import sys
import boto3
from botocore.exceptions import ClientError

endpoint, bucket, region = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
try:
    s3.create_bucket(Bucket=bucket)
except ClientError as e:
    if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        raise
s3.head_bucket(Bucket=bucket)
EOF
}

case "${1:-start}" in
    start) ;;
    stop) stop; exit 0 ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac

mkdir -p "$cache"
install
start
port="$(cat "$port_file")"
endpoint="http://127.0.0.1:$port"
create_bucket "$endpoint"
say "bucket s3://$bucket ready"

cat <<EOF
export AWS_ENDPOINT=$endpoint
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=$region
export AWS_DEFAULT_REGION=$region
export AWS_ALLOW_HTTP=true
export CONFAB_TEST_STORAGE_URL=s3://$bucket
EOF
