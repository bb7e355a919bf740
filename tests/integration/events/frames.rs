//! A frame's `data` is the resource exactly as the REST API answers for it
//! on the service path family.

use serde_json::{Value, json};

use super::{events, text};
use crate::util::TestApp;
use confab::testing::{EventKind, event_frame};

fn frame_json(e: &confab::testing::EventRow) -> Value {
    serde_json::to_value(event_frame(e, "http://localhost/v1").expect("renders")).unwrap()
}

#[actix_web::test]
async fn each_frame_carries_the_rest_resource_as_it_was() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let base = format!("/v1/Services/{service}");
    let c = app.post(&format!("{base}/Conversations"), &[("FriendlyName", "frames")]).await.expect(201);
    let ch = text(&c["sid"]);
    let p = app
        .post(&format!("{base}/Conversations/{ch}/Participants"), &[("Identity", "erin")])
        .await
        .expect(201);
    let m = app
        .post(&format!("{base}/Conversations/{ch}/Messages"), &[("Body", "hi"), ("Author", "erin")])
        .await
        .expect(201);
    let edited = app
        .post(&format!("{base}/Conversations/{ch}/Messages/{}", text(&m["sid"])), &[("Body", "hi!")])
        .await
        .expect(200);
    let user = app.get(&format!("{base}/Users/erin")).await.expect(200);
    let conversation = app.get(&format!("{base}/Conversations/{ch}")).await.expect(200);

    let log = events(&app).await;
    let frames: Vec<Value> = log.iter().map(frame_json).collect();
    let by = |kind: EventKind| frames.iter().find(|f| f["type"] == kind.as_str()).unwrap().clone();
    assert_eq!(by(EventKind::ConversationAdded)["data"], conversation);
    assert_eq!(by(EventKind::ParticipantJoined)["data"], p);
    assert_eq!(by(EventKind::MessageAdded)["data"], m);
    assert_eq!(by(EventKind::UserAdded)["data"], user);
    let updated = by(EventKind::MessageUpdated);
    assert_eq!(updated["data"], edited);
    assert!(updated["update_reasons"].as_array().unwrap().contains(&json!("body")));
    for (f, e) in frames.iter().zip(&log) {
        assert_eq!(f["position"], e.position);
        assert_eq!(f["conversation_sid"], json!(e.conversation_sid));
    }
    assert_eq!(by(EventKind::UserAdded)["conversation_sid"], Value::Null);
}
