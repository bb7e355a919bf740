//! Test harness: every test gets its own database (a fresh SQLite file, or a
//! fresh PostgreSQL database when `CONFAB_TEST_DATABASE_URL` is set) and its
//! own account.
//!
//! `TestApp` drives the app in-process (`actix_web::test`); `TestServer`
//! runs it on an ephemeral port for end-to-end tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{HttpServer, test, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::{Connection, RunQueryDsl};
use serde_json::Value;
use tempfile::TempDir;

use confab::app::{self, AppState};
use confab::auth::accounts;
use confab::config::{Config, DatabaseUrl, HashCost, StorageUrl};

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: DatabaseUrl,
    /// PostgreSQL: (admin URL, database name) to drop at the end.
    pg: Option<(String, String)>,
    pub dir: TempDir,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        match std::env::var("CONFAB_TEST_DATABASE_URL").ok().filter(|v| !v.is_empty()) {
            Some(admin) => {
                let name = format!("confab_test_{}", &confab::sid::SidKind::Account.generate()[2..18]);
                let mut conn = diesel::pg::PgConnection::establish(&admin).expect("CONFAB_TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create db");
                let base = admin.split('?').next().unwrap_or(&admin);
                let (server, _) = base.rsplit_once('/').expect("postgres URL with a database");
                TestDb {
                    url: DatabaseUrl::Postgres(format!("{server}/{name}")),
                    pg: Some((admin, name)),
                    dir,
                }
            }
            None => TestDb { url: DatabaseUrl::Sqlite(dir.path().join("confab.db")), pg: None, dir },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// PostgreSQL only: runs `sql` as the admin, with `{db}` replaced by
    /// this test's database name (to simulate outages).
    pub fn pg_admin(&self, sql: &str) {
        let (admin, name) = self.pg.as_ref().expect("a PostgreSQL test database");
        let mut conn = diesel::pg::PgConnection::establish(admin).expect("admin connection");
        diesel::sql_query(sql.replace("{db}", name)).execute(&mut conn).expect("admin statement");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = diesel::pg::PgConnection::establish(admin)
        {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
    }
}

pub struct Account {
    pub sid: String,
    pub token: String,
}

impl Account {
    pub fn basic(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.sid, self.token)))
    }
}

/// An API key of an account, with its one-time secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub sid: String,
    pub secret: String,
}

/// The claims of an access token as twilio-python's `AccessToken` with a
/// `ChatGrant` writes them, valid from now for `ttl` seconds.
pub fn token_claims(key: &ApiKey, account_sid: &str, identity: &str, service_sid: &str, ttl: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "jti": format!("{}-{now}", key.sid),
        "grants": {"identity": identity, "chat": {"service_sid": service_sid}},
        "iss": key.sid,
        "exp": now + ttl,
        "nbf": now,
        "sub": account_sid,
    })
}

/// Signs `claims` with HS256 and Twilio's header (`cty: twilio-fpa;v=1`).
pub fn sign_token(claims: &Value, secret: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.cty = Some("twilio-fpa;v=1".into());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()))
        .expect("sign token")
}

/// A valid one-hour token for `identity` in `service_sid`.
pub fn access_token(key: &ApiKey, account_sid: &str, identity: &str, service_sid: &str) -> String {
    sign_token(&token_claims(key, account_sid, identity, service_sid, 3600), &key.secret)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A response: status, headers and the body parsed as JSON (Null if empty).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self.body
    }

    /// Asserts a Twilio error body with this status and code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: u64) -> Value {
        let body = self.expect(status);
        assert_eq!(body["code"], code, "error body: {body}");
        assert_eq!(body["status"], status, "error body: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "error body: {body}");
        assert_eq!(body["more_info"], format!("https://www.twilio.com/docs/errors/{code}"));
        body
    }
}

pub struct TestApp {
    pub state: web::Data<AppState>,
    pub account: Account,
    pub db: TestDb,
}

