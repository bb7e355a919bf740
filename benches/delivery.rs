//! Delivery benchmark: live events over `GET /v1/Events`, on SQLite and
//! PostgreSQL. 1,000 WebSocket clients (end users with access tokens)
//! spread over 50 conversations of 20 participants each; messages sent
//! through REST at a rising rate (open loop: sends go out on a timer, not
//! after the previous one answered). At each rate: sends/s achieved,
//! deliveries/s (`messageAdded` frames received per second), and the
//! latency from a send's 201 to each of its frames' receipt (p50, p99,
//! max); then the highest rate whose p99 stays under 100 ms with no frame
//! missing. Last, on a fresh server, the server's resident memory with 0
//! streams and then with each count of idle sockets.
//!
//!     cargo bench --bench delivery
//!     cargo bench --bench delivery -- --backends sqlite --rates 100,400 --duration 5 --idle 1000
//!
//! Options: --backends LIST (sqlite,postgres), --pg-url URL (an admin URL;
//! default postgres://postgres@127.0.0.1:5432/postgres), --conversations N
//! (50), --participants N (20), --rates LIST (sends per second over all
//! conversations: 50,100,200,400,800,1600; deliveries/s = rate ×
//! participants), --duration SECS per rate (10), --idle LIST (idle socket
//! counts for the memory measure: 1000,10000; 0 skips it), --threads N
//! (threads holding the sockets, each with its own actix System: 2),
//! --max-in-flight N (sends awaiting their answer before the timer skips
//! one: 256), --binary PATH (another build's `confab` to measure, e.g. the
//! previous commit's, for a same-machine comparison), --idle-wrapper CMD
//! (a program the idle-memory server runs under, e.g. `heaptrack -o
//! /tmp/confab`; its RSS figures are then the wrapper's, and a wrapper
//! that forks, as heaptrack does, leaves the server running when the bench
//! ends: stop it yourself). Figures go to stdout as Markdown tables.
//!
//! As a smoke test (`cargo test --bench delivery -- …`, see .ci/run) it
//! panics when the first (lowest) rate misses a frame, a send fails, a
//! socket cannot open, or the server logs an error or exits.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use awc::ws;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

mod support;
use support::*;

/// Marks a bench message's body: `dlv:<send id> …`.
const MARK: &[u8] = b"dlv:";
/// The latency goal, for "the highest rate with p99 under it".
const P99_GOAL_MS: f64 = 100.0;
/// After the last send answered, frames still missing are waited for
/// while they keep coming (at least one every `QUIET`), up to `DRAIN_MAX`.
const QUIET: Duration = Duration::from_secs(2);
const DRAIN_MAX: Duration = Duration::from_secs(30);

struct Opts {
    backends: Vec<String>,
    pg_url: String,
    conversations: usize,
    participants: usize,
    rates: Vec<usize>,
    duration: Duration,
    idle: Vec<usize>,
    threads: usize,
    max_in_flight: usize,
    /// The server to measure: another build's `confab` (default: this one).
    binary: Option<std::path::PathBuf>,
    /// A program the idle-memory server runs under (a heap profiler).
    idle_wrapper: Vec<String>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        backends: vec!["sqlite".into(), "postgres".into()],
        pg_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
        conversations: 50,
        participants: 20,
        rates: vec![50, 100, 200, 400, 800, 1600],
        duration: Duration::from_secs(10),
        idle: vec![1000, 10000],
        threads: 2,
        max_in_flight: 256,
        binary: None,
        idle_wrapper: Vec::new(),
    };
    let list = |v: String, what: &str| -> Vec<usize> {
        v.split(',')
            .map(|n| n.trim().parse().unwrap_or_else(|_| panic!("{what}: a list of numbers")))
            .collect()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--backends" => o.backends = val().split(',').map(str::to_owned).collect(),
            "--pg-url" => o.pg_url = val(),
            "--conversations" => o.conversations = val().parse().expect("--conversations N"),
            "--participants" => o.participants = val().parse().expect("--participants N"),
            "--rates" => o.rates = list(val(), "--rates"),
            "--duration" => o.duration = Duration::from_secs(val().parse().expect("--duration SECS")),
            "--idle" => o.idle = list(val(), "--idle").into_iter().filter(|&n| n > 0).collect(),
            "--threads" => o.threads = val().parse().expect("--threads N"),
            "--max-in-flight" => o.max_in_flight = val().parse().expect("--max-in-flight N"),
            "--binary" => o.binary = Some(val().into()),
            "--idle-wrapper" => o.idle_wrapper = val().split_whitespace().map(str::to_owned).collect(),
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown option {other}"),
        }
    }
    assert!(o.conversations > 0 && o.participants > 0 && o.threads > 0 && o.max_in_flight > 0);
    assert!(!o.rates.is_empty() && o.rates.iter().all(|&r| r > 0), "--rates: positive sends per second");
    o.idle.sort_unstable();
    o
}

