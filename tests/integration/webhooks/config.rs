//! Where webhooks are configured: the service's, the account's (its
//! default service's) and conversation-scoped ones, on both path families.

use serde_json::json;

use crate::util::{TestApp, assert_keys, assert_twilio_date};

#[actix_web::test]
async fn a_services_webhooks_start_unset_and_take_every_field() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let path = format!("/v1/Services/{service}/Configuration/Webhooks");
    let unset = app.get(&path).await.expect(200);
    assert_keys(
        &unset,
        &[
            "account_sid",
            "chat_service_sid",
            "pre_webhook_url",
            "post_webhook_url",
            "filters",
            "method",
            "url",
        ],
    );
    assert_eq!(unset["pre_webhook_url"], json!(null));
    assert_eq!(unset["filters"], json!([]));
    assert_eq!(unset["method"], "POST");
    assert_eq!(unset["url"], format!("http://localhost{path}"));

    let set = app
        .post(
            &path,
            &[
                ("PreWebhookUrl", "https://hooks.example.com/pre"),
                ("PostWebhookUrl", "https://hooks.example.com/post?tenant=7"),
                ("Filters", "onMessageAdded"),
                ("Filters", "onMessageAdd"),
                ("Filters", "onMessageAdded"),
                ("Method", "get"),
            ],
        )
        .await
        .expect(200);
    assert_eq!(set["post_webhook_url"], "https://hooks.example.com/post?tenant=7");
    assert_eq!(set["filters"], json!(["onMessageAdded", "onMessageAdd"]));
    assert_eq!(set["method"], "GET");
    assert_eq!(app.get(&path).await.expect(200), set);

    // The account's configuration is its default service's.
    let account = app.get("/v1/Configuration/Webhooks").await.expect(200);
    assert_keys(
        &account,
        &["account_sid", "method", "filters", "pre_webhook_url", "post_webhook_url", "target", "url"],
    );
    assert_eq!(account["post_webhook_url"], set["post_webhook_url"]);
    assert_eq!(account["target"], "webhook");
    let changed = app
        .post(
            "/v1/Configuration/Webhooks",
            &[("PreWebhookUrl", ""), ("Target", "webhook"), ("Method", "POST")],
        )
        .await
        .expect(200);
    assert_eq!(changed["pre_webhook_url"], json!(null));
    assert_eq!(app.get(&path).await.expect(200)["method"], "POST");

    // Bad values name the parameter and change nothing.
    for (name, value) in [
        ("Filters", "onSomethingElse"),
        ("PostWebhookUrl", "not a url"),
        ("PostWebhookUrl", "ftp://example.com/"),
        ("Method", "PUT"),
    ] {
        let err = app.post(&path, &[(name, value)]).await.expect_error(400, 20001);
        assert!(err["message"].as_str().unwrap().contains(name), "{err}");
    }
    app.post("/v1/Configuration/Webhooks", &[("Target", "studio")]).await.expect_error(400, 20001);
    assert_eq!(app.get(&path).await.expect(200)["post_webhook_url"], set["post_webhook_url"]);
}

#[actix_web::test]
async fn webhook_configuration_is_the_accounts_own() {
    let app = TestApp::new().await;
    let other = app.create_account().await;
    let service = app.default_service().await;
    let path = format!("/v1/Services/{service}/Configuration/Webhooks");
    app.get_as(&other, &path).await.expect_error(404, 20404);
    app.post_as(&other, &path, &[("PostWebhookUrl", "https://x.example/")]).await.expect_error(404, 20404);
    let conversation = app.conversation(&[]).await;
    let hooks = format!("/v1/Conversations/{}/Webhooks", conversation["sid"].as_str().unwrap());
    app.get_as(&other, &hooks).await.expect_error(404, 20404);

    // End users never see or change webhooks.
    let key = app.api_key().await;
    let token = app.user_token(&key, "alice").await;
    app.as_user(&token, "GET", &hooks, &[]).await.expect_error(403, 20403);
    app.as_user(
        &token,
        "POST",
        &hooks,
        &[("Target", "webhook"), ("Configuration.Url", "https://x.example/")],
    )
    .await
    .expect_error(403, 20403);
    app.as_user(&token, "GET", &path, &[]).await.expect_error(403, 20403);
}

