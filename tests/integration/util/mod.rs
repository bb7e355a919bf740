//! Test harness: every test gets its own database ([`TestDb`]: a fresh
//! SQLite file, or a fresh PostgreSQL database when
//! `CONFAB_TEST_DATABASE_URL` is set) and its own account.
//!
//! [`TestApp::builder`] takes config and state overrides and builds the app
//! in-process ([`TestApp`], `actix_web::test`) or on an ephemeral port
//! ([`TestServer`], for end-to-end tests).

mod private_pg;
mod test_app;
mod test_db;

use std::path::PathBuf;

use actix_web::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

pub use private_pg::PrivatePg;
pub use test_app::{TestApp, TestServer, test_config};
pub use test_db::TestDb;

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

/// Path of the `confab` binary built for these tests.
pub fn confab_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_confab"))
}
