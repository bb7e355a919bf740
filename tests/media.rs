//! The Media Content Service: uploads (raw and multipart, declared and
//! chunked), the Media JSON, downloads with Basic auth and through signed
//! temporary URLs, byte ranges and download headers, encryption at rest and
//! tampering, limits, attaching by `MediaSid`, cascades, the collector and
//! `MediaSet`.
//!
//! `CONFAB_TEST_LARGE_MEDIA=1` adds the 150 MiB round trips.

mod common;

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
use futures_util::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use common::{Resp, TestApp, TestServer, assert_keys};
use confab::app::AppState;
use confab::config::StorageUrl;
use confab::db::schema::{media, storage_deletions};
use confab::media::store::Storage;
use confab::media::{MediaRow, NewMedia, gc};
use confab::sid::SidKind;

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
    state.db.run(|conn| Ok(media::table.count().get_result::<i64>(conn)?)).await.expect("count media")
}

async fn pending_deletions(state: &AppState) -> i64 {
    state
        .db
        .run(|conn| Ok(storage_deletions::table.count().get_result::<i64>(conn)?))
        .await
        .expect("count storage_deletions")
}

async fn media_row(state: &AppState, sid: &str) -> Option<MediaRow> {
    let sid = sid.to_owned();
    state
        .db
        .run(move |conn| {
            Ok(media::table
                .filter(media::sid.eq(&sid))
                .select(MediaRow::as_select())
                .get_result(conn)
                .optional()?)
        })
        .await
        .expect("media row")
}

fn object_path(sid: &str) -> ObjectPath {
    ObjectPath::from(Storage::media_key(sid))
}

/// Every object in the (per-test) store.
async fn objects(state: &AppState) -> Vec<String> {
    let listed: Vec<_> = state.media.storage.store().list(None).collect().await;
    listed.into_iter().map(|m| m.expect("list objects").location.to_string()).collect()
}

async fn stored(state: &AppState, sid: &str) -> Option<Vec<u8>> {
    match state.media.storage.store().get(&object_path(sid)).await {
        Ok(got) => Some(got.bytes().await.expect("object bytes").to_vec()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("reading the object of {sid}: {e}"),
    }
}

async fn put_stored(state: &AppState, sid: &str, bytes: Vec<u8>) {
    state.media.storage.store().put(&object_path(sid), PutPayload::from(bytes)).await.expect("put object");
}

fn now() -> i64 {
    confab::api::time::now()
}

async fn collect(state: &AppState, at: i64) -> gc::Pass {
    gc::pass(state, at).await.expect("collector pass")
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

/// The app's store, with every multipart upload counted (and faults injected).
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ObjectStore>,
    multiparts: Arc<Multiparts>,
}

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.multiparts.opened.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(CountedUpload { inner, multiparts: self.multiparts.clone() }))
    }

    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct CountedUpload {
    inner: Box<dyn MultipartUpload>,
    multiparts: Arc<Multiparts>,
}

#[async_trait::async_trait]
impl MultipartUpload for CountedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let n = self.multiparts.parts.fetch_add(1, Ordering::SeqCst);
        if self.multiparts.fail_part == Some(n) {
            return Box::pin(async {
                Err(object_store::Error::Generic {
                    store: "Counting",
                    source: "injected part failure".into(),
                })
            });
        }
        let part = self.inner.put_part(data);
        let slow = self.multiparts.fail_part.is_some();
        Box::pin(async move {
            if slow {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            part.await
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        if self.multiparts.hang_complete {
            self.multiparts.completing.notify_one();
            std::future::pending::<()>().await;
        }
        let done = self.inner.complete().await?;
        self.multiparts.completed.fetch_add(1, Ordering::SeqCst);
        Ok(done)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.multiparts.aborted.fetch_add(1, Ordering::SeqCst);
        self.inner.abort().await
    }
}

/// A state adjustment putting `multiparts`' counting store in front of the app's.
fn counting(multiparts: &Arc<Multiparts>) -> impl FnOnce(&mut AppState) + use<> {
    let multiparts = multiparts.clone();
    move |state: &mut AppState| {
        let storage = state.media.storage.clone();
        state.media.storage = storage.wrap(|inner| Arc::new(Counting { inner, multiparts }));
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

// ===========================================================================
// 1. Round trips

#[actix_web::test]
async fn raw_uploads_round_trip_at_every_size() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    for (i, &size) in SIZES.iter().enumerate() {
        let data = random_bytes(size, i as u64 + 1);
        let name = format!("file-{size}.pdf");
        let m = upload(&app, &service, &data, Some("application/pdf"), Some(&name)).await;
        check_media(&m, &app.account.sid, &service, size, "application/pdf", Some(&name), "http://localhost");
        let sid = text(&m["sid"]);

        let fetched = media_json(&app, &service, &sid).await.expect(200);
        check_media(
            &fetched,
            &app.account.sid,
            &service,
            size,
            "application/pdf",
            Some(&name),
            "http://localhost",
        );
        assert_eq!(without_temporary(&fetched), without_temporary(&m));

        let what = format!("raw {size} bytes");
        assert_download(content_basic(&app, &m, &[]).await, &data, &format!("{what}, Basic"));
        assert_download(content_temp(&app, &m, &[]).await, &data, &format!("{what}, temporary URL"));
        assert_download(content_temp(&app, &fetched, &[]).await, &data, &format!("{what}, fetched URL"));
        let (res, _) = content_basic(&app, &m, &[]).await;
        assert_eq!(header(&res, "content-type").as_deref(), Some("application/pdf"));
        // The first and the last byte, by range.
        if size > 0 {
            for (range, at) in [("bytes=0-0", 0), ("bytes=-1", size - 1)] {
                let (res, _) = content_temp(&app, &m, &[("Range", range)]).await;
                assert_eq!(res.status, StatusCode::PARTIAL_CONTENT, "{what}: {range}");
                assert_eq!(header(&res, "content-range"), Some(format!("bytes {at}-{at}/{size}")));
                assert_eq!(res.raw, [data[at]], "{what}: {range}");
            }
        }

        let object = stored(&app.state, &sid).await.expect("object stored");
        assert_eq!(object.len(), sealed_len(size), "stored size of {size} bytes");
    }
}

#[actix_web::test]
async fn multipart_uploads_round_trip_at_every_size() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    for (i, &size) in SIZES.iter().enumerate() {
        let data = random_bytes(size, i as u64 + 100);
        let name = format!("photo-{size}.jpg");
        let m = upload_multipart(&app, &service, &[], &data, &name, Some("image/jpeg")).await.expect(201);
        check_media(&m, &app.account.sid, &service, size, "image/jpeg", Some(&name), "http://localhost");
        let what = format!("multipart {size} bytes");
        assert_download(content_basic(&app, &m, &[]).await, &data, &format!("{what}, Basic"));
        assert_download(content_temp(&app, &m, &[]).await, &data, &format!("{what}, temporary URL"));
        let (res, _) = content_temp(&app, &m, &[]).await;
        assert_eq!(header(&res, "content-type").as_deref(), Some("image/jpeg"));
        let object = stored(&app.state, &text(&m["sid"])).await.expect("object stored");
        assert_eq!(object.len(), sealed_len(size), "stored size of {size} bytes");
    }
}

/// Content over two whole object-store parts (5 MiB of plaintext each) and
/// a short third: on S3 a real multipart completion.
const MULTI_PART: usize = 11 * MIB + 3;

#[actix_web::test]
async fn multi_part_objects_round_trip() {
    let multiparts = Arc::new(Multiparts::default());
    let app = TestApp::with_state(|_| {}, counting(&multiparts)).await;
    let service = app.default_service().await;
    let data = random_bytes(MULTI_PART, 60);
    let m = upload(&app, &service, &data, Some("video/mp4"), Some("long.mp4")).await;
    assert_eq!(m["size"], MULTI_PART as u64);
    assert_download(content_basic(&app, &m, &[]).await, &data, "multi-part media, Basic");
    assert_download(content_temp(&app, &m, &[]).await, &data, "multi-part media, temporary URL");
    // Across the first part boundary.
    let (from, to) = (5 * MIB - 10, 5 * MIB + 10);
    let (res, _) = content_basic(&app, &m, &[("Range", &format!("bytes={from}-{to}"))]).await;
    assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    assert_same_bytes(&res.raw, &data[from..=to], "range across the part boundary");
    let object = stored(&app.state, &text(&m["sid"])).await.expect("object stored");
    assert_eq!(object.len(), sealed_len(MULTI_PART));
    if uses_multipart(&app.state) {
        assert_eq!(multiparts.opened(), 1, "{multiparts:?}");
        assert_eq!(multiparts.completed.load(Ordering::SeqCst), 1, "{multiparts:?}");
        assert_eq!(multiparts.parts.load(Ordering::SeqCst), 3, "{multiparts:?}");
    }
    assert_no_open_multipart(&app.state, &multiparts, "completed upload").await;
}

/// A part that fails while the upload completes: 500, nothing kept, and the
/// multipart upload aborted rather than left open on the store.
#[actix_web::test]
async fn a_part_failing_at_completion_aborts_the_multipart_upload() {
    let multiparts = Arc::new(Multiparts { fail_part: Some(0), ..Multiparts::default() });
    let app = TestApp::with_state(|_| {}, counting(&multiparts)).await;
    if !uses_multipart(&app.state) {
        eprintln!("a_part_failing_at_completion_aborts_the_multipart_upload: skipped (local folder)");
        return;
    }
    let service = app.default_service().await;
    // 16 MiB: the third part goes up while the upload completes, and waiting
    // for room for it reports the first part's failure.
    let res =
        upload_raw_as(&app, &app.account.basic(), &service, &random_bytes(16 * MIB, 61), None, None).await;
    res.expect_error(500, 20500);
    assert_eq!(multiparts.opened(), 1, "{multiparts:?}");
    assert_no_open_multipart(&app.state, &multiparts, "failed part").await;
    assert_nothing_stored(&app.state, "failed part").await;
}

/// A request dropped while its upload completes (as when the client goes
/// away): the multipart upload is aborted and the row removed.
#[actix_web::test]
async fn an_upload_dropped_while_completing_aborts_the_multipart_upload() {
    let multiparts = Arc::new(Multiparts { hang_complete: true, ..Multiparts::default() });
    let app = TestApp::with_state(|_| {}, counting(&multiparts)).await;
    if !uses_multipart(&app.state) {
        eprintln!("an_upload_dropped_while_completing_aborts_the_multipart_upload: skipped (local folder)");
        return;
    }
    let service = app.default_service().await;
    let service_app = test::init_service(confab::app::build(app.state.clone())).await;
    let req = test::TestRequest::post()
        .uri(&upload_uri(&service, None))
        .insert_header(("Authorization", app.account.basic()))
        .set_payload(random_bytes(MULTI_PART, 62))
        .to_request();
    tokio::select! {
        res = test::call_service(&service_app, req) => panic!("the upload finished: {}", res.status()),
        () = multiparts.completing.notified() => {}
    }
    // The request future is gone now.
    assert_no_open_multipart(&app.state, &multiparts, "dropped while completing").await;
    let mut waited = 0;
    while media_rows(&app.state).await > 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_nothing_stored(&app.state, "dropped while completing").await;
}

#[actix_web::test]
async fn upload_types_names_and_categories() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let data = random_bytes(1000, 7);

    // No Content-Type, no filename: application/octet-stream, null filename.
    let m = upload(&app, &service, &data, None, None).await;
    check_media(&m, &app.account.sid, &service, 1000, "application/octet-stream", None, "http://localhost");
    let (res, _) = content_basic(&app, &m, &[]).await;
    assert_eq!(header(&res, "content-type").as_deref(), Some("application/octet-stream"));

    // A multipart part without a Content-Type is application/octet-stream too.
    let m = upload_multipart(&app, &service, &[], &data, "notes.bin", None).await.expect(201);
    check_media(
        &m,
        &app.account.sid,
        &service,
        1000,
        "application/octet-stream",
        Some("notes.bin"),
        "http://localhost",
    );
    assert_download(content_basic(&app, &m, &[]).await, &data, "multipart without part type");

    // The part's type and name win over the request's; a FileName form field
    // before the file (as mailroom sends) does not override the part's name.
    let m =
        upload_multipart(&app, &service, &[("FileName", "other.txt")], &data, "cat.png", Some("image/png"))
            .await
            .expect(201);
    assert_eq!(m["content_type"], "image/png");
    assert_eq!(m["filename"], "cat.png");
    assert_download(content_temp(&app, &m, &[]).await, &data, "multipart after a form field");

    // Category is taken from the query (media, body, history).
    let req = test::TestRequest::post()
        .uri(&format!("/v1/Services/{service}/Media?Category=body&Filename=mail.html"))
        .insert_header(("Authorization", app.account.basic()))
        .insert_header(("Content-Type", "text/html"))
        .set_payload(b"<p>hello</p>".to_vec());
    let m = call(&app, req).await.expect(201);
    assert_eq!(m["category"], "body");
    assert_eq!(m["filename"], "mail.html");
    assert_eq!(m["content_type"], "text/html");

    // A filename keeps no path separators or control characters.
    let m =
        upload(&app, &service, &data, Some("application/pdf"), Some("../../etc/pa\u{7}ss\r\nwd.pdf")).await;
    let name = text(&m["filename"]);
    assert!(!name.contains('/') && !name.contains('\r') && !name.contains('\n') && !name.contains('\u{7}'));
    assert!(name.ends_with("wd.pdf"), "{name}");

    // Unknown service: 404; no credentials: 401; nothing stored by either.
    let rows = media_rows(&app.state).await;
    let unknown = format!("IS{}", "0".repeat(32));
    upload_raw_as(&app, &app.account.basic(), &unknown, &data, None, None).await.expect_error(404, 20404);
    let req = test::TestRequest::post().uri(&upload_uri(&service, None)).set_payload(data.clone());
    assert_eq!(call(&app, req).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(media_rows(&app.state).await, rows);
    let missing = format!("ME{}", "0".repeat(32));
    media_json(&app, &service, &missing).await.expect_error(404, 20404);
    media_json(&app, &service, "MEnot-a-sid").await.expect_error(404, 20404);
    let (res, _) = get_content(
        &app,
        &format!("/v1/Services/{service}/Media/{missing}/Content"),
        Some(&app.account.basic()),
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // The content needs credentials (or a signature).
    let (res, _) = get_content(&app, &text(&m["links"]["content"]), None, &[]).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

/// Over a real socket: a chunked (unsized) upload streamed in odd-sized
/// pieces, a sized streamed upload, and multipart; downloads with awc.
#[actix_web::test]
async fn uploads_over_http_stream_in_odd_pieces() {
    let server = TestServer::start().await;
    let client = server.client();
    let service = server_service(&server).await;
    let anonymous = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    let url = format!("{}/v1/Services/{service}/Media", server.base);

    for (i, &size) in SIZES.iter().enumerate() {
        let data = Bytes::from(random_bytes(size, i as u64 + 500));
        // Chunked transfer encoding, pieces of 7777 bytes.
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            (0..size.div_ceil(7777)).map(|k| Ok(data.slice(k * 7777..((k + 1) * 7777).min(size)))).collect();
        let mut res = client
            .post(format!("{url}?Filename=clip.mp4"))
            .insert_header(("Content-Type", "video/mp4"))
            .send_stream(futures_util::stream::iter(pieces))
            .await
            .expect("chunked upload");
        assert_eq!(res.status().as_u16(), 201, "chunked upload of {size}");
        let m: Value = res.json().await.expect("json");
        check_media(&m, &server.account.sid, &service, size, "video/mp4", Some("clip.mp4"), &server.base);

        // Basic auth download over the wire.
        let mut res = client
            .get(format!("{}{}", server.base, text(&m["links"]["content"])))
            .send()
            .await
            .expect("download");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers().get("content-length").unwrap().to_str().unwrap(), size.to_string());
        let body = res.body().limit(64 * MIB).await.expect("body");
        assert_eq!(sha_hex(&body), sha_hex(&data), "chunked {size}, Basic");
        // The temporary URL names this server and needs no credentials.
        let temp = text(&m["links"]["content_direct_temporary"]);
        let mut res = anonymous.get(&temp).send().await.expect("temporary download");
        assert_eq!(res.status().as_u16(), 200);
        let body = res.body().limit(64 * MIB).await.expect("body");
        assert_eq!(sha_hex(&body), sha_hex(&data), "chunked {size}, temporary URL");

        // Multipart over the wire, sent with its length.
        let form = multipart_body(&[], &data, "scan.pdf", Some("application/pdf"));
        let mut res = client
            .post(&url)
            .insert_header(("Content-Type", multipart_type()))
            .send_body(form)
            .await
            .expect("multipart upload");
        assert_eq!(res.status().as_u16(), 201, "multipart upload of {size}");
        let m: Value = res.json().await.expect("json");
        check_media(
            &m,
            &server.account.sid,
            &service,
            size,
            "application/pdf",
            Some("scan.pdf"),
            &server.base,
        );
        let mut res = anonymous.get(text(&m["links"]["content_direct_temporary"])).send().await.expect("get");
        assert_eq!(res.status().as_u16(), 200);
        let body = res.body().limit(64 * MIB).await.expect("body");
        assert_eq!(sha_hex(&body), sha_hex(&data), "multipart {size}, temporary URL");
    }
    server.stop().await;
}

// ===========================================================================
// 2. Encryption at rest

#[actix_web::test]
async fn stored_objects_hold_no_plaintext() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("phrase", phrase_bytes(MIB)),
        ("random", random_bytes(300 * 1024 + 123, 42)),
        ("zeros", vec![0u8; 3 * CHUNK + 5]),
    ];
    for (what, plain) in &cases {
        for multipart in [false, true] {
            let m = if multipart {
                upload_multipart(&app, &service, &[], plain, "x.bin", None).await.expect(201)
            } else {
                upload(&app, &service, plain, None, None).await
            };
            let object = stored(&app.state, &text(&m["sid"])).await.expect("object stored");
            assert_eq!(
                object.len(),
                sealed_len(plain.len()),
                "{what}: plaintext + 16 bytes per 64 KiB chunk"
            );
            assert_eq!(object.len(), plain.len() + plain.len().div_ceil(CHUNK) * TAG);
            assert_no_plaintext_window(&object, plain);
            assert_download(content_basic(&app, &m, &[]).await, plain, what);
        }
    }
    // The same bytes uploaded twice are stored differently (a key per media).
    let plain = phrase_bytes(CHUNK);
    let a = upload(&app, &service, &plain, None, None).await;
    let b = upload(&app, &service, &plain, None, None).await;
    let a = stored(&app.state, &text(&a["sid"])).await.unwrap();
    let b = stored(&app.state, &text(&b["sid"])).await.unwrap();
    assert_ne!(a, b);
    assert_no_plaintext_window(&a, &b);
}

