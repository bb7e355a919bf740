//! REST benchmark: message sends per second and latency at several client
//! counts, on SQLite and PostgreSQL, beside pgbench baselines (a single-row
//! INSERT, alone and inside BEGIN/END, at the same client count) measured in
//! the same run;
//! and the time to list page 1 vs page 1000 of a conversation's messages.
//! Sends run twice per point, once with Basic auth (account credentials)
//! and once with an end user's access token, to compare the two.
//!
//!     cargo bench --bench rest
//!     cargo bench --bench rest -- --duration 5 --clients 1,8 --backends postgres
//!
//! Options: --duration SECS (default 10), --clients LIST (1,8,64),
//! --backends LIST (sqlite,postgres), --auth LIST (basic,token,chat: Basic auth
//! through Chat v2's path), --pg-url URL (an admin URL; default
//! postgres://postgres@127.0.0.1:5432/postgres), --pages N (1000),
//! --skip-paging, --server-wrapper "CMD ARGS" (prefix for the server
//! process, e.g. "perf record -e cpu-clock -g -o /tmp/perf.data --"),
//! --compare PATH (another `confab` binary, e.g. a build of the previous
//! commit: run side by side with this build, each on its own database,
//! their sends interleaved A B B A against the same pgbench baselines),
//! --compare-env KEY=VALUE (an environment variable for the compared server
//! only, e.g. CONFAB_STREAM_NOTIFY=off; repeatable; without --compare the
//! compared server is this build: the same binary with and without it),
//! --compare-log-off (PostgreSQL: the compared server is this build, and
//! while sends are measured its database discards every insert into the
//! event log, so the ratio is the log's cost to a send, measured in the
//! same run with the log on and off; see [`LOG_OFF`]).
//! Figures go to stdout as a Markdown table; a comparison also gives the
//! machine's CPU per send (every process, from /proc/stat, over each
//! server's slices), which varies less between runs than the rates do.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use futures_util::future::join_all;

mod support;
use support::*;

struct Opts {
    duration: Duration,
    clients: Vec<usize>,
    backends: Vec<String>,
    auth: Vec<Auth>,
    pg_url: String,
    pages: usize,
    paging: bool,
    /// Command prefix for the server, e.g. `perf record -g --` for profiling.
    wrapper: Vec<String>,
    /// Another binary measured in the same run (`--compare`).
    compare: Option<std::path::PathBuf>,
    /// Environment for the compared server only.
    compare_env: Vec<(String, String)>,
    /// The compared server's database records no events while sends are
    /// measured (`--compare-log-off`).
    compare_log_off: bool,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        duration: Duration::from_secs(10),
        clients: vec![1, 8, 64],
        backends: vec!["sqlite".into(), "postgres".into()],
        auth: vec![Auth::Basic, Auth::Token],
        pg_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
        pages: 1000,
        paging: true,
        wrapper: Vec::new(),
        compare: None,
        compare_env: Vec::new(),
        compare_log_off: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--duration" => o.duration = Duration::from_secs(val().parse().expect("--duration SECS")),
            "--clients" => o.clients = val().split(',').map(|c| c.parse().expect("--clients")).collect(),
            "--backends" => o.backends = val().split(',').map(str::to_owned).collect(),
            "--auth" => {
                o.auth = val().split(',').map(|a| Auth::parse(a).expect("--auth basic,token")).collect()
            }
            "--pg-url" => o.pg_url = val(),
            "--pages" => o.pages = val().parse().expect("--pages N"),
            "--skip-paging" => o.paging = false,
            "--server-wrapper" => o.wrapper = val().split_whitespace().map(str::to_owned).collect(),
            "--compare" => o.compare = Some(val().into()),
            "--compare-env" => {
                let pair = val();
                let (k, v) = pair.split_once('=').expect("--compare-env KEY=VALUE");
                o.compare_env.push((k.to_owned(), v.to_owned()));
            }
            "--compare-log-off" => o.compare_log_off = true,
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown option {other}"),
        }
    }
    if o.compare_log_off {
        assert!(o.compare.is_none(), "--compare-log-off compares this build with itself");
        assert!(o.backends.iter().all(|b| b == "postgres"), "--compare-log-off needs --backends postgres");
    }
    if o.compare.is_none() && (!o.compare_env.is_empty() || o.compare_log_off) {
        o.compare = Some(env!("CARGO_BIN_EXE_confab").into());
    }
    o
}

