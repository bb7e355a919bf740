//! Messages (`IM…`): the per-conversation index, authors, attributes, the
//! object shape on both path families, update, delete, ordered paging, and
//! concurrent senders.

use crate::util::{TestApp, TestServer, assert_keys, assert_twilio_date};
use futures_util::future::join_all;
use serde_json::{Value, json};

/// Account family (`/v1/Conversations/…`): no `chat_service_sid`.
const MESSAGE_KEYS: &[&str] = &[
    "account_sid",
    "conversation_sid",
    "sid",
    "index",
    "author",
    "body",
    "media",
    "attributes",
    "participant_sid",
    "date_created",
    "date_updated",
    "url",
    "delivery",
    "links",
    "content_sid",
];

#[track_caller]
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

/// Exact keys, SID shape, absolute `url` and `links` under `prefix`
/// (`http://localhost/v1` or `…/v1/Services/{IS}`).
#[track_caller]
fn assert_message(m: &Value, prefix: &str, conversation: &str) {
    if let Some((_, service)) = prefix.rsplit_once("/Services/") {
        let mut keys = MESSAGE_KEYS.to_vec();
        keys.push("chat_service_sid");
        assert_keys(m, &keys);
        assert_eq!(m["chat_service_sid"], service, "{m}");
    } else {
        assert_keys(m, MESSAGE_KEYS);
    }
    let sid = text(&m["sid"]);
    assert!(
        sid.len() == 34 && sid.starts_with("IM") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "not an IM SID: {sid}"
    );
    assert_eq!(m["conversation_sid"], conversation);
    let url = format!("{prefix}/Conversations/{conversation}/Messages/{sid}");
    assert_eq!(m["url"], url);
    assert_keys(&m["links"], &["delivery_receipts", "channel_metadata"]);
    assert_eq!(m["links"]["delivery_receipts"], format!("{url}/Receipts"));
    assert_eq!(m["links"]["channel_metadata"], format!("{url}/ChannelMetadata"));
    assert!(m["index"].is_i64(), "{m}");
    assert!(m["media"].is_null(), "no media: {m}");
    assert!(m["delivery"].is_null(), "chat messages have no delivery summary: {m}");
    assert!(m["attributes"].is_string(), "{m}");
    assert_twilio_date(&m["date_created"]);
    assert_twilio_date(&m["date_updated"]);
}

async fn conversation_sid(app: &TestApp, form: &[(&str, &str)]) -> String {
    text(&app.conversation(form).await["sid"])
}

async fn send(app: &TestApp, ch: &str, form: &[(&str, &str)]) -> Value {
    app.post(&format!("/v1/Conversations/{ch}/Messages"), form).await.expect(201)
}

fn indexes(items: &[Value]) -> Vec<i64> {
    items.iter().map(|m| m["index"].as_i64().expect("index")).collect()
}

#[track_caller]
fn message_names(body: &Value, name: &str) {
    assert!(body["message"].as_str().is_some_and(|m| m.contains(name)), "error should name {name}: {body}");
}

/// Pages of a messages list: forward by `next_page_url`, then back from the
/// last page by `previous_page_url`, both followed verbatim. The way back
/// must retrace the way forward. Returns the forward pages' indexes.
async fn walk_both_ways(app: &TestApp, first: &str, order: &str) -> Vec<Vec<i64>> {
    let mut pages: Vec<(Vec<i64>, Value)> = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        let meta = body["meta"].clone();
        assert_eq!(meta["key"], "messages");
        assert_eq!(meta["page"], pages.len(), "{meta}");
        assert!(text(&meta["url"]).contains(&format!("Order={order}")), "filter echoed: {meta}");
        assert!(text(&meta["first_page_url"]).contains(&format!("Order={order}")), "{meta}");
        if let Some(next) = meta["next_page_url"].as_str() {
            assert!(next.starts_with("http://localhost/v1/"), "absolute: {next}");
            assert!(next.contains(&format!("Order={order}")), "filter kept: {next}");
        }
        next = meta["next_page_url"].as_str().map(TestApp::path_of);
        pages.push((indexes(body["messages"].as_array().unwrap()), meta));
        assert!(pages.len() < 100, "paging does not end");
    }
    assert!(pages[0].1["previous_page_url"].is_null(), "first page has no previous page");

    // And back again.
    let mut i = pages.len() - 1;
    let mut prev = pages[i].1["previous_page_url"].as_str().map(TestApp::path_of);
    while let Some(path) = prev {
        assert!(i > 0, "previous_page_url beyond the first page");
        i -= 1;
        let body = app.get(&path).await.expect(200);
        assert_eq!(indexes(body["messages"].as_array().unwrap()), pages[i].0, "page {i} on the way back");
        assert_eq!(body["meta"]["page"], i);
        prev = body["meta"]["previous_page_url"].as_str().map(TestApp::path_of);
    }
    assert_eq!(i, 0, "the way back stopped before the first page");
    pages.into_iter().map(|(p, _)| p).collect()
}

