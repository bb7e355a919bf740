//! One set of rows, two (three) APIs: channels and conversations, the
//! public-only Chat list, media messages, message edits, roles in either
//! vocabulary, the service settings /v1 keeps in its Configuration, and
//! v3's channel update flipping the type.

use super::*;

const MG: &str = "MG0123456789abcdef0123456789abcdef";

fn v1_conversation(service: &str, ch: &str) -> String {
    format!("/v1/Services/{service}/Conversations/{ch}")
}

#[actix_web::test]
async fn a_chat_channel_is_a_conversation_and_a_conversation_a_private_channel() {
    let app = TestApp::new().await;
    let is = app.default_service().await;

    // Made in /v2, read in /v1.
    let attributes = "{\"from\": \"chat\"}";
    let c = create_channel(
        &app,
        &is,
        &[("FriendlyName", "From Chat"), ("UniqueName", "from-chat"), ("Attributes", attributes)],
    )
    .await;
    let ch = sid(&c);
    let v1 = app.get(&v1_conversation(&is, &ch)).await.expect(200);
    assert_eq!(v1["sid"], ch.as_str());
    assert_eq!(v1["chat_service_sid"], is.as_str());
    assert_eq!(v1["friendly_name"], "From Chat");
    assert_eq!(v1["unique_name"], "from-chat");
    assert_eq!(v1["attributes"], attributes);
    assert_eq!(v1["date_created"], c["date_created"]);
    assert_eq!(v1["url"], format!("{HOST}/v1/Services/{is}/Conversations/{ch}"));
    assert_eq!(app.get(&v1_conversation(&is, "from-chat")).await.expect(200)["sid"], ch.as_str());
    add_member(&app, &is, &ch, "alice").await;
    let p = app.get(&format!("{}/Participants/alice", v1_conversation(&is, &ch))).await.expect(200);
    assert_eq!(p["identity"], "alice");

    // Made in /v1, read in /v2: a private channel.
    let conv = app
        .post(
            &format!("/v1/Services/{is}/Conversations"),
            &[("FriendlyName", "From Conversations"), ("UniqueName", "from-v1")],
        )
        .await
        .expect(201);
    let cv = sid(&conv);
    let chat = app.get(&channel_path(&is, &cv)).await.expect(200);
    assert_channel(&chat, &is);
    assert_eq!(chat["type"], "private");
    assert_eq!(chat["friendly_name"], "From Conversations");
    assert_eq!(chat["unique_name"], "from-v1");
    assert_eq!(chat["created_by"], "system");
    assert_eq!(chat["members_count"], 0);
    assert_eq!(chat["messages_count"], 0);
    assert_eq!(chat["date_created"], conv["date_created"]);
    assert_eq!(app.get(&channel_path(&is, "from-v1")).await.expect(200), chat);

    // A /v1 participant and message show in /v2.
    app.post(&format!("{}/Participants", v1_conversation(&is, &cv)), &[("Identity", "bob")])
        .await
        .expect(201);
    app.post(&format!("{}/Messages", v1_conversation(&is, &cv)), &[("Author", "bob"), ("Body", "hi")])
        .await
        .expect(201);
    let chat = app.get(&channel_path(&is, &cv)).await.expect(200);
    assert_eq!(chat["members_count"], 1);
    assert_eq!(chat["messages_count"], 1);
    let (messages, _) = walk(&app, &messages_path(&is, &cv), "messages").await;
    assert_eq!(messages.len(), 1);
    assert_message(&messages[0], &is, &cv);
    assert_eq!(messages[0]["from"], "bob");
    assert_eq!(messages[0]["body"], "hi");
    assert_eq!(messages[0]["was_edited"], false);
    assert!(messages[0]["last_updated_by"].is_null());
    let bob = app.get(&format!("{}/bob", members_path(&is, &cv))).await.expect(200);
    assert_member(&bob, &is, &cv);

    // An update in /v2 shows in /v1.
    app.post(&channel_path(&is, &cv), &[("FriendlyName", "Renamed in Chat")]).await.expect(200);
    assert_eq!(app.get(&v1_conversation(&is, &cv)).await.expect(200)["friendly_name"], "Renamed in Chat");
}

