//! Invites (`IN…`): create for an existing user with a channel role, fetch,
//! list by identity, delete; 50212 twice, 404 for an unknown user, 50601;
//! joining takes the invite and its role; a user needs `inviteMember`.

use super::*;

const INVITE_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "channel_sid",
    "service_sid",
    "identity",
    "date_created",
    "date_updated",
    "role_sid",
    "created_by",
    "url",
];

fn invites_path(service: &str, channel: &str) -> String {
    format!("{}/Invites", channel_path(service, channel))
}

async fn user(app: &TestApp, service: &str, identity: &str) -> Value {
    app.post(&users_path(service), &[("Identity", identity)]).await.expect(201)
}

#[actix_web::test]
async fn invites_are_created_fetched_listed_and_deleted() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "lobby")]).await);
    user(&app, &is, "alice").await;
    user(&app, &is, "bob").await;
    let moderators = create_role(&app, &is, "moderators", "channel", &["sendMessage", "removeMember"]).await;

    let invites = invites_path(&is, "lobby");
    let alice = app.post(&invites, &[("Identity", "alice")]).await.expect(201);
    assert_keys(&alice, INVITE_KEYS);
    assert!(is_sid(&alice["sid"], "IN"), "{alice}");
    assert_eq!(alice["channel_sid"], ch.as_str());
    assert_eq!(alice["service_sid"], is.as_str());
    assert_eq!(alice["identity"], "alice");
    assert_eq!(alice["created_by"], "system");
    assert_eq!(alice["role_sid"], fetch_service(&app, &is).await["default_channel_role_sid"]);
    assert_twilio_date(&alice["date_created"]);
    let url = format!("{HOST}/v2/Services/{is}/Channels/{ch}/Invites/{}", sid(&alice));
    assert_eq!(alice["url"], url.as_str());
    let bob = app.post(&invites, &[("Identity", "bob"), ("RoleSid", &sid(&moderators))]).await.expect(201);
    assert_eq!(bob["role_sid"], moderators["sid"]);

    let fetched = app.get(&format!("{}/{}", invites_path(&is, &ch), sid(&alice))).await.expect(200);
    assert_eq!(fetched, alice);
    let (all, _) = walk(&app, &format!("{}?PageSize=1", invites_path(&is, &ch)), "invites").await;
    assert_eq!(sids(&all), vec![sid(&alice), sid(&bob)]);
    let only_bob = app.get(&format!("{}?Identity=bob", invites_path(&is, &ch))).await.expect(200);
    assert_eq!(sids(list(&only_bob, "invites")), vec![sid(&bob)]);

    assert_eq!(app.delete(&format!("{}/{}", invites_path(&is, &ch), sid(&alice))).await.status, 204);
    let gone = app.get(&format!("{}/{}", invites_path(&is, &ch), sid(&alice))).await.expect_error(404, 50601);
    assert!(message(&gone).contains("/Invites/"), "{gone}");
    // A role an invite names cannot be deleted.
    app.delete(&format!("{}/{}", roles_path(&is), sid(&moderators))).await.expect_error(400, 20001);
}

#[actix_web::test]
async fn inviting_twice_an_unknown_user_or_a_member_is_refused() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    user(&app, &is, "alice").await;
    let invites = invites_path(&is, &ch);
    app.post(&invites, &[("Identity", "alice")]).await.expect(201);
    app.post(&invites, &[("Identity", "alice")]).await.expect_error(409, 50212);
    // As Twilio answered: its plain 404, naming the Invites path.
    let body = app.post(&invites, &[("Identity", "nobody")]).await.expect_error(404, 20404);
    assert!(message(&body).ends_with("/Invites was not found"), "{body}");
    app.post(&invites, &[]).await.expect_error(400, 20001);
    add_member(&app, &is, &ch, "carol").await;
    app.post(&invites, &[("Identity", "carol")]).await.expect_error(409, 50404);
    let conversation_role = create_role(&app, &is, "deploy", "deployment", &["createChannel"]).await;
    let wrong = app.post(&invites, &[("Identity", "alice"), ("RoleSid", &sid(&conversation_role))]).await;
    assert_eq!(wrong.status, 400);
    channel_not_found(app.get(&invites_path(&is, "no-such-channel")).await, &is, "no-such-channel");
}

#[actix_web::test]
async fn joining_takes_the_invite_and_its_role() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    user(&app, &is, "alice").await;
    let poster = create_role(&app, &is, "poster", "channel", &["sendMessage"]).await;
    app.post(&invites_path(&is, &ch), &[("Identity", "alice"), ("RoleSid", &sid(&poster))]).await.expect(201);
    let member = add_member(&app, &is, &ch, "alice").await;
    assert_eq!(member["role_sid"], poster["sid"]);
    let left = app.get(&invites_path(&is, &ch)).await.expect(200);
    assert!(list(&left, "invites").is_empty(), "{left}");
    // Also through Conversations.
    user(&app, &is, "bob").await;
    app.post(&invites_path(&is, &ch), &[("Identity", "bob"), ("RoleSid", &sid(&poster))]).await.expect(201);
    let joined =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "bob")]).await.expect(201);
    assert_eq!(joined["role_sid"], poster["sid"]);
    assert!(list(&app.get(&invites_path(&is, &ch)).await.expect(200), "invites").is_empty());
}

