//! Chat v2's webhooks (`notes/chat-webhooks.md`): the service's webhook
//! fields on `/v2/Services/{IS}` (one configuration with Conversations',
//! each API reading its filters in its own names), channel webhooks
//! (`/v2/Services/{IS}/Channels/{CH}/Webhooks`), and what a Chat-speaking
//! configuration sends to a real receiver: Chat's event names and
//! parameters, attempts bounded by the retry counts, pre-event calls for
//! end users' actions.

use std::time::Duration;

use crate::webhooks::{Hit, Receiver, expected_signature, hooked_app};

use super::*;

/// A REST write that fires post-event webhooks.
const HOOKED: &[(&str, &str)] = &[("X-Twilio-Webhook-Enabled", "true")];

/// Chat's pre-event names, as the decisions list them.
const CHAT_PRE_EVENTS: &[&str] = &[
    "onMessageSend",
    "onMediaMessageSend",
    "onMessageUpdate",
    "onMessageRemove",
    "onChannelAdd",
    "onChannelUpdate",
    "onChannelDestroy",
    "onMemberAdd",
    "onMemberUpdate",
    "onMemberRemove",
    "onUserUpdate",
];

/// Chat's post-event names, as the decisions list them.
const CHAT_POST_EVENTS: &[&str] = &[
    "onMessageSent",
    "onMediaMessageSent",
    "onMessageUpdated",
    "onMessageRemoved",
    "onChannelAdded",
    "onChannelUpdated",
    "onChannelDestroyed",
    "onMemberAdded",
    "onMemberUpdated",
    "onMemberRemoved",
    "onUserAdded",
    "onUserUpdated",
];

/// Parameters only Conversations sends; a Chat-speaking hook never gets them.
const CONVERSATIONS_ONLY: &[&str] =
    &["ChatServiceSid", "ConversationSid", "Author", "ParticipantSid", "Media", "State"];

/// Every field of a channel webhook, exactly.
const WEBHOOK_KEYS: &[&str] = &[
    "account_sid",
    "service_sid",
    "channel_sid",
    "sid",
    "type",
    "configuration",
    "date_created",
    "date_updated",
    "url",
];

// ---------------------------------------------------------------------------
// Helpers

/// `channel` is a CH SID or a unique name.
fn webhooks_path(service: &str, channel: &str) -> String {
    format!("/v2/Services/{service}/Channels/{channel}/Webhooks")
}

/// Conversations' view of the service's webhook configuration.
fn v1_config_path(service: &str) -> String {
    format!("/v1/Services/{service}/Configuration/Webhooks")
}

/// A POST as the account with `X-Twilio-Webhook-Enabled: true`.
async fn post_hooked(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Resp {
    app.send_with("POST", path, form, Some(&app.account.basic()), HOOKED).await
}

/// Writes the service's webhook fields through `/v2` (it then speaks Chat).
async fn configure_chat(app: &TestApp, service: &str, form: &[(&str, &str)]) -> Value {
    app.post(&service_path(service), form).await.expect(200)
}

/// A `type=webhook` channel webhook to `url` for `filters`, with more form.
async fn channel_webhook(
    app: &TestApp,
    service: &str,
    channel: &str,
    url: &str,
    filters: &[&str],
    more: &[(&str, &str)],
) -> Value {
    let mut form = vec![("Type", "webhook"), ("Configuration.Url", url)];
    form.extend(filters.iter().map(|f| ("Configuration.Filters", *f)));
    form.extend_from_slice(more);
    app.post(&webhooks_path(service, channel), &form).await.expect(201)
}

/// Alice's access token (for the app's default service).
async fn alice_token(app: &TestApp) -> String {
    let key = app.api_key().await;
    app.user_token(&key, "alice").await
}

#[track_caller]
fn assert_channel_webhook(w: &Value, service: &str, channel: &str) {
    assert_keys(w, WEBHOOK_KEYS);
    assert!(is_sid(&w["sid"], "WH"), "{w}");
    assert!(is_sid(&w["account_sid"], "AC"), "{w}");
    assert_eq!(w["service_sid"], service, "{w}");
    assert_eq!(w["channel_sid"], channel, "{w}");
    assert_twilio_date(&w["date_created"]);
    assert_twilio_date(&w["date_updated"]);
    let wh = text(&w["sid"]);
    assert_eq!(w["url"], format!("{HOST}/v2/Services/{service}/Channels/{channel}/Webhooks/{wh}"), "{w}");
    let c = &w["configuration"];
    match w["type"].as_str() {
        Some("webhook") => assert_keys(c, &["url", "method", "filters", "retry_count"]),
        Some("trigger") => assert_keys(c, &["url", "method", "triggers", "retry_count"]),
        _ => panic!("type: {w}"),
    }
    assert!(c["method"] == "POST" || c["method"] == "GET", "upper-case method: {w}");
    assert!(c["retry_count"].is_u64(), "{w}");
}

/// No parameter that only Conversations sends.
#[track_caller]
fn assert_speaks_chat(hit: &Hit) {
    for name in CONVERSATIONS_ONLY {
        assert_eq!(hit.param(name), None, "{name} is Conversations' only: {hit:#?}");
    }
    assert!(!hit.params.iter().any(|(k, _)| k.starts_with("MessagingBinding.")), "{hit:#?}");
}

/// The signature twilio-python's `RequestValidator` expects, with the account's Auth Token.
#[track_caller]
fn assert_signed(app: &TestApp, hit: &Hit) {
    let want = expected_signature(&app.account.token, &hit.url, &hit.params);
    assert_eq!(hit.signature.as_deref(), Some(want.as_str()), "{hit:#?}");
}

#[track_caller]
fn assert_date_param(hit: &Hit, name: &str) {
    let v = hit.param(name).unwrap_or_else(|| panic!("no {name}: {hit:#?}"));
    assert!(chrono::DateTime::parse_from_rfc3339(v).is_ok(), "{name}={v}: {hit:#?}");
}

fn event_types(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(|h| h.param("EventType").unwrap_or("(none)").to_owned()).collect()
}

#[track_caller]
fn hit_of<'a>(hits: &'a [Hit], event_type: &str) -> &'a Hit {
    hits.iter()
        .find(|h| h.param("EventType") == Some(event_type))
        .unwrap_or_else(|| panic!("no {event_type}: {hits:#?}"))
}

