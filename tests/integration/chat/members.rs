//! Members (`MB…`) through /v2: create (Identity required, the User made
//! on the way, the default channel role), fetch/update/delete by SID or
//! identity and through the channel's unique name, the `Identity` filter,
//! paging, 50402/50404, and the member and user-channel limits.

use super::*;

fn identities_of(items: &[Value]) -> Vec<String> {
    items.iter().map(|m| text(&m["identity"])).collect()
}

#[actix_web::test]
async fn a_member_makes_its_user_and_takes_the_default_channel_role() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let service = fetch_service(&app, &is).await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    app.get(&format!("{}/alice", users_path(&is))).await.expect_error(404, 50200);

    let m = add_member(&app, &is, &ch, "alice").await;
    assert_member(&m, &is, &ch);
    assert_eq!(m["account_sid"], app.account.sid.as_str());
    assert_eq!(m["identity"], "alice");
    assert_eq!(m["role_sid"], service["default_channel_role_sid"]);
    assert!(m["last_consumed_message_index"].is_null(), "{m}");
    assert!(m["last_consumption_timestamp"].is_null(), "{m}");
    assert!(m.get("links").is_none(), "members have no links: {m}");

    let user = app.get(&format!("{}/alice", users_path(&is))).await.expect(200);
    assert_user(&user, &is);
    assert_eq!(user["identity"], "alice");
    assert_eq!(user["role_sid"], service["default_service_role_sid"]);
    assert_eq!(user["joined_channels_count"], 1);

    let c = app.get(&channel_path(&is, &ch)).await.expect(200);
    assert_eq!(c["members_count"], 1);

    // Through the unique name: the same channel, URLs by SID.
    let bob = app.post(&members_path(&is, "room"), &[("Identity", "bob")]).await.expect(201);
    assert_member(&bob, &is, &ch);
    assert_eq!(app.get(&channel_path(&is, &ch)).await.expect(200)["members_count"], 2);
    // The same rows as /v1 participants.
    let p = app.get(&format!("/v1/Services/{is}/Conversations/{ch}/Participants/{}", sid(&m))).await;
    assert_eq!(p.expect(200)["identity"], "alice");
}

#[actix_web::test]
async fn identity_is_required() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    for form in [vec![], vec![("Attributes", "{}")]] {
        let body = app.post(&members_path(&is, &ch), &form).await.expect_error(400, 20001);
        assert_eq!(message(&body), "Missing required parameter Identity in the post body", "{form:?}");
    }
    // An empty Identity is no identity either.
    let body = app.post(&members_path(&is, &ch), &[("Identity", "")]).await.expect_error(400, 20001);
    assert!(message(&body).contains("Identity"), "{body}");
    let (members, _) = walk(&app, &members_path(&is, &ch), "members").await;
    assert!(members.is_empty(), "{members:?}");
}

#[actix_web::test]
async fn create_takes_role_attributes_and_consumption() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let role = create_role(&app, &is, "speaker", "channel", &["sendMessage"]).await;
    let attributes = "{\"seat\": 12}";
    let m = app
        .post(
            &members_path(&is, &ch),
            &[
                ("Identity", "bob"),
                ("RoleSid", &sid(&role)),
                ("Attributes", attributes),
                ("LastConsumedMessageIndex", "3"),
                ("LastConsumptionTimestamp", "2021-05-06T07:08:09Z"),
                ("DateCreated", "2019-05-06T07:08:09Z"),
            ],
        )
        .await
        .expect(201);
    assert_member(&m, &is, &ch);
    assert_eq!(m["role_sid"], role["sid"]);
    assert_eq!(m["attributes"], attributes);
    assert_eq!(m["last_consumed_message_index"], 3);
    assert_eq!(m["last_consumption_timestamp"], "2021-05-06T07:08:09Z");
    assert_eq!(m["date_created"], "2019-05-06T07:08:09Z");

    // RoleSid must be a channel role of this service.
    let deployment = create_role(&app, &is, "staff", "deployment", &["joinChannel"]).await;
    let other = sid(&create_service(&app, "other").await);
    let elsewhere = sid(&roles_by_name(&app, &other).await["channel user"]);
    let unknown = format!("RL{}", "0".repeat(32));
    for (identity, bad) in [("carol", sid(&deployment)), ("dave", elsewhere), ("erin", unknown)] {
        let resp = app.post(&members_path(&is, &ch), &[("Identity", identity), ("RoleSid", &bad)]).await;
        let body = expect_status_error(resp, 400);
        assert!(message(&body).contains("RoleSid"), "{body}");
    }
    let (members, _) = walk(&app, &members_path(&is, &ch), "members").await;
    assert_eq!(members.len(), 1, "{members:?}");
}