/// How the senders authenticate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Auth {
    /// HTTP Basic with the account SID and Auth Token (a backend).
    Basic,
    /// `Authorization: Bearer` with an access token signed by an API key,
    /// one identity per client, each a participant of its conversation.
    Token,
    /// Basic auth, through Programmable Chat v2's path
    /// (`/v2/Services/{IS}/Channels/{CH}/Messages`, `From`).
    Chat,
}

impl Auth {
    fn parse(s: &str) -> Option<Auth> {
        match s {
            "basic" => Some(Auth::Basic),
            "token" => Some(Auth::Token),
            "chat" => Some(Auth::Chat),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Auth::Basic => "basic",
            Auth::Token => "token",
            Auth::Chat => "chat",
        }
    }
}

struct Stats {
    errors: usize,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The whole machine's CPU per send, µs (server, database, this
    /// process); NaN where not measured (pgbench).
    machine_us: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn stats(mut lat_ms: Vec<f64>, errors: usize, elapsed: Duration) -> Stats {
    lat_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Stats {
        errors,
        rate: lat_ms.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&lat_ms, 0.50),
        p99_ms: percentile(&lat_ms, 0.99),
        machine_us: f64::NAN,
    }
}

async fn create_conversation(client: &awc::Client, base: &str) -> String {
    let mut res = client
        .post(format!("{base}/v1/Conversations"))
        .send_form(&[("FriendlyName", "bench")])
        .await
        .expect("create conversation");
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    body["sid"].as_str().unwrap().to_owned()
}