/// Deliveries still owed, after waiting (10 s at most) for none to be.
async fn drained(app: &TestApp) -> i64 {
    for _ in 0..200 {
        if confab::testing::pending_deliveries(&app.state.db).await == 0 {
            return 0;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    confab::testing::pending_deliveries(&app.state.db).await
}

// ---------------------------------------------------------------------------
// The service's webhook fields

#[actix_web::test]
async fn service_webhook_fields_are_set_through_v2_and_read_back() {
    let app = TestApp::new().await;
    let is = sid(&create_service(&app, "hooked").await);
    let path = service_path(&is);
    let unset = fetch_service(&app, &is).await;
    assert!(unset["webhook_method"].is_null(), "no URL set: {unset}");
    assert!(unset["webhook_filters"].is_null(), "no URL set: {unset}");

    let set = configure_chat(
        &app,
        &is,
        &[
            ("PreWebhookUrl", "https://hooks.example.com/pre"),
            ("PostWebhookUrl", "https://hooks.example.com/post?tenant=7"),
            ("WebhookMethod", "get"),
            ("WebhookFilters", "onMessageSend"),
            ("WebhookFilters", "onMessageSent"),
            // A value may hold several names.
            ("WebhookFilters", "onMemberAdded,onChannelDestroyed"),
            ("PreWebhookRetryCount", "2"),
            ("PostWebhookRetryCount", "3"),
        ],
    )
    .await;
    assert_service(&set, &app.account.sid);
    assert_eq!(set["pre_webhook_url"], "https://hooks.example.com/pre");
    assert_eq!(set["post_webhook_url"], "https://hooks.example.com/post?tenant=7");
    assert_eq!(set["webhook_method"], "GET");
    assert_eq!(
        set["webhook_filters"],
        json!(["onMessageSend", "onMessageSent", "onMemberAdded", "onChannelDestroyed"])
    );
    assert_eq!(set["pre_webhook_retry_count"], 2);
    assert_eq!(set["post_webhook_retry_count"], 3);
    assert_eq!(fetch_service(&app, &is).await, set, "stored");

    // Every name of Chat's two lists is accepted, in the order given.
    let every: Vec<String> =
        CHAT_PRE_EVENTS.iter().chain(CHAT_POST_EVENTS).map(|e| (*e).to_owned()).collect();
    let form: Vec<(&str, &str)> = every.iter().map(|e| ("WebhookFilters", e.as_str())).collect();
    let all = app.post(&path, &form).await.expect(200);
    assert_eq!(all["webhook_filters"], json!(every));
    assert_eq!(all["webhook_method"], "GET", "kept");
}

#[actix_web::test]
async fn an_empty_url_clears_it_and_with_no_url_method_and_filters_are_null() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    configure_chat(
        &app,
        &is,
        &[
            ("PreWebhookUrl", "https://hooks.example.com/pre"),
            ("PostWebhookUrl", "https://hooks.example.com/post"),
            ("WebhookFilters", "onMessageSent"),
        ],
    )
    .await;
    let pre_cleared = configure_chat(&app, &is, &[("PreWebhookUrl", "")]).await;
    assert!(pre_cleared["pre_webhook_url"].is_null(), "{pre_cleared}");
    assert_eq!(pre_cleared["post_webhook_url"], "https://hooks.example.com/post");
    assert_eq!(pre_cleared["webhook_method"], "POST", "the default method");
    assert_eq!(pre_cleared["webhook_filters"], json!(["onMessageSent"]));

    let cleared = configure_chat(&app, &is, &[("PostWebhookUrl", "")]).await;
    assert!(cleared["pre_webhook_url"].is_null(), "{cleared}");
    assert!(cleared["post_webhook_url"].is_null(), "{cleared}");
    assert!(cleared["webhook_method"].is_null(), "neither URL set: {cleared}");
    assert!(cleared["webhook_filters"].is_null(), "neither URL set: {cleared}");
    assert_eq!(fetch_service(&app, &is).await, cleared);
    let v1 = app.get(&v1_config_path(&is)).await.expect(200);
    assert!(v1["pre_webhook_url"].is_null() && v1["post_webhook_url"].is_null(), "{v1}");
}

#[actix_web::test]
async fn bad_webhook_fields_are_400_20001_naming_the_parameter_and_change_nothing() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let path = service_path(&is);
    let before = configure_chat(
        &app,
        &is,
        &[("PostWebhookUrl", "https://hooks.example.com/post"), ("WebhookFilters", "onMessageSent")],
    )
    .await;
    for (name, value) in [
        ("PreWebhookUrl", "not a url"),
        ("PostWebhookUrl", "ftp://example.com/hook"),
        ("PostWebhookUrl", "/relative/hook"),
        ("WebhookMethod", "PUT"),
        // Conversations' names are not Chat's.
        ("WebhookFilters", "onMessageAdded"),
        ("WebhookFilters", "onConversationAdded"),
        ("WebhookFilters", "onParticipantAdd"),
        ("WebhookFilters", "onMessageSent,onSomethingElse"),
        ("PreWebhookRetryCount", "4"),
        ("PostWebhookRetryCount", "4"),
        ("PostWebhookRetryCount", "-1"),
        ("PreWebhookRetryCount", "twice"),
    ] {
        let body = app.post(&path, &[(name, value)]).await.expect_error(400, 20001);
        assert!(message(&body).contains(name), "{name}={value}: {body}");
    }
    // A bad field beside good ones: nothing is written.
    let body = app
        .post(&path, &[("PostWebhookUrl", "https://elsewhere.example.com/"), ("PostWebhookRetryCount", "4")])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).contains("PostWebhookRetryCount"), "{body}");
    assert_eq!(fetch_service(&app, &is).await, before, "failed updates change nothing");
}

#[actix_web::test]
async fn a_partial_update_keeps_the_other_webhook_fields() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let full = configure_chat(
        &app,
        &is,
        &[
            ("PreWebhookUrl", "https://hooks.example.com/pre"),
            ("PostWebhookUrl", "https://hooks.example.com/post"),
            ("WebhookMethod", "GET"),
            ("WebhookFilters", "onMessageSend"),
            ("WebhookFilters", "onMemberAdded"),
            ("PreWebhookRetryCount", "1"),
            ("PostWebhookRetryCount", "2"),
        ],
    )
    .await;
    let moved = configure_chat(&app, &is, &[("PostWebhookUrl", "https://hooks.example.com/moved")]).await;
    assert_eq!(moved["post_webhook_url"], "https://hooks.example.com/moved");
    for key in ["pre_webhook_url", "webhook_method", "webhook_filters", "pre_webhook_retry_count"] {
        assert_eq!(moved[key], full[key], "{key} kept");
    }
    assert_eq!(moved["post_webhook_retry_count"], 2);

    let refiltered = configure_chat(&app, &is, &[("WebhookFilters", "onChannelAdded")]).await;
    assert_eq!(refiltered["webhook_filters"], json!(["onChannelAdded"]));
    assert_eq!(refiltered["post_webhook_url"], "https://hooks.example.com/moved");
    assert_eq!(refiltered["pre_webhook_url"], full["pre_webhook_url"]);
    assert_eq!(refiltered["webhook_method"], "GET");
    assert_eq!(refiltered["pre_webhook_retry_count"], 1);
    assert_eq!(refiltered["post_webhook_retry_count"], 2);

    // Other settings of the service do not touch the webhook fields.
    let renamed = app.post(&service_path(&is), &[("FriendlyName", "renamed")]).await.expect(200);
    for key in ["pre_webhook_url", "post_webhook_url", "webhook_method", "webhook_filters"] {
        assert_eq!(renamed[key], refiltered[key], "{key} kept");
    }
}

// ---------------------------------------------------------------------------
// One configuration, two vocabularies