/// A config for tests: cheap password hashing, the given public URL, and
/// media storage in memory, or in `CONFAB_TEST_STORAGE_URL` (e.g.
/// `s3://bucket/prefix`, with the `AWS_*` variables) under a prefix of its own.
pub fn test_config(db: &TestDb, public_url: &str) -> Config {
    let mut config = Config::for_database(db.url.clone(), db.dir.path());
    config.public_url = public_url.to_string();
    config.hash_cost = HashCost::TESTING;
    config.media.storage = match std::env::var("CONFAB_TEST_STORAGE_URL").ok().filter(|v| !v.is_empty()) {
        None => StorageUrl::Memory,
        Some(url) => match StorageUrl::parse(&url).expect("CONFAB_TEST_STORAGE_URL") {
            StorageUrl::S3 { bucket, prefix } => {
                let unique = &confab::sid::SidKind::Account.generate()[2..18];
                StorageUrl::S3 {
                    bucket,
                    prefix: format!("{prefix}/{unique}").trim_start_matches('/').to_owned(),
                }
            }
            StorageUrl::File(_) => StorageUrl::File(db.dir.path().join("media")),
            StorageUrl::Memory => StorageUrl::Memory,
        },
    };
    config
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(|_| {}).await
    }

    /// A fresh app whose config `tweak` may adjust before start.
    pub async fn with_config(tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::with_state(tweak, |_| {}).await
    }

    /// A fresh app whose config `tweak` adjusts before start, and whose
    /// state `adjust` may change before the first request (e.g. its storage).
    pub async fn with_state(tweak: impl FnOnce(&mut Config), adjust: impl FnOnce(&mut AppState)) -> TestApp {
        let db = TestDb::new();
        let mut config = test_config(&db, "http://localhost");
        tweak(&mut config);
        let mut state =
            web::block(move || AppState::initialize(config).expect("initialize")).await.expect("blocking");
        adjust(&mut state);
        let state = web::Data::new(state);
        let app = TestApp { account: Account { sid: String::new(), token: String::new() }, state, db };
        let account = app.create_account().await;
        TestApp { account, ..app }
    }

    pub async fn create_account(&self) -> Account {
        let state = self.state.clone();
        let creds = state
            .db
            .run(|conn| accounts::create(conn, "test", None, None, HashCost::TESTING))
            .await
            .expect("create account");
        Account { sid: creds.account_sid, token: creds.auth_token }
    }

    /// Sends a request as `auth` (an `Authorization` value, or none).
    pub async fn send(&self, method: &str, path: &str, form: &[(&str, &str)], auth: Option<&str>) -> Resp {
        let service = test::init_service(app::build(self.state.clone())).await;
        let mut req = match method {
            "GET" => test::TestRequest::get(),
            "POST" => test::TestRequest::post(),
            "DELETE" => test::TestRequest::delete(),
            "PUT" => test::TestRequest::put(),
            other => panic!("method {other}"),
        }
        .uri(path);
        if let Some(auth) = auth {
            req = req.insert_header(("Authorization", auth));
        }
        if method == "POST" {
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            req = req.insert_header(("Content-Type", "application/x-www-form-urlencoded")).set_payload(body);
        }
        let res = test::call_service(&service, req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let raw = test::read_body(res).await.to_vec();
        let body =
            if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
        Resp { status, headers, body, raw }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], Some(&self.account.basic())).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, form, Some(&self.account.basic())).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, &[], Some(&self.account.basic())).await
    }

    pub async fn get_as(&self, account: &Account, path: &str) -> Resp {
        self.send("GET", path, &[], Some(&account.basic())).await
    }

    pub async fn post_as(&self, account: &Account, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, form, Some(&account.basic())).await
    }

    pub async fn delete_as(&self, account: &Account, path: &str) -> Resp {
        self.send("DELETE", path, &[], Some(&account.basic())).await
    }

    /// A new API key of the app's account.
    pub async fn api_key(&self) -> ApiKey {
        let path = format!("/2010-04-01/Accounts/{}/Keys.json", self.account.sid);
        let key = self.post(&path, &[("FriendlyName", "tokens")]).await.expect(201);
        ApiKey {
            sid: key["sid"].as_str().expect("key sid").to_owned(),
            secret: key["secret"].as_str().expect("key secret").to_owned(),
        }
    }

    /// A valid token of the app's account for `identity` in its default service.
    pub async fn user_token(&self, key: &ApiKey, identity: &str) -> String {
        let service = self.default_service().await;
        access_token(key, &self.account.sid, identity, &service)
    }

    /// Sends a request as an access token's user (`Authorization: Bearer`).
    pub async fn as_user(&self, token: &str, method: &str, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(method, path, form, Some(&bearer(token))).await
    }

    /// The account's default service SID.
    pub async fn default_service(&self) -> String {
        self.get("/v1/Configuration").await.expect(200)["default_chat_service_sid"]
            .as_str()
            .expect("default service")
            .to_string()
    }

    /// Creates a conversation on the default service; returns its JSON.
    pub async fn conversation(&self, form: &[(&str, &str)]) -> Value {
        self.post("/v1/Conversations", form).await.expect(201)
    }

    /// Turns an absolute URL this app emitted into a request path.
    pub fn path_of(url: &str) -> String {
        url.strip_prefix("http://localhost").unwrap_or(url).to_string()
    }
}

