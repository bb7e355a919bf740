//! API keys: Twilio's 2010 Keys API, Basic auth as `SK…:secret`, revocation.

use std::time::Duration;

use crate::util::{TestApp, assert_keys};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use confab::testing::StoreError;
use confab::testing::schema::api_keys;
use diesel::prelude::*;
use serde_json::Value;

fn keys_path(app: &TestApp) -> String {
    format!("/2010-04-01/Accounts/{}/Keys.json", app.account.sid)
}

fn key_path(app: &TestApp, sid: &str) -> String {
    format!("/2010-04-01/Accounts/{}/Keys/{sid}.json", app.account.sid)
}

fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{secret}")))
}

async fn create_key(app: &TestApp, name: &str) -> Value {
    app.post(&keys_path(app), &[("FriendlyName", name)]).await.expect(201)
}

#[track_caller]
fn assert_rfc2822(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(chrono::DateTime::parse_from_rfc2822(s).is_ok(), "not RFC 2822: {s}");
    assert!(s.ends_with(" +0000"), "{s}");
}

#[actix_web::test]
async fn keys_are_created_fetched_listed_updated_and_deleted() {
    let app = TestApp::new().await;
    let key = create_key(&app, "backend").await;
    assert_keys(&key, &["sid", "friendly_name", "date_created", "date_updated", "secret"]);
    let sid = key["sid"].as_str().unwrap();
    assert!(sid.starts_with("SK") && sid.len() == 34, "{sid}");
    assert_eq!(key["friendly_name"], "backend");
    assert_eq!(key["secret"].as_str().unwrap().len(), 32);
    assert_rfc2822(&key["date_created"]);
    assert_rfc2822(&key["date_updated"]);

    // The secret is shown once.
    let fetched = app.get(&key_path(&app, sid)).await.expect(200);
    assert_keys(&fetched, &["sid", "friendly_name", "date_created", "date_updated"]);
    let renamed = app.post(&key_path(&app, sid), &[("FriendlyName", "renamed")]).await.expect(200);
    assert_eq!(renamed["friendly_name"], "renamed");
    assert!(renamed.get("secret").is_none());

    for i in 0..3 {
        create_key(&app, &format!("k{i}")).await;
    }
    let page = app.get(&format!("{}?PageSize=2", keys_path(&app))).await.expect(200);
    assert_eq!(page["keys"].as_array().unwrap().len(), 2);
    assert_eq!(page["page_size"], 2);
    assert_eq!(page["start"], 0);
    assert_eq!(page["end"], 1);
    let next = page["next_page_uri"].as_str().expect("a next page");
    assert!(next.starts_with(&format!("/2010-04-01/Accounts/{}/Keys.json?", app.account.sid)), "{next}");
    let rest = app.get(next).await.expect(200);
    let mut sids: Vec<String> =
        page["keys"].as_array().unwrap().iter().map(|k| k["sid"].as_str().unwrap().into()).collect();
    sids.extend(rest["keys"].as_array().unwrap().iter().map(|k| k["sid"].as_str().unwrap().to_owned()));
    assert_eq!(sids.len(), 4);
    assert!(rest["next_page_uri"].is_null());

    let res = app.delete(&key_path(&app, sid)).await;
    assert_eq!(res.status, 204);
    assert!(res.raw.is_empty());
    app.get(&key_path(&app, sid)).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn secrets_are_stored_hashed_and_sealed_never_in_clear() {
    let app = TestApp::new().await;
    let key = create_key(&app, "k").await;
    let secret = key["secret"].as_str().unwrap().to_owned();
    let sid = key["sid"].as_str().unwrap().to_owned();
    let (hash, sealed): (String, Vec<u8>) = app
        .state
        .db
        .read(move |conn| {
            Ok::<_, StoreError>(
                api_keys::table
                    .filter(api_keys::sid.eq(&sid))
                    .select((api_keys::secret_hash, api_keys::secret_sealed))
                    .get_result(conn)?,
            )
        })
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!hash.contains(&secret));
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

#[actix_web::test]
async fn key_credentials_work_like_the_auth_token_and_stop_when_revoked() {
    // A day-long cache: revocation must not wait for it.
    let app = TestApp::builder().config(|c| c.auth_cache_ttl = Duration::from_secs(86_400)).app().await;
    let key = create_key(&app, "backend").await;
    let auth = basic(key["sid"].as_str().unwrap(), key["secret"].as_str().unwrap());
    let conv =
        app.send("POST", "/v1/Conversations", &[("FriendlyName", "by key")], Some(&auth)).await.expect(201);
    assert_eq!(conv["account_sid"], app.account.sid);
    app.send("GET", "/v1/Conversations", &[], Some(&auth)).await.expect(200);
    let service = app.default_service().await;
    app.send("GET", &format!("/v1/Services/{service}/Conversations"), &[], Some(&auth)).await.expect(200);

    // A wrong secret for a real key fails like any bad credential.
    let wrong = basic(key["sid"].as_str().unwrap(), "0123456789abcdef0123456789abcdef");
    app.send("GET", "/v1/Conversations", &[], Some(&wrong)).await.expect_error(401, 20003);

    app.delete(&key_path(&app, key["sid"].as_str().unwrap())).await.expect(204);
    app.send("GET", "/v1/Conversations", &[], Some(&auth)).await.expect_error(401, 20003);
    app.send("POST", "/v1/Conversations", &[], Some(&auth)).await.expect_error(401, 20003);
}

#[actix_web::test]
async fn keys_are_managed_only_with_the_accounts_own_token() {
    let app = TestApp::new().await;
    let key = create_key(&app, "backend").await;
    let auth = basic(key["sid"].as_str().unwrap(), key["secret"].as_str().unwrap());
    app.send("GET", &keys_path(&app), &[], Some(&auth)).await.expect_error(403, 20403);
    app.send("POST", &keys_path(&app), &[], Some(&auth)).await.expect_error(403, 20403);

    // Another account sees neither the list nor the key.
    let other = app.create_account().await;
    app.get_as(&other, &keys_path(&app)).await.expect_error(404, 20404);
    app.get_as(&other, &key_path(&app, key["sid"].as_str().unwrap())).await.expect_error(404, 20404);
    app.delete_as(&other, &key_path(&app, key["sid"].as_str().unwrap())).await.expect_error(404, 20404);
    let own = format!("/2010-04-01/Accounts/{}/Keys/{}.json", other.sid, key["sid"].as_str().unwrap());
    app.get_as(&other, &own).await.expect_error(404, 20404);
    app.get(&key_path(&app, key["sid"].as_str().unwrap())).await.expect(200);
}
