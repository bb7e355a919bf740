//! Limits.

use super::*;

#[actix_web::test]
async fn declared_lengths_over_the_limit_are_refused_and_keep_nothing() {
    let app = TestApp::builder().config(|c| c.media.max_bytes = 100_000).app().await;
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
    let server = TestApp::builder().config(|c| c.media.max_bytes = 100_000).server().await;
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

/// A client that declares 50000 bytes, sends 10000 and closes its side.
#[actix_web::test]
async fn uploads_cut_off_mid_body_keep_nothing() {
    let multiparts = Arc::new(Multiparts::default());
    let server = TestApp::builder()
        .config(|c| c.media.upload_idle_timeout = Duration::from_secs(5))
        .state(counting(&multiparts))
        .server()
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
    let server = TestApp::builder()
        .config(|c| c.media.max_bytes = 9 * MIB as u64)
        .state(counting(&multiparts))
        .server()
        .await;
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
        TestApp::builder().config(|c| c.media.upload_idle_timeout = Duration::from_secs(1)).server().await;
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
    let server = TestApp::builder()
        .config(|c| {
            c.media.upload_idle_timeout = Duration::from_secs(30);
            c.media.upload_min_rate = 100_000;
            c.media.upload_rate_grace = Duration::from_secs(1);
        })
        .server()
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
    let app =
        TestApp::builder().config(|c| c.media.upload_queue_timeout = Duration::from_millis(300)).app().await;
    let service = app.default_service().await;
    let uploads = &app.state.uploads;
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
    let app = TestApp::builder().config(|c| c.media.max_bytes = 100_000).app().await;
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
        assert_eq!(media_row(&app.state, sid).await.unwrap().state.as_str(), "ready");
    }
    // Each alone fits.
    send_media(&app, &messages, &[&a], &[]).await.expect(201);
    send_media(&app, &messages, &[&b], &[]).await.expect(201);
    assert_eq!(message_count(&app, &messages).await, 2);
}

#[actix_web::test]
async fn too_many_media_per_message_are_refused() {
    let app = TestApp::builder().config(|c| c.media.max_per_message = 2).app().await;
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
        assert_eq!(media_row(&app.state, sid).await.unwrap().state.as_str(), "ready");
    }
    let m = send_media(&app, &messages, &all[..2], &[]).await.expect(201);
    assert_eq!(m["media"].as_array().unwrap().len(), 2);
}

/// The fields before a multipart form's file are read into memory: they
/// may hold 64 KiB in all, however many there are; a form of fields only
/// is refused once past that, not read to its end.
#[actix_web::test]
async fn the_fields_before_the_file_are_capped_in_all() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let value = "x".repeat(4000);
    let few: Vec<(String, String)> = (0..4).map(|n| (format!("note{n}"), value.clone())).collect();
    let few: Vec<(&str, &str)> = few.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let many: Vec<(String, String)> = (0..40).map(|n| (format!("note{n}"), value.clone())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = upload_multipart(&app, &service, &many, b"late", "late.txt", None).await;
    let body = refused.expect_error(413, 20413);
    assert!(text(&body["message"]).contains("fields"), "{body}");
    assert_nothing_stored(&app.state, "fields over the cap").await;
    upload_multipart(&app, &service, &few, b"fine", "ok.txt", None).await.expect(201);
}

/// A token and its service on a real server: an API key, then the token.
async fn server_token(server: &TestServer, identity: &str) -> String {
    let client = server.client();
    let key: Value = client
        .post(format!("{}/2010-04-01/Accounts/{}/Keys.json", server.base, server.account.sid))
        .send_form(&[("FriendlyName", "tokens")])
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let key = crate::util::ApiKey { sid: text(&key["sid"]), secret: text(&key["secret"]) };
    crate::util::access_token(&key, &server.account.sid, identity, &server_service(server).await)
}

/// An upload that declares more than it sends, and stays open.
async fn stalled_upload(server: &TestServer, service: &str, token: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/Services/{service}/Media HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n0123456789"
    );
    socket.write_all(head.as_bytes()).await.expect("send");
    socket
}

