//! Users (`US…`) through /v2 and a user's Channels (UserChannels): the
//! shapes, identity aliases, 50200/50201, `joined_channels_count`, the
//! `channels` list key and its PageSize cap of 50, notification level and
//! read horizon, and leaving a channel by deleting the UserChannel.

use super::*;

fn identities_of(items: &[Value]) -> Vec<String> {
    items.iter().map(|u| text(&u["identity"])).collect()
}

fn channel_sids(items: &[Value]) -> Vec<String> {
    items.iter().map(|uc| text(&uc["channel_sid"])).collect()
}

#[actix_web::test]
async fn users_are_created_and_fetched_by_sid_or_identity() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let service = fetch_service(&app, &is).await;
    let attributes = "{\"team\": \"blue\"}";
    let u = app
        .post(
            &users_path(&is),
            &[("Identity", "alice"), ("FriendlyName", "Alice"), ("Attributes", attributes)],
        )
        .await
        .expect(201);
    assert_user(&u, &is);
    assert_eq!(u["account_sid"], app.account.sid.as_str());
    assert_eq!(u["identity"], "alice");
    assert_eq!(u["friendly_name"], "Alice");
    assert_eq!(u["attributes"], attributes);
    assert_eq!(u["role_sid"], service["default_service_role_sid"]);
    assert_eq!(u["joined_channels_count"], 0);
    let us = sid(&u);
    assert_eq!(app.get(&format!("{}/{us}", users_path(&is))).await.expect(200), u);
    assert_eq!(app.get(&format!("{}/alice", users_path(&is))).await.expect(200), u);
    // The same row in /v1.
    let v1 = app.get(&format!("/v1/Services/{is}/Users/{us}")).await.expect(200);
    assert_eq!(v1["identity"], "alice");
    assert_eq!(v1["friendly_name"], "Alice");

    // With a role of one's own.
    let role = create_role(&app, &is, "vip", "deployment", &["createChannel", "joinChannel"]).await;
    let v = app.post(&users_path(&is), &[("Identity", "vip"), ("RoleSid", &sid(&role))]).await.expect(201);
    assert_user(&v, &is);
    assert_eq!(v["role_sid"], role["sid"]);
    // Identities are case-sensitive.
    app.get(&format!("{}/ALICE", users_path(&is))).await.expect_error(404, 50200);
}

#[actix_web::test]
async fn identity_is_required_and_unique() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    for form in [vec![], vec![("FriendlyName", "nobody")], vec![("Identity", "")]] {
        let body = expect_status_error(app.post(&users_path(&is), &form).await, 400);
        assert!(message(&body).contains("Identity"), "{form:?}: {body}");
    }
    let first = app.post(&users_path(&is), &[("Identity", "alice")]).await.expect(201);
    let body = app.post(&users_path(&is), &[("Identity", "alice")]).await.expect_error(409, 50201);
    assert!(!message(&body).is_empty());
    let (items, _) = walk(&app, &users_path(&is), "users").await;
    assert_eq!(items, vec![first]);

    let unknown = format!("{}/nobody", users_path(&is));
    app.get(&unknown).await.expect_error(404, 50200);
    app.post(&unknown, &[("FriendlyName", "x")]).await.expect_error(404, 50200);
    app.delete(&unknown).await.expect_error(404, 50200);
    app.get(&format!("{}/US{}", users_path(&is), "0".repeat(32))).await.expect_error(404, 50200);
}

#[actix_web::test]
async fn users_are_updated_and_deleted() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let u = app.post(&users_path(&is), &[("Identity", "alice")]).await.expect(201);
    let role = create_role(&app, &is, "quiet", "deployment", &["joinChannel"]).await;
    let path = format!("{}/alice", users_path(&is));
    let updated = app
        .post(&path, &[("FriendlyName", "Alice A."), ("Attributes", "{\"x\":1}"), ("RoleSid", &sid(&role))])
        .await
        .expect(200);
    assert_user(&updated, &is);
    assert_eq!(updated["sid"], u["sid"]);
    assert_eq!(updated["friendly_name"], "Alice A.");
    assert_eq!(updated["attributes"], "{\"x\":1}");
    assert_eq!(updated["role_sid"], role["sid"]);
    assert_eq!(updated["date_created"], u["date_created"]);
    assert_eq!(app.get(&format!("{}/{}", users_path(&is), sid(&u))).await.expect(200), updated, "stored");
    // A channel role is no user role.
    let channel_user = sid(&roles_by_name(&app, &is).await["channel user"]);
    expect_status_error(app.post(&path, &[("RoleSid", &channel_user)]).await, 400);

    let res = app.delete(&format!("{}/{}", users_path(&is), sid(&u))).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    app.get(&path).await.expect_error(404, 50200);
    let (items, _) = walk(&app, &users_path(&is), "users").await;
    assert!(items.is_empty(), "{items:?}");
}

