//! Channels (`CH…`) through /v2: create (public by default), fetch by SID
//! or unique name, update, the public-only default list and the `Type`
//! filter, paging, delete, 50300 and 50307, and what end users see.

use super::*;

/// (what, path, form) of a request a test sends.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

#[actix_web::test]
async fn create_with_every_parameter_echoes_each_field() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let attributes = "{ \"topic\": \"rust\",\n  \"tags\": [1, 2] }";
    let c = create_channel(
        &app,
        &is,
        &[
            ("FriendlyName", "General"),
            ("UniqueName", "general"),
            ("Attributes", attributes),
            ("CreatedBy", "alice"),
            ("DateCreated", "2020-01-02T03:04:05Z"),
            ("DateUpdated", "2020-01-02T03:04:06Z"),
        ],
    )
    .await;
    assert_channel(&c, &is);
    assert_eq!(c["account_sid"], app.account.sid.as_str());
    assert_eq!(c["friendly_name"], "General");
    assert_eq!(c["unique_name"], "general");
    assert_eq!(c["attributes"], attributes);
    assert_eq!(c["type"], "public");
    assert_eq!(c["created_by"], "alice");
    assert_eq!(c["date_created"], "2020-01-02T03:04:05Z");
    assert_eq!(c["date_updated"], "2020-01-02T03:04:06Z");
    assert_eq!(c["members_count"], 0);
    assert_eq!(c["messages_count"], 0);
    assert!(c["links"]["last_message"].is_null(), "{c}");
    assert_eq!(app.get(&channel_path(&is, &sid(&c))).await.expect(200), c);
}

#[actix_web::test]
async fn create_without_parameters_is_a_public_channel_by_system() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let c = create_channel(&app, &is, &[]).await;
    assert_channel(&c, &is);
    assert_eq!(c["type"], "public");
    assert_eq!(c["created_by"], "system");
    assert!(c["friendly_name"].is_null(), "{c}");
    assert!(c["unique_name"].is_null(), "{c}");
    assert_eq!(c["members_count"], 0);
    assert_eq!(c["messages_count"], 0);
    assert!(c["links"]["last_message"].is_null(), "{c}");
    assert_eq!(c["date_updated"], c["date_created"]);

    let private = create_channel(&app, &is, &[("Type", "private"), ("FriendlyName", "secret")]).await;
    assert_channel(&private, &is);
    assert_eq!(private["type"], "private");
    assert_eq!(app.get(&channel_path(&is, &sid(&private))).await.expect(200)["type"], "private");
}

#[actix_web::test]
async fn channels_are_fetched_by_sid_or_unique_name() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let c = create_channel(&app, &is, &[("UniqueName", "lobby"), ("FriendlyName", "Lobby")]).await;
    let ch = sid(&c);
    let by_sid = app.get(&channel_path(&is, &ch)).await.expect(200);
    let by_name = app.get(&channel_path(&is, "lobby")).await.expect(200);
    assert_eq!(by_sid, c);
    assert_eq!(by_name, c);
    assert_eq!(by_name["url"], format!("{HOST}/v2/Services/{is}/Channels/{ch}"), "URLs use the SID");

    // Unknown channels, by name or SID: 50300 naming the path without /v2.
    channel_not_found(app.get(&channel_path(&is, "nope")).await, &is, "nope");
    let unknown = format!("CH{}", "0".repeat(32));
    channel_not_found(app.get(&channel_path(&is, &unknown)).await, &is, &unknown);
    channel_not_found(app.post(&channel_path(&is, "nope"), &[("FriendlyName", "x")]).await, &is, "nope");
    channel_not_found(app.delete(&channel_path(&is, "nope")).await, &is, "nope");
    // Unique names are case-sensitive.
    channel_not_found(app.get(&channel_path(&is, "LOBBY")).await, &is, "LOBBY");
}