/// One end user cannot hold every upload slot: past its share its next
/// upload is answered 429 with `Retry-After`, while other users and the
/// account still upload; its share frees as its uploads end.
#[actix_web::test]
async fn one_user_cannot_hold_every_upload_slot() {
    let server = TestApp::builder().config(|c| c.media.user_uploads = 2).server().await;
    let service = server_service(&server).await;
    let alice = server_token(&server, "alice").await;
    let bob = server_token(&server, "bob").await;
    let upload = |token: Option<String>| {
        let client = server.client();
        let url = format!("{}/v1/Services/{service}/Media", server.base);
        async move {
            let mut req = client.post(url).insert_header(("Content-Type", "image/png"));
            if let Some(token) = token {
                req = req.insert_header(("Authorization", format!("Bearer {token}")));
            }
            let mut res = req.send_body(random_bytes(1000, 61)).await.expect("upload");
            let retry_after =
                res.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_owned());
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null), retry_after)
        }
    };
    let held =
        [stalled_upload(&server, &service, &alice).await, stalled_upload(&server, &service, &alice).await];
    for _ in 0..400 {
        if server.state.user_uploads.in_progress() == 2 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(server.state.user_uploads.in_progress(), 2, "both stalled uploads counted");
    let (status, body, retry_after) = upload(Some(alice.clone())).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], 20429, "{body}");
    assert!(text(&body["message"]).contains("2 uploads in progress"), "{body}");
    assert!(retry_after.is_some_and(|r| r.parse::<u32>().is_ok()), "Retry-After");
    assert_eq!(upload(Some(bob)).await.0, 201, "another user still uploads");
    assert_eq!(upload(None).await.0, 201, "and so does the account");

    drop(held);
    let mut freed = false;
    for _ in 0..100 {
        if upload(Some(alice.clone())).await.0 == 201 {
            freed = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "alice's share frees as her uploads end");
    server.stop().await;
}

/// Media an end user keeps unattached to any message count against a
/// quota, by number and by bytes: past it, the next upload is refused
/// (429) until some are attached. Account credentials have no quota.
#[actix_web::test]
async fn unattached_media_per_user_are_limited() {
    let app = TestApp::builder()
        .config(|c| {
            c.media.user_unattached_media = 2;
            c.media.user_unattached_bytes = 10_000;
        })
        .app()
        .await;
    let service = app.default_service().await;
    let key = app.api_key().await;
    let alice = app.user_token(&key, "alice").await;
    let alice_auth = crate::util::bearer(&alice);
    let first = upload_raw_as(&app, &alice_auth, &service, &random_bytes(100, 62), Some("image/png"), None)
        .await
        .expect(201);
    upload_raw_as(&app, &alice_auth, &service, &random_bytes(100, 63), Some("image/png"), None)
        .await
        .expect(201);
    let refused =
        upload_raw_as(&app, &alice_auth, &service, &random_bytes(100, 64), Some("image/png"), None).await;
    let retry_after = refused.headers.get("retry-after").is_some();
    let body = refused.expect_error(429, 20429);
    assert!(text(&body["message"]).contains("not attached"), "{body}");
    assert!(retry_after, "Retry-After");
    // The account uploads regardless.
    upload_raw_as(&app, &app.account.basic(), &service, &random_bytes(100, 65), None, None).await.expect(201);

    // Attaching one frees a place.
    let conv = app.conversation(&[]).await;
    let ch = text(&conv["sid"]);
    app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let sent = app.as_user(&alice, "POST", &messages_path(&ch), &[("MediaSid", &text(&first["sid"]))]).await;
    sent.expect(201);
    let big =
        upload_raw_as(&app, &alice_auth, &service, &random_bytes(12_000, 66), Some("image/png"), None).await;
    big.expect(201);
    // Now over the bytes: 100 + 12,000 unattached.
    let refused =
        upload_raw_as(&app, &alice_auth, &service, &random_bytes(10, 67), Some("image/png"), None).await;
    refused.expect_error(429, 20429);
}
