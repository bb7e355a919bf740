//! Webhooks: configuration on Twilio's paths, and post-event deliveries
//! to a real receiver on a local socket (signature, parameters, the
//! `X-Twilio-Webhook-Enabled` rule, retries, order, restarts, two
//! deliverers, the address policy, `ReplayAfter`, triggers).

mod config;
mod delivery;
mod pre;

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, HttpServer, web};

use crate::util::TestApp;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    /// The URL as the receiver reconstructs it (`http://127.0.0.1:PORT/path?query`).
    pub url: String,
    pub signature: Option<String>,
    pub idempotency_token: Option<String>,
    pub content_type: Option<String>,
    /// The form body's parameters (a GET's are in `url`).
    pub params: Vec<(String, String)>,
}

impl Hit {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

struct Shared {
    hits: Mutex<Vec<Hit>>,
    /// Answers (status, body, after how long), in order; 200 at once when they run out.
    script: Mutex<VecDeque<(u16, String, Duration)>>,
}

/// A webhook receiver on an ephemeral local port.
pub struct Receiver {
    pub base: String,
    shared: Arc<Shared>,
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let host = header("host").unwrap_or_default();
    let hit = Hit {
        method: req.method().to_string(),
        url: format!("http://{host}{}", req.uri()),
        signature: header("x-twilio-signature"),
        idempotency_token: header("i-twilio-idempotency-token"),
        content_type: header("content-type"),
        params: form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
    };
    shared.hits.lock().unwrap().push(hit);
    let (status, body, delay) =
        shared.script.lock().unwrap().pop_front().unwrap_or((200, String::new(), Duration::ZERO));
    actix_web::rt::time::sleep(delay).await;
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(body)
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Arc::new(Shared { hits: Mutex::new(Vec::new()), script: Mutex::new(VecDeque::new()) });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            actix_web::App::new().app_data(data.clone()).default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        // Stops with the test's runtime.
        actix_web::rt::spawn(server);
        Receiver { base, shared }
    }

    /// Answers these statuses to the next requests, then 200.
    pub fn answer(&self, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().map(|&s| (s, String::new(), Duration::ZERO)));
    }

    /// Answers `status` to the next request (after those already scripted), `delay` after it came.
    pub fn answer_slowly(&self, status: u16, delay: Duration) {
        self.shared.script.lock().unwrap().push_back((status, String::new(), delay));
    }

    /// Answers `status` with `body` to the next request (after those already scripted).
    pub fn answer_with(&self, status: u16, body: &str) {
        self.shared.script.lock().unwrap().push_back((status, body.to_owned(), Duration::ZERO));
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came (10 s at most), then returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        for _ in 0..200 {
            if self.hits().len() >= n {
                return self.hits();
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} webhook requests, got {:#?}", self.hits());
    }

    /// Nothing more arrives for `quiet` (after what arrived so far).
    pub async fn settle(&self, quiet: Duration) -> Vec<Hit> {
        let mut seen = self.hits().len();
        loop {
            actix_web::rt::time::sleep(quiet).await;
            let now = self.hits().len();
            if now == seen {
                return self.hits();
            }
            seen = now;
        }
    }
}

/// An app whose webhooks may reach this machine's receivers, retrying fast.
pub async fn hooked_app(tweak: impl FnOnce(&mut confab::config::Config) + 'static) -> TestApp {
    TestApp::builder()
        .config(|c| {
            c.webhooks.allowed_hosts = confab::config::AllowList::parse(&["127.0.0.1".to_owned()]).unwrap();
            c.webhooks.retry_base = Duration::from_millis(50);
        })
        .config(tweak)
        .app()
        .await
}

/// Another instance on the app's database: its own pools, its own
/// webhook state (nothing shared in memory with the first), the same
/// configuration.
pub async fn second_instance(app: &TestApp) -> actix_web::web::Data<confab::app::AppState> {
    let mut config = crate::util::test_config(&app.db, "http://localhost");
    config.webhooks.allowed_hosts = confab::config::AllowList::parse(&["127.0.0.1".to_owned()]).unwrap();
    config.webhooks.retry_base = Duration::from_millis(50);
    let state =
        actix_web::web::block(move || confab::app::AppState::initialize(config).expect("second instance"))
            .await
            .unwrap();
    actix_web::web::Data::new(state)
}

/// `X-Twilio-Signature` as twilio-python's `RequestValidator` computes it,
/// written out independently of Confab's signer.
pub fn expected_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    names.dedup();
    let mut s = url.to_owned();
    for name in names {
        let mut values: Vec<&str> =
            params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
        values.sort();
        values.dedup();
        for v in values {
            s.push_str(name);
            s.push_str(v);
        }
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
