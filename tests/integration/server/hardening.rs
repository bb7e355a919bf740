//! Hostile and edge-case input: every one of these once produced a 500, a
//! silently wrong answer or a stuck resource.

use crate::util::TestApp;
use futures_util::future::join_all;
use serde_json::Value;

fn sid(v: &Value) -> String {
    v["sid"].as_str().expect("sid").to_owned()
}

#[actix_web::test]
async fn oversized_timers_are_refused_not_wrapped() {
    let app = TestApp::new().await;
    for (name, value) in [
        ("Timers.Closed", "PT9223372036854775807S"),
        ("Timers.Closed", "P100000000W"),
        ("Timers.Inactive", "P99999999999999999999D"),
    ] {
        let body = app.post("/v1/Conversations", &[(name, value)]).await.expect_error(400, 20001);
        assert!(body["message"].as_str().unwrap().contains(name), "{body}");
    }
    app.post("/v1/Configuration", &[("DefaultClosedTimer", "P15250284452471W")])
        .await
        .expect_error(400, 20001);
    // Ten years is fine.
    let c = app.conversation(&[("Timers.Closed", "P520W")]).await;
    assert!(c["timers"]["date_closed"].as_str().unwrap() > "2030");
}

#[actix_web::test]
async fn dates_outside_the_wire_format_are_refused() {
    let app = TestApp::new().await;
    for value in ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59"] {
        app.post("/v1/Conversations", &[("DateCreated", value)]).await.expect_error(400, 20001);
    }
}

#[actix_web::test]
async fn nul_characters_are_refused_everywhere() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("UniqueName", "room")]).await;
    app.post("/v1/Conversations", &[("FriendlyName", "a\0b")]).await.expect_error(400, 20001);
    app.post("/v1/Conversations/room/Participants", &[("Identity", "x\0y")]).await.expect_error(400, 20001);
    app.post("/v1/Conversations/room/Messages", &[("Author", "x\0y"), ("Body", "hi")])
        .await
        .expect_error(400, 20001);
    app.get("/v1/ParticipantConversations?Identity=a%00b").await.expect_error(400, 20001);
    app.get("/v1/Conversations/a%00b").await.expect_error(404, 20404);
    app.get("/v1/Users/a%00b").await.expect_error(404, 20404);
    // Nothing was written.
    let messages = app.get(&format!("/v1/Conversations/{}/Messages", sid(&c))).await.expect(200);
    assert_eq!(messages["messages"], serde_json::json!([]));
}

#[actix_web::test]
async fn page_tokens_only_work_for_the_list_and_order_that_issued_them() {
    let app = TestApp::new().await;
    let c = app.conversation(&[]).await;
    let path = format!("/v1/Conversations/{}/Messages", sid(&c));
    for i in 0..4 {
        app.post(&path, &[("Body", &format!("m{i}"))]).await.expect(201);
    }
    let first = app.get(&format!("{path}?PageSize=2")).await.expect(200);
    let next = TestApp::path_of(first["meta"]["next_page_url"].as_str().unwrap());
    let token = next.split("PageToken=").nth(1).unwrap();
    let body =
        app.get(&format!("{path}?Order=desc&PageSize=2&PageToken={token}")).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("PageToken"), "{body}");
    app.get(&format!("/v1/Conversations?StartDate=2000-01-01&PageToken={token}"))
        .await
        .expect_error(400, 20001);
    app.get(&format!("/v1/Conversations?PageToken={token}")).await.expect_error(400, 20001);
}

#[actix_web::test]
async fn an_empty_previous_page_leads_back_to_the_start() {
    let app = TestApp::new().await;
    let c = app.conversation(&[]).await;
    let path = format!("/v1/Conversations/{}/Messages", sid(&c));
    let mut sids = Vec::new();
    for i in 0..4 {
        sids.push(sid(&app.post(&path, &[("Body", &format!("m{i}"))]).await.expect(201)));
    }
    let first = app.get(&format!("{path}?PageSize=2")).await.expect(200);
    let second =
        app.get(&TestApp::path_of(first["meta"]["next_page_url"].as_str().unwrap())).await.expect(200);
    // The first page's messages go away; the way back from page 2 is empty…
    for m in &sids[..2] {
        app.delete(&format!("{path}/{m}")).await.expect(204);
    }
    let back =
        app.get(&TestApp::path_of(second["meta"]["previous_page_url"].as_str().unwrap())).await.expect(200);
    assert_eq!(back["messages"], serde_json::json!([]));
    // …but not a dead end: its next page holds what is left.
    let onward = app
        .get(&TestApp::path_of(back["meta"]["next_page_url"].as_str().expect("a way on")))
        .await
        .expect(200);
    let left: Vec<String> = onward["messages"].as_array().unwrap().iter().map(sid).collect();
    assert_eq!(left, sids[2..].to_vec());
}

