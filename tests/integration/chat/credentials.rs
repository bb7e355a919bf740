//! Push credentials (`CR…`) on `/v1/Credentials` and Chat's
//! `/v2/Credentials`: one resource, secrets sealed and never shown, the
//! required secret per type, update keeping what it does not change,
//! paging, and account credentials only.

use super::*;

const CREDENTIAL_KEYS: &[&str] =
    &["sid", "account_sid", "friendly_name", "type", "sandbox", "date_created", "date_updated", "url"];

const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----\nMIIFake\n-----END CERTIFICATE-----";
const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpFake\n-----END RSA PRIVATE KEY-----";

#[actix_web::test]
async fn credentials_are_one_resource_on_v1_and_v2_and_never_show_secrets() {
    let app = TestApp::new().await;
    let apn = [
        ("Type", "apn"),
        ("FriendlyName", "ios"),
        ("Certificate", CERTIFICATE),
        ("PrivateKey", PRIVATE_KEY),
        ("Sandbox", "true"),
    ];
    let created = app.post("/v2/Credentials", &apn).await.expect(201);
    assert_keys(&created, CREDENTIAL_KEYS);
    assert!(is_sid(&created["sid"], "CR"), "{created}");
    assert_eq!(created["account_sid"], app.account.sid.as_str());
    assert_eq!(created["type"], "apn");
    assert_eq!(created["friendly_name"], "ios");
    assert_eq!(created["sandbox"], "True");
    assert_twilio_date(&created["date_created"]);
    let cr = sid(&created);
    assert_eq!(created["url"], format!("{HOST}/v2/Credentials/{cr}").as_str());
    assert!(!created.to_string().contains("MIIFake"), "{created}");

    // The same credential through Conversations, with its own URLs.
    let v1 = app.get(&format!("/v1/Credentials/{cr}")).await.expect(200);
    assert_eq!(v1["url"], format!("{HOST}/v1/Credentials/{cr}").as_str());
    assert_eq!(v1["type"], "apn");

    // Sealed at rest, and what was sent is what is kept.
    let (_, sealed, opened) =
        confab::testing::push_credential_secrets(&app.state, &app.account.sid, &cr).await;
    assert!(!String::from_utf8_lossy(&sealed).contains("MIIFake"));
    let opened: Value = serde_json::from_str(&opened).unwrap();
    assert_eq!(opened["certificate"], CERTIFICATE);
    assert_eq!(opened["private_key"], PRIVATE_KEY);

    // An update keeps what it does not change.
    let renamed = app
        .post(&format!("/v1/Credentials/{cr}"), &[("FriendlyName", "ios prod"), ("Sandbox", "false")])
        .await;
    let renamed = renamed.expect(200);
    assert_eq!(renamed["friendly_name"], "ios prod");
    assert_eq!(renamed["sandbox"], "False");
    let (_, _, opened) = confab::testing::push_credential_secrets(&app.state, &app.account.sid, &cr).await;
    assert_eq!(serde_json::from_str::<Value>(&opened).unwrap()["private_key"], PRIVATE_KEY);
    app.post(&format!("/v2/Credentials/{cr}"), &[("PrivateKey", "-----NEW KEY-----")]).await.expect(200);
    let (_, _, opened) = confab::testing::push_credential_secrets(&app.state, &app.account.sid, &cr).await;
    let opened: Value = serde_json::from_str(&opened).unwrap();
    assert_eq!(opened["private_key"], "-----NEW KEY-----");
    assert_eq!(opened["certificate"], CERTIFICATE);

    assert_eq!(app.delete(&format!("/v2/Credentials/{cr}")).await.status, 204);
    app.get(&format!("/v1/Credentials/{cr}")).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn each_type_needs_its_secret() {
    let app = TestApp::new().await;
    app.post("/v2/Credentials", &[("FriendlyName", "x")]).await.expect_error(400, 20001);
    app.post("/v2/Credentials", &[("Type", "sms")]).await.expect_error(400, 20001);
    let body = app.post("/v2/Credentials", &[("Type", "apn"), ("Certificate", CERTIFICATE)]).await;
    assert!(message(&body.expect_error(400, 20001)).contains("PrivateKey"));
    let body = app.post("/v1/Credentials", &[("Type", "fcm")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("Secret"), "{body}");
    let body =
        app.post("/v1/Credentials", &[("Type", "gcm"), ("Secret", "s")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("ApiKey"), "{body}");
    let fcm = app.post("/v1/Credentials", &[("Type", "fcm"), ("Secret", "fcm-server-key")]).await.expect(201);
    assert_eq!(fcm["type"], "fcm");
    assert!(fcm["sandbox"].is_null(), "{fcm}");
    assert!(fcm["friendly_name"].is_null(), "{fcm}");
}

#[actix_web::test]
async fn credentials_are_paged_per_account_and_need_account_credentials() {
    let app = TestApp::new().await;
    let mut made = Vec::new();
    for i in 0..3 {
        let name = format!("fcm {i}");
        let form = [("Type", "fcm"), ("Secret", "k"), ("FriendlyName", name.as_str())];
        made.push(sid(&app.post("/v2/Credentials", &form).await.expect(201)));
    }
    let (items, metas) = walk(&app, "/v2/Credentials?PageSize=2", "credentials").await;
    assert_eq!(sids(&items), made);
    assert_eq!(metas.len(), 2);
    let other = app.create_account().await;
    let theirs = app.get_as(&other, "/v2/Credentials").await.expect(200);
    assert!(list(&theirs, "credentials").is_empty(), "{theirs}");
    app.get_as(&other, &format!("/v1/Credentials/{}", made[0])).await.expect_error(404, 20404);
    let key = app.api_key().await;
    let token = app.user_token(&key, "alice").await;
    assert_eq!(app.as_user(&token, "GET", "/v2/Credentials", &[]).await.status, 403);
}
