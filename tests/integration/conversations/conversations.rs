//! Conversations (`CH…`): create, fetch, update, list, delete, on both path
//! families, and the state timers.

use crate::util::{TestApp, assert_keys, assert_twilio_date};
use confab::testing::StoreError;
use confab::testing::schema::{messages, participants};
use confab::testing::timers;
use diesel::prelude::*;
use serde_json::Value;

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

const MG: &str = "MG0123456789abcdef0123456789abcdef";
const MG2: &str = "MGfedcba9876543210fedcba9876543210";

#[track_caller]
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

/// A Twilio date as unix seconds.
#[track_caller]
fn unix(v: &Value) -> i64 {
    assert_twilio_date(v);
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).expect("RFC 3339").timestamp()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn create_service(app: &TestApp, name: &str) -> String {
    text(&app.post("/v1/Services", &[("FriendlyName", name)]).await.expect(201)["sid"])
}

/// The full Conversation shape: exact keys, SID format, absolute `url` and
/// `links` under `prefix` (`http://localhost/v1` or `…/v1/Services/{IS}`).
#[track_caller]
fn assert_conversation(c: &Value, prefix: &str) {
    assert_keys(c, CONVERSATION_KEYS);
    let sid = text(&c["sid"]);
    assert!(
        sid.len() == 34 && sid.starts_with("CH") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "not a CH SID: {sid}"
    );
    let url = format!("{prefix}/Conversations/{sid}");
    assert_eq!(c["url"], url, "{c}");
    let links = c["links"].as_object().unwrap_or_else(|| panic!("links: {c}"));
    for (key, tail) in [("participants", "Participants"), ("messages", "Messages"), ("webhooks", "Webhooks")]
    {
        assert_eq!(links[key], format!("{url}/{tail}"), "links.{key}");
    }
    for (key, link) in links {
        assert!(link.as_str().is_some_and(|l| l.starts_with(&format!("{url}/"))), "links.{key}: {link}");
    }
    assert_twilio_date(&c["date_created"]);
    assert_twilio_date(&c["date_updated"]);
    assert!(c["timers"].is_object(), "timers: {c}");
    assert!(c["bindings"].is_object(), "bindings: {c}");
    assert!(c["attributes"].is_string(), "attributes is a JSON string: {c}");
}

/// Asserts `after` equals `before` on every key but `changed`.
#[track_caller]
fn assert_only_changed(before: &Value, after: &Value, changed: &[&str]) {
    for key in CONVERSATION_KEYS {
        if !changed.contains(key) {
            assert_eq!(before[*key], after[*key], "{key} changed unexpectedly: {before} -> {after}");
        }
    }
}

/// Every item of a list, following `meta.next_page_url` verbatim.
async fn walk(app: &TestApp, first: &str) -> (Vec<Value>, Vec<Value>) {
    let mut items = Vec::new();
    let mut metas = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        assert_eq!(body["meta"]["key"], "conversations");
        items.extend(body["conversations"].as_array().expect("conversations array").iter().cloned());
        next = body["meta"]["next_page_url"].as_str().map(TestApp::path_of);
        metas.push(body["meta"].clone());
        assert!(metas.len() < 100, "paging does not end");
    }
    (items, metas)
}

