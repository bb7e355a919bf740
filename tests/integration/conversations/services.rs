//! Conversation Services, the account Configuration and the Service
//! Configuration: default service and roles, switching the default service,
//! default timers, and deleting services (with everything in them).

use crate::util::{TestApp, assert_keys, assert_twilio_date};
use confab::testing::StoreError;
use confab::testing::permission as permissions;
use diesel::prelude::*;
use serde_json::Value;

const CONFIGURATION_KEYS: &[&str] = &[
    "account_sid",
    "default_chat_service_sid",
    "default_messaging_service_sid",
    "default_inactive_timer",
    "default_closed_timer",
    "url",
    "links",
];

const SERVICE_KEYS: &[&str] =
    &["account_sid", "sid", "friendly_name", "date_created", "date_updated", "url", "links"];

const SERVICE_LINK_KEYS: &[&str] = &[
    "conversations",
    "users",
    "roles",
    "bindings",
    "configuration",
    "participant_conversations",
    "conversation_with_participants",
];

const SERVICE_CONFIGURATION_KEYS: &[&str] = &[
    "chat_service_sid",
    "default_conversation_creator_role_sid",
    "default_conversation_role_sid",
    "default_chat_service_role_sid",
    "reachability_enabled",
    // Confab extension: the body of messages sent with media and no Body.
    "media_compatibility_message",
    "url",
    "links",
];

fn is_sid(v: &Value, prefix: &str) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        v.as_array().expect("array").iter().map(|p| p.as_str().expect("string").to_owned()).collect();
    out.sort();
    out
}

fn sorted_str(v: &[permissions::Permission]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|p| p.name().to_owned()).collect();
    out.sort();
    out
}

/// Every item of a list response under `key`.
fn items(body: &Value, key: &str) -> Vec<Value> {
    assert_eq!(body["meta"]["key"], key, "{body}");
    body[key].as_array().unwrap_or_else(|| panic!("no {key} array: {body}")).clone()
}

fn sids(list: &[Value]) -> Vec<String> {
    list.iter().map(|v| v["sid"].as_str().expect("sid").to_owned()).collect()
}

/// The roles of a service, by friendly name.
async fn roles_by_name(app: &TestApp, service: &str) -> std::collections::HashMap<String, Value> {
    let body = app.get(&format!("/v1/Services/{service}/Roles")).await.expect(200);
    items(&body, "roles").into_iter().map(|r| (r["friendly_name"].as_str().unwrap().to_owned(), r)).collect()
}

async fn create_service(app: &TestApp, name: &str) -> Value {
    app.post("/v1/Services", &[("FriendlyName", name)]).await.expect(201)
}

#[actix_web::test]
async fn a_new_account_has_a_default_service_with_the_four_default_roles() {
    let app = TestApp::new().await;
    let config = app.get("/v1/Configuration").await.expect(200);
    let service = config["default_chat_service_sid"].clone();
    assert!(is_sid(&service, "IS"), "{config}");
    let service = service.as_str().unwrap();

    // The service exists and is the only one.
    let list = app.get("/v1/Services").await.expect(200);
    assert_eq!(sids(&items(&list, "services")), vec![service.to_owned()]);

    // Exactly four roles, with the Programmable Chat names and types.
    for path in ["/v1/Roles".to_owned(), format!("/v1/Services/{service}/Roles")] {
        let body = app.get(&path).await.expect(200);
        let roles = items(&body, "roles");
        assert_eq!(roles.len(), 4, "{body}");
        let mut names: Vec<(String, String)> = roles
            .iter()
            .map(|r| (r["friendly_name"].as_str().unwrap().into(), r["type"].as_str().unwrap().into()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ("channel admin".into(), "conversation".into()),
                ("channel user".into(), "conversation".into()),
                ("service admin".into(), "service".into()),
                ("service user".into(), "service".into()),
            ]
        );
        for r in &roles {
            assert_eq!(r["chat_service_sid"], service);
            assert_eq!(r["account_sid"], app.account.sid.as_str());
        }
    }

    let roles = roles_by_name(&app, service).await;
    for default in [
        &permissions::SERVICE_ADMIN,
        &permissions::SERVICE_USER,
        &permissions::CHANNEL_ADMIN,
        &permissions::CHANNEL_USER,
    ] {
        let role = &roles[default.friendly_name];
        assert_eq!(role["type"], default.role_type.as_str());
        assert_eq!(
            sorted(&role["permissions"]),
            sorted_str(default.permissions),
            "permissions of {}",
            default.friendly_name
        );
    }
    // Chat participants must be able to send text and media by default.
    let channel_user = sorted(&roles["channel user"]["permissions"]);
    assert!(channel_user.contains(&"sendMessage".to_owned()), "{channel_user:?}");
    assert!(channel_user.contains(&"sendMediaMessage".to_owned()), "{channel_user:?}");
    let service_user = sorted(&roles["service user"]["permissions"]);
    assert_eq!(service_user, ["createConversation", "editOwnUserInfo", "joinConversation"]);
}

