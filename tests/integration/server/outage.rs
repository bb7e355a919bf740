//! The database going away and coming back, on a PostgreSQL cluster of the
//! test's own: every request in between answers 503 with `Retry-After`
//! (never a 500, never a hang), and service returns within seconds of the
//! database. And a transaction holder that stalls is cut off by the
//! session timeouts, so the others' writes go through.

use std::time::{Duration, Instant};

use actix_web::test as actix_test;
use actix_web::web;
use confab::app::{self, AppState};
use confab::config::{Config, DatabaseUrl, DbTimeouts};

use crate::util::{PrivatePg, TestDb, test_config};

fn private_cluster() -> Option<PrivatePg> {
    match PrivatePg::start() {
        Ok(pg) => Some(pg),
        Err(why) => {
            eprintln!("SKIPPED: a private PostgreSQL cluster cannot be started here: {why}");
            None
        }
    }
}

async fn start(config: Config) -> web::Data<AppState> {
    web::Data::new(web::block(move || AppState::initialize(config).expect("initialize")).await.unwrap())
}

/// (status, Retry-After) of a request, and how long it took.
async fn call(
    state: &web::Data<AppState>,
    auth: &str,
    method: &str,
    path: &str,
) -> (u16, Option<String>, Duration) {
    let app = actix_test::init_service(app::build(state.clone())).await;
    let req = match method {
        "POST" => actix_test::TestRequest::post().set_form([("FriendlyName", "during")]),
        _ => actix_test::TestRequest::get(),
    }
    .uri(path)
    .insert_header(("Authorization", auth));
    let started = Instant::now();
    let res = actix_test::call_service(&app, req.to_request()).await;
    let retry = res.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (res.status().as_u16(), retry, started.elapsed())
}

#[actix_web::test]
async fn a_database_outage_answers_503_and_service_returns_with_the_database() {
    let Some(pg) = private_cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_database(DatabaseUrl::Postgres(pg.url.clone()), dir.path());
    config.media.master_key = Some([5u8; 32]);
    let state = start(config).await;
    let keyring = state.keys.keyring();
    let creds = state
        .db
        .read(move |conn| {
            confab::testing::create_account(
                conn,
                "t",
                None,
                None,
                confab::config::HashCost::TESTING,
                &keyring,
            )
        })
        .await
        .unwrap();
    let auth = crate::util::Account { sid: creds.account_sid, token: creds.auth_token }.basic();
    // Warm the pool: several connections open when the database goes away.
    let warm =
        futures_util::future::join_all((0..6).map(|_| call(&state, &auth, "POST", "/v1/Conversations")))
            .await;
    assert!(warm.iter().all(|(s, ..)| *s == 201), "{warm:?}");

    pg.down().expect("stop the cluster");
    for (method, path) in
        [("GET", "/v1/Conversations"), ("POST", "/v1/Conversations")].into_iter().cycle().take(12)
    {
        let (status, retry, took) = call(&state, &auth, method, path).await;
        assert_eq!(status, 503, "{method} {path} during the outage");
        assert!(retry.is_some(), "{method} {path}: 503 carries Retry-After");
        assert!(took < Duration::from_secs(8), "{method} {path} answered in {took:?}");
    }

    // The load balancer's probe says so too, within its two seconds.
    let (status, _, took) = call(&state, &auth, "GET", "/healthz").await;
    assert_eq!(status, 503, "/healthz during the outage");
    assert!(took < Duration::from_secs(4), "/healthz answered in {took:?}");

    pg.up().expect("restart the cluster");
    let back = Instant::now();
    loop {
        let (status, ..) = call(&state, &auth, "GET", "/v1/Conversations").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(back.elapsed() < Duration::from_secs(5), "service did not return within 5 s of the database");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // No dead connection is left to fail a later request, or a probe.
    for _ in 0..20 {
        assert_eq!(call(&state, &auth, "POST", "/v1/Conversations").await.0, 201);
    }
    for _ in 0..5 {
        assert_eq!(call(&state, &auth, "GET", "/healthz").await.0, 200);
    }
}

/// An instance stalled inside a transaction (here: a session of the pool
/// that locked a conversation's row, then went quiet) is cut off by the
/// server after the idle-in-transaction timeout; a send to that
/// conversation from another instance then succeeds, in bounded time.
#[actix_web::test]
async fn a_stalled_transaction_holder_is_cut_off() {
    let db = TestDb::new();
    if !db.is_postgres() {
        eprintln!("SKIPPED: session timeouts are PostgreSQL's (set CONFAB_TEST_DATABASE_URL)");
        return;
    }
    let timeouts = DbTimeouts {
        statement: Duration::from_secs(30),
        lock: Duration::from_secs(10),
        idle_in_transaction: Duration::from_secs(1),
    };
    let mut config = test_config(&db, "http://localhost");
    config.db_timeouts = timeouts;
    let a = start(config.clone()).await;
    let stalled = start(config).await;
    let keyring = a.keys.keyring();
    let creds =
        a.db.read(move |conn| {
            confab::testing::create_account(
                conn,
                "t",
                None,
                None,
                confab::config::HashCost::TESTING,
                &keyring,
            )
        })
        .await
        .unwrap();
    let auth = crate::util::Account { sid: creds.account_sid, token: creds.auth_token }.basic();
    let app = actix_test::init_service(app::build(a.clone())).await;
    let req = actix_test::TestRequest::post()
        .uri("/v1/Conversations")
        .insert_header(("Authorization", auth.as_str()));
    let conversation: serde_json::Value = actix_test::call_and_read_body_json(&app, req.to_request()).await;
    let sid = conversation["sid"].as_str().unwrap().to_owned();

    // The other instance takes the conversation's row lock in a transaction
    // and stalls (holding its pooled connection) well past the timeout.
    let (locked_tx, locked) = tokio::sync::oneshot::channel();
    let lock_sid = sid.clone();
    let holder = std::thread::spawn(move || {
        use diesel::connection::SimpleConnection;
        let mut conn = stalled.db.get().expect("a pooled connection");
        conn.batch_execute(&format!(
            "BEGIN; SELECT 1 FROM conversations WHERE sid = '{lock_sid}' FOR UPDATE;"
        ))
        .expect("lock");
        let _ = locked_tx.send(());
        std::thread::sleep(Duration::from_secs(4));
        // Its session was ended under it.
        conn.batch_execute("COMMIT").is_err()
    });
    locked.await.unwrap();
    let started = Instant::now();
    let req = actix_test::TestRequest::post()
        .uri(&format!("/v1/Conversations/{sid}/Messages"))
        .insert_header(("Authorization", auth.as_str()))
        .set_form([("Body", "through"), ("Author", "a")]);
    let res = actix_test::call_service(&app, req.to_request()).await;
    let took = started.elapsed();
    assert_eq!(res.status().as_u16(), 201, "the send goes through once the holder is cut off");
    assert!(took < Duration::from_secs(4), "answered in {took:?}, not after the stalled holder woke");
    assert!(holder.join().unwrap(), "the stalled holder's session was ended");
}