#[actix_web::test]
async fn update_changes_names_and_attributes_by_sid_or_unique_name() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let c = create_channel(&app, &is, &[("UniqueName", "old"), ("FriendlyName", "Old")]).await;
    let ch = sid(&c);

    let renamed = app.post(&channel_path(&is, &ch), &[("FriendlyName", "New")]).await.expect(200);
    assert_channel(&renamed, &is);
    assert_eq!(renamed["friendly_name"], "New");
    assert_eq!(renamed["unique_name"], "old");
    assert_eq!(renamed["type"], "public");
    assert_eq!(renamed["date_created"], c["date_created"]);

    let attributes = "{\"pinned\":true}";
    let by_name = app
        .post(&channel_path(&is, "old"), &[("UniqueName", "new"), ("Attributes", attributes)])
        .await
        .expect(200);
    assert_eq!(by_name["sid"], ch.as_str());
    assert_eq!(by_name["unique_name"], "new");
    assert_eq!(by_name["attributes"], attributes);
    assert_eq!(by_name["friendly_name"], "New", "untouched fields stay");
    assert_eq!(app.get(&channel_path(&is, &ch)).await.expect(200), by_name, "stored");
    // The alias follows the unique name.
    app.get(&channel_path(&is, "new")).await.expect(200);
    channel_not_found(app.get(&channel_path(&is, "old")).await, &is, "old");

    // CreatedBy and the dates may be set by the account.
    let dated = app
        .post(&channel_path(&is, &ch), &[("CreatedBy", "bob"), ("DateUpdated", "2021-02-03T04:05:06Z")])
        .await
        .expect(200);
    assert_eq!(dated["created_by"], "bob");
    assert_eq!(dated["date_updated"], "2021-02-03T04:05:06Z");
}

#[actix_web::test]
async fn a_taken_unique_name_conflicts_with_50307() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    create_channel(&app, &is, &[("UniqueName", "dup")]).await;
    let other = create_channel(&app, &is, &[("UniqueName", "other")]).await;
    let body = app.post(&channels_path(&is), &[("UniqueName", "dup")]).await.expect_error(409, 50307);
    assert!(message(&body).contains("dup"), "{body}");
    app.post(&channel_path(&is, &sid(&other)), &[("UniqueName", "dup"), ("FriendlyName", "changed")])
        .await
        .expect_error(409, 50307);
    assert_eq!(app.get(&channel_path(&is, &sid(&other))).await.expect(200), other, "unchanged");
    // A conversation's unique name is a channel's too.
    app.post(&format!("/v1/Services/{is}/Conversations"), &[("UniqueName", "from-v1")]).await.expect(201);
    app.post(&channels_path(&is), &[("UniqueName", "from-v1")]).await.expect_error(409, 50307);
    let (all, _) = walk(&app, &format!("{}?Type=public&Type=private", channels_path(&is)), "channels").await;
    assert_eq!(all.len(), 3, "no channel was created: {all:?}");
}

#[actix_web::test]
async fn the_list_shows_public_channels_unless_type_says_otherwise() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let mut public = Vec::new();
    let mut private = Vec::new();
    let mut everything = Vec::new();
    for i in 0..3 {
        let p = sid(&create_channel(&app, &is, &[("FriendlyName", &format!("public {i}"))]).await);
        public.push(p.clone());
        everything.push(p);
        let q = sid(&create_channel(&app, &is, &[("Type", "private")]).await);
        private.push(q.clone());
        everything.push(q);
    }
    let base = channels_path(&is);

    let (items, metas) = walk(&app, &format!("{base}?PageSize=2"), "channels").await;
    assert_eq!(sids(&items), public, "public only, in creation order");
    assert_eq!(metas.len(), 2);
    assert_eq!(metas[0]["page_size"], 2);
    for c in &items {
        assert_channel(c, &is);
        assert_eq!(c["type"], "public");
    }

    let (items, metas) = walk(&app, &format!("{base}?Type=private&PageSize=2"), "channels").await;
    assert_eq!(sids(&items), private);
    for meta in &metas {
        assert!(text(&meta["url"]).contains("Type=private"), "filter echoed: {meta}");
        if let Some(next) = meta["next_page_url"].as_str() {
            assert!(next.contains("Type=private"), "filter kept: {next}");
        }
    }
    assert!(items.iter().all(|c| c["type"] == "private"), "{items:?}");

    let (items, metas) = walk(&app, &format!("{base}?Type=public&Type=private&PageSize=4"), "channels").await;
    assert_eq!(sids(&items), everything);
    assert_eq!(metas.len(), 2);
    let (items, _) = walk(&app, &format!("{base}?Type=public"), "channels").await;
    assert_eq!(sids(&items), public);

    // PageSize is capped at 100.
    let body = app.get(&format!("{base}?PageSize=1000")).await.expect(200);
    assert_eq!(body["meta"]["page_size"], 100);
}

