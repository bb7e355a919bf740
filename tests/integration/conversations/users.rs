//! Users, a user's conversations (UserConversations), ParticipantConversations
//! and ConversationWithParticipants.

use crate::util::{TestApp, assert_keys, assert_twilio_date};
use serde_json::{Value, json};

const USER_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "chat_service_sid",
    "role_sid",
    "identity",
    "friendly_name",
    "attributes",
    "is_online",
    "is_notifiable",
    "date_created",
    "date_updated",
    "url",
    "links",
];

const USER_CONVERSATION_KEYS: &[&str] = &[
    "account_sid",
    "chat_service_sid",
    "conversation_sid",
    "unread_messages_count",
    "last_read_message_index",
    "participant_sid",
    "user_sid",
    "friendly_name",
    "conversation_state",
    "timers",
    "attributes",
    "date_created",
    "date_updated",
    "created_by",
    "notification_level",
    "unique_name",
    "url",
    "links",
];

const PARTICIPANT_CONVERSATION_KEYS: &[&str] = &[
    "account_sid",
    "chat_service_sid",
    "participant_sid",
    "participant_user_sid",
    "participant_identity",
    "participant_messaging_binding",
    "conversation_sid",
    "conversation_unique_name",
    "conversation_friendly_name",
    "conversation_attributes",
    "conversation_date_created",
    "conversation_date_updated",
    "conversation_created_by",
    "conversation_state",
    "conversation_timers",
    "links",
];

const CONVERSATION_KEYS: &[&str] = &[
    "account_sid",
    "chat_service_sid",
    "messaging_service_sid",
    "sid",
    "friendly_name",
    "unique_name",
    "attributes",
    "state",
    "date_created",
    "date_updated",
    "timers",
    "url",
    "links",
    "bindings",
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

fn list<'a>(body: &'a Value, key: &str) -> &'a Vec<Value> {
    assert_eq!(body["meta"]["key"], key, "{body}");
    body[key].as_array().unwrap_or_else(|| panic!("no {key}: {body}"))
}

async fn default_role(app: &TestApp, name: &str) -> Value {
    let body = app.get("/v1/Roles").await.expect(200);
    list(&body, "roles")
        .iter()
        .find(|r| r["friendly_name"] == name)
        .unwrap_or_else(|| panic!("no role {name}: {body}"))
        .clone()
}

async fn add_participant(app: &TestApp, conversation: &str, form: &[(&str, &str)]) -> Value {
    app.post(&format!("/v1/Conversations/{conversation}/Participants"), form).await.expect(201)
}

async fn participant_identities(app: &TestApp, conversation: &str) -> Vec<Value> {
    let body = app.get(&format!("/v1/Conversations/{conversation}/Participants")).await.expect(200);
    list(&body, "participants").iter().map(|p| p["identity"].clone()).collect()
}

async fn conversation_count(app: &TestApp) -> usize {
    list(&app.get("/v1/Conversations").await.expect(200), "conversations").len()
}

#[actix_web::test]
async fn users_are_created_with_every_field() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let service_user = default_role(&app, "service user").await;
    let user = app
        .post(
            "/v1/Users",
            &[("Identity", "alice"), ("FriendlyName", "Alice"), ("Attributes", "{ \"team\": \"blue\" }")],
        )
        .await
        .expect(201);
    assert_keys(&user, USER_KEYS);
    assert!(is_sid(&user["sid"], "US"), "{user}");
    assert_eq!(user["account_sid"], app.account.sid.as_str());
    assert_eq!(user["chat_service_sid"], service.as_str());
    assert_eq!(user["role_sid"], service_user["sid"], "the service's default service role");
    assert_eq!(user["identity"], "alice");
    assert_eq!(user["friendly_name"], "Alice");
    assert_eq!(user["attributes"], "{ \"team\": \"blue\" }", "attributes kept verbatim as a string");
    assert!(user["is_online"].is_null());
    assert!(user["is_notifiable"].is_null());
    assert_twilio_date(&user["date_created"]);
    assert_twilio_date(&user["date_updated"]);
    let us = sid(&user);
    let url = format!("http://localhost/v1/Users/{us}");
    assert_eq!(user["url"], url.as_str());
    assert_keys(&user["links"], &["user_conversations"]);
    assert_eq!(user["links"]["user_conversations"], format!("{url}/Conversations"));

    // Defaults when only the identity is given.
    let bare = app.post("/v1/Users", &[("Identity", "bob")]).await.expect(201);
    assert!(bare["friendly_name"].is_null());
    assert_eq!(bare["attributes"], "{}");

    // The service family spells URLs with the service.
    let other = sid(&app.post("/v1/Services", &[("FriendlyName", "other")]).await.expect(201));
    let there = app.post(&format!("/v1/Services/{other}/Users"), &[("Identity", "alice")]).await.expect(201);
    assert_eq!(there["chat_service_sid"], other.as_str());
    let url = format!("http://localhost/v1/Services/{other}/Users/{}", sid(&there));
    assert_eq!(there["url"], url.as_str());
    assert_eq!(there["links"]["user_conversations"], format!("{url}/Conversations"));

    // Bad attributes name the parameter.
    let body = app
        .post("/v1/Users", &[("Identity", "carol"), ("Attributes", "{nope")])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("Attributes"), "{body}");
}

