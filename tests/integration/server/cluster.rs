//! Two `confab serve` processes on one database and one media store (the
//! S3-compatible one when `CONFAB_TEST_STORAGE_URL` names it), with one
//! master key: sends through both get one gap-free sequence of indexes,
//! media uploaded through one downloads through the other, and both
//! collectors run without deleting any object twice.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures_util::future::join_all;
use serde_json::Value;

use crate::util::{TestDb, confab_bin};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "cluster-test-token";

struct Instance {
    child: Child,
    base: String,
    /// Its `/metrics`, on the listener of their own.
    metrics: String,
    /// JSON log lines, as the process writes them (to stderr).
    log: Arc<Mutex<Vec<Value>>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn storage_url(db: &TestDb) -> String {
    match std::env::var("CONFAB_TEST_STORAGE_URL").ok().filter(|v| v.starts_with("s3://")) {
        Some(url) => format!(
            "{}/cluster-{}",
            url.trim_end_matches('/'),
            &confab::testing::SidKind::Account.generate()[2..14]
        ),
        None => format!("file://{}", db.dir.path().join("media").display()),
    }
}

/// Two free ports, different from each other: both listeners are held
/// while the ports are read (one released before the other is bound can
/// be handed out again, which made an instance's metrics listener collide
/// with its own API port).
fn free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (bind(), bind());
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

/// Instance `name` on a port of its own, and its metrics on another.
async fn start(db: &TestDb, storage: &str, name: &str) -> Instance {
    let (port, metrics_port) = free_ports();
    let dir = db.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = match &db.url {
        confab::config::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        confab::config::DatabaseUrl::Postgres(url) => url.clone(),
    };
    let mut cmd = Command::new(confab_bin());
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("CONFAB_BIND", format!("127.0.0.1:{port}"))
        .env("CONFAB_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("CONFAB_DATA_DIR", &dir)
        .env("CONFAB_STORAGE_URL", storage)
        .env("CONFAB_MASTER_KEY", base64::engine::general_purpose::STANDARD.encode([42u8; 32]))
        .env("CONFAB_ACCOUNT_SID", ACCOUNT)
        .env("CONFAB_AUTH_TOKEN", TOKEN)
        .env("CONFAB_MEDIA_GC_AFTER_SECS", "1")
        .env("CONFAB_GC_INTERVAL_SECS", "1")
        .env("CONFAB_RATE_LIMIT_USER_PER_SEC", "0")
        .env("CONFAB_METRICS_BIND", format!("127.0.0.1:{metrics_port}"))
        .env("CONFAB_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("spawn confab");
    let log = Arc::new(Mutex::new(Vec::new()));
    let lines = BufReader::new(child.stderr.take().unwrap());
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            let parsed = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
            sink.lock().unwrap().push(parsed);
        }
    });
    let instance = Instance {
        child,
        base: format!("http://127.0.0.1:{port}"),
        metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        log,
    };
    let http = awc::Client::default();
    for _ in 0..300 {
        if http.get(format!("{}/healthz", instance.base)).send().await.is_ok_and(|r| r.status().is_success())
        {
            return instance;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let said: Vec<String> = instance.log.lock().unwrap().iter().map(Value::to_string).collect();
    panic!("{name} did not start: {}", said.join("\n"));
}

fn client() -> awc::Client {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .add_default_header(("Authorization", format!("Basic {basic}")))
        .finish()
}

/// Objects the instance's collector reports deleted, from its log.
fn deleted_by(instance: &Instance) -> u64 {
    instance
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line["message"] == "media collected")
        .filter_map(|line| line["deleted"].as_u64())
        .sum()
}

#[actix_web::test]
async fn two_instances_share_one_database_one_store_and_one_key() {
    let db = TestDb::new();
    let storage = storage_url(&db);
    // On PostgreSQL started together: they agree on the key and create the
    // account once. (A SQLite file belongs to one process at a time.)
    let (a, b) = if db.is_postgres() {
        futures_util::join!(start(&db, &storage, "a"), start(&db, &storage, "b"))
    } else {
        (start(&db, &storage, "a").await, start(&db, &storage, "b").await)
    };
    let http = client();
    let both = [&a, &b];

    // Sends through both instances at once: one sequence of indexes.
    let mut res = http
        .post(format!("{}/v1/Conversations", a.base))
        .send_form(&[("FriendlyName", "both")])
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let conversation: Value = res.json().await.unwrap();
    let sid = conversation["sid"].as_str().unwrap().to_owned();
    let sends = (0..40).map(|n| {
        let (http, base, sid) = (http.clone(), both[n % 2].base.clone(), sid.clone());
        async move {
            let mut res = http
                .post(format!("{base}/v1/Conversations/{sid}/Messages"))
                .send_form(&[("Body", format!("send {n}")), ("Author", "both".to_owned())])
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "send {n} through {base}");
            res.json::<Value>().await.unwrap()["index"].as_i64().unwrap()
        }
    });
    let mut indexes: Vec<i64> = join_all(sends).await;
    indexes.sort_unstable();
    assert_eq!(indexes, (0..40).collect::<Vec<_>>(), "one gap-free sequence, no index twice");
    let mut res =
        http.get(format!("{}/v1/Conversations/{sid}/Messages?PageSize=100", b.base)).send().await.unwrap();
    let listed: Value = res.json().await.unwrap();
    let listed: Vec<i64> =
        listed["messages"].as_array().unwrap().iter().map(|m| m["index"].as_i64().unwrap()).collect();
    assert_eq!(listed, (0..40).collect::<Vec<_>>());

