//! Access tokens: Twilio's format accepted (Bearer and X-Twilio-Token), every
//! malformed or hostile token refused alike, users created on first use, and
//! revocation effective at once despite the verification cache.

use crate::util::{ApiKey, Resp, TestApp, access_token, bearer, sign_token, token_claims};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token whose header and signature are whatever the test says.
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[track_caller]
fn assert_refused(resp: Resp) {
    // No Basic challenge for a refused token: a browser would answer it with its own
    // username-and-password prompt, in front of the app that sent the token.
    assert!(!resp.headers.contains_key("www-authenticate"), "{:?}", resp.headers);
    let body = resp.expect_error(401, 20101);
    assert_eq!(body["message"], "Invalid Access Token", "no detail beyond this: {body}");
}

async fn setup() -> (TestApp, ApiKey, String) {
    let app = TestApp::new().await;
    let key = app.api_key().await;
    let service = app.default_service().await;
    (app, key, service)
}

#[actix_web::test]
async fn helper_library_tokens_work_in_both_headers_and_create_the_user() {
    let (app, key, service) = setup().await;
    let token = access_token(&key, &app.account.sid, "alice", &service);
    let page = app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    assert_eq!(page["conversations"], json!([]));

    // The first request created the User with the service's default role.
    let user = app.get("/v1/Users/alice").await.expect(200);
    let config = app.get(&format!("/v1/Services/{service}/Configuration")).await.expect(200);
    assert_eq!(user["role_sid"], config["default_chat_service_role_sid"]);

    // X-Twilio-Token, as the SDKs send it, on the service path family too.
    let service_path = format!("/v1/Services/{service}/Conversations");
    let resp = {
        use actix_web::test;
        let srv = test::init_service(confab::app::build(app.state.clone())).await;
        let req =
            test::TestRequest::get().uri(&service_path).insert_header(("X-Twilio-Token", token.as_str()));
        test::call_service(&srv, req.to_request()).await
    };
    assert_eq!(resp.status(), 200);
    // The same identity again: still one user.
    app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    let users = app.get("/v1/Users").await.expect(200);
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn hostile_and_malformed_tokens_are_refused_alike() {
    let (app, key, service) = setup().await;
    let account = app.account.sid.clone();
    let claims = || token_claims(&key, &account, "mallory", &service, 3600);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        sign_token(&c, &key.secret)
    };
    let hs512 = {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512);
        jsonwebtoken::encode(
            &header,
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(key.secret.as_bytes()),
        )
        .unwrap()
    };
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        ("wrong secret", sign_token(&claims(), "0123456789abcdef0123456789abcdef")),
        ("unknown key", with(&|c| c["iss"] = json!("SK00000000000000000000000000000000"))),
        ("issuer not a key", with(&|c| c["iss"] = json!(account.clone()))),
        ("another account as subject", with(&|c| c["sub"] = json!("AC00000000000000000000000000000000"))),
        (
            "expired beyond leeway",
            with(&|c| {
                c["nbf"] = json!(now() - 3600);
                c["exp"] = json!(now() - 120);
            }),
        ),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 300))),
        ("lifetime 25 h", with(&|c| c["exp"] = json!(now() + 25 * 3600))),
        (
            "lifetime 25 h without nbf",
            with(&|c| {
                c.as_object_mut().unwrap().remove("nbf");
                c["exp"] = json!(now() + 25 * 3600);
            }),
        ),
        (
            "no identity",
            with(&|c| c["grants"].as_object_mut().unwrap().remove("identity").map(drop).unwrap()),
        ),
        ("empty identity", with(&|c| c["grants"]["identity"] = json!(""))),
        ("no chat grant", with(&|c| c["grants"].as_object_mut().unwrap().remove("chat").map(drop).unwrap())),
        ("chat grant without service", with(&|c| c["grants"]["chat"] = json!({}))),
        (
            "unknown service",
            with(&|c| c["grants"]["chat"]["service_sid"] = json!("IS00000000000000000000000000000000")),
        ),
        ("no exp", with(&|c| c.as_object_mut().unwrap().remove("exp").map(drop).unwrap())),
        ("alg none", raw_token(&json!({"alg": "none", "typ": "JWT"}), &claims(), b"")),
        ("alg none with a valid signature", {
            let signed = sign_token(&claims(), &key.secret);
            let sig = URL_SAFE_NO_PAD.decode(signed.rsplit('.').next().unwrap()).unwrap();
            raw_token(&json!({"alg": "none", "typ": "JWT"}), &claims(), &sig)
        }),
        ("HS512", hs512),
        ("no cty header", {
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            let secret = jsonwebtoken::EncodingKey::from_secret(key.secret.as_bytes());
            jsonwebtoken::encode(&header, &claims(), &secret).unwrap()
        }),
        // The author of everything account credentials send and upload.
        ("reserved identity system", with(&|c| c["grants"]["identity"] = json!("system"))),
        ("RS256 header", raw_token(&json!({"alg": "RS256", "typ": "JWT"}), &claims(), &[7u8; 256])),
    ];
    for (name, token) in &cases {
        let resp = app.as_user(token, "GET", "/v1/Conversations", &[]).await;
        assert_eq!(resp.status, 401, "{name}: {}", resp.body);
        assert_refused(resp);
    }
    // Nobody was created by any of them.
    let users = app.get("/v1/Users").await.expect(200);
    assert_eq!(users["users"], json!([]), "refused tokens leave no user behind");

    // Within the 60 s leeway an expired token still works.
    let lenient = with(&|c| {
        c["nbf"] = json!(now() - 600);
        c["exp"] = json!(now() - 20);
    });
    app.as_user(&lenient, "GET", "/v1/Conversations", &[]).await.expect(200);
}

