//! Roles (`RL…`) through /v2 in Chat's vocabulary: `channel`/`deployment`,
//! Chat's permission names, update replaces the set, the default roles,
//! 50100/50104/50105, paging, delete; tokens are refused.

use super::*;

/// (method, path, form) of a request a test sends.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

#[actix_web::test]
async fn roles_round_trip_in_chats_vocabulary() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let channel_perms = [
        "sendMessage",
        "sendMediaMessage",
        "leaveChannel",
        "addMember",
        "removeMember",
        "destroyChannel",
        "editChannelName",
        "editChannelAttributes",
        "editOwnMessage",
        "deleteOwnMessage",
    ];
    let r = create_role(&app, &is, "moderator", "channel", &channel_perms).await;
    assert_role(&r, &is);
    assert_eq!(r["account_sid"], app.account.sid.as_str());
    assert_eq!(r["friendly_name"], "moderator");
    assert_eq!(r["type"], "channel");
    assert_eq!(sorted(&r["permissions"]), sorted_strs(&channel_perms));
    assert_eq!(r["date_updated"], r["date_created"]);
    let path = format!("{}/{}", roles_path(&is), sid(&r));
    assert_eq!(app.get(&path).await.expect(200), r);

    let deployment_perms = [
        "createChannel",
        "joinChannel",
        "destroyChannel",
        "editChannelName",
        "editChannelAttributes",
        "addMember",
        "removeMember",
        "editAnyMessage",
        "deleteAnyMessage",
        "editAnyUserInfo",
        "editOwnUserInfo",
    ];
    let d = create_role(&app, &is, "staff", "deployment", &deployment_perms).await;
    assert_role(&d, &is);
    assert_eq!(d["type"], "deployment");
    assert_eq!(sorted(&d["permissions"]), sorted_strs(&deployment_perms));

    // Both are listed after the four defaults.
    let (items, _) = walk(&app, &roles_path(&is), "roles").await;
    assert_eq!(items.len(), 6);
    assert_eq!(items[4], r);
    assert_eq!(items[5], d);
}

#[actix_web::test]
async fn chat_only_permission_names_are_in_the_catalogue() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let perms = [
        "sendMessage",
        "inviteMember",
        "editAnyMemberAttributes",
        "editOwnMemberAttributes",
        "editNotificationLevel",
    ];
    let r = create_role(&app, &is, "inviter", "channel", &perms).await;
    assert_eq!(sorted(&r["permissions"]), sorted_strs(&perms));
    // /v1 reads them under the same names.
    let v1 = app.get(&format!("/v1/Services/{is}/Roles/{}", sid(&r))).await.expect(200);
    assert_eq!(sorted(&v1["permissions"]), sorted_strs(&perms));
    assert_eq!(v1["type"], "conversation");
}

#[actix_web::test]
async fn update_replaces_the_whole_permission_set() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let r = create_role(&app, &is, "r", "channel", &["sendMessage", "leaveChannel"]).await;
    let path = format!("{}/{}", roles_path(&is), sid(&r));

    let updated = app
        .post(&path, &[("Permission", "deleteOwnMessage"), ("Permission", "editOwnMessage")])
        .await
        .expect(200);
    assert_role(&updated, &is);
    assert_eq!(sorted(&updated["permissions"]), ["deleteOwnMessage", "editOwnMessage"]);
    assert_eq!(updated["sid"], r["sid"]);
    assert_eq!(updated["friendly_name"], "r");
    assert_eq!(updated["type"], "channel");
    assert_eq!(updated["date_created"], r["date_created"]);
    assert_eq!(app.get(&path).await.expect(200), updated, "stored");

    let single = app.post(&path, &[("Permission", "addMember")]).await.expect(200);
    assert_eq!(single["permissions"], json!(["addMember"]));

    // Bad updates change nothing.
    let body = app.post(&path, &[("Permission", "teleport")]).await.expect_error(400, 50104);
    assert!(message(&body).contains("teleport"), "{body}");
    let body = app.post(&path, &[("Permission", "sendMessage"), ("Permission", "Teleport")]).await;
    body.expect_error(400, 50104);
    expect_status_error(app.post(&path, &[]).await, 400);
    assert_eq!(app.get(&path).await.expect(200)["permissions"], json!(["addMember"]));

    // Default roles can be edited too.
    let channel_user = sid(&roles_by_name(&app, &is).await["channel user"]);
    let granted = app
        .post(
            &format!("{}/{channel_user}", roles_path(&is)),
            &[("Permission", "sendMessage"), ("Permission", "addMember")],
        )
        .await
        .expect(200);
    assert_eq!(sorted(&granted["permissions"]), ["addMember", "sendMessage"]);
}