fn sids(items: &[Value]) -> Vec<String> {
    items.iter().map(|c| text(&c["sid"])).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn apply_timers(app: &TestApp, at: i64) -> (usize, usize) {
    timers::apply(&app.state, at).await.expect("apply timers")
}

/// Participant and message rows still stored for a conversation SID.
async fn stored_rows(app: &TestApp, conversation: &str) -> (i64, i64) {
    let sid = conversation.to_string();
    app.state
        .db
        .read(move |conn| {
            let p: i64 = participants::table
                .filter(participants::conversation_sid.eq(&sid))
                .count()
                .get_result(conn)?;
            let m: i64 =
                messages::table.filter(messages::conversation_sid.eq(&sid)).count().get_result(conn)?;
            Ok::<_, StoreError>((p, m))
        })
        .await
        .expect("count rows")
}

#[actix_web::test]
async fn create_with_every_parameter_echoes_each_field() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let attributes = "{ \"topic\": \"feedback\",\n  \"tags\": [1, 2] }";
    let c = app
        .conversation(&[
            ("FriendlyName", "Support chat"),
            ("UniqueName", "support-42"),
            ("Attributes", attributes),
            ("State", "active"),
            ("Timers.Inactive", "PT1M"),
            ("Timers.Closed", "PT10M"),
            ("MessagingServiceSid", MG),
            ("DateCreated", "2015-12-16T22:18:37Z"),
            ("DateUpdated", "2015-12-16T22:18:38Z"),
            ("Bindings.Email.Address", "support+42@example.com"),
            ("Bindings.Email.Name", "Support"),
        ])
        .await;
    assert_conversation(&c, "http://localhost/v1");
    assert_eq!(c["account_sid"], app.account.sid);
    assert_eq!(c["chat_service_sid"], service);
    assert_eq!(c["messaging_service_sid"], MG);
    assert_eq!(c["friendly_name"], "Support chat");
    assert_eq!(c["unique_name"], "support-42");
    assert_eq!(c["attributes"], attributes, "Attributes kept verbatim, whitespace included");
    assert_eq!(c["state"], "active");
    assert_eq!(c["date_created"], "2015-12-16T22:18:37Z");
    assert_eq!(c["date_updated"], "2015-12-16T22:18:38Z");
    // As in the spec's example: the timers count from date_updated.
    assert_eq!(
        c["timers"],
        serde_json::json!({"date_inactive": "2015-12-16T22:19:38Z", "date_closed": "2015-12-16T22:28:38Z"})
    );
    assert_eq!(
        c["bindings"],
        serde_json::json!({"email": {"projected_address": "support+42@example.com", "name": "Support"}})
    );

    // Fetch by SID and by unique_name give the same object.
    let sid = text(&c["sid"]);
    assert_eq!(app.get(&format!("/v1/Conversations/{sid}")).await.expect(200), c);
    assert_eq!(app.get("/v1/Conversations/support-42").await.expect(200), c);
}

#[actix_web::test]
async fn create_without_parameters_uses_twilio_defaults() {
    let app = TestApp::new().await;
    let before = now();
    let c = app.conversation(&[]).await;
    let after = now();
    assert_conversation(&c, "http://localhost/v1");
    assert_eq!(c["account_sid"], app.account.sid);
    assert_eq!(c["chat_service_sid"], app.default_service().await);
    assert!(c["friendly_name"].is_null());
    assert!(c["unique_name"].is_null());
    assert!(c["messaging_service_sid"].is_null());
    assert_eq!(c["attributes"], "{}");
    assert_eq!(c["state"], "active");
    assert_eq!(c["timers"], serde_json::json!({}));
    assert_eq!(c["bindings"], serde_json::json!({}));
    let created = unix(&c["date_created"]);
    assert!((before..=after).contains(&created), "date_created {created} not in [{before}, {after}]");
    assert_eq!(c["date_updated"], c["date_created"]);
}

