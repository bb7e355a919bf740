//! Services (`IS…`) through /v2: the flat Chat object with its defaults,
//! create, fetch, update (settings, limits, default roles), list, delete;
//! tokens are refused; another account's service does not exist.

use super::*;

/// (what, path, form) of a request a test sends.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

#[actix_web::test]
async fn a_new_service_has_every_chat_field_with_twilio_defaults() {
    let app = TestApp::new().await;
    let created = create_service(&app, "Support").await;
    assert_service(&created, &app.account.sid);
    let is = sid(&created);
    assert_ne!(is, app.default_service().await);
    assert_eq!(created["friendly_name"], "Support");
    assert_eq!(created["limits"], json!({"channel_members": 100, "user_channels": 250}));
    assert_eq!(created["read_status_enabled"], true);
    assert_eq!(created["reachability_enabled"], false);
    assert_eq!(created["typing_indicator_timeout"], 5);
    assert_eq!(created["consumption_report_interval"], 10);
    assert_eq!(created["notifications"], json!({}), "no notification set yet");
    assert_eq!(created["media"]["size_limit_mb"], 150);
    assert!(created["media"]["compatibility_message"].is_null(), "{created}");
    assert_eq!(created["pre_webhook_retry_count"], 0);
    assert_eq!(created["post_webhook_retry_count"], 0);
    assert!(created["pre_webhook_url"].is_null(), "{created}");
    assert!(created["post_webhook_url"].is_null(), "{created}");
    assert_eq!(created["date_updated"], created["date_created"]);

    // The default role SIDs are the service's own roles of those names.
    let roles = roles_by_name(&app, &is).await;
    assert_eq!(roles.len(), 4);
    assert_eq!(created["default_service_role_sid"], roles["service user"]["sid"]);
    assert_eq!(created["default_channel_role_sid"], roles["channel user"]["sid"]);
    assert_eq!(created["default_channel_creator_role_sid"], roles["channel admin"]["sid"]);

    assert_eq!(fetch_service(&app, &is).await, created);

    // The same row through /v1.
    let v1 = app.get(&format!("/v1/Services/{is}")).await.expect(200);
    assert_eq!(v1["friendly_name"], "Support");
    assert_eq!(v1["url"], format!("{HOST}/v1/Services/{is}"));
    let config = app.get(&format!("/v1/Services/{is}/Configuration")).await.expect(200);
    assert_eq!(config["default_chat_service_role_sid"], created["default_service_role_sid"]);
    assert_eq!(config["default_conversation_role_sid"], created["default_channel_role_sid"]);
    assert_eq!(config["default_conversation_creator_role_sid"], created["default_channel_creator_role_sid"]);

    // The account's default service reads the same way.
    let default = app.default_service().await;
    let d = fetch_service(&app, &default).await;
    assert_service(&d, &app.account.sid);
    assert_eq!(d["limits"], json!({"channel_members": 100, "user_channels": 250}));
}

#[actix_web::test]
async fn a_v1_service_is_a_chat_service_and_back() {
    let app = TestApp::new().await;
    let v1 = app.post("/v1/Services", &[("FriendlyName", "made in v1")]).await.expect(201);
    let is = sid(&v1);
    let chat = fetch_service(&app, &is).await;
    assert_service(&chat, &app.account.sid);
    assert_eq!(chat["friendly_name"], "made in v1");
    assert_eq!(chat["date_created"], v1["date_created"]);

    let v2 = create_service(&app, "made in v2").await;
    let listed = app.get("/v1/Services").await.expect(200);
    assert!(sids(list(&listed, "services")).contains(&sid(&v2)), "{listed}");
}

