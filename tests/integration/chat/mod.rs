//! Programmable Chat v2 (`/v2/Services/…`) over the rows Conversations v1
//! keeps: Services, Channels, Members, Messages (with media), Roles, Users
//! and a user's Channels. Wire shapes (every field of the reference's
//! Appendix B), absolute `/v2` URLs, aliases (unique name, identity), paging,
//! Chat's error codes, the limits, end users with access tokens, and the
//! same rows read and written through /v1 (and v3's channel update);
//! Chat's webhooks (the service's fields, channel webhooks, deliveries);
//! push credentials and push registrations (Bindings).

mod bindings;
mod channels;
mod credentials;
mod cross_api;
mod invites;
mod members;
mod messages;
mod roles;
mod services;
mod users;
mod webhooks;

use std::collections::HashMap;

use actix_web::test;
use serde_json::{Value, json};

use crate::util::{Resp, TestApp, assert_keys, assert_twilio_date, bearer};

/// The public URL of the in-process app.
const HOST: &str = "http://localhost";

const SERVICE_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "friendly_name",
    "date_created",
    "date_updated",
    "default_service_role_sid",
    "default_channel_role_sid",
    "default_channel_creator_role_sid",
    "read_status_enabled",
    "reachability_enabled",
    "typing_indicator_timeout",
    "consumption_report_interval",
    "limits",
    "pre_webhook_url",
    "post_webhook_url",
    "webhook_method",
    "webhook_filters",
    "pre_webhook_retry_count",
    "post_webhook_retry_count",
    "notifications",
    "media",
    "url",
    "links",
];

const CHANNEL_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "service_sid",
    "friendly_name",
    "unique_name",
    "attributes",
    "type",
    "date_created",
    "date_updated",
    "created_by",
    "members_count",
    "messages_count",
    "url",
    "links",
];

/// v3's channel: no `links`, plus `messaging_service_sid`.
const V3_CHANNEL_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "service_sid",
    "friendly_name",
    "unique_name",
    "attributes",
    "type",
    "date_created",
    "date_updated",
    "created_by",
    "members_count",
    "messages_count",
    "messaging_service_sid",
    "url",
];

const MEMBER_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "channel_sid",
    "service_sid",
    "identity",
    "date_created",
    "date_updated",
    "role_sid",
    "last_consumed_message_index",
    "last_consumption_timestamp",
    "url",
    "attributes",
];

const MESSAGE_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "attributes",
    "service_sid",
    "to",
    "channel_sid",
    "date_created",
    "date_updated",
    "last_updated_by",
    "was_edited",
    "from",
    "body",
    "index",
    "type",
    "media",
    "url",
];

/// A message's one media object.
const MEDIA_KEYS: &[&str] = &["sid", "size", "content_type", "filename"];

const ROLE_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "service_sid",
    "friendly_name",
    "type",
    "permissions",
    "date_created",
    "date_updated",
    "url",
];

const USER_KEYS: &[&str] = &[
    "sid",
    "account_sid",
    "service_sid",
    "attributes",
    "friendly_name",
    "role_sid",
    "identity",
    "is_online",
    "is_notifiable",
    "date_created",
    "date_updated",
    "joined_channels_count",
    "links",
    "url",
];

const USER_CHANNEL_KEYS: &[&str] = &[
    "account_sid",
    "service_sid",
    "channel_sid",
    "user_sid",
    "member_sid",
    "status",
    "last_consumed_message_index",
    "unread_messages_count",
    "links",
    "url",
    "notification_level",
];

/// Chat's permission names and Conversations v1's, where they differ.
const RENAMED_PERMISSIONS: [(&str, &str); 8] = [
    ("createChannel", "createConversation"),
    ("joinChannel", "joinConversation"),
    ("destroyChannel", "deleteConversation"),
    ("editChannelName", "editConversationName"),
    ("editChannelAttributes", "editConversationAttributes"),
    ("addMember", "addParticipant"),
    ("removeMember", "removeParticipant"),
    ("leaveChannel", "leaveConversation"),
];

// ---------------------------------------------------------------------------
// Values

#[track_caller]
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_owned()
}

#[track_caller]
fn sid(v: &Value) -> String {
    v["sid"].as_str().unwrap_or_else(|| panic!("no sid: {v}")).to_owned()
}

fn is_sid(v: &Value, prefix: &str) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

/// A string array as a sorted list.
#[track_caller]
fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|p| p.as_str().unwrap_or_else(|| panic!("not a string: {p}")).to_owned())
        .collect();
    out.sort();
    out
}

