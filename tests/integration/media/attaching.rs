//! Attaching.

use super::*;

#[track_caller]
fn check_message_media(msg: &Value, media: &[&Value]) {
    let list = msg["media"].as_array().unwrap_or_else(|| panic!("no media array: {msg}"));
    assert_eq!(list.len(), media.len(), "{msg}");
    for (entry, m) in list.iter().zip(media) {
        assert_keys(entry, &["sid", "size", "content_type", "filename", "category"]);
        for key in ["sid", "size", "content_type", "filename", "category"] {
            assert_eq!(entry[key], m[key], "{key} of {entry}");
        }
    }
}

#[actix_web::test]
async fn media_attaches_on_both_path_families() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);

    // Account family.
    let a = upload(&app, &service, &random_bytes(1234, 81), Some("image/png"), Some("a.png")).await;
    let msg =
        send_media(&app, &messages_path(&ch), &[&text(&a["sid"])], &[("Author", "alice")]).await.expect(201);
    check_message_media(&msg, &[&a]);
    assert!(msg["body"].is_null(), "{msg}");
    let fetched = app.get(&format!("{}/{}", messages_path(&ch), text(&msg["sid"]))).await.expect(200);
    check_message_media(&fetched, &[&a]);
    let m = media_json(&app, &service, &text(&a["sid"])).await.expect(200);
    assert_eq!(m["message_sid"], msg["sid"]);
    assert_eq!(m["channel_sid"], ch.as_str());
    // Attached media still downloads, both ways.
    assert_download(content_basic(&app, &m, &[]).await, &random_bytes(1234, 81), "attached, Basic");
    assert_download(content_temp(&app, &m, &[]).await, &random_bytes(1234, 81), "attached, temporary");

    // Service family, default service.
    let b = upload(&app, &service, &random_bytes(99, 82), Some("application/pdf"), Some("b.pdf")).await;
    let service_messages = format!("/v1/Services/{service}/Conversations/{ch}/Messages");
    let msg = send_media(&app, &service_messages, &[&text(&b["sid"])], &[("Body", "see attached")])
        .await
        .expect(201);
    check_message_media(&msg, &[&b]);
    assert_eq!(msg["body"], "see attached");
    let m = media_json(&app, &service, &text(&b["sid"])).await.expect(200);
    assert_eq!(m["message_sid"], msg["sid"]);
    assert_eq!(m["channel_sid"], ch.as_str());

    // Another service of the account, through its own family.
    let other = new_service(&app, "second").await;
    let ch2 = text(&app.post(&format!("/v1/Services/{other}/Conversations"), &[]).await.expect(201)["sid"]);
    let c = upload(&app, &other, &random_bytes(10, 83), Some("text/plain"), Some("c.txt")).await;
    check_media(&c, &app.account.sid, &other, 10, "text/plain", Some("c.txt"), "http://localhost");
    let msg = send_media(
        &app,
        &format!("/v1/Services/{other}/Conversations/{ch2}/Messages"),
        &[&text(&c["sid"])],
        &[],
    )
    .await
    .expect(201);
    check_message_media(&msg, &[&c]);
    let m = media_json(&app, &other, &text(&c["sid"])).await.expect(200);
    assert_eq!(m["message_sid"], msg["sid"]);
    assert_eq!(m["channel_sid"], ch2.as_str());
    // Media is looked up per service.
    media_json(&app, &service, &text(&c["sid"])).await.expect_error(404, 20404);

    // Messages without media keep `media: null`; the list shows the arrays.
    let plain = app.post(&messages_path(&ch), &[("Body", "no media")]).await.expect(201);
    assert!(plain["media"].is_null());
    let list = app.get(&messages_path(&ch)).await.expect(200)["messages"].clone();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    check_message_media(&list[0], &[&a]);
    check_message_media(&list[1], &[&b]);
    assert!(list[2]["media"].is_null());
}