#[actix_web::test]
async fn a_service_of_another_account_is_refused() {
    let (app, key, _) = setup().await;
    let other = app.create_account().await;
    let theirs = app.get_as(&other, "/v1/Configuration").await.expect(200)["default_chat_service_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = access_token(&key, &app.account.sid, "alice", &theirs);
    assert_refused(app.as_user(&token, "GET", "/v1/Conversations", &[]).await);
    // Their resources do not exist for our users, and their key cannot sign for us.
    let conversation = app.post_as(&other, "/v1/Conversations", &[]).await.expect(201);
    let ours = app.user_token(&key, "alice").await;
    let sid = conversation["sid"].as_str().unwrap();
    app.as_user(&ours, "GET", &format!("/v1/Conversations/{sid}"), &[]).await.expect_error(404, 20404);
    app.as_user(&ours, "GET", &format!("/v1/Services/{theirs}/Conversations"), &[])
        .await
        .expect_error(404, 20404);
}

#[actix_web::test]
async fn revoking_the_key_stops_its_tokens_at_once_cache_included() {
    let (app, key, service) = setup().await;
    let token = access_token(&key, &app.account.sid, "alice", &service);
    // Verified and remembered.
    app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    app.delete(&format!("/2010-04-01/Accounts/{}/Keys/{}.json", app.account.sid, key.sid)).await.expect(204);
    assert_refused(app.as_user(&token, "GET", "/v1/Conversations", &[]).await);
    assert_refused(app.as_user(&token, "GET", "/v1/Conversations", &[]).await);
}

#[actix_web::test]
async fn tokens_cannot_administer_the_account() {
    let (app, key, service) = setup().await;
    let token = access_token(&key, &app.account.sid, "alice", &service);
    let keys = format!("/2010-04-01/Accounts/{}/Keys.json", app.account.sid);
    for (method, path) in [
        ("GET", "/v1/Roles".to_owned()),
        ("POST", "/v1/Roles".to_owned()),
        ("GET", "/v1/Services".to_owned()),
        ("POST", "/v1/Services".to_owned()),
        ("GET", format!("/v1/Services/{service}")),
        ("DELETE", format!("/v1/Services/{service}")),
        ("GET", "/v1/Configuration".to_owned()),
        ("POST", "/v1/Configuration".to_owned()),
        ("GET", format!("/v1/Services/{service}/Configuration")),
        ("POST", format!("/v1/Services/{service}/Configuration")),
        ("GET", keys.clone()),
        ("POST", keys.clone()),
        ("POST", "/v1/Users".to_owned()),
        ("DELETE", "/v1/Users/alice".to_owned()),
    ] {
        let form: &[(&str, &str)] = if path.ends_with("Roles") {
            &[("FriendlyName", "x"), ("Type", "service"), ("Permission", "createConversation")]
        } else if path.ends_with("Users") {
            &[("Identity", "bob")]
        } else {
            &[("FriendlyName", "x")]
        };
        let resp = app.as_user(&token, method, &path, form).await;
        assert_eq!(resp.status, 403, "{method} {path}: {}", resp.body);
        resp.expect_error(403, 20403);
    }
    // Still there, unchanged.
    app.get(&format!("/v1/Services/{service}")).await.expect(200);
    app.get("/v1/Users/alice").await.expect(200);
    assert!(app.get("/v1/Users/bob").await.status == 404);
}

#[actix_web::test]
async fn a_deleted_user_is_created_again_by_its_next_request() {
    let (app, key, _) = setup().await;
    let token = app.user_token(&key, "alice").await;
    app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    let first = app.get("/v1/Users/alice").await.expect(200)["sid"].clone();
    app.delete("/v1/Users/alice").await.expect(204);
    app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    let second = app.get("/v1/Users/alice").await.expect(200)["sid"].clone();
    assert_ne!(first, second);
}

#[actix_web::test]
async fn basic_credentials_still_win_when_no_token_is_sent() {
    let (app, _, _) = setup().await;
    let resp = app.send("GET", "/v1/Conversations", &[], Some(&bearer(""))).await;
    assert_eq!(resp.status, 401);
    app.get("/v1/Conversations").await.expect(200);
}

/// Each end user has its own request rate (a bucket of `burst` refilled at
/// `per_sec`): past it, 429 code 20429 with `Retry-After`, while other
/// users and the account go on; account credentials have a limit only when
/// one is configured.
#[actix_web::test]
async fn each_end_user_and_configured_account_has_a_request_rate() {
    let app = TestApp::builder().config(|c| c.rate_limit_user = confab::config::Rate::new(1, 3)).app().await;
    let key = app.api_key().await;
    let alice = app.user_token(&key, "alice").await;
    let bob = app.user_token(&key, "bob").await;
    for _ in 0..3 {
        app.as_user(&alice, "GET", "/v1/Conversations", &[]).await.expect(200);
    }
    let refused = app.as_user(&alice, "GET", "/v1/Conversations", &[]).await;
    let retry_after = refused.headers.get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = refused.expect_error(429, 20429);
    assert!(body["message"].as_str().unwrap_or_default().contains("Too many requests"), "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    app.as_user(&bob, "GET", "/v1/Conversations", &[]).await.expect(200);
    for _ in 0..10 {
        app.get("/v1/Conversations").await.expect(200);
    }

    let limited =
        TestApp::builder().config(|c| c.rate_limit_account = confab::config::Rate::new(1, 2)).app().await;
    limited.get("/v1/Conversations").await.expect(200);
    limited.get("/v1/Conversations").await.expect(200);
    limited.get("/v1/Conversations").await.expect_error(429, 20429);
}