fn sorted_strs(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}

fn sids(items: &[Value]) -> Vec<String> {
    items.iter().map(sid).collect()
}

/// Conversations v1's name of a Chat permission.
fn v1_permission(chat: &str) -> &str {
    RENAMED_PERMISSIONS.iter().find(|(c, _)| *c == chat).map_or(chat, |&(_, v1)| v1)
}

/// Chat's name of a Conversations v1 permission.
fn chat_permission(v1: &str) -> &str {
    RENAMED_PERMISSIONS.iter().find(|(_, v)| *v == v1).map_or(v1, |&(chat, _)| chat)
}

/// A string or null.
fn string_or_null(v: &Value) -> bool {
    v.is_string() || v.is_null()
}

// ---------------------------------------------------------------------------
// Paths (request paths; URLs in responses are `HOST` + these)

fn service_path(service: &str) -> String {
    format!("/v2/Services/{service}")
}

fn channels_path(service: &str) -> String {
    format!("/v2/Services/{service}/Channels")
}

/// `channel` is a CH SID or a unique name.
fn channel_path(service: &str, channel: &str) -> String {
    format!("/v2/Services/{service}/Channels/{channel}")
}

fn members_path(service: &str, channel: &str) -> String {
    format!("/v2/Services/{service}/Channels/{channel}/Members")
}

fn messages_path(service: &str, channel: &str) -> String {
    format!("/v2/Services/{service}/Channels/{channel}/Messages")
}

fn roles_path(service: &str) -> String {
    format!("/v2/Services/{service}/Roles")
}

fn users_path(service: &str) -> String {
    format!("/v2/Services/{service}/Users")
}

/// `user` is a US SID or an identity.
fn user_channels_path(service: &str, user: &str) -> String {
    format!("/v2/Services/{service}/Users/{user}/Channels")
}

// ---------------------------------------------------------------------------
// Set-up through /v2 with account credentials

async fn create_service(app: &TestApp, name: &str) -> Value {
    app.post("/v2/Services", &[("FriendlyName", name)]).await.expect(201)
}

async fn fetch_service(app: &TestApp, service: &str) -> Value {
    app.get(&service_path(service)).await.expect(200)
}

async fn create_channel(app: &TestApp, service: &str, form: &[(&str, &str)]) -> Value {
    app.post(&channels_path(service), form).await.expect(201)
}

async fn add_member(app: &TestApp, service: &str, channel: &str, identity: &str) -> Value {
    app.post(&members_path(service, channel), &[("Identity", identity)]).await.expect(201)
}

async fn send(app: &TestApp, service: &str, channel: &str, form: &[(&str, &str)]) -> Value {
    app.post(&messages_path(service, channel), form).await.expect(201)
}

async fn create_role(app: &TestApp, service: &str, name: &str, kind: &str, perms: &[&str]) -> Value {
    let mut form = vec![("FriendlyName", name), ("Type", kind)];
    form.extend(perms.iter().map(|p| ("Permission", *p)));
    app.post(&roles_path(service), &form).await.expect(201)
}

/// The service's roles through /v2, by friendly name.
async fn roles_by_name(app: &TestApp, service: &str) -> HashMap<String, Value> {
    let body = app.get(&roles_path(service)).await.expect(200);
    list(&body, "roles").iter().map(|r| (text(&r["friendly_name"]), r.clone())).collect()
}

/// The items of one list page, checking `meta.key`.
#[track_caller]
fn list<'a>(body: &'a Value, key: &str) -> &'a Vec<Value> {
    assert_eq!(body["meta"]["key"], key, "{body}");
    body[key].as_array().unwrap_or_else(|| panic!("no {key} array: {body}"))
}

/// Every item of a list, following `meta.next_page_url` verbatim until it
/// is null; also each page's `meta`.
async fn walk(app: &TestApp, first: &str, key: &str) -> (Vec<Value>, Vec<Value>) {
    let mut items = Vec::new();
    let mut metas = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        items.extend(list(&body, key).iter().cloned());
        let meta = body["meta"].clone();
        if let Some(url) = meta["next_page_url"].as_str() {
            assert!(url.starts_with(&format!("{HOST}/v2/")), "absolute /v2 URL: {url}");
        }
        next = meta["next_page_url"].as_str().map(TestApp::path_of);
        metas.push(meta);
        assert!(metas.len() < 100, "paging does not end");
    }
    assert!(metas[0]["previous_page_url"].is_null(), "{}", metas[0]);
    (items, metas)
}