#[actix_web::test]
async fn several_media_attach_in_order() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let mut uploaded = Vec::new();
    let types = ["image/png", "application/pdf", "video/mp4", "text/plain"];
    for (i, ct) in types.iter().enumerate() {
        let name = format!("f{i}");
        uploaded.push(
            upload(&app, &service, &random_bytes(100 * (i + 1), 90 + i as u64), Some(ct), Some(&name)).await,
        );
    }
    // Not in upload order: the order of the MediaSid parameters counts.
    let order = [2usize, 0, 3, 1];
    let sids: Vec<String> = order.iter().map(|&i| text(&uploaded[i]["sid"])).collect();
    let sid_refs: Vec<&str> = sids.iter().map(String::as_str).collect();
    let msg = send_media(&app, &messages_path(&ch), &sid_refs, &[]).await.expect(201);
    let want: Vec<&Value> = order.iter().map(|&i| &uploaded[i]).collect();
    check_message_media(&msg, &want);
    let fetched = app.get(&format!("{}/{}", messages_path(&ch), text(&msg["sid"]))).await.expect(200);
    check_message_media(&fetched, &want);
    for m in &uploaded {
        let m = media_json(&app, &service, &text(&m["sid"])).await.expect(200);
        assert_eq!(m["message_sid"], msg["sid"]);
        assert_eq!(m["channel_sid"], ch.as_str());
    }
}

#[actix_web::test]
async fn attaching_refuses_bad_media_sids() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let messages = messages_path(&ch);
    let a = text(&upload(&app, &service, b"aaa", None, None).await["sid"]);
    let first = send_media(&app, &messages, &[&a], &[]).await.expect(201);

    // Already attached.
    let body = send_media(&app, &messages, &[&a], &[("Body", "again")]).await.expect_error(400, 50510);
    assert!(text(&body["message"]).contains(&a), "{body}");
    // Empty.
    send_media(&app, &messages, &[""], &[("Body", "x")]).await.expect_error(400, 50506);
    // Malformed, or another kind of SID.
    for bad in ["ME123", "not-a-sid", &format!("IM{}", "a".repeat(32)), &format!("ME{}", "z".repeat(32))] {
        send_media(&app, &messages, &[bad], &[("Body", "x")]).await.expect_error(400, 50510);
    }
    // Well-formed but unknown.
    let unknown = SidKind::Media.generate();
    let body = send_media(&app, &messages, &[&unknown], &[]).await.expect_error(400, 50510);
    assert!(text(&body["message"]).contains("no media with that SID exists"), "{body}");
    // Media of another service of the same account.
    let other = new_service(&app, "other").await;
    let theirs = text(&upload(&app, &other, b"other service", None, None).await["sid"]);
    send_media(&app, &messages, &[&theirs], &[]).await.expect_error(400, 50510);
    assert!(media_json(&app, &other, &theirs).await.expect(200)["message_sid"].is_null());
    // The same SID twice in one message.
    let b = text(&upload(&app, &service, b"bbb", None, None).await["sid"]);
    let res = send_media(&app, &messages, &[&b, &b], &[]).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    // One good and one bad: nothing attached, no message.
    send_media(&app, &messages, &[&b, &unknown], &[]).await.expect_error(400, 50510);
    send_media(&app, &messages, &[&b, &a], &[]).await.expect_error(400, 50510);
    assert_eq!(media_row(&app.state, &b).await.unwrap().state.as_str(), "ready");
    assert_eq!(message_count(&app, &messages).await, 1, "only the first message exists");
    let m = media_json(&app, &service, &a).await.expect(200);
    assert_eq!(m["message_sid"], first["sid"]);
    // A message refused for another reason leaves its media free too.
    let closed = text(&app.conversation(&[]).await["sid"]);
    app.post(&format!("/v1/Conversations/{closed}"), &[("State", "closed")]).await.expect(200);
    let res = send_media(&app, &messages_path(&closed), &[&b], &[]).await;
    assert!(res.status.is_client_error(), "a message in a closed conversation: {}", res.status);
    assert_eq!(media_row(&app.state, &b).await.unwrap().state.as_str(), "ready");
    // And b is still free to attach.
    send_media(&app, &messages, &[&b], &[]).await.expect(201);
}