#[actix_web::test]
async fn indexes_start_at_zero_and_increase_per_conversation() {
    let app = TestApp::new().await;
    let a = conversation_sid(&app, &[]).await;
    let b = conversation_sid(&app, &[]).await;
    let mut got = Vec::new();
    for i in 0..4 {
        got.push(send(&app, &a, &[("Body", &format!("a{i}"))]).await["index"].as_i64().unwrap());
    }
    assert_eq!(got, vec![0, 1, 2, 3]);
    // Each conversation counts on its own.
    assert_eq!(send(&app, &b, &[("Body", "b0")]).await["index"], 0);
    assert_eq!(send(&app, &a, &[("Body", "a4")]).await["index"], 4);
    assert_eq!(send(&app, &b, &[("Body", "b1")]).await["index"], 1);
}

#[actix_web::test]
async fn author_defaults_to_system_and_links_to_a_participant() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let m = send(&app, &ch, &[("Body", "hello")]).await;
    assert_eq!(m["author"], "system");
    assert!(m["participant_sid"].is_null(), "{m}");
    assert_eq!(m["body"], "hello");

    let alice =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let m = send(&app, &ch, &[("Author", "alice"), ("Body", "hi")]).await;
    assert_eq!(m["author"], "alice");
    assert_eq!(m["participant_sid"], alice["sid"]);

    // An author who is not a participant: kept, but no participant_sid.
    let m = send(&app, &ch, &[("Author", "bob"), ("Body", "hey")]).await;
    assert_eq!(m["author"], "bob");
    assert!(m["participant_sid"].is_null(), "{m}");
    // Nor does a participant of another conversation count.
    let other = conversation_sid(&app, &[]).await;
    let m = send(&app, &other, &[("Author", "alice"), ("Body", "elsewhere")]).await;
    assert!(m["participant_sid"].is_null(), "{m}");

    // An SMS participant has no identity; a message by "system" still has no participant.
    app.post(
        &format!("/v1/Conversations/{ch}/Participants"),
        &[("MessagingBinding.Address", "+15558675310")],
    )
    .await
    .expect(201);
    let m = send(&app, &ch, &[("Body", "note")]).await;
    assert_eq!(m["author"], "system");
    assert!(m["participant_sid"].is_null(), "{m}");
}

#[actix_web::test]
async fn message_object_has_the_exact_shape_on_both_families() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = conversation_sid(&app, &[]).await;
    let m = send(&app, &ch, &[("Body", "shape")]).await;
    assert_message(&m, "http://localhost/v1", &ch);
    assert_eq!(m["account_sid"], app.account.sid);
    assert_eq!(m["attributes"], "{}");
    assert!(m["content_sid"].is_null());
    assert_eq!(m["date_updated"], m["date_created"]);

    // The same message through the service family: chat_service_sid and service URLs.
    let prefix = format!("http://localhost/v1/Services/{service}");
    let sid = text(&m["sid"]);
    let s = app.get(&format!("/v1/Services/{service}/Conversations/{ch}/Messages/{sid}")).await.expect(200);
    assert_message(&s, &prefix, &ch);
    for key in MESSAGE_KEYS.iter().filter(|k| !["url", "links"].contains(*k)) {
        assert_eq!(s[*key], m[*key], "{key}");
    }
    // Created through the service family.
    let n = app
        .post(&format!("/v1/Services/{service}/Conversations/{ch}/Messages"), &[("Body", "svc")])
        .await
        .expect(201);
    assert_message(&n, &prefix, &ch);
    assert_eq!(n["index"], 1);
    let list = app.get(&format!("/v1/Services/{service}/Conversations/{ch}/Messages")).await.expect(200);
    for item in list["messages"].as_array().unwrap() {
        assert_message(item, &prefix, &ch);
    }
    let list = app.get(&format!("/v1/Conversations/{ch}/Messages")).await.expect(200);
    for item in list["messages"].as_array().unwrap() {
        assert_message(item, "http://localhost/v1", &ch);
    }

    // A conversation of another service.
    let other = text(&app.post("/v1/Services", &[("FriendlyName", "two")]).await.expect(201)["sid"]);
    let oc = text(&app.post(&format!("/v1/Services/{other}/Conversations"), &[]).await.expect(201)["sid"]);
    let o = app.post(&format!("/v1/Services/{other}/Conversations/{oc}/Messages"), &[("Body", "x")]).await;
    assert_message(&o.expect(201), &format!("http://localhost/v1/Services/{other}"), &oc);
    app.post(&format!("/v1/Conversations/{oc}/Messages"), &[("Body", "x")]).await.expect_error(404, 20404);
}

