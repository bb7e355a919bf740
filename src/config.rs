//! Typed configuration, read once from the environment and passed in.
//!
//! Every variable is validated at start; an error names the variable so the
//! operator knows what to fix. Nothing here is global: tests build a `Config`
//! directly and vary what they need.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sid::SidKind;

#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

/// A request rate limit: `per_sec` requests a second on average, `burst`
/// at once (`auth::rate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    /// `None` (no limit) for a zero rate.
    pub fn new(per_sec: u32, burst: u32) -> Option<Rate> {
        (per_sec > 0).then(|| Rate { per_sec: f64::from(per_sec), burst: f64::from(burst.max(1)) })
    }
}

/// Which database the binary talks to, chosen by the URL scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    // PostgreSQL URLs may carry a password: never print them whole.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DatabaseUrl::Postgres(url) => write!(f, "{}", redact_url(url)),
        }
    }
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://./data/confab.db".into());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(raw.to_string()))
        } else {
            Err("expected a sqlite://<path> or postgres://… URL".into())
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// How this instance's event streams follow the log (src/live).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// How often the log is read when nothing woke the reader
    /// (`CONFAB_STREAM_POLL_MS`): the bound on how late another instance's
    /// event arrives if its notification was lost, or turned off.
    pub poll: Duration,
    /// Frames a stream may have waiting before it counts as too slow and is
    /// closed (`CONFAB_STREAM_QUEUE_FRAMES`).
    pub queue_frames: usize,
    /// Bytes of frames likewise (`CONFAB_STREAM_QUEUE_BYTES`).
    pub queue_bytes: usize,
    /// Whether this instance announces its commits to the others by
    /// PostgreSQL `NOTIFY` (`CONFAB_STREAM_NOTIFY`, on by default); off,
    /// their streams hear of this instance's writes within their poll.
    pub announce: bool,
}

/// Hosts and address ranges a webhook may reach although they are internal
/// (`CONFAB_WEBHOOK_ALLOWED_HOSTS`).
#[derive(Debug, Default, Clone)]
pub struct AllowList {
    names: Vec<String>,
    ranges: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// `host`, `1.2.3.4`, `10.0.0.0/8`, `::1`, `fd00::/8`, comma-separated upstream.
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for entry in entries {
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry.as_str(), None),
            };
            match addr.parse::<IpAddr>() {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let bits = match bits {
                        None => max,
                        Some(b) => b
                            .parse::<u8>()
                            .ok()
                            .filter(|b| *b <= max)
                            .ok_or_else(|| format!("bad range {entry:?}"))?,
                    };
                    list.ranges.push((ip, bits));
                }
                Err(_) if bits.is_none() && !addr.is_empty() => list.names.push(addr.to_ascii_lowercase()),
                Err(_) => {
                    return Err(format!("{entry:?} is neither a host name, an address nor a CIDR range"));
                }
            }
        }
        Ok(list)
    }

    pub fn allows_name(&self, host: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(host))
    }

    /// Is `ip` in one of the ranges? (An IPv4-mapped IPv6 address counts
    /// as the IPv4 address it is.)
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let v4 = |ip: IpAddr| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.ranges.iter().any(|&(net, bits)| in_range(v4(ip), v4(net), bits))
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Webhooks (src/webhooks/).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// REST calls with account credentials fire post-event webhooks only
    /// with `X-Twilio-Webhook-Enabled: true`, as on Twilio; `true` here
    /// (`CONFAB_REST_WEBHOOKS=always`) fires them for every change.
    pub rest_always: bool,
    /// Hosts and address ranges a webhook may target although they are
    /// loopback, private, link-local or otherwise internal
    /// (`CONFAB_WEBHOOK_ALLOWED_HOSTS`: names, addresses, CIDR ranges).
    pub allowed_hosts: AllowList,
    /// How long a post-event delivery is retried before it is given up
    /// (`CONFAB_WEBHOOK_RETRY_HORIZON_SECS`).
    pub retry_horizon: Duration,
    /// The timeout of one attempt (Twilio's 5 s).
    pub timeout: Duration,
    /// The pause before a delivery's first retry; each next is four times
    /// longer, up to five minutes.
    pub retry_base: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            rest_always: false,
            allowed_hosts: AllowList::default(),
            retry_horizon: Duration::from_secs(86_400),
            timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(1),
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            poll: Duration::from_secs(1),
            queue_frames: 1024,
            queue_bytes: 4 << 20,
            announce: true,
        }
    }
}

