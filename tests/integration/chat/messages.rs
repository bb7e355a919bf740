//! Messages (`IM…`) through /v2: `from`/`to`/`type`, the body default,
//! `was_edited`/`last_updated_by`, `Order`, paging, 50500, one media object
//! per message (and the compatibility message for bodiless media), the
//! channel's counts and `links.last_message`, and `sendMediaMessage` for
//! end users.

use super::*;

fn indexes(items: &[Value]) -> Vec<i64> {
    items.iter().map(|m| m["index"].as_i64().unwrap_or_else(|| panic!("no index: {m}"))).collect()
}

#[actix_web::test]
async fn a_message_has_from_to_type_and_the_chat_defaults() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let attributes = "{\"importance\": \"high\"}";
    let m = send(&app, &is, &ch, &[("Body", "hello"), ("From", "alice"), ("Attributes", attributes)]).await;
    assert_message(&m, &is, &ch);
    assert_eq!(m["account_sid"], app.account.sid.as_str());
    assert_eq!(m["body"], "hello");
    assert_eq!(m["from"], "alice");
    assert_eq!(m["to"], ch.as_str());
    assert_eq!(m["channel_sid"], ch.as_str());
    assert_eq!(m["type"], "text");
    assert!(m["media"].is_null(), "{m}");
    assert_eq!(m["was_edited"], false);
    assert!(m["last_updated_by"].is_null(), "no update yet: {m}");
    assert_eq!(m["index"], 0);
    assert_eq!(m["attributes"], attributes);
    assert_eq!(m["date_updated"], m["date_created"]);
    assert_eq!(app.get(&format!("{}/{}", messages_path(&is, &ch), sid(&m))).await.expect(200), m);

    // No From: the system. No Body, or an empty one: an empty string.
    let bare = send(&app, &is, &ch, &[]).await;
    assert_message(&bare, &is, &ch);
    assert_eq!(bare["from"], "system");
    assert_eq!(bare["body"], "");
    assert_eq!(bare["type"], "text");
    assert_eq!(bare["index"], 1);
    let empty = send(&app, &is, &ch, &[("Body", ""), ("From", "bob")]).await;
    assert_eq!(empty["body"], "");
    assert_eq!(empty["index"], 2);

    // Dates may be given.
    let dated = send(&app, &is, &ch, &[("Body", "old"), ("DateCreated", "2020-02-03T04:05:06Z")]).await;
    assert_eq!(dated["date_created"], "2020-02-03T04:05:06Z");
}

#[actix_web::test]
async fn messages_go_through_the_channels_unique_name() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    let m = send(&app, &is, "room", &[("Body", "by name")]).await;
    assert_message(&m, &is, &ch);
    assert_eq!(m["channel_sid"], ch.as_str());
    let im = sid(&m);
    assert_eq!(app.get(&format!("{}/{im}", messages_path(&is, "room"))).await.expect(200), m);
    let page = app.get(&format!("{}?Order=desc", messages_path(&is, "room"))).await.expect(200);
    assert_eq!(sids(list(&page, "messages")), [im.as_str()]);
    let edited = app.post(&format!("{}/{im}", messages_path(&is, "room")), &[("Body", "edited")]).await;
    assert_eq!(edited.expect(200)["body"], "edited");
    assert_eq!(app.delete(&format!("{}/{im}", messages_path(&is, "room"))).await.status, 204);
}

#[actix_web::test]
async fn updates_mark_body_edits_and_who_made_them() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let m = send(&app, &is, &ch, &[("Body", "first"), ("From", "alice")]).await;
    let path = format!("{}/{}", messages_path(&is, &ch), sid(&m));

    // Attributes only: updated, but the body was not edited.
    let a = app.post(&path, &[("Attributes", "{\"x\":1}")]).await.expect(200);
    assert_message(&a, &is, &ch);
    assert_eq!(a["attributes"], "{\"x\":1}");
    assert_eq!(a["body"], "first");
    assert_eq!(a["was_edited"], false);
    assert_eq!(a["last_updated_by"], "system", "the account, without LastUpdatedBy");

    // The body: edited, by whom the request says.
    let b = app.post(&path, &[("Body", "second"), ("LastUpdatedBy", "bob")]).await.expect(200);
    assert_eq!(b["body"], "second");
    assert_eq!(b["was_edited"], true);
    assert_eq!(b["last_updated_by"], "bob");
    assert_eq!(b["from"], "alice", "the author stays");
    assert_eq!(b["index"], 0);
    assert_eq!(b["date_created"], m["date_created"]);
    assert_eq!(app.get(&path).await.expect(200), b, "stored");

    // Later updates keep was_edited; From changes the author.
    let c = app.post(&path, &[("From", "carol")]).await.expect(200);
    assert_eq!(c["from"], "carol");
    assert_eq!(c["was_edited"], true);
    assert_eq!(c["last_updated_by"], "system");
    assert_eq!(c["body"], "second");

    // Another message is untouched.
    let other = send(&app, &is, &ch, &[("Body", "other")]).await;
    assert_eq!(other["was_edited"], false);
    assert!(other["last_updated_by"].is_null());
}