#[actix_web::test]
async fn filters_set_through_v2_read_in_conversations_names_on_v1() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    configure_chat(
        &app,
        &is,
        &[
            ("PostWebhookUrl", "https://hooks.example.com/post"),
            ("PreWebhookUrl", "https://hooks.example.com/pre"),
            ("WebhookMethod", "GET"),
            ("WebhookFilters", "onMessageSent"),
            ("WebhookFilters", "onMediaMessageSent"),
            ("WebhookFilters", "onMemberAdded"),
            ("WebhookFilters", "onChannelDestroyed"),
            ("WebhookFilters", "onMessageSend"),
            ("WebhookFilters", "onMediaMessageSend"),
            ("WebhookFilters", "onChannelUpdate"),
            ("WebhookFilters", "onUserUpdated"),
        ],
    )
    .await;
    let v1 = app.get(&v1_config_path(&is)).await.expect(200);
    // onMessageSent and onMediaMessageSent are one onMessageAdded (likewise the pre-events).
    assert_eq!(
        v1["filters"],
        json!([
            "onMessageAdded",
            "onParticipantAdded",
            "onConversationRemoved",
            "onMessageAdd",
            "onConversationUpdate",
            "onUserUpdated"
        ])
    );
    assert_eq!(v1["post_webhook_url"], "https://hooks.example.com/post");
    assert_eq!(v1["pre_webhook_url"], "https://hooks.example.com/pre");
    assert_eq!(v1["method"], "GET");
    // The account-level view of the default service says the same.
    let account = app.get("/v1/Configuration/Webhooks").await.expect(200);
    assert_eq!(account["filters"], v1["filters"]);
}

#[actix_web::test]
async fn filters_set_through_v1_read_in_chats_names_on_v2() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    app.post(
        &v1_config_path(&is),
        &[
            ("PostWebhookUrl", "https://hooks.example.com/post"),
            ("Method", "GET"),
            ("Filters", "onMessageAdded"),
            ("Filters", "onConversationAdded"),
            ("Filters", "onParticipantRemoved"),
            ("Filters", "onMessageAdd"),
            ("Filters", "onConversationRemove"),
            // No Chat twin: not shown.
            ("Filters", "onDeliveryUpdated"),
            ("Filters", "onConversationStateUpdated"),
        ],
    )
    .await
    .expect(200);
    let service = fetch_service(&app, &is).await;
    assert_service(&service, &app.account.sid);
    assert_eq!(service["post_webhook_url"], "https://hooks.example.com/post");
    assert!(service["pre_webhook_url"].is_null(), "{service}");
    assert_eq!(service["webhook_method"], "GET");
    // (Compared as sets: the decisions fix the names, not where an expansion goes.)
    assert_eq!(
        sorted(&service["webhook_filters"]),
        sorted_strs(&[
            "onMessageSent",
            "onMediaMessageSent",
            "onChannelAdded",
            "onMemberRemoved",
            "onMessageSend",
            "onMediaMessageSend",
            "onChannelDestroy",
        ])
    );
}

#[actix_web::test]
async fn a_partial_v2_update_after_v1_keeps_the_filters_in_chats_names() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    app.post(
        &v1_config_path(&is),
        &[("PostWebhookUrl", "https://hooks.example.com/post"), ("Filters", "onMessageAdded")],
    )
    .await
    .expect(200);
    let updated = configure_chat(&app, &is, &[("PostWebhookRetryCount", "1")]).await;
    assert_eq!(updated["post_webhook_retry_count"], 1);
    assert_eq!(updated["post_webhook_url"], "https://hooks.example.com/post");
    assert_eq!(sorted(&updated["webhook_filters"]), sorted_strs(&["onMessageSent", "onMediaMessageSent"]));
    assert_eq!(fetch_service(&app, &is).await["webhook_filters"], updated["webhook_filters"]);
    // Conversations still reads one onMessageAdded.
    assert_eq!(app.get(&v1_config_path(&is)).await.expect(200)["filters"], json!(["onMessageAdded"]));
}

// ---------------------------------------------------------------------------
// Channel webhooks

#[actix_web::test]
async fn a_channel_webhook_is_created_with_chats_shape() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let created = channel_webhook(
        &app,
        &is,
        &ch,
        "https://bot.example.com/hook",
        &["onMessageSent", "onChannelDestroyed"],
        &[("Configuration.Method", "get"), ("Configuration.RetryCount", "2")],
    )
    .await;
    assert_channel_webhook(&created, &is, &ch);
    assert!(created.get("links").is_none(), "no links: {created}");
    assert_eq!(created["account_sid"], app.account.sid.as_str());
    assert_eq!(created["type"], "webhook");
    assert_eq!(
        created["configuration"],
        json!({
            "url": "https://bot.example.com/hook",
            "method": "GET",
            "filters": ["onMessageSent", "onChannelDestroyed"],
            "retry_count": 2,
        })
    );
    assert_eq!(created["date_updated"], created["date_created"]);

    // The defaults: POST, no retries.
    let plain =
        channel_webhook(&app, &is, &ch, "https://bot.example.com/plain", &["onMemberAdded"], &[]).await;
    assert_channel_webhook(&plain, &is, &ch);
    assert_eq!(
        plain["configuration"],
        json!({
            "url": "https://bot.example.com/plain",
            "method": "POST",
            "filters": ["onMemberAdded"],
            "retry_count": 0,
        })
    );
    // Every Chat post-event name is a filter.
    let every = channel_webhook(&app, &is, &ch, "https://bot.example.com/all", CHAT_POST_EVENTS, &[]).await;
    assert_eq!(every["configuration"]["filters"], json!(CHAT_POST_EVENTS));
}

#[actix_web::test]
async fn a_trigger_webhook_holds_its_keywords() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let trigger = app
        .post(
            &webhooks_path(&is, &ch),
            &[
                ("Type", "trigger"),
                ("Configuration.Url", "https://bot.example.com/t"),
                ("Configuration.Triggers", "help"),
                ("Configuration.Triggers", "urgent"),
                ("Configuration.RetryCount", "1"),
            ],
        )
        .await
        .expect(201);
    assert_channel_webhook(&trigger, &is, &ch);
    assert_eq!(trigger["type"], "trigger");
    assert_eq!(
        trigger["configuration"],
        json!({
            "url": "https://bot.example.com/t",
            "method": "POST",
            "triggers": ["help", "urgent"],
            "retry_count": 1,
        })
    );
}