/// The digest an ETag carries for a stored object: SHA-256 over its chunks'
/// tags (the last 16 bytes of every sealed chunk), in order.
fn tags_digest(object: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for sealed in object.chunks(CHUNK + TAG) {
        hasher.update(&sealed[sealed.len() - TAG..]);
    }
    format!("tags-sha256:{}", digest_hex(hasher))
}

#[actix_web::test]
async fn etag_digests_the_stored_tags_never_the_plaintext() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    // Across chunk and 1 MiB batch boundaries (batches are sealed apart).
    for (i, size) in [0, 1, CHUNK, CHUNK + 1, MIB, MIB + 1, 3 * MIB + 5].into_iter().enumerate() {
        let plain = random_bytes(size, 700 + i as u64);
        for multipart in [false, true] {
            let m = if multipart {
                upload_multipart(&app, &service, &[], &plain, "x.bin", None).await.expect(201)
            } else {
                upload(&app, &service, &plain, None, None).await
            };
            let sid = text(&m["sid"]);
            let what = format!("{size} bytes, multipart {multipart}");
            let object = stored(&app.state, &sid).await.expect("object stored");
            let expected = tags_digest(&object);
            let row = media_row(&app.state, &sid).await.expect("row");
            assert_eq!(row.digest.as_deref(), Some(expected.as_str()), "{what}");
            let (res, _) = content_basic(&app, &m, &[]).await;
            assert_eq!(header(&res, "etag"), Some(format!("\"{expected}\"")), "{what}");
            // Nothing in the row or the header is a digest of the plaintext.
            let plain_sha = digest_hex(Sha256::new_with_prefix(&plain));
            assert!(!expected.contains(&plain_sha), "{what}");
        }
    }
}

#[actix_web::test]
async fn migration_drops_plaintext_digests_and_etags_fall_back_to_the_sid() {
    use diesel_migrations::MigrationHarness;
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let plain = random_bytes(1000, 77);
    let m = upload(&app, &service, &plain, None, None).await;
    let sid = text(&m["sid"]);

    // Back to the schema before migration 000007, holding a plaintext
    // SHA-256 as that schema did; then forward again.
    let mut conn = confab::db::establish(&app.db.url).expect("connect");
    let plain_sha = digest_hex(Sha256::new_with_prefix(&plain));
    let set = format!("UPDATE media SET sha256 = '{plain_sha}' WHERE sid = '{sid}'");
    match &mut conn {
        confab::db::DbConnection::Sqlite(c) => {
            c.revert_last_migration(confab::db::migrations::SQLITE).expect("down");
            diesel::sql_query(set).execute(c).expect("old digest");
        }
        confab::db::DbConnection::Postgresql(c) => {
            c.revert_last_migration(confab::db::migrations::POSTGRES).expect("down");
            diesel::sql_query(set).execute(c).expect("old digest");
        }
    }
    let applied = confab::db::migrations::run_pending(&mut conn).expect("up");
    assert_eq!(applied.len(), 1, "{applied:?}");

    let row = media_row(&app.state, &sid).await.expect("row");
    assert_eq!(row.digest, None, "the plaintext digest is gone");
    let (res, cut) = content_basic(&app, &m, &[]).await;
    assert_eq!(header(&res, "etag"), Some(format!("\"{sid}\"")));
    assert_download((res, cut), &plain, "after the migration");
}

// ===========================================================================
// 3. Ranges and headers