// ---------------------------------------------------------------------------
// Media

/// A raw upload to the Media Content Service as `auth` (Basic or Bearer).
async fn upload_as(
    app: &TestApp,
    auth: &str,
    service: &str,
    bytes: &[u8],
    content_type: &str,
    filename: &str,
) -> Resp {
    let srv = test::init_service(confab::app::build(app.state.clone())).await;
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("Filename", filename).finish();
    let req = test::TestRequest::post()
        .uri(&format!("/v1/Services/{service}/Media?{query}"))
        .insert_header(("Authorization", auth))
        .insert_header(("Content-Type", content_type))
        .set_payload(bytes.to_vec());
    let res = test::call_service(&srv, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let raw = test::read_body(res).await.to_vec();
    let body = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
    Resp { status, headers, body, raw }
}

/// Uploads as the account; returns the Media JSON.
async fn upload(app: &TestApp, service: &str, bytes: &[u8], content_type: &str, filename: &str) -> Value {
    upload_as(app, &app.account.basic(), service, bytes, content_type, filename).await.expect(201)
}

/// Uploads as an end user (access token).
async fn upload_as_user(app: &TestApp, token: &str, service: &str, bytes: &[u8], filename: &str) -> Value {
    upload_as(app, &bearer(token), service, bytes, "image/png", filename).await.expect(201)
}

/// The Media JSON through the Media Content Service.
async fn media_json(app: &TestApp, service: &str, media: &str) -> Value {
    app.get(&format!("/v1/Services/{service}/Media/{media}")).await.expect(200)
}

/// Chat's media object for an uploaded Media JSON.
fn chat_media(m: &Value) -> Value {
    json!({
        "sid": m["sid"],
        "size": m["size"],
        "content_type": m["content_type"],
        "filename": m["filename"],
    })
}

// ---------------------------------------------------------------------------
// Errors

/// A Twilio error body with this HTTP status, whatever the code (where the
/// decisions fix the status only).
#[track_caller]
fn expect_status_error(resp: Resp, status: u16) -> Value {
    let body = resp.expect(status);
    assert_eq!(body["status"], status, "error body: {body}");
    assert!(body["code"].is_u64(), "error body: {body}");
    assert!(!message(&body).is_empty(), "error body: {body}");
    body
}

/// 404 code 50300 naming the channel's path without `/v2`: exactly
/// `/Services/{IS}/Channels/{channel}`, or (for a request below it) that
/// path followed by the rest of the request path.
#[track_caller]
fn channel_not_found(resp: Resp, service: &str, channel: &str) {
    let body = resp.expect_error(404, 50300);
    let prefix = format!("The requested resource /Services/{service}/Channels/{channel}");
    let rest = message(&body).strip_prefix(&prefix).unwrap_or_else(|| panic!("{prefix}…: {body}"));
    let below = rest.strip_suffix(" was not found").unwrap_or_else(|| panic!("… was not found: {body}"));
    assert!(below.is_empty() || below.starts_with('/'), "{body}");
}

// ---------------------------------------------------------------------------
// Shapes

#[track_caller]
fn assert_service(s: &Value, account: &str) {
    assert_keys(s, SERVICE_KEYS);
    assert!(is_sid(&s["sid"], "IS"), "{s}");
    let service = text(&s["sid"]);
    assert_eq!(s["account_sid"], account, "{s}");
    assert!(s["friendly_name"].is_string(), "{s}");
    assert_twilio_date(&s["date_created"]);
    assert_twilio_date(&s["date_updated"]);
    for key in ["default_service_role_sid", "default_channel_role_sid", "default_channel_creator_role_sid"] {
        assert!(is_sid(&s[key], "RL"), "{key}: {s}");
    }
    assert!(s["read_status_enabled"].is_boolean(), "{s}");
    assert!(s["reachability_enabled"].is_boolean(), "{s}");
    for key in [
        "typing_indicator_timeout",
        "consumption_report_interval",
        "pre_webhook_retry_count",
        "post_webhook_retry_count",
    ] {
        assert!(s[key].is_u64(), "{key}: {s}");
    }
    assert_keys(&s["limits"], &["channel_members", "user_channels"]);
    assert!(s["limits"]["channel_members"].is_u64(), "{s}");
    assert!(s["limits"]["user_channels"].is_u64(), "{s}");
    assert!(string_or_null(&s["pre_webhook_url"]), "{s}");
    assert!(string_or_null(&s["post_webhook_url"]), "{s}");
    assert!(string_or_null(&s["webhook_method"]), "{s}");
    assert!(s["webhook_filters"].is_array() || s["webhook_filters"].is_null(), "{s}");
    assert!(s["notifications"].is_object(), "{s}");
    assert_keys(&s["media"], &["size_limit_mb", "compatibility_message"]);
    assert!(s["media"]["size_limit_mb"].is_u64(), "{s}");
    assert!(string_or_null(&s["media"]["compatibility_message"]), "{s}");
    let url = format!("{HOST}/v2/Services/{service}");
    assert_eq!(s["url"], url, "{s}");
    assert_keys(&s["links"], &["channels", "users", "roles", "bindings"]);
    for (key, tail) in
        [("channels", "Channels"), ("users", "Users"), ("roles", "Roles"), ("bindings", "Bindings")]
    {
        assert_eq!(s["links"][key], format!("{url}/{tail}"), "links.{key}");
    }
}

#[track_caller]
fn assert_channel(c: &Value, service: &str) {
    assert_keys(c, CHANNEL_KEYS);
    assert!(is_sid(&c["sid"], "CH"), "{c}");
    let ch = text(&c["sid"]);
    assert!(is_sid(&c["account_sid"], "AC"), "{c}");
    assert_eq!(c["service_sid"], service, "{c}");
    assert!(string_or_null(&c["friendly_name"]), "{c}");
    assert!(string_or_null(&c["unique_name"]), "{c}");
    assert!(string_or_null(&c["attributes"]), "{c}");
    assert!(c["type"] == "public" || c["type"] == "private", "{c}");
    assert_twilio_date(&c["date_created"]);
    assert_twilio_date(&c["date_updated"]);
    assert!(c["created_by"].is_string(), "{c}");
    assert!(c["members_count"].is_u64(), "{c}");
    assert!(c["messages_count"].is_u64(), "{c}");
    let url = format!("{HOST}/v2/Services/{service}/Channels/{ch}");
    assert_eq!(c["url"], url, "{c}");
    assert_keys(&c["links"], &["members", "messages", "invites", "webhooks", "last_message"]);
    for (key, tail) in
        [("members", "Members"), ("messages", "Messages"), ("invites", "Invites"), ("webhooks", "Webhooks")]
    {
        assert_eq!(c["links"][key], format!("{url}/{tail}"), "links.{key}");
    }
    let last = &c["links"]["last_message"];
    assert!(
        last.is_null() || last.as_str().is_some_and(|l| l.starts_with(&format!("{url}/Messages/IM"))),
        "links.last_message: {c}"
    );
}

/// `channel` is the CH SID.
#[track_caller]
fn assert_member(m: &Value, service: &str, channel: &str) {
    assert_keys(m, MEMBER_KEYS);
    assert!(is_sid(&m["sid"], "MB"), "{m}");
    let mb = text(&m["sid"]);
    assert!(is_sid(&m["account_sid"], "AC"), "{m}");
    assert_eq!(m["channel_sid"], channel, "{m}");
    assert_eq!(m["service_sid"], service, "{m}");
    assert!(m["identity"].is_string(), "{m}");
    assert_twilio_date(&m["date_created"]);
    assert_twilio_date(&m["date_updated"]);
    assert!(is_sid(&m["role_sid"], "RL"), "{m}");
    assert!(m["last_consumed_message_index"].is_null() || m["last_consumed_message_index"].is_i64(), "{m}");
    if !m["last_consumption_timestamp"].is_null() {
        assert_twilio_date(&m["last_consumption_timestamp"]);
    }
    assert!(string_or_null(&m["attributes"]), "{m}");
    assert_eq!(m["url"], format!("{HOST}/v2/Services/{service}/Channels/{channel}/Members/{mb}"), "{m}");
}

/// `channel` is the CH SID.
#[track_caller]
fn assert_message(m: &Value, service: &str, channel: &str) {
    assert_keys(m, MESSAGE_KEYS);
    assert!(is_sid(&m["sid"], "IM"), "{m}");
    let im = text(&m["sid"]);
    assert!(is_sid(&m["account_sid"], "AC"), "{m}");
    assert!(string_or_null(&m["attributes"]), "{m}");
    assert_eq!(m["service_sid"], service, "{m}");
    assert_eq!(m["to"], channel, "{m}");
    assert_eq!(m["channel_sid"], channel, "{m}");
    assert_twilio_date(&m["date_created"]);
    assert_twilio_date(&m["date_updated"]);
    assert!(string_or_null(&m["last_updated_by"]), "{m}");
    assert!(m["was_edited"].is_boolean(), "{m}");
    assert!(m["from"].is_string(), "{m}");
    assert!(string_or_null(&m["body"]), "{m}");
    assert!(m["index"].is_u64(), "{m}");
    if m["media"].is_null() {
        assert_eq!(m["type"], "text", "{m}");
    } else {
        assert_eq!(m["type"], "media", "{m}");
        assert_keys(&m["media"], MEDIA_KEYS);
        assert!(is_sid(&m["media"]["sid"], "ME"), "{m}");
        assert!(m["media"]["size"].is_u64(), "{m}");
    }
    assert_eq!(m["url"], format!("{HOST}/v2/Services/{service}/Channels/{channel}/Messages/{im}"), "{m}");
}

#[track_caller]
fn assert_role(r: &Value, service: &str) {
    assert_keys(r, ROLE_KEYS);
    assert!(is_sid(&r["sid"], "RL"), "{r}");
    let rl = text(&r["sid"]);
    assert!(is_sid(&r["account_sid"], "AC"), "{r}");
    assert_eq!(r["service_sid"], service, "{r}");
    assert!(r["friendly_name"].is_string(), "{r}");
    assert!(r["type"] == "channel" || r["type"] == "deployment", "{r}");
    assert!(r["permissions"].as_array().is_some_and(|p| p.iter().all(Value::is_string)), "{r}");
    assert_twilio_date(&r["date_created"]);
    assert_twilio_date(&r["date_updated"]);
    assert_eq!(r["url"], format!("{HOST}/v2/Services/{service}/Roles/{rl}"), "{r}");
}

#[track_caller]
fn assert_user(u: &Value, service: &str) {
    assert_keys(u, USER_KEYS);
    assert!(is_sid(&u["sid"], "US"), "{u}");
    let us = text(&u["sid"]);
    assert!(is_sid(&u["account_sid"], "AC"), "{u}");
    assert_eq!(u["service_sid"], service, "{u}");
    assert!(string_or_null(&u["attributes"]), "{u}");
    assert!(string_or_null(&u["friendly_name"]), "{u}");
    assert!(is_sid(&u["role_sid"], "RL"), "{u}");
    assert!(u["identity"].is_string(), "{u}");
    assert!(u["is_online"].is_null(), "reachability is off: {u}");
    assert!(u["is_notifiable"].is_null(), "reachability is off: {u}");
    assert_twilio_date(&u["date_created"]);
    assert_twilio_date(&u["date_updated"]);
    assert!(u["joined_channels_count"].is_u64(), "{u}");
    let url = format!("{HOST}/v2/Services/{service}/Users/{us}");
    assert_eq!(u["url"], url, "{u}");
    assert_keys(&u["links"], &["user_channels", "user_bindings"]);
    assert_eq!(u["links"]["user_channels"], format!("{url}/Channels"), "{u}");
    assert_eq!(u["links"]["user_bindings"], format!("{url}/Bindings"), "{u}");
}

/// `user` and `channel` are the US and CH SIDs.
#[track_caller]
fn assert_user_channel(uc: &Value, service: &str, user: &str, channel: &str) {
    assert_keys(uc, USER_CHANNEL_KEYS);
    assert!(is_sid(&uc["account_sid"], "AC"), "{uc}");
    assert_eq!(uc["service_sid"], service, "{uc}");
    assert_eq!(uc["channel_sid"], channel, "{uc}");
    assert_eq!(uc["user_sid"], user, "{uc}");
    assert!(is_sid(&uc["member_sid"], "MB"), "{uc}");
    let mb = text(&uc["member_sid"]);
    assert_eq!(uc["status"], "joined", "{uc}");
    assert!(
        uc["last_consumed_message_index"].is_null() || uc["last_consumed_message_index"].is_i64(),
        "{uc}"
    );
    assert!(uc["unread_messages_count"].is_null() || uc["unread_messages_count"].is_u64(), "{uc}");
    assert!(uc["notification_level"] == "default" || uc["notification_level"] == "muted", "{uc}");
    assert_eq!(uc["url"], format!("{HOST}/v2/Services/{service}/Users/{user}/Channels/{channel}"), "{uc}");
    assert_keys(&uc["links"], &["channel", "member"]);
    let channel_url = format!("{HOST}/v2/Services/{service}/Channels/{channel}");
    assert_eq!(uc["links"]["channel"], channel_url, "{uc}");
    assert_eq!(uc["links"]["member"], format!("{channel_url}/Members/{mb}"), "{uc}");
}