#[actix_web::test]
async fn a_second_member_with_the_same_identity_conflicts() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    let first = add_member(&app, &is, &ch, "alice").await;
    app.post(&members_path(&is, &ch), &[("Identity", "alice")]).await.expect_error(409, 50404);
    app.post(&members_path(&is, "room"), &[("Identity", "alice")]).await.expect_error(409, 50404);
    let (members, _) = walk(&app, &members_path(&is, &ch), "members").await;
    assert_eq!(members, vec![first]);
    // The same identity in another channel is another member.
    let other = sid(&create_channel(&app, &is, &[]).await);
    add_member(&app, &is, &other, "alice").await;
}

#[actix_web::test]
async fn members_are_fetched_updated_and_deleted_by_sid_or_identity() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    let m = add_member(&app, &is, &ch, "alice").await;
    let mb = sid(&m);
    let by_sid = format!("{}/{mb}", members_path(&is, &ch));
    let by_identity = format!("{}/alice", members_path(&is, &ch));
    let by_names = format!("{}/alice", members_path(&is, "room"));
    for path in [&by_sid, &by_identity, &by_names] {
        assert_eq!(app.get(path).await.expect(200), m, "{path}");
    }

    let updated = app
        .post(
            &by_identity,
            &[
                ("LastConsumedMessageIndex", "1"),
                ("LastConsumptionTimestamp", "2022-01-02T03:04:05Z"),
                ("Attributes", "{\"away\":true}"),
            ],
        )
        .await
        .expect(200);
    assert_member(&updated, &is, &ch);
    assert_eq!(updated["sid"], mb.as_str());
    assert_eq!(updated["last_consumed_message_index"], 1);
    assert_eq!(updated["last_consumption_timestamp"], "2022-01-02T03:04:05Z");
    assert_eq!(updated["attributes"], "{\"away\":true}");
    assert_eq!(updated["role_sid"], m["role_sid"], "untouched");
    assert_eq!(app.get(&by_sid).await.expect(200), updated, "stored");
    // It is /v1's read horizon.
    let p = app.get(&format!("/v1/Services/{is}/Conversations/{ch}/Participants/{mb}")).await.expect(200);
    assert_eq!(p["last_read_message_index"], 1);
    assert_eq!(p["last_read_timestamp"], "2022-01-02T03:04:05Z");

    // A new role by SID.
    let role = create_role(&app, &is, "mod", "channel", &["sendMessage", "removeMember"]).await;
    let moved = app.post(&by_sid, &[("RoleSid", &sid(&role))]).await.expect(200);
    assert_eq!(moved["role_sid"], role["sid"]);

    // Another channel's member is not this channel's.
    let other = sid(&create_channel(&app, &is, &[]).await);
    app.get(&format!("{}/{mb}", members_path(&is, &other))).await.expect_error(404, 50402);
    app.get(&format!("{}/alice", members_path(&is, &other))).await.expect_error(404, 50402);

    let res = app.delete(&by_names).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    for path in [&by_sid, &by_identity] {
        app.get(path).await.expect_error(404, 50402);
        app.post(path, &[("Attributes", "{}")]).await.expect_error(404, 50402);
        app.delete(path).await.expect_error(404, 50402);
    }
    assert_eq!(app.get(&channel_path(&is, &ch)).await.expect(200)["members_count"], 0);
    // The user stays, in no channel.
    let user = app.get(&format!("{}/alice", users_path(&is))).await.expect(200);
    assert_eq!(user["joined_channels_count"], 0);
}