#[actix_web::test]
async fn byte_ranges_across_chunk_boundaries() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let size = 200 * 1024;
    let data = random_bytes(size, 3);
    let m = upload(&app, &service, &data, Some("application/octet-stream"), Some("r.bin")).await;

    // (Range header, first byte, last byte)
    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=65530-65545".into(), 65530, 65545),
        ("bytes=0-0".into(), 0, 0),
        ("bytes=0-65535".into(), 0, 65535),
        ("bytes=65535-65536".into(), 65535, 65536),
        ("bytes=65536-131071".into(), 65536, 131071),
        ("bytes=1000-140000".into(), 1000, 140000),
        ("bytes=131070-".into(), 131070, size - 1),
        ("bytes=204799-".into(), size - 1, size - 1),
        ("bytes=100000-999999".into(), 100000, size - 1),
        ("bytes=-100".into(), size - 100, size - 1),
        ("bytes=-70000".into(), size - 70000, size - 1),
        ("bytes=-300000".into(), 0, size - 1),
    ];
    for (range, first, last) in &cases {
        for temporary in [false, true] {
            let headers = [("Range", range.as_str())];
            let (res, cut) = if temporary {
                content_temp(&app, &m, &headers).await
            } else {
                content_basic(&app, &m, &headers).await
            };
            let what = format!("{range} (temporary URL: {temporary})");
            assert_eq!(res.status, StatusCode::PARTIAL_CONTENT, "{what}");
            assert!(!cut, "{what}: cut short");
            assert_eq!(header(&res, "content-range"), Some(format!("bytes {first}-{last}/{size}")), "{what}");
            assert_eq!(header(&res, "content-length"), Some((last - first + 1).to_string()), "{what}");
            assert_eq!(header(&res, "accept-ranges").as_deref(), Some("bytes"), "{what}");
            assert_same_bytes(&res.raw, &data[*first..=*last], &what);
        }
    }

    // Several ranges at once may be answered with the whole content.
    let (res, _) = content_basic(&app, &m, &[("Range", "bytes=0-1,5-6")]).await;
    if res.status == StatusCode::OK {
        assert_same_bytes(&res.raw, &data, "multi-range answered whole");
    } else {
        assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    }
}

#[actix_web::test]
async fn unsatisfiable_ranges_answer_416() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let size = 200 * 1024;
    let m = upload(&app, &service, &random_bytes(size, 4), None, None).await;
    for range in ["bytes=204800-", "bytes=204800-204900", "bytes=999999-", "bytes=-0"] {
        for temporary in [false, true] {
            let headers = [("Range", range)];
            let (res, _) = if temporary {
                content_temp(&app, &m, &headers).await
            } else {
                content_basic(&app, &m, &headers).await
            };
            assert_eq!(res.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(header(&res, "content-range"), Some(format!("bytes */{size}")), "{range}");
        }
    }
    // Every range of an empty media is unsatisfiable.
    let empty = upload(&app, &service, b"", None, None).await;
    let (res, _) = content_basic(&app, &empty, &[("Range", "bytes=0-")]).await;
    assert_eq!(res.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&res, "content-range").as_deref(), Some("bytes */0"));
    assert_download(content_basic(&app, &empty, &[]).await, b"", "empty media without a range");
}

#[actix_web::test]
async fn downloads_carry_safe_headers() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    // (content type, filename, disposition kind)
    let cases = [
        ("application/pdf", "report.pdf", "attachment"),
        ("image/svg+xml", "logo.svg", "attachment"),
        ("text/html", "page.html", "attachment"),
        ("text/html; charset=utf-8", "page2.html", "attachment"),
        ("application/octet-stream", "blob.bin", "attachment"),
        ("image/png", "cat.png", "inline"),
        ("image/jpeg", "cat.jpg", "inline"),
        ("video/mp4", "clip.mp4", "inline"),
        ("audio/mpeg", "song.mp3", "inline"),
    ];
    let mut etags = HashSet::new();
    for (i, (content_type, filename, kind)) in cases.iter().enumerate() {
        let data = random_bytes(1000 + i, 50 + i as u64);
        let m = upload(&app, &service, &data, Some(content_type), Some(filename)).await;
        for temporary in [false, true] {
            let (res, _) = if temporary {
                content_temp(&app, &m, &[]).await
            } else {
                content_basic(&app, &m, &[]).await
            };
            let what = format!("{content_type} (temporary URL: {temporary})");
            assert_eq!(res.status, StatusCode::OK, "{what}");
            assert_eq!(header(&res, "content-type").as_deref(), Some(*content_type), "{what}");
            assert_eq!(header(&res, "content-length"), Some(data.len().to_string()), "{what}");
            assert_eq!(header(&res, "accept-ranges").as_deref(), Some("bytes"), "{what}");
            assert_eq!(header(&res, "x-content-type-options").as_deref(), Some("nosniff"), "{what}");
            let csp = header(&res, "content-security-policy").unwrap_or_default();
            assert!(csp.split(';').any(|d| d.trim() == "sandbox"), "{what}: CSP {csp:?}");
            let disposition = header(&res, "content-disposition").unwrap_or_default();
            assert!(disposition.starts_with(&format!("{kind};")), "{what}: {disposition}");
            assert!(disposition.contains(&format!("filename=\"{filename}\"")), "{what}: {disposition}");
            let cache = header(&res, "cache-control").unwrap_or_default();
            if temporary {
                let age = max_age(&cache).unwrap_or_else(|| panic!("{what}: Cache-Control {cache:?}"));
                assert!((295..=300).contains(&age), "{what}: Cache-Control {cache:?}");
            } else {
                assert_eq!(cache, "private, no-cache", "{what}");
            }
            let etag = header(&res, "etag").unwrap_or_default();
            assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'), "{what}: ETag {etag:?}");
            etags.insert(etag);
        }
    }
    assert_eq!(etags.len(), cases.len(), "one ETag per content, the same on both paths");

    // A hostile filename cannot break out of the header.
    let m =
        upload(&app, &service, b"x", Some("application/pdf"), Some("a\"b;c\r\nSet-Cookie: x=y.pdf")).await;
    let (res, _) = content_basic(&app, &m, &[]).await;
    assert_eq!(res.status, StatusCode::OK);
    let disposition = header(&res, "content-disposition").unwrap_or_default();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(!disposition.contains('\r') && !disposition.contains('\n'), "{disposition}");
    let quoted =
        disposition.split("filename=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
    assert!(!quoted.contains(';'), "the quoted name ends early: {disposition}");
    assert!(res.headers.get("set-cookie").is_none());

    // A non-ASCII name: an ASCII fallback and the exact name in RFC 5987 form.
    let m = upload(&app, &service, b"x", Some("application/pdf"), Some("résumé.pdf")).await;
    assert_eq!(m["filename"], "résumé.pdf");
    let (res, _) = content_basic(&app, &m, &[]).await;
    let disposition = header(&res, "content-disposition").unwrap_or_default();
    assert!(disposition.contains("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"), "{disposition}");
}

#[actix_web::test]
async fn if_none_match_answers_304() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let data = random_bytes(100_000, 9);
    let m = upload(&app, &service, &data, Some("image/png"), Some("a.png")).await;
    let (res, _) = content_basic(&app, &m, &[]).await;
    let etag = header(&res, "etag").expect("ETag");
    for temporary in [false, true] {
        let headers = [("If-None-Match", etag.as_str())];
        let (res, _) = if temporary {
            content_temp(&app, &m, &headers).await
        } else {
            content_basic(&app, &m, &headers).await
        };
        assert_eq!(res.status, StatusCode::NOT_MODIFIED, "temporary URL: {temporary}");
        assert!(res.raw.is_empty());
        assert_eq!(header(&res, "etag").as_deref(), Some(etag.as_str()));
    }
    let listed = format!("\"something-else\", {etag}");
    let (res, _) = content_basic(&app, &m, &[("If-None-Match", &listed)]).await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
    let (res, cut) = content_basic(&app, &m, &[("If-None-Match", "\"something-else\"")]).await;
    assert_download((res, cut), &data, "another ETag");
}

// ===========================================================================
// 4. Tampering

/// Downloads (a `range` of) a media whose object was damaged and checks that
/// nothing wrong comes out: a non-2xx answer, or a prefix of the right bytes
/// that never reaches into `damaged` (plaintext offsets whose chunks were
/// damaged). With `must_fail` a whole answer is an error. Both the Basic and
/// the temporary path are checked.
async fn assert_no_wrong_bytes(
    app: &TestApp,
    m: &Value,
    plain: &[u8],
    range: Option<(usize, usize)>,
    damaged: std::ops::Range<usize>,
    must_fail: bool,
    what: &str,
) {
    let range_header = range.map(|(a, b)| format!("bytes={a}-{b}"));
    let headers: Vec<(&str, &str)> = range_header.iter().map(|r| ("Range", r.as_str())).collect();
    let (start, end) = range.unwrap_or((0, plain.len() - 1));
    let expected = &plain[start..=end];
    for temporary in [false, true] {
        let what = format!("{what}, range {range:?}, temporary URL: {temporary}");
        let (res, cut) = if temporary {
            content_temp(app, m, &headers).await
        } else {
            content_basic(app, m, &headers).await
        };
        if !res.status.is_success() {
            assert!(res.status.as_u16() >= 400, "{what}: status {}", res.status);
            assert!(res.raw.len() < 4096, "{what}: a large error body");
            continue;
        }
        let got = &res.raw;
        assert!(got.len() <= expected.len(), "{what}: {} bytes for a range of {}", got.len(), expected.len());
        assert_same_bytes(got, &expected[..got.len()], &format!("{what}: wrong bytes released"));
        let released = start..start + got.len();
        assert!(
            released.end <= damaged.start || damaged.end <= released.start || released.is_empty(),
            "{what}: released {released:?} overlaps the damaged {damaged:?}"
        );
        if got.len() < expected.len() {
            assert!(cut, "{what}: short body without an error");
        }
        assert!(!must_fail || got.len() < expected.len(), "{what}: a damaged object downloaded whole");
    }
}

/// Plaintext offsets of chunk `i` of a media of `size` bytes.
fn chunk_range(i: usize, size: usize) -> std::ops::Range<usize> {
    i * CHUNK..((i + 1) * CHUNK).min(size)
}

/// Offset of sealed chunk `i` in the stored object.
fn sealed_at(i: usize) -> usize {
    i * (CHUNK + TAG)
}

#[actix_web::test]
async fn flipped_bytes_are_never_released() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let size = 200 * 1024; // chunks 0-2 full, chunk 3 holds 8 KiB
    let plain = random_bytes(size, 11);
    let m = upload(&app, &service, &plain, None, None).await;
    let sid = text(&m["sid"]);
    let original = stored(&app.state, &sid).await.unwrap();

    // (what, byte of the object to flip, damaged chunk)
    let flips = [
        ("chunk 0 ciphertext", 5, 0),
        ("chunk 2 ciphertext", sealed_at(2) + 1000, 2),
        ("chunk 1 tag", sealed_at(1) + CHUNK + 3, 1),
        ("last chunk ciphertext", sealed_at(3) + 10, 3),
        ("last byte (last tag)", original.len() - 1, 3),
    ];
    for (what, at, chunk) in flips {
        let mut object = original.clone();
        object[at] ^= 0x01;
        put_stored(&app.state, &sid, object).await;
        let damaged = chunk_range(chunk, size);
        assert_no_wrong_bytes(&app, &m, &plain, None, damaged.clone(), true, what).await;
        // A range over the damaged chunk fails too …
        let inside = (damaged.start + 10, damaged.end - 10);
        assert_no_wrong_bytes(&app, &m, &plain, Some(inside), damaged.clone(), true, what).await;
        let across = (damaged.start.saturating_sub(100), (damaged.start + 100).min(size - 1));
        assert_no_wrong_bytes(&app, &m, &plain, Some(across), damaged.clone(), true, what).await;
        // … while ranges over untouched chunks may work, but never wrongly.
        for other in (0..4).filter(|c| *c != chunk) {
            let r = chunk_range(other, size);
            assert_no_wrong_bytes(
                &app,
                &m,
                &plain,
                Some((r.start + 1, r.end - 2)),
                damaged.clone(),
                false,
                what,
            )
            .await;
        }
    }
    // Restored, it downloads again: the damage was what failed.
    put_stored(&app.state, &sid, original).await;
    assert_download(content_basic(&app, &m, &[]).await, &plain, "restored object");
}