#[actix_web::test]
async fn delete_removes_the_channel_its_members_and_messages() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let c = create_channel(&app, &is, &[("UniqueName", "doomed")]).await;
    let ch = sid(&c);
    let keep = sid(&create_channel(&app, &is, &[("UniqueName", "keep")]).await);
    add_member(&app, &is, &ch, "alice").await;
    add_member(&app, &is, &keep, "alice").await;
    send(&app, &is, &ch, &[("Body", "bye")]).await;

    let res = app.delete(&channel_path(&is, "doomed")).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    channel_not_found(app.get(&channel_path(&is, &ch)).await, &is, &ch);
    channel_not_found(app.get(&members_path(&is, &ch)).await, &is, &ch);
    channel_not_found(app.get(&messages_path(&is, &ch)).await, &is, &ch);
    channel_not_found(app.delete(&channel_path(&is, &ch)).await, &is, &ch);
    channel_not_found(app.get(&channel_path(&is, "doomed")).await, &is, "doomed");
    app.get(&format!("/v1/Services/{is}/Conversations/{ch}")).await.expect_error(404, 20404);

    // The other channel, and alice, stay.
    let (items, _) = walk(&app, &channels_path(&is), "channels").await;
    assert_eq!(sids(&items), vec![keep.clone()]);
    let alice = app.get(&format!("{}/alice", users_path(&is))).await.expect(200);
    assert_eq!(alice["joined_channels_count"], 1);
    let (members, _) = walk(&app, &members_path(&is, &keep), "members").await;
    assert_eq!(members.len(), 1);
}

#[actix_web::test]
async fn end_users_see_only_private_channels_they_are_members_of() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let mine = sid(&create_channel(&app, &is, &[("UniqueName", "mine")]).await);
    // Private: a public one anyone may find (below).
    let theirs = sid(&create_channel(&app, &is, &[("UniqueName", "theirs"), ("Type", "private")]).await);
    add_member(&app, &is, &mine, "alice").await;
    add_member(&app, &is, &theirs, "bob").await;
    let im = sid(&send(&app, &is, &theirs, &[("From", "bob"), ("Body", "private")]).await);
    let alice = app.user_token(&key, "alice").await;

    let got = app.as_user(&alice, "GET", &channel_path(&is, &mine), &[]).await.expect(200);
    assert_channel(&got, &is);
    let page = app.as_user(&alice, "GET", &channels_path(&is), &[]).await.expect(200);
    assert_eq!(sids(list(&page, "channels")), [mine.as_str()], "{page}");

    let before = app.get(&channel_path(&is, &theirs)).await.expect(200);
    let cases: Vec<Case> = vec![
        ("GET", channel_path(&is, &theirs), vec![]),
        ("POST", channel_path(&is, &theirs), vec![("FriendlyName", "mine now")]),
        ("DELETE", channel_path(&is, &theirs), vec![]),
        ("GET", members_path(&is, &theirs), vec![]),
        ("POST", members_path(&is, &theirs), vec![("Identity", "carol")]),
        ("GET", messages_path(&is, &theirs), vec![]),
        ("GET", format!("{}/{im}", messages_path(&is, &theirs)), vec![]),
        ("POST", messages_path(&is, &theirs), vec![("Body", "let me in")]),
    ];
    for (method, path, form) in &cases {
        let resp = app.as_user(&alice, method, path, form).await;
        assert_eq!(resp.status, 404, "{method} {path}: {}", resp.body);
        channel_not_found(resp, &is, &theirs);
    }
    // By unique name too, and the message names what was asked for.
    channel_not_found(app.as_user(&alice, "GET", &channel_path(&is, "theirs"), &[]).await, &is, "theirs");
    assert_eq!(app.get(&channel_path(&is, &theirs)).await.expect(200), before, "nothing changed");
    let (messages, _) = walk(&app, &messages_path(&is, &theirs), "messages").await;
    assert_eq!(messages.len(), 1);
}

