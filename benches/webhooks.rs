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
//! each in turn, A B B A, so the ratio of their send rates is the cost of
//! the webhook measured in the same run. Then: the deliveries per second
//! the receiver saw, the delay from a send's 201 to the receiver getting
//! its `onMessageAdded` (p50/p99/max), and how long after the last send
//! the last delivery arrived (deliveries keep up when that is short).
//!
//! Options: --duration SECS (per phase; default 10), --clients N (8),
//! --backends LIST (sqlite,postgres), --pg-url URL (an admin URL; default
//! postgres://postgres@127.0.0.1:5432/postgres), --api conversations|chat
//! (the webhook configured through `/v1`'s `Configuration/Webhooks`, the
//! default, or through Chat's `/v2/Services/{IS}` fields, so that it is
//! called with Chat's names and parameters: `onMessageSent`). Figures go to
//! stdout as Markdown tables: the rates and delays, then the CPU each send
//! used (the server sent to, this process, the rest of the machine) with
//! and without the webhook, read from /proc over each server's phases, and
//! of the server's the share of its webhook threads (`confab-hooks*`).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use futures_util::future::join_all;

mod support;
use support::*;

struct Opts {
    duration: Duration,
    clients: usize,
    backends: Vec<String>,
    pg_url: String,
    /// `conversations` or `chat`: the API the webhook is configured through.
    api: String,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        duration: Duration::from_secs(10),
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

async fn receive(
    _req: HttpRequest,
    body: web::Bytes,
    arrivals: web::Data<Mutex<HashMap<String, Instant>>>,
) -> HttpResponse {
    let now = Instant::now();
    if let Some((_, sid)) = form_urlencoded::parse(&body).find(|(k, _)| k == "MessageSid") {
        arrivals.lock().unwrap().insert(sid.into_owned(), now);
    }
    HttpResponse::Ok().finish()
}

/// A receiver on its own thread (its own actix system): it does not share
/// the load generator's loop.
fn start_receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let data = web::Data::from(arrivals.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                actix_web::App::new().app_data(data.clone()).default_service(web::to(receive))
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap();
        })
    });
    (url, arrivals)
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
    /// Every process on the machine.
    machine: u64,
}

impl Cpu {
    fn now(server: u32) -> Cpu {
        Cpu {
            server: cpu_ticks(Some(server)),
            hooks: thread_cpu_ticks(server, "confab-hooks"),
            bench: cpu_ticks(None),
            machine: machine_busy_ticks(),
        }
    }

    /// Microseconds of CPU per send: (server, its webhook threads, bench,
    /// the rest of the machine: the database and the idle server's background).
    fn per_send(&self, sends: usize) -> (f64, f64, f64, f64) {
        let us = |ticks: u64| ticks as f64 / ticks_per_second() * 1e6 / sends.max(1) as f64;
        let rest = self.machine.saturating_sub(self.server + self.bench);
        (us(self.server), us(self.hooks), us(self.bench), us(rest))
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

/// Closed-loop sends for `duration`, one client per conversation.
async fn phase(target: &mut Target, http: &awc::Client, duration: Duration, pg_admin: Option<&str>) {
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
    for sent in join_all(runs).await {
        target.sends += sent.len();
        target.sent.extend(sent);
    }
    target.elapsed += start.elapsed();
    let after = Cpu::now(target.server.child.id());
    target.cpu.server += after.server - before.server;
    target.cpu.hooks += after.hooks.saturating_sub(before.hooks);
    target.cpu.bench += after.bench - before.bench;
    target.cpu.machine += after.machine - before.machine;
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
        "| backend | clients | sends/s without | sends/s with webhook | with ÷ without | deliveries/s | p50 ms | p99 ms | max ms | last delivery after last send | missing |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut cpu_rows = Vec::new();
    let mut floor_url = None;
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
        let half = opts.duration / 2;
        let pg = (backend == "postgres").then_some(opts.pg_url.as_str());
        phase(&mut plain, &http, half, pg).await;
        phase(&mut hooked, &http, half, pg).await;
        phase(&mut hooked, &http, half, pg).await;
        let last_send = Instant::now();
        phase(&mut plain, &http, half, pg).await;
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
        let first = arrived.values().min().copied();
        let last = arrived.values().max().copied();
        let span = match (first, last) {
            (Some(f), Some(l)) if l > f => l.duration_since(f).as_secs_f64(),
            _ => f64::NAN,
        };
        let hooked_last = hooked.sent.iter().map(|(_, at)| *at).max().unwrap_or(last_send);
        let tail = last.map_or(f64::NAN, |l| l.saturating_duration_since(hooked_last).as_secs_f64() * 1000.0);
        let rate = |t: &Target| t.sends as f64 / t.elapsed.as_secs_f64();
        println!(
            "| {backend} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} ms | {} |",
            opts.clients,
            rate(&plain),
            rate(&hooked),
            rate(&hooked) / rate(&plain),
            arrived.len() as f64 / span,
            percentile(&delays, 0.50),
            percentile(&delays, 0.99),
            delays.last().copied().unwrap_or(f64::NAN),
            tail,
            hooked.sends - delays.len(),
        );
        cpu_rows.push((backend.clone(), hooked.cpu.per_send(hooked.sends), plain.cpu.per_send(plain.sends)));
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
         blocking pool | load generator and receiver | the rest: database, the other server):\n"
    );
    println!(
        "| backend | server with | of it webhook threads | server without | bench with | bench without | rest with | rest without | total with ÷ without |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (backend, with, without) in cpu_rows {
        println!(
            "| {backend} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
            with.0,
            with.1,
            without.0,
            with.2,
            without.2,
            with.3,
            without.3,
            (with.0 + with.2 + with.3) / (without.0 + without.2 + without.3),
        );
    }
    if let Some(url) = floor_url {
        let (rate, us) = floor(&url, opts.clients, opts.duration / 2).await;
        println!(
            "\nThe HTTP exchange alone (this process posting a delivery's form to its receiver, \
             {} at once, no server): {rate:.0}/s, {us:.0} µs of machine CPU each: what any \
             delivery costs at least.",
            opts.clients
        );
    }
}

/// Closed-loop POSTs of a form the size of an `onMessageAdded` delivery,
/// signed headers included, with the HTTP client the server uses, to the
/// receiver: (exchanges per second, µs of the machine's CPU per exchange).
async fn floor(url: &str, clients: usize, duration: Duration) -> (f64, f64) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
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
    let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let start = Instant::now();
    let before = machine_busy_ticks();
    let deadline = start + duration;
    let runs = (0..clients).map(|_| {
        let (http, form) = (http.clone(), form.clone());
        async move {
            let mut n = 0usize;
            while Instant::now() < deadline {
                let res = http
                    .post(url)
                    .header("X-Twilio-Signature", "bm90IGEgcmVhbCBzaWduYXR1cmUgYXQgYWxs")
                    .header("I-Twilio-Idempotency-Token", "00000000000000000000000000000000")
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success());
                res.bytes().await.unwrap();
                n += 1;
            }
            n
        }
    });
    let exchanges: usize = join_all(runs).await.into_iter().sum();
    let busy = machine_busy_ticks() - before;
    let secs = start.elapsed().as_secs_f64();
    (exchanges as f64 / secs, busy as f64 / ticks_per_second() * 1e6 / exchanges.max(1) as f64)
}

fn main() {
    let opts = parse_args();
    actix_web::rt::System::new().block_on(run(opts));
}