#[actix_web::test]
async fn attributes_must_be_json_and_are_kept_verbatim() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let attributes = "{ \"importance\" :\t\"high\",\n  \"list\": [ 1,2 ] }";
    let m = send(&app, &ch, &[("Body", "x"), ("Attributes", attributes)]).await;
    assert_eq!(m["attributes"], attributes);
    let fetched = app.get(&format!("/v1/Conversations/{ch}/Messages/{}", text(&m["sid"]))).await.expect(200);
    assert_eq!(fetched["attributes"], attributes);

    let path = format!("/v1/Conversations/{ch}/Messages");
    for bad in ["{oops", "not json", "{\"a\":}"] {
        let body = app.post(&path, &[("Body", "x"), ("Attributes", bad)]).await.expect_error(400, 20001);
        message_names(&body, "Attributes");
    }
    // Over the 4 KiB cap.
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(4 * 1024));
    let body = app.post(&path, &[("Body", "x"), ("Attributes", &big)]).await.expect_error(400, 20001);
    message_names(&body, "Attributes");
    // None of the refused messages exists.
    assert_eq!(indexes(app.get(&path).await.expect(200)["messages"].as_array().unwrap()), vec![0]);
}

#[actix_web::test]
async fn body_is_capped_at_32_kib() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let path = format!("/v1/Conversations/{ch}/Messages");
    let longest = "x".repeat(32 * 1024);
    let m = send(&app, &ch, &[("Body", &longest)]).await;
    assert_eq!(m["body"], longest.as_str());
    let too_long = "x".repeat(32 * 1024 + 1);
    let body = app.post(&path, &[("Body", &too_long)]).await.expect_error(400, 20001);
    message_names(&body, "Body");
    let m = text(&m["sid"]);
    let body = app.post(&format!("{path}/{m}"), &[("Body", &too_long)]).await.expect_error(400, 20001);
    message_names(&body, "Body");
    assert_eq!(app.get(&format!("{path}/{m}")).await.expect(200)["body"], longest.as_str());
    assert_eq!(app.get(&path).await.expect(200)["messages"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn fetch_returns_the_stored_message() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[("UniqueName", "room")]).await;
    let m = app
        .post(
            "/v1/Conversations/room/Messages",
            &[("Author", "carol"), ("Body", "via unique name"), ("DateCreated", "2020-02-03T04:05:06Z")],
        )
        .await
        .expect(201);
    assert_message(&m, "http://localhost/v1", &ch);
    assert_eq!(m["date_created"], "2020-02-03T04:05:06Z");
    let sid = text(&m["sid"]);
    assert_eq!(app.get(&format!("/v1/Conversations/{ch}/Messages/{sid}")).await.expect(200), m);
    assert_eq!(app.get(&format!("/v1/Conversations/room/Messages/{sid}")).await.expect(200), m);

    app.get(&format!("/v1/Conversations/{ch}/Messages/IM{}", "0".repeat(32))).await.expect_error(404, 20404);
    app.get(&format!("/v1/Conversations/{ch}/Messages/0")).await.expect_error(404, 20404);
    // A message belongs to its conversation only.
    let other = conversation_sid(&app, &[]).await;
    app.get(&format!("/v1/Conversations/{other}/Messages/{sid}")).await.expect_error(404, 20404);
    app.post(&format!("/v1/Conversations/{other}/Messages/{sid}"), &[("Body", "moved")])
        .await
        .expect_error(404, 20404);
    app.delete(&format!("/v1/Conversations/{other}/Messages/{sid}")).await.expect_error(404, 20404);
    assert_eq!(app.get(&format!("/v1/Conversations/{ch}/Messages/{sid}")).await.expect(200), m);
}