#[actix_web::test]
async fn creating_a_service_requires_a_friendly_name() {
    let app = TestApp::new().await;
    let body = app.post("/v2/Services", &[]).await.expect_error(400, 20001);
    assert!(message(&body).contains("FriendlyName"), "{body}");
    let body = app.post("/v2/Services", &[("FriendlyName", "")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("FriendlyName"), "{body}");
    let (items, _) = walk(&app, "/v2/Services", "services").await;
    assert_eq!(items.len(), 1, "only the default service: {items:?}");
}

#[actix_web::test]
async fn services_are_listed_in_creation_order_over_pages() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let mut want = vec![default];
    for name in ["a", "b", "c", "d"] {
        want.push(sid(&create_service(&app, name).await));
    }
    let (items, metas) = walk(&app, "/v2/Services?PageSize=2", "services").await;
    assert_eq!(sids(&items), want);
    assert_eq!(metas.len(), 3);
    for (i, meta) in metas.iter().enumerate() {
        assert_eq!(meta["page_size"], 2, "{meta}");
        assert_eq!(meta["page"], i, "{meta}");
        assert!(text(&meta["url"]).starts_with(&format!("{HOST}/v2/Services?")), "{meta}");
    }
    assert!(metas[2]["next_page_url"].is_null());
    for s in &items {
        assert_service(s, &app.account.sid);
    }
    assert_eq!(items[1]["friendly_name"], "a");

    // PageSize is capped at 100.
    let body = app.get("/v2/Services?PageSize=1000").await.expect(200);
    assert_eq!(body["meta"]["page_size"], 100);
    assert_eq!(list(&body, "services").len(), 5);
}

#[actix_web::test]
async fn update_changes_settings_and_untouched_fields_stay() {
    let app = TestApp::new().await;
    let created = create_service(&app, "Before").await;
    let is = sid(&created);
    let path = service_path(&is);
    let updated = app
        .post(
            &path,
            &[
                ("FriendlyName", "After"),
                ("ReadStatusEnabled", "false"),
                ("ReachabilityEnabled", "true"),
                ("TypingIndicatorTimeout", "12"),
                ("ConsumptionReportInterval", "30"),
                ("Limits.ChannelMembers", "500"),
                ("Limits.UserChannels", "20"),
                ("Media.CompatibilityMessage", "[media]"),
                ("Notifications.NewMessage.Enabled", "true"),
                ("Notifications.NewMessage.Template", "${USER}: ${MESSAGE}"),
                ("Notifications.LogEnabled", "true"),
            ],
        )
        .await
        .expect(200);
    assert_service(&updated, &app.account.sid);
    assert_eq!(updated["sid"], is.as_str());
    assert_eq!(updated["friendly_name"], "After");
    assert_eq!(updated["read_status_enabled"], false);
    assert_eq!(updated["reachability_enabled"], true);
    assert_eq!(updated["typing_indicator_timeout"], 12);
    assert_eq!(updated["consumption_report_interval"], 30);
    assert_eq!(updated["limits"], json!({"channel_members": 500, "user_channels": 20}));
    assert_eq!(updated["media"]["compatibility_message"], "[media]");
    assert_eq!(updated["media"]["size_limit_mb"], 150);
    assert_eq!(updated["notifications"]["new_message"]["enabled"], true, "{updated}");
    assert_eq!(updated["notifications"]["new_message"]["template"], "${USER}: ${MESSAGE}", "{updated}");
    assert_eq!(updated["notifications"]["log_enabled"], true, "{updated}");
    let notifications = updated["notifications"].as_object().unwrap();
    for unset in ["added_to_channel", "removed_from_channel", "invited_to_channel"] {
        assert!(!notifications.contains_key(unset), "{unset} was never set: {updated}");
    }
    assert_eq!(updated["date_created"], created["date_created"]);
    for key in ["default_service_role_sid", "default_channel_role_sid", "default_channel_creator_role_sid"] {
        assert_eq!(updated[key], created[key], "{key}");
    }
    assert_eq!(fetch_service(&app, &is).await, updated, "the update is stored");

    // A later update leaves what it does not name.
    let again = app.post(&path, &[("TypingIndicatorTimeout", "3")]).await.expect(200);
    assert_eq!(again["typing_indicator_timeout"], 3);
    assert_eq!(again["friendly_name"], "After");
    assert_eq!(again["read_status_enabled"], false);
    assert_eq!(again["limits"], json!({"channel_members": 500, "user_channels": 20}));
    assert_eq!(again["media"]["compatibility_message"], "[media]");
    assert_eq!(again["notifications"], updated["notifications"]);

    // Switching back.
    let back = app.post(&path, &[("ReadStatusEnabled", "true"), ("ReachabilityEnabled", "false")]).await;
    let back = back.expect(200);
    assert_eq!(back["read_status_enabled"], true);
    assert_eq!(back["reachability_enabled"], false);
}

