//! Ranges and headers.

use super::*;

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

/// `HEAD` answers what `GET` would, headers and length, with no body,
/// through both the authenticated path and a temporary URL.
#[actix_web::test]
async fn head_answers_like_get_without_a_body() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let data = random_bytes(70_000, 5);
    let m = upload(&app, &service, &data, Some("image/png"), Some("h.png")).await;
    let basic = app.account.basic();
    let temporary = TestApp::path_of(&text(&m["links"]["content_direct_temporary"]));
    for (path, auth) in [(text(&m["links"]["content"]), Some(basic.as_str())), (temporary, None)] {
        for range in [None, Some("bytes=10-19")] {
            let mut get = test::TestRequest::get().uri(&path);
            let mut head = test::TestRequest::default().method(actix_web::http::Method::HEAD).uri(&path);
            if let Some(auth) = auth {
                get = get.insert_header(("Authorization", auth));
                head = head.insert_header(("Authorization", auth));
            }
            if let Some(range) = range {
                get = get.insert_header(("Range", range));
                head = head.insert_header(("Range", range));
            }
            let got = call(&app, get).await;
            let headed = call(&app, head).await;
            let what = format!("{path} {range:?}");
            assert_eq!(headed.status, got.status, "{what}");
            assert!(headed.raw.is_empty(), "{what}: HEAD has no body");
            for name in ["content-length", "content-type", "etag", "content-range", "accept-ranges"] {
                assert_eq!(header(&headed, name), header(&got, name), "{what}: {name}");
            }
        }
    }
}

/// `If-Range`: a range of the version the client holds (its ETag); with
/// another validator the whole content comes back, as it changed.
#[actix_web::test]
async fn if_range_with_another_validator_serves_the_whole_content() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let data = random_bytes(5_000, 6);
    let m = upload(&app, &service, &data, None, None).await;
    let (whole, _) = content_basic(&app, &m, &[]).await;
    let etag = header(&whole, "etag").expect("an ETag");
    let (res, _) = content_basic(&app, &m, &[("Range", "bytes=0-9"), ("If-Range", &etag)]).await;
    assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    assert_same_bytes(&res.raw, &data[..10], "If-Range matching");
    for other in ["\"something-else\"", "Wed, 21 Oct 2015 07:28:00 GMT"] {
        let (res, _) = content_basic(&app, &m, &[("Range", "bytes=0-9"), ("If-Range", other)]).await;
        assert_eq!(res.status, StatusCode::OK, "{other}");
        assert!(header(&res, "content-range").is_none(), "{other}");
        assert_same_bytes(&res.raw, &data, "If-Range not matching");
    }
}
