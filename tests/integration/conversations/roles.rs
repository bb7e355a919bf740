//! Roles on both path families: create, validate permissions, update
//! (replace), fetch, list, delete, and the roles that cannot be deleted.

use crate::util::{TestApp, assert_keys, assert_twilio_date};
use serde_json::{Value, json};

const ROLE_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "chat_service_sid",
    "friendly_name",
    "type",
    "permissions",
    "date_created",
    "date_updated",
    "url",
];

fn is_sid(v: &Value, prefix: &str) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

fn sid(v: &Value) -> String {
    v["sid"].as_str().unwrap_or_else(|| panic!("no sid: {v}")).to_owned()
}

async fn role_sids(app: &TestApp, path: &str) -> Vec<String> {
    let body = app.get(path).await.expect(200);
    assert_eq!(body["meta"]["key"], "roles", "{body}");
    body["roles"].as_array().unwrap().iter().map(sid).collect()
}

/// The default role with this friendly name.
async fn default_role(app: &TestApp, name: &str) -> Value {
    let body = app.get("/v1/Roles").await.expect(200);
    body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["friendly_name"] == name)
        .unwrap_or_else(|| panic!("no role {name}: {body}"))
        .clone()
}

async fn create_role(app: &TestApp, path: &str, name: &str, kind: &str, perms: &[&str]) -> Value {
    let mut form = vec![("FriendlyName", name), ("Type", kind)];
    form.extend(perms.iter().map(|p| ("Permission", *p)));
    app.post(path, &form).await.expect(201)
}

#[actix_web::test]
async fn roles_are_created_on_both_families() {
    let app = TestApp::new().await;
    let default = app.default_service().await;

    let role = app
        .post(
            "/v1/Roles",
            &[
                ("FriendlyName", "moderator"),
                ("Type", "conversation"),
                ("Permission", "sendMessage"),
                ("Permission", "leaveConversation"),
                ("Permission", "removeParticipant"),
            ],
        )
        .await
        .expect(201);
    assert_keys(&role, ROLE_KEYS);
    assert!(is_sid(&role["sid"], "RL"), "{role}");
    assert_eq!(role["account_sid"], app.account.sid.as_str());
    assert_eq!(role["chat_service_sid"], default.as_str());
    assert_eq!(role["friendly_name"], "moderator");
    assert_eq!(role["type"], "conversation");
    assert_eq!(role["permissions"], json!(["sendMessage", "leaveConversation", "removeParticipant"]));
    assert_twilio_date(&role["date_created"]);
    assert_twilio_date(&role["date_updated"]);
    let rl = sid(&role);
    assert_eq!(role["url"], format!("http://localhost/v1/Roles/{rl}"));

    // The same role through the service family spells its URL that way.
    let fetched = app.get(&format!("/v1/Services/{default}/Roles/{rl}")).await.expect(200);
    assert_eq!(fetched["url"], format!("http://localhost/v1/Services/{default}/Roles/{rl}"));
    assert_eq!(fetched["permissions"], role["permissions"]);

    // A service role on an explicit, non-default service.
    let other = sid(&app.post("/v1/Services", &[("FriendlyName", "other")]).await.expect(201));
    let service_role = create_role(
        &app,
        &format!("/v1/Services/{other}/Roles"),
        "lurker",
        "service",
        &["joinConversation", "editOwnUserInfo"],
    )
    .await;
    assert_keys(&service_role, ROLE_KEYS);
    assert_eq!(service_role["chat_service_sid"], other.as_str());
    assert_eq!(service_role["type"], "service");
    assert_eq!(service_role["permissions"], json!(["joinConversation", "editOwnUserInfo"]));
    let srl = sid(&service_role);
    assert_eq!(service_role["url"], format!("http://localhost/v1/Services/{other}/Roles/{srl}"));

    // Each role lives in its own service only.
    assert!(role_sids(&app, "/v1/Roles").await.contains(&rl));
    assert!(!role_sids(&app, "/v1/Roles").await.contains(&srl));
    assert!(role_sids(&app, &format!("/v1/Services/{other}/Roles")).await.contains(&srl));
    app.get(&format!("/v1/Roles/{srl}")).await.expect_error(404, 20404);
    app.get(&format!("/v1/Services/{other}/Roles/{rl}")).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn unknown_permissions_are_refused_by_name() {
    let app = TestApp::new().await;
    for kind in ["conversation", "service"] {
        let body = app
            .post("/v1/Roles", &[("FriendlyName", "x"), ("Type", kind), ("Permission", "flyToTheMoon")])
            .await
            .expect_error(400, 20001);
        assert!(message(&body).contains("flyToTheMoon"), "{body}");
    }
    // One bad name among good ones still refuses the whole role.
    let body = app
        .post(
            "/v1/Roles",
            &[
                ("FriendlyName", "x"),
                ("Type", "conversation"),
                ("Permission", "sendMessage"),
                ("Permission", "sendCarrierPigeon"),
            ],
        )
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("sendCarrierPigeon"), "{body}");
    // Names are case-sensitive.
    let body = app
        .post("/v1/Roles", &[("FriendlyName", "x"), ("Type", "conversation"), ("Permission", "SendMessage")])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("SendMessage"), "{body}");
    assert_eq!(role_sids(&app, "/v1/Roles").await.len(), 4, "no role was created");
}

