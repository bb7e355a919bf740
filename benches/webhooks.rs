//! Webhook benchmark: what a post-event webhook costs a send, and how fast
//! deliveries reach a receiver.
//!
//!     cargo bench --bench webhooks
//!     cargo bench --bench webhooks -- --backends postgres --clients 8 --duration 10
//!
//! Two servers of this build run side by side, each on its own database:
//! one with the default service's post-event webhook (`onMessageAdded`)
//! pointed at a receiver in this process, one without. Closed-loop sends
//! (`X-Twilio-Webhook-Enabled: true`, one conversation per client) go to
//! each in turn, in blocks of four slices, A B B A, so the ratio of their
//! send rates is the cost of the webhook measured in the same run; short
//! slices, many blocks: the machine's drift (other tenants, checkpoints)
//! falls on both alike. Before a slice of the server without the webhook,
//! the receiver is let catch up (at most a second, on no one's clock), so
//! that slice does not pay for the other's deliveries. The ratio is also
//! given per block (lowest and highest): how far one block's figure is
//! from the run's. Then: the deliveries per second the receiver saw while
//! the server with the webhook was sent to, the delay from a send's 201 to
//! the receiver getting its `onMessageAdded` (p50/p99/max), and how long
//! after the last send the last delivery arrived (deliveries keep up when
//! that is short). Last, the floor: the bare HTTP exchange, closed loop
//! and at the pace deliveries went out, in machine CPU per exchange.
//!
//! Options: --duration SECS (each server's sending time; default 10),
//! --blocks N (of A B B A slices; 4), --clients N (8),
//! --backends LIST (sqlite,postgres), --pg-url URL (an admin URL; default
//! postgres://postgres@127.0.0.1:5432/postgres), --api conversations|chat
//! (the webhook configured through `/v1`'s `Configuration/Webhooks`, the
//! default, or through Chat's `/v2/Services/{IS}` fields, so that it is
//! called with Chat's names and parameters: `onMessageSent`). Figures go to
//! stdout as Markdown tables: the rates and delays, then the CPU each send
//! used (the server sent to, this process, the rest of the machine) with
//! and without the webhook, read from /proc over each server's phases, of
//! the server's the share of its webhook threads (`confab-hooks*`), and of
//! this process's the receiver's.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

mod support;
use support::*;

struct Opts {
    duration: Duration,
    /// Blocks of A B B A the duration is cut into.
    blocks: u32,
    clients: usize,
    backends: Vec<String>,
    pg_url: String,
    /// `conversations` or `chat`: the API the webhook is configured through.
    api: String,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        duration: Duration::from_secs(10),
        blocks: 4,
        clients: 8,
        backends: vec!["sqlite".into(), "postgres".into()],
        pg_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
        api: "conversations".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--duration" => o.duration = Duration::from_secs(val().parse().expect("--duration SECS")),
            "--clients" => o.clients = val().parse().expect("--clients N"),
            "--blocks" => o.blocks = val().parse::<u32>().expect("--blocks N").max(1),
            "--backends" => o.backends = val().split(',').map(str::to_owned).collect(),
            "--pg-url" => o.pg_url = val(),
            "--api" => {
                o.api = val();
                assert!(o.api == "conversations" || o.api == "chat", "--api conversations|chat");
            }
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// When each message's `onMessageAdded` arrived, by MessageSid.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A receiver on its own thread with its own runtime, doing the least an
/// HTTP/1.1 receiver does per request: read the head and a
/// `Content-Length` body, note when the `MessageSid` arrived, answer 200
/// with keep-alive. It shares the two cores with what is measured, and
/// what it costs is not Confab's: a real receiver runs elsewhere.
fn start_receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = arrivals.clone();
    std::thread::Builder::new()
        .name("receiver".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (socket, _) = listener.accept().await.unwrap();
                    socket.set_nodelay(true).unwrap();
                    tokio::task::spawn_local(serve(socket, seen.clone()));
                }
            })
        })
        .unwrap();
    (url, arrivals)
}

