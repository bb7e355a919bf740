//! The Media Content Service: uploads (raw and multipart, declared and
//! chunked), the Media JSON, downloads with Basic auth and through signed
//! temporary URLs, byte ranges and download headers, encryption at rest and
//! tampering, limits, attaching by `MediaSid`, cascades, the collector and
//! `MediaSet`.
//!
//! `CONFAB_TEST_LARGE_MEDIA=1` adds the 150 MiB round trips.

mod attaching;
mod cascades;
mod encryption;
mod full_disk;
mod large;
mod limits;
mod media_set;
mod ranges;
mod round_trips;
mod tampering;
mod temporary_urls;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::{test, web};
use bytes::Bytes;
use diesel::prelude::*;
use futures_util::StreamExt;
use futures_util::future::join_all;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{MultipartId, ObjectStore, ObjectStoreExt, PutPayload, PutResult};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::util::{Resp, TestApp, TestServer, assert_keys};
use confab::app::AppState;
use confab::config::StorageUrl;
use confab::testing::SidKind;
use confab::testing::Storage;
use confab::testing::StoreError;
use confab::testing::schema::{media, storage_deletions};
use confab::testing::{MediaRow, NewMedia, collector};

/// Plaintext bytes per sealed chunk, and the tag each chunk adds.
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const MIB: usize = 1024 * 1024;
/// Sizes every round trip covers: empty, one byte, around one chunk, 5 MiB.
const SIZES: [usize; 6] = [0, 1, 65535, 65536, 65537, 5 * MIB];

const MEDIA_KEYS: [&str; 16] = [
    "sid",
    "account_sid",
    "service_sid",
    "date_created",
    "date_upload_updated",
    "date_updated",
    "links",
    "size",
    "content_type",
    "filename",
    "author",
    "category",
    "message_sid",
    "channel_sid",
    "url",
    "is_multipart_upstream",
];

const BOUNDARY: &str = "confab-media-test-boundary-3a9f7c41";

// ---------------------------------------------------------------------------
// Data

/// Deterministic pseudo-random bytes (xorshift64), different per seed.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A recognisable 32-byte phrase repeated to `len` bytes.
fn phrase_bytes(len: usize) -> Vec<u8> {
    const PHRASE: &[u8; 32] = b"Confab plaintext marker 0123456!";
    PHRASE.iter().copied().cycle().take(len).collect()
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_hex(hasher: Sha256) -> String {
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes the stored object of `size` plaintext bytes has: 16 per 64 KiB chunk
/// (an empty media is one empty chunk).
fn sealed_len(size: usize) -> usize {
    size + size.div_ceil(CHUNK).max(1) * TAG
}

#[track_caller]
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_string()
}

fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares bytes without printing megabytes when they differ.
#[track_caller]
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!("{what}: got {} bytes, want {}; first difference at {first:?}", got.len(), want.len());
    }
}

/// No 16-byte window of `plain` appears anywhere in `stored`.
#[track_caller]
fn assert_no_plaintext_window(stored: &[u8], plain: &[u8]) {
    let windows: HashSet<&[u8]> = plain.windows(16).collect();
    if let Some(at) = stored.windows(16).position(|w| windows.contains(w)) {
        panic!("the stored object holds plaintext at offset {at}");
    }
}

// ---------------------------------------------------------------------------
// In-process requests

/// Calls the app; the body is read until its end or until the stream fails
/// (`true`: the body was cut short by an error).
async fn call_lossy(app: &TestApp, req: test::TestRequest) -> (Resp, bool) {
    let service = test::init_service(confab::app::build(app.state.clone())).await;
    let res = test::call_service(&service, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let mut body = res.into_body().boxed();
    let mut raw = Vec::new();
    let mut cut = false;
    loop {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
            Some(Ok(piece)) => raw.extend_from_slice(&piece),
            Some(Err(_)) => {
                cut = true;
                break;
            }
            None => break,
        }
    }
    let json = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
    (Resp { status, headers, body: json, raw }, cut)
}