#[actix_web::test]
async fn timers_count_from_now_and_enforce_their_minimums() {
    let app = TestApp::new().await;
    let before = now();
    let c = app.conversation(&[("Timers.Inactive", "PT5M"), ("Timers.Closed", "P1DT1H")]).await;
    let after = now();
    assert_keys(&c["timers"], &["date_inactive", "date_closed"]);
    let inactive = unix(&c["timers"]["date_inactive"]);
    let closed = unix(&c["timers"]["date_closed"]);
    assert!((before + 300..=after + 300).contains(&inactive), "date_inactive {inactive}, now {before}");
    assert!((before + 90_000..=after + 90_000).contains(&closed), "date_closed {closed}, now {before}");

    // Only the closed timer: no date_inactive.
    let c = app.conversation(&[("Timers.Closed", "PT10M")]).await;
    assert_keys(&c["timers"], &["date_closed"]);

    // Minimums: inactive 1 minute, closed 10 minutes.
    for (name, value) in
        [("Timers.Inactive", "PT59S"), ("Timers.Closed", "PT9M"), ("Timers.Inactive", "soon")]
    {
        let body = app.post("/v1/Conversations", &[(name, value)]).await.expect_error(400, 20001);
        assert!(body["message"].as_str().unwrap().contains(name), "{body}");
    }
    let body =
        app.post("/v1/Conversations", &[("MessagingServiceSid", "MG123")]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("MessagingServiceSid"), "{body}");
    let body = app.post("/v1/Conversations", &[("DateCreated", "last week")]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("DateCreated"), "{body}");
    // None of the refused requests created anything.
    let list = app.get("/v1/Conversations").await.expect(200);
    assert_eq!(list["conversations"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn account_defaults_fill_messaging_service_and_timers() {
    let app = TestApp::new().await;
    app.post(
        "/v1/Configuration",
        &[
            ("DefaultMessagingServiceSid", MG),
            ("DefaultInactiveTimer", "PT2M"),
            ("DefaultClosedTimer", "PT20M"),
        ],
    )
    .await
    .expect(200);
    let c = app.conversation(&[]).await;
    assert_eq!(c["messaging_service_sid"], MG);
    let updated = unix(&c["date_updated"]);
    assert_eq!(unix(&c["timers"]["date_inactive"]) - updated, 120);
    assert_eq!(unix(&c["timers"]["date_closed"]) - updated, 1200);

    // Explicit values win over the account defaults.
    let c = app
        .conversation(&[
            ("MessagingServiceSid", MG2),
            ("Timers.Inactive", "PT3M"),
            ("Timers.Closed", "PT30M"),
        ])
        .await;
    assert_eq!(c["messaging_service_sid"], MG2);
    let updated = unix(&c["date_updated"]);
    assert_eq!(unix(&c["timers"]["date_inactive"]) - updated, 180);
    assert_eq!(unix(&c["timers"]["date_closed"]) - updated, 1800);
}

#[actix_web::test]
async fn service_family_urls_embed_the_service() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let other = create_service(&app, "second").await;
    let prefix = format!("http://localhost/v1/Services/{other}");

    let c = app
        .post(
            &format!("/v1/Services/{other}/Conversations"),
            &[("FriendlyName", "x"), ("UniqueName", "room")],
        )
        .await
        .expect(201);
    assert_conversation(&c, &prefix);
    assert_eq!(c["chat_service_sid"], other);
    assert_eq!(c["account_sid"], app.account.sid);
    let sid = text(&c["sid"]);
    assert_eq!(app.get(&format!("/v1/Services/{other}/Conversations/{sid}")).await.expect(200), c);
    assert_eq!(app.get(&format!("/v1/Services/{other}/Conversations/room")).await.expect(200), c);

    // It belongs to that service only: not in the default service's family.
    app.get(&format!("/v1/Conversations/{sid}")).await.expect_error(404, 20404);
    app.get("/v1/Conversations/room").await.expect_error(404, 20404);
    app.get(&format!("/v1/Services/{default}/Conversations/{sid}")).await.expect_error(404, 20404);
    let listed = app.get("/v1/Conversations").await.expect(200);
    assert_eq!(listed["conversations"], serde_json::json!([]));
    let listed = app.get(&format!("/v1/Services/{other}/Conversations")).await.expect(200);
    assert_eq!(listed["conversations"], serde_json::json!([c]));
    assert!(text(&listed["meta"]["url"]).starts_with(&format!("{prefix}/Conversations?")));

    // Unique names are per service.
    let d = app.conversation(&[("UniqueName", "room")]).await;
    assert_conversation(&d, "http://localhost/v1");
    assert_ne!(d["sid"], c["sid"]);

    // A default-service conversation through the explicit family: same object, service URLs.
    let dsid = text(&d["sid"]);
    let via_service = app.get(&format!("/v1/Services/{default}/Conversations/{dsid}")).await.expect(200);
    assert_conversation(&via_service, &format!("http://localhost/v1/Services/{default}"));
    assert_only_changed(&d, &via_service, &["url", "links"]);

    // An unknown or malformed service is 404.
    app.get(&format!("/v1/Services/IS{}/Conversations", "0".repeat(32))).await.expect_error(404, 20404);
    app.get("/v1/Services/nope/Conversations").await.expect_error(404, 20404);
}

#[actix_web::test]
async fn fetch_unknown_conversations_is_not_found() {
    let app = TestApp::new().await;
    app.conversation(&[("UniqueName", "known")]).await;
    app.get(&format!("/v1/Conversations/CH{}", "a".repeat(32))).await.expect_error(404, 20404);
    app.get("/v1/Conversations/unknown").await.expect_error(404, 20404);
    app.post(&format!("/v1/Conversations/CH{}", "a".repeat(32)), &[("FriendlyName", "x")])
        .await
        .expect_error(404, 20404);
}

#[actix_web::test]
async fn update_changes_each_field_and_only_that_field() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("FriendlyName", "before"), ("DateCreated", "2016-01-01T00:00:00Z")]).await;
    let sid = text(&c["sid"]);
    let path = format!("/v1/Conversations/{sid}");
    assert_eq!(c["date_updated"], "2016-01-01T00:00:00Z");

    // FriendlyName; date_updated moves to now.
    let before = now();
    let u = app.post(&path, &[("FriendlyName", "after")]).await.expect(200);
    assert_conversation(&u, "http://localhost/v1");
    assert_eq!(u["friendly_name"], "after");
    assert!(unix(&u["date_updated"]) >= before, "date_updated not bumped: {u}");
    assert_only_changed(&c, &u, &["friendly_name", "date_updated"]);

    // Attributes, verbatim.
    let attributes = "{\n\t\"priority\" :  \"high\" }";
    let v = app.post(&path, &[("Attributes", attributes)]).await.expect(200);
    assert_eq!(v["attributes"], attributes);
    assert_only_changed(&u, &v, &["attributes", "date_updated"]);

    // UniqueName, then reachable by it.
    let w = app.post(&path, &[("UniqueName", "renamed")]).await.expect(200);
    assert_eq!(w["unique_name"], "renamed");
    assert_only_changed(&v, &w, &["unique_name", "date_updated"]);
    assert_eq!(app.get("/v1/Conversations/renamed").await.expect(200)["sid"], sid);

    // Updates through the unique_name path alias.
    let x = app.post("/v1/Conversations/renamed", &[("MessagingServiceSid", MG)]).await.expect(200);
    assert_eq!(x["messaging_service_sid"], MG);
    assert_only_changed(&w, &x, &["messaging_service_sid", "date_updated"]);

    // Email bindings.
    let y = app
        .post(&path, &[("Bindings.Email.Address", "desk@example.com"), ("Bindings.Email.Name", "Desk")])
        .await
        .expect(200);
    assert_eq!(
        y["bindings"],
        serde_json::json!({"email": {"projected_address": "desk@example.com", "name": "Desk"}})
    );
    assert_only_changed(&x, &y, &["bindings", "date_updated"]);

    // Explicit dates.
    let z = app
        .post(&path, &[("DateCreated", "2017-02-03T04:05:06Z"), ("DateUpdated", "2018-03-04T05:06:07Z")])
        .await
        .expect(200);
    assert_eq!(z["date_created"], "2017-02-03T04:05:06Z");
    assert_eq!(z["date_updated"], "2018-03-04T05:06:07Z");
    assert_only_changed(&y, &z, &["date_created", "date_updated"]);

    // Timers restart from the update.
    let before = now();
    let t = app.post(&path, &[("Timers.Inactive", "PT1M"), ("Timers.Closed", "PT10M")]).await.expect(200);
    let after = now();
    let inactive = unix(&t["timers"]["date_inactive"]);
    let closed = unix(&t["timers"]["date_closed"]);
    assert!((before + 60..=after + 60).contains(&inactive), "date_inactive {inactive}, now {before}");
    assert!((before + 600..=after + 600).contains(&closed), "date_closed {closed}, now {before}");
    assert_only_changed(&z, &t, &["timers", "date_updated"]);

    // State.
    let s = app.post(&path, &[("State", "inactive")]).await.expect(200);
    assert_eq!(s["state"], "inactive");
    assert_only_changed(&t, &s, &["state", "timers", "date_updated"]);

    // Everything stuck: a fetch shows the last update's object.
    assert_eq!(app.get(&path).await.expect(200), s);

    // Bad values are refused and leave the conversation alone.
    for (name, value) in [("State", "sleeping"), ("Timers.Inactive", "PT1S"), ("DateUpdated", "never")] {
        let body = app.post(&path, &[(name, value)]).await.expect_error(400, 20001);
        assert!(body["message"].as_str().unwrap().contains(name), "{body}");
    }
    assert_eq!(app.get(&path).await.expect(200), s);
}