/// An API key of the bench account: (SID, secret).
async fn create_api_key(client: &awc::Client, base: &str) -> (String, String) {
    let mut res = client
        .post(format!("{base}/2010-04-01/Accounts/{ACCOUNT}/Keys.json"))
        .send_form(&[("FriendlyName", "bench")])
        .await
        .expect("create API key");
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    (body["sid"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

/// A sender's URL, `Authorization` override and form.
type Sender = (String, Option<String>, Vec<(&'static str, &'static str)>);

/// `clients` senders, each with its own conversation, authenticating with
/// Basic auth (author `bench`) or as a participant with its own token.
async fn prepare_senders(client: &awc::Client, base: &str, clients: usize, auth: Auth) -> Vec<Sender> {
    let service = default_service(client, base).await;
    let key = match auth {
        Auth::Token => Some(create_api_key(client, base).await),
        Auth::Basic | Auth::Chat => None,
    };
    let mut senders: Vec<Sender> = Vec::new();
    for i in 0..clients {
        let conversation = create_conversation(client, base).await;
        let url = format!("{base}/v1/Conversations/{conversation}/Messages");
        if auth == Auth::Chat {
            let url = format!("{base}/v2/Services/{service}/Channels/{conversation}/Messages");
            senders.push((url, None, vec![("From", "bench"), ("Body", "hello, world")]));
            continue;
        }
        match &key {
            Some(key) => {
                let identity = format!("bench-{i}");
                let res = client
                    .post(format!("{base}/v1/Conversations/{conversation}/Participants"))
                    .send_form(&[("Identity", identity.as_str())])
                    .await
                    .expect("add participant");
                assert_eq!(res.status(), 201);
                let bearer = format!("Bearer {}", access_token(key, &identity, &service));
                senders.push((url, Some(bearer), vec![("Body", "hello, world")]));
            }
            None => senders.push((url, None, vec![("Author", "bench"), ("Body", "hello, world")])),
        }
    }
    senders
}

/// The event log switched off in a database for `--compare-log-off`: a
/// rule rewrites every insert into `events` to nothing when the statement
/// is planned, so the send function's insert (with the JSON it would
/// build) does no work at all, and the rest of the server (its stream
/// readers and fan-out, idle with no events) is the same binary. Created
/// once the senders are set up and dropped before the next setup: setup
/// records events through `confab_fn.record_event_as`, whose `INSERT …
/// RETURNING` a `DO INSTEAD NOTHING` rule refuses.
const LOG_OFF: &str = "CREATE RULE confab_bench_log_off AS ON INSERT TO events DO INSTEAD NOTHING";
const LOG_ON: &str = "DROP RULE confab_bench_log_off ON events";

/// Runs `sql` on the compared database; returns how many events it holds then.
fn run_counting_events(database_url: &str, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel::pg::PgConnection::establish(database_url).expect("the compared database");
    diesel::sql_query(sql).execute(&mut conn).expect(sql);
    diesel::sql_query("SELECT count(*) AS n FROM events").get_result::<Count>(&mut conn).unwrap().n
}

/// A run's latencies (ms), errors and wall time.
type Run = (Vec<f64>, usize, Duration);

/// All `senders` posting messages concurrently in a loop for `duration`.
async fn run_senders(client: &awc::Client, senders: &[Sender], duration: Duration) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let results = join_all(senders.iter().map(|(url, authorization, form)| {
        let client = client.clone();
        async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client.post(url.as_str());
                if let Some(a) = authorization {
                    req = req.insert_header(("Authorization", a.as_str()));
                }
                match req.send_form(form).await {
                    Ok(mut res) if res.status() == 201 => {
                        let _ = res.body().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }
    }))
    .await;
    let errors = results.iter().map(|(_, e)| e).sum();
    (results.into_iter().flat_map(|(l, _)| l).collect(), errors, started.elapsed())
}

/// Sends per second with each auth in `auths`, `clients` concurrent
/// senders. With several, they run in slices in ABBA order (A B B A for
/// two), so drift over the run (a growing database, a neighbour's load)
/// falls on each alike; every auth gets `duration` in all.
/// Sends on every server in `bases` with every auth, each for `duration`
/// in all: in two halves, in the order A B … B A, so drift over the run
/// falls on all alike. Returns (server index, auth, stats).
/// `log_off` names a database whose event log is off while sends are
/// measured ([`LOG_OFF`]); with `pg_admin`, each slice starts after a
/// [`checkpoint`].
async fn send_load(
    bases: &[&str],
    clients: usize,
    duration: Duration,
    auths: &[Auth],
    log_off: Option<&str>,
    pg_admin: Option<&str>,
) -> Vec<(usize, Auth, Stats)> {
    // One HTTP client (and keep-alive pool) per server: switching servers
    // between slices must not mean reconnecting.
    let http: Vec<awc::Client> = bases.iter().map(|_| client(clients)).collect();
    let mut sets = Vec::new();
    for (server, base) in bases.iter().enumerate() {
        for &auth in auths {
            let senders = prepare_senders(&http[server], base, clients, auth).await;
            run_senders(&http[server], &senders, Duration::from_secs(1)).await; // warm-up: connections, caches
            sets.push((server, auth, senders, (Vec::new(), 0, Duration::ZERO, 0u64)));
        }
    }
    let logged = log_off.map(|url| run_counting_events(url, LOG_OFF));
    if logged.is_some() {
        // The compared server warms up again: its first sends after the
        // rule plan the send function's insert anew.
        for (server, _, senders, _) in sets.iter().filter(|(server, ..)| *server == 1) {
            run_senders(&http[*server], senders, Duration::from_secs(1)).await;
        }
    }
    let slice = duration / 2;
    let order: Vec<usize> = (0..sets.len()).chain((0..sets.len()).rev()).collect();
    for i in order {
        let (server, _, senders, total) = &mut sets[i];
        if let Some(admin) = pg_admin {
            checkpoint(admin);
        }
        let busy = machine_busy_ticks();
        let (lat, errors, elapsed) = run_senders(&http[*server], senders, slice).await;
        total.0.extend(lat);
        total.1 += errors;
        total.2 += elapsed;
        total.3 += machine_busy_ticks() - busy;
    }
    if let (Some(url), Some(logged)) = (log_off, logged) {
        assert_eq!(
            run_counting_events(url, LOG_ON),
            logged,
            "the compared server recorded events with its log off"
        );
        for (_, auth, _, (_, errors, ..)) in sets.iter().filter(|(server, ..)| *server == 1) {
            assert_eq!(*errors, 0, "{} sends failed with the log off", auth.name());
        }
    }
    sets.into_iter()
        .map(|(server, auth, _, (lat, errors, elapsed, busy))| {
            let sends = lat.len().max(1) as f64;
            let machine_us = busy as f64 / ticks_per_second() * 1e6 / sends;
            (server, auth, Stats { machine_us, ..stats(lat, errors, elapsed) })
        })
        .collect()
}

/// The two pgbench baselines (see BENCHMARKS.md).
#[derive(Clone, Copy)]
enum Baseline {
    /// `INSERT …;` in autocommit, prepared statements: the cheapest write there is.
    Insert,
    /// `BEGIN; INSERT …; END;` with pgbench's default (simple) protocol.
    InsertTransaction,
}

/// pgbench: a single-row INSERT per transaction, `clients` connections.
fn pgbench(admin: &str, clients: usize, duration: Duration, dir: &Path, baseline: Baseline) -> Stats {
    let url = fresh_pg_database(admin, "confab_bench_pgbench");
    let mut conn = diesel::pg::PgConnection::establish(&url).unwrap();
    diesel::sql_query(
        "CREATE TABLE bench_messages (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         conversation_sid TEXT NOT NULL, body TEXT, date_created BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .unwrap();
    drop(conn);
    let insert = "INSERT INTO bench_messages (conversation_sid, body, date_created) \
                  VALUES ('CH00000000000000000000000000000000', 'hello, world', 1);\n";
    let (sql, mode) = match baseline {
        Baseline::Insert => (insert.to_owned(), "prepared"),
        Baseline::InsertTransaction => (format!("BEGIN;\n{insert}END;\n"), "simple"),
    };
    let script = dir.join("insert.sql");
    std::fs::write(&script, sql).unwrap();
    let prefix = dir.join(format!("pgbench_{clients}"));
    checkpoint(admin);
    let status = Command::new("pgbench")
        .args(["-n", "-M", mode, "-l", "--log-prefix"])
        .arg(&prefix)
        .args(["-c", &clients.to_string(), "-j", &clients.min(4).to_string()])
        .args(["-T", &duration.as_secs().to_string(), "-f"])
        .arg(&script)
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("pgbench (apt install postgresql-client)");
    assert!(status.success(), "pgbench failed");
    // Per-transaction log lines: client_id transaction_no time_us script_no epoch epoch_us
    let mut lat = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&*prefix.file_name().unwrap().to_string_lossy())
        {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse::<f64>().ok()) {
                    lat.push(us / 1000.0);
                }
            }
            let _ = std::fs::remove_file(path);
        }
    }
    drop_pg_database(admin, "confab_bench_pgbench");
    stats(lat, 0, duration)
}