#[actix_web::test]
async fn truncated_and_extended_objects_fail() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let size = 200 * 1024;
    let plain = random_bytes(size, 12);
    let m = upload(&app, &service, &plain, None, None).await;
    let sid = text(&m["sid"]);
    let original = stored(&app.state, &sid).await.unwrap();
    let last = chunk_range(3, size);

    let damages: Vec<(&str, Vec<u8>, std::ops::Range<usize>)> = vec![
        ("one byte short", original[..original.len() - 1].to_vec(), last.clone()),
        ("last tag missing", original[..original.len() - TAG].to_vec(), last.clone()),
        // Dropping the whole last chunk leaves an object of whole chunks
        // whose own last chunk was not sealed as the last one.
        ("last chunk missing", original[..sealed_at(3)].to_vec(), last.clone()),
        ("cut mid-object", original[..sealed_at(1) + 500].to_vec(), CHUNK..size),
        ("empty object", Vec::new(), 0..size),
        ("16 bytes appended", [original.clone(), random_bytes(TAG, 1)].concat(), size..size),
        ("a chunk appended", [original.clone(), original[..CHUNK + TAG].to_vec()].concat(), size..size),
        ("one byte appended", [original.clone(), vec![0]].concat(), size..size),
    ];
    for (what, object, damaged) in damages {
        put_stored(&app.state, &sid, object).await;
        assert_no_wrong_bytes(&app, &m, &plain, None, damaged.clone(), true, what).await;
        for chunk in 0..4 {
            let r = chunk_range(chunk, size);
            assert_no_wrong_bytes(&app, &m, &plain, Some((r.start, r.end - 1)), damaged.clone(), false, what)
                .await;
        }
    }

    // A media stored as one empty chunk, and a one-byte media, truncated.
    for len in [0usize, 1] {
        let plain = random_bytes(len, 13);
        let m = upload(&app, &service, &plain, None, None).await;
        let sid = text(&m["sid"]);
        let original = stored(&app.state, &sid).await.unwrap();
        put_stored(&app.state, &sid, original[..original.len() - 1].to_vec()).await;
        let (res, cut) = content_basic(&app, &m, &[]).await;
        assert!(res.status.as_u16() >= 400 || cut, "truncated {len}-byte media answered {}", res.status);
        if res.status.is_success() {
            assert_same_bytes(&res.raw, &plain[..res.raw.len()], "truncated tiny media");
        }
    }
    put_stored(&app.state, &sid, original).await;
    assert_download(content_basic(&app, &m, &[]).await, &plain, "restored object");
}

/// An empty media is one sealed empty chunk (just a tag): damage to it, or
/// another empty media's object in its place, is detected too.
#[actix_web::test]
async fn tampered_empty_media_fails() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let a = upload(&app, &service, b"", None, None).await;
    let b = upload(&app, &service, b"", None, None).await;
    let (sid_a, sid_b) = (text(&a["sid"]), text(&b["sid"]));
    let object_a = stored(&app.state, &sid_a).await.unwrap();
    let object_b = stored(&app.state, &sid_b).await.unwrap();
    assert_eq!(object_a.len(), TAG);
    assert_ne!(object_a, object_b);
    let mut flipped = object_a.clone();
    flipped[0] ^= 0x01;
    for (what, object) in [("flipped tag byte", flipped), ("another empty media's object", object_b)] {
        put_stored(&app.state, &sid_a, object).await;
        for temporary in [false, true] {
            let (res, _) = if temporary {
                content_temp(&app, &a, &[]).await
            } else {
                content_basic(&app, &a, &[]).await
            };
            assert!(
                res.status.as_u16() >= 400,
                "{what} (temporary URL: {temporary}): a damaged empty media answered {}",
                res.status
            );
        }
    }
    put_stored(&app.state, &sid_a, object_a).await;
    assert_download(content_basic(&app, &a, &[]).await, b"", "restored empty media");
}

#[actix_web::test]
async fn swapped_and_reordered_objects_fail() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let size = 200 * 1024;
    let plain_a = random_bytes(size, 21);
    let plain_b = random_bytes(size, 22);
    let a = upload(&app, &service, &plain_a, None, None).await;
    let b = upload(&app, &service, &plain_b, None, None).await;
    let (sid_a, sid_b) = (text(&a["sid"]), text(&b["sid"]));
    let object_a = stored(&app.state, &sid_a).await.unwrap();
    let object_b = stored(&app.state, &sid_b).await.unwrap();
    assert_eq!(object_a.len(), object_b.len());

    // Two media's objects swapped: neither decrypts, nothing of either leaks.
    put_stored(&app.state, &sid_a, object_b.clone()).await;
    put_stored(&app.state, &sid_b, object_a.clone()).await;
    for (m, plain, other) in [(&a, &plain_a, &plain_b), (&b, &plain_b, &plain_a)] {
        assert_no_wrong_bytes(&app, m, plain, None, 0..size, true, "swapped objects").await;
        assert_no_wrong_bytes(&app, m, plain, Some((70_000, 70_100)), 0..size, true, "swapped objects").await;
        let (res, _) = content_basic(&app, m, &[]).await;
        assert!(!res.raw.windows(32).any(|w| w == &other[..32]), "the other media's bytes leaked");
    }
    // One chunk of the other media spliced in at the same position.
    let mut spliced = object_a.clone();
    spliced[sealed_at(1)..sealed_at(2)].copy_from_slice(&object_b[sealed_at(1)..sealed_at(2)]);
    put_stored(&app.state, &sid_a, spliced).await;
    put_stored(&app.state, &sid_b, object_b.clone()).await;
    let damaged = chunk_range(1, size);
    assert_no_wrong_bytes(&app, &a, &plain_a, None, damaged.clone(), true, "spliced chunk").await;
    assert_no_wrong_bytes(&app, &a, &plain_a, Some((65_000, 70_000)), damaged, true, "spliced chunk").await;
    assert_download(content_basic(&app, &b, &[]).await, &plain_b, "the other media, restored");

    // Chunks 0 and 1 of one object swapped with each other.
    let mut reordered = object_a.clone();
    reordered[..sealed_at(1)].copy_from_slice(&object_a[sealed_at(1)..sealed_at(2)]);
    reordered[sealed_at(1)..sealed_at(2)].copy_from_slice(&object_a[..sealed_at(1)]);
    put_stored(&app.state, &sid_a, reordered).await;
    assert_no_wrong_bytes(&app, &a, &plain_a, None, 0..2 * CHUNK, true, "reordered chunks").await;
    assert_no_wrong_bytes(&app, &a, &plain_a, Some((0, 10)), 0..2 * CHUNK, true, "reordered chunks").await;
    assert_no_wrong_bytes(&app, &a, &plain_a, Some((70_000, 70_010)), 0..2 * CHUNK, true, "reordered chunks")
        .await;
    assert_no_wrong_bytes(
        &app,
        &a,
        &plain_a,
        Some((140_000, 140_010)),
        0..2 * CHUNK,
        false,
        "reordered chunks",
    )
    .await;

    put_stored(&app.state, &sid_a, object_a).await;
    assert_download(content_basic(&app, &a, &[]).await, &plain_a, "restored object");
}

/// Over a real connection, damage past the first chunk cuts the body short
/// (fewer bytes than Content-Length announced), never sending the bad chunk.
#[actix_web::test]
async fn damaged_download_over_http_is_cut_short() {
    let server = TestServer::start().await;
    let client = server.client();
    let service = server_service(&server).await;
    let size = 400 * 1024;
    let plain = random_bytes(size, 31);
    let mut res = client
        .post(format!("{}/v1/Services/{service}/Media", server.base))
        .send_body(plain.clone())
        .await
        .expect("upload");
    assert_eq!(res.status().as_u16(), 201);
    let m: Value = res.json().await.expect("json");
    let sid = text(&m["sid"]);
    let mut object = stored(&server.state, &sid).await.unwrap();
    object[sealed_at(4) + 77] ^= 0x80;
    put_stored(&server.state, &sid, object).await;

    // A raw HTTP/1.1 client sees exactly what went over the wire (awc takes
    // an early close for the end of the body).
    for path in
        [text(&m["links"]["content"]), TestApp::path_of(&text(&m["links"]["content_direct_temporary"]))]
    {
        let path = path.replace(&server.base, "");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
            host = host_of(&server.base),
            auth = server.account.basic(),
        );
        let addr = host_of(&server.base);
        let answer = web::block(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(request.as_bytes()).expect("request");
            s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).expect("read until the server closes");
            answer
        })
        .await
        .expect("client thread");
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
        let got = &answer[split + 4..];
        let status: u16 = head[9..12].parse().expect("status");
        if (200..300).contains(&status) {
            assert!(head.contains(&format!("content-length: {size}")), "{head}");
            assert!(got.len() < size, "a damaged object downloaded whole over {path}");
            assert!(
                got.len() <= 4 * CHUNK,
                "{} bytes released, the damaged chunk starts at {}",
                got.len(),
                4 * CHUNK
            );
            assert_same_bytes(got, &plain[..got.len()], "prefix before the damage");
        } else {
            assert!(status >= 400, "status {status}");
        }
    }
    // The server is still fine afterwards.
    let res =
        client.get(format!("{}/v1/Services/{service}/Media/{sid}", server.base)).send().await.expect("get");
    assert_eq!(res.status().as_u16(), 200);
    server.stop().await;
}

// ===========================================================================
// 5. Temporary URLs