#[actix_web::test]
async fn update_clears_unique_name_with_an_empty_value() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("UniqueName", "lobby"), ("FriendlyName", "Lobby")]).await;
    let sid = text(&c["sid"]);
    let u = app.post(&format!("/v1/Conversations/{sid}"), &[("UniqueName", "")]).await.expect(200);
    assert!(u["unique_name"].is_null(), "{u}");
    assert_eq!(u["friendly_name"], "Lobby");
    app.get("/v1/Conversations/lobby").await.expect_error(404, 20404);
    assert!(app.get(&format!("/v1/Conversations/{sid}")).await.expect(200)["unique_name"].is_null());
    // The name is free again.
    let d = app.conversation(&[("UniqueName", "lobby")]).await;
    assert_eq!(app.get("/v1/Conversations/lobby").await.expect(200)["sid"], d["sid"]);
}

#[actix_web::test]
async fn closed_conversations_cannot_be_reopened() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("Timers.Inactive", "PT1M"), ("Timers.Closed", "PT10M")]).await;
    let path = format!("/v1/Conversations/{}", text(&c["sid"]));
    let closed = app.post(&path, &[("State", "closed")]).await.expect(200);
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["timers"], serde_json::json!({}), "a closed conversation has no pending timers");
    // Twilio 50377: closed is final; no update of any field is accepted.
    for form in [[("State", "active")], [("State", "inactive")], [("FriendlyName", "renamed")]] {
        app.post(&path, &form).await.expect_error(400, 50377);
    }
    let after = app.get(&path).await.expect(200);
    assert_eq!(after["state"], "closed");
    assert!(after["friendly_name"].is_null(), "{after}");
}