#[actix_web::test]
async fn permissions_must_fit_the_role_type() {
    let app = TestApp::new().await;
    // Conversation-only permissions on a service role.
    for perm in ["sendMessage", "sendMediaMessage", "leaveConversation", "deleteOwnMessage"] {
        let body = app
            .post("/v1/Roles", &[("FriendlyName", "x"), ("Type", "service"), ("Permission", perm)])
            .await
            .expect_error(400, 20001);
        assert!(message(&body).contains(perm), "{body}");
    }
    // Service-only permissions on a conversation role.
    for perm in ["createConversation", "joinConversation"] {
        let body = app
            .post("/v1/Roles", &[("FriendlyName", "x"), ("Type", "conversation"), ("Permission", perm)])
            .await
            .expect_error(400, 20001);
        assert!(message(&body).contains(perm), "{body}");
    }
    // Permissions in both catalogues fit both types.
    create_role(&app, "/v1/Roles", "a", "service", &["addParticipant", "editAnyMessage"]).await;
    create_role(&app, "/v1/Roles", "b", "conversation", &["addParticipant", "editAnyMessage"]).await;
    assert_eq!(role_sids(&app, "/v1/Roles").await.len(), 6);
}

#[actix_web::test]
async fn create_requires_friendly_name_type_and_permission() {
    let app = TestApp::new().await;
    let full = [("FriendlyName", "name"), ("Type", "conversation"), ("Permission", "sendMessage")];
    for missing in ["FriendlyName", "Type", "Permission"] {
        let form: Vec<(&str, &str)> = full.iter().copied().filter(|(k, _)| *k != missing).collect();
        let body = app.post("/v1/Roles", &form).await.expect_error(400, 20001);
        assert!(message(&body).contains(missing), "missing {missing}: {body}");
        // An empty value is as good as missing.
        let form: Vec<(&str, &str)> =
            full.iter().map(|&(k, v)| if k == missing { (k, "") } else { (k, v) }).collect();
        let body = app.post("/v1/Roles", &form).await.expect_error(400, 20001);
        assert!(message(&body).contains(missing), "empty {missing}: {body}");
    }
    let body = app
        .post("/v1/Roles", &[("FriendlyName", "x"), ("Type", "channel"), ("Permission", "sendMessage")])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("Type"), "{body}");
    assert_eq!(role_sids(&app, "/v1/Roles").await.len(), 4, "no role was created");
}