#[actix_web::test]
async fn conversations_are_private_channels_left_out_of_the_default_list() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let public = sid(&create_channel(&app, &is, &[("FriendlyName", "public")]).await);
    let conv = sid(&app.post(&format!("/v1/Services/{is}/Conversations"), &[]).await.expect(201));
    let base = channels_path(&is);

    let (items, _) = walk(&app, &base, "channels").await;
    assert_eq!(sids(&items), [public.as_str()]);
    let (items, _) = walk(&app, &format!("{base}?Type=private"), "channels").await;
    assert_eq!(sids(&items), [conv.as_str()]);
    let (items, _) = walk(&app, &format!("{base}?Type=private&Type=public"), "channels").await;
    assert_eq!(sids(&items), [public.as_str(), conv.as_str()]);

    // /v1 lists every channel.
    let listed = app.get(&format!("/v1/Services/{is}/Conversations")).await.expect(200);
    assert_eq!(sids(list(&listed, "conversations")), [public.as_str(), conv.as_str()]);
}

#[actix_web::test]
async fn media_messages_read_the_same_in_both_apis() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);

    // Sent in /v2, read in /v1: a one-item media array.
    let a = upload(&app, &is, b"\x89PNG from chat", "image/png", "chat.png").await;
    let m = send(&app, &is, &ch, &[("MediaSid", &sid(&a)), ("Body", "from chat"), ("From", "alice")]).await;
    let v1 = app.get(&format!("{}/Messages/{}", v1_conversation(&is, &ch), sid(&m))).await.expect(200);
    assert_eq!(v1["author"], "alice");
    assert_eq!(v1["body"], "from chat");
    let media = v1["media"].as_array().unwrap_or_else(|| panic!("a media array: {v1}"));
    assert_eq!(media.len(), 1, "{v1}");
    for key in ["sid", "size", "content_type", "filename"] {
        assert_eq!(media[0][key], a[key], "{key}");
    }

    // Sent in /v1 with two media, read in /v2: the first attachment.
    let first = upload(&app, &is, b"first attachment", "application/pdf", "first.pdf").await;
    let second = upload(&app, &is, b"\x89PNG second attachment", "image/png", "second.png").await;
    let sent = app
        .post(
            &format!("{}/Messages", v1_conversation(&is, &ch)),
            &[("MediaSid", &sid(&first)), ("MediaSid", &sid(&second)), ("Author", "bob"), ("Body", "two")],
        )
        .await
        .expect(201);
    assert_eq!(sent["media"].as_array().map(Vec::len), Some(2), "{sent}");
    let chat = app.get(&format!("{}/{}", messages_path(&is, &ch), sid(&sent))).await.expect(200);
    assert_message(&chat, &is, &ch);
    assert_eq!(chat["type"], "media");
    assert_eq!(chat["media"], chat_media(&first));
    assert_eq!(chat["from"], "bob");
    assert_eq!(chat["body"], "two");
    let (items, _) = walk(&app, &messages_path(&is, &ch), "messages").await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1], chat);
}

#[actix_web::test]
async fn a_body_edited_through_v1_reads_as_edited_in_chat() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let m = send(&app, &is, &ch, &[("Body", "typo"), ("From", "alice")]).await;
    let other = send(&app, &is, &ch, &[("Body", "fine")]).await;
    let v1 = format!("{}/Messages/{}", v1_conversation(&is, &ch), sid(&m));
    app.post(&v1, &[("Body", "fixed")]).await.expect(200);
    let chat = app.get(&format!("{}/{}", messages_path(&is, &ch), sid(&m))).await.expect(200);
    assert_eq!(chat["body"], "fixed");
    assert_eq!(chat["was_edited"], true);
    // A /v1 attributes-only change is no body edit.
    let v1_other = format!("{}/Messages/{}", v1_conversation(&is, &ch), sid(&other));
    app.post(&v1_other, &[("Attributes", "{\"x\":1}")]).await.expect(200);
    let chat = app.get(&format!("{}/{}", messages_path(&is, &ch), sid(&other))).await.expect(200);
    assert_eq!(chat["was_edited"], false);
    assert_eq!(chat["attributes"], "{\"x\":1}");
}

