//! Media benchmark: upload and download MiB/s of one large file through
//! `POST /v1/Services/{IS}/Media` and `GET …/Media/{ME}/Content` (Basic auth
//! and the temporary URL), against baselines measured in the same run on the
//! same disk (a plain file copy, `openssl speed -evp aes-256-gcm`), and the
//! server's peak resident memory while it streams.
//!
//!     cargo bench --bench media
//!     cargo bench --bench media -- --size-mib 64 --repeat 1 --skip-parallel
//!
//! Options: --size-mib N (default 150, the default media limit), --repeat N
//! (3; the median is reported), --parallel N (4 concurrent transfers for the
//! memory check), --skip-parallel, --openssl-seconds N (3, openssl's own
//! default), --skip-openssl, --dir PATH (where the work folder goes; default
//! the system temp dir), --server-wrapper "CMD ARGS" (prefix for the server
//! process, e.g. "perf record -e cpu-clock -g -o /tmp/perf.data --").
//! Figures go to stdout as Markdown tables.
//!
//! Memory: peak resident set (`VmHWM` in `/proc/<pid>/status`) of the server
//! process. Before each phase the peak is reset to the current RSS (writing
//! `5` to `/proc/<pid>/clear_refs`), so a phase's rise is its own peak over
//! what the server held when it started.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::join_all;
use sha2::{Digest, Sha256};

const ACCOUNT: &str = "ACbe4c0000000000000000000000000000";
const TOKEN: &str = "bench-auth-token-0123456789";
const MIB: f64 = 1024.0 * 1024.0;
/// Read size of the client's upload stream and of the copy baseline.
const IO_CHUNK: usize = 64 * 1024;
/// Generous: a 150 MiB transfer under a profiler can take a while.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(900);

struct Opts {
    size: u64,
    repeat: usize,
    parallel: usize,
    openssl_seconds: Option<u32>,
    dir: Option<PathBuf>,
    /// Command prefix for the server, e.g. `perf record -g --` for profiling.
    wrapper: Vec<String>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        size: 150 << 20,
        repeat: 3,
        parallel: 4,
        openssl_seconds: Some(3),
        dir: None,
        wrapper: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--size-mib" => o.size = val().parse::<u64>().expect("--size-mib N") << 20,
            "--repeat" => o.repeat = val().parse::<usize>().expect("--repeat N").max(1),
            "--parallel" => o.parallel = val().parse().expect("--parallel N"),
            "--skip-parallel" => o.parallel = 0,
            "--openssl-seconds" => o.openssl_seconds = Some(val().parse().expect("--openssl-seconds N")),
            "--skip-openssl" => o.openssl_seconds = None,
            "--dir" => o.dir = Some(PathBuf::from(val())),
            "--server-wrapper" => o.wrapper = val().split_whitespace().map(str::to_owned).collect(),
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Flushes dirty pages (outside any timing), so a phase does not pay for
/// the writeback of the one before: the server does not fsync its objects.
fn settle() {
    let _ = Command::new("sync").status();
}

/// Writes everything out, then drops from the page cache the files this run
/// wrote under `dir` (1 MiB or more), all but `keep` (the source file, read
/// by every copy and upload). Each write phase then starts from the same
/// page cache: on these VMs, writes into page-cache pages the run has not
/// used before get slower as a run's files pile up (a 150 MiB new-file
/// write fell from 1,220 to 430 MiB/s by the third one, and to ~210 in the
/// benchmark), which says nothing about the program doing the writing.
fn settle_and_evict(dir: &Path, keep: &Path) {
    settle();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let (path, Ok(meta)) = (entry.path(), entry.metadata()) else { continue };
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() && meta.len() >= 1 << 20 && path != keep {
                evict(&path);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn evict(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(file) = std::fs::File::open(path) {
        // SAFETY: an advisory syscall on a descriptor we own.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

#[cfg(not(target_os = "linux"))]
fn evict(_path: &Path) {}

fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB / elapsed.as_secs_f64()
}

// ---------------------------------------------------------------- server

/// A confab server process on a free port with its own database and data dir.
struct Server {
    child: Child,
    /// The confab process itself (the child, or its descendant under a wrapper).
    pid: u32,
    base: String,
    dir: PathBuf,
}

impl Drop for Server {
    /// SIGINT to confab itself first, so it shuts down cleanly and a wrapper
    /// (perf, strace, heaptrack) sees it exit; then to the wrapper.
    fn drop(&mut self) {
        let wrapper = self.child.id();
        let mut targets = vec![self.pid];
        if wrapper != self.pid {
            targets.push(wrapper);
        }
        for pid in targets {
            let _ = Command::new("kill").arg("-INT").arg(pid.to_string()).status();
            for _ in 0..300 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                if pid != wrapper && !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The process running the confab binary: `root` or one of its descendants.
fn confab_pid(root: u32) -> Option<u32> {
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_confab")).ok()?;
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        if std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe) {
            return Some(pid);
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.flatten() {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                queue.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
            }
        }
    }
    None
}

fn start_server(dir: &Path, wrapper: &[String]) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("confab.log")).unwrap();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_confab"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_confab")),
    };
    let child = command
        .env("CONFAB_BIND", format!("127.0.0.1:{port}"))
        .env("CONFAB_PUBLIC_URL", &base)
        .env("CONFAB_DATA_DIR", dir)
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("bench.db").display()))
        .env("CONFAB_ACCOUNT_SID", ACCOUNT)
        .env("CONFAB_AUTH_TOKEN", TOKEN)
        .env_remove("CONFAB_STORAGE_URL") // the default: <data dir>/media, on this disk
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start confab");
    let mut server = Server { pid: child.id(), child, base, dir: dir.to_owned() };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            server.pid = confab_pid(server.child.id()).expect("the confab process");
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("confab did not start; see its log in {}", server.dir.display());
}