#[actix_web::test]
async fn members_are_listed_filtered_by_identity_and_paged() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    let identities = ["ann", "ben", "cat", "dan", "eve"];
    for identity in identities {
        add_member(&app, &is, &ch, identity).await;
    }

    let (items, metas) = walk(&app, &format!("{}?PageSize=2", members_path(&is, &ch)), "members").await;
    assert_eq!(identities_of(&items), identities, "creation order");
    assert_eq!(metas.len(), 3);
    for m in &items {
        assert_member(m, &is, &ch);
    }

    let (items, _) =
        walk(&app, &format!("{}?Identity=ben&Identity=eve", members_path(&is, &ch)), "members").await;
    assert_eq!(identities_of(&items), ["ben", "eve"]);
    let (items, _) = walk(&app, &format!("{}?Identity=cat", members_path(&is, "room")), "members").await;
    assert_eq!(identities_of(&items), ["cat"]);
    let (items, _) = walk(&app, &format!("{}?Identity=nobody", members_path(&is, &ch)), "members").await;
    assert!(items.is_empty());

    let body = app.get(&format!("{}?PageSize=1000", members_path(&is, &ch))).await.expect(200);
    assert_eq!(body["meta"]["page_size"], 100);
    assert_eq!(list(&body, "members").len(), 5);
}

#[actix_web::test]
async fn a_channel_takes_no_more_members_than_the_limit() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let set = app.post(&service_path(&is), &[("Limits.ChannelMembers", "2")]).await.expect(200);
    assert_eq!(set["limits"]["channel_members"], 2);
    let ch = sid(&create_channel(&app, &is, &[]).await);
    add_member(&app, &is, &ch, "alice").await;
    add_member(&app, &is, &ch, "bob").await;
    let body = app.post(&members_path(&is, &ch), &[("Identity", "carol")]).await.expect_error(403, 50403);
    assert!(!message(&body).is_empty());
    // One already there is a conflict, not a limit.
    app.post(&members_path(&is, &ch), &[("Identity", "alice")]).await.expect_error(409, 50404);
    let (members, _) = walk(&app, &members_path(&is, &ch), "members").await;
    assert_eq!(members.len(), 2);
    assert_eq!(app.get(&channel_path(&is, &ch)).await.expect(200)["members_count"], 2);

    // Room again once someone leaves; other channels have their own count.
    assert_eq!(app.delete(&format!("{}/bob", members_path(&is, &ch))).await.status, 204);
    add_member(&app, &is, &ch, "carol").await;
    let other = sid(&create_channel(&app, &is, &[]).await);
    add_member(&app, &is, &other, "dave").await;
    add_member(&app, &is, &other, "erin").await;
}

#[actix_web::test]
async fn a_user_joins_no_more_channels_than_the_limit() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let set = app.post(&service_path(&is), &[("Limits.UserChannels", "1")]).await.expect(200);
    assert_eq!(set["limits"]["user_channels"], 1);
    let one = sid(&create_channel(&app, &is, &[]).await);
    let two = sid(&create_channel(&app, &is, &[]).await);
    add_member(&app, &is, &one, "alice").await;
    app.post(&members_path(&is, &two), &[("Identity", "alice")]).await.expect_error(403, 50208);
    let (members, _) = walk(&app, &members_path(&is, &two), "members").await;
    assert!(members.is_empty(), "{members:?}");
    let user = app.get(&format!("{}/alice", users_path(&is))).await.expect(200);
    assert_eq!(user["joined_channels_count"], 1);
    // Others are not affected.
    add_member(&app, &is, &two, "bob").await;
    // Leaving frees a place.
    assert_eq!(app.delete(&format!("{}/alice", members_path(&is, &one))).await.status, 204);
    add_member(&app, &is, &two, "alice").await;
}