#[actix_web::test]
async fn conversation_scoped_webhooks_on_both_path_families() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let conversation = app.conversation(&[("UniqueName", "support")]).await;
    let sid = conversation["sid"].as_str().unwrap().to_owned();
    assert!(
        conversation["links"]["webhooks"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Conversations/{sid}/Webhooks"))
    );
    let hooks = format!("/v1/Conversations/{sid}/Webhooks");

    let created = app
        .post(
            &hooks,
            &[
                ("Target", "webhook"),
                ("Configuration.Url", "https://bot.example.com/hook"),
                ("Configuration.Method", "post"),
                ("Configuration.Filters", "onMessageAdded"),
                ("Configuration.Filters", "onParticipantAdded"),
            ],
        )
        .await
        .expect(201);
    assert_keys(
        &created,
        &[
            "sid",
            "account_sid",
            "conversation_sid",
            "target",
            "url",
            "configuration",
            "date_created",
            "date_updated",
        ],
    );
    let wh = created["sid"].as_str().unwrap().to_owned();
    assert!(wh.starts_with("WH") && wh.len() == 34, "{wh}");
    assert_eq!(created["target"], "webhook");
    assert_eq!(
        created["configuration"],
        json!({"url": "https://bot.example.com/hook", "method": "post", "filters": ["onMessageAdded", "onParticipantAdded"]})
    );
    assert_eq!(created["url"], format!("http://localhost{hooks}/{wh}"));
    assert_twilio_date(&created["date_created"]);

    // The service family, by unique name, shows the same webhook with its service.
    let by_service = format!("/v1/Services/{service}/Conversations/support/Webhooks/{wh}");
    let fetched = app.get(&by_service).await.expect(200);
    assert_eq!(fetched["chat_service_sid"], service.as_str());
    assert_eq!(fetched["configuration"], created["configuration"]);
    assert!(
        fetched["url"]
            .as_str()
            .unwrap()
            .contains(&format!("/Services/{service}/Conversations/{sid}/Webhooks/"))
    );

    let trigger = app
        .post(
            &hooks,
            &[
                ("Target", "trigger"),
                ("Configuration.Url", "https://bot.example.com/t"),
                ("Configuration.Triggers", "help"),
            ],
        )
        .await
        .expect(201);
    assert_eq!(trigger["configuration"]["triggers"], json!(["help"]));

    // Only post-event names; a trigger needs keywords; studio is named unsupported.
    app.post(
        &hooks,
        &[
            ("Target", "webhook"),
            ("Configuration.Url", "https://x.example/"),
            ("Configuration.Filters", "onMessageAdd"),
        ],
    )
    .await
    .expect_error(400, 20001);
    app.post(&hooks, &[("Target", "trigger"), ("Configuration.Url", "https://x.example/")])
        .await
        .expect_error(400, 20001);
    app.post(&hooks, &[("Target", "webhook")]).await.expect_error(400, 20001);
    let studio = app
        .post(&hooks, &[("Target", "studio"), ("Configuration.FlowSid", &format!("FW{}", "0".repeat(32)))])
        .await
        .expect_error(400, 20001);
    assert!(studio["message"].as_str().unwrap().contains("studio"), "{studio}");

    // Five at most.
    for n in 0..3 {
        let url = format!("https://x.example/{n}");
        app.post(&hooks, &[("Target", "webhook"), ("Configuration.Url", &url)]).await.expect(201);
    }
    let sixth =
        app.post(&hooks, &[("Target", "webhook"), ("Configuration.Url", "https://x.example/6")]).await;
    assert!(sixth.expect_error(400, 20001)["message"].as_str().unwrap().contains('5'));

    // Lists page by at most 5.
    let page = app.get(&format!("{hooks}?PageSize=2")).await.expect(200);
    assert_eq!(page["webhooks"].as_array().unwrap().len(), 2);
    assert_eq!(page["webhooks"][0]["sid"], wh.as_str());
    assert!(page["meta"]["next_page_url"].is_string());
    let capped = app.get(&format!("{hooks}?PageSize=6")).await.expect(200);
    assert_eq!(
        (capped["meta"]["page_size"].as_i64(), capped["webhooks"].as_array().unwrap().len()),
        (Some(5), 5)
    );

    // Update changes what it names; the target stays.
    let updated = app
        .post(
            &format!("{hooks}/{wh}"),
            &[("Configuration.Filters", "onMessageUpdated"), ("Configuration.Method", "GET")],
        )
        .await
        .expect(200);
    assert_eq!(updated["configuration"]["filters"], json!(["onMessageUpdated"]));
    assert_eq!(updated["configuration"]["method"], "get");
    assert_eq!(updated["configuration"]["url"], "https://bot.example.com/hook");

    app.delete(&format!("{hooks}/{wh}")).await.expect(204);
    app.get(&format!("{hooks}/{wh}")).await.expect_error(404, 20404);
    app.delete(&format!("{hooks}/{wh}")).await.expect_error(404, 20404);

    // Removing the conversation removes its webhooks.
    app.delete(&format!("/v1/Conversations/{sid}")).await.expect(204);
    app.get(&format!("{hooks}/{}", trigger["sid"].as_str().unwrap())).await.expect_error(404, 20404);
}