/// Soft RLIMIT_NOFILE up to the hard limit, before the server is spawned
/// (it inherits the limit): 10,000 sockets need 10,000 descriptors on
/// each side.
fn raise_nofile_limit() -> u64 {
    #[cfg(target_os = "linux")]
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            if limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            }
            return limit.rlim_cur;
        }
    }
    0
}

async fn post(client: &awc::Client, url: String, form: &[(&str, &str)]) -> serde_json::Value {
    let mut res = client.post(&url).send_form(&form).await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let body = res.body().limit(1 << 20).await.unwrap_or_default();
    assert_eq!(res.status(), 201, "POST {url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// An API key of the bench account: (SID, secret).
async fn create_api_key(client: &awc::Client, base: &str) -> (String, String) {
    let body =
        post(client, format!("{base}/2010-04-01/Accounts/{ACCOUNT}/Keys.json"), &[("FriendlyName", "bench")])
            .await;
    (body["sid"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

/// The conversations, and the stream URL (`?token=`) of every participant.
struct Population {
    conversations: Vec<String>,
    stream_urls: Vec<String>,
}

/// `conversations` conversations of `participants` end users each (every
/// user in one conversation), each user with an access token.
async fn populate(base: &str, conversations: usize, participants: usize) -> Population {
    let client = client(16);
    let service = default_service(&client, base).await;
    let key = create_api_key(&client, base).await;
    let mut sids = Vec::new();
    for _ in 0..conversations {
        let body =
            post(&client, format!("{base}/v1/Conversations"), &[("FriendlyName", "delivery bench")]).await;
        sids.push(body["sid"].as_str().unwrap().to_owned());
    }
    let joins = sids.iter().enumerate().flat_map(|(c, ch)| (0..participants).map(move |p| (c, ch, p)));
    let identities: Vec<String> = futures_util::stream::iter(joins)
        .map(|(c, ch, p)| {
            let client = client.clone();
            async move {
                let identity = format!("u{c}-{p}");
                let url = format!("{base}/v1/Conversations/{ch}/Participants");
                post(&client, url, &[("Identity", identity.as_str())]).await;
                identity
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let stream_urls = identities
        .iter()
        .map(|i| format!("{base}/v1/Events?token={}", access_token(&key, i, &service)))
        .collect();
    Population { conversations: sids, stream_urls }
}

type Socket = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

/// What every socket thread adds to.
#[derive(Default)]
struct Counters {
    /// Bench frames received.
    frames: AtomicU64,
    /// Sockets that closed (or failed) after they opened; they reconnect.
    closes: AtomicU64,
}

/// (send id, receipt) of every bench frame one thread received.
type Records = Vec<(u32, Instant)>;

enum Cmd {
    /// Open a socket to each URL; the answer: how many opened, or the first error.
    Open(Vec<String>, oneshot::Sender<Result<usize, String>>),
    /// Hand over (and forget) the records so far.
    Take(oneshot::Sender<Records>),
    /// Close every socket.
    CloseAll(oneshot::Sender<()>),
}

/// The threads holding the sockets, each running its own actix System:
/// one awc thread would be busier than the server at 30,000 frames/s.
struct Sockets {
    threads: Vec<(mpsc::UnboundedSender<Cmd>, std::thread::JoinHandle<()>)>,
    counters: Arc<Counters>,
    /// Where the next socket goes (round robin over the threads).
    next: Cell<usize>,
}

impl Sockets {
    fn start(threads: usize) -> Sockets {
        let counters = Arc::new(Counters::default());
        let threads = (0..threads)
            .map(|i| {
                let (tx, rx) = mpsc::unbounded_channel();
                let counters = counters.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("sockets-{i}"))
                    .spawn(move || actix_web::rt::System::new().block_on(socket_thread(rx, counters)))
                    .unwrap();
                (tx, handle)
            })
            .collect();
        Sockets { threads, counters, next: Cell::new(0) }
    }

    /// Opens one socket per URL; returns when all are open, or panics.
    async fn open(&self, urls: &[String]) {
        let n = self.threads.len();
        let mut parts = vec![Vec::new(); n];
        for url in urls {
            parts[self.next.get() % n].push(url.clone());
            self.next.set(self.next.get() + 1);
        }
        let mut answers = Vec::new();
        for ((tx, _), part) in self.threads.iter().zip(parts) {
            let (reply, answer) = oneshot::channel();
            tx.send(Cmd::Open(part, reply)).unwrap();
            answers.push(answer);
        }
        for answer in answers {
            if let Err(e) = answer.await.unwrap() {
                panic!("a stream did not open: {e}");
            }
        }
    }

    async fn take(&self) -> Records {
        let mut all = Vec::new();
        for (tx, _) in &self.threads {
            let (reply, answer) = oneshot::channel();
            tx.send(Cmd::Take(reply)).unwrap();
            all.extend(answer.await.unwrap());
        }
        all
    }

    async fn close_all(&self) {
        for (tx, _) in &self.threads {
            let (reply, answer) = oneshot::channel();
            tx.send(Cmd::CloseAll(reply)).unwrap();
            answer.await.unwrap();
        }
    }

    fn stop(self) {
        for (tx, handle) in self.threads {
            drop(tx);
            handle.join().unwrap();
        }
    }
}

async fn socket_thread(mut rx: mpsc::UnboundedReceiver<Cmd>, counters: Arc<Counters>) {
    // No connection limit: a WebSocket holds its pool slot while it lives.
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(60))
        .finish();
    let records: Rc<RefCell<Records>> = Rc::default();
    let mut tasks: Vec<actix_web::rt::task::JoinHandle<()>> = Vec::new();
    while let Some(cmd) = rx.recv().await {
        match cmd {
            Cmd::Open(urls, reply) => {
                let opened: Rc<RefCell<Vec<actix_web::rt::task::JoinHandle<()>>>> = Rc::default();
                let error: Rc<RefCell<Option<String>>> = Rc::default();
                futures_util::stream::iter(urls)
                    .for_each_concurrent(64, |url| {
                        let (client, records, counters) = (client.clone(), records.clone(), counters.clone());
                        let (opened, error) = (opened.clone(), error.clone());
                        async move {
                            match connect(&client, &url).await {
                                Ok(socket) => opened
                                    .borrow_mut()
                                    .push(actix_web::rt::spawn(hold(client, url, socket, records, counters))),
                                Err(e) => *error.borrow_mut() = Some(e),
                            }
                        }
                    })
                    .await;
                let opened = std::mem::take(&mut *opened.borrow_mut());
                let n = opened.len();
                tasks.extend(opened);
                let _ = reply.send(match error.take() {
                    Some(e) => Err(e),
                    None => Ok(n),
                });
            }
            Cmd::Take(reply) => {
                let _ = reply.send(std::mem::take(&mut *records.borrow_mut()));
            }
            Cmd::CloseAll(reply) => {
                for task in tasks.drain(..) {
                    task.abort();
                    let _ = task.await;
                }
                let _ = reply.send(());
            }
        }
    }
    for task in tasks {
        task.abort();
    }
}

async fn connect(client: &awc::Client, url: &str) -> Result<Socket, String> {
    match client.ws(url).connect().await {
        Ok((_, socket)) => Ok(socket),
        Err(e) => Err(format!("{e}")),
    }
}

/// Reads a socket's frames for good: records each bench frame, answers
/// pings, and reconnects (without `since`: what it missed counts as
/// missing) when the server closes it.
async fn hold(
    client: awc::Client,
    url: String,
    mut socket: Socket,
    records: Rc<RefCell<Records>>,
    counters: Arc<Counters>,
) {
    loop {
        let reason = read(&mut socket, &records, &counters).await;
        let closes = counters.closes.fetch_add(1, Ordering::Relaxed);
        if closes < 5 {
            eprintln!("a stream closed ({reason}); reconnecting");
        }
        loop {
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
            if let Ok(s) = connect(&client, &url).await {
                socket = s;
                break;
            }
        }
    }
}

/// Reads until the socket closes; returns why.
async fn read(socket: &mut Socket, records: &RefCell<Records>, counters: &Counters) -> String {
    while let Some(item) = socket.next().await {
        match item {
            Ok(ws::Frame::Text(bytes)) => {
                let at = Instant::now();
                if let Some(id) = send_id(&bytes) {
                    records.borrow_mut().push((id, at));
                    counters.frames.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(ws::Frame::Ping(p)) => {
                if let Err(e) = socket.send(ws::Message::Pong(p)).await {
                    return format!("pong: {e}");
                }
            }
            Ok(ws::Frame::Close(reason)) => return format!("close frame {reason:?}"),
            Ok(_) => {}
            Err(e) => return format!("{e}"),
        }
    }
    "end of stream".into()
}

/// The send id of a bench `messageAdded` frame.
fn send_id(frame: &[u8]) -> Option<u32> {
    if !contains(frame, b"\"messageAdded\"") {
        return None;
    }
    let at = frame.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = frame[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&frame[at..at + digits]).ok()?.parse().ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the senders did at one rate.
struct Sent {
    /// The first send id; `acks[i]` belongs to `first + i`.
    first: u32,
    /// When each send's 201 arrived (`None`: failed or skipped).
    acks: Vec<Option<Instant>>,
    errors: usize,
    first_error: Option<String>,
    /// Sends skipped because `max_in_flight` sends were awaiting answers.
    skipped: usize,
    started: Instant,
    /// When the last send answered.
    finished: Instant,
}

/// Sends `rate` messages per second for `duration`, round robin over
/// `conversations`, on a timer (not after the previous one answered).
async fn send_at_rate(
    http: &awc::Client,
    base: &str,
    conversations: &[String],
    rate: usize,
    duration: Duration,
    first: u32,
    max_in_flight: usize,
) -> Sent {
    let total = ((rate as f64 * duration.as_secs_f64()).round() as usize).max(1);
    let acks: Rc<RefCell<Vec<Option<Instant>>>> = Rc::new(RefCell::new(vec![None; total]));
    let in_flight = Rc::new(Cell::new(0usize));
    let errors = Rc::new(Cell::new(0usize));
    let first_error: Rc<RefCell<Option<String>>> = Rc::default();
    let urls: Vec<Rc<str>> =
        conversations.iter().map(|ch| Rc::from(format!("{base}/v1/Conversations/{ch}/Messages"))).collect();
    let mut skipped = 0;
    let started = Instant::now();
    let mut issued = 0;
    while issued < total {
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize + 1).min(total);
        while issued < due {
            if in_flight.get() >= max_in_flight {
                skipped += 1;
            } else {
                in_flight.set(in_flight.get() + 1);
                let id = first + issued as u32;
                let (http, url, i) = (http.clone(), urls[issued % urls.len()].clone(), issued);
                let (acks, in_flight, errors, first_error) =
                    (acks.clone(), in_flight.clone(), errors.clone(), first_error.clone());
                actix_web::rt::spawn(async move {
                    let body = format!("dlv:{id} delivery bench");
                    let failure =
                        match http.post(&*url).send_form(&[("Author", "bench"), ("Body", &body)]).await {
                            Ok(mut res) => {
                                let at = Instant::now();
                                let status = res.status();
                                let body = res.body().await;
                                match (status.as_u16(), body) {
                                    (201, Ok(_)) => {
                                        acks.borrow_mut()[i] = Some(at);
                                        None
                                    }
                                    (_, body) => Some(format!("{status}: {body:?}")),
                                }
                            }
                            Err(e) => Some(format!("{e}")),
                        };
                    if let Some(f) = failure {
                        errors.set(errors.get() + 1);
                        first_error.borrow_mut().get_or_insert(f);
                    }
                    in_flight.set(in_flight.get() - 1);
                });
            }
            issued += 1;
        }
        let next = started + Duration::from_secs_f64(issued as f64 / rate as f64);
        actix_web::rt::time::sleep_until(next.into()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while in_flight.get() > 0 {
        assert!(Instant::now() < deadline, "{} sends still unanswered after 2 minutes", in_flight.get());
        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
    }
    let finished = Instant::now();
    let acks = std::mem::take(&mut *acks.borrow_mut());
    let first_error = first_error.take();
    Sent { first, acks, errors: errors.get(), first_error, skipped, started, finished }
}

/// One rate's figures.
struct Row {
    rate: usize,
    sends_per_s: f64,
    deliveries_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    expected: usize,
    received: usize,
    missing: usize,
    duplicates: usize,
    /// Frames read before their send's 201 (counted as 0 ms).
    early: usize,
    errors: usize,
    skipped: usize,
    closes: u64,
    /// CPU used over the rate's sends and drain, % of one CPU.
    server_cpu: f64,
    bench_cpu: f64,
    /// Every process's (the database's too), % of one CPU.
    machine_cpu: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn analyse(
    rate: usize,
    participants: usize,
    duration: Duration,
    sent: &Sent,
    records: &Records,
    closes: u64,
) -> Row {
    let n = sent.acks.len();
    let mut counts = vec![0usize; n];
    let mut lat_ms = Vec::with_capacity(records.len());
    let mut early = 0;
    let mut last = sent.started;
    for &(id, at) in records {
        let Some(i) = id.checked_sub(sent.first).map(|i| i as usize).filter(|&i| i < n) else {
            continue; // a late frame of an earlier rate
        };
        counts[i] += 1;
        last = last.max(at);
        if let Some(ack) = sent.acks[i] {
            match at.checked_duration_since(ack) {
                Some(d) => lat_ms.push(d.as_secs_f64() * 1000.0),
                None => {
                    early += 1;
                    lat_ms.push(0.0);
                }
            }
        }
    }
    let acked: Vec<usize> = (0..n).filter(|&i| sent.acks[i].is_some()).collect();
    let missing = acked.iter().map(|&i| participants.saturating_sub(counts[i])).sum();
    let duplicates = counts.iter().map(|&c| c.saturating_sub(participants)).sum();
    let received: usize = counts.iter().sum();
    lat_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Over the rate's period, or longer when the answers or frames came later.
    let send_secs = sent.finished.duration_since(sent.started).max(duration).as_secs_f64();
    let delivery_secs = last.duration_since(sent.started).max(duration).as_secs_f64();
    Row {
        rate,
        sends_per_s: acked.len() as f64 / send_secs,
        deliveries_per_s: received as f64 / delivery_secs,
        p50_ms: percentile(&lat_ms, 0.50),
        p99_ms: percentile(&lat_ms, 0.99),
        max_ms: lat_ms.last().copied().unwrap_or(f64::NAN),
        expected: acked.len() * participants,
        received,
        missing,
        duplicates,
        early,
        errors: sent.errors,
        skipped: sent.skipped,
        closes,
        server_cpu: 0.0,
        bench_cpu: 0.0,
        machine_cpu: 0.0,
    }
}

/// Sends at `rate` for `duration`, waits for the frames, and measures.
async fn measure_rate(
    http: &awc::Client,
    server: &mut Server,
    sockets: &Sockets,
    conversations: &[String],
    participants: usize,
    (rate, duration, max_in_flight): (usize, Duration, usize),
    next_id: &mut u32,
) -> Row {
    let frames_before = sockets.counters.frames.load(Ordering::Relaxed);
    let cpu_before =
        (Instant::now(), cpu_ticks(Some(server.child.id())), cpu_ticks(None), machine_busy_ticks());
    let closes_before = sockets.counters.closes.load(Ordering::Relaxed);
    let sent = send_at_rate(http, &server.base, conversations, rate, duration, *next_id, max_in_flight).await;
    *next_id += sent.acks.len() as u32;
    if let Some(e) = &sent.first_error {
        eprintln!("rate {rate}: {} sends failed; the first: {e}", sent.errors);
    }
    // Wait for the frames while they keep coming.
    let expected = (sent.acks.iter().filter(|a| a.is_some()).count() * participants) as u64;
    let drain_start = Instant::now();
    let (mut seen, mut progress) = (0, Instant::now());
    loop {
        let got = sockets.counters.frames.load(Ordering::Relaxed) - frames_before;
        if got >= expected || progress.elapsed() > QUIET || drain_start.elapsed() > DRAIN_MAX {
            break;
        }
        if got > seen {
            (seen, progress) = (got, Instant::now());
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    server.assert_alive();
    let records = sockets.take().await;
    let closes = sockets.counters.closes.load(Ordering::Relaxed) - closes_before;
    let mut row = analyse(rate, participants, duration, &sent, &records, closes);
    let percent =
        |ticks: u64| ticks as f64 / ticks_per_second() / cpu_before.0.elapsed().as_secs_f64() * 100.0;
    row.server_cpu = percent(cpu_ticks(Some(server.child.id())) - cpu_before.1);
    row.bench_cpu = percent(cpu_ticks(None) - cpu_before.2);
    row.machine_cpu = percent(machine_busy_ticks() - cpu_before.3);
    row
}

/// The memory figures: RSS with 0 streams, then with each count open.
struct Memory {
    base_kib: u64,
    base_fds: usize,
    /// (sockets, RSS KiB, server file descriptors)
    points: Vec<(usize, u64, usize)>,
}

/// A fresh server: RSS after a warm-up with no stream open, then with
/// each count of idle end-user sockets (opened on top of the last count).
async fn measure_idle(database_url: &str, opts: &Opts, sockets: &Sockets) -> (Memory, Vec<String>) {
    let wrapper = &opts.idle_wrapper;
    // A wrapped server is this build's (the wrapper is given its path).
    let binary = if wrapper.is_empty() { opts.binary.as_deref() } else { None };
    let mut server = start_server(database_url, wrapper, binary, &[("CONFAB_LOG_FORMAT", "json")]);
    let closes_before = sockets.counters.closes.load(Ordering::Relaxed);
    let population = populate(&server.base, opts.conversations, opts.participants).await;
    // Warm-up: a request and a few streams opened and closed.
    let _ = default_service(&client(1), &server.base).await;
    let warm: Vec<String> = population.stream_urls.iter().take(8).cloned().collect();
    sockets.open(&warm).await;
    sockets.close_all().await;
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    let (base_kib, base_fds) = (server.rss_kib(), server.fds());
    let mut points = Vec::new();
    let mut open = 0;
    for &n in &opts.idle {
        let urls: Vec<String> =
            (open..n).map(|i| population.stream_urls[i % population.stream_urls.len()].clone()).collect();
        let t = Instant::now();
        sockets.open(&urls).await;
        eprintln!("{n} idle streams open ({} opened in {:.1} s)", urls.len(), t.elapsed().as_secs_f64());
        open = n;
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        server.assert_alive();
        let fds = server.fds();
        assert!(
            // (A wrapper's descriptors are not the server's.)
            !wrapper.is_empty() || fds >= base_fds + n,
            "{n} streams open, but the server holds {fds} descriptors ({base_fds} before)"
        );
        points.push((n, server.rss_kib(), fds));
    }
    let closes = sockets.counters.closes.load(Ordering::Relaxed) - closes_before;
    assert_eq!(closes, 0, "{closes} idle streams closed");
    sockets.close_all().await;
    let errors = server.logged_errors();
    drop(server);
    (Memory { base_kib, base_fds, points }, errors)
}

fn fmt_ms(ms: f64) -> String {
    if ms.is_nan() { "–".into() } else { format!("{ms:.1}") }
}

fn main() {
    let opts = parse_args();
    let nofile = raise_nofile_limit();
    let needed = opts.idle.iter().copied().max().unwrap_or(0).max(opts.conversations * opts.participants);
    if nofile != 0 && (nofile as usize) < needed + 100 {
        eprintln!("warning: RLIMIT_NOFILE is {nofile}, below the {needed} sockets asked for");
    }
    actix_web::rt::System::new().block_on(run(opts, nofile));
}

async fn run(opts: Opts, nofile: u64) {
    let work = tempfile::tempdir().unwrap();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let users = opts.conversations * opts.participants;
    println!("# Confab delivery benchmark\n");
    println!(
        "machine: {cpus} CPUs (server and load generator); {users} WebSocket clients \
         (end users, `?token=`) over {} conversations of {} participants, on {} client \
         threads; {}s per rate, open loop (at most {} sends in flight), after a 1 s \
         warm-up; RLIMIT_NOFILE {nofile}\n",
        opts.conversations,
        opts.participants,
        opts.threads,
        opts.duration.as_secs(),
        opts.max_in_flight,
    );
    println!(
        "latency: from a send's 201 to each of its frames' receipt (a frame read before \
         the 201 counts as 0 ms: `early`); sends/s and deliveries/s: 201s and frames \
         received ÷ the rate's period (or the time from its first send to its last answer \
         or frame, when longer); missing: frames not received {} s after the last one (or \
         {} s after the last send's answer); CPU %: of one CPU, over the rate's sends and \
         drain; machine: every process, the database's too ({cpus} CPUs: {}% is all)\n",
        QUIET.as_secs(),
        DRAIN_MAX.as_secs(),
        cpus * 100
    );
    let mut summaries = Vec::new();
    for backend in &opts.backends {
        let database = |name: &str| match backend.as_str() {
            "sqlite" => (format!("sqlite://{}", work.path().join(format!("{name}.db")).display()), None),
            "postgres" => (fresh_pg_database(&opts.pg_url, name), Some(name.to_owned())),
            other => panic!("unknown backend {other}"),
        };
        let sockets = Sockets::start(opts.threads);

        // Delivery at each rate.
        let (database_url, pg_name) = database("confab_bench_delivery");
        let mut server =
            start_server(&database_url, &[], opts.binary.as_deref(), &[("CONFAB_LOG_FORMAT", "json")]);
        let t = Instant::now();
        let population = populate(&server.base, opts.conversations, opts.participants).await;
        sockets.open(&population.stream_urls).await;
        eprintln!(
            "{backend}: {} conversations, {users} streams open in {:.1} s",
            opts.conversations,
            t.elapsed().as_secs_f64()
        );
        let http = client(opts.max_in_flight);
        let mut next_id = 0;
        let config = |rate, duration| (rate, duration, opts.max_in_flight);
        let warm_up = config(opts.rates[0], Duration::from_secs(1));
        let (conversations, participants) = (&population.conversations, opts.participants);
        let w =
            measure_rate(&http, &mut server, &sockets, conversations, participants, warm_up, &mut next_id)
                .await;
        eprintln!("{backend}: warm-up: {} of {} frames, p99 {} ms", w.received, w.expected, fmt_ms(w.p99_ms));
        println!("## {backend}\n");
        println!(
            "| rate (sends/s) | sends/s | deliveries/s | p50 ms | p99 ms | max ms | frames \
             | missing | duplicates | early | send errors | skipped (in-flight cap) \
             | socket closes | server CPU % | bench CPU % | machine CPU % |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for &rate in &opts.rates {
            let point = config(rate, opts.duration);
            let r =
                measure_rate(&http, &mut server, &sockets, conversations, participants, point, &mut next_id)
                    .await;
            println!(
                "| {} | {:.0} | {:.0} | {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} \
                 | {:.0} | {:.0} | {:.0} |",
                r.rate,
                r.sends_per_s,
                r.deliveries_per_s,
                fmt_ms(r.p50_ms),
                fmt_ms(r.p99_ms),
                fmt_ms(r.max_ms),
                r.received,
                r.expected,
                r.missing,
                r.duplicates,
                r.early,
                r.errors,
                r.skipped,
                r.closes,
                r.server_cpu,
                r.bench_cpu,
                r.machine_cpu
            );
            let _ = std::io::stdout().flush();
            rows.push(r);
            actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        }
        sockets.close_all().await;
        let errors = server.logged_errors();
        drop(server);
        if let Some(name) = &pg_name {
            drop_pg_database(&opts.pg_url, name);
        }
        // The smoke test's teeth: the lowest rate must deliver everything.
        let low = &rows[0];
        assert!(
            low.errors == 0 && low.missing == 0 && low.duplicates == 0 && low.expected > 0,
            "{backend}: at {} sends/s: {} send errors, {} of {} frames missing, {} duplicates",
            low.rate,
            low.errors,
            low.missing,
            low.expected,
            low.duplicates
        );
        assert!(errors.is_empty(), "{backend}: the server logged errors:\n{}", errors.join("\n"));
        let best = rows
            .iter()
            .filter(|r| r.p99_ms < P99_GOAL_MS && r.missing == 0 && r.errors == 0 && r.skipped == 0)
            .max_by_key(|r| r.rate);
        let mut summary = match best {
            Some(r) => format!(
                "{backend}: highest rate with p99 < {P99_GOAL_MS} ms and no frame missing: {} sends/s, {:.0} \
                 deliveries/s (p99 {} ms)",
                r.rate,
                r.deliveries_per_s,
                fmt_ms(r.p99_ms)
            ),
            None => format!("{backend}: no rate kept p99 under {P99_GOAL_MS} ms with every frame delivered"),
        };

        // Memory per idle socket, on a fresh server.
        if !opts.idle.is_empty() {
            let (database_url, pg_name) = database("confab_bench_delivery_idle");
            let (memory, errors) = measure_idle(&database_url, &opts, &sockets).await;
            if let Some(name) = &pg_name {
                drop_pg_database(&opts.pg_url, name);
            }
            assert!(errors.is_empty(), "{backend}: the server logged errors:\n{}", errors.join("\n"));
            println!("\nserver memory (VmRSS), a fresh server, idle end-user streams:\n");
            println!("| idle sockets | server fds | RSS KiB | Δ from 0 sockets KiB | KiB per socket |");
            println!("|---|---|---|---|---|");
            println!("| 0 | {} | {} | 0 | – |", memory.base_fds, memory.base_kib);
            let mut per_socket = Vec::new();
            for &(n, rss, fds) in &memory.points {
                let delta = rss as i64 - memory.base_kib as i64;
                let each = delta as f64 / n as f64;
                println!("| {n} | {fds} | {rss} | {delta} | {each:.1} |");
                per_socket.push(format!("{each:.1} KiB per socket at {n}"));
            }
            summary.push_str(&format!("; idle sockets: {}", per_socket.join(", ")));
        }
        println!();
        let _ = std::io::stdout().flush();
        sockets.stop();
        summaries.push(summary);
    }
    println!(
        "Summary (goal: ≥ 20,000 deliveries/s with p99 < {P99_GOAL_MS} ms; < 20 KiB per idle socket):\n"
    );
    for s in summaries {
        println!("- {s}");
    }
}
