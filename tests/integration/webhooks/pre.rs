//! Pre-event webhooks: an end user's action waits for the receiver, which
//! can reject it or change it; account credentials' actions never call it.

use std::time::Duration;

use serde_json::json;

use crate::util::TestApp;

use super::{Receiver, expected_signature, hooked_app};

/// The default service's pre-event webhook at `url` for `filters`; a
/// conversation with alice in it; alice's token.
async fn setup(app: &TestApp, url: &str, filters: &[&str]) -> (String, String) {
    let service = app.default_service().await;
    let mut form = vec![("PreWebhookUrl", url)];
    form.extend(filters.iter().map(|f| ("Filters", *f)));
    app.post(&format!("/v1/Services/{service}/Configuration/Webhooks"), &form).await.expect(200);
    let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let key = app.api_key().await;
    (ch, app.user_token(&key, "alice").await)
}

#[actix_web::test]
async fn a_receiver_sees_the_proposed_message_and_can_change_it() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let url = format!("{}/pre?x=1", receiver.base);
    let (ch, alice) = setup(&app, &url, &["onMessageAdd", "onMessageUpdate"]).await;
    receiver.answer_with(200, r#"{"Body": "[redacted]", "Attributes": {"moderated": true}}"#);
    let messages = format!("/v1/Conversations/{ch}/Messages");
    let sent = app.as_user(&alice, "POST", &messages, &[("Body", "my phone is 555-0100")]).await.expect(201);
    assert_eq!(sent["body"], "[redacted]");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(sent["attributes"].as_str().unwrap()).unwrap(),
        json!({"moderated": true})
    );

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.param("EventType"), Some("onMessageAdd"));
    assert_eq!(hit.param("Body"), Some("my phone is 555-0100"));
    assert_eq!(hit.param("Author"), Some("alice"));
    assert_eq!(hit.param("ClientIdentity"), Some("alice"));
    assert_eq!(hit.param("Source"), Some("SDK"));
    assert_eq!(hit.param("ConversationSid"), Some(ch.as_str()));
    assert!(hit.param("ParticipantSid").unwrap().starts_with("MB"));
    assert_eq!(hit.param("MessageSid"), None, "not created yet");
    assert_eq!(hit.signature.as_deref().unwrap(), expected_signature(&app.account.token, &url, &hit.params));

    // An edit: the proposed body, the message's index and SID; an empty 2xx changes nothing.
    let path = format!("{messages}/{}", sent["sid"].as_str().unwrap());
    let edited = app.as_user(&alice, "POST", &path, &[("Body", "edited")]).await.expect(200);
    assert_eq!(edited["body"], "edited");
    let update = &receiver.hits()[1];
    assert_eq!(update.param("EventType"), Some("onMessageUpdate"));
    assert_eq!(update.param("Body"), Some("edited"));
    assert_eq!(update.param("MessageSid"), sent["sid"].as_str());
    assert_eq!(update.param("Index"), Some("0"));
}