#[actix_web::test]
async fn update_changes_body_attributes_and_author() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let alice =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    send(&app, &ch, &[("Body", "first")]).await;
    let m = send(&app, &ch, &[("Body", "typo"), ("DateCreated", "2020-01-01T00:00:00Z")]).await;
    let path = format!("/v1/Conversations/{ch}/Messages/{}", text(&m["sid"]));

    let b = app.post(&path, &[("Body", "fixed")]).await.expect(200);
    assert_message(&b, "http://localhost/v1", &ch);
    assert_eq!(b["body"], "fixed");
    assert_eq!(b["index"], 1, "the index never changes");
    assert_eq!(b["author"], "system");
    assert_eq!(b["attributes"], "{}");
    assert_eq!(b["date_created"], "2020-01-01T00:00:00Z");
    assert_ne!(b["date_updated"], m["date_updated"], "date_updated moves on update");

    let attributes = "{\"edited\" :  true }";
    let a = app.post(&path, &[("Attributes", attributes)]).await.expect(200);
    assert_eq!(a["attributes"], attributes);
    assert_eq!(a["body"], "fixed");

    // Becoming a participant's message, then someone else's again.
    let p = app.post(&path, &[("Author", "alice")]).await.expect(200);
    assert_eq!(p["author"], "alice");
    assert_eq!(p["participant_sid"], alice["sid"]);
    assert_eq!(p["body"], "fixed");
    assert_eq!(p["attributes"], attributes);
    let q = app.post(&path, &[("Author", "dave")]).await.expect(200);
    assert_eq!(q["author"], "dave");
    assert!(q["participant_sid"].is_null(), "{q}");

    let d = app.post(&path, &[("DateUpdated", "2024-05-06T07:08:09Z")]).await.expect(200);
    assert_eq!(d["date_updated"], "2024-05-06T07:08:09Z");
    assert_eq!(app.get(&path).await.expect(200), d);

    let body = app.post(&path, &[("Attributes", "{broken")]).await.expect_error(400, 20001);
    message_names(&body, "Attributes");
    assert_eq!(app.get(&path).await.expect(200), d);
    app.post(&format!("/v1/Conversations/{ch}/Messages/IM{}", "f".repeat(32)), &[("Body", "x")])
        .await
        .expect_error(404, 20404);
}

#[actix_web::test]
async fn delete_removes_only_that_message_and_never_reuses_its_index() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let list = format!("/v1/Conversations/{ch}/Messages");
    let mut sids = Vec::new();
    for i in 0..3 {
        sids.push(text(&send(&app, &ch, &[("Body", &format!("m{i}"))]).await["sid"]));
    }
    let res = app.delete(&format!("{list}/{}", sids[1])).await;
    assert_eq!(res.status.as_u16(), 204, "body: {}", res.body);
    assert!(res.raw.is_empty(), "204 with a body");
    app.get(&format!("{list}/{}", sids[1])).await.expect_error(404, 20404);
    app.delete(&format!("{list}/{}", sids[1])).await.expect_error(404, 20404);
    assert_eq!(indexes(app.get(&list).await.expect(200)["messages"].as_array().unwrap()), vec![0, 2]);
    app.get(&format!("{list}/{}", sids[0])).await.expect(200);

    // Deleting the newest message does not hand its index out again.
    assert_eq!(app.delete(&format!("{list}/{}", sids[2])).await.status.as_u16(), 204);
    let next = send(&app, &ch, &[("Body", "after")]).await["index"].as_i64().unwrap();
    assert!(next > 2, "index {next} reused after delete");
    assert_eq!(indexes(app.get(&list).await.expect(200)["messages"].as_array().unwrap()), vec![0, next]);
}