/// Dates as Twilio emits them: `YYYY-MM-DDTHH:MM:SSZ`, nothing more.
#[track_caller]
pub fn assert_twilio_date(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("date is not a string: {v}"));
    let b = s.as_bytes();
    let ok = s.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
            .iter()
            .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit));
    assert!(ok, "not a second-precision Z date: {s}");
}

/// Asserts the object has exactly these keys (every field present, no extras).
#[track_caller]
pub fn assert_keys(v: &Value, keys: &[&str]) {
    let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    let mut have: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut want = keys.to_vec();
    have.sort_unstable();
    want.sort_unstable();
    assert_eq!(have, want, "keys of {v}");
}

/// The app on a real socket, for end-to-end tests.
pub struct TestServer {
    pub base: String,
    pub account: Account,
    pub state: web::Data<AppState>,
    handle: actix_web::dev::ServerHandle,
    pub db: TestDb,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let db = TestDb::new();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let config = test_config(&db, &base);
        Self::start_with(db, listener, base, config, |_| {}).await
    }

    /// A server whose config `tweak` may adjust before start.
    pub async fn start_with_config(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_with_state(tweak, |_| {}).await
    }

    /// A server whose config `tweak` adjusts, and whose state `adjust` may
    /// change before it starts (e.g. its storage).
    pub async fn start_with_state(
        tweak: impl FnOnce(&mut Config),
        adjust: impl FnOnce(&mut AppState),
    ) -> TestServer {
        let db = TestDb::new();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = test_config(&db, &base);
        tweak(&mut config);
        Self::start_with(db, listener, base, config, adjust).await
    }

    async fn start_with(
        db: TestDb,
        listener: TcpListener,
        base: String,
        config: Config,
        adjust: impl FnOnce(&mut AppState),
    ) -> TestServer {
        let mut state =
            web::block(move || AppState::initialize(config).expect("initialize")).await.expect("block");
        adjust(&mut state);
        let state = web::Data::new(state);
        let creds = state
            .db
            .run(|conn| accounts::create(conn, "test", None, None, HashCost::TESTING))
            .await
            .expect("account");
        let data = state.clone();
        let server = HttpServer::new(move || app::build(data.clone()))
            .workers(2)
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestServer {
            base,
            account: Account { sid: creds.account_sid, token: creds.auth_token },
            state,
            handle,
            db,
        }
    }

    pub fn client(&self) -> awc::Client {
        awc::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .add_default_header(("Authorization", self.account.basic()))
            .finish()
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Path of the `confab` binary built for these tests.
pub fn confab_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_confab"))
}