/// Fills one conversation with `n` messages straight through SQL (the API
/// path is what the send benchmark measures).
fn fill_messages(database_url: &str, service_sid: &str, conversation: &str, n: usize) {
    let url = confab::config::DatabaseUrl::parse(database_url).unwrap();
    let mut conn = confab::testing::establish(&url).unwrap();
    let insert = |sid: &str, series: &str| {
        format!(
            "INSERT INTO messages (sid, account_sid, service_sid, conversation_sid, msg_index, author, body, \
             attributes, date_created, date_updated) \
             SELECT {sid}, '{ACCOUNT}', '{service_sid}', \
             '{conversation}', i, 'bench', 'message ' || i, '{{}}', 1700000000, 1700000000 FROM {series}"
        )
    };
    let sql = match &mut conn {
        confab::testing::DbConnection::Postgresql(_) => {
            insert("'IM' || lpad(i::text, 32, '0')", &format!("generate_series(0, {}) AS g(i)", n - 1))
        }
        confab::testing::DbConnection::Sqlite(_) => format!(
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) {}",
            n - 1,
            insert("'IM' || substr('00000000000000000000000000000000' || i, -32, 32)", "s")
        ),
    };
    diesel::sql_query(sql).execute(&mut conn).expect("fill messages");
    diesel::sql_query(format!(
        "UPDATE conversations SET last_message_index = {} WHERE sid = '{conversation}'",
        n - 1
    ))
    .execute(&mut conn)
    .unwrap();
}