/// Twilio error 50384 "Initial state can't be 'closed'": a conversation is
/// created `active` or `inactive` (or `initializing`), never `closed`.
#[actix_web::test]
async fn create_cannot_start_closed() {
    let app = TestApp::new().await;
    app.post("/v1/Conversations", &[("State", "closed"), ("UniqueName", "born-closed")])
        .await
        .expect_error(400, 50384);
    app.get("/v1/Conversations/born-closed").await.expect_error(404, 20404);
    assert_eq!(app.get("/v1/Conversations").await.expect(200)["conversations"], serde_json::json!([]));
    // The states a conversation may start in.
    for state in ["active", "inactive"] {
        assert_eq!(app.conversation(&[("State", state)]).await["state"], state);
    }
}

#[actix_web::test]
async fn duplicate_unique_name_conflicts_on_create_and_update() {
    let app = TestApp::new().await;
    let a = app.conversation(&[("UniqueName", "dup")]).await;
    let body = app.post("/v1/Conversations", &[("UniqueName", "dup")]).await.expect_error(409, 50353);
    assert!(body["message"].as_str().unwrap().contains("dup"), "{body}");

    let b = app.conversation(&[("FriendlyName", "b")]).await;
    let b_path = format!("/v1/Conversations/{}", text(&b["sid"]));
    app.post(&b_path, &[("UniqueName", "dup"), ("FriendlyName", "changed")]).await.expect_error(409, 50353);
    // The failed update changed nothing.
    assert_eq!(app.get(&b_path).await.expect(200), b);
    // Only the first one answers to the name; there are exactly two conversations.
    assert_eq!(app.get("/v1/Conversations/dup").await.expect(200), a);
    let list = app.get("/v1/Conversations").await.expect(200);
    assert_eq!(sids(list["conversations"].as_array().unwrap()), vec![text(&a["sid"]), text(&b["sid"])]);

    // Setting a conversation's own unique name again is no conflict.
    let same = app.post(&format!("/v1/Conversations/{}", text(&a["sid"])), &[("UniqueName", "dup")]).await;
    assert_eq!(same.expect(200)["unique_name"], "dup");
}

#[actix_web::test]
async fn unique_name_shaped_like_a_conversation_sid_is_refused() {
    let app = TestApp::new().await;
    let sid_like = format!("CH{}", "0123456789abcdef".repeat(2));
    app.post("/v1/Conversations", &[("UniqueName", &sid_like)]).await.expect_error(400, 50390);
    let c = app.conversation(&[]).await;
    let path = format!("/v1/Conversations/{}", text(&c["sid"]));
    app.post(&path, &[("UniqueName", &sid_like)]).await.expect_error(400, 50390);
    assert!(app.get(&path).await.expect(200)["unique_name"].is_null());
    // Shapes that are not a CH SID are fine.
    let ok = app.conversation(&[("UniqueName", &format!("CH{}", "0123456789abcdef"))]).await;
    assert_eq!(ok["unique_name"], "CH0123456789abcdef");
}

#[actix_web::test]
async fn invalid_attributes_are_refused_naming_attributes() {
    let app = TestApp::new().await;
    for bad in ["{not json", "{\"a\": 1", "{'single': 'quotes'}"] {
        let body = app.post("/v1/Conversations", &[("Attributes", bad)]).await.expect_error(400, 20001);
        assert!(body["message"].as_str().unwrap().contains("Attributes"), "{bad:?}: {body}");
    }
    // Over the 16 KiB cap.
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(16 * 1024));
    let body = app.post("/v1/Conversations", &[("Attributes", &big)]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("Attributes"), "{body}");
    assert_eq!(app.get("/v1/Conversations").await.expect(200)["conversations"], serde_json::json!([]));

    let c = app.conversation(&[("Attributes", "{\"kept\": true}")]).await;
    let path = format!("/v1/Conversations/{}", text(&c["sid"]));
    let body = app.post(&path, &[("Attributes", "[1, 2")]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("Attributes"), "{body}");
    assert_eq!(app.get(&path).await.expect(200)["attributes"], "{\"kept\": true}");
}