/// Calls the app and insists the body arrived whole.
async fn call(app: &TestApp, req: test::TestRequest) -> Resp {
    let (res, cut) = call_lossy(app, req).await;
    assert!(!cut, "the response body failed mid-way (status {})", res.status);
    res
}

fn header(res: &Resp, name: &str) -> Option<String> {
    res.headers.get(name).map(|v| v.to_str().expect("ASCII header").to_owned())
}

fn upload_uri(service: &str, filename: Option<&str>) -> String {
    match filename {
        None => format!("/v1/Services/{service}/Media"),
        Some(name) => {
            let q = form_urlencoded::Serializer::new(String::new()).append_pair("Filename", name).finish();
            format!("/v1/Services/{service}/Media?{q}")
        }
    }
}

/// Raw upload: the body is the file, `Content-Type` its type.
async fn upload_raw_as(
    app: &TestApp,
    auth: &str,
    service: &str,
    bytes: &[u8],
    content_type: Option<&str>,
    filename: Option<&str>,
) -> Resp {
    let mut req = test::TestRequest::post()
        .uri(&upload_uri(service, filename))
        .insert_header(("Authorization", auth))
        .set_payload(bytes.to_vec());
    if let Some(ct) = content_type {
        req = req.insert_header(("Content-Type", ct));
    }
    call(app, req).await
}

/// Raw upload as the app's account; expects 201 and returns the Media JSON.
async fn upload(
    app: &TestApp,
    service: &str,
    bytes: &[u8],
    content_type: Option<&str>,
    filename: Option<&str>,
) -> Value {
    upload_raw_as(app, &app.account.basic(), service, bytes, content_type, filename).await.expect(201)
}

/// A `multipart/form-data` body: `fields` first, then one file part.
fn multipart_body(fields: &[(&str, &str)], file: &[u8], filename: &str, part_type: Option<&str>) -> Vec<u8> {
    let mut body = multipart_head(fields, filename, part_type);
    body.extend_from_slice(file);
    body.extend_from_slice(&multipart_tail());
    body
}

fn multipart_head(fields: &[(&str, &str)], filename: &str, part_type: Option<&str>) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        write!(b, "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
            .unwrap();
    }
    write!(b, "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"Media\"; filename=\"{filename}\"\r\n")
        .unwrap();
    if let Some(t) = part_type {
        write!(b, "Content-Type: {t}\r\n").unwrap();
    }
    b.extend_from_slice(b"\r\n");
    b
}

fn multipart_tail() -> Vec<u8> {
    format!("\r\n--{BOUNDARY}--\r\n").into_bytes()
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

async fn upload_multipart(
    app: &TestApp,
    service: &str,
    fields: &[(&str, &str)],
    file: &[u8],
    filename: &str,
    part_type: Option<&str>,
) -> Resp {
    let req = test::TestRequest::post()
        .uri(&format!("/v1/Services/{service}/Media"))
        .insert_header(("Authorization", app.account.basic()))
        .insert_header(("Content-Type", multipart_type()))
        .set_payload(multipart_body(fields, file, filename, part_type));
    call(app, req).await
}

/// GET of a content path, with Basic auth or none, and extra headers.
async fn get_content(
    app: &TestApp,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
) -> (Resp, bool) {
    let mut req = test::TestRequest::get().uri(path);
    if let Some(auth) = auth {
        req = req.insert_header(("Authorization", auth));
    }
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    call_lossy(app, req).await
}

/// The content through `links.content` with Basic auth.
async fn content_basic(app: &TestApp, m: &Value, headers: &[(&str, &str)]) -> (Resp, bool) {
    get_content(app, &text(&m["links"]["content"]), Some(&app.account.basic()), headers).await
}

/// The content through `links.content_direct_temporary`, with no credentials.
async fn content_temp(app: &TestApp, m: &Value, headers: &[(&str, &str)]) -> (Resp, bool) {
    let path = TestApp::path_of(&text(&m["links"]["content_direct_temporary"]));
    get_content(app, &path, None, headers).await
}

/// Expects a whole 200 download of exactly `want`, both ways.
#[track_caller]
fn assert_download(res: (Resp, bool), want: &[u8], what: &str) {
    let (res, cut) = res;
    assert_eq!(res.status, StatusCode::OK, "{what}: body {}", String::from_utf8_lossy(&res.raw));
    assert!(!cut, "{what}: body cut short");
    assert_eq!(header(&res, "content-length"), Some(want.len().to_string()), "{what}");
    assert_eq!(sha_hex(&res.raw), sha_hex(want), "{what}: SHA-256 of the download");
}

async fn media_json(app: &TestApp, service: &str, sid: &str) -> Resp {
    app.get(&format!("/v1/Services/{service}/Media/{sid}")).await
}

async fn media_set(app: &TestApp, service: &str, body: &Value) -> Resp {
    let req = test::TestRequest::post()
        .uri(&format!("/v1/Services/{service}/MediaSet"))
        .insert_header(("Authorization", app.account.basic()))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_string());
    call(app, req).await
}