#[actix_web::test]
async fn users_are_listed_over_pages() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let names = ["ann", "ben", "cat", "dan", "eve"];
    for name in names {
        app.post(&users_path(&is), &[("Identity", name)]).await.expect(201);
    }
    let (items, metas) = walk(&app, &format!("{}?PageSize=2", users_path(&is)), "users").await;
    assert_eq!(identities_of(&items), names);
    assert_eq!(metas.len(), 3);
    assert_eq!(metas[0]["page_size"], 2);
    for u in &items {
        assert_user(u, &is);
    }
    let body = app.get(&format!("{}?PageSize=1000", users_path(&is))).await.expect(200);
    assert_eq!(body["meta"]["page_size"], 100);
}

#[actix_web::test]
async fn a_users_channels_are_listed_under_channels() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let one = sid(&create_channel(&app, &is, &[("UniqueName", "one")]).await);
    let two = sid(&create_channel(&app, &is, &[("Type", "private")]).await);
    let three = sid(&create_channel(&app, &is, &[]).await);
    let m1 = add_member(&app, &is, &one, "alice").await;
    let m2 = add_member(&app, &is, &two, "alice").await;
    add_member(&app, &is, &three, "bob").await;
    let alice = app.get(&format!("{}/alice", users_path(&is))).await.expect(200);
    let us = sid(&alice);
    assert_eq!(alice["joined_channels_count"], 2);

    for user in [us.as_str(), "alice"] {
        let (items, metas) = walk(&app, &user_channels_path(&is, user), "channels").await;
        assert_eq!(metas.len(), 1);
        assert_eq!(channel_sids(&items), [one.as_str(), two.as_str()], "private ones too");
        for (uc, m) in items.iter().zip([&m1, &m2]) {
            assert_user_channel(uc, &is, &us, &text(&m["channel_sid"]));
            assert_eq!(uc["member_sid"], m["sid"]);
            assert_eq!(uc["status"], "joined");
            assert_eq!(uc["notification_level"], "default");
        }
    }

    // Paging: PageSize 1, then the cap of 50.
    let (items, metas) =
        walk(&app, &format!("{}?PageSize=1", user_channels_path(&is, "alice")), "channels").await;
    assert_eq!(channel_sids(&items), [one.as_str(), two.as_str()]);
    assert_eq!(metas.len(), 2);
    assert_eq!(metas[0]["key"], "channels");
    let body = app.get(&format!("{}?PageSize=1000", user_channels_path(&is, "alice"))).await.expect(200);
    assert_eq!(body["meta"]["page_size"], 50);

    // A user in nothing lists nothing.
    app.post(&users_path(&is), &[("Identity", "carol")]).await.expect(201);
    let (items, _) = walk(&app, &user_channels_path(&is, "carol"), "channels").await;
    assert!(items.is_empty());
}

#[actix_web::test]
async fn a_user_channel_is_fetched_updated_and_left() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    let other = sid(&create_channel(&app, &is, &[]).await);
    let m = add_member(&app, &is, &ch, "alice").await;
    add_member(&app, &is, &other, "alice").await;
    for body in ["one", "two", "three"] {
        send(&app, &is, &ch, &[("Body", body), ("From", "bob")]).await;
    }
    let us = sid(&app.get(&format!("{}/alice", users_path(&is))).await.expect(200));

    let by_sids = format!("{}/{ch}", user_channels_path(&is, &us));
    let by_names = format!("{}/room", user_channels_path(&is, "alice"));
    let uc = app.get(&by_sids).await.expect(200);
    assert_user_channel(&uc, &is, &us, &ch);
    assert_eq!(uc["member_sid"], m["sid"]);
    assert_eq!(app.get(&by_names).await.expect(200), uc);

    let muted = app.post(&by_names, &[("NotificationLevel", "muted")]).await.expect(200);
    assert_user_channel(&muted, &is, &us, &ch);
    assert_eq!(muted["notification_level"], "muted");
    assert_eq!(app.get(&by_sids).await.expect(200)["notification_level"], "muted");

    // Read up to index 0 of 0..=2: two unread; the member sees the same horizon.
    let read = app
        .post(
            &by_sids,
            &[("LastConsumedMessageIndex", "0"), ("LastConsumptionTimestamp", "2023-04-05T06:07:08Z")],
        )
        .await
        .expect(200);
    assert_eq!(read["last_consumed_message_index"], 0);
    assert_eq!(read["unread_messages_count"], 2);
    assert_eq!(read["notification_level"], "muted", "untouched fields stay");
    let member = app.get(&format!("{}/alice", members_path(&is, &ch))).await.expect(200);
    assert_eq!(member["last_consumed_message_index"], 0);
    assert_eq!(member["last_consumption_timestamp"], "2023-04-05T06:07:08Z");
    let all_read = app.post(&by_sids, &[("LastConsumedMessageIndex", "2")]).await.expect(200);
    assert_eq!(all_read["unread_messages_count"], 0);
    send(&app, &is, &ch, &[("Body", "four")]).await;
    assert_eq!(app.get(&by_sids).await.expect(200)["unread_messages_count"], 1);

    // Bad levels are refused.
    expect_status_error(app.post(&by_sids, &[("NotificationLevel", "loud")]).await, 400);

    // Deleting it leaves the channel.
    let res = app.delete(&by_names).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    app.get(&format!("{}/alice", members_path(&is, &ch))).await.expect_error(404, 50402);
    let (items, _) = walk(&app, &user_channels_path(&is, "alice"), "channels").await;
    assert_eq!(channel_sids(&items), [other.as_str()]);
    let alice = app.get(&format!("{}/alice", users_path(&is))).await.expect(200);
    assert_eq!(alice["joined_channels_count"], 1);
    assert_eq!(app.get(&channel_path(&is, &ch)).await.expect(200)["members_count"], 0);
}