#[actix_web::test]
async fn temporary_urls_need_no_credentials_and_refuse_alterations() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let data = random_bytes(100_000, 41);
    let a = upload(&app, &service, &data, Some("image/png"), Some("a.png")).await;
    let b = upload(&app, &service, &random_bytes(100_000, 42), Some("image/png"), Some("b.png")).await;
    let (sid_a, sid_b) = (text(&a["sid"]), text(&b["sid"]));
    let other_service = new_service(&app, "other").await;
    let unknown_service = SidKind::Service.generate();
    let url = TestApp::path_of(&text(&a["links"]["content_direct_temporary"]));
    assert_download(get_content(&app, &url, None, &[]).await, &data, "temporary URL");
    // A range through it.
    let (res, _) = get_content(&app, &url, None, &[("Range", "bytes=10-19")]).await;
    assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    assert_same_bytes(&res.raw, &data[10..20], "range through the temporary URL");

    let (path, query) = url.split_once('?').unwrap();
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let expires = params.iter().find(|(k, _)| k == "Expires").unwrap().1.clone();
    let signature = params.iter().find(|(k, _)| k == "Signature").unwrap().1.clone();
    let build = |path: &str, expires: &str, signature: &str| {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("Expires", expires)
            .append_pair("Signature", signature)
            .finish();
        format!("{path}?{q}")
    };
    assert_download(get_content(&app, &build(path, &expires, &signature), None, &[]).await, &data, "rebuilt");

    let flipped: String = {
        let mut chars: Vec<char> = signature.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    };
    let e: i64 = expires.parse().unwrap();
    let altered = [
        ("altered signature", build(path, &expires, &flipped)),
        ("truncated signature", build(path, &expires, &signature[..signature.len() - 2])),
        ("signature with extra bytes", build(path, &expires, &format!("{signature}AA"))),
        ("empty signature", build(path, &expires, "")),
        ("Expires + 1", build(path, &(e + 1).to_string(), &signature)),
        ("Expires - 1", build(path, &(e - 1).to_string(), &signature)),
        ("Expires far ahead", build(path, &(e + 86_400).to_string(), &signature)),
        ("Expires not a number", build(path, "soon", &signature)),
        ("another media's SID", build(&path.replace(&sid_a, &sid_b), &expires, &signature)),
        ("another service's SID", build(&path.replace(&service, &other_service), &expires, &signature)),
        ("an unknown service SID", build(&path.replace(&service, &unknown_service), &expires, &signature)),
        ("only Expires", format!("{path}?Expires={expires}")),
        ("only Signature", format!("{path}?Signature={signature}")),
    ];
    for (what, url) in altered {
        let (res, _) = get_content(&app, &url, None, &[]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{what}: {url}");
        assert_eq!(res.body["code"], 20403, "{what}: {}", res.body);
        assert!(!res.raw.windows(32).any(|w| w == &data[..32]), "{what}: content leaked");
    }
    // A URL signed with the server's own key but expiring beyond the TTL is
    // refused: no URL outlives the configured TTL.
    let master = app.state.config.media.master_key.expect("tests configure a master key");
    let key = confab::media::crypto::SecretKey::from_bytes(master);
    let mint = |ttl: i64| {
        let (expires, signature) =
            confab::media::signed_url::UrlSigner::new(&key, ttl).sign(&service, &sid_a, now());
        build(path, &expires.to_string(), &signature)
    };
    assert_download(get_content(&app, &mint(300), None, &[]).await, &data, "minted within the TTL");
    for ttl in [3600, 86_400 * 365] {
        let (res, _) = get_content(&app, &mint(ttl), None, &[]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "expiry {ttl} s ahead");
    }
    // Each media's own URL still works.
    assert_download(content_temp(&app, &b, &[]).await, &random_bytes(100_000, 42), "the other media");
}

/// `max-age` of a `private, max-age=N` Cache-Control value.
fn max_age(cache_control: &str) -> Option<i64> {
    cache_control.strip_prefix("private, max-age=")?.parse().ok()
}

/// A temporary URL's download may be cached at most until the URL expires,
/// and never longer than the TTL; authenticated downloads are revalidated.
#[actix_web::test]
async fn temporary_url_downloads_are_cached_no_longer_than_the_url_lives() {
    let app = TestApp::with_config(|c| c.media.url_ttl = Duration::from_secs(120)).await;
    let service = app.default_service().await;
    let data = random_bytes(5000, 45);
    let m = upload(&app, &service, &data, Some("image/png"), None).await;
    let (res, _) = content_temp(&app, &m, &[]).await;
    assert_eq!(res.status, StatusCode::OK);
    let cache = header(&res, "cache-control").unwrap_or_default();
    let age = max_age(&cache).unwrap_or_else(|| panic!("Cache-Control {cache:?}"));
    assert!((115..=120).contains(&age), "a 120 s TTL: Cache-Control {cache:?}");

    // A URL with ten seconds left is cached for at most ten seconds.
    let key = confab::media::crypto::SecretKey::from_bytes(app.state.config.media.master_key.expect("key"));
    let sid = text(&m["sid"]);
    let (expires, signature) =
        confab::media::signed_url::UrlSigner::new(&key, 10).sign(&service, &sid, now());
    let url = format!("/v1/Services/{service}/Media/{sid}/Content?Expires={expires}&Signature={signature}");
    let (res, _) = get_content(&app, &url, None, &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let cache = header(&res, "cache-control").unwrap_or_default();
    let age = max_age(&cache).unwrap_or_else(|| panic!("Cache-Control {cache:?}"));
    assert!((0..=10).contains(&age), "ten seconds left: Cache-Control {cache:?}");
    let (res, _) = get_content(&app, &url, None, &[("Range", "bytes=0-9")]).await;
    assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    assert!(max_age(&header(&res, "cache-control").unwrap_or_default()).is_some_and(|a| a <= 10));

    let (res, _) = content_basic(&app, &m, &[]).await;
    assert_eq!(header(&res, "cache-control").as_deref(), Some("private, no-cache"), "Basic auth");
}

#[actix_web::test]
async fn temporary_urls_expire_and_can_be_renewed() {
    let app = TestApp::with_config(|c| c.media.url_ttl = Duration::from_secs(1)).await;
    let service = app.default_service().await;
    let data = random_bytes(5000, 43);
    let m = upload(&app, &service, &data, None, None).await;
    let sid = text(&m["sid"]);
    let url = TestApp::path_of(&text(&m["links"]["content_direct_temporary"]));
    let expires: i64 = url.split("Expires=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
    assert!(expires <= now() + 2, "a 1-second TTL, yet Expires is {expires} at {}", now());
    assert_download(get_content(&app, &url, None, &[]).await, &data, "before expiry");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (res, _) = get_content(&app, &url, None, &[]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "expired URL");
    assert_eq!(res.body["code"], 20403);
    assert!(res.raw.len() < 1000);

    // A fresh fetch of the Media JSON gives a fresh, working URL; Basic auth
    // is not affected by the TTL.
    let fresh = media_json(&app, &service, &sid).await.expect(200);
    let fresh_url = TestApp::path_of(&text(&fresh["links"]["content_direct_temporary"]));
    assert_ne!(fresh_url, url);
    assert_download(get_content(&app, &fresh_url, None, &[]).await, &data, "fresh URL");
    assert_download(content_basic(&app, &m, &[]).await, &data, "Basic auth");
}

#[actix_web::test]
async fn temporary_urls_of_deleted_media_are_not_found() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let data = random_bytes(3000, 44);
    let m = upload(&app, &service, &data, Some("image/png"), None).await;
    let sid = text(&m["sid"]);
    let msg = send_media(&app, &messages_path(&ch), &[&sid], &[]).await.expect(201);
    let fetched = media_json(&app, &service, &sid).await.expect(200);
    let url = TestApp::path_of(&text(&fetched["links"]["content_direct_temporary"]));
    assert_download(get_content(&app, &url, None, &[]).await, &data, "attached media");

    app.delete(&format!("{}/{}", messages_path(&ch), text(&msg["sid"]))).await.expect(204);
    let (res, _) = get_content(&app, &url, None, &[]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "a valid URL of deleted media");
    let (res, _) = content_basic(&app, &m, &[]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    media_json(&app, &service, &sid).await.expect_error(404, 20404);
}

// ===========================================================================
// 6. Limits

async fn assert_nothing_stored(state: &AppState, what: &str) {
    assert_eq!(media_rows(state).await, 0, "{what}: a media row remains");
    collect(state, now()).await;
    assert_eq!(objects(state).await, Vec::<String>::new(), "{what}: an object remains");
    assert_eq!(pending_deletions(state).await, 0, "{what}: deletions still queued");
}

#[actix_web::test]
async fn declared_lengths_over_the_limit_are_refused_and_keep_nothing() {
    let app = TestApp::with_config(|c| c.media.max_bytes = 100_000).await;
    let service = app.default_service().await;
    let over = random_bytes(100_001, 51);
    upload_raw_as(&app, &app.account.basic(), &service, &over, Some("image/png"), None)
        .await
        .expect_error(413, 20413);
    assert_nothing_stored(&app.state, "raw, declared over").await;
    // A multipart body far over the limit (beyond any room for part headers).
    upload_multipart(&app, &service, &[], &random_bytes(300_000, 52), "big.bin", None)
        .await
        .expect_error(413, 20413);
    assert_nothing_stored(&app.state, "multipart, declared over").await;
    // A multipart body whose file part alone crosses the limit by one byte.
    upload_multipart(&app, &service, &[], &over, "big.bin", None).await.expect_error(413, 20413);
    assert_nothing_stored(&app.state, "multipart, file part over").await;

    // Exactly the limit is fine, both ways.
    let exact = random_bytes(100_000, 53);
    let m = upload(&app, &service, &exact, None, None).await;
    assert_download(content_basic(&app, &m, &[]).await, &exact, "raw at the limit");
    let m = upload_multipart(&app, &service, &[], &exact, "exact.bin", None).await.expect(201);
    assert_download(content_basic(&app, &m, &[]).await, &exact, "multipart at the limit");
    assert_eq!(media_rows(&app.state).await, 2);
    assert_eq!(objects(&app.state).await.len(), 2);
}

/// A declared `Content-Length` the body does not match answers 400.
#[actix_web::test]
async fn length_mismatches_answer_400_and_keep_nothing() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let data = random_bytes(1000, 54);
    for declared in ["2000", "999", "0"] {
        let req = test::TestRequest::post()
            .uri(&upload_uri(&service, Some("x.bin")))
            .insert_header(("Authorization", app.account.basic()))
            .set_payload(data.clone())
            .insert_header(("Content-Length", declared));
        let res = call(&app, req).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "Content-Length {declared} for 1000 bytes: {}",
            res.body
        );
        assert_nothing_stored(&app.state, &format!("Content-Length {declared}")).await;
    }
}

#[actix_web::test]
async fn malformed_multipart_is_refused_and_keeps_nothing() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let file = random_bytes(100_000, 58);
    let whole = multipart_body(&[], &file, "x.bin", None);
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("no boundary", "multipart/form-data".into(), whole.clone()),
        ("no file part", multipart_type(), {
            let mut b = Vec::new();
            write!(b, "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"FileName\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n")
                .unwrap();
            b
        }),
        (
            "file part never closed",
            multipart_type(),
            whole[..whole.len() - multipart_tail().len() - 10].to_vec(),
        ),
        ("not multipart at all", multipart_type(), b"just some bytes".to_vec()),
    ];
    for (what, content_type, body) in cases {
        let req = test::TestRequest::post()
            .uri(&upload_uri(&service, None))
            .insert_header(("Authorization", app.account.basic()))
            .insert_header(("Content-Type", content_type))
            .set_payload(body);
        let res = call(&app, req).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{what}: {}", res.body);
        assert_nothing_stored(&app.state, what).await;
    }
}

#[actix_web::test]
async fn chunked_uploads_crossing_the_limit_are_refused_and_keep_nothing() {
    let server = TestServer::start_with_config(|c| c.media.max_bytes = 100_000).await;
    let client = server.client();
    let service = server_service(&server).await;
    let url = format!("{}/v1/Services/{service}/Media", server.base);
    let pieces = |total: usize| {
        let data = Bytes::from(random_bytes(total, 55));
        let n = total.div_ceil(16 * 1024);
        let items: Vec<Result<Bytes, std::io::Error>> =
            (0..n).map(|k| Ok(data.slice(k * 16 * 1024..((k + 1) * 16 * 1024).min(total)))).collect();
        futures_util::stream::iter(items)
    };
    let mut res = client.post(&url).send_stream(pieces(200 * 1024)).await.expect("chunked upload");
    assert_eq!(res.status().as_u16(), 413);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], 20413, "{body}");
    assert_nothing_stored(&server.state, "chunked over the limit").await;

    // Over the wire, a declared length over the limit is answered at once.
    let mut res = client.post(&url).send_body(random_bytes(200 * 1024, 59)).await.expect("sized upload");
    assert_eq!(res.status().as_u16(), 413);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], 20413, "{body}");
    assert_nothing_stored(&server.state, "sized over the limit").await;

    // Chunked multipart crossing the limit.
    let mut form = multipart_head(&[], "big.bin", None);
    form.extend_from_slice(&random_bytes(150_000, 56));
    form.extend_from_slice(&multipart_tail());
    let form = Bytes::from(form);
    let items: Vec<Result<Bytes, std::io::Error>> =
        form.chunks(10_000).map(|c| Ok(form.slice_ref(c))).collect();
    let res = client
        .post(&url)
        .insert_header(("Content-Type", multipart_type()))
        .send_stream(futures_util::stream::iter(items))
        .await
        .expect("chunked multipart");
    assert_eq!(res.status().as_u16(), 413);
    assert_nothing_stored(&server.state, "chunked multipart over the limit").await;

    // A chunked upload of exactly the limit is fine.
    let mut res = client.post(&url).send_stream(pieces(100_000)).await.expect("chunked upload");
    assert_eq!(res.status().as_u16(), 201);
    let m: Value = res.json().await.expect("json");
    assert_eq!(m["size"], 100_000);
    assert_eq!(media_rows(&server.state).await, 1);
    server.stop().await;
}

