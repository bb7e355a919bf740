//! Temporary URLs.

use super::*;

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
    let key = confab::testing::SecretKey::from_bytes(master);
    let mint = |ttl: i64| {
        let (expires, signature) = confab::testing::UrlSigner::new(&key, ttl).sign(&service, &sid_a, now());
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

/// A temporary URL's download may be cached at most until the URL expires,
/// and never longer than the TTL; authenticated downloads are revalidated.
#[actix_web::test]
async fn temporary_url_downloads_are_cached_no_longer_than_the_url_lives() {
    let app = TestApp::builder().config(|c| c.media.url_ttl = Duration::from_secs(120)).app().await;
    let service = app.default_service().await;
    let data = random_bytes(5000, 45);
    let m = upload(&app, &service, &data, Some("image/png"), None).await;
    let (res, _) = content_temp(&app, &m, &[]).await;
    assert_eq!(res.status, StatusCode::OK);
    let cache = header(&res, "cache-control").unwrap_or_default();
    let age = max_age(&cache).unwrap_or_else(|| panic!("Cache-Control {cache:?}"));
    assert!((115..=120).contains(&age), "a 120 s TTL: Cache-Control {cache:?}");

    // A URL with ten seconds left is cached for at most ten seconds.
    let key = confab::testing::SecretKey::from_bytes(app.state.config.media.master_key.expect("key"));
    let sid = text(&m["sid"]);
    let (expires, signature) = confab::testing::UrlSigner::new(&key, 10).sign(&service, &sid, now());
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
    let app = TestApp::builder().config(|c| c.media.url_ttl = Duration::from_secs(1)).app().await;
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