#[actix_web::test]
async fn limits_must_be_between_1_and_1000() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let path = service_path(&is);
    let before = fetch_service(&app, &is).await;
    for (param, value) in [
        ("Limits.ChannelMembers", "0"),
        ("Limits.ChannelMembers", "1001"),
        ("Limits.ChannelMembers", "-5"),
        ("Limits.UserChannels", "0"),
        ("Limits.UserChannels", "1001"),
        ("Limits.UserChannels", "many"),
    ] {
        let body = expect_status_error(app.post(&path, &[(param, value)]).await, 400);
        assert!(message(&body).contains(param), "{param}={value}: {body}");
    }
    assert_eq!(fetch_service(&app, &is).await["limits"], before["limits"], "failed updates change nothing");

    // The bounds themselves are fine.
    let low = app.post(&path, &[("Limits.ChannelMembers", "1"), ("Limits.UserChannels", "1000")]).await;
    assert_eq!(low.expect(200)["limits"], json!({"channel_members": 1, "user_channels": 1000}));
    let high = app.post(&path, &[("Limits.ChannelMembers", "1000"), ("Limits.UserChannels", "1")]).await;
    assert_eq!(high.expect(200)["limits"], json!({"channel_members": 1000, "user_channels": 1}));
}

#[actix_web::test]
async fn default_role_sids_must_have_the_right_type_and_then_apply() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let path = service_path(&is);
    let before = fetch_service(&app, &is).await;
    let roles = roles_by_name(&app, &is).await;
    let service_user = sid(&roles["service user"]);
    let channel_user = sid(&roles["channel user"]);
    for (param, role) in [
        ("DefaultServiceRoleSid", channel_user.as_str()),
        ("DefaultChannelRoleSid", service_user.as_str()),
        ("DefaultChannelCreatorRoleSid", service_user.as_str()),
    ] {
        let body = expect_status_error(app.post(&path, &[(param, role)]).await, 400);
        assert!(message(&body).contains(param), "{body}");
    }
    let unknown = format!("RL{}", "0".repeat(32));
    let body = expect_status_error(app.post(&path, &[("DefaultChannelRoleSid", &unknown)]).await, 400);
    assert!(message(&body).contains("DefaultChannelRoleSid"), "{body}");
    assert_eq!(fetch_service(&app, &is).await, before, "failed updates change nothing");

    let member_role = create_role(&app, &is, "member", "channel", &["sendMessage"]).await;
    let creator_role = create_role(&app, &is, "creator", "channel", &["sendMessage", "addMember"]).await;
    let user_role = create_role(&app, &is, "limited", "deployment", &["joinChannel"]).await;
    let updated = app
        .post(
            &path,
            &[
                ("DefaultChannelRoleSid", &sid(&member_role)),
                ("DefaultChannelCreatorRoleSid", &sid(&creator_role)),
                ("DefaultServiceRoleSid", &sid(&user_role)),
            ],
        )
        .await
        .expect(200);
    assert_eq!(updated["default_channel_role_sid"], member_role["sid"]);
    assert_eq!(updated["default_channel_creator_role_sid"], creator_role["sid"]);
    assert_eq!(updated["default_service_role_sid"], user_role["sid"]);

    // New members and users get them.
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let m = add_member(&app, &is, &ch, "alice").await;
    assert_eq!(m["role_sid"], member_role["sid"]);
    let u = app.post(&users_path(&is), &[("Identity", "bob")]).await.expect(201);
    assert_eq!(u["role_sid"], user_role["sid"]);
}

#[actix_web::test]
async fn services_are_deleted() {
    let app = TestApp::new().await;
    let is = sid(&create_service(&app, "doomed").await);
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    add_member(&app, &is, &ch, "alice").await;
    send(&app, &is, &ch, &[("Body", "bye")]).await;

    let res = app.delete(&service_path(&is)).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    expect_status_error(app.get(&service_path(&is)).await, 404);
    expect_status_error(app.delete(&service_path(&is)).await, 404);
    expect_status_error(app.get(&channel_path(&is, &ch)).await, 404);
    app.get(&format!("/v1/Services/{is}")).await.expect_error(404, 20404);
    let (items, _) = walk(&app, "/v2/Services", "services").await;
    assert_eq!(sids(&items), vec![app.default_service().await]);
}