#[actix_web::test]
async fn configuration_has_every_field_and_absolute_links() {
    let app = TestApp::new().await;
    let config = app.get("/v1/Configuration").await.expect(200);
    assert_keys(&config, CONFIGURATION_KEYS);
    let service = config["default_chat_service_sid"].as_str().unwrap();
    assert_eq!(config["account_sid"], app.account.sid.as_str());
    assert!(config["default_messaging_service_sid"].is_null());
    assert!(config["default_inactive_timer"].is_null());
    assert!(config["default_closed_timer"].is_null());
    assert_eq!(config["url"], "http://localhost/v1/Configuration");
    assert_keys(&config["links"], &["service", "webhooks"]);
    assert_eq!(config["links"]["service"], format!("http://localhost/v1/Services/{service}/Configuration"));
    assert_eq!(config["links"]["webhooks"], "http://localhost/v1/Configuration/Webhooks");
}

#[actix_web::test]
async fn service_configuration_points_at_the_default_roles() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let config = app.get(&format!("/v1/Services/{service}/Configuration")).await.expect(200);
    assert_keys(&config, SERVICE_CONFIGURATION_KEYS);
    assert_eq!(config["chat_service_sid"], service.as_str());
    assert_eq!(config["reachability_enabled"], false);
    let url = format!("http://localhost/v1/Services/{service}/Configuration");
    assert_eq!(config["url"], url.as_str());
    assert_keys(&config["links"], &["notifications", "webhooks"]);
    assert_eq!(config["links"]["notifications"], format!("{url}/Notifications"));
    assert_eq!(config["links"]["webhooks"], format!("{url}/Webhooks"));

    let roles = roles_by_name(&app, &service).await;
    assert_eq!(config["default_chat_service_role_sid"], roles["service user"]["sid"]);
    assert_eq!(config["default_conversation_role_sid"], roles["channel user"]["sid"]);
    assert_eq!(config["default_conversation_creator_role_sid"], roles["channel admin"]["sid"]);

    // The defaults are what new users and participants actually get.
    let user = app.post("/v1/Users", &[("Identity", "alice")]).await.expect(201);
    assert_eq!(user["role_sid"], roles["service user"]["sid"]);
    let conv = app.conversation(&[]).await;
    let p = app
        .post(
            &format!("/v1/Conversations/{}/Participants", conv["sid"].as_str().unwrap()),
            &[("Identity", "bob")],
        )
        .await
        .expect(201);
    assert_eq!(p["role_sid"], roles["channel user"]["sid"]);
}