#[actix_web::test]
async fn another_accounts_media_is_invisible() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let other = app.create_account().await;
    let their_service =
        text(&app.get_as(&other, "/v1/Configuration").await.expect(200)["default_chat_service_sid"]);
    let data = random_bytes(5000, 101);
    let theirs =
        upload_raw_as(&app, &other.basic(), &their_service, &data, Some("image/png"), None).await.expect(201);
    let sid = text(&theirs["sid"]);

    // Not attachable here …
    send_media(&app, &messages_path(&ch), &[&sid], &[]).await.expect_error(400, 50510);
    assert_eq!(message_count(&app, &messages_path(&ch)).await, 0);
    // … and neither its metadata nor its content can be read, on either service path.
    for svc in [&their_service, &service] {
        media_json(&app, svc, &sid).await.expect_error(404, 20404);
        let path = format!("/v1/Services/{svc}/Media/{sid}/Content");
        let (res, _) = get_content(&app, &path, Some(&app.account.basic()), &[]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!res.raw.windows(32).any(|w| w == &data[..32]));
    }
    let set =
        media_set(&app, &service, &json!({"command": "get", "list": [{"media_sid": sid}]})).await.expect(200);
    assert_eq!(set[0]["code"], 404);
    let res = media_set(&app, &their_service, &json!({"command": "get", "list": [{"media_sid": sid}]})).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "MediaSet of another account's service: {}", res.body);
    // Uploading into their service is refused too.
    upload_raw_as(&app, &app.account.basic(), &their_service, b"x", None, None)
        .await
        .expect_error(404, 20404);
    // Their media is untouched and still theirs.
    let m = app.get_as(&other, &format!("/v1/Services/{their_service}/Media/{sid}")).await.expect(200);
    assert!(m["message_sid"].is_null());
    assert_download(content_temp(&app, &m, &[]).await, &data, "their media, their URL");
}

#[actix_web::test]
async fn racing_messages_for_one_media_exactly_one_wins() {
    let server = TestServer::start().await;
    let client = server.client();
    let service = server_service(&server).await;
    let conv: Value = client
        .post(format!("{}/v1/Conversations", server.base))
        .send_form(&[("FriendlyName", "race")])
        .await
        .expect("conversation")
        .json()
        .await
        .expect("json");
    let ch = text(&conv["sid"]);
    let messages = format!("{}/v1/Conversations/{ch}/Messages", server.base);
    let rounds = 6;
    for round in 0..rounds {
        let mut res = client
            .post(format!("{}/v1/Services/{service}/Media", server.base))
            .send_body(random_bytes(1000, 110 + round))
            .await
            .expect("upload");
        assert_eq!(res.status().as_u16(), 201);
        let sid = text(&res.json::<Value>().await.expect("json")["sid"]);
        let racers = (0..4).map(|i| {
            let (client, url, sid) = (client.clone(), messages.clone(), sid.clone());
            async move {
                let body = format!("racer {i}");
                let mut res = client
                    .post(&url)
                    .send_form(&[("MediaSid", sid.as_str()), ("Body", body.as_str())])
                    .await
                    .expect("send");
                (res.status().as_u16(), res.json::<Value>().await.expect("json"))
            }
        });
        let results = join_all(racers).await;
        let winners: Vec<&Value> = results.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*status, 400, "{body}");
            assert_eq!(body["code"], 50510, "{body}");
        }
        let row = media_row(&server.state, &sid).await.unwrap();
        assert_eq!(row.message_sid.as_deref(), winners[0]["sid"].as_str());
    }
    let list: Value = client.get(&messages).send().await.expect("list").json().await.expect("json");
    assert_eq!(list["messages"].as_array().unwrap().len(), rounds as usize, "losers leave no message");
    server.stop().await;
}

#[actix_web::test]
async fn media_only_messages_get_the_compatibility_message() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let messages = messages_path(&ch);
    let config = format!("/v1/Services/{service}/Configuration");

    let sid = text(&upload(&app, &service, b"1", None, None).await["sid"]);
    let msg = send_media(&app, &messages, &[&sid], &[]).await.expect(201);
    assert!(msg["body"].is_null(), "no placeholder configured: {msg}");

    let set = app.post(&config, &[("MediaCompatibilityMessage", "This message has media")]).await.expect(200);
    assert_eq!(set["media_compatibility_message"], "This message has media");
    assert_eq!(app.get(&config).await.expect(200)["media_compatibility_message"], "This message has media");
    let sid = text(&upload(&app, &service, b"2", None, None).await["sid"]);
    let msg = send_media(&app, &messages, &[&sid], &[]).await.expect(201);
    assert_eq!(msg["body"], "This message has media");
    let fetched = app.get(&format!("{messages}/{}", text(&msg["sid"]))).await.expect(200);
    assert_eq!(fetched["body"], "This message has media");
    // An explicit Body wins.
    let sid = text(&upload(&app, &service, b"3", None, None).await["sid"]);
    let msg = send_media(&app, &messages, &[&sid], &[("Body", "look")]).await.expect(201);
    assert_eq!(msg["body"], "look");
    // Messages without media are not affected.
    let msg = app.post(&messages, &[("Body", "text only")]).await.expect(201);
    assert_eq!(msg["body"], "text only");

    // The setting is per service.
    let other = new_service(&app, "plain").await;
    let ch2 = text(&app.post(&format!("/v1/Services/{other}/Conversations"), &[]).await.expect(201)["sid"]);
    let sid = text(&upload(&app, &other, b"4", None, None).await["sid"]);
    let msg = send_media(&app, &format!("/v1/Services/{other}/Conversations/{ch2}/Messages"), &[&sid], &[])
        .await
        .expect(201);
    assert!(msg["body"].is_null(), "{msg}");

    // Cleared, media-only bodies are null again.
    app.post(&config, &[("MediaCompatibilityMessage", "")]).await.expect(200);
    let sid = text(&upload(&app, &service, b"5", None, None).await["sid"]);
    let msg = send_media(&app, &messages, &[&sid], &[]).await.expect(201);
    assert!(msg["body"].is_null(), "{msg}");
}