/// Answers one connection's requests until the client closes it.
async fn serve(socket: tokio::net::TcpStream, arrivals: Arrivals) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let (head_end, length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).expect("an ASCII request head");
                let length = head
                    .lines()
                    .filter_map(|line| line.split_once(':'))
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.trim().parse::<usize>().expect("a Content-Length"));
                break (end + 4, length);
            }
            if !read_more(&socket, &mut buf).await {
                return;
            }
        };
        while buf.len() < head_end + length {
            if !read_more(&socket, &mut buf).await {
                return;
            }
        }
        let now = Instant::now();
        let body = &buf[head_end..head_end + length];
        if let Some((_, sid)) = form_urlencoded::parse(body).find(|(k, _)| k == "MessageSid") {
            arrivals.lock().unwrap().insert(sid.into_owned(), now);
        }
        buf.drain(..head_end + length);
        let mut answer: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        while !answer.is_empty() {
            socket.writable().await.unwrap();
            match socket.try_write(answer) {
                Ok(n) => answer = &answer[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// Appends what the socket has to `buf`; false when the client closed it.
async fn read_more(socket: &tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if socket.readable().await.is_err() {
            return false;
        }
        match socket.try_read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
}

struct Target {
    server: Server,
    conversations: Vec<String>,
    /// (MessageSid, when its 201 came) of every send.
    sent: Vec<(String, Instant)>,
    sends: usize,
    elapsed: Duration,
    /// CPU used during this target's phases, in clock ticks.
    cpu: Cpu,
}

/// Where the CPU went during a target's phases, in clock ticks.
#[derive(Default, Clone, Copy)]
struct Cpu {
    /// The server sent to.
    server: u64,
    /// Its webhook threads (fan-out, deliverer, their blocking pool).
    hooks: u64,
    /// This process: the load generator and the receiver.
    bench: u64,
    /// Its receiver's thread.
    receiver: u64,
    /// Every process on the machine.
    machine: u64,
}

/// Microseconds of CPU per send.
struct PerSend {
    server: f64,
    hooks: f64,
    bench: f64,
    receiver: f64,
    /// The rest of the machine: the database, the idle server's background.
    rest: f64,
}

impl PerSend {
    fn machine(&self) -> f64 {
        self.server + self.bench + self.rest
    }
}

impl Cpu {
    fn now(server: u32) -> Cpu {
        Cpu {
            server: cpu_ticks(Some(server)),
            hooks: thread_cpu_ticks(server, "confab-hooks"),
            bench: cpu_ticks(None),
            receiver: thread_cpu_ticks(std::process::id(), "receiver"),
            machine: machine_busy_ticks(),
        }
    }

    fn per_send(&self, sends: usize) -> PerSend {
        let us = |ticks: u64| ticks as f64 / ticks_per_second() * 1e6 / sends.max(1) as f64;
        PerSend {
            server: us(self.server),
            hooks: us(self.hooks),
            bench: us(self.bench),
            receiver: us(self.receiver),
            rest: us(self.machine.saturating_sub(self.server + self.bench)),
        }
    }
}

async fn prepare(server: Server, http: &awc::Client, clients: usize, hook: Option<(&str, &str)>) -> Target {
    let base = server.base.clone();
    if let Some((url, api)) = hook {
        let service = default_service(http, &base).await;
        let res = if api == "chat" {
            let form =
                [("PostWebhookUrl", url), ("WebhookFilters", "onMessageSent"), ("WebhookMethod", "POST")];
            http.post(format!("{base}/v2/Services/{service}")).send_form(&form).await.unwrap()
        } else {
            let form = [("PostWebhookUrl", url), ("Filters", "onMessageAdded"), ("Method", "POST")];
            http.post(format!("{base}/v1/Services/{service}/Configuration/Webhooks"))
                .send_form(&form)
                .await
                .unwrap()
        };
        assert_eq!(res.status(), 200, "configuring the webhook");
    }
    let mut conversations = Vec::new();
    for _ in 0..clients {
        let mut res = http
            .post(format!("{base}/v1/Conversations"))
            .send_form(&[("FriendlyName", "bench")])
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        conversations.push(body["sid"].as_str().unwrap().to_owned());
    }
    Target { server, conversations, sent: Vec::new(), sends: 0, elapsed: Duration::ZERO, cpu: Cpu::default() }
}

/// Closed-loop sends for `duration`, one client per conversation:
/// (sends, elapsed) of this slice, also added to `target`'s.
async fn phase(
    target: &mut Target,
    http: &awc::Client,
    duration: Duration,
    pg_admin: Option<&str>,
) -> (usize, Duration) {
    if let Some(admin) = pg_admin {
        checkpoint(admin);
    }
    let start = Instant::now();
    let before = Cpu::now(target.server.child.id());
    let deadline = start + duration;
    let base = target.server.base.clone();
    let runs = target.conversations.iter().map(|ch| {
        let url = format!("{base}/v1/Conversations/{ch}/Messages");
        let http = http.clone();
        async move {
            let mut sent = Vec::new();
            while Instant::now() < deadline {
                let mut res = http
                    .post(&url)
                    .insert_header(("X-Twilio-Webhook-Enabled", "true"))
                    .send_form(&[
                        ("Author", "bench"),
                        ("Body", "a message of a typical length, with a few words"),
                    ])
                    .await
                    .unwrap();
                let at = Instant::now();
                assert_eq!(res.status(), 201);
                let body: serde_json::Value = res.json().await.unwrap();
                sent.push((body["sid"].as_str().unwrap().to_owned(), at));
            }
            sent
        }
    });
    let mut sends = 0;
    for sent in join_all(runs).await {
        sends += sent.len();
        target.sent.extend(sent);
    }
    let elapsed = start.elapsed();
    target.sends += sends;
    target.elapsed += elapsed;
    let after = Cpu::now(target.server.child.id());
    target.cpu.server += after.server - before.server;
    target.cpu.hooks += after.hooks.saturating_sub(before.hooks);
    target.cpu.bench += after.bench - before.bench;
    target.cpu.receiver += after.receiver.saturating_sub(before.receiver);
    target.cpu.machine += after.machine - before.machine;
    (sends, elapsed)
}

/// Waits (at most a second) until the receiver got every delivery of the
/// sends so far.
async fn catch_up(target: &Target, arrivals: &Arrivals) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while arrivals.lock().unwrap().len() < target.sends && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(opts: Opts) {
    println!("webhook configured through: {}", opts.api);
    println!(
        "| backend | clients | sends/s without | sends/s with webhook | with ÷ without | per block | deliveries/s | p50 ms | p99 ms | max ms | last delivery after last send | missing |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut cpu_rows = Vec::new();
    let mut floor_url = None;
    // The last backend's deliveries per second, and a send's machine CPU
    // (µs) without the webhook.
    let mut paced = None;
    for backend in &opts.backends {
        let (url_a, url_b) = match backend.as_str() {
            "sqlite" => {
                let dir = tempfile::tempdir().unwrap().keep();
                (format!("sqlite://{}/a.db", dir.display()), format!("sqlite://{}/b.db", dir.display()))
            }
            "postgres" => (
                fresh_pg_database(&opts.pg_url, "confab_bench_hooks_a"),
                fresh_pg_database(&opts.pg_url, "confab_bench_hooks_b"),
            ),
            other => panic!("unknown backend {other}"),
        };
        let env = [("CONFAB_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")];
        let (receiver, arrivals) = start_receiver();
        floor_url.get_or_insert_with(|| receiver.clone());
        let http = client(opts.clients * 2);
        let mut hooked =
            prepare(start_server(&url_a, &[], None, &env), &http, opts.clients, Some((&receiver, &opts.api)))
                .await;
        let mut plain = prepare(start_server(&url_b, &[], None, &env), &http, opts.clients, None).await;
        let slice = opts.duration / (2 * opts.blocks);
        let pg = (backend == "postgres").then_some(opts.pg_url.as_str());
        let mut blocks = Vec::new();
        let mut last_send = Instant::now();
        // Deliveries that arrived while the hooked server was sent to (and
        // caught up), and over how long.
        let (mut delivered, mut delivering) = (0, Duration::ZERO);
        let rate = |(sends, elapsed): (usize, Duration)| sends as f64 / elapsed.as_secs_f64();
        for _ in 0..opts.blocks {
            let before = phase(&mut plain, &http, slice, pg).await;
            let (from, since) = (arrivals.lock().unwrap().len(), Instant::now());
            let with = rate(phase(&mut hooked, &http, slice, pg).await);
            let with = (with + rate(phase(&mut hooked, &http, slice, pg).await)) / 2.0;
            last_send = Instant::now();
            catch_up(&hooked, &arrivals).await;
            delivered += arrivals.lock().unwrap().len() - from;
            delivering += since.elapsed();
            let without = (rate(before) + rate(phase(&mut plain, &http, slice, pg).await)) / 2.0;
            blocks.push(with / without);
        }
        let lowest = blocks.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = blocks.iter().copied().fold(0.0, f64::max);
        // Every delivery should arrive; wait for stragglers (60 s at most).
        let deadline = Instant::now() + Duration::from_secs(60);
        while arrivals.lock().unwrap().len() < hooked.sends && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let arrived = arrivals.lock().unwrap().clone();
        let mut delays: Vec<f64> = hooked
            .sent
            .iter()
            .filter_map(|(sid, at)| {
                arrived.get(sid).map(|got| got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        delays.sort_by(|a, b| a.total_cmp(b));
        let last = arrived.values().max().copied();
        let hooked_last = hooked.sent.iter().map(|(_, at)| *at).max().unwrap_or(last_send);
        let tail = last.map_or(f64::NAN, |l| l.saturating_duration_since(hooked_last).as_secs_f64() * 1000.0);
        let rate = |t: &Target| rate((t.sends, t.elapsed));
        println!(
            "| {backend} | {} | {:.0} | {:.0} | {:.2} | {lowest:.2}–{highest:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} ms | {} |",
            opts.clients,
            rate(&plain),
            rate(&hooked),
            rate(&hooked) / rate(&plain),
            delivered as f64 / delivering.as_secs_f64(),
            percentile(&delays, 0.50),
            percentile(&delays, 0.99),
            delays.last().copied().unwrap_or(f64::NAN),
            tail,
            hooked.sends - delays.len(),
        );
        cpu_rows.push((backend.clone(), hooked.cpu.per_send(hooked.sends), plain.cpu.per_send(plain.sends)));
        paced =
            Some((delivered as f64 / delivering.as_secs_f64(), plain.cpu.per_send(plain.sends).machine()));
        for (name, server) in [("with webhook", &mut hooked.server), ("without", &mut plain.server)] {
            server.assert_alive();
            let errors = server.logged_errors();
            assert!(errors.is_empty(), "{name}: errors in the server log: {errors:?}");
        }
        drop(hooked);
        drop(plain);
        if backend == "postgres" {
            drop_pg_database(&opts.pg_url, "confab_bench_hooks_a");
            drop_pg_database(&opts.pg_url, "confab_bench_hooks_b");
        }
    }
    // Where a send's CPU goes: the webhook's share shows as the difference.
    println!(
        "\nCPU per send, µs (server, and of it the webhook threads: fan-out, deliverer, their \
         blocking pool | load generator and receiver, and of it the receiver | the rest: \
         database, the other server); the machine's with ÷ without, and the same without the \
         receiver's, which a deployment does not pay where Confab runs:\n"
    );
    println!(
        "| backend | server with | of it webhook threads | server without | bench with | of it receiver | bench without | rest with | rest without | total with ÷ without | without the receiver |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (backend, with, without) in cpu_rows {
        println!(
            "| {backend} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            with.server,
            with.hooks,
            without.server,
            with.bench,
            with.receiver,
            without.bench,
            with.rest,
            without.rest,
            with.machine() / without.machine(),
            (with.machine() - with.receiver) / without.machine(),
        );
    }
    if let Some(url) = floor_url {
        let (rate, us) = floor(&url, opts.clients, opts.duration / 2, None).await;
        println!(
            "\nThe HTTP exchange alone (this process posting a delivery's form to its receiver, \
             {} at once, no server): {rate:.0}/s, {us:.0} µs of machine CPU each: what any \
             delivery costs at least.",
            opts.clients
        );
        if let Some((pace, send_us)) = paced.filter(|(pace, _)| pace.is_finite() && *pace > 0.0) {
            let (rate, us) = floor(&url, opts.clients, opts.duration / 2, Some(pace)).await;
            println!(
                "\nThe same exchange at the pace deliveries went out ({rate:.0}/s, in rounds every \
                 {} ms over {} lanes, each lane's one after another): {us:.0} µs of machine CPU \
                 each (the idle machine's use taken off), {:.1}% of a send's without the webhook \
                 ({send_us:.0} µs, the last backend's): the least a webhook can cost a send here.",
                ROUND.as_millis(),
                opts.clients,
                us / send_us * 100.0,
            );
        }
    }
}

/// How often the fan-out starts a round under load (its `PACE`).
const ROUND: Duration = Duration::from_millis(50);

/// POSTs of a form the size of an `onMessageAdded` delivery, signed
/// headers included, as the server sends them (hyper's HTTP/1.1
/// connection, one kept alive per lane), to the receiver, from `lanes` lanes: closed loop, or `paced` (exchanges per
/// second) as the fan-out sends, every [`ROUND`] each lane its share one
/// after another. Returns (exchanges per second, µs of the machine's CPU
/// per exchange); paced, the machine's CPU while idle (measured before and
/// after) is taken off.
async fn floor(url: &str, lanes: usize, duration: Duration, paced: Option<f64>) -> (f64, f64) {
    let target = url::Url::parse(url).unwrap();
    let address = (target.host_str().unwrap().to_owned(), target.port_or_known_default().unwrap());
    let host = &target[url::Position::BeforeHost..url::Position::AfterPort];
    let path = &target[url::Position::BeforePath..url::Position::AfterQuery];
    let form = [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("ChatServiceSid", "IS00000000000000000000000000000000"),
        ("ConversationSid", "CH00000000000000000000000000000000"),
        ("EventType", "onMessageAdded"),
        ("Index", "12"),
        ("Body", "a message of a typical length, with a few words"),
        ("Author", "bench"),
        ("Attributes", "{}"),
        ("DateCreated", "2026-12-06T20:00:00.000Z"),
        ("Source", "API"),
        ("RetryCount", "0"),
    ];
    let form =
        bytes::Bytes::from(form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish());
    let idle_before = if paced.is_some() { idle_ticks_per_second().await } else { 0.0 };
    // Exchanges per lane per round, paced.
    let share = paced.map(|rate| rate * ROUND.as_secs_f64() / lanes as f64);
    let start = Instant::now();
    let before = machine_busy_ticks();
    let deadline = start + duration;
    let runs = (0..lanes).map(|_| {
        let (address, form) = (address.clone(), form.clone());
        async move {
            let stream = actix_web::rt::net::TcpStream::connect(address).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut http, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
            actix_web::rt::spawn(connection);
            let (mut n, mut owed) = (0usize, 0.0);
            let mut round = actix_web::rt::time::Instant::now();
            while Instant::now() < deadline {
                if let Some(share) = share {
                    if owed < 1.0 {
                        round += ROUND;
                        actix_web::rt::time::sleep_until(round).await;
                        owed += share;
                        continue;
                    }
                    owed -= 1.0;
                }
                let request = hyper::Request::post(path)
                    .header("Host", host)
                    .header("User-Agent", "Confab/bench (webhooks)")
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("X-Twilio-Signature", "bm90IGEgcmVhbCBzaWduYXR1cmUgYXQgYWxs")
                    .header("I-Twilio-Idempotency-Token", "00000000000000000000000000000000")
                    .body(http_body_util::Full::new(form.clone()))
                    .unwrap();
                http.ready().await.unwrap();
                let res = http.send_request(request).await.unwrap();
                assert!(res.status().is_success());
                http_body_util::BodyExt::collect(res.into_body()).await.unwrap();
                n += 1;
            }
            n
        }
    });
    let exchanges: usize = join_all(runs).await.into_iter().sum();
    let secs = start.elapsed().as_secs_f64();
    let busy = machine_busy_ticks() - before;
    // The quieter of the looks before and after: one may have caught a
    // burst of the database's (a checkpoint after a dropped database).
    let idle = if paced.is_some() { idle_before.min(idle_ticks_per_second().await) } else { 0.0 };
    let busy = (busy as f64 - idle * secs).max(0.0);
    (exchanges as f64 / secs, busy / ticks_per_second() * 1e6 / exchanges.max(1) as f64)
}

/// The machine's busy ticks per second over two seconds of nothing sent.
async fn idle_ticks_per_second() -> f64 {
    let (before, start) = (machine_busy_ticks(), Instant::now());
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    (machine_busy_ticks() - before) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let opts = parse_args();
    actix_web::rt::System::new().block_on(run(opts));
}
