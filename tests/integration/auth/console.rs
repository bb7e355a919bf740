//! `POST /console/token`: the console's "chat as". An access token for any
//! identity of the account's services, signed with a key Confab keeps for
//! the console; the key is an ordinary one the account can revoke.

use crate::util::{TestApp, bearer};

#[actix_web::test]
async fn the_console_mints_a_token_the_api_accepts_and_the_account_can_revoke() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let minted = app.post("/console/token", &[("Identity", "alice")]).await.expect(200);
    assert_eq!(minted["identity"], "alice");
    assert_eq!(minted["service_sid"], service.as_str());
    assert_eq!(minted["account_sid"], app.account.sid.as_str());
    let token = minted["token"].as_str().unwrap().to_owned();
    let key_sid = minted["key_sid"].as_str().unwrap().to_owned();

    // The token is an end user's: alice's own requests work, account ones do not.
    let me = app.as_user(&token, "GET", &format!("/v1/Services/{service}/Users/alice"), &[]).await;
    assert_eq!(me.expect(200)["identity"], "alice");
    app.as_user(&token, "GET", "/v1/Services", &[]).await.expect_error(403, 20403);

    // One key per account, reused; listed with the account's keys.
    let again = app.post("/console/token", &[("Identity", "bob"), ("Ttl", "600")]).await.expect(200);
    assert_eq!(again["key_sid"], key_sid.as_str());
    let keys = app.get(&format!("/2010-04-01/Accounts/{}/Keys.json", app.account.sid)).await.expect(200);
    let listed = keys["keys"].as_array().unwrap();
    assert!(
        listed.iter().any(|k| k["sid"] == key_sid.as_str() && k["friendly_name"] == "Confab console"),
        "{keys}"
    );

    // Revoking it stops its tokens at once; the next request makes another key.
    app.delete(&format!("/2010-04-01/Accounts/{}/Keys/{key_sid}.json", app.account.sid)).await.expect(204);
    app.as_user(&token, "GET", &format!("/v1/Services/{service}/Users/alice"), &[])
        .await
        .expect_error(401, 20101);
    let fresh = app.post("/console/token", &[("Identity", "alice")]).await.expect(200);
    assert_ne!(fresh["key_sid"], key_sid.as_str());
    let token = fresh["token"].as_str().unwrap();
    app.as_user(token, "GET", &format!("/v1/Services/{service}/Users/alice"), &[]).await.expect(200);
}

#[actix_web::test]
async fn console_tokens_need_the_auth_token_an_identity_and_the_accounts_service() {
    let app = TestApp::new().await;
    app.send("POST", "/console/token", &[("Identity", "alice")], None).await.expect_error(401, 20003);
    app.post("/console/token", &[]).await.expect_error(400, 20001);
    app.post("/console/token", &[("Identity", "system")]).await.expect_error(400, 20001);
    app.post("/console/token", &[("Identity", "alice"), ("Ttl", "999999")]).await.expect_error(400, 20001);
    // Another account's service is not found.
    let other = app.create_account().await;
    let other_service = app.get_as(&other, "/v1/Configuration").await.expect(200)["default_chat_service_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/console/token", &[("Identity", "alice"), ("ServiceSid", &other_service)])
        .await
        .expect_error(404, 20404);
    // An API key is not the Auth Token; nor is an end user's token.
    let key = app.api_key().await;
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", key.sid, key.secret)
        )
    );
    app.send("POST", "/console/token", &[("Identity", "alice")], Some(&basic)).await.expect_error(403, 20403);
    let user = app.user_token(&key, "alice").await;
    app.send("POST", "/console/token", &[("Identity", "bob")], Some(&bearer(&user)))
        .await
        .expect_error(403, 20403);
}
