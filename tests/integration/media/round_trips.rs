//! Round trips.

use super::*;

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
    let app = TestApp::builder().state(counting(&multiparts)).app().await;
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
    let app = TestApp::builder().state(counting(&multiparts)).app().await;
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
    let app = TestApp::builder().state(counting(&multiparts)).app().await;
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
