//! What each change records.

use super::{data, events, events_after, kinds, reasons, text};
use crate::util::TestApp;
use confab::testing::{Author, EventKind, NewMessage, SidKind, StoreError, event_log, message_store, timers};

use EventKind::*;

fn last_position(app_events: &[confab::testing::EventRow]) -> i64 {
    app_events.last().map_or(0, |e| e.position)
}

#[actix_web::test]
async fn every_change_records_its_event_with_the_row_and_what_changed() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let c = app.conversation(&[("FriendlyName", "launch")]).await;
    let ch = text(&c["sid"]);
    let base = format!("/v1/Conversations/{ch}");
    let p = app.post(&format!("{base}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let mb = text(&p["sid"]);
    let m =
        app.post(&format!("{base}/Messages"), &[("Body", "hello"), ("Author", "alice")]).await.expect(201);
    let im = text(&m["sid"]);
    app.post(&format!("{base}/Messages/{im}"), &[("Body", "hello, edited")]).await.expect(200);
    app.post(&format!("{base}/Participants/{mb}"), &[("Attributes", r#"{"seat":1}"#)]).await.expect(200);
    app.post(&base, &[("FriendlyName", "launch day")]).await.expect(200);
    app.post("/v1/Users/alice", &[("FriendlyName", "Alice")]).await.expect(200);
    app.delete(&format!("{base}/Messages/{im}")).await.expect(204);
    app.delete(&format!("{base}/Participants/{mb}")).await.expect(204);
    app.delete(&base).await.expect(204);

    let log = events(&app).await;
    assert_eq!(
        kinds(&log),
        [
            ConversationAdded,
            UserAdded,
            ParticipantJoined,
            MessageAdded,
            MessageUpdated,
            ParticipantUpdated,
            ConversationUpdated,
            UserUpdated,
            MessageRemoved,
            ParticipantLeft,
            ConversationRemoved,
        ]
    );
    assert!(log.windows(2).all(|w| w[0].position < w[1].position), "positions grow");
    for e in &log {
        assert_eq!(e.account_sid, app.account.sid);
        assert_eq!(e.service_sid, service);
        let row = data(e);
        assert_eq!(row["sid"], e.resource_sid.as_str(), "{e:?}");
        if matches!(e.kind, UserAdded | UserUpdated) {
            assert_eq!(e.conversation_sid, None);
            assert!(SidKind::User.matches(&e.resource_sid));
        } else {
            assert_eq!(e.conversation_sid.as_deref(), Some(ch.as_str()), "{e:?}");
        }
        let update =
            matches!(e.kind, MessageUpdated | ParticipantUpdated | ConversationUpdated | UserUpdated);
        assert_eq!(e.update_reasons.is_some(), update, "{e:?}");
    }
    let by_kind = |k: EventKind| log.iter().find(|e| e.kind == k).unwrap();
    let added = data(by_kind(MessageAdded));
    assert_eq!((added["msg_index"].as_i64(), added["body"].as_str()), (Some(0), Some("hello")));
    assert_eq!(added["participant_sid"], mb.as_str(), "the author's participant");
    assert_eq!(data(by_kind(MessageUpdated))["body"], "hello, edited");
    assert!(reasons(by_kind(MessageUpdated)).contains(&"body".to_owned()));
    assert!(!reasons(by_kind(MessageUpdated)).contains(&"attributes".to_owned()), "only what changed");
    assert!(reasons(by_kind(ParticipantUpdated)).contains(&"attributes".to_owned()));
    assert_eq!(data(by_kind(ParticipantUpdated))["attributes"], r#"{"seat":1}"#);
    assert!(reasons(by_kind(ConversationUpdated)).contains(&"friendlyName".to_owned()));
    assert_eq!(data(by_kind(ConversationUpdated))["friendly_name"], "launch day");
    assert!(reasons(by_kind(UserUpdated)).contains(&"friendlyName".to_owned()));
    assert_eq!(data(by_kind(MessageRemoved))["body"], "hello, edited", "the row as it was");
    assert_eq!(data(by_kind(ConversationRemoved))["friendly_name"], "launch day");
}

#[actix_web::test]
async fn an_update_that_changes_nothing_records_nothing() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("FriendlyName", "same"), ("DateUpdated", "2020-01-01T00:00:00Z")]).await;
    let before = events(&app).await;
    let path = format!("/v1/Conversations/{}", text(&c["sid"]));
    app.post(&path, &[("FriendlyName", "same"), ("DateUpdated", "2020-01-01T00:00:00Z")]).await.expect(200);
    assert_eq!(events(&app).await.len(), before.len());
}

#[actix_web::test]
async fn a_change_that_fails_or_rolls_back_records_nothing() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("UniqueName", "taken")]).await;
    let ch = text(&c["sid"]);
    let before = events(&app).await;
    app.post("/v1/Conversations", &[("UniqueName", "taken")]).await.expect(409);
    app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "bob")]).await.expect(201);
    app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "bob")]).await.expect(409);
    app.post(&format!("/v1/Conversations/{ch}"), &[("State", "closed")]).await.expect(200);
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "late")]).await.expect(400);
    let after = events(&app).await;
    assert_eq!(
        kinds(&after[before.len()..]),
        [UserAdded, ParticipantJoined, ConversationUpdated],
        "only the changes that committed"
    );

    // A send inside a transaction that then fails leaves neither the
    // message nor its event.
    let open = app.conversation(&[]).await;
    let conversation = text(&open["sid"]);
    let mark = last_position(&events(&app).await);
    let message = NewMessage {
        sid: SidKind::Message.generate(),
        account_sid: app.account.sid.clone(),
        service_sid: app.default_service().await,
        author: "system".into(),
        body: Some("rolled back".into()),
        attributes: "{}".into(),
        content_sid: None,
        subject: None,
        date_created: 1,
        date_updated: 1,
    };
    let outcome = app
        .state
        .db
        .write(
            |_| Ok::<_, StoreError>(()),
            move |tx, ()| {
                tx.conn()?;
                message_store::append(tx, &conversation, message, Author::Resolve, 1)?;
                Err::<(), _>(StoreError::NotFound)
            },
        )
        .await;
    assert!(matches!(outcome, Err(StoreError::NotFound)));
    assert_eq!(events_after(&app, mark).await.len(), 0, "nothing recorded");
    let list = app.get(&format!("/v1/Conversations/{}/Messages", text(&open["sid"]))).await.expect(200);
    assert_eq!(list["messages"], serde_json::json!([]));
}