#[actix_web::test]
async fn identity_is_required() {
    let app = TestApp::new().await;
    let body = app.post("/v1/Users", &[("FriendlyName", "nobody")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("Identity"), "{body}");
    let body = app.post("/v1/Users", &[("Identity", "")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("Identity"), "{body}");
    assert!(list(&app.get("/v1/Users").await.expect(200), "users").is_empty());
}

#[actix_web::test]
async fn role_sid_must_name_a_service_role_of_the_service() {
    let app = TestApp::new().await;
    let channel_user = default_role(&app, "channel user").await;
    let body = app
        .post("/v1/Users", &[("Identity", "alice"), ("RoleSid", &sid(&channel_user))])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("RoleSid"), "{body}");
    let unknown = format!("RL{}", "0".repeat(32));
    let body =
        app.post("/v1/Users", &[("Identity", "alice"), ("RoleSid", &unknown)]).await.expect_error(400, 20001);
    assert!(message(&body).contains("RoleSid"), "{body}");
    let body =
        app.post("/v1/Users", &[("Identity", "alice"), ("RoleSid", "admin")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("RoleSid"), "{body}");
    // A service role of a different service.
    let other = sid(&app.post("/v1/Services", &[("FriendlyName", "other")]).await.expect(201));
    let foreign = app
        .post(
            &format!("/v1/Services/{other}/Roles"),
            &[("FriendlyName", "x"), ("Type", "service"), ("Permission", "joinConversation")],
        )
        .await
        .expect(201);
    let body = app
        .post("/v1/Users", &[("Identity", "alice"), ("RoleSid", &sid(&foreign))])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("RoleSid"), "{body}");
    assert!(list(&app.get("/v1/Users").await.expect(200), "users").is_empty(), "nothing was created");

    let admin = default_role(&app, "service admin").await;
    let user = app.post("/v1/Users", &[("Identity", "alice"), ("RoleSid", &sid(&admin))]).await.expect(201);
    assert_eq!(user["role_sid"], admin["sid"]);
}

#[actix_web::test]
async fn users_are_fetched_by_sid_or_identity() {
    let app = TestApp::new().await;
    let user = app.post("/v1/Users", &[("Identity", "alice@example.com")]).await.expect(201);
    let by_sid = app.get(&format!("/v1/Users/{}", sid(&user))).await.expect(200);
    assert_eq!(by_sid, user);
    let by_identity = app.get("/v1/Users/alice@example.com").await.expect(200);
    assert_eq!(by_identity, user);
    app.get("/v1/Users/bob").await.expect_error(404, 20404);
    app.get(&format!("/v1/Users/US{}", "0".repeat(32))).await.expect_error(404, 20404);

    let service = app.default_service().await;
    let explicit = app.get(&format!("/v1/Services/{service}/Users/alice@example.com")).await.expect(200);
    assert_eq!(explicit["sid"], user["sid"]);
    assert_eq!(explicit["url"], format!("http://localhost/v1/Services/{service}/Users/{}", sid(&user)));
}

#[actix_web::test]
async fn a_duplicate_identity_conflicts() {
    let app = TestApp::new().await;
    let first = app.post("/v1/Users", &[("Identity", "alice")]).await.expect(201);
    let body = app
        .post("/v1/Users", &[("Identity", "alice"), ("FriendlyName", "Impostor")])
        .await
        .expect_error(409, 50201);
    assert!(message(&body).contains("alice"), "{body}");
    assert_eq!(app.get("/v1/Users/alice").await.expect(200), first, "the first user is unchanged");
    assert_eq!(list(&app.get("/v1/Users").await.expect(200), "users").len(), 1);

    // A user created implicitly by joining a conversation counts too.
    let conv = app.conversation(&[]).await;
    add_participant(&app, &sid(&conv), &[("Identity", "bob")]).await;
    app.post("/v1/Users", &[("Identity", "bob")]).await.expect_error(409, 50201);

    // Identities are per service.
    let other = sid(&app.post("/v1/Services", &[("FriendlyName", "other")]).await.expect(201));
    app.post(&format!("/v1/Services/{other}/Users"), &[("Identity", "alice")]).await.expect(201);
}

#[actix_web::test]
async fn users_are_updated() {
    let app = TestApp::new().await;
    let user = app
        .post("/v1/Users", &[("Identity", "alice"), ("FriendlyName", "A"), ("Attributes", "{\"a\":1}")])
        .await
        .expect(201);
    let admin = default_role(&app, "service admin").await;
    let path = format!("/v1/Users/{}", sid(&user));

    let updated = app
        .post(
            &path,
            &[("FriendlyName", "Alice Liddell"), ("Attributes", "{\"b\":2}"), ("RoleSid", &sid(&admin))],
        )
        .await
        .expect(200);
    assert_keys(&updated, USER_KEYS);
    assert_eq!(updated["friendly_name"], "Alice Liddell");
    assert_eq!(updated["attributes"], "{\"b\":2}");
    assert_eq!(updated["role_sid"], admin["sid"]);
    assert_eq!(updated["identity"], "alice");
    assert_eq!(updated["sid"], user["sid"]);
    assert_eq!(updated["date_created"], user["date_created"]);
    assert_eq!(app.get(&path).await.expect(200), updated, "stored");

    // Only what is sent changes; the identity path works too.
    let renamed = app.post("/v1/Users/alice", &[("FriendlyName", "Al")]).await.expect(200);
    assert_eq!(renamed["friendly_name"], "Al");
    assert_eq!(renamed["attributes"], "{\"b\":2}");
    assert_eq!(renamed["role_sid"], admin["sid"]);

    // Bad values name the parameter and change nothing.
    let body = app.post(&path, &[("Attributes", "[unclosed")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("Attributes"), "{body}");
    let channel_admin = default_role(&app, "channel admin").await;
    let body = app.post(&path, &[("RoleSid", &sid(&channel_admin))]).await.expect_error(400, 20001);
    assert!(message(&body).contains("RoleSid"), "{body}");
    assert_eq!(app.get(&path).await.expect(200), renamed);

    app.post("/v1/Users/nobody", &[("FriendlyName", "x")]).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn deleting_a_user_removes_their_participations() {
    let app = TestApp::new().await;
    let one = sid(&app.conversation(&[]).await);
    let two = sid(&app.conversation(&[]).await);
    let alice_in_one = add_participant(&app, &one, &[("Identity", "alice")]).await;
    add_participant(&app, &two, &[("Identity", "alice")]).await;
    add_participant(&app, &one, &[("Identity", "bob")]).await;
    let user = app.get("/v1/Users/alice").await.expect(200);

    let res = app.delete("/v1/Users/alice").await;
    assert_eq!(res.status, 204);
    assert!(res.raw.is_empty());
    app.get("/v1/Users/alice").await.expect_error(404, 20404);
    app.get(&format!("/v1/Users/{}", sid(&user))).await.expect_error(404, 20404);
    app.delete("/v1/Users/alice").await.expect_error(404, 20404);

    assert_eq!(participant_identities(&app, &one).await, vec![json!("bob")]);
    assert!(participant_identities(&app, &two).await.is_empty());
    app.get(&format!("/v1/Conversations/{one}/Participants/{}", sid(&alice_in_one)))
        .await
        .expect_error(404, 20404);
    let pc = app.get("/v1/ParticipantConversations?Identity=alice").await.expect(200);
    assert!(list(&pc, "conversations").is_empty(), "{pc}");
    // The conversations themselves stay, and bob is untouched.
    app.get(&format!("/v1/Conversations/{two}")).await.expect(200);
    app.get("/v1/Users/bob").await.expect(200);

    // Deleting through the service family, by SID.
    let service = app.default_service().await;
    let bob = app.get("/v1/Users/bob").await.expect(200);
    assert_eq!(app.delete(&format!("/v1/Services/{service}/Users/{}", sid(&bob))).await.status, 204);
    assert!(participant_identities(&app, &one).await.is_empty());
}

#[actix_web::test]
async fn users_list_in_pages() {
    let app = TestApp::new().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(sid(&app.post("/v1/Users", &[("Identity", &format!("user{i}"))]).await.expect(201)));
    }
    let mut seen = Vec::new();
    let mut metas = Vec::new();
    let mut next = Some("/v1/Users?PageSize=2".to_owned());
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        for u in list(&body, "users") {
            assert_keys(u, USER_KEYS);
            seen.push(sid(u));
        }
        next = body["meta"]["next_page_url"].as_str().map(TestApp::path_of);
        metas.push(body["meta"].clone());
    }
    assert_eq!(seen, created, "creation order, each once");
    assert_eq!(metas.len(), 3);
    for (i, meta) in metas.iter().enumerate() {
        assert_eq!(meta["page"], i);
        assert_eq!(meta["page_size"], 2);
        assert_eq!(meta["first_page_url"], "http://localhost/v1/Users?PageSize=2&Page=0");
    }
    assert!(metas[0]["previous_page_url"].is_null());
    assert!(metas[2]["next_page_url"].is_null());
    let body = app.get("/v1/Users").await.expect(200);
    assert_eq!(list(&body, "users").len(), 5);
    assert_eq!(body["meta"]["page_size"], 50);
}

#[actix_web::test]
async fn user_conversations_are_listed_and_fetched() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let one = app.conversation(&[("FriendlyName", "One"), ("UniqueName", "room-one")]).await;
    let two = app.conversation(&[("FriendlyName", "Two"), ("Attributes", "{\"x\":1}")]).await;
    let three = app.conversation(&[("FriendlyName", "Three")]).await;
    let p1 = add_participant(&app, &sid(&one), &[("Identity", "alice")]).await;
    let p2 = add_participant(&app, &sid(&two), &[("Identity", "alice")]).await;
    add_participant(&app, &sid(&three), &[("Identity", "bob")]).await;
    let user = app.get("/v1/Users/alice").await.expect(200);
    let us = sid(&user);

    let body = app.get("/v1/Users/alice/Conversations").await.expect(200);
    let items = list(&body, "conversations");
    assert_eq!(items.len(), 2, "{body}");
    assert!(
        body["meta"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://localhost/v1/Users/{us}/Conversations?")),
        "{body}"
    );
    for (item, (conv, p)) in items.iter().zip([(&one, &p1), (&two, &p2)]) {
        assert_keys(item, USER_CONVERSATION_KEYS);
        let ch = sid(conv);
        assert_eq!(item["account_sid"], app.account.sid.as_str());
        assert_eq!(item["chat_service_sid"], service.as_str());
        assert_eq!(item["conversation_sid"], ch.as_str());
        assert_eq!(item["participant_sid"], p["sid"]);
        assert_eq!(item["user_sid"], us.as_str());
        assert_eq!(item["friendly_name"], conv["friendly_name"]);
        assert_eq!(item["unique_name"], conv["unique_name"]);
        assert_eq!(item["attributes"], conv["attributes"]);
        assert_eq!(item["conversation_state"], "active");
        assert_eq!(item["notification_level"], "default");
        assert_eq!(item["created_by"], "system");
        assert_eq!(item["timers"], json!({}));
        assert!(item["last_read_message_index"].is_null());
        assert_eq!(item["date_created"], conv["date_created"]);
        assert_twilio_date(&item["date_updated"]);
        assert_eq!(item["url"], format!("http://localhost/v1/Users/{us}/Conversations/{ch}"));
        assert_keys(&item["links"], &["participant", "conversation"]);
        assert_eq!(item["links"]["conversation"], format!("http://localhost/v1/Conversations/{ch}"));
        assert_eq!(
            item["links"]["participant"],
            format!("http://localhost/v1/Conversations/{ch}/Participants/{}", sid(p))
        );
    }
    // By SID as well as by identity.
    let by_sid = app.get(&format!("/v1/Users/{us}/Conversations")).await.expect(200);
    assert_eq!(list(&by_sid, "conversations"), items);

    // Fetch by conversation SID or unique name.
    let fetched = app.get(&format!("/v1/Users/alice/Conversations/{}", sid(&one))).await.expect(200);
    assert_eq!(&fetched, &items[0]);
    let fetched = app.get("/v1/Users/alice/Conversations/room-one").await.expect(200);
    assert_eq!(&fetched, &items[0]);
    // Not a member, or no such user/conversation.
    app.get(&format!("/v1/Users/alice/Conversations/{}", sid(&three))).await.expect_error(404, 20404);
    app.get(&format!("/v1/Users/nobody/Conversations/{}", sid(&one))).await.expect_error(404, 20404);
    app.get("/v1/Users/nobody/Conversations").await.expect_error(404, 20404);
    app.get(&format!("/v1/Users/alice/Conversations/CH{}", "0".repeat(32))).await.expect_error(404, 20404);

    // The service family.
    let body = app.get(&format!("/v1/Services/{service}/Users/alice/Conversations")).await.expect(200);
    let item = &list(&body, "conversations")[0];
    assert_eq!(
        item["url"],
        format!("http://localhost/v1/Services/{service}/Users/{us}/Conversations/{}", sid(&one))
    );
    assert_eq!(
        item["links"]["conversation"],
        format!("http://localhost/v1/Services/{service}/Conversations/{}", sid(&one))
    );

    // Paging.
    let body = app.get("/v1/Users/alice/Conversations?PageSize=1").await.expect(200);
    assert_eq!(list(&body, "conversations").len(), 1);
    let next = TestApp::path_of(body["meta"]["next_page_url"].as_str().expect("next page"));
    let body = app.get(&next).await.expect(200);
    assert_eq!(list(&body, "conversations")[0]["conversation_sid"], two["sid"]);
    assert!(body["meta"]["next_page_url"].is_null());
}

#[actix_web::test]
async fn user_conversation_updates_notification_level_and_read_horizon() {
    let app = TestApp::new().await;
    let conv = app.conversation(&[]).await;
    let ch = sid(&conv);
    let p = add_participant(&app, &ch, &[("Identity", "alice")]).await;
    for body in ["one", "two", "three"] {
        app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Author", "bob"), ("Body", body)])
            .await
            .expect(201);
    }
    let path = format!("/v1/Users/alice/Conversations/{ch}");

    let muted = app.post(&path, &[("NotificationLevel", "muted")]).await.expect(200);
    assert_keys(&muted, USER_CONVERSATION_KEYS);
    assert_eq!(muted["notification_level"], "muted");
    assert_eq!(app.get(&path).await.expect(200)["notification_level"], "muted");

    // Read up to index 0 of 0..=2: two unread.
    let read = app.post(&path, &[("LastReadMessageIndex", "0")]).await.expect(200);
    assert_eq!(read["last_read_message_index"], 0);
    assert_eq!(read["unread_messages_count"], 2);
    assert_eq!(read["notification_level"], "muted", "untouched fields stay");
    let fetched = app.get(&path).await.expect(200);
    assert_eq!(fetched["last_read_message_index"], 0);
    assert_eq!(fetched["unread_messages_count"], 2);
    // The participant resource sees the same horizon.
    let participant = app.get(&format!("/v1/Conversations/{ch}/Participants/{}", sid(&p))).await.expect(200);
    assert_eq!(participant["last_read_message_index"], 0);

    // Everything read; then one more message arrives.
    let read = app.post(&path, &[("LastReadMessageIndex", "2")]).await.expect(200);
    assert_eq!(read["unread_messages_count"], 0);
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Author", "bob"), ("Body", "four")])
        .await
        .expect(201);
    assert_eq!(app.get(&path).await.expect(200)["unread_messages_count"], 1);
    let listed = app.get("/v1/Users/alice/Conversations").await.expect(200);
    assert_eq!(listed["conversations"][0]["unread_messages_count"], 1);
    assert_eq!(listed["conversations"][0]["last_read_message_index"], 2);

    // Both at once, back to the default level.
    let both =
        app.post(&path, &[("NotificationLevel", "default"), ("LastReadMessageIndex", "1")]).await.expect(200);
    assert_eq!(both["notification_level"], "default");
    assert_eq!(both["unread_messages_count"], 2);

    // Bad values name the parameter.
    let body = app.post(&path, &[("NotificationLevel", "loud")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("NotificationLevel"), "{body}");
    let body = app.post(&path, &[("LastReadMessageIndex", "-1")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("LastReadMessageIndex"), "{body}");
    let body = app.post(&path, &[("LastReadMessageIndex", "many")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("LastReadMessageIndex"), "{body}");
    assert_eq!(app.get(&path).await.expect(200)["last_read_message_index"], 1);
}

#[actix_web::test]
async fn deleting_a_user_conversation_leaves_the_conversation() {
    let app = TestApp::new().await;
    let ch = sid(&app.conversation(&[("UniqueName", "lobby")]).await);
    let other = sid(&app.conversation(&[]).await);
    let p = add_participant(&app, &ch, &[("Identity", "alice")]).await;
    add_participant(&app, &ch, &[("Identity", "bob")]).await;
    add_participant(&app, &other, &[("Identity", "alice")]).await;

    let res = app.delete("/v1/Users/alice/Conversations/lobby").await;
    assert_eq!(res.status, 204);
    assert!(res.raw.is_empty());
    app.get(&format!("/v1/Conversations/{ch}/Participants/{}", sid(&p))).await.expect_error(404, 20404);
    assert_eq!(participant_identities(&app, &ch).await, vec![json!("bob")]);
    app.get(&format!("/v1/Users/alice/Conversations/{ch}")).await.expect_error(404, 20404);
    app.delete(&format!("/v1/Users/alice/Conversations/{ch}")).await.expect_error(404, 20404);

    // The user, the conversation and the other membership remain.
    app.get("/v1/Users/alice").await.expect(200);
    app.get(&format!("/v1/Conversations/{ch}")).await.expect(200);
    let body = app.get("/v1/Users/alice/Conversations").await.expect(200);
    let left: Vec<&Value> = list(&body, "conversations").iter().map(|c| &c["conversation_sid"]).collect();
    assert_eq!(left, vec![&json!(other)]);
}

#[actix_web::test]
async fn participant_conversations_by_identity_and_by_address() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let chat = app.conversation(&[("FriendlyName", "chat"), ("UniqueName", "chat-room")]).await;
    let sms = app.conversation(&[("FriendlyName", "sms")]).await;
    let alice = add_participant(&app, &sid(&chat), &[("Identity", "alice")]).await;
    let phone = add_participant(
        &app,
        &sid(&sms),
        &[("MessagingBinding.Address", "+15551234567"), ("MessagingBinding.ProxyAddress", "+15557654321")],
    )
    .await;
    add_participant(&app, &sid(&sms), &[("Identity", "bob")]).await;
    let user = app.get("/v1/Users/alice").await.expect(200);

    let body = app.get("/v1/ParticipantConversations?Identity=alice").await.expect(200);
    let items = list(&body, "conversations");
    assert_eq!(items.len(), 1, "{body}");
    let item = &items[0];
    assert_keys(item, PARTICIPANT_CONVERSATION_KEYS);
    assert_eq!(item["account_sid"], app.account.sid.as_str());
    assert_eq!(item["chat_service_sid"], service.as_str());
    assert_eq!(item["participant_sid"], alice["sid"]);
    assert_eq!(item["participant_user_sid"], user["sid"]);
    assert_eq!(item["participant_identity"], "alice");
    assert!(item["participant_messaging_binding"].is_null());
    assert_eq!(item["conversation_sid"], chat["sid"]);
    assert_eq!(item["conversation_unique_name"], "chat-room");
    assert_eq!(item["conversation_friendly_name"], "chat");
    assert_eq!(item["conversation_attributes"], "{}");
    assert_eq!(item["conversation_date_created"], chat["date_created"]);
    assert_twilio_date(&item["conversation_date_updated"]);
    assert_eq!(item["conversation_created_by"], "system");
    assert_eq!(item["conversation_state"], "active");
    assert_eq!(item["conversation_timers"], json!({}));
    assert_keys(&item["links"], &["participant", "conversation"]);
    let ch = sid(&chat);
    assert_eq!(item["links"]["conversation"], format!("http://localhost/v1/Conversations/{ch}"));
    assert_eq!(
        item["links"]["participant"],
        format!("http://localhost/v1/Conversations/{ch}/Participants/{}", sid(&alice))
    );
    assert!(
        body["meta"]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost/v1/ParticipantConversations?Identity=alice&"),
        "{body}"
    );

    let body = app.get("/v1/ParticipantConversations?Address=%2B15551234567").await.expect(200);
    let items = list(&body, "conversations");
    assert_eq!(items.len(), 1, "{body}");
    let item = &items[0];
    assert_keys(item, PARTICIPANT_CONVERSATION_KEYS);
    assert_eq!(item["participant_sid"], phone["sid"]);
    assert!(item["participant_identity"].is_null());
    assert!(item["participant_user_sid"].is_null());
    assert_eq!(item["participant_messaging_binding"]["type"], "sms");
    assert_eq!(item["participant_messaging_binding"]["address"], "+15551234567");
    assert_eq!(item["participant_messaging_binding"]["proxy_address"], "+15557654321");
    assert_eq!(item["conversation_sid"], sms["sid"]);
    assert!(item["conversation_unique_name"].is_null());

    // Nobody by that name or number.
    let body = app.get("/v1/ParticipantConversations?Identity=carol").await.expect(200);
    assert!(list(&body, "conversations").is_empty());
    let body = app.get("/v1/ParticipantConversations?Address=%2B15550000000").await.expect(200);
    assert!(list(&body, "conversations").is_empty());

    // One of the two is required.
    let body = app.get("/v1/ParticipantConversations").await.expect_error(400, 20001);
    assert!(message(&body).contains("Identity") || message(&body).contains("Address"), "{body}");
    app.get("/v1/ParticipantConversations?Identity=").await.expect_error(400, 20001);

    // The service family.
    let body =
        app.get(&format!("/v1/Services/{service}/ParticipantConversations?Identity=alice")).await.expect(200);
    let item = &list(&body, "conversations")[0];
    assert_keys(item, PARTICIPANT_CONVERSATION_KEYS);
    assert_eq!(
        item["links"]["conversation"],
        format!("http://localhost/v1/Services/{service}/Conversations/{ch}")
    );
    // Another service of the account has none of these.
    let other = sid(&app.post("/v1/Services", &[("FriendlyName", "other")]).await.expect(201));
    let body =
        app.get(&format!("/v1/Services/{other}/ParticipantConversations?Identity=alice")).await.expect(200);
    assert!(list(&body, "conversations").is_empty());
}

#[actix_web::test]
async fn participant_conversations_list_every_membership() {
    let app = TestApp::new().await;
    let mut sids = Vec::new();
    for _ in 0..3 {
        let ch = sid(&app.conversation(&[]).await);
        add_participant(&app, &ch, &[("Identity", "alice")]).await;
        sids.push(json!(ch));
    }
    let mut seen = Vec::new();
    let mut next = Some("/v1/ParticipantConversations?Identity=alice&PageSize=2".to_owned());
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        seen.extend(list(&body, "conversations").iter().map(|c| c["conversation_sid"].clone()));
        next = body["meta"]["next_page_url"].as_str().map(TestApp::path_of);
    }
    assert_eq!(seen, sids);
}

#[actix_web::test]
async fn conversation_with_participants_creates_everything_at_once() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let conv = app
        .post(
            "/v1/ConversationWithParticipants",
            &[
                ("FriendlyName", "Support chat"),
                ("UniqueName", "support-1"),
                ("Participant", r#"{"identity":"alice"}"#),
                (
                    "Participant",
                    r#"{"messaging_binding":{"address":"+15551234567","proxy_address":"+15557654321"}}"#,
                ),
            ],
        )
        .await
        .expect(201);
    assert_keys(&conv, CONVERSATION_KEYS);
    assert!(is_sid(&conv["sid"], "CH"), "{conv}");
    assert_eq!(conv["chat_service_sid"], service.as_str());
    assert_eq!(conv["friendly_name"], "Support chat");
    assert_eq!(conv["unique_name"], "support-1");
    assert_eq!(conv["state"], "active");
    let ch = sid(&conv);
    assert_eq!(conv["url"], format!("http://localhost/v1/Conversations/{ch}"));

    let body = app.get(&format!("/v1/Conversations/{ch}/Participants")).await.expect(200);
    let participants = list(&body, "participants");
    assert_eq!(participants.len(), 2, "{body}");
    let chat = participants.iter().find(|p| p["identity"] == "alice").expect("alice");
    assert!(chat["messaging_binding"].is_null());
    let sms = participants.iter().find(|p| p["identity"].is_null()).expect("sms participant");
    assert_eq!(sms["messaging_binding"]["type"], "sms");
    assert_eq!(sms["messaging_binding"]["address"], "+15551234567");
    assert_eq!(sms["messaging_binding"]["proxy_address"], "+15557654321");
    // The chat participant got a user, and the conversation is theirs.
    app.get("/v1/Users/alice").await.expect(200);
    app.get(&format!("/v1/Users/alice/Conversations/{ch}")).await.expect(200);
    app.get("/v1/Conversations/support-1").await.expect(200);

    // Participant fields beyond identity and binding are honoured.
    let admin = app.get("/v1/Roles").await.expect(200)["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["friendly_name"] == "channel admin")
        .unwrap()
        .clone();
    let entry =
        format!(r#"{{"identity":"bob","attributes":"{{\"vip\":true}}","role_sid":"{}"}}"#, sid(&admin));
    let conv = app
        .post(&format!("/v1/Services/{service}/ConversationWithParticipants"), &[("Participant", &entry)])
        .await
        .expect(201);
    assert_eq!(conv["url"], format!("http://localhost/v1/Services/{service}/Conversations/{}", sid(&conv)));
    let bob = app.get(&format!("/v1/Conversations/{}/Participants/bob", sid(&conv))).await.expect(200);
    assert_eq!(bob["attributes"], "{\"vip\":true}");
    assert_eq!(bob["role_sid"], admin["sid"]);

    // No participants at all is just a conversation.
    let empty = app.post("/v1/ConversationWithParticipants", &[("FriendlyName", "alone")]).await.expect(201);
    let body = app.get(&format!("/v1/Conversations/{}/Participants", sid(&empty))).await.expect(200);
    assert!(list(&body, "participants").is_empty());
}

#[actix_web::test]
async fn conversation_with_participants_is_all_or_nothing() {
    let app = TestApp::new().await;
    let alice = r#"{"identity":"alice"}"#;
    let bad_entries: &[(&str, u16, u64)] = &[
        // Not JSON at all.
        ("{identity: alice", 400, 20001),
        // JSON, but not an object.
        (r#""alice""#, 400, 20001),
        // Neither identity nor address.
        (r#"{"attributes":"{}"}"#, 400, 20001),
        // Both identity and address.
        (r#"{"identity":"bob","messaging_binding":{"address":"+15551234567"}}"#, 400, 20001),
        // Bad attributes.
        (r#"{"identity":"bob","attributes":"{not json"}"#, 400, 20001),
        // A role that is not a role.
        (r#"{"identity":"bob","role_sid":"admin"}"#, 400, 20001),
        // A well-formed role SID that does not exist.
        (r#"{"identity":"bob","role_sid":"RL00000000000000000000000000000000"}"#, 400, 20001),
    ];
    for (entry, status, code) in bad_entries {
        let body = app
            .post(
                "/v1/ConversationWithParticipants",
                &[("UniqueName", "room"), ("Participant", alice), ("Participant", entry)],
            )
            .await
            .expect_error(*status, *code);
        assert!(
            message(&body).contains("Participant") || message(&body).contains("RoleSid"),
            "{entry}: {body}"
        );
        assert_eq!(conversation_count(&app).await, 0, "{entry} left a conversation behind");
    }

    // Two participants with the same identity, or the same address.
    app.post(
        "/v1/ConversationWithParticipants",
        &[("UniqueName", "room"), ("Participant", alice), ("Participant", alice)],
    )
    .await
    .expect_error(409, 50433);
    assert_eq!(conversation_count(&app).await, 0, "a duplicate identity left a conversation behind");
    let phone = r#"{"messaging_binding":{"address":"+15551234567"}}"#;
    app.post("/v1/ConversationWithParticipants", &[("Participant", phone), ("Participant", phone)])
        .await
        .expect_error(409, 50416);
    assert_eq!(conversation_count(&app).await, 0, "a duplicate address left a conversation behind");

    // Nor users, and the unique name is still free.
    assert!(list(&app.get("/v1/Users").await.expect(200), "users").is_empty(), "no user left behind");
    let body = app.get("/v1/ParticipantConversations?Identity=alice").await.expect(200);
    assert!(list(&body, "conversations").is_empty());
    app.post("/v1/ConversationWithParticipants", &[("UniqueName", "room"), ("Participant", alice)])
        .await
        .expect(201);
    assert_eq!(conversation_count(&app).await, 1);

    // A bad conversation field fails the same way.
    app.post(
        "/v1/ConversationWithParticipants",
        &[("Attributes", "{nope"), ("Participant", r#"{"identity":"carol"}"#)],
    )
    .await
    .expect_error(400, 20001);
    // And a unique name already taken.
    app.post(
        "/v1/ConversationWithParticipants",
        &[("UniqueName", "room"), ("Participant", r#"{"identity":"carol"}"#)],
    )
    .await
    .expect_error(409, 50353);
    assert_eq!(conversation_count(&app).await, 1);
    app.get("/v1/Users/carol").await.expect_error(404, 20404);
}

#[actix_web::test]
async fn conversation_with_participants_takes_at_most_ten() {
    let app = TestApp::new().await;
    let entries: Vec<String> = (0..11).map(|i| format!(r#"{{"identity":"user{i}"}}"#)).collect();
    let eleven: Vec<(&str, &str)> = entries.iter().map(|e| ("Participant", e.as_str())).collect();
    let body = app.post("/v1/ConversationWithParticipants", &eleven).await.expect_error(400, 20001);
    assert!(message(&body).contains("Participant"), "{body}");
    assert_eq!(conversation_count(&app).await, 0);
    assert!(list(&app.get("/v1/Users").await.expect(200), "users").is_empty());

    let conv = app.post("/v1/ConversationWithParticipants", &eleven[..10]).await.expect(201);
    let body = app.get(&format!("/v1/Conversations/{}/Participants", sid(&conv))).await.expect(200);
    assert_eq!(list(&body, "participants").len(), 10);
}