/// Two users starting a conversation with each other at the same moment:
/// each request adds its creator and then the other. (Each once locked the
/// users it added in its own order, and PostgreSQL broke the deadlock with a
/// 500.)
#[actix_web::test]
async fn two_users_adding_each_other_at_once_both_succeed() {
    let app = TestApp::new().await;
    let key = app.api_key().await;
    let alice = app.user_token(&key, "alice").await;
    let bob = app.user_token(&key, "bob").await;
    for _ in 0..12 {
        let (a, b) = futures_util::join!(
            app.as_user(
                &alice,
                "POST",
                "/v1/ConversationWithParticipants",
                &[("Participant", r#"{"identity":"bob"}"#)]
            ),
            app.as_user(
                &bob,
                "POST",
                "/v1/ConversationWithParticipants",
                &[("Participant", r#"{"identity":"alice"}"#)]
            ),
        );
        a.expect(201);
        b.expect(201);
    }
    let alices = app.get("/v1/Users/alice/Conversations?PageSize=50").await.expect(200);
    assert_eq!(alices["conversations"].as_array().unwrap().len(), 24);
}

/// A participant given another identity puts that user in one more
/// channel: the user's limit holds as for an add.
#[actix_web::test]
async fn a_participant_taking_an_identity_at_its_limit_is_refused() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    app.post(&service_path(&is), &[("Limits.UserChannels", "1")]).await.expect(200);
    let one = sid(&create_channel(&app, &is, &[]).await);
    let two = sid(&create_channel(&app, &is, &[]).await);
    add_member(&app, &is, &one, "alice").await;
    let carol = add_member(&app, &is, &two, "carol").await;
    let path = format!("/v1/Services/{is}/Conversations/{two}/Participants/{}", sid(&carol));
    app.post(&path, &[("Identity", "alice")]).await.expect_error(403, 50208);
    let unchanged = app.get(&path).await.expect(200);
    assert_eq!(unchanged["identity"], "carol");
    // A user with room takes it.
    let moved = app.post(&path, &[("Identity", "dave")]).await.expect(200);
    assert_eq!(moved["identity"], "dave");
}

/// A participant given the identity of an invited user takes the invite,
/// as an add does: the channel is that user's once, joined.
#[actix_web::test]
async fn a_participant_taking_an_invited_identity_takes_the_invite() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    app.post(&users_path(&is), &[("Identity", "alice")]).await.expect(201);
    let ch = sid(&create_channel(&app, &is, &[("Type", "private")]).await);
    let moderators = create_role(&app, &is, "moderators", "channel", &["sendMessage", "removeMember"]).await;
    app.post(
        &format!("{}/Invites", channel_path(&is, &ch)),
        &[("Identity", "alice"), ("RoleSid", &sid(&moderators))],
    )
    .await
    .expect(201);
    let carol = add_member(&app, &is, &ch, "carol").await;
    let path = format!("/v1/Services/{is}/Conversations/{ch}/Participants/{}", sid(&carol));
    let moved = app.post(&path, &[("Identity", "alice")]).await.expect(200);
    assert_eq!(moved["role_sid"], moderators["sid"], "the invite's role");
    let (invites, _) = walk(&app, &format!("{}/Invites", channel_path(&is, &ch)), "invites").await;
    assert!(invites.is_empty(), "{invites:?}");
    let (channels, _) = walk(&app, &user_channels_path(&is, "alice"), "channels").await;
    let statuses: Vec<&str> = channels.iter().map(|c| c["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, ["joined"]);
}