#[actix_web::test]
async fn users_invite_holding_invite_member() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    user(&app, &is, "dave").await;
    user(&app, &is, "erin").await;
    add_member(&app, &is, &ch, "alice").await;
    let inviter = create_role(&app, &is, "inviter", "channel", &["sendMessage", "inviteMember"]).await;
    app.post(&members_path(&is, &ch), &[("Identity", "bob"), ("RoleSid", &sid(&inviter))]).await.expect(201);
    let invites = invites_path(&is, &ch);

    let alice = app.user_token(&key, "alice").await;
    let body = app.as_user(&alice, "POST", &invites, &[("Identity", "dave")]).await.expect_error(403, 50107);
    assert!(message(&body).contains("inviteMember"), "{body}");
    let bob = app.user_token(&key, "bob").await;
    let invite = app.as_user(&bob, "POST", &invites, &[("Identity", "dave")]).await.expect(201);
    assert_eq!(invite["created_by"], "bob");
    let with_role = [("Identity", "erin"), ("RoleSid", invite["role_sid"].as_str().unwrap())];
    assert_eq!(app.as_user(&bob, "POST", &invites, &with_role).await.status, 403);
    // Not a member: the channel is not found.
    let outsider = app.user_token(&key, "mallory").await;
    let resp = app.as_user(&outsider, "POST", &invites, &[("Identity", "erin")]).await;
    channel_not_found(resp, &is, &ch);
}

#[actix_web::test]
async fn a_private_channel_takes_users_by_invitation_only() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let private = sid(&create_channel(&app, &is, &[("Type", "private")]).await);
    let public = sid(&create_channel(&app, &is, &[]).await);
    let alice = app.user_token(&key, "alice").await;
    let join = [("Identity", "alice")];

    // The default service role holds joinChannel: enough for a public channel.
    app.as_user(&alice, "POST", &members_path(&is, &public), &join).await.expect(201);
    // Not for a private one: without an invite it does not exist.
    let resp = app.as_user(&alice, "POST", &members_path(&is, &private), &join).await;
    channel_not_found(resp, &is, &private);
    let resp = app.as_user(&alice, "POST", &format!("/v1/Conversations/{private}/Participants"), &join).await;
    resp.expect_error(404, 20404);
    app.post(&invites_path(&is, &private), &[("Identity", "alice")]).await.expect(201);
    let member = app.as_user(&alice, "POST", &members_path(&is, &private), &join).await.expect(201);
    assert_eq!(member["identity"], "alice");

    // Made public through v3: anyone with joinChannel again; and back.
    let v3 = format!("/v3/Services/{is}/Channels/{private}");
    app.post(&v3, &[("Type", "public")]).await.expect(200);
    let bob = app.user_token(&key, "bob").await;
    app.as_user(&bob, "POST", &members_path(&is, &private), &[("Identity", "bob")]).await.expect(201);
    app.post(&v3, &[("Type", "private")]).await.expect(200);
    let carol = app.user_token(&key, "carol").await;
    let resp = app.as_user(&carol, "POST", &members_path(&is, &private), &[("Identity", "carol")]).await;
    channel_not_found(resp, &is, &private);

    // Conversations' own (private, not invite-only) still take users holding joinConversation.
    let conversation = sid(&app.post("/v1/Conversations", &[]).await.expect(201));
    app.as_user(&carol, "POST", &members_path(&is, &conversation), &[("Identity", "carol")])
        .await
        .expect(201);
}

#[actix_web::test]
async fn a_refusal_names_the_permission_in_chats_words() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let key = app.api_key().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let nothing = create_role(&app, &is, "nothing", "deployment", &["editOwnUserInfo"]).await;
    app.post(&users_path(&is), &[("Identity", "dave"), ("RoleSid", &sid(&nothing))]).await.expect(201);
    let dave = app.user_token(&key, "dave").await;
    let body = app
        .as_user(&dave, "POST", &members_path(&is, &ch), &[("Identity", "dave")])
        .await
        .expect_error(403, 50107);
    assert!(message(&body).ends_with("joinChannel"), "{body}");
    // Through Conversations, in its own.
    let body = app
        .as_user(&dave, "POST", &format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "dave")])
        .await
        .expect_error(403, 50107);
    assert!(message(&body).ends_with("joinConversation"), "{body}");
}