#[actix_web::test]
async fn channel_webhook_parameters_are_checked() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let hooks = webhooks_path(&is, &ch);
    let url = "https://bot.example.com/hook";

    let body = app.post(&hooks, &[("Configuration.Url", url)]).await.expect_error(400, 20001);
    assert!(message(&body).contains("Type"), "{body}");
    let flow = format!("FW{}", "0".repeat(32));
    let body = app
        .post(&hooks, &[("Type", "studio"), ("Configuration.FlowSid", &flow)])
        .await
        .expect_error(400, 20001);
    assert!(message(&body).to_lowercase().contains("studio"), "{body}");

    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("Type", vec![("Type", "pigeon"), ("Configuration.Url", url)]),
        ("Configuration.Url", vec![("Type", "webhook")]),
        ("Configuration.Url", vec![("Type", "trigger"), ("Configuration.Triggers", "help")]),
        ("Configuration.Url", vec![("Type", "webhook"), ("Configuration.Url", "not a url")]),
        ("Configuration.Triggers", vec![("Type", "trigger"), ("Configuration.Url", url)]),
        (
            "Configuration.Method",
            vec![("Type", "webhook"), ("Configuration.Url", url), ("Configuration.Method", "PUT")],
        ),
        (
            "Configuration.RetryCount",
            vec![("Type", "webhook"), ("Configuration.Url", url), ("Configuration.RetryCount", "4")],
        ),
        (
            "Configuration.RetryCount",
            vec![("Type", "webhook"), ("Configuration.Url", url), ("Configuration.RetryCount", "-1")],
        ),
        // Post-event names of Chat only: not a pre-event, not Conversations' name.
        (
            "Configuration.Filters",
            vec![("Type", "webhook"), ("Configuration.Url", url), ("Configuration.Filters", "onMessageSend")],
        ),
        (
            "Configuration.Filters",
            vec![
                ("Type", "webhook"),
                ("Configuration.Url", url),
                ("Configuration.Filters", "onMessageAdded"),
            ],
        ),
    ];
    for (param, form) in &cases {
        let body = expect_status_error(app.post(&hooks, form).await, 400);
        assert!(message(&body).contains(param), "{form:?}: {body}");
    }
    let listed = app.get(&hooks).await.expect(200);
    assert!(list(&listed, "webhooks").is_empty(), "nothing was created: {listed}");
}

#[actix_web::test]
async fn a_channel_holds_five_webhooks_listed_five_a_page_at_most() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let hooks = webhooks_path(&is, &ch);
    let mut made = Vec::new();
    for n in 0..5 {
        let url = format!("https://bot.example.com/{n}");
        made.push(sid(&channel_webhook(&app, &is, &ch, &url, &["onMessageSent"], &[]).await));
    }
    app.post(&hooks, &[("Type", "webhook"), ("Configuration.Url", "https://bot.example.com/6")])
        .await
        .expect_error(400, 20001);

    let (items, metas) = walk(&app, &format!("{hooks}?PageSize=2"), "webhooks").await;
    assert_eq!(sids(&items), made, "in creation order");
    assert_eq!(metas.len(), 3);
    assert_eq!(metas[0]["page_size"], 2);
    for w in &items {
        assert_channel_webhook(w, &is, &ch);
    }
    // PageSize is capped at 5, which is also the default.
    let capped = app.get(&format!("{hooks}?PageSize=6")).await.expect(200);
    assert_eq!(capped["meta"]["page_size"], 5, "{capped}");
    assert_eq!(list(&capped, "webhooks").len(), 5);
    let first = app.get(&hooks).await.expect(200);
    assert_eq!(first["meta"]["page_size"], 5, "{first}");
    assert!(first["meta"]["next_page_url"].is_null(), "{first}");
    assert!(text(&first["meta"]["url"]).starts_with(&format!("{HOST}{hooks}")), "{first}");

    // Removing one makes room for another.
    app.delete(&format!("{hooks}/{}", made[0])).await.expect(204);
    channel_webhook(&app, &is, &ch, "https://bot.example.com/again", &[], &[]).await;
}

#[actix_web::test]
async fn a_channel_webhook_is_fetched_updated_and_deleted() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let hooks = webhooks_path(&is, &ch);
    let created =
        channel_webhook(&app, &is, &ch, "https://bot.example.com/hook", &["onMessageSent"], &[]).await;
    let wh = sid(&created);
    let path = format!("{hooks}/{wh}");
    assert_eq!(app.get(&path).await.expect(200), created);

    let updated = app
        .post(
            &path,
            &[
                ("Configuration.Filters", "onMessageUpdated"),
                ("Configuration.Filters", "onMemberRemoved"),
                ("Configuration.RetryCount", "3"),
            ],
        )
        .await
        .expect(200);
    assert_channel_webhook(&updated, &is, &ch);
    assert_eq!(updated["sid"], wh.as_str());
    assert_eq!(updated["type"], "webhook");
    assert_eq!(updated["date_created"], created["date_created"]);
    assert_eq!(
        updated["configuration"],
        json!({
            "url": "https://bot.example.com/hook",
            "method": "POST",
            "filters": ["onMessageUpdated", "onMemberRemoved"],
            "retry_count": 3,
        })
    );
    assert_eq!(app.get(&path).await.expect(200), updated, "stored");

    // What an update does not name stays.
    let moved = app
        .post(&path, &[("Configuration.Url", "https://bot.example.com/v2"), ("Configuration.Method", "get")])
        .await
        .expect(200);
    assert_eq!(
        moved["configuration"],
        json!({
            "url": "https://bot.example.com/v2",
            "method": "GET",
            "filters": ["onMessageUpdated", "onMemberRemoved"],
            "retry_count": 3,
        })
    );
    // A bad update changes nothing.
    expect_status_error(app.post(&path, &[("Configuration.RetryCount", "4")]).await, 400);
    expect_status_error(app.post(&path, &[("Configuration.Filters", "onMessageAdded")]).await, 400);
    assert_eq!(app.get(&path).await.expect(200), moved);

    let res = app.delete(&path).await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert!(res.raw.is_empty());
    app.get(&path).await.expect_error(404, 50320);
    app.post(&path, &[("Configuration.RetryCount", "1")]).await.expect_error(404, 50320);
    app.delete(&path).await.expect_error(404, 50320);
    app.get(&format!("{hooks}/WH{}", "0".repeat(32))).await.expect_error(404, 50320);
    // A segment that is not a WH SID is not found either.
    app.get(&format!("{hooks}/not-a-webhook")).await.expect_error(404, 50320);
    let listed = app.get(&hooks).await.expect(200);
    assert!(list(&listed, "webhooks").is_empty(), "{listed}");
}

#[actix_web::test]
async fn channel_webhooks_go_through_the_unique_name_and_unknown_channels_are_50300() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "support")]).await);
    let by_name = webhooks_path(&is, "support");
    let created = app
        .post(&by_name, &[("Type", "webhook"), ("Configuration.Url", "https://bot.example.com/hook")])
        .await
        .expect(201);
    assert_channel_webhook(&created, &is, &ch);
    let wh = sid(&created);
    assert_eq!(app.get(&format!("{by_name}/{wh}")).await.expect(200), created);
    assert_eq!(app.get(&format!("{}/{wh}", webhooks_path(&is, &ch))).await.expect(200), created);
    let listed = app.get(&by_name).await.expect(200);
    assert_eq!(sids(list(&listed, "webhooks")), std::slice::from_ref(&wh));
    let updated =
        app.post(&format!("{by_name}/{wh}"), &[("Configuration.RetryCount", "1")]).await.expect(200);
    assert_eq!(updated["configuration"]["retry_count"], 1);
    assert_eq!(app.delete(&format!("{by_name}/{wh}")).await.status, 204);

    let form = [("Type", "webhook"), ("Configuration.Url", "https://bot.example.com/hook")];
    channel_not_found(app.get(&webhooks_path(&is, "nope")).await, &is, "nope");
    channel_not_found(app.post(&webhooks_path(&is, "nope"), &form).await, &is, "nope");
    let unknown = format!("CH{}", "0".repeat(32));
    let path = format!("{}/{wh}", webhooks_path(&is, &unknown));
    channel_not_found(app.get(&path).await, &is, &unknown);
    channel_not_found(app.delete(&path).await, &is, &unknown);
}