/// Sends a message with these `MediaSid`s (and other parameters) to `messages`.
async fn send_media(app: &TestApp, messages: &str, sids: &[&str], extra: &[(&str, &str)]) -> Resp {
    let mut form: Vec<(&str, &str)> = sids.iter().map(|s| ("MediaSid", *s)).collect();
    form.extend_from_slice(extra);
    app.post(messages, &form).await
}

fn messages_path(conversation: &str) -> String {
    format!("/v1/Conversations/{conversation}/Messages")
}

async fn message_count(app: &TestApp, messages: &str) -> usize {
    app.get(messages).await.expect(200)["messages"].as_array().expect("messages").len()
}

async fn new_service(app: &TestApp, name: &str) -> String {
    text(&app.post("/v1/Services", &[("FriendlyName", name)]).await.expect(201)["sid"])
}

/// The default service of a running server's account.
async fn server_service(server: &TestServer) -> String {
    let config: Value = server
        .client()
        .get(format!("{}/v1/Configuration", server.base))
        .send()
        .await
        .expect("configuration")
        .json()
        .await
        .expect("json");
    text(&config["default_chat_service_sid"])
}

// ---------------------------------------------------------------------------
// Rows, objects, the collector

async fn media_rows(state: &AppState) -> i64 {
    state
        .db
        .read(|conn| Ok::<_, StoreError>(media::table.count().get_result::<i64>(conn)?))
        .await
        .expect("count media")
}

async fn pending_deletions(state: &AppState) -> i64 {
    state
        .db
        .read(|conn| Ok::<_, StoreError>(storage_deletions::table.count().get_result::<i64>(conn)?))
        .await
        .expect("count storage_deletions")
}

async fn media_row(state: &AppState, sid: &str) -> Option<MediaRow> {
    let sid = sid.to_owned();
    state
        .db
        .read(move |conn| {
            Ok::<_, StoreError>(
                media::table
                    .filter(media::sid.eq(&sid))
                    .select(MediaRow::as_select())
                    .get_result(conn)
                    .optional()?,
            )
        })
        .await
        .expect("media row")
}

fn object_path(sid: &str) -> ObjectPath {
    ObjectPath::from(Storage::media_key(sid))
}

/// Every object in the (per-test) store.
async fn objects(state: &AppState) -> Vec<String> {
    let listed: Vec<_> = state.storage.store().list(None).collect().await;
    listed.into_iter().map(|m| m.expect("list objects").location.to_string()).collect()
}

