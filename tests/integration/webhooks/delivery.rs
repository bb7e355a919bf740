//! Post-event deliveries from the event log to a real local receiver.

use std::time::Duration;

use crate::util::TestApp;

use super::{Receiver, expected_signature, hooked_app};

const HOOKED: &[(&str, &str)] = &[("X-Twilio-Webhook-Enabled", "true")];

/// Points the default service's post-event webhook at `url` for `filters`.
async fn configure(app: &TestApp, url: &str, filters: &[&str]) {
    let service = app.default_service().await;
    let mut form = vec![("PostWebhookUrl", url)];
    form.extend(filters.iter().map(|f| ("Filters", *f)));
    app.post(&format!("/v1/Services/{service}/Configuration/Webhooks"), &form).await.expect(200);
}

/// Sends a message as the account, asking for webhooks.
async fn send(app: &TestApp, conversation: &str, body: &str) -> serde_json::Value {
    let path = format!("/v1/Conversations/{conversation}/Messages");
    let form = [("Author", "system"), ("Body", body)];
    app.send_with("POST", &path, &form, Some(&app.account.basic()), HOOKED).await.expect(201)
}

#[actix_web::test]
async fn a_message_reaches_the_receiver_signed_with_twilios_parameters() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    // A query string in the configured URL is signed as it is.
    let url = format!("{}/hooks/post?tenant=7&b=2", receiver.base);
    configure(&app, &url, &["onMessageAdded", "onParticipantAdded"]).await;
    let conversation = app.conversation(&[]).await;
    let ch = conversation["sid"].as_str().unwrap().to_owned();
    let message = send(&app, &ch, "hello there").await;

    let hits = receiver.wait_for(1).await;
    let hit = &hits[0];
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.url, url);
    assert!(hit.content_type.as_deref().unwrap().starts_with("application/x-www-form-urlencoded"));
    assert_eq!(hit.param("EventType"), Some("onMessageAdded"));
    assert_eq!(hit.param("AccountSid"), Some(app.account.sid.as_str()));
    assert_eq!(hit.param("ChatServiceSid"), Some(app.default_service().await.as_str()));
    assert_eq!(hit.param("ConversationSid"), Some(ch.as_str()));
    assert_eq!(hit.param("MessageSid"), message["sid"].as_str());
    assert_eq!(hit.param("Index"), Some("0"));
    assert_eq!(hit.param("Body"), Some("hello there"));
    assert_eq!(hit.param("Author"), Some("system"));
    assert_eq!(hit.param("Attributes"), Some("{}"));
    assert_eq!(hit.param("Source"), Some("API"));
    assert_eq!(hit.param("RetryCount"), Some("0"));
    assert_eq!(hit.param("ClientIdentity"), None);
    assert!(hit.param("DateCreated").unwrap().ends_with(".000Z"), "{hit:?}");
    let token = hit.idempotency_token.as_deref().unwrap();
    assert_eq!(token.len(), 32);
    assert_eq!(hit.signature.as_deref().unwrap(), expected_signature(&app.account.token, &url, &hit.params));

    // An end user's actions always fire, with who did them.
    let key = app.api_key().await;
    let user = app.user_token(&key, "alice").await;
    let participants = format!("/v1/Conversations/{ch}/Participants");
    app.post(&participants, &[("Identity", "alice")]).await.expect(201);
    app.as_user(&user, "POST", &format!("/v1/Conversations/{ch}/Messages"), &[("Body", "from alice")])
        .await
        .expect(201);
    let hits = receiver.wait_for(2).await;
    let from_alice = hits.iter().find(|h| h.param("Body") == Some("from alice")).expect("alice's message");
    assert_eq!(from_alice.param("Source"), Some("SDK"));
    assert_eq!(from_alice.param("ClientIdentity"), Some("alice"));
    assert_eq!(from_alice.param("Author"), Some("alice"));
    assert!(from_alice.param("ParticipantSid").unwrap().starts_with("MB"));
    assert_ne!(from_alice.idempotency_token.as_deref(), Some(token));
    // The participant was added by a REST call without the header: no onParticipantAdded.
    let hits = receiver.settle(Duration::from_millis(400)).await;
    assert_eq!(hits.len(), 2, "{hits:#?}");
}

#[actix_web::test]
async fn rest_changes_fire_only_with_the_header_unless_configured_to_always() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    configure(&app, &format!("{}/h", receiver.base), &["onConversationAdded", "onMessageAdded"]).await;
    let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    let path = format!("/v1/Conversations/{ch}/Messages");
    app.post(&path, &[("Body", "quiet")]).await.expect(201);
    app.send_with(
        "POST",
        &path,
        &[("Body", "quiet too")],
        Some(&app.account.basic()),
        &[("X-Twilio-Webhook-Enabled", "false")],
    )
    .await
    .expect(201);
    send(&app, &ch, "loud").await;
    receiver.wait_for(1).await;
    let hits = receiver.settle(Duration::from_millis(400)).await;
    assert_eq!(hits.iter().map(|h| h.param("Body").unwrap()).collect::<Vec<_>>(), ["loud"]);

    let always = hooked_app(|c| c.webhooks.rest_always = true).await;
    let _bg = confab::testing::start_background(&always.state);
    let second = Receiver::start().await;
    configure(&always, &format!("{}/h", second.base), &["onConversationAdded", "onMessageAdded"]).await;
    let ch = always.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    always.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "anything")]).await.expect(201);
    let hits = second.wait_for(2).await;
    let types: Vec<_> = hits.iter().map(|h| h.param("EventType").unwrap()).collect();
    assert_eq!(types, ["onConversationAdded", "onMessageAdded"]);
}