/// A user's channels list the channels it is in, then those it is invited
/// to (`status: invited`, no member), across pages both ways; joining turns
/// an invite into a membership.
#[actix_web::test]
async fn a_users_channels_include_its_invites() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    app.post(&users_path(&is), &[("Identity", "alice")]).await.expect(201);
    let a = sid(&create_channel(&app, &is, &[("UniqueName", "a")]).await);
    let b = sid(&create_channel(&app, &is, &[("UniqueName", "b")]).await);
    let c = sid(&create_channel(&app, &is, &[("UniqueName", "c"), ("Type", "private")]).await);
    let d = sid(&create_channel(&app, &is, &[("UniqueName", "d"), ("Type", "private")]).await);
    add_member(&app, &is, &a, "alice").await;
    add_member(&app, &is, &b, "alice").await;
    for ch in [&c, &d] {
        app.post(&format!("{}/Invites", channel_path(&is, ch)), &[("Identity", "alice")]).await.expect(201);
    }

    let (items, metas) =
        walk(&app, &format!("{}?PageSize=1", user_channels_path(&is, "alice")), "channels").await;
    let channels: Vec<&str> = items.iter().map(|i| i["channel_sid"].as_str().unwrap_or_default()).collect();
    assert_eq!(channels, [a.as_str(), b.as_str(), c.as_str(), d.as_str()]);
    let statuses: Vec<&str> = items.iter().map(|i| i["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, ["joined", "joined", "invited", "invited"]);
    let invited = &items[2];
    assert!(invited["member_sid"].is_null(), "{invited}");
    assert!(invited["links"]["member"].is_null(), "{invited}");
    assert!(invited["unread_messages_count"].is_null(), "{invited}");
    assert_eq!(invited["links"]["channel"], format!("{HOST}/v2/Services/{is}/Channels/{c}").as_str());

    // Backwards from the last page, the same entries in reverse.
    let mut back = Vec::new();
    let mut prev = metas.last().and_then(|m| m["previous_page_url"].as_str()).map(TestApp::path_of);
    back.push(items[3]["channel_sid"].clone());
    while let Some(path) = prev {
        let page = app.get(&path).await.expect(200);
        back.extend(list(&page, "channels").iter().map(|i| i["channel_sid"].clone()));
        prev = page["meta"]["previous_page_url"].as_str().map(TestApp::path_of);
        assert!(back.len() < 10, "paging does not end");
    }
    let back: Vec<&str> = back.iter().map(|v| v.as_str().unwrap_or_default()).collect();
    assert_eq!(back, [d.as_str(), c.as_str(), b.as_str(), a.as_str()]);

    let one = app.get(&format!("{}/{c}", user_channels_path(&is, "alice"))).await.expect(200);
    assert_eq!(one["status"], "invited");
    app.get(&format!("{}/{c}", user_channels_path(&is, "bob"))).await.expect_error(404, 50200);
    add_member(&app, &is, &c, "alice").await;
    let joined = app.get(&format!("{}/{c}", user_channels_path(&is, "alice"))).await.expect(200);
    assert_eq!(joined["status"], "joined");
    let (items, _) = walk(&app, &user_channels_path(&is, "alice"), "channels").await;
    let statuses: Vec<&str> = items.iter().map(|i| i["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, ["joined", "joined", "joined", "invited"]);
}

/// Who uses a service is the backend's to know: an end user fetches a user
/// it knows by identity (as Twilio's SDKs can), through either API, but
/// cannot list them.
#[actix_web::test]
async fn end_users_fetch_users_by_identity_but_cannot_list_them() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    app.post(&users_path(&is), &[("Identity", "bob"), ("Attributes", r#"{"team":"ops"}"#)]).await.expect(201);
    let alice = app.user_token(&key, "alice").await;
    for path in [users_path(&is), format!("/v1/Services/{is}/Users"), "/v1/Users".to_owned()] {
        let refused = app.as_user(&alice, "GET", &path, &[]).await.expect_error(403, 20403);
        assert!(text(&refused["message"]).contains("account credentials"), "{refused}");
        app.get(&path).await.expect(200);
    }
    let bob = app.as_user(&alice, "GET", &format!("{}/bob", users_path(&is)), &[]).await.expect(200);
    assert_eq!(bob["identity"], "bob");
    let bob = app.as_user(&alice, "GET", "/v1/Users/bob", &[]).await.expect(200);
    assert_eq!(bob["attributes"], r#"{"team":"ops"}"#);
}