#[actix_web::test]
async fn end_users_cannot_see_or_change_channel_webhooks() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    add_member(&app, &is, &ch, "alice").await;
    let alice = alice_token(&app).await;
    let hooks = webhooks_path(&is, &ch);
    let existing =
        channel_webhook(&app, &is, &ch, "https://bot.example.com/hook", &["onMessageSent"], &[]).await;
    let one = format!("{hooks}/{}", sid(&existing));
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        ("GET", hooks.as_str(), vec![]),
        (
            "POST",
            hooks.as_str(),
            vec![("Type", "webhook"), ("Configuration.Url", "https://evil.example.com/")],
        ),
        ("GET", one.as_str(), vec![]),
        ("POST", one.as_str(), vec![("Configuration.Url", "https://evil.example.com/")]),
        ("DELETE", one.as_str(), vec![]),
    ];
    for (method, path, form) in &cases {
        let resp = app.as_user(&alice, method, path, form).await;
        assert_eq!(resp.status, 403, "{method} {path}: {}", resp.body);
        expect_status_error(resp, 403);
    }
    let listed = app.get(&hooks).await.expect(200);
    assert_eq!(list(&listed, "webhooks"), &[existing], "nothing changed");
}

#[actix_web::test]
async fn channel_webhooks_are_the_conversations_scoped_webhooks_of_v1() {
    let app = TestApp::new().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let created = channel_webhook(
        &app,
        &is,
        &ch,
        "https://bot.example.com/hook",
        &["onMessageSent", "onMediaMessageSent", "onMemberAdded", "onChannelDestroyed"],
        &[("Configuration.RetryCount", "2")],
    )
    .await;
    let wh = sid(&created);
    let v1_hooks = format!("/v1/Conversations/{ch}/Webhooks");
    let v1 = app.get(&format!("{v1_hooks}/{wh}")).await.expect(200);
    assert_eq!(v1["sid"], wh.as_str());
    assert_eq!(v1["conversation_sid"], ch.as_str());
    assert_eq!(v1["target"], "webhook");
    assert_eq!(v1["configuration"]["url"], "https://bot.example.com/hook");
    assert_eq!(
        v1["configuration"]["filters"],
        json!(["onMessageAdded", "onParticipantAdded", "onConversationRemoved"]),
        "in Conversations' names: {v1}"
    );
    let listed = app.get(&v1_hooks).await.expect(200);
    assert_eq!(sids(list(&listed, "webhooks")), std::slice::from_ref(&wh));

    // One made through /v1 reads in Chat's names through /v2.
    let made_in_v1 = app
        .post(
            &v1_hooks,
            &[
                ("Target", "webhook"),
                ("Configuration.Url", "https://bot.example.com/v1"),
                ("Configuration.Filters", "onMessageAdded"),
                ("Configuration.Filters", "onParticipantRemoved"),
            ],
        )
        .await
        .expect(201);
    let v2 = app.get(&format!("{}/{}", webhooks_path(&is, &ch), sid(&made_in_v1))).await.expect(200);
    assert_channel_webhook(&v2, &is, &ch);
    assert_eq!(v2["type"], "webhook");
    assert_eq!(
        sorted(&v2["configuration"]["filters"]),
        sorted_strs(&["onMessageSent", "onMediaMessageSent", "onMemberRemoved"])
    );
    let both = app.get(&webhooks_path(&is, &ch)).await.expect(200);
    assert_eq!(sids(list(&both, "webhooks")), [wh.clone(), sid(&made_in_v1)]);

    // Removed through /v1: gone from /v2.
    app.delete(&format!("{v1_hooks}/{wh}")).await.expect(204);
    app.get(&format!("{}/{wh}", webhooks_path(&is, &ch))).await.expect_error(404, 50320);
}

// ---------------------------------------------------------------------------
// Deliveries of a Chat-speaking configuration

#[actix_web::test]
async fn a_chat_speaking_service_delivers_chats_events_and_parameters() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let url = format!("{}/chat/post?tenant=7", receiver.base);
    configure_chat(
        &app,
        &is,
        &[("PostWebhookUrl", &url), ("WebhookFilters", "onMessageSent,onMemberAdded,onChannelAdded")],
    )
    .await;

    let channel = post_hooked(
        &app,
        &channels_path(&is),
        &[("FriendlyName", "Support"), ("UniqueName", "support"), ("CreatedBy", "ops")],
    )
    .await
    .expect(201);
    let ch = sid(&channel);
    let member = post_hooked(&app, &members_path(&is, &ch), &[("Identity", "alice")]).await.expect(201);
    let attributes = r#"{"k":[1,2]}"#;
    let message = post_hooked(
        &app,
        &messages_path(&is, &ch),
        &[("Body", "hello & welcome"), ("From", "alice"), ("Attributes", attributes)],
    )
    .await
    .expect(201);

    receiver.wait_for(3).await;
    let hits = receiver.settle(Duration::from_millis(300)).await;
    assert_eq!(event_types(&hits), ["onChannelAdded", "onMemberAdded", "onMessageSent"], "{hits:#?}");
    for hit in &hits {
        assert_eq!(hit.method, "POST");
        assert_eq!(hit.url, url);
        assert_eq!(hit.param("AccountSid"), Some(app.account.sid.as_str()));
        assert_eq!(hit.param("InstanceSid"), Some(is.as_str()));
        assert_eq!(hit.param("ChannelSid"), Some(ch.as_str()));
        assert_eq!(hit.param("Source"), Some("API"));
        assert_eq!(hit.param("RetryCount"), Some("0"));
        assert_eq!(hit.param("ClientIdentity"), None);
        assert_date_param(hit, "DateCreated");
        assert_speaks_chat(hit);
        assert_signed(&app, hit);
    }

    let sent = hit_of(&hits, "onMessageSent");
    assert_eq!(sent.param("MessageSid"), message["sid"].as_str());
    assert_eq!(sent.param("Index"), Some("0"));
    assert_eq!(sent.param("Body"), Some("hello & welcome"));
    assert_eq!(sent.param("From"), Some("alice"));
    assert_eq!(sent.param("Attributes"), message["attributes"].as_str());
    assert_eq!(sent.param("MediaSid"), None);

    let added = hit_of(&hits, "onMemberAdded");
    assert_eq!(added.param("MemberSid"), member["sid"].as_str());
    assert_eq!(added.param("Identity"), Some("alice"));
    assert_eq!(added.param("RoleSid"), member["role_sid"].as_str());
    assert_eq!(added.param("Reason"), Some("ADDED"));

    let created = hit_of(&hits, "onChannelAdded");
    assert_eq!(created.param("ChannelType"), Some("public"));
    assert_eq!(created.param("CreatedBy"), Some("ops"));
    assert_eq!(created.param("FriendlyName"), Some("Support"));
    assert_eq!(created.param("UniqueName"), Some("support"));
}