/// Where media objects live (`CONFAB_STORAGE_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `file://<absolute path>`: a local folder.
    File(PathBuf),
    /// `s3://<bucket>[/<prefix>]`: S3 or an S3-compatible store; endpoint,
    /// region and credentials come from the usual `AWS_*` variables.
    S3 { bucket: String, prefix: String },
    /// `memory://`: in-process, for tests.
    Memory,
}

impl StorageUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("file://") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err("file:// needs an absolute path, e.g. file:///var/lib/confab/media".into());
            }
            Ok(StorageUrl::File(path))
        } else if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("s3:// needs a bucket name, e.g. s3://confab-media".into());
            }
            Ok(StorageUrl::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() })
        } else if raw == "memory://" {
            Ok(StorageUrl::Memory)
        } else {
            Err("expected file://<absolute path>, s3://<bucket>[/<prefix>] or memory://".into())
        }
    }
}

/// Media settings.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub storage: StorageUrl,
    /// `CONFAB_MASTER_KEY` (base64, 32 bytes); `None`: the key file in the data dir.
    pub master_key: Option<[u8; 32]>,
    /// `CONFAB_PREVIOUS_MASTER_KEYS`: older keys still accepted for unwrapping.
    pub previous_master_keys: Vec<[u8; 32]>,
    pub url_ttl: Duration,
    pub max_bytes: u64,
    pub max_per_message: usize,
    pub gc_interval: Duration,
    pub gc_after: Duration,
    /// An upload that sends nothing for this long is cut off.
    pub upload_idle_timeout: Duration,
    /// How often a streaming upload touches its row so the collector knows
    /// it is alive (fixed at 60 s outside tests).
    pub upload_heartbeat: Duration,
    /// Once `upload_rate_grace` is over, an upload must have arrived at
    /// this average rate (bytes per second) or it is cut off; 0: no minimum.
    pub upload_min_rate: u64,
    pub upload_rate_grace: Duration,
    /// How long an upload waits for one of the limited upload slots before
    /// it is answered 503.
    pub upload_queue_timeout: Duration,
    /// End users' fair share, each answered 429 past it (0: no limit):
    /// uploads in progress at once per user (`CONFAB_UPLOADS_PER_USER`), so
    /// one token cannot hold every slot;
    pub user_uploads: usize,
    /// media a user uploaded and has not attached to a message, by count
    /// (`CONFAB_UNATTACHED_MEDIA_PER_USER`) and bytes
    /// (`CONFAB_UNATTACHED_BYTES_PER_USER`), checked when an upload starts.
    pub user_unattached_media: i64,
    pub user_unattached_bytes: i64,
}

/// Beyond heartbeat and idle timeout, how long an upload's row may go
/// untouched: time to complete the object after the last byte, and room for
/// the clocks of several instances to disagree.
const STALE_UPLOAD_MARGIN: Duration = Duration::from_secs(90);

impl MediaConfig {
    /// How long an `uploading` row may go untouched before the collector
    /// takes the upload for abandoned. A live upload touches its row at
    /// most a heartbeat apart while data flows, and may then wait up to the
    /// idle timeout for more, so it is never collected (180 s by default).
    pub fn stale_upload_after(&self) -> Duration {
        self.upload_heartbeat + self.upload_idle_timeout + STALE_UPLOAD_MARGIN
    }
}

const UPLOAD_HEARTBEAT: Duration = Duration::from_secs(60);