#[actix_web::test]
async fn roles_read_in_the_other_apis_vocabulary() {
    let app = TestApp::new().await;
    let is = app.default_service().await;

    // Edited in /v2, read in /v1.
    let r = create_role(&app, &is, "chat made", "channel", &["sendMessage", "leaveChannel"]).await;
    let rl = sid(&r);
    let chat_path = format!("{}/{rl}", roles_path(&is));
    let v1_path = format!("/v1/Services/{is}/Roles/{rl}");
    let v1 = app.get(&v1_path).await.expect(200);
    assert_eq!(v1["type"], "conversation");
    assert_eq!(sorted(&v1["permissions"]), ["leaveConversation", "sendMessage"]);
    app.post(
        &chat_path,
        &[
            ("Permission", "addMember"),
            ("Permission", "destroyChannel"),
            ("Permission", "editChannelName"),
            ("Permission", "sendMessage"),
        ],
    )
    .await
    .expect(200);
    let v1 = app.get(&v1_path).await.expect(200);
    assert_eq!(v1["friendly_name"], "chat made");
    assert_eq!(v1["type"], "conversation");
    assert_eq!(
        sorted(&v1["permissions"]),
        ["addParticipant", "deleteConversation", "editConversationName", "sendMessage"]
    );
    assert_eq!(v1["url"], format!("{HOST}{v1_path}"));

    // Edited in /v1, read in /v2.
    let s = app
        .post(
            &format!("/v1/Services/{is}/Roles"),
            &[("FriendlyName", "v1 made"), ("Type", "service"), ("Permission", "createConversation")],
        )
        .await
        .expect(201);
    let srl = sid(&s);
    app.post(
        &format!("/v1/Services/{is}/Roles/{srl}"),
        &[
            ("Permission", "createConversation"),
            ("Permission", "joinConversation"),
            ("Permission", "editConversationAttributes"),
            ("Permission", "removeParticipant"),
        ],
    )
    .await
    .expect(200);
    let chat = app.get(&format!("{}/{srl}", roles_path(&is))).await.expect(200);
    assert_role(&chat, &is);
    assert_eq!(chat["type"], "deployment");
    assert_eq!(chat["friendly_name"], "v1 made");
    assert_eq!(
        sorted(&chat["permissions"]),
        ["createChannel", "editChannelAttributes", "joinChannel", "removeMember"]
    );

    // Every role reads the same set both ways.
    let (roles, _) = walk(&app, &roles_path(&is), "roles").await;
    assert_eq!(roles.len(), 6);
    for role in &roles {
        let v1 = app.get(&format!("/v1/Services/{is}/Roles/{}", sid(role))).await.expect(200);
        let as_v1: Vec<&str> = role["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| v1_permission(p.as_str().unwrap()))
            .collect();
        assert_eq!(sorted(&v1["permissions"]), sorted_strs(&as_v1), "{role}");
        let want_type = if role["type"] == "channel" { "conversation" } else { "service" };
        assert_eq!(v1["type"], want_type, "{role}");
    }
}

#[actix_web::test]
async fn the_service_and_the_v1_configuration_share_their_settings() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let config = format!("/v1/Services/{is}/Configuration");

    // /v1 -> /v2: the compatibility message.
    app.post(&config, &[("MediaCompatibilityMessage", "set in v1")]).await.expect(200);
    assert_eq!(fetch_service(&app, &is).await["media"]["compatibility_message"], "set in v1");
    // /v2 -> /v1.
    let updated =
        app.post(&service_path(&is), &[("Media.CompatibilityMessage", "set in v2")]).await.expect(200);
    assert_eq!(updated["media"]["compatibility_message"], "set in v2");
    assert_eq!(app.get(&config).await.expect(200)["media_compatibility_message"], "set in v2");
    // And it is what a bodiless /v1 media message gets.
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let a = upload(&app, &is, b"\x89PNG", "image/png", "a.png").await;
    let m = app
        .post(&format!("{}/Messages", v1_conversation(&is, &ch)), &[("MediaSid", &sid(&a))])
        .await
        .expect(201);
    assert_eq!(m["body"], "set in v2");

    // Reachability, both ways.
    app.post(&service_path(&is), &[("ReachabilityEnabled", "true")]).await.expect(200);
    assert_eq!(app.get(&config).await.expect(200)["reachability_enabled"], true);
    app.post(&config, &[("ReachabilityEnabled", "false")]).await.expect(200);
    assert_eq!(fetch_service(&app, &is).await["reachability_enabled"], false);

    // Default roles, both ways.
    let member_role = create_role(&app, &is, "member", "channel", &["sendMessage"]).await;
    app.post(&service_path(&is), &[("DefaultChannelRoleSid", &sid(&member_role))]).await.expect(200);
    assert_eq!(app.get(&config).await.expect(200)["default_conversation_role_sid"], member_role["sid"]);
    let user_role = create_role(&app, &is, "user", "deployment", &["joinChannel"]).await;
    let creator_role = create_role(&app, &is, "creator", "channel", &["addMember"]).await;
    app.post(
        &config,
        &[
            ("DefaultChatServiceRoleSid", &sid(&user_role)),
            ("DefaultConversationCreatorRoleSid", &sid(&creator_role)),
        ],
    )
    .await
    .expect(200);
    let service = fetch_service(&app, &is).await;
    assert_eq!(service["default_service_role_sid"], user_role["sid"]);
    assert_eq!(service["default_channel_creator_role_sid"], creator_role["sid"]);
    assert_eq!(service["default_channel_role_sid"], member_role["sid"]);
}

