//! `/metrics`: absent unless configured, behind its bearer token on the
//! public port, and counting what the issue lists (requests by route
//! pattern and status, pool waits, upload slots, media bytes).

use crate::util::TestApp;

const TOKEN: &str = "metrics-token-0123456789";

#[actix_web::test]
async fn metrics_are_not_served_unless_configured() {
    let app = TestApp::new().await;
    assert_eq!(app.send("GET", "/metrics", &[], None).await.status, 404);
    assert_eq!(app.send("GET", "/metrics", &[], Some(&format!("Bearer {TOKEN}"))).await.status, 404);
}

#[actix_web::test]
async fn metrics_need_their_token_and_count_by_route() {
    let app = TestApp::builder().config(|c| c.metrics.token = Some(TOKEN.to_owned())).app().await;
    assert_eq!(app.send("GET", "/metrics", &[], None).await.status, 401);
    assert_eq!(app.send("GET", "/metrics", &[], Some("Bearer not-the-token-at-all")).await.status, 401);
    // The account's credentials are not the metrics token.
    assert_eq!(app.get("/metrics").await.status, 401);

    let conversation = app.conversation(&[]).await;
    let sid = conversation["sid"].as_str().unwrap();
    app.get(&format!("/v1/Conversations/{sid}")).await.expect(200);
    app.get("/v1/Conversations/CH00000000000000000000000000000000").await.expect_error(404, 20404);

    let scraped = app.send("GET", "/metrics", &[], Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(scraped.status, 200);
    assert!(
        scraped
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "Prometheus' text format"
    );
    let text = String::from_utf8(scraped.raw).unwrap();
    for series in [
        r#"confab_http_requests_total{method="POST",route="/v1/Conversations",status="201"}"#,
        // Labelled by the route's pattern, never by a SID.
        r#"confab_http_requests_total{method="GET",route="/v1/Conversations/{conversation}",status="200"}"#,
        r#"confab_http_requests_total{method="GET",route="/v1/Conversations/{conversation}",status="404"}"#,
        r#"confab_http_request_duration_seconds_bucket{method="POST",route="/v1/Conversations",status="201",le="0.5"}"#,
        "confab_db_pool_wait_seconds_count",
        "confab_db_pool_connections{pool=",
        "confab_upload_slots 16",
        "confab_upload_slots_in_use 0",
        "confab_event_streams_open",
        "# HELP confab_http_requests_total",
    ] {
        assert!(text.contains(series), "{series} in:\n{text}");
    }
    assert!(!text.contains(sid), "no SID in any label");
}