#[actix_web::test]
async fn messages_list_in_both_orders_over_pages() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    for i in 0..5 {
        send(&app, &is, &ch, &[("Body", &format!("m{i}"))]).await;
    }
    let base = messages_path(&is, &ch);

    let (items, metas) = walk(&app, &format!("{base}?PageSize=2"), "messages").await;
    assert_eq!(indexes(&items), [0, 1, 2, 3, 4], "ascending by default");
    assert_eq!(metas.len(), 3);
    for m in &items {
        assert_message(m, &is, &ch);
    }
    let (items, _) = walk(&app, &format!("{base}?Order=asc&PageSize=3"), "messages").await;
    assert_eq!(indexes(&items), [0, 1, 2, 3, 4]);
    let (items, metas) = walk(&app, &format!("{base}?Order=desc&PageSize=2"), "messages").await;
    assert_eq!(indexes(&items), [4, 3, 2, 1, 0]);
    assert_eq!(metas.len(), 3);
    for meta in &metas {
        if let Some(next) = meta["next_page_url"].as_str() {
            assert!(next.contains("Order=desc"), "the order is kept: {next}");
        }
    }
    assert_eq!(items[0]["body"], "m4");

    let body = app.get(&format!("{base}?PageSize=1000")).await.expect(200);
    assert_eq!(body["meta"]["page_size"], 100);
}

#[actix_web::test]
async fn deleted_and_unknown_messages_are_50500() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let m = send(&app, &is, &ch, &[("Body", "doomed")]).await;
    let keep = send(&app, &is, &ch, &[("Body", "keep")]).await;
    let path = format!("{}/{}", messages_path(&is, &ch), sid(&m));

    let res = app.delete(&path).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    app.get(&path).await.expect_error(404, 50500);
    app.post(&path, &[("Body", "back")]).await.expect_error(404, 50500);
    app.delete(&path).await.expect_error(404, 50500);
    let unknown = format!("{}/IM{}", messages_path(&is, &ch), "0".repeat(32));
    app.get(&unknown).await.expect_error(404, 50500);

    let (items, _) = walk(&app, &messages_path(&is, &ch), "messages").await;
    assert_eq!(items, vec![keep]);
    // A message is found through its own channel only.
    let other = sid(&create_channel(&app, &is, &[]).await);
    app.get(&format!("{}/{}", messages_path(&is, &other), sid(&items[0]))).await.expect_error(404, 50500);
}

#[actix_web::test]
async fn the_channel_counts_members_and_messages_and_links_the_last_message() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    add_member(&app, &is, &ch, "alice").await;
    add_member(&app, &is, &ch, "bob").await;
    let mut sent = Vec::new();
    for body in ["one", "two", "three"] {
        sent.push(send(&app, &is, &ch, &[("Body", body), ("From", "alice")]).await);
    }
    let last = &sent[2];
    let c = app.get(&channel_path(&is, &ch)).await.expect(200);
    assert_channel(&c, &is);
    assert_eq!(c["members_count"], 2);
    assert_eq!(c["messages_count"], 3);
    assert_eq!(c["links"]["last_message"], last["url"]);
    assert_eq!(
        c["links"]["last_message"],
        format!("{HOST}/v2/Services/{is}/Channels/{ch}/Messages/{}", sid(last))
    );
    // The list item says the same.
    let (items, _) = walk(&app, &channels_path(&is), "channels").await;
    assert_eq!(items, vec![c]);
    // A newer message moves the link.
    let newest = send(&app, &is, &ch, &[("Body", "four")]).await;
    let c = app.get(&channel_path(&is, &ch)).await.expect(200);
    assert_eq!(c["messages_count"], 4);
    assert_eq!(c["links"]["last_message"], newest["url"]);
}

#[actix_web::test]
async fn a_media_message_has_one_media_object() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let bytes = b"\x89PNG a picture of a cat";
    let media = upload(&app, &is, bytes, "image/png", "cat.png").await;
    let me = sid(&media);
    let m = send(&app, &is, &ch, &[("MediaSid", &me), ("Body", "look"), ("From", "alice")]).await;
    assert_message(&m, &is, &ch);
    assert_eq!(m["type"], "media");
    assert_eq!(
        m["media"],
        json!({"sid": me, "size": bytes.len(), "content_type": "image/png", "filename": "cat.png"})
    );
    assert_eq!(m["media"], chat_media(&media));
    assert_eq!(m["body"], "look");
    assert_eq!(m["from"], "alice");
    let fetched = app.get(&format!("{}/{}", messages_path(&is, &ch), sid(&m))).await.expect(200);
    assert_eq!(fetched, m);
    // The media is now the message's.
    let attached = media_json(&app, &is, &me).await;
    assert_eq!(attached["message_sid"], m["sid"]);
    assert_eq!(attached["channel_sid"], ch.as_str());

    // Text messages beside it stay text.
    let t = send(&app, &is, &ch, &[("Body", "plain")]).await;
    let (items, _) = walk(&app, &messages_path(&is, &ch), "messages").await;
    assert_eq!(items, vec![m, t]);
    assert_eq!(items[1]["type"], "text");
    assert!(items[1]["media"].is_null());
}