#[actix_web::test]
async fn v3_flips_a_public_channel_to_private() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let c = create_channel(&app, &is, &[("FriendlyName", "migrating"), ("UniqueName", "migrating")]).await;
    let ch = sid(&c);
    assert_eq!(c["type"], "public");
    add_member(&app, &is, &ch, "alice").await;
    send(&app, &is, &ch, &[("Body", "before")]).await;

    let v3_path = format!("/v3/Services/{is}/Channels/{ch}");
    let v3 = app.post(&v3_path, &[("Type", "private"), ("MessagingServiceSid", MG)]).await.expect(200);
    assert_keys(&v3, V3_CHANNEL_KEYS);
    assert_eq!(v3["sid"], ch.as_str());
    assert_eq!(v3["account_sid"], app.account.sid.as_str());
    assert_eq!(v3["service_sid"], is.as_str());
    assert_eq!(v3["type"], "private");
    assert_eq!(v3["messaging_service_sid"], MG);
    assert_eq!(v3["friendly_name"], "migrating");
    assert_eq!(v3["unique_name"], "migrating");
    assert_eq!(v3["created_by"], "system");
    assert_eq!(v3["members_count"], 1);
    assert_eq!(v3["messages_count"], 1);
    assert_twilio_date(&v3["date_created"]);
    assert_twilio_date(&v3["date_updated"]);
    let url = text(&v3["url"]);
    assert!(
        url == format!("{HOST}/v3/Services/{is}/Channels/{ch}")
            || url == format!("{HOST}/v2/Services/{is}/Channels/{ch}"),
        "{url}"
    );

    // /v2 sees a private channel, out of the default list.
    let chat = app.get(&channel_path(&is, &ch)).await.expect(200);
    assert_channel(&chat, &is);
    assert_eq!(chat["type"], "private");
    let (items, _) = walk(&app, &channels_path(&is), "channels").await;
    assert!(items.is_empty(), "{items:?}");
    let (items, _) = walk(&app, &format!("{}?Type=private", channels_path(&is)), "channels").await;
    assert_eq!(sids(&items), [ch.as_str()]);
    // /v1 sees the messaging service.
    let v1 = app.get(&v1_conversation(&is, &ch)).await.expect(200);
    assert_eq!(v1["messaging_service_sid"], MG);

    // And back to public.
    let back = app.post(&v3_path, &[("Type", "public")]).await.expect(200);
    assert_eq!(back["type"], "public");
    assert_eq!(back["messaging_service_sid"], MG, "untouched");
    assert_eq!(app.get(&channel_path(&is, &ch)).await.expect(200)["type"], "public");
    let (items, _) = walk(&app, &channels_path(&is), "channels").await;
    assert_eq!(sids(&items), [ch.as_str()]);
}

#[actix_web::test]
async fn the_chat_limits_hold_for_conversations_too() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let set = [("Limits.ChannelMembers", "1"), ("Limits.UserChannels", "1")];
    app.post(&service_path(&is), &set).await.expect(200);
    let conversation = sid(&app.post("/v1/Conversations", &[]).await.expect(201));
    let participants = format!("/v1/Conversations/{conversation}/Participants");
    app.post(&participants, &[("Identity", "alice")]).await.expect(201);
    // Conversations answers with its own code for the same limit.
    let body = app.post(&participants, &[("Identity", "bob")]).await.expect_error(403, 50417);
    assert!(message(&body).contains("limit of 1"), "{body}");
    let other = sid(&app.post("/v1/Conversations", &[]).await.expect(201));
    let other_participants = format!("/v1/Conversations/{other}/Participants");
    app.post(&other_participants, &[("Identity", "alice")]).await.expect_error(403, 50208);
    app.post(&other_participants, &[("Identity", "bob")]).await.expect(201);
}