#[actix_web::test]
async fn list_filters_by_state_and_pages_with_the_filter() {
    let app = TestApp::new().await;
    let mut inactive = Vec::new();
    for i in 0..5 {
        let a = app.conversation(&[("FriendlyName", &format!("active {i}"))]).await;
        assert_eq!(a["state"], "active");
        inactive.push(text(&app.conversation(&[("State", "inactive")]).await["sid"]));
    }
    let closed = app.conversation(&[]).await;
    let closed_path = format!("/v1/Conversations/{}", text(&closed["sid"]));
    app.post(&closed_path, &[("State", "closed")]).await.expect(200);
    let (items, metas) = walk(&app, "/v1/Conversations?State=inactive&PageSize=2").await;
    assert!(items.iter().all(|c| c["state"] == "inactive"), "{items:?}");
    assert_eq!(sids(&items), inactive, "each inactive conversation once, in creation order");
    assert_eq!(metas.len(), 3);
    for meta in &metas {
        assert!(text(&meta["url"]).contains("State=inactive"), "{meta}");
        assert!(text(&meta["first_page_url"]).contains("State=inactive"), "{meta}");
        if let Some(next) = meta["next_page_url"].as_str() {
            assert!(next.starts_with("http://localhost/v1/Conversations?"), "{next}");
            assert!(next.contains("State=inactive"), "{next}");
        }
    }

    let (items, _) = walk(&app, "/v1/Conversations?State=closed").await;
    assert_eq!(sids(&items), vec![text(&closed["sid"])]);
    let (items, _) = walk(&app, "/v1/Conversations?State=initializing").await;
    assert!(items.is_empty());
    let (items, _) = walk(&app, "/v1/Conversations?PageSize=4").await;
    assert_eq!(items.len(), 11);

    let body = app.get("/v1/Conversations?State=sleeping").await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("State"), "{body}");
}

/// Conversations created at known dates, in an order unlike their dates.
async fn dated_conversations(app: &TestApp) -> [String; 4] {
    let mut out = Vec::new();
    for date in
        ["2020-06-15T23:59:59Z", "2020-01-01T10:00:00Z", "2020-06-16T00:00:00Z", "2020-06-15T00:00:00Z"]
    {
        out.push(text(&app.conversation(&[("DateCreated", date)]).await["sid"]));
    }
    out.try_into().unwrap()
}

#[actix_web::test]
async fn list_filters_by_start_and_end_date() {
    let app = TestApp::new().await;
    let [late_15, jan_1, jun_16, early_15] = dated_conversations(&app).await;
    let recent = text(&app.conversation(&[]).await["sid"]);

    let cases: [(&str, Vec<&String>); 5] = [
        ("StartDate=2020-06-15", vec![&late_15, &jun_16, &early_15, &recent]),
        // A bare EndDate includes that whole day.
        ("EndDate=2020-06-15", vec![&late_15, &jan_1, &early_15]),
        ("StartDate=2020-06-15&EndDate=2020-06-15", vec![&late_15, &early_15]),
        ("StartDate=2020-06-15T12:00:00Z", vec![&late_15, &jun_16, &recent]),
        ("StartDate=2019-01-01&EndDate=2020-06-15T12:00:00Z", vec![&jan_1, &early_15]),
    ];
    for (query, want) in cases {
        // One per page, so the filter must survive in every next_page_url.
        let (items, metas) = walk(&app, &format!("/v1/Conversations?{query}&PageSize=1")).await;
        let want = sorted(want.into_iter().cloned().collect());
        assert_eq!(sorted(sids(&items)), want, "{query}: each match exactly once");
        for meta in &metas {
            for part in query.split('&') {
                let (name, _) = part.split_once('=').unwrap();
                assert!(text(&meta["url"]).contains(name), "{query}: {meta}");
            }
        }
    }
    let body = app.get("/v1/Conversations?StartDate=yesterday").await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("StartDate"), "{body}");
    let body = app.get("/v1/Conversations?EndDate=2020-13-45").await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("EndDate"), "{body}");
}

/// The spec (ListConversation `StartDate`/`EndDate`): "If this filter is
/// used, the returned list is sorted by latest conversation creation date in
/// descending order."
#[actix_web::test]
async fn date_filtered_lists_are_newest_first() {
    let app = TestApp::new().await;
    let [late_15, jan_1, jun_16, early_15] = dated_conversations(&app).await;
    let (items, _) = walk(&app, "/v1/Conversations?StartDate=2019-01-01").await;
    assert_eq!(sids(&items), vec![jun_16.clone(), late_15.clone(), early_15.clone(), jan_1.clone()]);
    let (items, _) = walk(&app, "/v1/Conversations?EndDate=2020-06-15&PageSize=2").await;
    assert_eq!(sids(&items), vec![late_15, early_15, jan_1]);
}