#[actix_web::test]
async fn a_send_that_revives_an_inactive_conversation_records_the_state_change_first() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("State", "inactive"), ("Timers.Closed", "PT1H")]).await;
    let ch = text(&c["sid"]);
    let mark = last_position(&events(&app).await);
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "wake up")]).await.expect(201);
    app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "and again")]).await.expect(201);
    let log = events_after(&app, mark).await;
    assert_eq!(kinds(&log), [ConversationUpdated, MessageAdded, MessageAdded], "one revival");
    assert_eq!(reasons(&log[0]), ["state", "timers"]);
    assert_eq!(data(&log[0])["state"], "active");
    assert_eq!(data(&log[1])["body"], "wake up");
}

#[actix_web::test]
async fn timers_record_each_state_change() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("Timers.Inactive", "PT1M"), ("Timers.Closed", "PT10M")]).await;
    let ch = text(&c["sid"]);
    let mark = last_position(&events(&app).await);
    let now = confab::testing::time::now();
    timers::apply(&app.state, now + 120).await.expect("timers");
    timers::apply(&app.state, now + 1200).await.expect("timers");
    let log = events_after(&app, mark).await;
    assert_eq!(kinds(&log), [ConversationUpdated, ConversationUpdated]);
    assert_eq!(log.iter().map(|e| data(e)["state"].clone()).collect::<Vec<_>>(), ["inactive", "closed"]);
    assert!(log.iter().all(|e| e.resource_sid == ch && reasons(e).contains(&"state".to_owned())));
}

#[actix_web::test]
async fn deleting_a_user_records_each_conversation_it_leaves() {
    let app = TestApp::new().await;
    let mut conversations = Vec::new();
    for _ in 0..3 {
        let ch = text(&app.conversation(&[]).await["sid"]);
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "carol")]).await.expect(201);
        conversations.push(ch);
    }
    let mark = last_position(&events(&app).await);
    app.delete("/v1/Users/carol").await.expect(204);
    let log = events_after(&app, mark).await;
    assert_eq!(kinds(&log), [ParticipantLeft; 3]);
    let mut left: Vec<String> = log.iter().map(|e| e.conversation_sid.clone().unwrap()).collect();
    left.sort();
    conversations.sort();
    assert_eq!(left, conversations);
}

#[actix_web::test]
async fn a_tokens_first_request_records_its_user() {
    let app = TestApp::new().await;
    let key = app.api_key().await;
    let token = app.user_token(&key, "dora").await;
    let mark = last_position(&events(&app).await);
    app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    app.as_user(&token, "GET", "/v1/Conversations", &[]).await.expect(200);
    let log = events_after(&app, mark).await;
    assert_eq!(kinds(&log), [UserAdded]);
    assert_eq!(data(&log[0])["identity"], "dora");
}

#[actix_web::test]
async fn pruning_drops_expired_events_but_the_newest_and_marks_how_far() {
    let app = TestApp::new().await;
    for _ in 0..3 {
        app.conversation(&[]).await;
    }
    let old = events(&app).await;
    let now = confab::testing::time::now();
    assert_eq!(event_log::prune(&app.state, now - 3600).await.unwrap(), 0, "nothing that old");
    assert_eq!(event_log::prune(&app.state, now + 1).await.unwrap(), old.len() - 1);
    let left = events(&app).await;
    assert_eq!(left.len(), 1, "the newest stays, so positions never start over");
    assert_eq!(left[0].position, last_position(&old));
    let through = app.state.db.read(confab::testing::event_store::pruned_through).await.unwrap();
    assert_eq!(through, old[old.len() - 2].position);
    app.conversation(&[]).await;
    let fresh = events(&app).await;
    assert_eq!(kinds(&fresh), [ConversationAdded, ConversationAdded]);
    assert!(fresh[1].position > left[0].position, "positions are never reused");
}