fn host_of(base: &str) -> String {
    base.strip_prefix("http://").unwrap_or(base).to_owned()
}

/// A client that declares 50000 bytes, sends 10000 and closes its side.
#[actix_web::test]
async fn uploads_cut_off_mid_body_keep_nothing() {
    let multiparts = Arc::new(Multiparts::default());
    let server = TestServer::start_with_state(
        |c| c.media.upload_idle_timeout = Duration::from_secs(5),
        counting(&multiparts),
    )
    .await;
    let service = server_service(&server).await;
    // 10 MiB: past the first object-store part, so on S3 a multipart upload is open.
    for size in [10_000usize, 10 * MIB] {
        let declared = size * 5;
        let head = format!(
            "POST /v1/Services/{service}/Media?Filename=cut.bin HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n",
            host = host_of(&server.base),
            auth = server.account.basic(),
        );
        let addr = host_of(&server.base);
        let answer = web::block(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(head.as_bytes()).expect("head");
            s.write_all(&random_bytes(size, 57)).expect("body");
            s.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(300));
            s.shutdown(std::net::Shutdown::Write).expect("shutdown");
            s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await
        .expect("client thread");
        assert!(!answer.starts_with("HTTP/1.1 2"), "a cut-off upload succeeded: {answer}");

        // The row goes at once (or, failing that, with the collector).
        let mut waited = 0;
        while media_rows(&server.state).await > 0 && waited < 100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        if media_rows(&server.state).await > 0 {
            eprintln!("cut-off upload of {size}: row still present after 10 s, running the collector");
            collect(&server.state, now() + 3600).await;
        }
        let what = format!("cut off after {size} of {declared} bytes");
        assert_nothing_stored(&server.state, &what).await;
        assert_no_open_multipart(&server.state, &multiparts, &what).await;
    }
    if uses_multipart(&server.state) {
        assert_eq!(multiparts.opened(), 1, "the 10 MiB upload opened a multipart upload: {multiparts:?}");
    }
    server.stop().await;
}

/// Sends `head` and then `pieces` over a raw socket (as HTTP/1.1 chunks if
/// `chunked`), `pause` apart, until the server answers or hangs up; returns
/// the answer. Blocking: call it from `web::block`. Reading runs on its own
/// thread, so an answer sent before the body is complete is not lost.
fn raw_exchange(
    addr: &str,
    head: &str,
    pieces: impl Iterator<Item = Vec<u8>>,
    chunked: bool,
    pause: Duration,
) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut reader = s.try_clone().expect("clone socket");
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = answered.clone();
    let read = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            answer.extend_from_slice(&buf[..n]);
            seen.store(true, Ordering::SeqCst);
            // The head and a JSON body of the declared length: done.
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok());
                if length.is_some_and(|n| body.len() >= n) {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    });
    let mut sent = s.write_all(head.as_bytes()).is_ok();
    for piece in pieces {
        if !sent || answered.load(Ordering::SeqCst) {
            break;
        }
        sent = if chunked {
            s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .and_then(|()| s.write_all(&piece))
                .and_then(|()| s.write_all(b"\r\n"))
                .is_ok()
        } else {
            s.write_all(&piece).is_ok()
        };
        std::thread::sleep(pause);
    }
    if sent && chunked && !answered.load(Ordering::SeqCst) {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    read.join().expect("reader thread")
}

/// A chunked upload crossing a limit of several parts answers 413 mid-stream
/// and leaves no row, no object and (on S3) no open multipart upload.
#[actix_web::test]
async fn chunked_uploads_crossing_a_multi_part_limit_abort_their_upload() {
    let multiparts = Arc::new(Multiparts::default());
    let server =
        TestServer::start_with_state(|c| c.media.max_bytes = 9 * MIB as u64, counting(&multiparts)).await;
    let service = server_service(&server).await;
    let head = format!(
        "POST /v1/Services/{service}/Media HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n",
        host = host_of(&server.base),
        auth = server.account.basic(),
    );
    let addr = host_of(&server.base);
    let answer = web::block(move || {
        let pieces = (0..12 * 16).map(|k| random_bytes(64 * 1024, 600 + k));
        raw_exchange(&addr, &head, pieces, true, Duration::ZERO)
    })
    .await
    .expect("client thread");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("20413"), "{answer}");
    assert_nothing_stored(&server.state, "chunked over a 9 MiB limit").await;
    assert_no_open_multipart(&server.state, &multiparts, "chunked over a 9 MiB limit").await;
    if uses_multipart(&server.state) {
        assert_eq!(multiparts.opened(), 1, "the first part went up before the limit: {multiparts:?}");
    }
    server.stop().await;
}

/// A client that stops sending is cut off after the idle timeout.
#[actix_web::test]
async fn idle_uploads_time_out_and_keep_nothing() {
    let server =
        TestServer::start_with_config(|c| c.media.upload_idle_timeout = Duration::from_secs(1)).await;
    let service = server_service(&server).await;
    let head = format!(
        "POST /v1/Services/{service}/Media HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Length: 100000\r\n\r\n",
        host = host_of(&server.base),
        auth = server.account.basic(),
    );
    let addr = host_of(&server.base);
    let started = std::time::Instant::now();
    let answer = web::block(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.write_all(head.as_bytes()).expect("head");
        s.write_all(&[1u8; 1000]).expect("body");
        s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
        let mut answer = vec![0u8; 4096];
        let n = s.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .expect("client thread");
    assert!(answer.starts_with("HTTP/1.1 408"), "an idle upload was not timed out: {answer:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_nothing_stored(&server.state, "idle upload").await;
    server.stop().await;
}

/// A client that keeps sending, but too slowly, is cut off once its grace
/// period is over, well before the idle timeout would.
#[actix_web::test]
async fn uploads_slower_than_the_minimum_rate_time_out_and_keep_nothing() {
    let server = TestServer::start_with_config(|c| {
        c.media.upload_idle_timeout = Duration::from_secs(30);
        c.media.upload_min_rate = 100_000;
        c.media.upload_rate_grace = Duration::from_secs(1);
    })
    .await;
    let service = server_service(&server).await;
    let head = format!(
        "POST /v1/Services/{service}/Media HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Length: 1000000\r\n\r\n",
        host = host_of(&server.base),
        auth = server.account.basic(),
    );
    let addr = host_of(&server.base);
    let started = std::time::Instant::now();
    // 10 kB/s, a tenth of the minimum, and never idle for long.
    let answer = web::block(move || {
        raw_exchange(&addr, &head, (0..100).map(|_| vec![1u8; 1000]), false, Duration::from_millis(100))
    })
    .await
    .expect("client thread");
    assert!(answer.starts_with("HTTP/1.1 408"), "a slow upload was not timed out: {answer:?}");
    assert!(answer.contains("20408") && answer.contains("bytes per second"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert_nothing_stored(&server.state, "slow upload").await;
    server.stop().await;
}

/// With every upload slot taken, a new upload waits briefly, then answers
/// 503 with Retry-After instead of hanging; it keeps nothing.
#[actix_web::test]
async fn uploads_beyond_the_slots_answer_503_after_a_short_wait() {
    let app = TestApp::with_config(|c| c.media.upload_queue_timeout = Duration::from_millis(300)).await;
    let service = app.default_service().await;
    let uploads = &app.state.media.uploads;
    let held = uploads.try_acquire_many(uploads.available_permits() as u32).expect("every slot");
    let data = random_bytes(10_000, 65);
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        upload_raw_as(&app, &app.account.basic(), &service, &data, None, None),
    )
    .await
    .expect("answered rather than waiting for a slot");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5), "waited {waited:?}");
    let retry_after = header(&res, "retry-after");
    assert!(
        retry_after.as_deref().and_then(|v| v.parse::<u32>().ok()).is_some_and(|s| s > 0),
        "{retry_after:?}"
    );
    res.expect_error(503, 20503);
    assert_nothing_stored(&app.state, "no upload slot").await;

    // A slot frees up: uploads go through again.
    drop(held);
    let m = upload(&app, &service, &data, None, None).await;
    assert_download(content_basic(&app, &m, &[]).await, &data, "after a slot freed");
}

#[actix_web::test]
async fn combined_size_over_the_limit_is_refused_without_a_message() {
    let app = TestApp::with_config(|c| c.media.max_bytes = 100_000).await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let messages = messages_path(&ch);
    let a = text(&upload(&app, &service, &random_bytes(60_000, 61), None, None).await["sid"]);
    let b = text(&upload(&app, &service, &random_bytes(50_000, 62), None, None).await["sid"]);
    let body = send_media(&app, &messages, &[&a, &b], &[("Body", "both")]).await.expect_error(400, 50512);
    assert!(text(&body["message"]).contains("100000"), "{body}");
    assert_eq!(message_count(&app, &messages).await, 0, "no message is created");
    for sid in [&a, &b] {
        let m = media_json(&app, &service, sid).await.expect(200);
        assert!(m["message_sid"].is_null(), "{m}");
        assert_eq!(media_row(&app.state, sid).await.unwrap().state, "ready");
    }
    // Each alone fits.
    send_media(&app, &messages, &[&a], &[]).await.expect(201);
    send_media(&app, &messages, &[&b], &[]).await.expect(201);
    assert_eq!(message_count(&app, &messages).await, 2);
}

#[actix_web::test]
async fn too_many_media_per_message_are_refused() {
    let app = TestApp::with_config(|c| c.media.max_per_message = 2).await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let messages = messages_path(&ch);
    let mut sids = Vec::new();
    for i in 0..3 {
        sids.push(text(&upload(&app, &service, &random_bytes(100, 70 + i), None, None).await["sid"]));
    }
    let all: Vec<&str> = sids.iter().map(String::as_str).collect();
    let res = send_media(&app, &messages, &all, &[]).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(message_count(&app, &messages).await, 0);
    for sid in &sids {
        assert_eq!(media_row(&app.state, sid).await.unwrap().state, "ready");
    }
    let m = send_media(&app, &messages, &all[..2], &[]).await.expect(201);
    assert_eq!(m["media"].as_array().unwrap().len(), 2);
}

// ===========================================================================
// 7. Attaching

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
    assert_eq!(media_row(&app.state, &b).await.unwrap().state, "ready");
    assert_eq!(message_count(&app, &messages).await, 1, "only the first message exists");
    let m = media_json(&app, &service, &a).await.expect(200);
    assert_eq!(m["message_sid"], first["sid"]);
    // A message refused for another reason leaves its media free too.
    let closed = text(&app.conversation(&[]).await["sid"]);
    app.post(&format!("/v1/Conversations/{closed}"), &[("State", "closed")]).await.expect(200);
    let res = send_media(&app, &messages_path(&closed), &[&b], &[]).await;
    assert!(res.status.is_client_error(), "a message in a closed conversation: {}", res.status);
    assert_eq!(media_row(&app.state, &b).await.unwrap().state, "ready");
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

// ===========================================================================
// 8. Cascades and the collector

/// Media rows and objects of `sids` are gone (the objects after a collector
/// pass, if not at once); `kept` media still download.
async fn assert_media_gone(app: &TestApp, sids: &[String], kept: &[(Value, Vec<u8>)], what: &str) {
    for sid in sids {
        assert!(media_row(&app.state, sid).await.is_none(), "{what}: the row of {sid} remains");
    }
    collect(&app.state, now()).await;
    let left = objects(&app.state).await;
    for sid in sids {
        assert!(!left.contains(&Storage::media_key(sid)), "{what}: the object of {sid} remains");
        assert!(stored(&app.state, sid).await.is_none(), "{what}: the object of {sid} remains");
    }
    assert_eq!(pending_deletions(&app.state).await, 0, "{what}: deletions still queued");
    assert_eq!(left.len(), kept.len(), "{what}: objects {left:?}");
    for (m, data) in kept {
        assert_download(content_basic(app, m, &[]).await, data, &format!("{what}: kept media"));
    }
}

#[actix_web::test]
async fn deleting_a_message_deletes_its_media() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let data: Vec<Vec<u8>> = (0..3).map(|i| random_bytes(70_000 + i, 130 + i as u64)).collect();
    let mut media = Vec::new();
    for d in &data {
        media.push(upload(&app, &service, d, None, None).await);
    }
    let sids: Vec<String> = media.iter().map(|m| text(&m["sid"])).collect();
    let msg = send_media(&app, &messages_path(&ch), &[&sids[0], &sids[1]], &[]).await.expect(201);
    let other_msg = send_media(&app, &messages_path(&ch), &[&sids[2]], &[]).await.expect(201);
    assert_eq!(objects(&app.state).await.len(), 3);

    app.delete(&format!("{}/{}", messages_path(&ch), text(&msg["sid"]))).await.expect(204);
    for sid in &sids[..2] {
        media_json(&app, &service, sid).await.expect_error(404, 20404);
    }
    assert_media_gone(&app, &sids[..2], &[(media[2].clone(), data[2].clone())], "message delete").await;
    let m = media_json(&app, &service, &sids[2]).await.expect(200);
    assert_eq!(m["message_sid"], other_msg["sid"]);
    // A deleted media cannot be attached again.
    send_media(&app, &messages_path(&ch), &[&sids[0]], &[]).await.expect_error(400, 50510);
}