#[actix_web::test]
async fn tokens_cannot_read_or_change_services() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let token = app.user_token(&key, "alice").await;
    let before = fetch_service(&app, &is).await;
    let path = service_path(&is);
    let cases: Vec<Case> = vec![
        ("GET", "/v2/Services", vec![]),
        ("POST", "/v2/Services", vec![("FriendlyName", "mine")]),
        ("GET", path.as_str(), vec![]),
        ("POST", path.as_str(), vec![("FriendlyName", "hijacked")]),
        ("POST", path.as_str(), vec![("Limits.ChannelMembers", "1000")]),
        ("DELETE", path.as_str(), vec![]),
    ];
    for (method, path, form) in &cases {
        let resp = app.as_user(&token, method, path, form).await;
        assert_eq!(resp.status, 403, "{method} {path}: {}", resp.body);
        expect_status_error(resp, 403);
    }
    assert_eq!(fetch_service(&app, &is).await, before, "nothing changed");
    let (items, _) = walk(&app, "/v2/Services", "services").await;
    assert_eq!(items.len(), 1, "nothing was created");
    // The token still works where end users may go.
    app.as_user(&token, "GET", &channels_path(&is), &[]).await.expect(200);
}

#[actix_web::test]
async fn another_accounts_service_is_not_found_on_every_path() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "mine")]).await);
    let mb = sid(&add_member(&app, &is, &ch, "alice").await);
    let im = sid(&send(&app, &is, &ch, &[("Body", "secret")]).await);
    let rl = sid(&roles_by_name(&app, &is).await["channel user"]);
    let channel_before = app.get(&channel_path(&is, &ch)).await.expect(200);
    let service_before = fetch_service(&app, &is).await;

    let other = app.create_account().await;
    let base = service_path(&is);
    let gets = [
        base.clone(),
        channels_path(&is),
        channel_path(&is, &ch),
        channel_path(&is, "mine"),
        members_path(&is, &ch),
        format!("{}/{mb}", members_path(&is, &ch)),
        messages_path(&is, &ch),
        format!("{}/{im}", messages_path(&is, &ch)),
        roles_path(&is),
        format!("{}/{rl}", roles_path(&is)),
        users_path(&is),
        format!("{}/alice", users_path(&is)),
        user_channels_path(&is, "alice"),
        format!("{}/{ch}", user_channels_path(&is, "alice")),
    ];
    for path in &gets {
        let resp = app.get_as(&other, path).await;
        assert_eq!(resp.status, 404, "GET {path}: {}", resp.body);
        let body = expect_status_error(resp, 404);
        assert!(!body.to_string().contains("secret"), "{path} leaked: {body}");
    }
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (base.clone(), vec![("FriendlyName", "theirs now")]),
        (channels_path(&is), vec![("FriendlyName", "intruder")]),
        (channel_path(&is, &ch), vec![("FriendlyName", "hacked")]),
        (members_path(&is, &ch), vec![("Identity", "mallory")]),
        (messages_path(&is, &ch), vec![("Body", "spam")]),
        (roles_path(&is), vec![("FriendlyName", "x"), ("Type", "channel"), ("Permission", "sendMessage")]),
        (users_path(&is), vec![("Identity", "mallory")]),
    ];
    for (path, form) in &posts {
        let resp = app.post_as(&other, path, form).await;
        assert_eq!(resp.status, 404, "POST {path}: {}", resp.body);
        expect_status_error(resp, 404);
    }
    for path in [format!("{}/{im}", messages_path(&is, &ch)), channel_path(&is, &ch), base] {
        let resp = app.delete_as(&other, &path).await;
        assert_eq!(resp.status, 404, "DELETE {path}: {}", resp.body);
    }

    // Their list holds their own service only.
    let theirs = app.get_as(&other, "/v2/Services").await.expect(200);
    let listed = sids(list(&theirs, "services"));
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0], is);

    // Nothing of ours changed.
    assert_eq!(app.get(&channel_path(&is, &ch)).await.expect(200), channel_before);
    assert_eq!(fetch_service(&app, &is).await, service_before);
    let (members, _) = walk(&app, &members_path(&is, &ch), "members").await;
    assert_eq!(members.len(), 1);
    let (messages, _) = walk(&app, &messages_path(&is, &ch), "messages").await;
    assert_eq!(messages.len(), 1);
}