#[actix_web::test]
async fn delete_removes_the_conversation_with_its_participants_and_messages() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("UniqueName", "doomed")]).await;
    let sid = text(&c["sid"]);
    let path = format!("/v1/Conversations/{sid}");
    let alice =
        app.post(&format!("{path}/Participants"), &[("Identity", "alice")]).await.expect(201)["sid"].clone();
    let sms = app
        .post(&format!("{path}/Participants"), &[("MessagingBinding.Address", "+15558675310")])
        .await
        .expect(201)["sid"]
        .clone();
    let mut message_sids = Vec::new();
    for i in 0..3 {
        let m =
            app.post(&format!("{path}/Messages"), &[("Author", "alice"), ("Body", &format!("m{i}"))]).await;
        message_sids.push(text(&m.expect(201)["sid"]));
    }
    // A neighbour that must survive.
    let keep = app.conversation(&[]).await;
    let keep_path = format!("/v1/Conversations/{}", text(&keep["sid"]));
    app.post(&format!("{keep_path}/Participants"), &[("Identity", "alice")]).await.expect(201);
    app.post(&format!("{keep_path}/Messages"), &[("Body", "stay")]).await.expect(201);
    assert_eq!(stored_rows(&app, &sid).await, (2, 3));

    // Delete by unique_name: 204, empty body.
    let res = app.delete("/v1/Conversations/doomed").await;
    assert_eq!(res.status.as_u16(), 204, "body: {}", res.body);
    assert!(res.raw.is_empty(), "204 with a body: {:?}", String::from_utf8_lossy(&res.raw));

    app.get(&path).await.expect_error(404, 20404);
    app.get("/v1/Conversations/doomed").await.expect_error(404, 20404);
    app.delete(&path).await.expect_error(404, 20404);
    app.post(&path, &[("FriendlyName", "zombie")]).await.expect_error(404, 20404);
    app.get(&format!("{path}/Participants")).await.expect_error(404, 20404);
    app.get(&format!("{path}/Messages")).await.expect_error(404, 20404);
    for p in [&alice, &sms] {
        app.get(&format!("{path}/Participants/{}", text(p))).await.expect_error(404, 20404);
    }
    for m in &message_sids {
        app.get(&format!("{path}/Messages/{m}")).await.expect_error(404, 20404);
    }
    // The rows themselves are gone, not just unreachable.
    assert_eq!(stored_rows(&app, &sid).await, (0, 0));
    // alice now takes part in the surviving conversation only; her User remains.
    let pc = app.get("/v1/ParticipantConversations?Identity=alice").await.expect(200);
    let convs: Vec<&Value> = pc["conversations"].as_array().unwrap().iter().collect();
    assert_eq!(convs.len(), 1, "{pc}");
    assert_eq!(convs[0]["conversation_sid"], keep["sid"]);
    app.get("/v1/Users/alice").await.expect(200);
    let pc = app.get("/v1/ParticipantConversations?Address=%2B15558675310").await.expect(200);
    assert_eq!(pc["conversations"], serde_json::json!([]));

    // The neighbour is intact; the list no longer holds the deleted one.
    assert_eq!(app.get(&keep_path).await.expect(200), keep);
    assert_eq!(
        app.get(&format!("{keep_path}/Messages")).await.expect(200)["messages"].as_array().unwrap().len(),
        1
    );
    let list = app.get("/v1/Conversations").await.expect(200);
    assert_eq!(sids(list["conversations"].as_array().unwrap()), vec![text(&keep["sid"])]);
    // And its unique name is free again.
    app.conversation(&[("UniqueName", "doomed")]).await;
}

