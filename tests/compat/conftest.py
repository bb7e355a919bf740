"""Starts one real `confab` process for the whole pytest session.

Environment:
  CONFAB_BIN                  the binary (default <repo>/target/debug/confab;
                              build it with `cargo build` first)
  CONFAB_COMPAT_DATABASE_URL  a PostgreSQL *admin* URL (e.g.
                              postgres://postgres@127.0.0.1:5432/postgres): the
                              suite creates a fresh database next to it, runs
                              against that and drops it at the end (needs
                              `psql`). Unset: a throw-away SQLite file.
  CONFAB_COMPAT_KEEP_TMP=1    keep the server's temp dir (data + log) even
                              when every test passed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import Account, Spec  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0

# Variables of the caller's environment that must not leak into the server
# (they would change its behaviour behind the suite's back).
_SCRUB = ("DATABASE_URL", "TWILIO_EDGE", "TWILIO_REGION")


def _confab_bin() -> Path:
    raw = os.environ.get("CONFAB_BIN")
    path = Path(raw) if raw else REPO / "target" / "debug" / "confab"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(
            f"confab binary not found or not executable: {path}\n"
            "Build it with `cargo build` (or set CONFAB_BIN).",
            returncode=2,
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# PostgreSQL: one fresh database per session, dropped afterwards.
# --------------------------------------------------------------------------

def _psql(admin_url: str, sql: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.exit("CONFAB_COMPAT_DATABASE_URL is set but `psql` is not on PATH", returncode=2)
    proc = subprocess.run(
        [psql, admin_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed ({sql}): {proc.stderr.strip()}")


def _with_database(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def database_url(tmp_root: Path):
    admin_url = os.environ.get("CONFAB_COMPAT_DATABASE_URL", "").strip()
    if not admin_url:
        yield f"sqlite://{tmp_root / 'confab.db'}"
        return
    if not admin_url.startswith(("postgres://", "postgresql://")):
        pytest.exit("CONFAB_COMPAT_DATABASE_URL must be a postgres:// URL", returncode=2)
    # Unique per run, so parallel or repeated runs never collide.
    name = f"confab_compat_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        _psql(admin_url, f'CREATE DATABASE "{name}"')
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        pytest.exit(f"cannot create the test database via CONFAB_COMPAT_DATABASE_URL: {e}",
                    returncode=2)
    try:
        yield _with_database(admin_url, name)
    finally:
        try:
            _psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except RuntimeError:
            # PostgreSQL < 13 has no WITH (FORCE); the server is gone by now.
            _psql(admin_url, f'DROP DATABASE IF EXISTS "{name}"')


# --------------------------------------------------------------------------
# The server process.
# --------------------------------------------------------------------------

@dataclass
class Server:
    bin: Path
    base_url: str
    env: dict
    cwd: Path
    log_path: Path
    account: Account

    def admin(self, *args: str) -> str:
        proc = subprocess.run(
            [str(self.bin), "admin", *args], env=self.env, cwd=self.cwd,
            capture_output=True, text=True, timeout=60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"confab admin {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def create_account(self) -> Account:
        out = self.admin("create-account", "--friendly-name", "compat second account")
        creds = json.loads(out.strip().splitlines()[-1])
        return Account(creds["account_sid"], creds["auth_token"], self.base_url)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def tmp_root(request):
    path = Path(tempfile.mkdtemp(prefix="confab-compat-"))
    yield path
    keep = os.environ.get("CONFAB_COMPAT_KEEP_TMP") or request.session.testsfailed
    if keep:
        sys.stderr.write(f"\n[compat] server data and log kept in {path}\n")
    else:
        shutil.rmtree(path, ignore_errors=True)


def _start(bin_path: Path, env: dict, cwd: Path, log_path: Path, base_url: str):
    log = open(log_path, "ab")
    proc = subprocess.Popen([str(bin_path), "serve"], env=env, cwd=cwd,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, False
        try:
            # No proxies for 127.0.0.1, whatever the environment says.
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(base_url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    return proc, False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_root: Path, database_url: str):
    bin_path = _confab_bin()
    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_urlsafe(24)
    log_path = tmp_root / "confab.log"
    data_dir = tmp_root / "data"
    data_dir.mkdir(exist_ok=True)

    base_env = {k: v for k, v in os.environ.items()
                if k not in _SCRUB and not k.startswith("CONFAB_")}
    base_env.update({
        "CONFAB_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "CONFAB_ACCOUNT_SID": account_sid,
        "CONFAB_AUTH_TOKEN": auth_token,
        "CONFAB_WORKERS": "4",
        "CONFAB_LOG_FORMAT": "json",  # the log goes to a file: no ANSI colours
        # The webhook receivers of test_webhooks.py listen on this machine.
        "CONFAB_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    })

    proc = None
    for attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = dict(base_env, CONFAB_BIND=f"127.0.0.1:{port}", CONFAB_PUBLIC_URL=base_url)
        proc, ready = _start(bin_path, env, tmp_root, log_path, base_url)
        if ready:
            break
        exited = proc.poll() is not None
        _stop(proc)
        log = log_path.read_text(errors="replace")
        if exited and "cannot listen" in log and attempt < 2:
            continue
        why = (f"exited with status {proc.returncode} before /healthz answered" if exited
               else f"did not answer GET /healthz with 200 within {STARTUP_TIMEOUT:.0f}s")
        pytest.exit(f"confab {why} ({bin_path}).\n--- server output ---\n{log[-6000:]}",
                    returncode=3)

    srv = Server(bin_path, base_url, env, tmp_root, log_path,
                 Account(account_sid, auth_token, base_url))
    try:
        yield srv
    finally:
        _stop(proc)


# --------------------------------------------------------------------------
# Fixtures the tests use.
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def account(server: Server) -> Account:
    """The account the server bootstrapped from CONFAB_ACCOUNT_SID. Shared by
    tests: never change its configuration, and use unique names."""
    return server.account


@pytest.fixture(scope="session")
def v1(account: Account):
    return account.v1


@pytest.fixture
def fresh_account(server: Server) -> Account:
    """A brand-new account (own default service, no conversations), made with
    `confab admin create-account`: for exact list contents and for changes to
    the account's configuration."""
    return server.create_account()


@pytest.fixture(scope="session")
def spec() -> Spec:
    return Spec()


def pytest_report_header(config):
    db = "PostgreSQL (fresh database)" if os.environ.get("CONFAB_COMPAT_DATABASE_URL") else "SQLite"
    return f"confab compat suite: database={db}, bin={os.environ.get('CONFAB_BIN') or 'target/debug/confab'}"


@pytest.fixture(scope="session")
def http():
    """A requests session that never goes through a proxy for 127.0.0.1."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()