    // Media through one, content through the other.
    let mut res = http.get(format!("{}/v1/Configuration", a.base)).send().await.unwrap();
    let service = res.json::<Value>().await.unwrap()["default_chat_service_sid"].as_str().unwrap().to_owned();
    let mut uploaded = Vec::new();
    for n in 0..10 {
        let (from, to) = (both[n % 2], both[(n + 1) % 2]);
        let body = format!("media {n} ").repeat(30_000).into_bytes();
        let mut res = http
            .post(format!("{}/v1/Services/{service}/Media?Filename=m{n}.txt", from.base))
            .insert_header(("Content-Type", "text/plain"))
            .send_body(body.clone())
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let media = res.json::<Value>().await.unwrap()["sid"].as_str().unwrap().to_owned();
        let mut res = http
            .get(format!("{}/v1/Services/{service}/Media/{media}/Content", to.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.body().limit(1 << 24).await.unwrap().to_vec(),
            body,
            "media {n} through the other instance"
        );
        uploaded.push(media);
    }

    // None of it is attached: both collectors remove it after a second, and
    // between them delete each object once.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut gone = 0;
        for media in &uploaded {
            let res =
                http.get(format!("{}/v1/Services/{service}/Media/{media}", a.base)).send().await.unwrap();
            gone += usize::from(res.status() == 404);
        }
        if gone == uploaded.len() && deleted_by(&a) + deleted_by(&b) >= uploaded.len() as u64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the collectors did not remove the media: {gone} of {} gone, deleted {} + {}",
            uploaded.len(),
            deleted_by(&a),
            deleted_by(&b),
        );
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
    // A pass or two more, then count again: no object was deleted twice.
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(deleted_by(&a) + deleted_by(&b), uploaded.len() as u64, "each object deleted once");

    // Each instance's metrics listener (no credentials: it is not the
    // public port) counts the same, and the media bytes that went through it.
    let mut deleted = 0.0;
    for instance in both {
        let mut res = awc::Client::default().get(&instance.metrics).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
                .unwrap_or_else(|| panic!("{name} in\n{text}"))
        };
        deleted += value("confab_collector_objects_deleted_total ");
        assert!(value("confab_media_uploaded_bytes_total ") >= 5.0 * 240_000.0);
        assert!(value("confab_media_downloaded_bytes_total ") >= 5.0 * 240_000.0);
        assert!(text.contains(r#"route="/v1/Conversations/{conversation}/Messages",status="201""#), "{text}");
    }
    assert_eq!(deleted, uploaded.len() as f64);
}

/// Open multipart uploads under `prefix` in the bucket, as the S3 server
/// lists them (moto answers ListMultipartUploads without a signature).
async fn open_uploads(bucket: &str, prefix: &str) -> usize {
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT");
    let url = format!("{}/{bucket}?uploads&prefix={prefix}/", endpoint.trim_end_matches('/'));
    let mut res = awc::Client::new().get(&url).send().await.expect("ListMultipartUploads");
    let body = res.body().limit(1 << 20).await.expect("body");
    String::from_utf8_lossy(&body).matches("<Upload>").count()
}

/// An instance killed (SIGKILL) in the middle of an upload to S3 runs no
/// cleanup: its open multipart upload is found through the media row, and
/// the collector of another instance aborts it once the upload is stale.
#[actix_web::test]
async fn an_upload_cut_by_kill_9_is_aborted_by_the_collector() {
    use tokio::io::AsyncWriteExt;
    let db = TestDb::new();
    let storage = storage_url(&db);
    let Some(rest) = storage.strip_prefix("s3://") else {
        eprintln!("SKIPPED: needs an S3-compatible store (CONFAB_TEST_STORAGE_URL=s3://…, see .ci/s3.sh)");
        return;
    };
    let (bucket, prefix) = rest.split_once('/').expect("bucket/prefix");
    let mut doomed = start(&db, &storage, "doomed").await;
    let mut config = crate::util::test_config(&db, "http://localhost");
    config.media.storage = confab::config::StorageUrl::parse(&storage).unwrap();
    config.media.master_key = Some([42u8; 32]);
    let other =
        actix_web::web::block(move || confab::app::AppState::initialize(config).unwrap()).await.unwrap();

    let mut res = client().get(format!("{}/v1/Configuration", doomed.base)).send().await.unwrap();
    let service = res.json::<Value>().await.unwrap()["default_chat_service_sid"].as_str().unwrap().to_owned();
    // 12 MiB of a declared 20: two parts go up, then nothing more.
    let addr = doomed.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    let head = format!(
        "POST /v1/Services/{service}/Media?Filename=big.bin HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Basic {basic}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        20 << 20
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&vec![7u8; 12 << 20]).await.unwrap();
    let recorded =
        || async {
            other
                .db
                .read(|conn| {
                    use confab::testing::schema::media;
                    use diesel::prelude::*;
                    Ok::<_, confab::testing::StoreError>(
                        media::table.select(media::multipart_id).load::<Option<String>>(conn)?,
                    )
                })
                .await
                .unwrap()
        };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !recorded().await.iter().any(Option::is_some) {
        assert!(std::time::Instant::now() < deadline, "the upload's multipart id was not recorded");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    drop(socket);
    assert_eq!(open_uploads(bucket, prefix).await, 1, "the killed upload left its parts open");

    // Once the upload is stale, another instance's collector removes the
    // row and aborts the upload.
    let later = confab::testing::time::now() + 3_600;
    let pass = confab::testing::collector::pass(&other, later).await.unwrap();
    assert_eq!(pass.expired, 1, "{pass:?}");
    assert_eq!(open_uploads(bucket, prefix).await, 0, "the collector aborted the multipart upload");
    assert!(recorded().await.is_empty(), "the row is gone");
}