#[actix_web::test]
async fn failures_are_retried_with_one_token_and_a_growing_retry_count() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 503]);
    configure(&app, &format!("{}/h", receiver.base), &["onMessageAdded"]).await;
    let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    send(&app, &ch, "again and again").await;
    receiver.wait_for(3).await;
    let hits = receiver.settle(Duration::from_millis(500)).await;
    assert_eq!(hits.len(), 3, "{hits:#?}");
    let counts: Vec<_> = hits.iter().map(|h| h.param("RetryCount").unwrap()).collect();
    assert_eq!(counts, ["0", "1", "2"]);
    assert!(hits.iter().all(|h| h.idempotency_token == hits[0].idempotency_token));
    // Each attempt is signed over its own parameters.
    for hit in &hits {
        assert_eq!(
            hit.signature.as_deref().unwrap(),
            expected_signature(&app.account.token, &hit.url, &hit.params)
        );
    }
    assert_eq!(pending(&app).await, 0);
}

#[actix_web::test]
async fn one_conversations_deliveries_keep_the_logs_order_through_retries() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    receiver.answer(&[500, 500]);
    configure(&app, &format!("{}/h", receiver.base), &["onMessageAdded"]).await;
    let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    for n in 0..4 {
        send(&app, &ch, &format!("m{n}")).await;
    }
    let hits = receiver.wait_for(6).await;
    let order: Vec<_> = hits.iter().map(|h| h.param("Index").unwrap().to_owned()).collect();
    assert_eq!(order, ["0", "0", "0", "1", "2", "3"], "{hits:#?}");
}

#[actix_web::test]
async fn a_slow_receiver_is_answered_once_in_order_and_holds_up_no_other_queue() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    // Slower than the fan-out waits for a first attempt: the delivery is
    // written (leased) while its attempt goes on, and settled by it.
    receiver.answer_slowly(200, Duration::from_millis(2500));
    configure(&app, &format!("{}/h", receiver.base), &["onMessageAdded"]).await;
    let slow = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    let other = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    send(&app, &slow, "s0").await;
    receiver.wait_for(1).await;
    let started = std::time::Instant::now();
    send(&app, &slow, "s1").await;
    send(&app, &other, "o0").await;
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].param("Body"), Some("o0"), "{hits:#?}");
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    // s1 waits behind s0 as a row while s0's attempt is under way.
    let mut owed = 0;
    for _ in 0..20 {
        owed = pending(&app).await;
        if owed >= 2 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(owed >= 2, "{owed}");
    assert_eq!(receiver.hits().len(), 2);
    receiver.wait_for(3).await;
    let hits = receiver.settle(Duration::from_millis(500)).await;
    let bodies: Vec<_> = hits.iter().map(|h| h.param("Body").unwrap()).collect();
    assert_eq!(bodies, ["s0", "o0", "s1"]);
    assert_eq!(pending(&app).await, 0);
}

#[actix_web::test]
async fn a_first_attempt_that_fails_after_the_round_stopped_waiting_is_retried_in_order() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    receiver.answer_slowly(500, Duration::from_millis(800));
    configure(&app, &format!("{}/h", receiver.base), &["onMessageAdded"]).await;
    let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    send(&app, &ch, "m0").await;
    receiver.wait_for(1).await;
    send(&app, &ch, "m1").await;
    receiver.wait_for(3).await;
    let hits = receiver.settle(Duration::from_millis(500)).await;
    let seen: Vec<_> =
        hits.iter().map(|h| (h.param("Body").unwrap(), h.param("RetryCount").unwrap())).collect();
    assert_eq!(seen, [("m0", "0"), ("m0", "1"), ("m1", "0")], "{hits:#?}");
    assert_eq!(hits[0].idempotency_token, hits[1].idempotency_token);
    assert_ne!(hits[0].idempotency_token, hits[2].idempotency_token);
    assert_eq!(pending(&app).await, 0);
}