#[actix_web::test]
async fn rest_writes_without_the_header_fire_nothing_in_chat_either() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let url = format!("{}/h", receiver.base);
    configure_chat(&app, &is, &[("PostWebhookUrl", &url), ("WebhookFilters", "onMessageSent")]).await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    send(&app, &is, &ch, &[("Body", "quiet")]).await;
    post_hooked(&app, &messages_path(&is, &ch), &[("Body", "loud")]).await.expect(201);
    receiver.wait_for(1).await;
    let hits = receiver.settle(Duration::from_millis(300)).await;
    let bodies: Vec<_> = hits.iter().map(|h| h.param("Body").unwrap_or("")).collect();
    assert_eq!(bodies, ["loud"]);
}

#[actix_web::test]
async fn a_media_message_fires_on_media_message_sent_instead_of_on_message_sent() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let url = format!("{}/h", receiver.base);
    configure_chat(
        &app,
        &is,
        &[
            ("PostWebhookUrl", &url),
            ("WebhookFilters", "onMessageSent"),
            ("WebhookFilters", "onMediaMessageSent"),
        ],
    )
    .await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let bytes = b"\x89PNG a picture of a cat";
    let media = upload(&app, &is, bytes, "image/png", "cat.png").await;
    let me = sid(&media);
    let messages = messages_path(&is, &ch);
    let m = post_hooked(&app, &messages, &[("MediaSid", &me), ("Body", "look"), ("From", "alice")])
        .await
        .expect(201);
    post_hooked(&app, &messages, &[("Body", "plain"), ("From", "alice")]).await.expect(201);

    receiver.wait_for(2).await;
    let hits = receiver.settle(Duration::from_millis(300)).await;
    assert_eq!(event_types(&hits), ["onMediaMessageSent", "onMessageSent"], "{hits:#?}");
    let with_media = &hits[0];
    assert_eq!(with_media.param("MessageSid"), m["sid"].as_str());
    assert_eq!(with_media.param("ChannelSid"), Some(ch.as_str()));
    assert_eq!(with_media.param("InstanceSid"), Some(is.as_str()));
    assert_eq!(with_media.param("Index"), Some("0"));
    assert_eq!(with_media.param("Body"), Some("look"));
    assert_eq!(with_media.param("From"), Some("alice"));
    assert_eq!(with_media.param("MediaSid"), Some(me.as_str()));
    assert_eq!(with_media.param("MediaFilename"), Some("cat.png"));
    assert_eq!(with_media.param("MediaContentType"), Some("image/png"));
    assert_eq!(with_media.param("MediaSize"), Some(bytes.len().to_string().as_str()));
    assert_speaks_chat(with_media);
    assert_signed(&app, with_media);
    let text_only = &hits[1];
    assert_eq!(text_only.param("Body"), Some("plain"));
    assert_eq!(text_only.param("MediaSid"), None);
}

#[actix_web::test]
async fn on_message_sent_alone_is_not_called_for_media_messages() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let url = format!("{}/h", receiver.base);
    configure_chat(&app, &is, &[("PostWebhookUrl", &url), ("WebhookFilters", "onMessageSent")]).await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let media = upload(&app, &is, b"\x89PNG dog", "image/png", "dog.png").await;
    let messages = messages_path(&is, &ch);
    post_hooked(&app, &messages, &[("MediaSid", &sid(&media)), ("Body", "picture")]).await.expect(201);
    post_hooked(&app, &messages, &[("Body", "words")]).await.expect(201);
    receiver.wait_for(1).await;
    let hits = receiver.settle(Duration::from_millis(300)).await;
    assert_eq!(event_types(&hits), ["onMessageSent"], "{hits:#?}");
    assert_eq!(hits[0].param("Body"), Some("words"));
}

#[actix_web::test]
async fn a_channel_webhook_delivers_chat_parameters_with_its_sid_and_type() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[("UniqueName", "room")]).await);
    let url = format!("{}/channel?x=1", receiver.base);
    // The service's configuration is never written: the channel webhook alone speaks Chat.
    let wh = sid(&channel_webhook(&app, &is, "room", &url, &["onMessageSent"], &[]).await);
    let m =
        post_hooked(&app, &messages_path(&is, "room"), &[("Body", "hi"), ("From", "bob")]).await.expect(201);
    // Not in its filters.
    post_hooked(&app, &members_path(&is, &ch), &[("Identity", "bob")]).await.expect(201);

    receiver.wait_for(1).await;
    let hits = receiver.settle(Duration::from_millis(300)).await;
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let hit = &hits[0];
    assert_eq!(hit.url, url);
    assert_eq!(hit.param("EventType"), Some("onMessageSent"));
    assert_eq!(hit.param("WebhookSid"), Some(wh.as_str()));
    assert_eq!(hit.param("WebhookType"), Some("webhook"));
    assert_eq!(hit.param("AccountSid"), Some(app.account.sid.as_str()));
    assert_eq!(hit.param("InstanceSid"), Some(is.as_str()));
    assert_eq!(hit.param("ChannelSid"), Some(ch.as_str()));
    assert_eq!(hit.param("MessageSid"), m["sid"].as_str());
    assert_eq!(hit.param("Body"), Some("hi"));
    assert_eq!(hit.param("From"), Some("bob"));
    assert_eq!(hit.param("Source"), Some("API"));
    assert_eq!(hit.param("RetryCount"), Some("0"));
    assert_speaks_chat(hit);
    assert_signed(&app, hit);
}

#[actix_web::test]
async fn a_trigger_fires_only_on_its_keyword() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let url = format!("{}/trigger", receiver.base);
    let trigger = app
        .post(
            &webhooks_path(&is, &ch),
            &[("Type", "trigger"), ("Configuration.Url", &url), ("Configuration.Triggers", "help")],
        )
        .await
        .expect(201);
    let messages = messages_path(&is, &ch);
    for body in ["hello", "helpful tips", "I need HELP now", "no keyword here"] {
        post_hooked(&app, &messages, &[("Body", body)]).await.expect(201);
    }
    receiver.wait_for(1).await;
    let hits = receiver.settle(Duration::from_millis(400)).await;
    let bodies: Vec<_> = hits.iter().map(|h| h.param("Body").unwrap_or("")).collect();
    assert_eq!(bodies, ["I need HELP now"], "{hits:#?}");
    let hit = &hits[0];
    assert_eq!(hit.param("EventType"), Some("onMessageSent"));
    assert_eq!(hit.param("WebhookType"), Some("trigger"));
    assert_eq!(hit.param("WebhookSid"), trigger["sid"].as_str());
    assert_eq!(hit.param("ChannelSid"), Some(ch.as_str()));
    assert_speaks_chat(hit);
    assert_signed(&app, hit);
}

#[actix_web::test]
async fn a_channel_webhooks_retry_count_bounds_its_attempts() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    receiver.answer(&[500; 8]);
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let url = format!("{}/failing", receiver.base);
    channel_webhook(&app, &is, &ch, &url, &["onMessageSent"], &[("Configuration.RetryCount", "1")]).await;
    post_hooked(&app, &messages_path(&is, &ch), &[("Body", "again and again")]).await.expect(201);

    receiver.wait_for(2).await;
    assert_eq!(drained(&app).await, 0, "given up after RetryCount + 1 attempts: {:#?}", receiver.hits());
    let hits = receiver.settle(Duration::from_millis(500)).await;
    assert_eq!(hits.len(), 2, "{hits:#?}");
    let counts: Vec<_> = hits.iter().map(|h| h.param("RetryCount").unwrap_or("")).collect();
    assert_eq!(counts, ["0", "1"]);
    assert_eq!(hits[0].idempotency_token, hits[1].idempotency_token);
}