#[actix_web::test]
async fn deleting_a_conversation_deletes_its_media() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let doomed = text(&app.conversation(&[]).await["sid"]);
    let kept_ch = text(&app.conversation(&[]).await["sid"]);
    let mut gone = Vec::new();
    for i in 0..2 {
        let m = upload(&app, &service, &random_bytes(70_000, 140 + i), None, None).await;
        gone.push(text(&m["sid"]));
    }
    send_media(&app, &messages_path(&doomed), &[&gone[0]], &[]).await.expect(201);
    send_media(&app, &messages_path(&doomed), &[&gone[1]], &[("Body", "x")]).await.expect(201);
    // Media of another conversation, and media never attached, stay.
    let kept_data = random_bytes(2000, 149);
    let kept = upload(&app, &service, &kept_data, None, None).await;
    send_media(&app, &messages_path(&kept_ch), &[&text(&kept["sid"])], &[]).await.expect(201);
    let loose_data = random_bytes(3000, 150);
    let loose = upload(&app, &service, &loose_data, None, None).await;

    app.delete(&format!("/v1/Conversations/{doomed}")).await.expect(204);
    for sid in &gone {
        media_json(&app, &service, sid).await.expect_error(404, 20404);
    }
    assert_media_gone(&app, &gone, &[(kept, kept_data), (loose, loose_data)], "conversation delete").await;
}

#[actix_web::test]
async fn deleting_a_service_deletes_its_media() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let doomed = new_service(&app, "doomed").await;
    let ch = text(&app.post(&format!("/v1/Services/{doomed}/Conversations"), &[]).await.expect(201)["sid"]);
    let messages = format!("/v1/Services/{doomed}/Conversations/{ch}/Messages");
    let attached = text(&upload(&app, &doomed, &random_bytes(80_000, 160), None, None).await["sid"]);
    send_media(&app, &messages, &[&attached], &[]).await.expect(201);
    // Media uploaded to the service but never attached goes with it too.
    let loose = text(&upload(&app, &doomed, &random_bytes(500, 161), None, None).await["sid"]);
    let kept_data = random_bytes(4000, 162);
    let kept = upload(&app, &default, &kept_data, None, None).await;

    app.delete(&format!("/v1/Services/{doomed}")).await.expect(204);
    assert_media_gone(&app, &[attached, loose], &[(kept, kept_data)], "service delete").await;
    assert_eq!(media_rows(&app.state).await, 1);
}

#[actix_web::test]
async fn the_collector_removes_unattached_media_after_its_window() {
    let app = TestApp::with_config(|c| c.media.gc_after = Duration::from_secs(1)).await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let loose_data = random_bytes(90_000, 170);
    let loose = upload(&app, &service, &loose_data, None, None).await;
    let loose_sid = text(&loose["sid"]);
    let fetched = media_json(&app, &service, &loose_sid).await.expect(200);
    let attached_data = random_bytes(70_000, 171);
    let attached = upload(&app, &service, &attached_data, None, None).await;
    send_media(&app, &messages_path(&ch), &[&text(&attached["sid"])], &[]).await.expect(201);

    // Within the window nothing goes (as of the upload's own second).
    let uploaded_at = media_row(&app.state, &loose_sid).await.unwrap().date_upload_updated;
    let pass = collect(&app.state, uploaded_at).await;
    assert_eq!(pass.expired, 0, "{pass:?}");
    assert_eq!(media_rows(&app.state).await, 2);
    assert_download(content_basic(&app, &loose, &[]).await, &loose_data, "within the window");

    // After it, the unattached media and its object go; the attached stays.
    let pass = collect(&app.state, now() + 5).await;
    assert_eq!(pass.expired, 1, "{pass:?}");
    assert!(media_row(&app.state, &loose_sid).await.is_none(), "unattached media outlived its window");
    assert!(stored(&app.state, &loose_sid).await.is_none(), "the collected media's object remains");
    assert_eq!(objects(&app.state).await, vec![Storage::media_key(&text(&attached["sid"]))]);
    assert_eq!(pending_deletions(&app.state).await, 0);
    assert_download(content_basic(&app, &attached, &[]).await, &attached_data, "attached media");
    let again = collect(&app.state, now() + 3600).await;
    assert_eq!(again.expired, 0, "attached media is never collected: {again:?}");
    assert_download(content_temp(&app, &attached, &[]).await, &attached_data, "attached media, later");

    // The collected SID: gone everywhere, and not attachable.
    media_json(&app, &service, &loose_sid).await.expect_error(404, 20404);
    let (res, _) = content_temp(&app, &fetched, &[]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "a temporary URL of collected media");
    let body = send_media(&app, &messages_path(&ch), &[&loose_sid], &[]).await.expect_error(400, 50510);
    assert!(text(&body["message"]).contains("no media with that SID exists"), "{body}");
}