async fn stored(state: &AppState, sid: &str) -> Option<Vec<u8>> {
    match state.storage.store().get(&object_path(sid)).await {
        Ok(got) => Some(got.bytes().await.expect("object bytes").to_vec()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("reading the object of {sid}: {e}"),
    }
}

async fn put_stored(state: &AppState, sid: &str, bytes: Vec<u8>) {
    state.storage.store().put(&object_path(sid), PutPayload::from(bytes)).await.expect("put object");
}

fn now() -> i64 {
    confab::testing::time::now()
}

async fn collect(state: &AppState, at: i64) -> collector::Pass {
    collector::pass(state, at).await.expect("collector pass")
}

// ---------------------------------------------------------------------------
// An instrumented store: counts multipart uploads, and can fail or stall them

/// What happened to the multipart uploads of a [`Counting`] store, and the
/// faults it injects.
#[derive(Debug, Default)]
struct Multiparts {
    opened: AtomicUsize,
    completed: AtomicUsize,
    aborted: AtomicUsize,
    parts: AtomicUsize,
    /// This part (0-based, counted across uploads) fails at once; the others
    /// then take a moment, so the failure is the first outcome seen.
    fail_part: Option<usize>,
    /// Completing never returns; `completing` is notified when it starts.
    hang_complete: bool,
    completing: tokio::sync::Notify,
}

impl Multiparts {
    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Opened and neither completed nor aborted.
    fn open(&self) -> usize {
        self.opened() - self.completed.load(Ordering::SeqCst) - self.aborted.load(Ordering::SeqCst)
    }
}

/// The app's multipart uploads, every one counted (and faults injected).
struct Counting {
    inner: Arc<dyn MultipartStore>,
    multiparts: Arc<Multiparts>,
}

#[async_trait::async_trait]
impl MultipartStore for Counting {
    async fn create_multipart(&self, path: &ObjectPath) -> object_store::Result<MultipartId> {
        let id = self.inner.create_multipart(path).await?;
        self.multiparts.opened.fetch_add(1, Ordering::SeqCst);
        Ok(id)
    }

    async fn put_part(
        &self,
        path: &ObjectPath,
        id: &MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> object_store::Result<PartId> {
        let n = self.multiparts.parts.fetch_add(1, Ordering::SeqCst);
        if self.multiparts.fail_part == Some(n) {
            return Err(object_store::Error::Generic {
                store: "Counting",
                source: "injected part failure".into(),
            });
        }
        if self.multiparts.fail_part.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.inner.put_part(path, id, part_idx, data).await
    }

    async fn complete_multipart(
        &self,
        path: &ObjectPath,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> object_store::Result<PutResult> {
        if self.multiparts.hang_complete {
            self.multiparts.completing.notify_one();
            std::future::pending::<()>().await;
        }
        let done = self.inner.complete_multipart(path, id, parts).await?;
        self.multiparts.completed.fetch_add(1, Ordering::SeqCst);
        Ok(done)
    }

    async fn abort_multipart(&self, path: &ObjectPath, id: &MultipartId) -> object_store::Result<()> {
        self.multiparts.aborted.fetch_add(1, Ordering::SeqCst);
        self.inner.abort_multipart(path, id).await
    }
}

/// A state adjustment putting `multiparts`' counting store in front of the app's.
fn counting(multiparts: &Arc<Multiparts>) -> impl FnOnce(&mut AppState) + use<> {
    let multiparts = multiparts.clone();
    move |state: &mut AppState| {
        let storage = state.storage.clone();
        state.storage = storage.wrap_parts(|inner| Arc::new(Counting { inner, multiparts }));
    }
}

/// Local folders take objects through a file writer, never multipart uploads.
fn uses_multipart(state: &AppState) -> bool {
    !matches!(state.config.media.storage, StorageUrl::File(_))
}

/// Open multipart uploads under this test's prefix, as the S3 server lists
/// them (`None` when the store is not S3). object_store has no call for
/// this; moto answers S3's ListMultipartUploads without a signature, so a
/// plain GET does (this assumes the S3 server of `.ci/s3.sh`).
async fn s3_open_uploads(state: &AppState) -> Option<usize> {
    let StorageUrl::S3 { bucket, prefix } = &state.config.media.storage else {
        return None;
    };
    let endpoint = std::env::var("AWS_ENDPOINT").ok()?;
    let url = format!("{}/{bucket}?uploads&prefix={prefix}/", endpoint.trim_end_matches('/'));
    let mut res = awc::Client::new().get(&url).send().await.expect("ListMultipartUploads");
    let body = res.body().limit(1 << 20).await.expect("ListMultipartUploads body");
    let body = String::from_utf8_lossy(&body);
    assert!(res.status().is_success(), "ListMultipartUploads {url}: {} {body}", res.status());
    Some(body.matches("<Upload>").count())
}

/// No multipart upload is left open: by the counting store's tally (aborts
/// may run just after the response), and on S3 by the server's own list.
async fn assert_no_open_multipart(state: &AppState, multiparts: &Multiparts, what: &str) {
    for _ in 0..100 {
        if multiparts.open() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(multiparts.open(), 0, "{what}: multipart uploads left open: {multiparts:?}");
    if let Some(open) = s3_open_uploads(state).await {
        assert_eq!(open, 0, "{what}: the S3 server lists open multipart uploads");
    }
}

// ---------------------------------------------------------------------------
// The Media JSON

/// Exact keys and values of a fresh (unattached) Media JSON.
#[track_caller]
fn check_media(
    m: &Value,
    account: &str,
    service: &str,
    size: usize,
    content_type: &str,
    filename: Option<&str>,
    public_url: &str,
) {
    assert_keys(m, &MEDIA_KEYS);
    assert_keys(&m["links"], &["content", "content_direct_temporary"]);
    let sid = text(&m["sid"]);
    assert!(is_sid(&sid, "ME"), "not a Media SID: {sid}");
    assert_eq!(m["account_sid"], account, "{m}");
    assert_eq!(m["service_sid"], service, "{m}");
    for key in ["date_created", "date_upload_updated", "date_updated"] {
        let date = text(&m[key]);
        assert!(chrono::DateTime::parse_from_rfc3339(&date).is_ok(), "{key} is not a date: {date}");
    }
    assert_eq!(m["size"], size as u64, "{m}");
    assert_eq!(m["content_type"], content_type, "{m}");
    match filename {
        Some(name) => assert_eq!(m["filename"], name, "{m}"),
        None => assert!(m["filename"].is_null(), "{m}"),
    }
    assert_eq!(m["author"], "system", "{m}");
    assert_eq!(m["category"], "media", "{m}");
    assert!(m["message_sid"].is_null(), "unattached: {m}");
    assert!(m["channel_sid"].is_null(), "unattached: {m}");
    assert_eq!(m["is_multipart_upstream"], false, "{m}");
    // As in Twilio's MCS, `url` and `links.content` are relative …
    let url = format!("/v1/Services/{service}/Media/{sid}");
    assert_eq!(m["url"], url, "{m}");
    assert_eq!(m["links"]["content"], format!("{url}/Content"), "{m}");
    // … and the temporary URL absolute, signed, and valid for a while.
    let temp = text(&m["links"]["content_direct_temporary"]);
    let prefix = format!("{public_url}{url}/Content?");
    let query = temp.strip_prefix(&prefix).unwrap_or_else(|| panic!("{temp} does not start with {prefix}"));
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let expires: i64 = params
        .iter()
        .find(|(k, _)| k == "Expires")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no Expires in {temp}"));
    let t = now();
    assert!(expires >= t && expires <= t + 300 + 5, "Expires {expires} at {t}");
    assert!(params.iter().any(|(k, v)| k == "Signature" && !v.is_empty()), "no Signature in {temp}");
}

/// The Media JSON without its (freshly signed, so varying) temporary URL.
fn without_temporary(m: &Value) -> Value {
    let mut m = m.clone();
    m["links"].as_object_mut().expect("links").remove("content_direct_temporary");
    m
}

// ---------------------------------------------------------------------------
// Shared by several sections

async fn assert_nothing_stored(state: &AppState, what: &str) {
    assert_eq!(media_rows(state).await, 0, "{what}: a media row remains");
    collect(state, now()).await;
    assert_eq!(objects(state).await, Vec::<String>::new(), "{what}: an object remains");
    assert_eq!(pending_deletions(state).await, 0, "{what}: deletions still queued");
}

fn host_of(base: &str) -> String {
    base.strip_prefix("http://").unwrap_or(base).to_owned()
}

/// `max-age` of a `private, max-age=N` Cache-Control value.
fn max_age(cache_control: &str) -> Option<i64> {
    cache_control.strip_prefix("private, max-age=")?.parse().ok()
}
