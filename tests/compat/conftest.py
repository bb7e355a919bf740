"""Starts one real `confab` process for the whole pytest session, or runs
against a server (or a cluster behind a load balancer) that is already up.

Environment:
  CONFAB_BIN                  the binary (default <repo>/target/debug/confab;
                              build it with `cargo build` first; in external
                              mode `confab` on PATH, used for `confab admin`)
  CONFAB_COMPAT_DATABASE_URL  a PostgreSQL *admin* URL (e.g.
                              postgres://postgres@127.0.0.1:5432/postgres): the
                              suite creates a fresh database next to it, runs
                              against that and drops it at the end (needs
                              `psql`). Unset: a throw-away SQLite file.
  CONFAB_COMPAT_KEEP_TMP=1    keep the server's temp dir (data + log) even
                              when every test passed.

External mode (docker-compose.yml's `tests` profile uses it):
  CONFAB_COMPAT_BASE_URL      where the server is reached (e.g. http://lb:8080):
                              no server is started and CONFAB_COMPAT_DATABASE_URL
                              is ignored.
  CONFAB_COMPAT_PUBLIC_URL    the URL the server names itself by in its
                              responses (its CONFAB_PUBLIC_URL), when that is
                              not the base URL: requests for it are sent to the
                              base URL (with the public Host header).
  CONFAB_COMPAT_ACCOUNT_SID,  the account most tests share (e.g. the server's
  CONFAB_COMPAT_AUTH_TOKEN    bootstrap account); unset: one is made with
                              `confab admin create-account`.
  DATABASE_URL, CONFAB_MASTER_KEY, ...
                              the server's own configuration: `confab admin`
                              (accounts for `fresh_account`) runs here with this
                              environment, so it must reach the server's
                              database with its master key. Without DATABASE_URL
                              (or the binary) the tests that need it are skipped.
  CONFAB_COMPAT_WEBHOOK_HOST  the host name or IPv4 address the server reaches this
                              machine by; the webhook receivers listen there
                              (on every interface unless it is a loopback
                              address) and the server must allow it
                              (CONFAB_WEBHOOK_ALLOWED_HOSTS). Unset in external
                              mode: the webhook delivery tests are skipped.
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

import support  # noqa: E402
from support import Account, Spec  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0

# External mode: the server is already running there (support.py reads them).
EXTERNAL_URL = support.BASE_URL
PUBLIC_URL = support.PUBLIC_URL

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
    if EXTERNAL_URL:
        yield ""  # the external server has its own database
        return
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
    bin: Path | None
    base_url: str  # the URL the server names itself by (requests go there, or are rerouted)
    env: dict
    cwd: Path
    log_path: Path | None  # None: an external server, whose log is elsewhere
    account: Account
    admin_missing: str = ""  # external mode: why `confab admin` cannot run here

    def admin(self, *args: str) -> str:
        if self.admin_missing:
            pytest.skip(self.admin_missing)
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
        if self.log_path is None:
            return f"(the server at {EXTERNAL_URL} runs elsewhere: its log is not here)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def tmp_root(request):
    path = Path(tempfile.mkdtemp(prefix="confab-compat-"))
    yield path
    keep = os.environ.get("CONFAB_COMPAT_KEEP_TMP") or request.session.testsfailed
    if keep and not EXTERNAL_URL:  # an external server keeps nothing here
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


def _wait_healthy(base_url: str, timeout: float) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(base_url + "/healthz", timeout=5) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def _external_server(tmp_root: Path) -> Server:
    """A server that is already running at CONFAB_COMPAT_BASE_URL (external mode)."""
    if not EXTERNAL_URL.startswith(("http://", "https://")):
        pytest.exit(f"CONFAB_COMPAT_BASE_URL must be an http(s):// URL, not {EXTERNAL_URL!r}",
                    returncode=2)
    if not _wait_healthy(EXTERNAL_URL, STARTUP_TIMEOUT):
        pytest.exit(f"no 200 from GET {EXTERNAL_URL}/healthz within {STARTUP_TIMEOUT:.0f}s "
                    "(CONFAB_COMPAT_BASE_URL)", returncode=3)
    raw = os.environ.get("CONFAB_BIN", "").strip()
    if raw:
        bin_path = _confab_bin()  # named explicitly: it must exist
    else:
        found = shutil.which("confab")
        bin_path = Path(found) if found else None
    if bin_path is None:
        missing = "external mode: `confab admin` needs the confab binary (CONFAB_BIN or `confab` on PATH)"
    elif not os.environ.get("DATABASE_URL", "").strip():
        missing = ("external mode: `confab admin` needs the server's DATABASE_URL (and its "
                   "CONFAB_MASTER_KEY) in this environment")
    else:
        missing = ""

    # The account is filled in below (create_account needs the Server).
    srv = Server(bin_path, PUBLIC_URL, dict(os.environ), tmp_root, None, None, admin_missing=missing)
    sid = os.environ.get("CONFAB_COMPAT_ACCOUNT_SID", "").strip()
    token = os.environ.get("CONFAB_COMPAT_AUTH_TOKEN", "").strip()
    if sid and token:
        srv.account = Account(sid, token, PUBLIC_URL)
    elif missing:
        pytest.exit("external mode needs CONFAB_COMPAT_ACCOUNT_SID and CONFAB_COMPAT_AUTH_TOKEN, "
                    f"or a working `confab admin` to create an account ({missing})", returncode=2)
    else:
        try:
            srv.account = srv.create_account()
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
            pytest.exit(f"external mode: cannot create the suite's account: {e}", returncode=3)
    return srv


@pytest.fixture(scope="session")
def server(tmp_root: Path, database_url: str):
    if EXTERNAL_URL:
        yield _external_server(tmp_root)
        return
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
    if EXTERNAL_URL:
        public = f" (public URL {PUBLIC_URL})" if PUBLIC_URL != EXTERNAL_URL else ""
        return (f"confab compat suite: external server at {EXTERNAL_URL}{public}, "
                f"admin bin={os.environ.get('CONFAB_BIN') or 'confab on PATH'}")
    db = "PostgreSQL (fresh database)" if os.environ.get("CONFAB_COMPAT_DATABASE_URL") else "SQLite"
    return f"confab compat suite: database={db}, bin={os.environ.get('CONFAB_BIN') or 'target/debug/confab'}"


@pytest.fixture(scope="session")
def http():
    """A requests session that never goes through a proxy for 127.0.0.1."""
    session = requests.Session()
    session.trust_env = False
    support.route(session)
    yield session
    session.close()