fn parse_key(var: &'static str, raw: &str) -> Result<[u8; 32], ConfigError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|_| bad(var, "must be base64 (e.g. from `openssl rand -base64 32`)"))?;
    bytes.try_into().map_err(|_| bad(var, "must decode to exactly 32 bytes"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// argon2id cost for new password hashes. Verification always uses the
/// parameters stored in the hash itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl HashCost {
    /// OWASP's argon2id recommendation (the argon2 crate's default).
    pub const DEFAULT: HashCost = HashCost { memory_kib: 19 * 1024, iterations: 2 };
    /// Cheap hashes for test suites only; never reachable from the environment.
    pub const TESTING: HashCost = HashCost { memory_kib: 256, iterations: 1 };
}

/// PostgreSQL session settings of every pooled connection
/// (`CONFAB_DB_STATEMENT_TIMEOUT_MS`, `CONFAB_DB_LOCK_TIMEOUT_MS`,
/// `CONFAB_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS`; 0 turns one off). Confab's
/// transactions run their statements back to back, so one idle for seconds
/// belongs to a stalled process: the server ends its session, which
/// releases its locks, before waiters give up on theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbTimeouts {
    pub statement: Duration,
    pub lock: Duration,
    pub idle_in_transaction: Duration,
}

impl Default for DbTimeouts {
    fn default() -> Self {
        DbTimeouts {
            statement: Duration::from_secs(30),
            lock: Duration::from_secs(10),
            idle_in_transaction: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Absolute base URL without a trailing slash, used in every `url`/`links`.
    pub public_url: String,
    pub database_url: DatabaseUrl,
    pub data_dir: PathBuf,
    pub db_pool_size: u32,
    /// PostgreSQL session timeouts, so one stalled holder of a lock (a
    /// paused or partitioned instance) cannot block the cluster.
    pub db_timeouts: DbTimeouts,
    pub workers: usize,
    /// `CONFAB_ACCOUNT_SID` + `CONFAB_AUTH_TOKEN`: created at start if missing.
    pub bootstrap_account: Option<(String, String)>,
    pub log_format: LogFormat,
    pub hash_cost: HashCost,
    /// How long a successful credential check is remembered.
    pub auth_cache_ttl: Duration,
    /// How long a form body may take to arrive (`CONFAB_BODY_TIMEOUT_SECS`):
    /// a client sending a byte now and then holds a worker's request no
    /// longer (uploads have their own pace, `media`).
    pub body_timeout: Duration,
    /// Requests a second (and bursts) per end user
    /// (`CONFAB_RATE_LIMIT_USER_PER_SEC`, `_BURST`; default 100 and 300) and
    /// per account with account credentials (`CONFAB_RATE_LIMIT_ACCOUNT_PER_SEC`,
    /// `_BURST`; off by default); `None`: no limit. Per instance.
    pub rate_limit_user: Option<Rate>,
    pub rate_limit_account: Option<Rate>,
    /// How often conversation state timers are applied.
    pub timers_interval: Duration,
    /// How long events stay in the log (`CONFAB_EVENT_RETENTION_SECS`): a
    /// client away longer reloads through REST.
    pub event_retention: Duration,
    /// How often an open event stream re-checks its credential
    /// (`CONFAB_STREAM_RECHECK_SECS`): a revoked key or rotated Auth Token
    /// closes its streams within this.
    pub stream_recheck: Duration,
    pub stream: StreamConfig,
    pub webhooks: WebhookConfig,
    /// `CONFAB_BACKGROUND=off`: this instance only serves requests (the
    /// collector and timers run on others).
    pub background: bool,
    pub media: MediaConfig,
    pub metrics: MetricsConfig,
}

/// Where `/metrics` (Prometheus text format) is served: on a listener of
/// its own (`CONFAB_METRICS_BIND`, e.g. `127.0.0.1:9464`, for a scraper on
/// a private network), and/or on the public port behind a bearer token
/// (`CONFAB_METRICS_TOKEN`). With neither, no metrics are kept.
#[derive(Clone, Debug, Default)]
pub struct MetricsConfig {
    pub bind: Option<SocketAddr>,
    pub token: Option<String>,
}

impl MetricsConfig {
    pub fn enabled(&self) -> bool {
        self.bind.is_some() || self.token.is_some()
    }
}

impl Config {
    /// Reads the process environment (after `.env` has been loaded by main).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds a config from any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());

        let bind: SocketAddr = match var("CONFAB_BIND") {
            Some(v) => v.trim().parse().map_err(|_| {
                bad("CONFAB_BIND", format!("not a socket address: {v:?} (expected e.g. 127.0.0.1:8080)"))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };

        let metrics = MetricsConfig {
            bind: var("CONFAB_METRICS_BIND")
                .map(|v| {
                    v.trim().parse().map_err(|_| {
                        bad(
                            "CONFAB_METRICS_BIND",
                            format!("not a socket address: {v:?} (expected e.g. 127.0.0.1:9464)"),
                        )
                    })
                })
                .transpose()?,
            token: match var("CONFAB_METRICS_TOKEN") {
                Some(t) if t.trim().len() < 16 => {
                    return Err(bad("CONFAB_METRICS_TOKEN", "must be at least 16 characters"));
                }
                t => t.map(|t| t.trim().to_owned()),
            },
        };

        let public_url = match var("CONFAB_PUBLIC_URL") {
            Some(v) => parse_public_url(&v).map_err(|m| bad("CONFAB_PUBLIC_URL", m))?,
            None => format!("http://{bind}"),
        };

        let data_dir = PathBuf::from(var("CONFAB_DATA_DIR").unwrap_or_else(|| "./data".into()));

        let database_url = match var("DATABASE_URL") {
            Some(v) => DatabaseUrl::parse(v.trim()).map_err(|m| bad("DATABASE_URL", m))?,
            None => DatabaseUrl::Sqlite(data_dir.join("confab.db")),
        };

        let db_pool_size = parse_num(&var, "CONFAB_DB_POOL_SIZE", 16u32, 1, 1024)?;
        let defaults = DbTimeouts::default();
        let millis = |name: &'static str, default: Duration| {
            parse_num(&var, name, default.as_millis() as u64, 0, 86_400_000).map(Duration::from_millis)
        };
        let db_timeouts = DbTimeouts {
            statement: millis("CONFAB_DB_STATEMENT_TIMEOUT_MS", defaults.statement)?,
            lock: millis("CONFAB_DB_LOCK_TIMEOUT_MS", defaults.lock)?,
            idle_in_transaction: millis(
                "CONFAB_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
                defaults.idle_in_transaction,
            )?,
        };
        let default_workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = parse_num(&var, "CONFAB_WORKERS", default_workers, 1, 1024)?;

        let bootstrap_account = match (var("CONFAB_ACCOUNT_SID"), var("CONFAB_AUTH_TOKEN")) {
            (Some(sid), Some(token)) => {
                let sid = sid.trim().to_string();
                if !SidKind::Account.matches(&sid) {
                    return Err(bad("CONFAB_ACCOUNT_SID", "expected AC followed by 32 hex digits"));
                }
                if token.len() < 8 {
                    return Err(bad("CONFAB_AUTH_TOKEN", "must be at least 8 characters"));
                }
                Some((sid, token))
            }
            (Some(_), None) => {
                return Err(bad("CONFAB_AUTH_TOKEN", "must be set together with CONFAB_ACCOUNT_SID"));
            }
            (None, Some(_)) => {
                return Err(bad("CONFAB_ACCOUNT_SID", "must be set together with CONFAB_AUTH_TOKEN"));
            }
            (None, None) => None,
        };

        let log_format = match var("CONFAB_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad("CONFAB_LOG_FORMAT", format!("expected json or pretty, got {other:?}")));
            }
        };

        let auth_cache_ttl =
            Duration::from_secs(parse_num(&var, "CONFAB_AUTH_CACHE_TTL_SECS", 300u64, 0, 86_400)?);
        let body_timeout = Duration::from_secs(parse_num(&var, "CONFAB_BODY_TIMEOUT_SECS", 30u64, 1, 3_600)?);
        let rate_limit_user = Rate::new(
            parse_num(&var, "CONFAB_RATE_LIMIT_USER_PER_SEC", 100u32, 0, 1_000_000)?,
            parse_num(&var, "CONFAB_RATE_LIMIT_USER_BURST", 300u32, 1, 1_000_000)?,
        );
        let rate_limit_account = Rate::new(
            parse_num(&var, "CONFAB_RATE_LIMIT_ACCOUNT_PER_SEC", 0u32, 0, 1_000_000)?,
            parse_num(&var, "CONFAB_RATE_LIMIT_ACCOUNT_BURST", 1_000u32, 1, 1_000_000)?,
        );
        let timers_interval =
            Duration::from_secs(parse_num(&var, "CONFAB_TIMERS_INTERVAL_SECS", 30u64, 1, 86_400)?);
        let event_retention =
            Duration::from_secs(parse_num(&var, "CONFAB_EVENT_RETENTION_SECS", 86_400u64, 60, 30 * 86_400)?);
        let stream_recheck =
            Duration::from_secs(parse_num(&var, "CONFAB_STREAM_RECHECK_SECS", 30u64, 1, 3_600)?);
        let stream = StreamConfig {
            poll: Duration::from_millis(parse_num(&var, "CONFAB_STREAM_POLL_MS", 1_000u64, 50, 60_000)?),
            queue_frames: parse_num(&var, "CONFAB_STREAM_QUEUE_FRAMES", 1_024usize, 16, 1 << 16)?,
            queue_bytes: parse_num(&var, "CONFAB_STREAM_QUEUE_BYTES", 4usize << 20, 64 << 10, 256 << 20)?,
            announce: on_off(&var, "CONFAB_STREAM_NOTIFY")?,
        };

        let webhooks = WebhookConfig {
            rest_always: match var("CONFAB_REST_WEBHOOKS").as_deref() {
                None | Some("header") => false,
                Some("always") => true,
                Some(v) => {
                    return Err(bad("CONFAB_REST_WEBHOOKS", format!("expected header or always, got {v:?}")));
                }
            },
            allowed_hosts: AllowList::parse(
                &var("CONFAB_WEBHOOK_ALLOWED_HOSTS")
                    .map(|v| {
                        v.split(',')
                            .map(|h| h.trim().to_owned())
                            .filter(|h| !h.is_empty())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
            )
            .map_err(|m| bad("CONFAB_WEBHOOK_ALLOWED_HOSTS", m))?,
            retry_horizon: Duration::from_secs(parse_num(
                &var,
                "CONFAB_WEBHOOK_RETRY_HORIZON_SECS",
                86_400u64,
                0,
                30 * 86_400,
            )?),
            timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(1),
        };

        let background = on_off(&var, "CONFAB_BACKGROUND")?;

        let storage = match var("CONFAB_STORAGE_URL") {
            Some(v) => StorageUrl::parse(&v).map_err(|m| bad("CONFAB_STORAGE_URL", m))?,
            None => StorageUrl::File(absolute(&data_dir.join("media"))),
        };
        let master_key = var("CONFAB_MASTER_KEY").map(|v| parse_key("CONFAB_MASTER_KEY", &v)).transpose()?;
        let previous_master_keys = var("CONFAB_PREVIOUS_MASTER_KEYS")
            .map(|v| {
                v.split(',')
                    .filter(|k| !k.trim().is_empty())
                    .map(|k| parse_key("CONFAB_PREVIOUS_MASTER_KEYS", k))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let media = MediaConfig {
            storage,
            master_key,
            previous_master_keys,
            url_ttl: Duration::from_secs(parse_num(
                &var,
                "CONFAB_MEDIA_URL_TTL_SECS",
                300u64,
                1,
                7 * 86_400,
            )?),
            max_bytes: parse_num(&var, "CONFAB_MAX_MEDIA_BYTES", 157_286_400u64, 1, 1 << 40)?,
            max_per_message: parse_num(&var, "CONFAB_MAX_MEDIA_PER_MESSAGE", 10usize, 1, 1000)?,
            gc_interval: Duration::from_secs(parse_num(&var, "CONFAB_GC_INTERVAL_SECS", 30u64, 1, 86_400)?),
            gc_after: Duration::from_secs(parse_num(
                &var,
                "CONFAB_MEDIA_GC_AFTER_SECS",
                300u64,
                1,
                30 * 86_400,
            )?),
            upload_idle_timeout: Duration::from_secs(parse_num(
                &var,
                "CONFAB_UPLOAD_IDLE_TIMEOUT_SECS",
                30u64,
                1,
                3600,
            )?),
            upload_heartbeat: UPLOAD_HEARTBEAT,
            upload_min_rate: parse_num(&var, "CONFAB_UPLOAD_MIN_BYTES_PER_SEC", 4096u64, 0, 1 << 30)?,
            upload_rate_grace: Duration::from_secs(parse_num(
                &var,
                "CONFAB_UPLOAD_RATE_GRACE_SECS",
                60u64,
                0,
                3600,
            )?),
            upload_queue_timeout: Duration::from_secs(parse_num(
                &var,
                "CONFAB_UPLOAD_QUEUE_TIMEOUT_SECS",
                10u64,
                0,
                600,
            )?),
            user_uploads: parse_num(&var, "CONFAB_UPLOADS_PER_USER", 4usize, 0, 1024)?,
            user_unattached_media: parse_num(&var, "CONFAB_UNATTACHED_MEDIA_PER_USER", 100i64, 0, 1_000_000)?,
            user_unattached_bytes: parse_num(
                &var,
                "CONFAB_UNATTACHED_BYTES_PER_USER",
                1i64 << 30,
                0,
                1i64 << 50,
            )?,
        };

        Ok(Config {
            bind,
            public_url,
            database_url,
            data_dir,
            db_pool_size,
            db_timeouts,
            workers,
            bootstrap_account,
            log_format,
            hash_cost: HashCost::DEFAULT,
            auth_cache_ttl,
            body_timeout,
            rate_limit_user,
            rate_limit_account,
            timers_interval,
            event_retention,
            stream_recheck,
            stream,
            webhooks,
            background,
            media,
            metrics,
        })
    }

    /// A config for tests and tools: the given database, defaults elsewhere.
    pub fn for_database(database_url: DatabaseUrl, data_dir: &Path) -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: "http://localhost".into(),
            database_url,
            data_dir: data_dir.to_path_buf(),
            db_pool_size: 8,
            db_timeouts: DbTimeouts::default(),
            workers: 2,
            bootstrap_account: None,
            log_format: LogFormat::Pretty,
            hash_cost: HashCost::TESTING,
            auth_cache_ttl: Duration::from_secs(300),
            body_timeout: Duration::from_secs(30),
            // Tests make requests as fast as they can; the limits' own tests set them.
            rate_limit_user: None,
            rate_limit_account: None,
            timers_interval: Duration::from_secs(30),
            event_retention: Duration::from_secs(86_400),
            stream_recheck: Duration::from_secs(30),
            stream: StreamConfig::default(),
            webhooks: WebhookConfig::default(),
            background: true,
            metrics: MetricsConfig::default(),
            media: MediaConfig {
                storage: StorageUrl::Memory,
                master_key: Some([7u8; 32]),
                previous_master_keys: Vec::new(),
                url_ttl: Duration::from_secs(300),
                max_bytes: 157_286_400,
                max_per_message: 10,
                gc_interval: Duration::from_secs(30),
                gc_after: Duration::from_secs(300),
                upload_idle_timeout: Duration::from_secs(30),
                upload_heartbeat: UPLOAD_HEARTBEAT,
                upload_min_rate: 4096,
                upload_rate_grace: Duration::from_secs(60),
                upload_queue_timeout: Duration::from_secs(10),
                user_uploads: 4,
                user_unattached_media: 100,
                user_unattached_bytes: 1 << 30,
            },
        }
    }
}

/// `path` made absolute against the working directory (for file:// storage).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    }
}

fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(format!("not a usable base URL: {raw:?}"));
    }
    Ok(url.to_string())
}

/// A switch, `on` (the default) or `off`.
fn on_off(var: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match var(name).as_deref().map(str::trim) {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(bad(name, format!("expected on or off, got {other:?}"))),
    }
}

fn parse_num<T>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match var(name) {
        None => Ok(default),
        Some(v) => {
            let n: T = v.trim().parse().map_err(|_| bad(name, format!("not a number: {v:?}")))?;
            if n < min || n > max {
                return Err(bad(name, format!("must be between {min} and {max}, got {n}")));
            }
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_embedded() {
        let c = from(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.database_url, DatabaseUrl::Sqlite(PathBuf::from("./data/confab.db")));
        assert!(c.background);
        assert!(!from(&[("CONFAB_BACKGROUND", "off")]).unwrap().background);
    }

    #[test]
    fn errors_name_the_variable() {
        let e = from(&[("CONFAB_BIND", "nope")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_BIND");
        let e = from(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
        let e = from(&[("CONFAB_ACCOUNT_SID", "AC1"), ("CONFAB_AUTH_TOKEN", "long-enough")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_ACCOUNT_SID");
        let e = from(&[("CONFAB_ACCOUNT_SID", "AC1")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_AUTH_TOKEN");
        let e = from(&[("CONFAB_PUBLIC_URL", "ftp://x")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_PUBLIC_URL");
        let e = from(&[("CONFAB_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_LOG_FORMAT");
        let e = from(&[("CONFAB_BACKGROUND", "maybe")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_BACKGROUND");
        let e = from(&[("CONFAB_STORAGE_URL", "file://relative/path")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_STORAGE_URL");
        let e = from(&[("CONFAB_MASTER_KEY", "c2hvcnQ=")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_MASTER_KEY");
        let e = from(&[("CONFAB_MAX_MEDIA_BYTES", "0")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_MAX_MEDIA_BYTES");
        let e = from(&[("CONFAB_UPLOAD_MIN_BYTES_PER_SEC", "fast")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_UPLOAD_MIN_BYTES_PER_SEC");
        let e = from(&[("CONFAB_UPLOAD_RATE_GRACE_SECS", "3601")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_UPLOAD_RATE_GRACE_SECS");
        let e = from(&[("CONFAB_UPLOAD_QUEUE_TIMEOUT_SECS", "-1")]).unwrap_err();
        assert_eq!(e.var, "CONFAB_UPLOAD_QUEUE_TIMEOUT_SECS");
    }

    #[test]
    fn storage_urls() {
        assert_eq!(
            StorageUrl::parse("s3://bucket/some/prefix/").unwrap(),
            StorageUrl::S3 { bucket: "bucket".into(), prefix: "some/prefix".into() }
        );
        assert_eq!(
            StorageUrl::parse("s3://bucket").unwrap(),
            StorageUrl::S3 { bucket: "bucket".into(), prefix: "".into() }
        );
        assert_eq!(StorageUrl::parse("memory://").unwrap(), StorageUrl::Memory);
        assert_eq!(StorageUrl::parse("file:///srv/media").unwrap(), StorageUrl::File("/srv/media".into()));
        let c = from(&[]).unwrap();
        assert!(
            matches!(c.media.storage, StorageUrl::File(ref p) if p.is_absolute() && p.ends_with("data/media"))
        );
        assert_eq!(c.media.max_bytes, 150 * 1024 * 1024);
    }

    #[test]
    fn upload_pace_settings() {
        let c = from(&[]).unwrap();
        assert_eq!(c.media.upload_min_rate, 4096);
        assert_eq!(c.media.upload_rate_grace, Duration::from_secs(60));
        assert_eq!(c.media.upload_queue_timeout, Duration::from_secs(10));
        let c = from(&[
            ("CONFAB_UPLOAD_MIN_BYTES_PER_SEC", "0"),
            ("CONFAB_UPLOAD_RATE_GRACE_SECS", "5"),
            ("CONFAB_UPLOAD_QUEUE_TIMEOUT_SECS", "0"),
        ])
        .unwrap();
        assert_eq!(c.media.upload_min_rate, 0);
        assert_eq!(c.media.upload_rate_grace, Duration::from_secs(5));
        assert_eq!(c.media.upload_queue_timeout, Duration::ZERO);
    }

    #[test]
    fn stale_uploads_are_judged_by_the_idle_timeout() {
        let c = from(&[]).unwrap();
        assert_eq!(c.media.stale_upload_after(), Duration::from_secs(180));
        let c = from(&[("CONFAB_UPLOAD_IDLE_TIMEOUT_SECS", "3600")]).unwrap();
        assert_eq!(c.media.stale_upload_after(), Duration::from_secs(60 + 3600 + 90));
    }

    #[test]
    fn public_url_loses_trailing_slash_and_postgres_passwords_are_redacted() {
        let c = from(&[("CONFAB_PUBLIC_URL", "https://chat.example.com/")]).unwrap();
        assert_eq!(c.public_url, "https://chat.example.com");
        let c = from(&[("DATABASE_URL", "postgres://u:hunter2@db/confab")]).unwrap();
        assert!(!format!("{:?}", c.database_url).contains("hunter2"));
    }
}