#[actix_web::test]
async fn service_configuration_update_checks_role_types_and_the_changes_stick() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let path = format!("/v1/Services/{service}/Configuration");
    let before = app.get(&path).await.expect(200);
    let roles = roles_by_name(&app, &service).await;
    let service_user = roles["service user"]["sid"].as_str().unwrap().to_owned();
    let channel_user = roles["channel user"]["sid"].as_str().unwrap().to_owned();

    // A role of the wrong type: 400 naming the parameter, nothing changes.
    for (param, role) in [
        ("DefaultChatServiceRoleSid", channel_user.as_str()),
        ("DefaultConversationRoleSid", service_user.as_str()),
        ("DefaultConversationCreatorRoleSid", service_user.as_str()),
    ] {
        let body = app.post(&path, &[(param, role)]).await.expect_error(400, 20001);
        assert!(message(&body).contains(param), "{body}");
    }
    // Unknown or malformed role SIDs, and a bad boolean.
    let unknown = format!("RL{}", "0".repeat(32));
    let body = app.post(&path, &[("DefaultConversationRoleSid", &unknown)]).await.expect_error(400, 20001);
    assert!(message(&body).contains("DefaultConversationRoleSid"), "{body}");
    let body = app.post(&path, &[("DefaultChatServiceRoleSid", "nope")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("DefaultChatServiceRoleSid"), "{body}");
    let body = app.post(&path, &[("ReachabilityEnabled", "maybe")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("ReachabilityEnabled"), "{body}");
    // A role of another service of the same account is not this service's.
    let other = create_service(&app, "other").await;
    let other_roles = roles_by_name(&app, other["sid"].as_str().unwrap()).await;
    let body = app
        .post(&path, &[("DefaultConversationRoleSid", other_roles["channel user"]["sid"].as_str().unwrap())])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("DefaultConversationRoleSid"), "{body}");
    assert_eq!(app.get(&path).await.expect(200), before, "failed updates must change nothing");

    // Valid changes stick and take effect.
    let chat_role = app
        .post(
            "/v1/Roles",
            &[("FriendlyName", "member"), ("Type", "conversation"), ("Permission", "sendMessage")],
        )
        .await
        .expect(201);
    let creator_role = app
        .post(
            "/v1/Roles",
            &[("FriendlyName", "creator"), ("Type", "conversation"), ("Permission", "addParticipant")],
        )
        .await
        .expect(201);
    let user_role = app
        .post(
            "/v1/Roles",
            &[("FriendlyName", "limited"), ("Type", "service"), ("Permission", "joinConversation")],
        )
        .await
        .expect(201);
    let updated = app
        .post(
            &path,
            &[
                ("DefaultConversationRoleSid", chat_role["sid"].as_str().unwrap()),
                ("DefaultConversationCreatorRoleSid", creator_role["sid"].as_str().unwrap()),
                ("DefaultChatServiceRoleSid", user_role["sid"].as_str().unwrap()),
                ("ReachabilityEnabled", "true"),
            ],
        )
        .await
        .expect(200);
    assert_keys(&updated, SERVICE_CONFIGURATION_KEYS);
    assert_eq!(updated["reachability_enabled"], true);
    assert_eq!(updated["default_conversation_role_sid"], chat_role["sid"]);
    assert_eq!(updated["default_conversation_creator_role_sid"], creator_role["sid"]);
    assert_eq!(updated["default_chat_service_role_sid"], user_role["sid"]);
    assert_eq!(app.get(&path).await.expect(200), updated, "the update is stored");

    let user = app.post("/v1/Users", &[("Identity", "carol")]).await.expect(201);
    assert_eq!(user["role_sid"], user_role["sid"], "new users get the new default service role");
    let conv = app.conversation(&[]).await;
    let p = app
        .post(
            &format!("/v1/Conversations/{}/Participants", conv["sid"].as_str().unwrap()),
            &[("Identity", "dan")],
        )
        .await
        .expect(201);
    assert_eq!(p["role_sid"], chat_role["sid"], "new participants get the new default conversation role");

    // Switching reachability back off.
    let off = app.post(&path, &[("ReachabilityEnabled", "false")]).await.expect(200);
    assert_eq!(off["reachability_enabled"], false);
    assert_eq!(off["default_conversation_role_sid"], chat_role["sid"], "untouched fields stay");
}

