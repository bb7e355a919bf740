//! The app under test: in-process ([`TestApp`]) or on a socket ([`TestServer`]).

use std::net::TcpListener;

use actix_web::{HttpServer, test, web};
use serde_json::Value;

use confab::app::{self, AppState};
use confab::config::{Config, HashCost, StorageUrl};
use confab::testing::create_account as create;

use super::{Account, ApiKey, Resp, TestDb, access_token, bearer};

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
                let unique = &confab::testing::SidKind::Account.generate()[2..18];
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

type Tweak<T> = Box<dyn FnOnce(&mut T)>;

/// A fresh app or server, with overrides applied before it starts.
#[derive(Default)]
#[must_use]
pub struct TestBuilder {
    config: Vec<Tweak<Config>>,
    state: Vec<Tweak<AppState>>,
}

impl TestBuilder {
    /// Adjusts the configuration before the app starts.
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'static) -> Self {
        self.config.push(Box::new(tweak));
        self
    }

    /// Adjusts the state before the first request (e.g. wraps its storage).
    pub fn state(mut self, adjust: impl FnOnce(&mut AppState) + 'static) -> Self {
        self.state.push(Box::new(adjust));
        self
    }

    async fn start(self, db: &TestDb, public_url: &str) -> (web::Data<AppState>, Account) {
        let mut config = test_config(db, public_url);
        for tweak in self.config {
            tweak(&mut config);
        }
        let mut state =
            web::block(move || AppState::initialize(config).expect("initialize")).await.expect("blocking");
        for adjust in self.state {
            adjust(&mut state);
        }
        let state = web::Data::new(state);
        let account = create_account(&state).await;
        (state, account)
    }

    /// The app, driven in-process.
    pub async fn app(self) -> TestApp {
        let db = TestDb::new();
        let (state, account) = self.start(&db, "http://localhost").await;
        TestApp { state, account, db }
    }

    /// The app on a real socket, for end-to-end tests.
    pub async fn server(self) -> TestServer {
        let db = TestDb::new();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (state, account) = self.start(&db, &base).await;
        let data = state.clone();
        let server = HttpServer::new(move || app::build(data.clone()))
            .workers(2)
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestServer { base, account, state, handle, db }
    }
}

/// A new account (with its default service) in the app's database.
async fn create_account(state: &AppState) -> Account {
    let keyring = state.keys.keyring();
    let creds = state
        .db
        .read(move |conn| create(conn, "test", None, None, HashCost::TESTING, &keyring))
        .await
        .expect("create account");
    Account { sid: creds.account_sid, token: creds.auth_token }
}

impl TestApp {
    pub fn builder() -> TestBuilder {
        TestBuilder::default()
    }

    pub async fn new() -> TestApp {
        Self::builder().app().await
    }

    pub async fn create_account(&self) -> Account {
        create_account(&self.state).await
    }

    /// Sends a request as `auth` (an `Authorization` value, or none).
    pub async fn send(&self, method: &str, path: &str, form: &[(&str, &str)], auth: Option<&str>) -> Resp {
        self.send_with(method, path, form, auth, &[]).await
    }

    /// [`TestApp::send`] with extra request headers.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        auth: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
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
        for &(name, value) in headers {
            req = req.insert_header((name, value));
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
        TestApp::builder().server().await
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