/// Inserts media rows in `state` (no objects), each `(sid, last touched)`.
async fn insert_media(app: &TestApp, service: &str, state: &'static str, rows: &[(String, i64)]) {
    let (rows, service, account) = (rows.to_vec(), service.to_owned(), app.account.sid.clone());
    app.state
        .db
        .write(move |conn| {
            for (sid, touched) in &rows {
                let key = Storage::media_key(sid);
                diesel::insert_into(media::table)
                    .values(NewMedia {
                        sid,
                        account_sid: &account,
                        service_sid: &service,
                        state,
                        content_type: "application/octet-stream",
                        filename: None,
                        category: "media",
                        author: "system",
                        size: 0,
                        object_key: &key,
                        key_id: "test",
                        wrapped_key: &[0u8; 60],
                        nonce_prefix: &[0u8; 7],
                        date_created: *touched,
                        date_upload_updated: *touched,
                        date_updated: *touched,
                    })
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
        .expect("insert media rows");
}

/// A heartbeat that fails is logged and the upload goes on.
#[actix_web::test]
async fn a_failed_heartbeat_does_not_fail_the_upload() {
    let app = TestApp::with_config(|c| c.media.upload_heartbeat = Duration::ZERO).await;
    let service = app.default_service().await;
    // Every update that keeps a row `uploading` (a heartbeat) fails.
    let postgres = app.state.db.is_postgres();
    app.state
        .db
        .write(move |conn| {
            let statements: &[&str] = if postgres {
                &[
                    "CREATE FUNCTION refuse_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.state = 'uploading' THEN RAISE EXCEPTION 'heartbeat refused'; END IF; \
                     RETURN NEW; END $$",
                    "CREATE TRIGGER refuse_heartbeat BEFORE UPDATE ON media FOR EACH ROW \
                     EXECUTE FUNCTION refuse_heartbeat()",
                ]
            } else {
                &["CREATE TRIGGER refuse_heartbeat BEFORE UPDATE ON media WHEN NEW.state = 'uploading' \
                   BEGIN SELECT RAISE(ABORT, 'heartbeat refused'); END"]
            };
            for sql in statements {
                diesel::sql_query(*sql).execute(conn)?;
            }
            Ok(())
        })
        .await
        .expect("trigger");
    let data = random_bytes(300_000, 64);
    let m = upload(&app, &service, &data, None, None).await;
    assert_download(content_basic(&app, &m, &[]).await, &data, "uploaded despite a failed heartbeat");
}

/// A long idle timeout lengthens the window after which uploads count as
/// abandoned: an upload idle for less than heartbeat + timeout stays.
#[actix_web::test]
async fn the_stale_upload_window_follows_the_idle_timeout() {
    let app = TestApp::with_config(|c| {
        c.media.gc_after = Duration::from_secs(1);
        c.media.upload_idle_timeout = Duration::from_secs(600);
    })
    .await;
    let service = app.default_service().await;
    let window = app.state.config.media.stale_upload_after().as_secs() as i64;
    assert!(window > 600 + 60, "window {window} s");
    let t = now();
    let (idle, abandoned) = (SidKind::Media.generate(), SidKind::Media.generate());
    // Idle for 400 s: within its 600 s timeout (and the last heartbeat).
    insert_media(
        &app,
        &service,
        "uploading",
        &[(idle.clone(), t - 400), (abandoned.clone(), t - window - 1)],
    )
    .await;
    let pass = collect(&app.state, t).await;
    assert_eq!(pass.expired, 1, "{pass:?}");
    assert!(
        media_row(&app.state, &idle).await.is_some(),
        "a live upload within its idle timeout was collected"
    );
    assert!(media_row(&app.state, &abandoned).await.is_none(), "the abandoned upload remains");
}

/// The row of an upload in progress is deleted (as a service delete or the
/// collector would): the upload answers 409 and keeps nothing.
#[actix_web::test]
async fn an_upload_whose_row_vanished_answers_409_and_keeps_nothing() {
    let server = TestServer::start().await;
    let service = server_service(&server).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let request =
        server.client().post(format!("{}/v1/Services/{service}/Media", server.base)).send_stream(body);
    let answer = actix_web::rt::spawn(async move {
        let mut res = request.await.expect("upload");
        let body: Value = res.json().await.expect("json");
        (res.status().as_u16(), body)
    });
    let data = random_bytes(200_000, 63);
    tx.send(Ok(Bytes::copy_from_slice(&data[..100_000]))).await.expect("first half");
    let mut waited = 0;
    while media_rows(&server.state).await == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let deleted = server
        .state
        .db
        .write(|conn| Ok(diesel::delete(media::table).execute(conn)?))
        .await
        .expect("delete the row");
    assert_eq!(deleted, 1, "the upload's row exists while it streams");
    tx.send(Ok(Bytes::copy_from_slice(&data[100_000..]))).await.expect("second half");
    drop(tx);
    let (status, body) = answer.await.expect("client task");
    assert_eq!((status, body["code"].as_u64()), (409, Some(20409)), "{body}");
    assert_nothing_stored(&server.state, "row deleted mid-upload").await;
    server.stop().await;
}

/// More expired media than one statement deletes: one pass takes them all.
#[actix_web::test]
async fn one_collector_pass_expires_more_than_one_batch() {
    let app = TestApp::with_config(|c| c.media.gc_after = Duration::from_secs(1)).await;
    let service = app.default_service().await;
    let t = now();
    let many = gc::BATCH as usize * 2 + 1;
    let rows: Vec<(String, i64)> = (0..many).map(|_| (SidKind::Media.generate(), t - 3600)).collect();
    insert_media(&app, &service, "ready", &rows).await;
    let fresh = SidKind::Media.generate();
    insert_media(&app, &service, "ready", &[(fresh.clone(), t)]).await;

    let pass = collect(&app.state, t).await;
    assert_eq!(pass.expired, many, "{pass:?}");
    assert_eq!(pass.objects_failed, 0, "{pass:?}");
    assert_eq!(media_rows(&app.state).await, 1, "only the fresh media remains");
    assert!(media_row(&app.state, &fresh).await.is_some());
    assert_eq!(pending_deletions(&app.state).await, 0);
}

#[actix_web::test]
async fn the_collector_removes_abandoned_uploads() {
    let app = TestApp::with_config(|c| c.media.gc_after = Duration::from_secs(1)).await;
    let service = app.default_service().await;
    let t = now();
    // (sid, last touched): one abandoned an hour ago, one in progress.
    let stale = SidKind::Media.generate();
    let active = SidKind::Media.generate();
    insert_media(&app, &service, "uploading", &[(stale.clone(), t - 3600), (active.clone(), t)]).await;
    // The abandoned upload left part of its object behind.
    put_stored(&app.state, &stale, random_bytes(1000, 180)).await;

    // An unfinished upload has no content and cannot be attached.
    let m = media_json(&app, &service, &active).await.expect(200);
    assert!(m["links"]["content_direct_temporary"].is_null(), "{m}");
    let (res, _) = content_basic(&app, &m, &[]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let ch = text(&app.conversation(&[]).await["sid"]);
    send_media(&app, &messages_path(&ch), &[&active], &[]).await.expect_error(400, 50510);

    let pass = collect(&app.state, t + 5).await;
    assert_eq!(pass.expired, 1, "{pass:?}");
    assert!(media_row(&app.state, &stale).await.is_none(), "the abandoned upload remains");
    assert!(stored(&app.state, &stale).await.is_none(), "its partial object remains");
    assert!(media_row(&app.state, &active).await.is_some(), "an upload in progress was collected");
    assert_eq!(pending_deletions(&app.state).await, 0);
}

// ===========================================================================
// 9. MediaSet

#[actix_web::test]
async fn media_set_answers_each_sid_in_order() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let a = upload(&app, &service, b"alpha", Some("image/png"), Some("a.png")).await;
    let b = upload(&app, &service, b"beta", Some("application/pdf"), Some("b.pdf")).await;
    let msg = send_media(&app, &messages_path(&ch), &[&text(&b["sid"])], &[]).await.expect(201);
    let other = new_service(&app, "other").await;
    let elsewhere = upload(&app, &other, b"gamma", None, None).await;
    let missing = SidKind::Media.generate();

    let asked = [
        text(&a["sid"]),
        missing.clone(),
        text(&b["sid"]),
        "bogus".into(),
        text(&elsewhere["sid"]),
        text(&a["sid"]),
    ];
    let list: Vec<Value> = asked.iter().map(|s| json!({"media_sid": s})).collect();
    let items = media_set(&app, &service, &json!({"command": "get", "list": list})).await.expect(200);
    let items = items.as_array().expect("a JSON array");
    assert_eq!(items.len(), asked.len());
    let codes: Vec<u64> = items.iter().map(|i| i["code"].as_u64().expect("code")).collect();
    assert_eq!(codes, [200, 404, 200, 404, 404, 200]);
    for (item, sid) in items.iter().zip(&asked) {
        if item["code"] == 200 {
            let record = &item["media_record"];
            assert_keys(record, &MEDIA_KEYS);
            assert_eq!(record["sid"], sid.as_str());
        } else {
            assert!(item["media_record"].is_null(), "{item}");
        }
    }
    assert_eq!(without_temporary(&items[0]["media_record"]), without_temporary(&a));
    assert_eq!(items[2]["media_record"]["message_sid"], msg["sid"]);
    assert_eq!(items[2]["media_record"]["channel_sid"], ch.as_str());
    assert_download(content_temp(&app, &items[0]["media_record"], &[]).await, b"alpha", "MediaSet URL");

    let empty = media_set(&app, &service, &json!({"command": "get", "list": []})).await.expect(200);
    assert_eq!(empty, json!([]));
    let res = media_set(&app, &service, &json!({"command": "delete", "list": list})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = media_set(&app, &service, &json!({"nonsense": true})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let many: Vec<Value> = (0..1000).map(|_| json!({"media_sid": text(&a["sid"])})).collect();
    let res = media_set(&app, &service, &json!({"command": "get", "list": many})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "a batch is bounded");
    assert_eq!(media_rows(&app.state).await, 3);
}

// ===========================================================================
// 10. 150 MiB (under CONFAB_TEST_LARGE_MEDIA=1)

const LARGE: usize = 157_286_400;
const PIECE: usize = MIB;

/// Piece `k` of the large content (regenerated on demand, never held whole).
fn large_piece(k: usize) -> Bytes {
    let len = PIECE.min(LARGE - k * PIECE);
    Bytes::from(random_bytes(len, 1_000_000 + k as u64))
}

fn large_stream() -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    futures_util::stream::iter(0..LARGE.div_ceil(PIECE)).map(|k| Ok(large_piece(k)))
}

async fn download_hash<S>(res: &mut awc::ClientResponse<S>) -> (usize, String)
where
    S: futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin,
{
    let mut hasher = Sha256::new();
    let mut n = 0;
    while let Some(piece) = res.next().await {
        let piece = piece.expect("download body");
        n += piece.len();
        hasher.update(&piece);
    }
    (n, digest_hex(hasher))
}

#[actix_web::test]
async fn largest_media_round_trips() {
    if std::env::var("CONFAB_TEST_LARGE_MEDIA").ok().as_deref() != Some("1") {
        eprintln!("largest_media_round_trips: skipped (set CONFAB_TEST_LARGE_MEDIA=1 to run)");
        return;
    }
    let server = TestServer::start().await;
    assert_eq!(server.state.media.config.max_bytes, LARGE as u64, "the default limit");
    let long = Duration::from_secs(1800);
    let client = awc::Client::builder()
        .timeout(long)
        .add_default_header(("Authorization", server.account.basic()))
        .finish();
    let anonymous = awc::Client::builder().timeout(long).finish();
    let service = server_service(&server).await;
    let mut hasher = Sha256::new();
    for k in 0..LARGE.div_ceil(PIECE) {
        hasher.update(large_piece(k));
    }
    let want = digest_hex(hasher);
    let url = format!("{}/v1/Services/{service}/Media", server.base);

    // Raw, with its length declared, streamed from the generator.
    let started = std::time::Instant::now();
    let mut res = client
        .post(format!("{url}?Filename=big.mp4"))
        .insert_header(("Content-Type", "video/mp4"))
        .send_body(awc::body::SizedStream::new(LARGE as u64, large_stream()))
        .await
        .expect("raw upload");
    assert_eq!(res.status().as_u16(), 201);
    let raw: Value = res.json().await.expect("json");
    let raw_upload = started.elapsed();
    eprintln!("150 MiB raw upload: {raw_upload:?}");
    check_media(&raw, &server.account.sid, &service, LARGE, "video/mp4", Some("big.mp4"), &server.base);

    // Multipart, chunked, the file part exactly at the limit.
    let head = Bytes::from(multipart_head(&[], "big.bin", Some("application/octet-stream")));
    let tail = Bytes::from(multipart_tail());
    let form = futures_util::stream::iter([Ok(head)])
        .chain(large_stream())
        .chain(futures_util::stream::iter([Ok::<Bytes, std::io::Error>(tail)]));
    let started = std::time::Instant::now();
    let mut res = client
        .post(&url)
        .insert_header(("Content-Type", multipart_type()))
        .send_stream(form)
        .await
        .expect("multipart upload");
    assert_eq!(res.status().as_u16(), 201);
    let multipart: Value = res.json().await.expect("json");
    let multipart_upload = started.elapsed();
    eprintln!("150 MiB multipart upload: {multipart_upload:?}");
    assert_eq!(multipart["size"], LARGE as u64);

    for (what, m, upload_time) in [("raw", &raw, raw_upload), ("multipart", &multipart, multipart_upload)] {
        let object =
            server.state.media.storage.store().head(&object_path(&text(&m["sid"]))).await.expect("head");
        assert_eq!(object.size, sealed_len(LARGE) as u64, "{what}: stored size");

        let started = std::time::Instant::now();
        let mut res =
            client.get(format!("{}{}", server.base, text(&m["links"]["content"]))).send().await.expect("get");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers().get("content-length").unwrap().to_str().unwrap(), LARGE.to_string());
        let (n, got) = download_hash(&mut res).await;
        let download_time = started.elapsed();
        eprintln!("150 MiB {what} download (Basic): {download_time:?}");
        assert_eq!(n, LARGE, "{what}: downloaded length");
        assert_eq!(got, want, "{what}: SHA-256 through Basic auth");
        // Downloading streams like uploading: same order of time, whatever
        // the machine (work per chunk must not grow with the object).
        assert!(
            download_time <= upload_time * 10 + Duration::from_secs(10),
            "{what}: downloading 150 MiB took {download_time:?}, uploading it {upload_time:?}"
        );

        let mut res = anonymous.get(text(&m["links"]["content_direct_temporary"])).send().await.expect("get");
        assert_eq!(res.status().as_u16(), 200);
        let (n, got) = download_hash(&mut res).await;
        assert_eq!((n, got.as_str()), (LARGE, want.as_str()), "{what}: SHA-256 through the temporary URL");

        // The tail, by range.
        let mut res = client
            .get(format!("{}{}", server.base, text(&m["links"]["content"])))
            .insert_header(("Range", "bytes=-1000"))
            .send()
            .await
            .expect("range");
        assert_eq!(res.status().as_u16(), 206);
        let tail = res.body().limit(MIB).await.expect("body");
        let last = large_piece(LARGE / PIECE - 1);
        assert_same_bytes(&tail, &last[last.len() - 1000..], "the last 1000 bytes");
    }
    server.stop().await;
}