#[actix_web::test]
async fn create_requires_friendly_name_type_and_permission() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let full = [("FriendlyName", "name"), ("Type", "channel"), ("Permission", "sendMessage")];
    for missing in ["FriendlyName", "Type", "Permission"] {
        let form: Vec<(&str, &str)> = full.iter().copied().filter(|(k, _)| *k != missing).collect();
        let body = app.post(&roles_path(&is), &form).await.expect_error(400, 20001);
        assert!(message(&body).contains(missing), "missing {missing}: {body}");
    }
    // A type Chat does not know.
    let body = app
        .post(&roles_path(&is), &[("FriendlyName", "x"), ("Type", "galaxy"), ("Permission", "sendMessage")])
        .await
        .expect_error(400, 50105);
    assert!(message(&body).contains("galaxy") || message(&body).contains("Type"), "{body}");
    // A permission nobody knows, alone or among good ones.
    for perms in [vec!["flyToTheMoon"], vec!["sendMessage", "sendCarrierPigeon"]] {
        let mut form = vec![("FriendlyName", "x"), ("Type", "channel")];
        form.extend(perms.iter().map(|p| ("Permission", *p)));
        let body = app.post(&roles_path(&is), &form).await.expect_error(400, 50104);
        let bad = perms.last().unwrap();
        assert!(message(&body).contains(bad), "{body}");
    }
    // Names are case-sensitive.
    app.post(&roles_path(&is), &[("FriendlyName", "x"), ("Type", "channel"), ("Permission", "SendMessage")])
        .await
        .expect_error(400, 50104);
    let (items, _) = walk(&app, &roles_path(&is), "roles").await;
    assert_eq!(items.len(), 4, "no role was created");
}

#[actix_web::test]
async fn default_roles_have_chat_names_types_and_permissions() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let (roles, _) = walk(&app, &roles_path(&is), "roles").await;
    assert_eq!(roles.len(), 4);
    let mut names: Vec<(String, String)> =
        roles.iter().map(|r| (text(&r["friendly_name"]), text(&r["type"]))).collect();
    names.sort();
    let want = [
        ("channel admin", "channel"),
        ("channel user", "channel"),
        ("service admin", "deployment"),
        ("service user", "deployment"),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    assert_eq!(names, want);

    for r in &roles {
        assert_role(r, &is);
        // The same permissions as /v1 shows, under Chat's names.
        let v1 = app.get(&format!("/v1/Services/{is}/Roles/{}", sid(r))).await.expect(200);
        let mapped: Vec<&str> = v1["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| chat_permission(p.as_str().unwrap()))
            .collect();
        assert_eq!(sorted(&r["permissions"]), sorted_strs(&mapped), "{}", r["friendly_name"]);
        for p in sorted(&r["permissions"]) {
            assert!(!p.contains("Conversation") && !p.contains("Participant"), "a /v1 name in Chat: {r}");
        }
    }
    let by_name = roles_by_name(&app, &is).await;
    assert_eq!(
        sorted(&by_name["service user"]["permissions"]),
        ["createChannel", "editOwnUserInfo", "joinChannel"]
    );
    let channel_user = sorted(&by_name["channel user"]["permissions"]);
    for p in ["sendMessage", "sendMediaMessage", "leaveChannel"] {
        assert!(channel_user.iter().any(|c| c == p), "channel user lacks {p}: {channel_user:?}");
    }
}

#[actix_web::test]
async fn roles_are_paged_and_deleted() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let a = create_role(&app, &is, "a", "channel", &["sendMessage"]).await;
    let b = create_role(&app, &is, "b", "deployment", &["joinChannel"]).await;
    let (items, metas) = walk(&app, &format!("{}?PageSize=2", roles_path(&is)), "roles").await;
    assert_eq!(items.len(), 6);
    assert_eq!(metas.len(), 3);
    assert_eq!(items[4], a);
    assert_eq!(items[5], b);
    for r in &items {
        assert_role(r, &is);
    }

    let path = format!("{}/{}", roles_path(&is), sid(&a));
    let res = app.delete(&path).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    app.get(&path).await.expect_error(404, 50100);
    app.post(&path, &[("Permission", "sendMessage")]).await.expect_error(404, 50100);
    app.delete(&path).await.expect_error(404, 50100);
    app.get(&format!("{}/RL{}", roles_path(&is), "0".repeat(32))).await.expect_error(404, 50100);
    let (items, _) = walk(&app, &roles_path(&is), "roles").await;
    assert_eq!(items.len(), 5);
    assert_eq!(items[4], b);
    // Gone from /v1 too.
    app.get(&format!("/v1/Services/{is}/Roles/{}", sid(&a))).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn tokens_cannot_touch_roles() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let token = app.user_token(&key, "alice").await;
    let role = create_role(&app, &is, "custom", "channel", &["sendMessage"]).await;
    let path = format!("{}/{}", roles_path(&is), sid(&role));
    let roles = roles_path(&is);
    let new_role: &[(&str, &str)] =
        &[("FriendlyName", "mine"), ("Type", "deployment"), ("Permission", "createChannel")];
    let everything: &[(&str, &str)] = &[("Permission", "sendMessage"), ("Permission", "deleteAnyMessage")];
    let cases: [Case; 5] = [
        ("GET", roles.as_str(), &[]),
        ("POST", roles.as_str(), new_role),
        ("GET", path.as_str(), &[]),
        ("POST", path.as_str(), everything),
        ("DELETE", path.as_str(), &[]),
    ];
    for (method, path, form) in cases {
        let resp = app.as_user(&token, method, path, form).await;
        assert_eq!(resp.status, 403, "{method} {path}: {}", resp.body);
        expect_status_error(resp, 403);
    }
    assert_eq!(app.get(&path).await.expect(200), role, "unchanged");
    let (items, _) = walk(&app, &roles, "roles").await;
    assert_eq!(items.len(), 5);
}
