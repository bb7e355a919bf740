//! Tampering.

use super::*;

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