#[actix_web::test]
async fn update_replaces_the_whole_permission_set() {
    let app = TestApp::new().await;
    let role =
        create_role(&app, "/v1/Roles", "r", "conversation", &["sendMessage", "leaveConversation"]).await;
    let path = format!("/v1/Roles/{}", sid(&role));

    let updated = app
        .post(&path, &[("Permission", "deleteOwnMessage"), ("Permission", "editOwnMessage")])
        .await
        .expect(200);
    assert_keys(&updated, ROLE_KEYS);
    assert_eq!(updated["permissions"], json!(["deleteOwnMessage", "editOwnMessage"]));
    assert_eq!(updated["sid"], role["sid"]);
    assert_eq!(updated["friendly_name"], "r");
    assert_eq!(updated["type"], "conversation");
    assert_eq!(updated["date_created"], role["date_created"]);
    assert_eq!(app.get(&path).await.expect(200), updated, "the new set is stored");

    // A single permission replaces everything too.
    let single = app.post(&path, &[("Permission", "sendMediaMessage")]).await.expect(200);
    assert_eq!(single["permissions"], json!(["sendMediaMessage"]));

    // Bad updates change nothing.
    let body = app.post(&path, &[("Permission", "teleport")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("teleport"), "{body}");
    let body = app.post(&path, &[("Permission", "createConversation")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("createConversation"), "{body}");
    let body = app.post(&path, &[]).await.expect_error(400, 20001);
    assert!(message(&body).contains("Permission"), "{body}");
    assert_eq!(app.get(&path).await.expect(200)["permissions"], json!(["sendMediaMessage"]));

    // The service family updates the same role.
    let service = app.default_service().await;
    let via_service = app
        .post(&format!("/v1/Services/{service}/Roles/{}", sid(&role)), &[("Permission", "sendMessage")])
        .await
        .expect(200);
    assert_eq!(via_service["permissions"], json!(["sendMessage"]));
    assert_eq!(app.get(&path).await.expect(200)["permissions"], json!(["sendMessage"]));

    // Default roles can be edited too (e.g. granting addParticipant to channel users).
    let channel_user = default_role(&app, "channel user").await;
    let granted = app
        .post(
            &format!("/v1/Roles/{}", sid(&channel_user)),
            &[("Permission", "sendMessage"), ("Permission", "addParticipant")],
        )
        .await
        .expect(200);
    assert_eq!(granted["permissions"], json!(["sendMessage", "addParticipant"]));
}

#[actix_web::test]
async fn roles_are_fetched_listed_and_deleted() {
    let app = TestApp::new().await;
    let defaults = role_sids(&app, "/v1/Roles").await;
    assert_eq!(defaults.len(), 4);
    let a = create_role(&app, "/v1/Roles", "a", "conversation", &["sendMessage"]).await;
    let b = create_role(&app, "/v1/Roles", "b", "service", &["joinConversation"]).await;

    let fetched = app.get(&format!("/v1/Roles/{}", sid(&a))).await.expect(200);
    assert_eq!(fetched, a);

    // Creation order, every item once, over pages of two.
    let mut all = Vec::new();
    let mut next = Some("/v1/Roles?PageSize=2".to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        assert_eq!(body["meta"]["key"], "roles");
        assert_eq!(body["meta"]["page_size"], 2);
        for r in body["roles"].as_array().unwrap() {
            assert_keys(r, ROLE_KEYS);
            all.push(sid(r));
        }
        next = body["meta"]["next_page_url"].as_str().map(TestApp::path_of);
        pages += 1;
    }
    assert_eq!(pages, 3);
    let mut expected = defaults.clone();
    expected.extend([sid(&a), sid(&b)]);
    assert_eq!(all, expected);
    let body = app.get("/v1/Roles").await.expect(200);
    assert_eq!(body["roles"][4], a);

    // Deleting an unused role.
    let res = app.delete(&format!("/v1/Roles/{}", sid(&a))).await;
    assert_eq!(res.status, 204);
    assert!(res.raw.is_empty());
    app.get(&format!("/v1/Roles/{}", sid(&a))).await.expect_error(404, 20404);
    app.delete(&format!("/v1/Roles/{}", sid(&a))).await.expect_error(404, 20404);
    app.post(&format!("/v1/Roles/{}", sid(&a)), &[("Permission", "sendMessage")])
        .await
        .expect_error(404, 20404);
    let mut expected = defaults;
    expected.push(sid(&b));
    assert_eq!(role_sids(&app, "/v1/Roles").await, expected);

    // Through the service family as well.
    let service = app.default_service().await;
    assert_eq!(app.delete(&format!("/v1/Services/{service}/Roles/{}", sid(&b))).await.status, 204);
    app.get(&format!("/v1/Roles/{}", sid(&b))).await.expect_error(404, 20404);

    // Role paths need real role SIDs.
    app.get("/v1/Roles/moderator").await.expect_error(404, 20404);
    app.get(&format!("/v1/Roles/RL{}", "0".repeat(32))).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn a_role_held_by_a_user_cannot_be_deleted() {
    let app = TestApp::new().await;
    let role = create_role(&app, "/v1/Roles", "vip", "service", &["joinConversation"]).await;
    let path = format!("/v1/Roles/{}", sid(&role));
    app.post("/v1/Users", &[("Identity", "alice"), ("RoleSid", &sid(&role))]).await.expect(201);

    let body = app.delete(&path).await.expect_error(400, 20001);
    assert!(!message(&body).is_empty());
    assert_eq!(app.get(&path).await.expect(200), role, "the role still exists");

    // Once nobody holds it, it may go.
    let service_user = default_role(&app, "service user").await;
    app.post("/v1/Users/alice", &[("RoleSid", &sid(&service_user))]).await.expect(200);
    assert_eq!(app.delete(&path).await.status, 204);
    app.get(&path).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn a_role_held_by_a_participant_cannot_be_deleted() {
    let app = TestApp::new().await;
    let role = create_role(&app, "/v1/Roles", "speaker", "conversation", &["sendMessage"]).await;
    let path = format!("/v1/Roles/{}", sid(&role));
    let conv = app.conversation(&[]).await;
    let participants = format!("/v1/Conversations/{}/Participants", sid(&conv));
    let p = app
        .post(
            &participants,
            &[
                ("MessagingBinding.Address", "+15551234567"),
                ("MessagingBinding.ProxyAddress", "+15557654321"),
                ("RoleSid", &sid(&role)),
            ],
        )
        .await
        .expect(201);
    assert_eq!(p["role_sid"], role["sid"]);

    app.delete(&path).await.expect_error(400, 20001);
    assert_eq!(app.get(&path).await.expect(200), role, "the role still exists");
    // Through the service family too.
    let service = app.default_service().await;
    app.delete(&format!("/v1/Services/{service}/Roles/{}", sid(&role))).await.expect_error(400, 20001);
    app.get(&path).await.expect(200);

    assert_eq!(app.delete(&format!("{participants}/{}", sid(&p))).await.status, 204);
    assert_eq!(app.delete(&path).await.status, 204);
    app.get(&path).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn a_chat_participants_role_cannot_be_deleted() {
    let app = TestApp::new().await;
    let role = create_role(&app, "/v1/Roles", "host", "conversation", &["addParticipant"]).await;
    let conv = app.conversation(&[]).await;
    app.post(
        &format!("/v1/Conversations/{}/Participants", sid(&conv)),
        &[("Identity", "alice"), ("RoleSid", &sid(&role))],
    )
    .await
    .expect(201);
    app.delete(&format!("/v1/Roles/{}", sid(&role))).await.expect_error(400, 20001);
    app.get(&format!("/v1/Roles/{}", sid(&role))).await.expect(200);
}

#[actix_web::test]
async fn service_default_roles_cannot_be_deleted() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    for name in ["service user", "channel user", "channel admin"] {
        let role = default_role(&app, name).await;
        let body = app.delete(&format!("/v1/Roles/{}", sid(&role))).await.expect_error(400, 20001);
        assert!(!message(&body).is_empty());
        assert_eq!(app.get(&format!("/v1/Roles/{}", sid(&role))).await.expect(200), role, "{name} remains");
    }

    // A custom role becomes undeletable once it is named as a default, and
    // the role it replaced becomes deletable.
    let custom = create_role(&app, "/v1/Roles", "member", "conversation", &["sendMessage"]).await;
    let channel_user = default_role(&app, "channel user").await;
    app.post(
        &format!("/v1/Services/{service}/Configuration"),
        &[("DefaultConversationRoleSid", &sid(&custom))],
    )
    .await
    .expect(200);
    app.delete(&format!("/v1/Roles/{}", sid(&custom))).await.expect_error(400, 20001);
    app.get(&format!("/v1/Roles/{}", sid(&custom))).await.expect(200);
    assert_eq!(app.delete(&format!("/v1/Roles/{}", sid(&channel_user))).await.status, 204);
    app.get(&format!("/v1/Roles/{}", sid(&channel_user))).await.expect_error(404, 20404);

    // The configuration still points at what it did.
    let config = app.get(&format!("/v1/Services/{service}/Configuration")).await.expect(200);
    assert_eq!(config["default_conversation_role_sid"], custom["sid"]);
}

#[actix_web::test]
async fn another_accounts_role_is_not_found() {
    let app = TestApp::new().await;
    let role = create_role(&app, "/v1/Roles", "mine", "service", &["joinConversation"]).await;
    let rl = sid(&role);
    let service = app.default_service().await;
    let other = app.create_account().await;

    for path in [format!("/v1/Roles/{rl}"), format!("/v1/Services/{service}/Roles/{rl}")] {
        let body = app.get_as(&other, &path).await.expect_error(404, 20404);
        assert_keys(&body, &["code", "message", "more_info", "status"]);
        app.post_as(&other, &path, &[("Permission", "createConversation")]).await.expect_error(404, 20404);
        app.delete_as(&other, &path).await.expect_error(404, 20404);
    }
    // Nor can it be given to the other account's users.
    let body = app
        .post_as(&other, "/v1/Users", &[("Identity", "eve"), ("RoleSid", &rl)])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("RoleSid"), "{body}");

    // Their list holds only their own four defaults.
    let theirs = app.get_as(&other, "/v1/Roles").await.expect(200);
    let theirs = theirs["roles"].as_array().unwrap();
    assert_eq!(theirs.len(), 4);
    for r in theirs {
        assert_ne!(r["chat_service_sid"], service.as_str());
        assert_eq!(r["account_sid"], other.sid.as_str());
    }

    assert_eq!(app.get(&format!("/v1/Roles/{rl}")).await.expect(200), role, "untouched");
}