#[actix_web::test]
async fn services_can_be_created_listed_fetched_and_deleted() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let created = create_service(&app, "Support").await;
    assert_keys(&created, SERVICE_KEYS);
    assert!(is_sid(&created["sid"], "IS"), "{created}");
    let sid = created["sid"].as_str().unwrap().to_owned();
    assert_ne!(sid, default);
    assert_eq!(created["account_sid"], app.account.sid.as_str());
    assert_eq!(created["friendly_name"], "Support");
    assert_twilio_date(&created["date_created"]);
    assert_twilio_date(&created["date_updated"]);
    let url = format!("http://localhost/v1/Services/{sid}");
    assert_eq!(created["url"], url.as_str());
    assert_keys(&created["links"], SERVICE_LINK_KEYS);
    for (key, suffix) in [
        ("conversations", "Conversations"),
        ("users", "Users"),
        ("roles", "Roles"),
        ("bindings", "Bindings"),
        ("configuration", "Configuration"),
        ("participant_conversations", "ParticipantConversations"),
        ("conversation_with_participants", "ConversationWithParticipants"),
    ] {
        assert_eq!(created["links"][key], format!("{url}/{suffix}"), "links.{key}");
    }

    let fetched = app.get(&format!("/v1/Services/{sid}")).await.expect(200);
    assert_eq!(fetched, created);

    let list = app.get("/v1/Services").await.expect(200);
    let listed = items(&list, "services");
    assert_eq!(sids(&listed), vec![default.clone(), sid.clone()], "creation order");
    assert_eq!(listed[1], created);
    for s in &listed {
        assert_keys(s, SERVICE_KEYS);
    }
    assert!(list["meta"]["url"].as_str().unwrap().starts_with("http://localhost/v1/Services?"));

    // A new service starts with its own four default roles, and its
    // configuration points at them.
    let roles = roles_by_name(&app, &sid).await;
    let default_roles = roles_by_name(&app, &default).await;
    assert_eq!(roles.len(), 4);
    for name in ["service admin", "service user", "channel admin", "channel user"] {
        assert_eq!(roles[name]["chat_service_sid"], sid.as_str());
        assert_ne!(roles[name]["sid"], default_roles[name]["sid"]);
    }
    let config = app.get(&format!("/v1/Services/{sid}/Configuration")).await.expect(200);
    assert_eq!(config["default_chat_service_role_sid"], roles["service user"]["sid"]);
    assert_eq!(config["default_conversation_role_sid"], roles["channel user"]["sid"]);
    assert_eq!(config["default_conversation_creator_role_sid"], roles["channel admin"]["sid"]);

    let res = app.delete(&format!("/v1/Services/{sid}")).await;
    assert_eq!(res.status, 204);
    assert!(res.raw.is_empty());
    app.get(&format!("/v1/Services/{sid}")).await.expect_error(404, 20404);
    app.delete(&format!("/v1/Services/{sid}")).await.expect_error(404, 20404);
    let list = app.get("/v1/Services").await.expect(200);
    assert_eq!(sids(&items(&list, "services")), vec![default]);

    // Malformed service SIDs are simply not found.
    app.get("/v1/Services/ISnothing").await.expect_error(404, 20404);
    app.get(&format!("/v1/Services/IS{}", "0".repeat(32))).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn creating_a_service_requires_a_friendly_name() {
    let app = TestApp::new().await;
    let body = app.post("/v1/Services", &[]).await.expect_error(400, 20001);
    assert!(message(&body).contains("FriendlyName"), "{body}");
    let body = app.post("/v1/Services", &[("FriendlyName", "")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("FriendlyName"), "{body}");
    let list = app.get("/v1/Services").await.expect(200);
    assert_eq!(items(&list, "services").len(), 1, "nothing was created");
}

#[actix_web::test]
async fn default_chat_service_sid_switches_the_service_behind_the_short_paths() {
    let app = TestApp::new().await;
    let first = app.default_service().await;
    let before = app.conversation(&[("FriendlyName", "on the first")]).await;
    assert_eq!(before["chat_service_sid"], first.as_str());

    let second = create_service(&app, "second").await["sid"].as_str().unwrap().to_owned();
    let config = app.post("/v1/Configuration", &[("DefaultChatServiceSid", &second)]).await.expect(200);
    assert_keys(&config, CONFIGURATION_KEYS);
    assert_eq!(config["default_chat_service_sid"], second.as_str());
    assert_eq!(config["links"]["service"], format!("http://localhost/v1/Services/{second}/Configuration"));
    assert_eq!(app.default_service().await, second, "the change is stored");

    let after = app.conversation(&[("FriendlyName", "on the second")]).await;
    assert_eq!(after["chat_service_sid"], second.as_str());
    assert_eq!(after["url"], format!("http://localhost/v1/Conversations/{}", after["sid"].as_str().unwrap()));

    // The short family now lists and fetches the second service only.
    let list = app.get("/v1/Conversations").await.expect(200);
    assert_eq!(sids(&items(&list, "conversations")), vec![after["sid"].as_str().unwrap().to_owned()]);
    app.get(&format!("/v1/Conversations/{}", before["sid"].as_str().unwrap())).await.expect_error(404, 20404);
    let roles = app.get("/v1/Roles").await.expect(200);
    for r in items(&roles, "roles") {
        assert_eq!(r["chat_service_sid"], second.as_str());
    }
    // The explicit family still reaches the first service.
    let list = app.get(&format!("/v1/Services/{first}/Conversations")).await.expect(200);
    assert_eq!(sids(&items(&list, "conversations")), vec![before["sid"].as_str().unwrap().to_owned()]);

    // Switching back restores the first.
    app.post("/v1/Configuration", &[("DefaultChatServiceSid", &first)]).await.expect(200);
    let list = app.get("/v1/Conversations").await.expect(200);
    assert_eq!(sids(&items(&list, "conversations")), vec![before["sid"].as_str().unwrap().to_owned()]);
}

#[actix_web::test]
async fn default_chat_service_sid_must_be_a_service_of_this_account() {
    let app = TestApp::new().await;
    let before = app.get("/v1/Configuration").await.expect(200);
    let unknown = format!("IS{}", "0".repeat(32));
    let body =
        app.post("/v1/Configuration", &[("DefaultChatServiceSid", &unknown)]).await.expect_error(400, 20001);
    assert!(message(&body).contains("DefaultChatServiceSid"), "{body}");
    let body =
        app.post("/v1/Configuration", &[("DefaultChatServiceSid", "ISbad")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("DefaultChatServiceSid"), "{body}");

    let other = app.create_account().await;
    let theirs = app.get_as(&other, "/v1/Configuration").await.expect(200)["default_chat_service_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let body =
        app.post("/v1/Configuration", &[("DefaultChatServiceSid", &theirs)]).await.expect_error(400, 20001);
    assert!(message(&body).contains("DefaultChatServiceSid"), "{body}");

    assert_eq!(app.get("/v1/Configuration").await.expect(200), before, "nothing changed");
}

#[actix_web::test]
async fn default_timers_apply_to_new_conversations() {
    let app = TestApp::new().await;
    let no_timers = app.conversation(&[]).await;
    assert_eq!(no_timers["timers"], serde_json::json!({}));

    let config = app
        .post("/v1/Configuration", &[("DefaultInactiveTimer", "PT5M"), ("DefaultClosedTimer", "PT20M")])
        .await
        .expect(200);
    assert_eq!(config["default_inactive_timer"], "PT5M");
    assert_eq!(config["default_closed_timer"], "PT20M");
    let fetched = app.get("/v1/Configuration").await.expect(200);
    assert_eq!(fetched["default_inactive_timer"], "PT5M");
    assert_eq!(fetched["default_closed_timer"], "PT20M");

    let ts = |v: &Value| confab::testing::time::parse(v.as_str().expect("date")).expect("parse date");
    let conv = app.conversation(&[]).await;
    assert_keys(&conv["timers"], &["date_inactive", "date_closed"]);
    assert_twilio_date(&conv["timers"]["date_inactive"]);
    assert_twilio_date(&conv["timers"]["date_closed"]);
    let from = ts(&conv["date_updated"]);
    assert_eq!(ts(&conv["timers"]["date_inactive"]) - from, 300);
    assert_eq!(ts(&conv["timers"]["date_closed"]) - from, 1200);

    // The request's own timers win over the defaults.
    let own = app.conversation(&[("Timers.Inactive", "PT2M")]).await;
    let from = ts(&own["date_updated"]);
    assert_eq!(ts(&own["timers"]["date_inactive"]) - from, 120);
    assert_eq!(ts(&own["timers"]["date_closed"]) - from, 1200);

    // Also on ConversationWithParticipants and the service family.
    let service = app.default_service().await;
    let conv = app.post(&format!("/v1/Services/{service}/Conversations"), &[]).await.expect(201);
    assert_eq!(ts(&conv["timers"]["date_closed"]) - ts(&conv["date_updated"]), 1200);
    let conv = app.post("/v1/ConversationWithParticipants", &[]).await.expect(201);
    assert_eq!(ts(&conv["timers"]["date_inactive"]) - ts(&conv["date_updated"]), 300);

    // Below the minimums, or not a duration: 400 naming the parameter.
    for (param, value) in
        [("DefaultInactiveTimer", "PT30S"), ("DefaultClosedTimer", "PT5M"), ("DefaultInactiveTimer", "soon")]
    {
        let body = app.post("/v1/Configuration", &[(param, value)]).await.expect_error(400, 20001);
        assert!(message(&body).contains(param), "{body}");
    }
    assert_eq!(app.get("/v1/Configuration").await.expect(200), fetched, "failed updates change nothing");

    // An empty value clears the default.
    let cleared = app
        .post("/v1/Configuration", &[("DefaultInactiveTimer", ""), ("DefaultClosedTimer", "")])
        .await
        .expect(200);
    assert!(cleared["default_inactive_timer"].is_null());
    assert!(cleared["default_closed_timer"].is_null());
    assert_eq!(app.conversation(&[]).await["timers"], serde_json::json!({}));
}

#[actix_web::test]
async fn default_messaging_service_applies_to_new_conversations() {
    let app = TestApp::new().await;
    let mg = format!("MG{}", "a".repeat(32));
    let config = app.post("/v1/Configuration", &[("DefaultMessagingServiceSid", &mg)]).await.expect(200);
    assert_eq!(config["default_messaging_service_sid"], mg.as_str());
    assert_eq!(app.get("/v1/Configuration").await.expect(200)["default_messaging_service_sid"], mg.as_str());
    assert_eq!(app.conversation(&[]).await["messaging_service_sid"], mg.as_str());
    let own = format!("MG{}", "b".repeat(32));
    assert_eq!(
        app.conversation(&[("MessagingServiceSid", &own)]).await["messaging_service_sid"],
        own.as_str()
    );

    let body = app
        .post("/v1/Configuration", &[("DefaultMessagingServiceSid", "MGnope")])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("DefaultMessagingServiceSid"), "{body}");
    let cleared = app.post("/v1/Configuration", &[("DefaultMessagingServiceSid", "")]).await.expect(200);
    assert!(cleared["default_messaging_service_sid"].is_null());
    assert!(app.conversation(&[]).await["messaging_service_sid"].is_null());
}

#[actix_web::test]
async fn the_default_service_cannot_be_deleted() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let conv = app.conversation(&[("FriendlyName", "keep me")]).await;
    let body = app.delete(&format!("/v1/Services/{default}")).await.expect_error(400, 20001);
    assert!(!message(&body).is_empty());
    app.get(&format!("/v1/Services/{default}")).await.expect(200);
    app.get(&format!("/v1/Conversations/{}", conv["sid"].as_str().unwrap())).await.expect(200);
    assert_eq!(app.default_service().await, default);

    // Once another service is the default, the old one may go.
    let second = create_service(&app, "second").await["sid"].as_str().unwrap().to_owned();
    app.post("/v1/Configuration", &[("DefaultChatServiceSid", &second)]).await.expect(200);
    app.delete(&format!("/v1/Services/{second}")).await.expect_error(400, 20001);
    assert_eq!(app.delete(&format!("/v1/Services/{default}")).await.status, 204);
    app.get(&format!("/v1/Services/{default}")).await.expect_error(404, 20404);
    app.get("/v1/Conversations").await.expect(200);
}

/// Rows left in a table for a service, read straight from the database.
async fn rows_for_service(app: &TestApp, service: &str) -> [i64; 5] {
    use confab::testing::schema::{conversations, messages, participants, roles, users};
    let service = service.to_owned();
    app.state
        .db
        .read(move |conn| {
            Ok::<_, StoreError>([
                conversations::table
                    .filter(conversations::service_sid.eq(&service))
                    .count()
                    .get_result(conn)?,
                participants::table
                    .filter(participants::service_sid.eq(&service))
                    .count()
                    .get_result(conn)?,
                messages::table.filter(messages::service_sid.eq(&service)).count().get_result(conn)?,
                users::table.filter(users::service_sid.eq(&service)).count().get_result(conn)?,
                roles::table.filter(roles::service_sid.eq(&service)).count().get_result(conn)?,
            ])
        })
        .await
        .expect("count rows")
}

#[actix_web::test]
async fn deleting_a_service_removes_its_conversations_users_and_roles() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let keep = app.conversation(&[("FriendlyName", "default's")]).await;
    app.post(
        &format!("/v1/Conversations/{}/Participants", keep["sid"].as_str().unwrap()),
        &[("Identity", "alice")],
    )
    .await
    .expect(201);

    let service = create_service(&app, "doomed").await["sid"].as_str().unwrap().to_owned();
    let base = format!("/v1/Services/{service}");
    let conv = app.post(&format!("{base}/Conversations"), &[("UniqueName", "room")]).await.expect(201);
    let conv_sid = conv["sid"].as_str().unwrap().to_owned();
    let participant = app
        .post(&format!("{base}/Conversations/{conv_sid}/Participants"), &[("Identity", "alice")])
        .await
        .expect(201);
    let sms = app
        .post(
            &format!("{base}/Conversations/{conv_sid}/Participants"),
            &[
                ("MessagingBinding.Address", "+15551234567"),
                ("MessagingBinding.ProxyAddress", "+15557654321"),
            ],
        )
        .await
        .expect(201);
    let msg = app
        .post(&format!("{base}/Conversations/{conv_sid}/Messages"), &[("Author", "alice"), ("Body", "hi")])
        .await
        .expect(201);
    let user = app.post(&format!("{base}/Users"), &[("Identity", "bob")]).await.expect(201);
    let role = app
        .post(
            &format!("{base}/Roles"),
            &[("FriendlyName", "custom"), ("Type", "conversation"), ("Permission", "sendMessage")],
        )
        .await
        .expect(201);
    assert_eq!(rows_for_service(&app, &service).await, [1, 2, 1, 2, 5]);

    let urls: Vec<String> = [
        &conv["url"],
        &participant["url"],
        &sms["url"],
        &msg["url"],
        &user["url"],
        &role["url"],
        &conv["links"]["participants"],
        &conv["links"]["messages"],
    ]
    .iter()
    .map(|u| TestApp::path_of(u.as_str().expect("url")))
    .collect();
    for url in &urls {
        app.get(url).await.expect(200);
    }

    let res = app.delete(&base).await;
    assert_eq!(res.status, 204, "body: {}", res.body);
    for url in &urls {
        app.get(url).await.expect_error(404, 20404);
    }
    app.get(&format!("{base}/Conversations/room")).await.expect_error(404, 20404);
    app.get(&format!("{base}/Users/bob")).await.expect_error(404, 20404);
    app.get(&format!("{base}/Configuration")).await.expect_error(404, 20404);
    assert_eq!(rows_for_service(&app, &service).await, [0; 5], "every row of the service is gone");

    // The default service is untouched.
    assert_eq!(rows_for_service(&app, &default).await, [1, 1, 0, 1, 4]);
    app.get(&format!("/v1/Conversations/{}/Participants/alice", keep["sid"].as_str().unwrap()))
        .await
        .expect(200);
    app.get("/v1/Users/alice").await.expect(200);
}