/// Median time of page 1 (fetched 20 times) vs pages `pages-19..=pages`
/// reached by following `next_page_url`.
async fn paging(base: &str, database_url: &str, pages: usize) -> (f64, f64) {
    let client = client(1);
    let conversation = create_conversation(&client, base).await;
    let service = default_service(&client, base).await;
    fill_messages(database_url, &service, &conversation, pages * 50 + 10);
    let first = format!("{base}/v1/Conversations/{conversation}/Messages?PageSize=50");
    let get = |url: String| {
        let client = client.clone();
        async move {
            let t = Instant::now();
            let mut res = client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let body: serde_json::Value = res.json().limit(4 << 20).await.unwrap();
            (t.elapsed().as_secs_f64() * 1000.0, body["meta"]["next_page_url"].as_str().map(str::to_owned))
        }
    };
    let mut firsts = Vec::new();
    for _ in 0..20 {
        firsts.push(get(first.clone()).await.0);
    }
    let mut lasts = Vec::new();
    let mut next = Some(first);
    let mut page = 1;
    while let Some(url) = next {
        let (ms, n) = get(url).await;
        if page > pages - 20 {
            lasts.push(ms);
        }
        if page == pages {
            break;
        }
        next = n;
        page += 1;
    }
    assert_eq!(page, pages, "walked {page} pages");
    firsts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    lasts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(&firsts, 0.5), percentile(&lasts, 0.5))
}

fn main() {
    let opts = parse_args();
    actix_web::rt::System::new().block_on(run(opts));
}