#[actix_web::test]
async fn a_bodiless_media_message_gets_the_compatibility_message() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let set = app.post(&service_path(&is), &[("Media.CompatibilityMessage", "This message has media")]).await;
    assert_eq!(set.expect(200)["media"]["compatibility_message"], "This message has media");
    let ch = sid(&create_channel(&app, &is, &[]).await);

    let media = upload(&app, &is, b"\x89PNG one", "image/png", "one.png").await;
    let m = send(&app, &is, &ch, &[("MediaSid", &sid(&media))]).await;
    assert_eq!(m["body"], "This message has media");
    assert_eq!(m["type"], "media");
    assert_eq!(m["media"], chat_media(&media));
    // /v1 reads the same body.
    let v1 = app.get(&format!("/v1/Services/{is}/Conversations/{ch}/Messages/{}", sid(&m))).await;
    assert_eq!(v1.expect(200)["body"], "This message has media");

    // A Body wins; text messages are not affected.
    let media = upload(&app, &is, b"\x89PNG two", "image/png", "two.png").await;
    let m = send(&app, &is, &ch, &[("MediaSid", &sid(&media)), ("Body", "caption")]).await;
    assert_eq!(m["body"], "caption");
    let t = send(&app, &is, &ch, &[]).await;
    assert_eq!(t["body"], "");
}

#[actix_web::test]
async fn media_sids_are_checked() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let a = sid(&upload(&app, &is, b"aaa", "image/png", "a.png").await);
    let b = sid(&upload(&app, &is, b"bbb", "image/png", "b.png").await);
    let messages = messages_path(&is, &ch);

    // Chat messages carry one media at most.
    let resp = app.post(&messages, &[("MediaSid", &a), ("MediaSid", &b), ("Body", "two")]).await;
    expect_status_error(resp, 400);
    // Unknown media.
    let unknown = format!("ME{}", "0".repeat(32));
    app.post(&messages, &[("MediaSid", &unknown)]).await.expect_error(400, 50510);
    app.post(&messages, &[("MediaSid", "MEnope"), ("Body", "x")]).await.expect_error(400, 50510);
    let (items, _) = walk(&app, &messages, "messages").await;
    assert!(items.is_empty(), "no message was created: {items:?}");
    assert!(media_json(&app, &is, &a).await["message_sid"].is_null());
    assert!(media_json(&app, &is, &b).await["message_sid"].is_null());

    // Each attaches once.
    send(&app, &is, &ch, &[("MediaSid", &a)]).await;
    app.post(&messages, &[("MediaSid", &a), ("Body", "again")]).await.expect_error(400, 50510);
    send(&app, &is, &ch, &[("MediaSid", &b)]).await;
    let (items, _) = walk(&app, &messages, "messages").await;
    assert_eq!(items.len(), 2);
}

#[actix_web::test]
async fn end_users_need_send_media_message_for_media() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let texter_role = create_role(&app, &is, "texter", "channel", &["sendMessage"]).await;
    app.post(&members_path(&is, &ch), &[("Identity", "texter"), ("RoleSid", &sid(&texter_role))])
        .await
        .expect(201);
    add_member(&app, &is, &ch, "bob").await;
    let messages = messages_path(&is, &ch);

    let texter = app.user_token(&key, "texter").await;
    let media = upload_as_user(&app, &texter, &is, b"\x89PNG texter's", "t.png").await;
    let resp = app.as_user(&texter, "POST", &messages, &[("MediaSid", &sid(&media))]).await;
    let body = resp.expect_error(403, 50107);
    assert!(message(&body).contains("sendMediaMessage"), "{body}");
    let resp = app.as_user(&texter, "POST", &messages, &[("MediaSid", &sid(&media)), ("Body", "look")]).await;
    resp.expect_error(403, 50107);
    let (items, _) = walk(&app, &messages, "messages").await;
    assert!(items.is_empty(), "{items:?}");
    assert!(media_json(&app, &is, &sid(&media)).await["message_sid"].is_null());
    // Text is fine for them, and the author is the token's identity.
    let t = app.as_user(&texter, "POST", &messages, &[("Body", "just text"), ("From", "mallory")]).await;
    let t = t.expect(201);
    assert_eq!(t["from"], "texter");

    // The default channel role holds sendMediaMessage.
    let bob = app.user_token(&key, "bob").await;
    let media = upload_as_user(&app, &bob, &is, b"\x89PNG bob's", "b.png").await;
    let m = app.as_user(&bob, "POST", &messages, &[("MediaSid", &sid(&media))]).await.expect(201);
    assert_message(&m, &is, &ch);
    assert_eq!(m["from"], "bob");
    assert_eq!(m["type"], "media");
    assert_eq!(m["media"]["sid"], media["sid"]);
    // An end user's edit is theirs.
    let path = format!("{messages}/{}", sid(&m));
    let edited = app.as_user(&bob, "POST", &path, &[("Body", "my cat")]).await.expect(200);
    assert_eq!(edited["body"], "my cat");
    assert_eq!(edited["was_edited"], true);
    assert_eq!(edited["last_updated_by"], "bob");
}