#[actix_web::test]
async fn a_refusal_a_timeout_or_no_receiver_rejects_the_action_and_changes_nothing() {
    let app = hooked_app(|c| c.webhooks.timeout = Duration::from_millis(500)).await;
    let receiver = Receiver::start().await;
    let (ch, alice) =
        setup(&app, &format!("{}/pre", receiver.base), &["onMessageAdd", "onMessageRemove"]).await;
    let messages = format!("/v1/Conversations/{ch}/Messages");

    receiver.answer(&[403]);
    let refused = app.as_user(&alice, "POST", &messages, &[("Body", "spam")]).await.expect_error(403, 20403);
    assert!(refused["message"].as_str().unwrap().contains("onMessageAdd"), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("403"), "{refused}");
    assert_eq!(app.get(&messages).await.expect(200)["messages"], json!([]));

    // Account credentials never call it (as on Twilio).
    app.post(&messages, &[("Body", "from the backend")]).await.expect(201);
    assert_eq!(receiver.hits().len(), 1);

    // Removal: the receiver says no, the message stays.
    let own = app.as_user(&alice, "POST", &messages, &[("Body", "mine")]).await.expect(201);
    receiver.answer(&[500]);
    let own_path = format!("{messages}/{}", own["sid"].as_str().unwrap());
    app.as_user(&alice, "DELETE", &own_path, &[]).await.expect_error(403, 20403);
    app.get(&own_path).await.expect(200);
    let remove =
        receiver.hits().into_iter().find(|h| h.param("EventType") == Some("onMessageRemove")).unwrap();
    assert_eq!(remove.param("MessageSid"), own["sid"].as_str());

    // A receiver that never answers (a listener nobody accepts from), or is gone, rejects too.
    let service = app.default_service().await;
    let hooks = format!("/v1/Services/{service}/Configuration/Webhooks");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/silent", silent.local_addr().unwrap());
    app.post(&hooks, &[("PreWebhookUrl", &silent_url)]).await.expect(200);
    let started = std::time::Instant::now();
    let timed_out =
        app.as_user(&alice, "POST", &messages, &[("Body", "too slow")]).await.expect_error(403, 20403);
    assert!(timed_out["message"].as_str().unwrap().contains("timed out"), "{timed_out}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    app.post(&hooks, &[("PreWebhookUrl", &format!("http://{dead}/gone"))]).await.expect(200);
    app.as_user(&alice, "POST", &messages, &[("Body", "nobody listens")]).await.expect_error(403, 20403);
    let listed = app.get(&messages).await.expect(200);
    let bodies: Vec<_> =
        listed["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["from the backend", "mine"]);
}

#[actix_web::test]
async fn actions_outside_the_filters_or_refused_by_roles_call_nothing() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let (ch, alice) = setup(&app, &format!("{}/pre", receiver.base), &["onMessageUpdate"]).await;
    let messages = format!("/v1/Conversations/{ch}/Messages");
    app.as_user(&alice, "POST", &messages, &[("Body", "not filtered")]).await.expect(201);
    // Bob is in no conversation: his send is refused before any webhook.
    let key = app.api_key().await;
    let bob = app.user_token(&key, "bob").await;
    app.as_user(&bob, "POST", &messages, &[("Body", "intruder")]).await.expect_error(404, 20404);
    assert!(receiver.hits().is_empty(), "{:#?}", receiver.hits());
}

#[actix_web::test]
async fn conversations_participants_and_users_call_their_pre_event_webhooks() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let events = [
        "onConversationAdd",
        "onConversationUpdate",
        "onConversationRemove",
        "onParticipantAdd",
        "onParticipantUpdate",
        "onParticipantRemove",
        "onUserUpdate",
    ];
    let (_, alice) = setup(&app, &format!("{}/pre", receiver.base), &events).await;
    let key = app.api_key().await;
    // Bob's first request creates his User, so he can be added below.
    let bob = app.user_token(&key, "bob").await;
    app.as_user(&bob, "GET", "/v1/Users/bob", &[]).await.expect(200);

    // A new conversation's names can be changed.
    receiver.answer_with(200, r#"{"UniqueName": "moderated-room", "FriendlyName": "Room"}"#);
    let created =
        app.as_user(&alice, "POST", "/v1/Conversations", &[("FriendlyName", "my room")]).await.expect(201);
    assert_eq!(
        (created["unique_name"].as_str(), created["friendly_name"].as_str()),
        (Some("moderated-room"), Some("Room"))
    );
    let add = &receiver.hits()[0];
    assert_eq!(
        (add.param("EventType"), add.param("FriendlyName")),
        (Some("onConversationAdd"), Some("my room"))
    );

    // An update: the webhook sees the proposed name and may replace the attributes.
    receiver.answer_with(200, r#"{"Attributes": "{\"checked\":true}"}"#);
    let path = format!("/v1/Conversations/{}", created["sid"].as_str().unwrap());
    let updated = app.as_user(&alice, "POST", &path, &[("FriendlyName", "renamed")]).await.expect(200);
    assert_eq!(updated["friendly_name"], "renamed");
    assert_eq!(updated["attributes"], r#"{"checked":true}"#);
    let update = &receiver.hits()[1];
    assert_eq!(update.param("FriendlyName"), Some("renamed"));
    assert_eq!(update.param("ConversationSid"), created["sid"].as_str());

    // Adding bob: the webhook sets his attributes.
    receiver.answer_with(200, r#"{"Attributes": {"invited_by": "alice"}}"#);
    // (alice created the conversation: the creator's role may add participants)
    let participants = format!("{path}/Participants");
    let bob = app.as_user(&alice, "POST", &participants, &[("Identity", "bob")]).await.expect(201);
    assert_eq!(bob["attributes"], r#"{"invited_by":"alice"}"#);
    assert_eq!(receiver.hits()[2].param("Identity"), Some("bob"));

    // Refusals: removing bob, alice's read horizon, alice's user, the conversation.
    let bob_path = format!("{participants}/{}", bob["sid"].as_str().unwrap());
    receiver.answer(&[403, 403, 403, 403]);
    app.as_user(&alice, "DELETE", &bob_path, &[]).await.expect_error(403, 20403);
    app.get(&bob_path).await.expect(200);
    app.as_user(&alice, "POST", &format!("{participants}/alice"), &[("LastReadMessageIndex", "0")])
        .await
        .expect_error(403, 20403);
    app.as_user(&alice, "POST", "/v1/Users/alice", &[("FriendlyName", "Alice")])
        .await
        .expect_error(403, 20403);
    assert_eq!(app.get("/v1/Users/alice").await.expect(200)["friendly_name"], serde_json::Value::Null);
    app.as_user(&alice, "DELETE", &path, &[]).await.expect_error(403, 20403);
    app.get(&path).await.expect(200);
    let types: Vec<_> = receiver.hits().iter().map(|h| h.param("EventType").unwrap().to_owned()).collect();
    assert_eq!(
        types,
        [
            "onConversationAdd",
            "onConversationUpdate",
            "onParticipantAdd",
            "onParticipantRemove",
            "onParticipantUpdate",
            "onUserUpdate",
            "onConversationRemove"
        ]
    );
}