async fn run(opts: Opts) {
    let work = tempfile::tempdir().unwrap();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# Confab REST benchmark\n");
    println!("machine: {cpus} CPUs; {}s per point; 1 s warm-up\n", opts.duration.as_secs());
    let mut baselines = std::collections::HashMap::new();
    println!("pgbench baselines (same client count):\n");
    println!("| clients | INSERT tps | p50 ms | p99 ms | BEGIN/INSERT/END tps | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    for &c in &opts.clients {
        let a = pgbench(&opts.pg_url, c, opts.duration, work.path(), Baseline::Insert);
        let b = pgbench(&opts.pg_url, c, opts.duration, work.path(), Baseline::InsertTransaction);
        println!(
            "| {c} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |",
            a.rate, a.p50_ms, a.p99_ms, b.rate, b.p50_ms, b.p99_ms
        );
        baselines.insert(c, (a, b));
    }
    println!("\nmessage sends (POST …/Messages, one conversation per client; auths interleaved A B B A):\n");
    println!(
        "| backend | auth | clients | sends/s | p50 ms | p99 ms | errors | ÷ INSERT | ÷ BEGIN/INSERT/END |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut paging_rows = Vec::new();
    let mut auth_rows = Vec::new();
    let mut compare_rows = Vec::new();
    for backend in &opts.backends {
        let database = |name: &str| match backend.as_str() {
            "sqlite" => (format!("sqlite://{}", work.path().join(format!("{name}.db")).display()), None),
            "postgres" => (fresh_pg_database(&opts.pg_url, name), Some(name.to_owned())),
            other => panic!("unknown backend {other}"),
        };
        let (database_url, pg_name) = database("confab_bench");
        let server = start_server(&database_url, &opts.wrapper, None, &[]);
        let compared = opts.compare.as_deref().map(|binary| {
            let (url, pg_name) = database("confab_bench_compare");
            {
                let env: Vec<(&str, &str)> =
                    opts.compare_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                (start_server(&url, &[], Some(binary), &env), pg_name, url)
            }
        });
        let pg_admin = (backend == "postgres").then_some(opts.pg_url.as_str());
        let log_off = compared.as_ref().filter(|_| opts.compare_log_off).map(|(_, _, url)| url.as_str());
        let mut bases = vec![server.base.as_str()];
        if let Some((other, ..)) = &compared {
            bases.push(other.base.as_str());
        }
        for &c in &opts.clients {
            let mut rates = std::collections::HashMap::new();
            let loads = send_load(&bases, c, opts.duration, &opts.auth, log_off, pg_admin).await;
            for (_, auth, s) in loads.iter().filter(|(server, _, _)| *server == 1) {
                let (a, _) = &baselines[&c];
                let this = loads.iter().find(|(server, other, _)| *server == 0 && other == auth).unwrap();
                compare_rows.push(format!(
                    "| {backend} | {} | {c} | {:.0} | {:.0} | {:.2} | {:.3} | {:.3} | {:.0} | {:.0} | {:.2} |",
                    auth.name(),
                    this.2.rate,
                    s.rate,
                    this.2.rate / s.rate,
                    this.2.rate / a.rate,
                    s.rate / a.rate,
                    this.2.machine_us,
                    s.machine_us,
                    this.2.machine_us / s.machine_us,
                ));
            }
            for (_, auth, s) in loads.into_iter().filter(|(server, _, _)| *server == 0) {
                let (a, b) = &baselines[&c];
                println!(
                    "| {backend} | {} | {c} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {:.2} |",
                    auth.name(),
                    s.rate,
                    s.p50_ms,
                    s.p99_ms,
                    s.errors,
                    s.rate / a.rate,
                    s.rate / b.rate
                );
                let _ = std::io::stdout().flush();
                rates.insert(auth, s.rate);
            }
            if let (Some(basic), Some(token)) = (rates.get(&Auth::Basic), rates.get(&Auth::Token)) {
                auth_rows
                    .push(format!("| {backend} | {c} | {basic:.0} | {token:.0} | {:.2} |", token / basic));
            }
        }
        if opts.paging {
            let (first, last) = paging(&server.base, &database_url, opts.pages).await;
            paging_rows.push(format!("| {backend} | {first:.2} | {last:.2} | {:.2} |", last / first));
        }
        drop(server);
        if let Some((other, other_pg, _)) = compared {
            drop(other);
            if let Some(name) = other_pg {
                drop_pg_database(&opts.pg_url, &name);
            }
        }
        if let Some(name) = pg_name {
            drop_pg_database(&opts.pg_url, &name);
        }
    }
    if !auth_rows.is_empty() {
        println!("\n| backend | clients | Basic sends/s | token sends/s | token ÷ Basic |");
        println!("|---|---|---|---|---|");
        for row in auth_rows {
            println!("{row}");
        }
    }
    if !compare_rows.is_empty() {
        println!(
            "\nthis build against {}{}{} (same run, same pgbench baselines, sends interleaved):\n",
            opts.compare.as_deref().unwrap().display(),
            if opts.compare_log_off { " with its event log off" } else { "" },
            opts.compare_env.iter().map(|(k, v)| format!(" with {k}={v}")).collect::<String>()
        );
        println!(
            "| backend | auth | clients | this build sends/s | compared sends/s | this ÷ compared | this ÷ INSERT | compared ÷ INSERT | machine CPU µs/send, this | compared | this ÷ compared |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        for row in compare_rows {
            println!("{row}");
        }
    }
    if !paging_rows.is_empty() {
        println!(
            "\n| backend | page 1 median ms | pages {}-{} median ms | ratio |",
            opts.pages.saturating_sub(19),
            opts.pages
        );
        println!("|---|---|---|---|");
        for row in paging_rows {
            println!("{row}");
        }
    }
}