#[actix_web::test]
async fn a_service_whose_conversations_have_participants_can_be_deleted() {
    // The smallest case of the cascade above: one conversation, one
    // participant holding the service's default conversation role.
    let app = TestApp::new().await;
    let service = create_service(&app, "small").await["sid"].as_str().unwrap().to_owned();
    let conv = app.post(&format!("/v1/Services/{service}/Conversations"), &[]).await.expect(201);
    app.post(
        &format!("/v1/Services/{service}/Conversations/{}/Participants", conv["sid"].as_str().unwrap()),
        &[("MessagingBinding.Address", "+15551234567")],
    )
    .await
    .expect(201);
    let res = app.delete(&format!("/v1/Services/{service}")).await;
    assert_eq!(res.status, 204, "body: {}", res.body);
    app.get(&format!("/v1/Services/{service}")).await.expect_error(404, 20404);
    assert_eq!(rows_for_service(&app, &service).await, [0; 5]);
}

#[actix_web::test]
async fn another_accounts_service_is_not_found_on_every_path() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let base = format!("/v1/Services/{service}");
    let conv = app.post(&format!("{base}/Conversations"), &[("UniqueName", "mine")]).await.expect(201);
    let ch = conv["sid"].as_str().unwrap().to_owned();
    let p = app
        .post(&format!("{base}/Conversations/{ch}/Participants"), &[("Identity", "alice")])
        .await
        .expect(201);
    let mb = p["sid"].as_str().unwrap().to_owned();
    let m = app.post(&format!("{base}/Conversations/{ch}/Messages"), &[("Body", "secret")]).await.expect(201);
    let im = m["sid"].as_str().unwrap().to_owned();
    let us = app.get(&format!("{base}/Users/alice")).await.expect(200)["sid"].as_str().unwrap().to_owned();
    let rl = roles_by_name(&app, &service).await["channel user"]["sid"].as_str().unwrap().to_owned();
    let config_before = app.get(&format!("{base}/Configuration")).await.expect(200);

    let other = app.create_account().await;
    let gets = [
        base.clone(),
        format!("{base}/Configuration"),
        format!("{base}/Conversations"),
        format!("{base}/Conversations/{ch}"),
        format!("{base}/Conversations/mine"),
        format!("{base}/Conversations/{ch}/Participants"),
        format!("{base}/Conversations/{ch}/Participants/{mb}"),
        format!("{base}/Conversations/{ch}/Messages"),
        format!("{base}/Conversations/{ch}/Messages/{im}"),
        format!("{base}/Users"),
        format!("{base}/Users/{us}"),
        format!("{base}/Users/alice"),
        format!("{base}/Users/{us}/Conversations"),
        format!("{base}/Users/{us}/Conversations/{ch}"),
        format!("{base}/Roles"),
        format!("{base}/Roles/{rl}"),
        format!("{base}/ParticipantConversations?Identity=alice"),
    ];
    for path in &gets {
        let body = app.get_as(&other, path).await.expect_error(404, 20404);
        assert_keys(&body, &["code", "message", "more_info", "status"]);
        assert!(!body.to_string().contains("secret"), "{path} leaked data: {body}");
    }
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("{base}/Configuration"), vec![("ReachabilityEnabled", "true")]),
        (format!("{base}/Conversations"), vec![("FriendlyName", "intruder")]),
        (format!("{base}/Conversations/{ch}"), vec![("FriendlyName", "hacked")]),
        (format!("{base}/Conversations/{ch}/Participants"), vec![("Identity", "mallory")]),
        (format!("{base}/Conversations/{ch}/Participants/{mb}"), vec![("Attributes", "{\"x\":1}")]),
        (format!("{base}/Conversations/{ch}/Messages"), vec![("Body", "spam")]),
        (format!("{base}/Conversations/{ch}/Messages/{im}"), vec![("Body", "edited")]),
        (format!("{base}/Users"), vec![("Identity", "mallory")]),
        (format!("{base}/Users/{us}"), vec![("FriendlyName", "hacked")]),
        (format!("{base}/Users/{us}/Conversations/{ch}"), vec![("NotificationLevel", "muted")]),
        (
            format!("{base}/Roles"),
            vec![("FriendlyName", "x"), ("Type", "conversation"), ("Permission", "sendMessage")],
        ),
        (format!("{base}/Roles/{rl}"), vec![("Permission", "sendMessage")]),
        (format!("{base}/ConversationWithParticipants"), vec![("Participant", "{\"identity\":\"mallory\"}")]),
    ];
    for (path, form) in &posts {
        app.post_as(&other, path, form).await.expect_error(404, 20404);
    }
    let deletes = [
        format!("{base}/Conversations/{ch}/Messages/{im}"),
        format!("{base}/Conversations/{ch}/Participants/{mb}"),
        format!("{base}/Users/{us}/Conversations/{ch}"),
        format!("{base}/Users/{us}"),
        format!("{base}/Roles/{rl}"),
        format!("{base}/Conversations/{ch}"),
        base.clone(),
    ];
    for path in &deletes {
        app.delete_as(&other, path).await.expect_error(404, 20404);
    }

    // The other account sees only its own service.
    let theirs = app.get_as(&other, "/v1/Services").await.expect(200);
    let listed = sids(&items(&theirs, "services"));
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0], service);

    // Nothing of the owner's changed.
    let after = app.get(&format!("{base}/Conversations/{ch}")).await.expect(200);
    assert_eq!(after, conv);
    assert_eq!(app.get(&format!("{base}/Conversations/{ch}/Messages/{im}")).await.expect(200), m);
    assert_eq!(app.get(&format!("{base}/Conversations/{ch}/Participants/{mb}")).await.expect(200), p);
    assert_eq!(app.get(&format!("{base}/Configuration")).await.expect(200), config_before);
    assert_eq!(items(&app.get(&format!("{base}/Conversations")).await.expect(200), "conversations").len(), 1);
    assert_eq!(items(&app.get(&format!("{base}/Users")).await.expect(200), "users").len(), 1);
    assert_eq!(items(&app.get(&format!("{base}/Roles")).await.expect(200), "roles").len(), 4);
    app.get(&base).await.expect(200);
}