// ---------------------------------------------------------------- /proc

/// A `kB` line of `/proc/<pid>/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets VmHWM to the current RSS; false if the kernel refuses.
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// User + system CPU seconds of a process (all its threads).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(14) + ticks(15)) / 100.0 // USER_HZ
}

/// One measured phase: wall time, server peak rise, and CPU use.
struct Phase {
    mib_s: f64,
    rss_before: f64,
    hwm_after: f64,
    /// Peak over the RSS at the start of the phase, MiB.
    rise: f64,
    server_cpu: f64,
    client_cpu: f64,
}

struct Meter {
    pid: u32,
    resettable: bool,
    rss_before: f64,
    hwm_before: f64,
    server_cpu: f64,
    client_cpu: f64,
    started: Instant,
}

impl Meter {
    fn start(pid: u32) -> Meter {
        let resettable = reset_peak(pid);
        Meter {
            pid,
            resettable,
            rss_before: status_mib(pid, "VmRSS"),
            hwm_before: status_mib(pid, "VmHWM"),
            server_cpu: cpu_seconds(&pid.to_string()),
            client_cpu: cpu_seconds("self"),
            started: Instant::now(),
        }
    }

    fn stop(self, bytes: u64) -> Phase {
        let elapsed = self.started.elapsed();
        let hwm_after = status_mib(self.pid, "VmHWM");
        let wall = elapsed.as_secs_f64();
        Phase {
            mib_s: mib_per_s(bytes, elapsed),
            rss_before: self.rss_before,
            hwm_after,
            // Without a reset, only a rise over the earlier peak shows.
            rise: hwm_after - if self.resettable { self.rss_before } else { self.hwm_before },
            server_cpu: (cpu_seconds(&self.pid.to_string()) - self.server_cpu) / wall * 100.0,
            client_cpu: (cpu_seconds("self") - self.client_cpu) / wall * 100.0,
        }
    }
}

// ---------------------------------------------------------------- baselines

/// Writes `size` pseudo-random (incompressible) bytes; returns their SHA-256.
fn make_file(path: &Path, size: u64) -> String {
    let mut file = std::fs::File::create(path).unwrap();
    let mut hasher = Sha256::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).unwrap();
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    file.sync_all().unwrap();
    hex(&hasher.finalize())
}