#[actix_web::test]
async fn list_pages_in_both_orders_following_urls_verbatim() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    for i in 0..12 {
        send(&app, &ch, &[("Body", &format!("m{i}"))]).await;
    }
    let base = format!("/v1/Conversations/{ch}/Messages");

    let asc = walk_both_ways(&app, &format!("{base}?Order=asc&PageSize=5"), "asc").await;
    assert_eq!(asc, vec![vec![0, 1, 2, 3, 4], vec![5, 6, 7, 8, 9], vec![10, 11]]);

    let desc = walk_both_ways(&app, &format!("{base}?Order=desc&PageSize=5"), "desc").await;
    assert_eq!(desc, vec![vec![11, 10, 9, 8, 7], vec![6, 5, 4, 3, 2], vec![1, 0]]);

    // Pages that end exactly at the last message.
    let asc = walk_both_ways(&app, &format!("{base}?Order=asc&PageSize=4"), "asc").await;
    assert_eq!(asc.concat(), (0..12).collect::<Vec<i64>>());
    assert_eq!(asc.len(), 3);
    let desc = walk_both_ways(&app, &format!("{base}?Order=desc&PageSize=1"), "desc").await;
    assert_eq!(desc.concat(), (0..12).rev().collect::<Vec<i64>>());

    // Without Order: ascending.
    let all = app.get(&base).await.expect(200);
    assert_eq!(indexes(all["messages"].as_array().unwrap()), (0..12).collect::<Vec<i64>>());
    assert!(all["meta"]["next_page_url"].is_null());
    assert_eq!(all["meta"]["page_size"], 50);
    assert_eq!(app.get(&format!("{base}?PageSize=1000")).await.expect(200)["meta"]["page_size"], 100);
}

#[actix_web::test]
async fn list_order_must_be_asc_or_desc() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    send(&app, &ch, &[("Body", "x")]).await;
    for bad in ["sideways", "ascending", "DESCENDING"] {
        let body =
            app.get(&format!("/v1/Conversations/{ch}/Messages?Order={bad}")).await.expect_error(400, 20001);
        message_names(&body, "Order");
    }
}

#[actix_web::test]
async fn concurrent_sends_get_indexes_0_to_49_exactly_once() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let path = format!("/v1/Conversations/{ch}/Messages");
    let bodies: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
    let forms: Vec<[(&str, &str); 1]> = bodies.iter().map(|b| [("Body", b.as_str())]).collect();
    let sends = forms.iter().map(|form| app.post(&path, form));
    let results = join_all(sends).await;
    let mut got: Vec<i64> =
        results.into_iter().map(|res| res.expect(201)["index"].as_i64().expect("index")).collect();
    got.sort_unstable();
    assert_eq!(got, (0..50).collect::<Vec<i64>>(), "each index exactly once, none skipped");

    // The list agrees: 50 messages, in index order, each body once.
    let list = app.get(&format!("{path}?PageSize=100")).await.expect(200);
    let items = list["messages"].as_array().unwrap();
    assert_eq!(indexes(items), (0..50).collect::<Vec<i64>>());
    let mut listed: Vec<String> = items.iter().map(|m| text(&m["body"])).collect();
    listed.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(listed, want);
    // And the next message carries on from there.
    assert_eq!(send(&app, &ch, &[("Body", "after")]).await["index"], 50);
}

#[actix_web::test]
async fn concurrent_sends_over_http_get_distinct_increasing_indexes() {
    let server = TestServer::start().await;
    let client = server.client();
    let conv: Value = client
        .post(format!("{}/v1/Conversations", server.base))
        .send_form(&[("FriendlyName", "busy")])
        .await
        .expect("create conversation")
        .json()
        .await
        .expect("json");
    let ch = text(&conv["sid"]);
    let url = format!("{}/v1/Conversations/{ch}/Messages", server.base);
    let sends = (0..40).map(|i| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut res = client.post(&url).send_form(&[("Body", format!("m{i}"))]).await.expect("send");
            assert_eq!(res.status().as_u16(), 201);
            res.json::<Value>().await.expect("json")
        }
    });
    let sent = join_all(sends).await;
    let mut got: Vec<i64> = sent.iter().map(|m| m["index"].as_i64().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..40).collect::<Vec<i64>>());
    // Absolute URLs name the server they came from.
    for m in &sent {
        assert!(text(&m["url"]).starts_with(&format!("{}/v1/Conversations/{ch}/Messages/IM", server.base)));
    }

    // Walk the list over HTTP by next_page_url, newest first.
    let mut seen = Vec::new();
    let mut next = Some(format!("{url}?Order=desc&PageSize=7"));
    while let Some(u) = next {
        let page: Value = client.get(&u).send().await.expect("list").json().await.expect("json");
        seen.extend(indexes(page["messages"].as_array().unwrap()));
        next = page["meta"]["next_page_url"].as_str().map(str::to_owned);
        if let Some(n) = &next {
            assert!(n.starts_with(&server.base), "next_page_url {n} is not on {}", server.base);
        }
    }
    assert_eq!(seen, (0..40).rev().collect::<Vec<i64>>());
    server.stop().await;
}