#[actix_web::test]
async fn message_updates_cannot_change_media() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let a = upload(&app, &service, b"first", Some("image/png"), Some("a.png")).await;
    let b = upload(&app, &service, b"second", Some("image/png"), Some("b.png")).await;
    let msg = send_media(&app, &messages_path(&ch), &[&text(&a["sid"])], &[]).await.expect(201);
    let path = format!("{}/{}", messages_path(&ch), text(&msg["sid"]));

    let res = app.post(&path, &[("MediaSid", &text(&b["sid"])), ("Body", "edited")]).await;
    assert!(res.status == StatusCode::OK || res.status == StatusCode::BAD_REQUEST, "{}", res.body);
    let after = app.get(&path).await.expect(200);
    check_message_media(&after, &[&a]);
    assert!(media_json(&app, &service, &text(&b["sid"])).await.expect(200)["message_sid"].is_null());
    // A plain edit keeps the media.
    let edited = app.post(&path, &[("Body", "caption")]).await.expect(200);
    assert_eq!(edited["body"], "caption");
    check_message_media(&edited, &[&a]);
    let m = media_json(&app, &service, &text(&a["sid"])).await.expect(200);
    assert_eq!(m["message_sid"], msg["sid"]);
}

#[actix_web::test]
async fn media_content_cannot_be_changed() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let data = random_bytes(2000, 121);
    let m = upload(&app, &service, &data, Some("image/png"), None).await;
    let url = text(&m["url"]);
    let content = text(&m["links"]["content"]);
    for (method, path) in [("POST", &url), ("POST", &content), ("PUT", &url), ("PUT", &content)] {
        let req = match method {
            "POST" => test::TestRequest::post(),
            _ => test::TestRequest::put(),
        }
        .uri(path)
        .insert_header(("Authorization", app.account.basic()))
        .insert_header(("Content-Type", "image/png"))
        .set_payload(random_bytes(2000, 122));
        let res = call(&app, req).await;
        assert!(
            res.status == StatusCode::NOT_FOUND || res.status == StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            res.status
        );
    }
    assert_download(content_basic(&app, &m, &[]).await, &data, "content after refused changes");
    let after = media_json(&app, &service, &text(&m["sid"])).await.expect(200);
    assert_eq!(without_temporary(&after), without_temporary(&m));
    assert_eq!(media_rows(&app.state).await, 1);
}

/// A message with media records one `messageAdded`, once its media is on
/// it, on both dialects (PostgreSQL leaves the event to the media step).
#[actix_web::test]
async fn a_media_message_records_its_event_with_the_media() {
    use confab::testing::EventKind;
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let a = upload(&app, &service, &random_bytes(300, 5), Some("image/png"), Some("a.png")).await;
    let b = upload(&app, &service, &random_bytes(400, 6), Some("video/mp4"), Some("b.mp4")).await;
    let msg =
        send_media(&app, &messages_path(&ch), &[&text(&a["sid"]), &text(&b["sid"])], &[]).await.expect(201);
    let log = crate::events::events(&app).await;
    let added: Vec<_> = log.iter().filter(|e| e.kind == EventKind::MessageAdded).collect();
    assert_eq!(added.len(), 1, "{log:?}");
    assert_eq!(added[0].resource_sid, text(&msg["sid"]));
    let row: Value = serde_json::from_str(&added[0].data).unwrap();
    let media: Value = serde_json::from_str(row["media"].as_str().expect("media on the row")).unwrap();
    let sids: Vec<&str> = media.as_array().unwrap().iter().map(|m| m["sid"].as_str().unwrap()).collect();
    assert_eq!(sids, [text(&a["sid"]), text(&b["sid"])]);
}