/// A read/write loop in 64 KiB pieces into a new file, then (optionally) fsync.
fn copy_file(from: &Path, to: &Path, fsync: bool) -> f64 {
    let started = Instant::now();
    let mut src = std::fs::File::open(from).unwrap();
    let mut dst = std::fs::File::create(to).unwrap();
    let mut buf = vec![0u8; IO_CHUNK];
    let mut total = 0u64;
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).unwrap();
        total += n as u64;
    }
    if fsync {
        dst.sync_all().unwrap();
    }
    mib_per_s(total, started.elapsed())
}

/// `openssl speed -evp aes-256-gcm`: the 16384-byte column, in MB/s (10^6).
fn openssl_speed(seconds: u32) -> Result<f64, String> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "-evp", "aes-256-gcm"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("openssl not available ({e})"))?;
    if !out.status.success() {
        return Err(format!("openssl speed failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // type             16 bytes     64 bytes … 16384 bytes
    // AES-256-GCM      44969.02k   176728.77k … 4112036.46k   (1000s of bytes per second)
    let header = text.lines().find(|l| l.starts_with("type")).ok_or("no table in openssl's output")?;
    let sizes: Vec<&str> = header.split_whitespace().filter(|w| w.parse::<u64>().is_ok()).collect();
    let index = sizes.iter().position(|s| *s == "16384").ok_or("no 16384-byte column in openssl's output")?;
    let row = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("aes-256-gcm"))
        .ok_or("no AES-256-GCM row in openssl's output")?;
    let values: Vec<&str> = row.split_whitespace().filter(|w| w.ends_with('k')).collect();
    let kilo = values
        .get(index)
        .and_then(|v| v.trim_end_matches('k').parse::<f64>().ok())
        .ok_or("unreadable AES-256-GCM figure")?;
    Ok(kilo / 1000.0)
}

/// What the server's CPU work per byte costs alone, on one core: sealing
/// 64 KiB chunks with the `aes-gcm` crate (GHASH included; nothing else
/// passes over an upload's bytes in user space but one copy).
fn crate_aes_speed() -> f64 {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use aes_gcm::{Aes256Gcm, Key, Nonce};
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from([7u8; 32]));
    let mut chunk = vec![0x5au8; 64 * 1024];
    let rounds = 2048u64; // 128 MiB
    let started = Instant::now();
    for i in 0..rounds {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&i.to_be_bytes());
        let tag =
            cipher.encrypt_inout_detached(&Nonce::from(nonce), b"aad", chunk.as_mut_slice().into()).unwrap();
        std::hint::black_box(&tag);
    }
    mib_per_s(rounds * chunk.len() as u64, started.elapsed())
}

// ---------------------------------------------------------------- HTTP

fn auth_header() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}")))
}

fn client(auth: bool) -> awc::Client {
    let builder = awc::Client::builder()
        .connector(awc::Connector::new().limit(32))
        .timeout(TRANSFER_TIMEOUT)
        .disable_redirects();
    if auth { builder.add_default_header(("Authorization", auth_header())) } else { builder }.finish()
}

/// The file as a request body, read by its own thread 64 KiB at a time and
/// handed over through a short queue: never more than a few pieces in memory.
fn file_body(path: &Path) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            let mut buf = vec![0u8; IO_CHUNK];
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// Uploads the file; returns the media JSON.
async fn upload(
    client: &awc::Client,
    base: &str,
    service: &str,
    path: &Path,
    name: String,
) -> serde_json::Value {
    let size = std::fs::metadata(path).unwrap().len();
    let body = awc::body::SizedStream::new(size, file_body(path));
    let mut res = client
        .post(format!("{base}/v1/Services/{service}/Media?Filename={name}"))
        .insert_header(("Content-Type", "application/octet-stream"))
        .send_body(body)
        .await
        .expect("upload");
    let status = res.status();
    let body = res.body().limit(1 << 20).await.expect("upload response");
    assert_eq!(status, 201, "upload answered {status}: {}", String::from_utf8_lossy(&body));
    let media: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(media["size"].as_u64(), Some(size), "{media}");
    media
}