#[actix_web::test]
async fn a_message_needs_something_to_say() {
    let app = TestApp::new().await;
    let c = app.conversation(&[]).await;
    let path = format!("/v1/Conversations/{}/Messages", sid(&c));
    let body = app.post(&path, &[("Author", "alice")]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("Body"), "{body}");
    app.post(&path, &[("Body", "")]).await.expect(201);
}

#[actix_web::test]
async fn nothing_in_a_closed_conversation_changes_but_it_can_be_cleaned_up() {
    let app = TestApp::new().await;
    let c = app.conversation(&[]).await;
    let conv = format!("/v1/Conversations/{}", sid(&c));
    let m = app.post(&format!("{conv}/Messages"), &[("Body", "before")]).await.expect(201);
    let p = app.post(&format!("{conv}/Participants"), &[("Identity", "alice")]).await.expect(201);
    app.post(&conv, &[("State", "closed")]).await.expect(200);
    app.post(&format!("{conv}/Messages/{}", sid(&m)), &[("Body", "after")]).await.expect_error(400, 50377);
    app.post(&format!("{conv}/Participants/{}", sid(&p)), &[("Attributes", "{}")])
        .await
        .expect_error(400, 50377);
    app.delete(&format!("{conv}/Messages/{}", sid(&m))).await.expect(204);
    app.delete(&format!("{conv}/Participants/{}", sid(&p))).await.expect(204);
    app.delete(&conv).await.expect(204);
}

#[actix_web::test]
async fn a_chat_participant_cannot_lose_its_identity() {
    let app = TestApp::new().await;
    app.conversation(&[("UniqueName", "room")]).await;
    app.post("/v1/Conversations/room/Participants", &[("Identity", "alice")]).await.expect(201);
    app.post("/v1/Conversations/room/Participants/alice", &[("Identity", "")]).await.expect_error(400, 20001);
    app.get("/v1/Conversations/room/Participants/alice").await.expect(200);
}

/// Switching the default service and deleting that service at the same
/// time must never leave the default pointing at a deleted service.
#[actix_web::test]
async fn default_service_switch_and_delete_do_not_interleave() {
    let app = TestApp::new().await;
    for _ in 0..8 {
        let s = sid(&app.post("/v1/Services", &[("FriendlyName", "race")]).await.expect(201));
        let form = [("DefaultChatServiceSid", s.as_str())];
        let service_path = format!("/v1/Services/{s}");
        let switch = app.post("/v1/Configuration", &form);
        let delete = app.delete(&service_path);
        let (switched, deleted) = futures_util::join!(switch, delete);
        assert!(matches!(switched.status.as_u16(), 200 | 400), "{}", switched.body);
        assert!(matches!(deleted.status.as_u16(), 204 | 400), "{}", deleted.body);
        let default = app.get("/v1/Configuration").await.expect(200)["default_chat_service_sid"].clone();
        let default = default.as_str().unwrap();
        app.get(&format!("/v1/Services/{default}")).await.expect(200);
        app.post("/v1/Conversations", &[]).await.expect(201);
        // Put the original default back for the next round.
        if default == s {
            let others = app.get("/v1/Services").await.expect(200);
            let other = others["services"].as_array().unwrap().iter().map(sid).find(|x| *x != s).unwrap();
            app.post("/v1/Configuration", &[("DefaultChatServiceSid", &other)]).await.expect(200);
            app.delete(&format!("/v1/Services/{s}")).await.expect(204);
        }
    }
    // Meanwhile concurrent creates keep working.
    let results = join_all((0..8).map(|_| app.post("/v1/Conversations", &[]))).await;
    assert!(results.iter().all(|r| r.status == 201));
}

#[actix_web::test]
async fn a_data_dir_that_cannot_be_made_is_named_at_start() {
    let db = crate::util::TestDb::new();
    let mut config = crate::util::test_config(&db, "http://localhost");
    // A folder under a regular file cannot exist (and root ignores modes).
    let file = db.dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    config.data_dir = file.join("data");
    let err = actix_web::web::block(move || confab::app::AppState::initialize(config).err())
        .await
        .unwrap()
        .expect("start must fail");
    assert!(err.to_string().starts_with("CONFAB_DATA_DIR: cannot create"), "{err}");
}

/// A form body that stops arriving is answered 408 once the body timeout
/// passes, instead of holding the request open for as long as the client
/// trickles bytes.
#[actix_web::test]
async fn a_form_body_that_stops_arriving_is_timed_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server =
        TestApp::builder().config(|c| c.body_timeout = std::time::Duration::from_secs(1)).server().await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/Conversations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nFriendlyName=slo",
        server.account.basic()
    );
    socket.write_all(head.as_bytes()).await.expect("send");
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("20408"), "{answer}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "answered only after the timeout");
    server.stop().await;
}