#[actix_web::test]
async fn a_channel_an_end_user_creates_is_created_by_them() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let alice = app.user_token(&key, "alice").await;
    let c = app
        .as_user(
            &alice,
            "POST",
            &channels_path(&is),
            &[("FriendlyName", "alice's"), ("UniqueName", "by-alice")],
        )
        .await
        .expect(201);
    assert_channel(&c, &is);
    assert_eq!(c["created_by"], "alice");
    assert_eq!(c["type"], "public");
    assert_eq!(app.get(&channel_path(&is, "by-alice")).await.expect(200)["created_by"], "alice");
}

/// Chat's public channels are there to be found: a user lists them (with
/// the private ones it is in), reads one before joining, and joins it; its
/// members and messages stay the members'.
#[actix_web::test]
async fn end_users_find_public_channels_and_join_them() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let lobby = sid(&create_channel(&app, &is, &[("UniqueName", "lobby")]).await);
    let secret = sid(&create_channel(&app, &is, &[("UniqueName", "secret"), ("Type", "private")]).await);
    let mine = sid(&create_channel(&app, &is, &[("UniqueName", "mine"), ("Type", "private")]).await);
    add_member(&app, &is, &lobby, "bob").await;
    add_member(&app, &is, &mine, "alice").await;
    send(&app, &is, &lobby, &[("From", "bob"), ("Body", "welcome")]).await;
    let alice = app.user_token(&key, "alice").await;

    let all =
        app.as_user(&alice, "GET", &format!("{}?Type=public&Type=private", channels_path(&is)), &[]).await;
    assert_eq!(
        sorted_strs(&sids(list(&all.expect(200), "channels")).iter().map(String::as_str).collect::<Vec<_>>()),
        sorted_strs(&[&lobby, &mine])
    );
    let public = app.as_user(&alice, "GET", &channels_path(&is), &[]).await.expect(200);
    assert_eq!(sids(list(&public, "channels")), [lobby.as_str()], "{public}");
    let private = app.as_user(&alice, "GET", &format!("{}?Type=private", channels_path(&is)), &[]).await;
    assert_eq!(sids(list(&private.expect(200), "channels")), [mine.as_str()]);

    let found = app.as_user(&alice, "GET", &channel_path(&is, "lobby"), &[]).await.expect(200);
    assert_channel(&found, &is);
    assert_eq!(found["members_count"], 1);
    assert_eq!(found["messages_count"], 1);
    channel_not_found(app.as_user(&alice, "GET", &channel_path(&is, &secret), &[]).await, &is, &secret);
    // Reading a public channel is not being in it.
    let resp = app.as_user(&alice, "GET", &messages_path(&is, &lobby), &[]).await;
    channel_not_found(resp, &is, &lobby);
    let resp = app.as_user(&alice, "POST", &channel_path(&is, &lobby), &[("FriendlyName", "mine now")]).await;
    assert_eq!(resp.status, 404, "{}", resp.body);

    app.as_user(&alice, "POST", &members_path(&is, &lobby), &[("Identity", "alice")]).await.expect(201);
    let (messages, _) = walk(&app, &messages_path(&is, &lobby), "messages").await;
    let read = app.as_user(&alice, "GET", &messages_path(&is, &lobby), &[]).await.expect(200);
    assert_eq!(list(&read, "messages").len(), messages.len());
}