/// Downloads, discarding the bytes while hashing them; returns (bytes, SHA-256).
async fn download(client: &awc::Client, url: &str) -> (u64, String) {
    let mut res = client.get(url).send().await.expect("download");
    assert_eq!(res.status(), 200, "download of {url}");
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    while let Some(chunk) = res.next().await {
        let chunk = chunk.expect("download body");
        total += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (total, hex(&hasher.finalize()))
}

async fn fetch_media(client: &awc::Client, base: &str, service: &str, sid: &str) -> serde_json::Value {
    let mut res = client.get(format!("{base}/v1/Services/{service}/Media/{sid}")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn temporary_url(media: &serde_json::Value) -> String {
    media["links"]["content_direct_temporary"].as_str().expect("links.content_direct_temporary").to_owned()
}

// ---------------------------------------------------------------- run

fn main() {
    let opts = parse_args();
    actix_web::rt::System::new().block_on(run(opts));
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

async fn run(opts: Opts) {
    let parent = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new().prefix("confab-media-bench").tempdir_in(&parent).unwrap();
    let size = opts.size;
    let size_mib = size as f64 / MIB;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# Confab media benchmark\n");
    println!(
        "machine: {cpus} CPUs ({}); file {size_mib:.0} MiB ({size} bytes); {} runs, median; work dir {}\n",
        cpu_model(),
        opts.repeat,
        work.path().display()
    );

    let source = work.path().join("source.bin");
    let sha = make_file(&source, size);

    // Baselines, on the same disk. The copies are new files kept to the end
    // of the run, as the server keeps its objects: page-cache pages never
    // written before can cost far more than pages of a file just deleted (a
    // VM's first touch), and the server gets the former. The copy that every
    // ratio divides by runs right before each upload, so both meet the same
    // page cache: on this machine new-file writes slow down as a run's files
    // pile up (1,220 → 430 MiB/s by the third 150 MiB file), and copies made
    // all up front flattered the baseline against the later uploads.
    let copy_to = |name: String, fsync: bool| {
        settle_and_evict(work.path(), &source);
        copy_file(&source, &work.path().join(name), fsync)
    };
    let copies_nosync: Vec<f64> =
        (0..opts.repeat).map(|i| copy_to(format!("copy-nosync-{i}.bin"), false)).collect();
    // For comparison: the same copy over and over, deleted each time.
    let recycled: Vec<f64> = (0..opts.repeat)
        .map(|_| {
            let rate = copy_to("copy-recycled.bin".into(), true);
            std::fs::remove_file(work.path().join("copy-recycled.bin")).unwrap();
            rate
        })
        .collect();
    settle();
    let openssl = opts.openssl_seconds.map(openssl_speed);
    let crate_aes = crate_aes_speed();

    let server = start_server(&work.path().join("server"), &opts.wrapper);
    let authed = client(true);
    let anonymous = client(false);
    let base = server.base.clone();
    let mut res = authed.get(format!("{base}/v1/Configuration")).send().await.unwrap();
    let cfg: serde_json::Value = res.json().await.unwrap();
    let service = cfg["default_chat_service_sid"].as_str().unwrap().to_owned();

    // Warm-up: a small upload and both downloads (threads, pools, caches).
    let small = work.path().join("small.bin");
    let small_sha = make_file(&small, 1 << 20);
    let media = upload(&authed, &base, &service, &small, "warmup.bin".into()).await;
    let sid = media["sid"].as_str().unwrap().to_owned();
    let content = format!("{base}/v1/Services/{service}/Media/{sid}/Content");
    assert_eq!(download(&authed, &content).await.1, small_sha);
    assert_eq!(download(&anonymous, &temporary_url(&media)).await.1, small_sha);
    std::fs::remove_file(&small).unwrap();

    let pid = server.pid;
    let rss0 = status_mib(pid, "VmRSS");
    let hwm0 = status_mib(pid, "VmHWM");
    let resettable = reset_peak(pid);
    println!(
        "\nserver pid {pid}: after warm-up VmRSS {rss0:.1} MiB, VmHWM {hwm0:.1} MiB{}\n",
        if resettable { "" } else { " (clear_refs refused: rises are over the earlier peak)" }
    );

    let mut uploads = Vec::new();
    let mut basic = Vec::new();
    let mut temporary = Vec::new();
    let (mut first_reads, mut second_reads) = (Vec::new(), Vec::new());
    let mut copies = Vec::new();
    for run in 0..opts.repeat {
        copies.push(copy_to(format!("copy-{run}.bin"), true));
        settle_and_evict(work.path(), &source);
        let meter = Meter::start(pid);
        let media = upload(&authed, &base, &service, &source, format!("bench-{run}.bin")).await;
        uploads.push(meter.stop(size));
        settle();
        let sid = media["sid"].as_str().unwrap().to_owned();

        // Both kinds of download, alternating which goes first: the first
        // read of a just-written object is the slower one on this machine.
        let content = format!("{base}/v1/Services/{service}/Media/{sid}/Content");
        for kind in if run % 2 == 0 { [false, true] } else { [true, false] } {
            let (client, url) = if kind {
                // A fresh temporary URL (they expire), fetched outside the timing.
                (&anonymous, temporary_url(&fetch_media(&authed, &base, &service, &sid).await))
            } else {
                (&authed, content.clone())
            };
            let meter = Meter::start(pid);
            let (n, digest) = download(client, &url).await;
            let phase = meter.stop(n);
            assert_eq!((n, digest.as_str()), (size, sha.as_str()), "download of {url} differs");
            let position = if first_reads.len() == run { &mut first_reads } else { &mut second_reads };
            position.push(phase.mib_s);
            if kind { temporary.push(phase) } else { basic.push(phase) }
        }
    }
    let copy = median(&copies);
    let hwm_seq = status_mib(pid, "VmHWM");
    let rss_seq = status_mib(pid, "VmRSS");
    let seq_peak =
        max(&uploads.iter().chain(&basic).chain(&temporary).map(|p| p.hwm_after).collect::<Vec<_>>());

    let mut parallel = Vec::new();
    if opts.parallel > 0 {
        let n = opts.parallel;
        settle_and_evict(work.path(), &source);
        let meter = Meter::start(pid);
        let medias =
            join_all((0..n).map(|i| upload(&authed, &base, &service, &source, format!("parallel-{i}.bin"))))
                .await;
        parallel.push((format!("{n} uploads at once"), meter.stop(size * n as u64)));
        settle();
        let urls: Vec<String> = medias
            .iter()
            .map(|m| format!("{base}/v1/Services/{service}/Media/{}/Content", m["sid"].as_str().unwrap()))
            .collect();
        let meter = Meter::start(pid);
        let results = join_all(urls.iter().map(|u| download(&authed, u))).await;
        let total: u64 = results.iter().map(|r| r.0).sum();
        parallel.push((format!("{n} downloads at once (Basic auth)"), meter.stop(total)));
        for (bytes, digest) in results {
            assert_eq!((bytes, digest.as_str()), (size, sha.as_str()), "parallel download differs");
        }
    }
    let rss_end = status_mib(pid, "VmRSS");

    let runs = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" / ");
    println!("## Baselines\n");
    println!("| baseline | runs MiB/s | median MiB/s |");
    println!("|---|---|---|");
    println!(
        "| **copy** {size_mib:.0} MiB to a new file, 64 KiB read/write + fsync (before each upload) | {} | **{copy:.0}** |",
        runs(&copies)
    );
    println!(
        "| copy to a new file, no fsync (page cache only) | {} | {:.0} |",
        runs(&copies_nosync),
        median(&copies_nosync)
    );
    println!(
        "| copy + fsync over a file deleted just before (recycled page cache) | {} | {:.0} |",
        runs(&recycled),
        median(&recycled)
    );
    match &openssl {
        Some(Ok(mb)) => println!(
            "| `openssl speed -evp aes-256-gcm`, 16384-byte blocks, 1 core | {mb:.0} MB/s | {:.0} |",
            mb * 1e6 / MIB
        ),
        Some(Err(e)) => println!("| `openssl speed -evp aes-256-gcm` | {e} | – |"),
        None => println!("| `openssl speed -evp aes-256-gcm` | skipped | – |"),
    }
    println!("| `aes-gcm` crate (the server's), seal 64 KiB chunks, 1 core | – | {crate_aes:.0} |");

    println!("\n## Transfers ({size_mib:.0} MiB, SHA-256 checked on every download)\n");
    println!("| transfer | runs MiB/s | median MiB/s | ÷ copy (fsync) | server CPU % | client CPU % |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, phases: &[Phase]| {
        let rates: Vec<f64> = phases.iter().map(|p| p.mib_s).collect();
        let m = median(&rates);
        println!(
            "| {name} | {} | {m:.0} | {:.2} | {:.0} | {:.0} |",
            runs(&rates),
            m / copy,
            median(&phases.iter().map(|p| p.server_cpu).collect::<Vec<_>>()),
            median(&phases.iter().map(|p| p.client_cpu).collect::<Vec<_>>()),
        );
    };
    row("upload (POST …/Media, raw body)", &uploads);
    row("download, Basic auth (GET …/Content)", &basic);
    row("download, temporary URL", &temporary);
    for (name, rates) in
        [("download, first after its upload", &first_reads), ("download, second", &second_reads)]
    {
        println!("| {name} | {} | {:.0} | {:.2} | | |", runs(rates), median(rates), median(rates) / copy);
    }
    for (name, p) in &parallel {
        println!(
            "| {name}, aggregate | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} |",
            p.mib_s,
            p.mib_s,
            p.mib_s / copy,
            p.server_cpu,
            p.client_cpu
        );
    }

    println!("\n## Server memory (VmHWM rise over the VmRSS at the start of each phase; goal ≤ 32 MiB)\n");
    println!("| phase | VmRSS before MiB | VmHWM after MiB | rise MiB, runs | rise MiB, max |");
    println!("|---|---|---|---|---|");
    // The run with the largest rise, as measured.
    let mem = |name: &str, phases: &[Phase]| {
        let p = phases.iter().max_by(|a, b| a.rise.total_cmp(&b.rise)).unwrap();
        let rises = phases.iter().map(|p| format!("{:.1}", p.rise)).collect::<Vec<_>>().join(" / ");
        println!("| {name} | {:.1} | {:.1} | {rises} | {:.1} |", p.rss_before, p.hwm_after, p.rise);
    };
    mem("upload", &uploads);
    mem("download, Basic auth", &basic);
    mem("download, temporary URL", &temporary);
    for (name, p) in &parallel {
        println!("| {name} | {:.1} | {:.1} | {:.1} | {:.1} |", p.rss_before, p.hwm_after, p.rise, p.rise);
    }
    println!(
        "\nSequential transfers: peak VmHWM {seq_peak:.1} MiB, {:.1} MiB over the VmHWM after warm-up \
         ({hwm0:.1}); VmRSS {rss0:.1} → {rss_seq:.1} MiB (VmHWM read at the end: {hwm_seq:.1}). \
         VmRSS at the end: {rss_end:.1} MiB.",
        seq_peak - hwm0
    );
    println!(
        "\nGoals: upload ÷ copy {:.2}, download ÷ copy {:.2} / {:.2} (≥ 0.5); upload peak rise {:.1} MiB (≤ 32).",
        median(&uploads.iter().map(|p| p.mib_s).collect::<Vec<_>>()) / copy,
        median(&basic.iter().map(|p| p.mib_s).collect::<Vec<_>>()) / copy,
        median(&temporary.iter().map(|p| p.mib_s).collect::<Vec<_>>()) / copy,
        max(&uploads.iter().map(|p| p.rise).collect::<Vec<_>>()),
    );
    drop(server);
}