#[actix_web::test]
async fn state_timers_move_active_to_inactive_to_closed() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("Timers.Inactive", "PT1M"), ("Timers.Closed", "PT10M")]).await;
    let untimed = app.conversation(&[]).await;
    let path = format!("/v1/Conversations/{}", text(&c["sid"]));
    let due_inactive = unix(&c["timers"]["date_inactive"]);
    let due_closed = unix(&c["timers"]["date_closed"]);
    assert_eq!(due_closed - due_inactive, 540);

    // Not yet due.
    assert_eq!(apply_timers(&app, due_inactive - 1).await, (0, 0));
    assert_eq!(app.get(&path).await.expect(200), c);

    // The inactive timer fires: inactive, the closed timer still pending.
    assert_eq!(apply_timers(&app, due_inactive).await, (1, 0));
    let inactive = app.get(&path).await.expect(200);
    assert_eq!(inactive["state"], "inactive");
    assert_eq!(inactive["timers"], serde_json::json!({"date_closed": c["timers"]["date_closed"]}));
    let listed = app.get("/v1/Conversations?State=inactive").await.expect(200);
    assert_eq!(sids(listed["conversations"].as_array().unwrap()), vec![text(&c["sid"])]);

    // Applying again at the same moment changes nothing.
    assert_eq!(apply_timers(&app, due_inactive).await, (0, 0));
    assert_eq!(apply_timers(&app, due_closed - 1).await, (0, 0));
    assert_eq!(app.get(&path).await.expect(200)["state"], "inactive");

    // The closed timer fires: closed, no timers left.
    assert_eq!(apply_timers(&app, due_closed).await, (0, 1));
    let closed = app.get(&path).await.expect(200);
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["timers"], serde_json::json!({}));
    assert_eq!(apply_timers(&app, due_closed + 365 * 86_400).await, (0, 0));
    assert_eq!(app.get(&path).await.expect(200)["state"], "closed");
    app.post(&path, &[("State", "active")]).await.expect_error(400, 50377);

    // The conversation without timers never moved.
    let still = app.get(&format!("/v1/Conversations/{}", text(&untimed["sid"]))).await.expect(200);
    assert_eq!(still, untimed);
}

#[actix_web::test]
async fn a_closed_timer_alone_closes_an_active_conversation() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("Timers.Closed", "PT10M")]).await;
    let path = format!("/v1/Conversations/{}", text(&c["sid"]));
    let due = unix(&c["timers"]["date_closed"]);
    assert_eq!(apply_timers(&app, due + 3600).await, (0, 1));
    let closed = app.get(&path).await.expect(200);
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["timers"], serde_json::json!({}));
}

#[actix_web::test]
async fn a_message_revives_an_inactive_conversation() {
    let app = TestApp::new().await;
    let c = app.conversation(&[("Timers.Inactive", "PT1M"), ("Timers.Closed", "PT10M")]).await;
    let path = format!("/v1/Conversations/{}", text(&c["sid"]));
    assert_eq!(apply_timers(&app, unix(&c["timers"]["date_inactive"])).await, (1, 0));
    assert_eq!(app.get(&path).await.expect(200)["state"], "inactive");

    let before = now();
    app.post(&format!("{path}/Messages"), &[("Body", "anyone there?")]).await.expect(201);
    let after = now();
    let revived = app.get(&path).await.expect(200);
    assert_eq!(revived["state"], "active");
    // Both timers restart from the message.
    let inactive = unix(&revived["timers"]["date_inactive"]);
    let closed = unix(&revived["timers"]["date_closed"]);
    assert!((before + 60..=after + 60).contains(&inactive), "date_inactive {inactive}, now {before}");
    assert!((before + 600..=after + 600).contains(&closed), "date_closed {closed}, now {before}");

    // Created inactive, no timers: a message makes it active too.
    let d = app.conversation(&[("State", "inactive")]).await;
    let path = format!("/v1/Conversations/{}", text(&d["sid"]));
    app.post(&format!("{path}/Messages"), &[("Body", "hello")]).await.expect(201);
    assert_eq!(app.get(&path).await.expect(200)["state"], "active");
}

#[actix_web::test]
async fn another_accounts_conversations_are_invisible() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let c = app.conversation(&[("UniqueName", "private"), ("FriendlyName", "mine")]).await;
    let sid = text(&c["sid"]);
    let other = app.create_account().await;

    for path in [format!("/v1/Conversations/{sid}"), "/v1/Conversations/private".to_string()] {
        app.get_as(&other, &path).await.expect_error(404, 20404);
        app.post_as(&other, &path, &[("FriendlyName", "theirs")]).await.expect_error(404, 20404);
        app.delete_as(&other, &path).await.expect_error(404, 20404);
    }
    app.get_as(&other, &format!("/v1/Services/{service}/Conversations/{sid}")).await.expect_error(404, 20404);
    app.get_as(&other, &format!("/v1/Services/{service}/Conversations")).await.expect_error(404, 20404);
    let theirs = app.get_as(&other, "/v1/Conversations").await.expect(200);
    assert_eq!(theirs["conversations"], serde_json::json!([]));

    // Their own conversation may reuse the unique name: a separate service.
    let mine = app.post_as(&other, "/v1/Conversations", &[("UniqueName", "private")]).await.expect(201);
    assert_ne!(mine["chat_service_sid"], c["chat_service_sid"]);
    assert_eq!(mine["account_sid"], other.sid);

    // Nothing of the first account's changed.
    assert_eq!(app.get(&format!("/v1/Conversations/{sid}")).await.expect(200), c);
}