#[actix_web::test]
async fn deliveries_survive_a_restart() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[500]);
    configure(&app, &format!("{}/h", receiver.base), &["onMessageAdded"]).await;
    let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    let background = confab::testing::start_background(&app.state);
    send(&app, &ch, "before the restart").await;
    receiver.wait_for(1).await;
    drop(background);
    // Written while nothing ran: the log keeps it until the fan-out is back.
    send(&app, &ch, "while stopped").await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.hits().len(), 1);
    // The restarted instance shares nothing in memory with the first.
    let restarted = super::second_instance(&app).await;
    let _background = confab::testing::start_background(&restarted);
    let hits = receiver.wait_for(3).await;
    let bodies: Vec<_> = hits.iter().map(|h| h.param("Body").unwrap()).collect();
    assert_eq!(bodies, ["before the restart", "before the restart", "while stopped"]);
    assert_eq!(hits[0].idempotency_token, hits[1].idempotency_token);
}

#[actix_web::test]
async fn two_instances_deliver_each_event_once() {
    let app = hooked_app(|_| {}).await;
    let other = super::second_instance(&app).await;
    let _one = confab::testing::start_background(&app.state);
    let _two = confab::testing::start_background(&other);
    let receiver = Receiver::start().await;
    configure(&app, &format!("{}/h", receiver.base), &["onMessageAdded"]).await;
    let mut conversations = Vec::new();
    for _ in 0..3 {
        conversations.push(app.conversation(&[]).await["sid"].as_str().unwrap().to_owned());
    }
    for n in 0..10 {
        send(&app, &conversations[n % 3], &format!("m{n}")).await;
    }
    receiver.wait_for(10).await;
    let hits = receiver.settle(Duration::from_millis(500)).await;
    let mut sids: Vec<_> = hits.iter().map(|h| h.param("MessageSid").unwrap().to_owned()).collect();
    sids.sort();
    sids.dedup();
    assert_eq!((hits.len(), sids.len()), (10, 10), "{hits:#?}");
}

#[actix_web::test]
async fn internal_targets_are_never_requested() {
    // Only the name "localhost" is allowed: the same receiver by address is internal.
    let app = TestApp::builder()
        .config(|c| {
            c.webhooks.allowed_hosts = confab::config::AllowList::parse(&["localhost".to_owned()]).unwrap()
        })
        .app()
        .await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    let refused = [
        "http://10.0.0.1/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://127.0.0.1:{port}/by-address"),
        format!("http://[::ffff:127.0.0.1]:{port}/mapped"),
    ];
    let control = format!("http://localhost:{port}/control");
    let mut conversations = Vec::new();
    for url in refused.iter().chain([&control]) {
        let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
        let hooks = format!("/v1/Conversations/{ch}/Webhooks");
        let form = [
            ("Target", "webhook"),
            ("Configuration.Url", url.as_str()),
            ("Configuration.Filters", "onMessageAdded"),
        ];
        app.post(&hooks, &form).await.expect(201);
        conversations.push(ch);
    }
    for ch in &conversations {
        send(&app, ch, "probe").await;
    }
    let hits = receiver.wait_for(1).await;
    assert!(hits[0].url.ends_with("/control"), "{hits:#?}");
    for _ in 0..100 {
        if pending(&app).await == 0 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending(&app).await, 0, "refused deliveries are not retried");
    assert_eq!(receiver.hits().len(), 1, "{:#?}", receiver.hits());
}

#[actix_web::test]
async fn a_scoped_webhook_replays_history_and_triggers_fire_on_keywords() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let ch = app.conversation(&[]).await["sid"].as_str().unwrap().to_owned();
    for n in 0..3 {
        send(&app, &ch, &format!("old {n}")).await;
    }
    let hooks = format!("/v1/Conversations/{ch}/Webhooks");
    let url = format!("{}/scoped", receiver.base);
    let created = app
        .post(
            &hooks,
            &[
                ("Target", "webhook"),
                ("Configuration.Url", &url),
                ("Configuration.Filters", "onMessageAdded"),
                ("Configuration.ReplayAfter", "1"),
            ],
        )
        .await
        .expect(201);
    let wh = created["sid"].as_str().unwrap();
    let hits = receiver.wait_for(2).await;
    let replayed: Vec<_> = hits.iter().map(|h| h.param("Index").unwrap()).collect();
    assert_eq!(replayed, ["1", "2"]);
    assert!(
        hits.iter().all(|h| h.param("WebhookSid") == Some(wh) && h.param("WebhookType") == Some("webhook"))
    );

    let trigger_url = format!("{}/trigger", receiver.base);
    app.post(
        &hooks,
        &[("Target", "trigger"), ("Configuration.Url", &trigger_url), ("Configuration.Triggers", "help")],
    )
    .await
    .expect(201);
    send(&app, &ch, "hello").await;
    send(&app, &ch, "I need HELP now").await;
    receiver.wait_for(5).await;
    let hits = receiver.settle(Duration::from_millis(400)).await;
    let triggered: Vec<_> =
        hits.iter().filter(|h| h.url.ends_with("/trigger")).map(|h| h.param("Body").unwrap()).collect();
    assert_eq!(triggered, ["I need HELP now"]);
    assert_eq!(hits.iter().filter(|h| h.url.ends_with("/scoped")).count(), 4);
}

async fn pending(app: &TestApp) -> i64 {
    confab::testing::pending_deliveries(&app.state.db).await
}
