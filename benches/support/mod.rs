//! What the benchmarks share: the bench account, its credentials, access
//! tokens as the helper libraries mint them, and throwaway PostgreSQL
//! databases. Each bench uses part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use diesel::{Connection, RunQueryDsl};

pub const ACCOUNT: &str = "ACbe4c0000000000000000000000000000";
pub const TOKEN: &str = "bench-auth-token-0123456789";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn auth_header() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}")))
}

pub fn client(connections: usize) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(connections.max(1) + 4))
        .timeout(Duration::from_secs(60))
        .add_default_header(("Authorization", auth_header()))
        .finish()
}

/// An access token as twilio-python's `AccessToken` + `ChatGrant` mints it.
pub fn access_token(key: &(String, String), identity: &str, service_sid: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({
        "jti": format!("{}-{now}", key.0),
        "grants": {"identity": identity, "chat": {"service_sid": service_sid}},
        "iss": key.0,
        "sub": ACCOUNT,
        "nbf": now,
        "exp": now + 3600,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.cty = Some("twilio-fpa;v=1".into());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(key.1.as_bytes())).unwrap()
}

pub async fn default_service(client: &awc::Client, base: &str) -> String {
    let mut res = client.get(format!("{base}/v1/Configuration")).send().await.unwrap();
    let cfg: serde_json::Value = res.json().await.unwrap();
    cfg["default_chat_service_sid"].as_str().unwrap().to_owned()
}

pub fn fresh_pg_database(admin: &str, name: &str) -> String {
    let mut conn = diesel::pg::PgConnection::establish(admin).expect("--pg-url");
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
    let (server, _) = admin.split('?').next().unwrap().rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

pub fn drop_pg_database(admin: &str, name: &str) {
    if let Ok(mut conn) = diesel::pg::PgConnection::establish(admin) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
    }
}

/// A PostgreSQL checkpoint, before each measured phase: without it, one
/// starts every minute or so under a bench's write load (at `max_wal_size`),
/// at a different point in each run, and the phases after it pay for the
/// full-page images of every page they first touch; that alone moved a
/// phase's rate by ±10%. With it, every phase starts alike.
pub fn checkpoint(admin: &str) {
    let mut conn = diesel::pg::PgConnection::establish(admin).expect("--pg-url");
    diesel::sql_query("CHECKPOINT")
        .execute(&mut conn)
        .expect("CHECKPOINT (the --pg-url role must be a superuser)");
}

/// A confab server process on a free port with its own data folder.
pub struct Server {
    pub child: Child,
    pub base: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    /// SIGINT first, so the server (or a profiler wrapping it) shuts down cleanly.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("confab.log")
    }

    /// Panics (with the log's tail) when the server has exited.
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "confab exited ({status}); its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// The server's open file descriptors (each accepted socket is one).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    /// The lines of the server's log at level ERROR.
    pub fn logged_errors(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        log.lines().filter(|l| l.contains("ERROR")).map(str::to_owned).collect()
    }

    /// The server's resident memory (VmRSS), KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// Starts this build's binary (under `wrapper`, if any), or `binary`, with
/// `env` on top of the bench settings.
pub fn start_server(
    database_url: &str,
    wrapper: &[String],
    binary: Option<&Path>,
    env: &[(&str, &str)],
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("confab.log")).unwrap();
    let mut command = match (binary, wrapper.split_first()) {
        (Some(binary), _) => Command::new(binary),
        (None, Some((program, args))) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_confab"));
            c
        }
        (None, None) => Command::new(env!("CARGO_BIN_EXE_confab")),
    };
    let child = command
        .env("CONFAB_BIND", format!("127.0.0.1:{port}"))
        .env("CONFAB_PUBLIC_URL", &base)
        .env("CONFAB_DATA_DIR", dir.path())
        .env("DATABASE_URL", database_url)
        .env("CONFAB_ACCOUNT_SID", ACCOUNT)
        .env("CONFAB_AUTH_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        // A load generator is not a user: no per-user rate limit.
        .env("CONFAB_RATE_LIMIT_USER_PER_SEC", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start confab");
    let mut server = Server { child, base, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        server.assert_alive();
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("confab did not start; see its log in {}", server.log_path().display());
}

/// CPU time a process has used (all its threads, user and system), in
/// clock ticks; `pid` `None`: this process.
pub fn cpu_ticks(pid: Option<u32>) -> u64 {
    let path = pid.map_or("/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    stat_ticks(&std::fs::read_to_string(path).unwrap_or_default()).1
}

/// CPU time, in clock ticks, of the threads of process `pid` whose names
/// start with `prefix` (a thread that exited meanwhile is not counted).
pub fn thread_cpu_ticks(pid: u32, prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter_map(|stat| match stat_ticks(&stat) {
            (name, ticks) if name.starts_with(prefix) => Some(ticks),
            _ => None,
        })
        .sum()
}

/// A `/proc/…/stat` line's name and its utime + stime.
fn stat_ticks(stat: &str) -> (&str, u64) {
    // "pid (comm) state ppid …": utime and stime are fields 14 and 15.
    let (head, rest) = stat.rsplit_once(')').unwrap_or(("", ""));
    let name = head.split_once('(').map_or("", |(_, name)| name);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (name, field(11) + field(12))
}

/// The whole machine's busy CPU time (every CPU, every process), in clock
/// ticks: /proc/stat's first line less idle and iowait.
pub fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    ticks.iter().sum::<u64>() - ticks.get(3).unwrap_or(&0) - ticks.get(4).unwrap_or(&0)
}

pub fn ticks_per_second() -> f64 {
    #[cfg(target_os = "linux")]
    // SAFETY: sysconf reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    #[cfg(not(target_os = "linux"))]
    let ticks = 100;
    if ticks > 0 { ticks as f64 } else { 100.0 }
}