#[actix_web::test]
async fn a_services_post_webhook_retry_count_bounds_its_attempts() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    receiver.answer(&[503; 8]);
    let is = app.default_service().await;
    let url = format!("{}/failing", receiver.base);
    configure_chat(
        &app,
        &is,
        &[("PostWebhookUrl", &url), ("WebhookFilters", "onMessageSent"), ("PostWebhookRetryCount", "2")],
    )
    .await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    post_hooked(&app, &messages_path(&is, &ch), &[("Body", "again")]).await.expect(201);

    receiver.wait_for(3).await;
    assert_eq!(drained(&app).await, 0, "given up after 3 attempts: {:#?}", receiver.hits());
    let hits = receiver.settle(Duration::from_millis(500)).await;
    let counts: Vec<_> = hits.iter().map(|h| h.param("RetryCount").unwrap_or("")).collect();
    assert_eq!(counts, ["0", "1", "2"], "{hits:#?}");
}

#[actix_web::test]
async fn an_end_user_joining_is_reason_joined_and_an_account_adding_is_added() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let url = format!("{}/members", receiver.base);
    configure_chat(&app, &is, &[("PostWebhookUrl", &url), ("WebhookFilters", "onMemberAdded")]).await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let alice = alice_token(&app).await;
    let joined =
        app.as_user(&alice, "POST", &members_path(&is, &ch), &[("Identity", "alice")]).await.expect(201);
    receiver.wait_for(1).await;
    let bob = post_hooked(&app, &members_path(&is, &ch), &[("Identity", "bob")]).await.expect(201);

    receiver.wait_for(2).await;
    let hits = receiver.settle(Duration::from_millis(300)).await;
    assert_eq!(event_types(&hits), ["onMemberAdded", "onMemberAdded"], "{hits:#?}");
    let own = &hits[0];
    assert_eq!(own.param("MemberSid"), joined["sid"].as_str());
    assert_eq!(own.param("Identity"), Some("alice"));
    assert_eq!(own.param("Reason"), Some("JOINED"));
    assert_eq!(own.param("ClientIdentity"), Some("alice"));
    assert_eq!(own.param("Source"), Some("SDK"));
    assert_eq!(own.param("ChannelSid"), Some(ch.as_str()));
    assert_speaks_chat(own);
    assert_signed(&app, own);
    let added = &hits[1];
    assert_eq!(added.param("MemberSid"), bob["sid"].as_str());
    assert_eq!(added.param("Reason"), Some("ADDED"));
    assert_eq!(added.param("ClientIdentity"), None);
    assert_eq!(added.param("Source"), Some("API"));
}

#[actix_web::test]
async fn configuring_through_v1_again_makes_deliveries_speak_conversations() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let url = format!("{}/h", receiver.base);
    configure_chat(&app, &is, &[("PostWebhookUrl", &url), ("WebhookFilters", "onMessageSent")]).await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let messages = messages_path(&is, &ch);
    post_hooked(&app, &messages, &[("Body", "in chat"), ("From", "alice")]).await.expect(201);
    let hits = receiver.wait_for(1).await;
    assert_eq!(hits[0].param("EventType"), Some("onMessageSent"));
    assert_eq!(hits[0].param("InstanceSid"), Some(is.as_str()));

    app.post(&v1_config_path(&is), &[("PostWebhookUrl", &url), ("Filters", "onMessageAdded")])
        .await
        .expect(200);
    post_hooked(&app, &messages, &[("Body", "in conversations"), ("From", "alice")]).await.expect(201);
    receiver.wait_for(2).await;
    let hits = receiver.settle(Duration::from_millis(300)).await;
    assert_eq!(hits.len(), 2, "{hits:#?}");
    let hit = &hits[1];
    assert_eq!(hit.param("EventType"), Some("onMessageAdded"));
    assert_eq!(hit.param("Body"), Some("in conversations"));
    assert_eq!(hit.param("ConversationSid"), Some(ch.as_str()));
    assert_eq!(hit.param("ChatServiceSid"), Some(is.as_str()));
    assert_eq!(hit.param("Author"), Some("alice"));
    assert_eq!(hit.param("InstanceSid"), None);
    assert_eq!(hit.param("ChannelSid"), None);
    assert_eq!(hit.param("From"), None);
    assert_signed(&app, hit);
    // Chat still reads the one filter in its names.
    assert_eq!(
        sorted(&fetch_service(&app, &is).await["webhook_filters"]),
        sorted_strs(&["onMessageSent", "onMediaMessageSent"])
    );
}

// ---------------------------------------------------------------------------
// Pre-event webhooks of a Chat-speaking configuration (end users' actions)

/// The default service's pre-event webhook at `url` through /v2 with
/// `form` added; a channel with alice in it; alice's token.
async fn pre_setup(app: &TestApp, url: &str, form: &[(&str, &str)]) -> (String, String, String) {
    let is = app.default_service().await;
    let mut all = vec![("PreWebhookUrl", url)];
    all.extend_from_slice(form);
    configure_chat(app, &is, &all).await;
    let ch = sid(&create_channel(app, &is, &[]).await);
    add_member(app, &is, &ch, "alice").await;
    let alice = alice_token(app).await;
    (is, ch, alice)
}

#[actix_web::test]
async fn a_chat_pre_webhook_sees_the_proposed_message_and_a_refusal_rejects_it() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let url = format!("{}/pre?x=1", receiver.base);
    let (is, ch, alice) = pre_setup(&app, &url, &[("WebhookFilters", "onMessageSend")]).await;
    let messages = messages_path(&is, &ch);

    receiver.answer(&[403]);
    let refused = app.as_user(&alice, "POST", &messages, &[("Body", "spam")]).await;
    expect_status_error(refused, 403);
    let listed = app.get(&messages).await.expect(200);
    assert!(list(&listed, "messages").is_empty(), "no message was created: {listed}");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let hit = &hits[0];
    assert_eq!(hit.url, url);
    assert_eq!(hit.param("EventType"), Some("onMessageSend"));
    assert_eq!(hit.param("AccountSid"), Some(app.account.sid.as_str()));
    assert_eq!(hit.param("InstanceSid"), Some(is.as_str()));
    assert_eq!(hit.param("ChannelSid"), Some(ch.as_str()));
    assert_eq!(hit.param("Body"), Some("spam"));
    assert_eq!(hit.param("From"), Some("alice"));
    assert_eq!(hit.param("ClientIdentity"), Some("alice"));
    assert_eq!(hit.param("Source"), Some("SDK"));
    assert_eq!(hit.param("MessageSid"), None, "not created yet");
    assert_speaks_chat(hit);
    assert_signed(&app, hit);

    // Account credentials never call it.
    send(&app, &is, &ch, &[("Body", "from the backend")]).await;
    assert_eq!(receiver.hits().len(), 1);
}