#[actix_web::test]
async fn messages_in_another_accounts_conversation_are_not_found() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = conversation_sid(&app, &[("UniqueName", "mine")]).await;
    let m = send(&app, &ch, &[("Body", "secret")]).await;
    let sid = text(&m["sid"]);
    let other = app.create_account().await;

    for conv in [
        format!("/v1/Conversations/{ch}"),
        "/v1/Conversations/mine".to_string(),
        format!("/v1/Services/{service}/Conversations/{ch}"),
    ] {
        let list = format!("{conv}/Messages");
        app.get_as(&other, &list).await.expect_error(404, 20404);
        app.post_as(&other, &list, &[("Body", "intruder")]).await.expect_error(404, 20404);
        let one = format!("{list}/{sid}");
        app.get_as(&other, &one).await.expect_error(404, 20404);
        app.post_as(&other, &one, &[("Body", "edited")]).await.expect_error(404, 20404);
        app.delete_as(&other, &one).await.expect_error(404, 20404);
    }

    // Untouched, and no index was consumed by the refused sends.
    assert_eq!(app.get(&format!("/v1/Conversations/{ch}/Messages/{sid}")).await.expect(200), m);
    assert_eq!(send(&app, &ch, &[("Body", "next")]).await["index"], 1);
    let list = app.get(&format!("/v1/Conversations/{ch}/Messages")).await.expect(200);
    assert_eq!(indexes(list["messages"].as_array().unwrap()), vec![0, 1]);
    assert_eq!(list["messages"][0], json!(m));
}

/// A closed conversation "can't be used for chatting anymore" (Twilio error
/// 50377; the SDKs: "any operations with closed conversation are not
/// permitted"). The exact code for a send is not documented, so this checks
/// for a client error that is not a 404, and that nothing was stored.
#[actix_web::test]
async fn closed_conversations_refuse_new_messages() {
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let last = send(&app, &ch, &[("Body", "last words")]).await;
    app.post(&format!("/v1/Conversations/{ch}"), &[("State", "closed")]).await.expect(200);

    let res = app.post(&format!("/v1/Conversations/{ch}/Messages"), &[("Body", "too late")]).await;
    let status = res.status.as_u16();
    assert!(
        (400..500).contains(&status) && status != 404,
        "a message to a closed conversation was answered {status}: {}",
        res.body
    );
    let conversation = app.get(&format!("/v1/Conversations/{ch}")).await.expect(200);
    assert_eq!(conversation["state"], "closed");
    let list = app.get(&format!("/v1/Conversations/{ch}/Messages")).await.expect(200);
    assert_eq!(list["messages"], json!([last]));
}

/// A user's send is checked (membership, `sendMessage`) before its write;
/// a participant that left in between takes nothing: not found, no index
/// spent, on both dialects' halves of `append`.
#[actix_web::test]
async fn a_send_checked_for_a_participant_that_has_left_appends_nothing() {
    use confab::testing::{Author, NewMessage, StoreError, message_store};
    let app = TestApp::new().await;
    let ch = conversation_sid(&app, &[]).await;
    let alice =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    app.delete(&format!("/v1/Conversations/{ch}/Participants/{}", text(&alice["sid"]))).await.expect(204);
    let service = app.default_service().await;
    let message = NewMessage {
        sid: confab::testing::SidKind::Message.generate(),
        account_sid: app.account.sid.clone(),
        service_sid: service,
        author: "alice".into(),
        body: Some("after leaving".into()),
        attributes: "{}".into(),
        content_sid: None,
        subject: None,
        date_created: 1,
        date_updated: 1,
    };
    let (conversation, left) = (ch.clone(), text(&alice["sid"]));
    let appended = app
        .state
        .db
        .write(
            |_| Ok::<_, StoreError>(()),
            move |tx, ()| message_store::append(tx, &conversation, message, Author::Participant(left), 1),
        )
        .await;
    assert!(matches!(appended, Err(StoreError::NotFound)), "{appended:?}");
    let list = app.get(&format!("/v1/Conversations/{ch}/Messages")).await.expect(200);
    assert_eq!(list["messages"], serde_json::json!([]));
    assert_eq!(send(&app, &ch, &[("Body", "next")]).await["index"], 0, "no index was spent");
}