#[actix_web::test]
async fn a_chat_pre_webhook_can_change_the_body() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let url = format!("{}/pre", receiver.base);
    let (is, ch, alice) = pre_setup(&app, &url, &[("WebhookFilters", "onMessageSend")]).await;
    let messages = messages_path(&is, &ch);
    receiver.answer_with(200, r#"{"body": "changed"}"#);
    let sent = app.as_user(&alice, "POST", &messages, &[("Body", "original")]).await.expect(201);
    assert_eq!(sent["body"], "changed");
    assert_eq!(sent["from"], "alice");
    assert_eq!(app.get(&format!("{messages}/{}", sid(&sent))).await.expect(200)["body"], "changed");
    assert_eq!(receiver.hits()[0].param("Body"), Some("original"));
}

#[actix_web::test]
async fn a_chat_pre_webhook_is_called_only_for_its_chat_filters() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let url = format!("{}/pre", receiver.base);
    let (is, ch, alice) = pre_setup(&app, &url, &[("WebhookFilters", "onMediaMessageSend")]).await;
    let messages = messages_path(&is, &ch);
    // Text is onMessageSend: not in the filters.
    app.as_user(&alice, "POST", &messages, &[("Body", "just text")]).await.expect(201);
    assert!(receiver.hits().is_empty(), "{:#?}", receiver.hits());
    // Media is onMediaMessageSend.
    let media = upload_as_user(&app, &alice, &is, b"\x89PNG alice's", "a.png").await;
    app.as_user(&alice, "POST", &messages, &[("MediaSid", &sid(&media)), ("Body", "look")]).await.expect(201);
    let hits = receiver.hits();
    assert_eq!(event_types(&hits), ["onMediaMessageSend"], "{hits:#?}");
    assert_eq!(hits[0].param("ClientIdentity"), Some("alice"));
    assert_eq!(hits[0].param("ChannelSid"), Some(ch.as_str()));
}

#[actix_web::test]
async fn a_pre_webhook_retry_count_tries_a_503_again_before_rejecting() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let url = format!("{}/pre", receiver.base);
    let (is, ch, alice) =
        pre_setup(&app, &url, &[("WebhookFilters", "onMessageSend"), ("PreWebhookRetryCount", "1")]).await;
    let messages = messages_path(&is, &ch);

    // One 503, then 200: the second try lets it through.
    receiver.answer(&[503]);
    app.as_user(&alice, "POST", &messages, &[("Body", "second try")]).await.expect(201);
    assert_eq!(receiver.hits().len(), 2, "{:#?}", receiver.hits());

    // 503 twice: out of tries, rejected.
    receiver.answer(&[503, 503]);
    let refused = app.as_user(&alice, "POST", &messages, &[("Body", "never")]).await;
    expect_status_error(refused, 403);
    assert_eq!(receiver.hits().len(), 4, "{:#?}", receiver.hits());
    let listed = app.get(&messages).await.expect(200);
    let bodies: Vec<_> = list(&listed, "messages").iter().map(|m| text(&m["body"])).collect();
    assert_eq!(bodies, ["second try"]);
}

/// A delivery that cannot be signed yet (an account from before Auth
/// Tokens were sealed, until its token is next used) is not an attempt:
/// a Chat webhook with no retries keeps it until it can be sent.
#[actix_web::test]
async fn a_chat_delivery_that_cannot_be_signed_yet_is_kept() {
    use confab::testing::schema::accounts;
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let ch = sid(&create_channel(&app, &is, &[]).await);
    let url = format!("{}/later", receiver.base);
    channel_webhook(&app, &is, &ch, &url, &["onMessageSent"], &[("Configuration.RetryCount", "0")]).await;
    let account = app.account.sid.clone();
    confab::testing::transaction(&app.state.db, move |conn| {
        diesel::update(accounts::table.filter(accounts::sid.eq(account)))
            .set((
                accounts::auth_token_key_id.eq(None::<String>),
                accounts::auth_token_sealed.eq(None::<Vec<u8>>),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .expect("forget the sealed token");
    post_hooked(&app, &messages_path(&is, &ch), &[("Body", "signed later")]).await.expect(201);
    // Many rounds of the deliverer (its retry base is 50 ms here).
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.hits().is_empty(), "{:#?}", receiver.hits());
    assert_eq!(confab::testing::pending_deliveries(&app.state.db).await, 1, "kept, not given up");
}

/// A pre-event answer names the author as the webhook's API does: `From`
/// for one that speaks Chat; a Conversations one changes it by `Author`
/// only.
#[actix_web::test]
async fn a_pre_webhook_renames_the_author_in_its_own_api_only() {
    let app = hooked_app(|_| {}).await;
    let receiver = Receiver::start().await;
    let url = format!("{}/pre", receiver.base);
    let (is, ch, alice) = pre_setup(&app, &url, &[("WebhookFilters", "onMessageSend")]).await;
    let messages = messages_path(&is, &ch);
    receiver.answer_with(200, r#"{"from": "alice (moderated)"}"#);
    let sent = app.as_user(&alice, "POST", &messages, &[("Body", "hi")]).await.expect(201);
    assert_eq!(sent["from"], "alice (moderated)");

    let v1 = [("PreWebhookUrl", url.as_str()), ("Filters", "onMessageAdd")];
    app.post(&v1_config_path(&is), &v1).await.expect(200);
    receiver.answer_with(200, r#"{"From": "someone else"}"#);
    let sent = app.as_user(&alice, "POST", &messages, &[("Body", "hi again")]).await.expect(201);
    assert_eq!(sent["from"], "alice", "a Conversations webhook's From is not its Author");
    assert_eq!(receiver.hits().last().and_then(|h| h.param("EventType")), Some("onMessageAdd"));
}

/// What to call and when decides the API a configuration speaks: a change
/// of method alone through `/v1` keeps a Chat configuration speaking Chat.
#[actix_web::test]
async fn a_method_change_through_v1_keeps_a_chat_configuration_speaking_chat() {
    let app = hooked_app(|_| {}).await;
    let _background = confab::testing::start_background(&app.state);
    let receiver = Receiver::start().await;
    let is = app.default_service().await;
    let url = format!("{}/post", receiver.base);
    configure_chat(&app, &is, &[("PostWebhookUrl", &url), ("WebhookFilters", "onMessageSent")]).await;
    let v1 = app.post(&v1_config_path(&is), &[("Method", "GET")]).await.expect(200);
    assert_eq!(v1["filters"], serde_json::json!(["onMessageAdded"]));
    let service = app.get(&service_path(&is)).await.expect(200);
    assert_eq!(service["webhook_filters"], serde_json::json!(["onMessageSent"]), "not widened");
    let ch = sid(&create_channel(&app, &is, &[]).await);
    post_hooked(&app, &messages_path(&is, &ch), &[("Body", "by GET")]).await.expect(201);
    let hits = receiver.wait_for(1).await;
    assert_eq!(hits[0].method, "GET");
    assert!(hits[0].url.contains("EventType=onMessageSent"), "{}", hits[0].url);
}
