//! Wire rules shared by every endpoint: error bodies, paging, dates,
//! unknown parameters, health, and the migrations themselves.

use crate::util::{TestApp, TestDb, assert_twilio_date};
use serde_json::Value;

#[actix_web::test]
async fn unknown_paths_and_methods_answer_twilio_errors() {
    let app = TestApp::new().await;
    let body = app.get("/v1/NoSuchThing").await.expect_error(404, 20404);
    assert_eq!(body["message"], "The requested resource /v1/NoSuchThing was not found");
    let res = app.send("PUT", "/v1/Conversations", &[], Some(&app.account.basic())).await;
    let allow = res.headers.get("allow").map(|v| v.to_str().unwrap_or_default().to_owned());
    res.expect_error(405, 20004);
    assert_eq!(allow.as_deref(), Some("GET, POST"), "405 names the methods the path takes");
}

#[actix_web::test]
async fn missing_resources_name_the_path() {
    let app = TestApp::new().await;
    let path = format!("/v1/Conversations/CH{}", "0".repeat(32));
    let body = app.get(&path).await.expect_error(404, 20404);
    assert_eq!(body["message"], format!("The requested resource {path} was not found"));
}

#[actix_web::test]
async fn unknown_parameters_are_ignored_and_bad_values_name_the_parameter() {
    let app = TestApp::new().await;
    let conv = app.conversation(&[("FriendlyName", "x"), ("NoSuchParam", "whatever")]).await;
    assert_eq!(conv["friendly_name"], "x");
    let body = app.post("/v1/Conversations", &[("Attributes", "{not json")]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("Attributes"), "{body}");
    let body = app.post("/v1/Conversations", &[("State", "sleeping")]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("State"), "{body}");
    let body = app.post("/v1/Conversations", &[("Timers.Closed", "PT1M")]).await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("Timers.Closed"), "{body}");
    let body = app.get("/v1/Conversations?PageSize=zero").await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("PageSize"), "{body}");
    let body = app.get("/v1/Conversations?PageToken=garbage").await.expect_error(400, 20001);
    assert!(body["message"].as_str().unwrap().contains("PageToken"), "{body}");
}

#[actix_web::test]
async fn non_form_bodies_are_refused() {
    let app = TestApp::new().await;
    let service = actix_web::test::init_service(confab::app::build(app.state.clone())).await;
    let req = actix_web::test::TestRequest::post()
        .uri("/v1/Conversations")
        .insert_header(("Authorization", app.account.basic()))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(r#"{"FriendlyName":"x"}"#)
        .to_request();
    let res = actix_web::test::call_service(&service, req).await;
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn dates_are_second_precision_z() {
    let app = TestApp::new().await;
    let conv = app.conversation(&[("DateCreated", "2015-12-16T22:18:37.123+01:00")]).await;
    assert_eq!(conv["date_created"], "2015-12-16T21:18:37Z");
    assert_twilio_date(&conv["date_updated"]);
}

/// Walks a list by following `next_page_url` verbatim, as the helper libraries do.
async fn walk(app: &TestApp, first: &str, key: &str) -> (Vec<Value>, Vec<Value>) {
    let mut items = Vec::new();
    let mut metas = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next {
        let body = app.get(&path).await.expect(200);
        assert_eq!(body["meta"]["key"], key);
        items.extend(body[key].as_array().unwrap().iter().cloned());
        next = body["meta"]["next_page_url"].as_str().map(TestApp::path_of);
        metas.push(body["meta"].clone());
    }
    (items, metas)
}

#[actix_web::test]
async fn paging_walks_every_item_once_with_absolute_urls() {
    let app = TestApp::new().await;
    let mut sids = Vec::new();
    for i in 0..7 {
        sids.push(app.conversation(&[("FriendlyName", &format!("c{i}"))]).await["sid"].clone());
    }
    let (items, metas) = walk(&app, "/v1/Conversations?PageSize=3", "conversations").await;
    let got: Vec<Value> = items.iter().map(|c| c["sid"].clone()).collect();
    assert_eq!(got, sids, "creation order, each once");
    assert_eq!(metas.len(), 3);
    for (i, meta) in metas.iter().enumerate() {
        assert_eq!(meta["page"], i);
        assert_eq!(meta["page_size"], 3);
        assert_eq!(meta["first_page_url"], "http://localhost/v1/Conversations?PageSize=3&Page=0");
        assert!(meta["url"].as_str().unwrap().starts_with("http://localhost/v1/Conversations?"));
    }
    assert!(metas[0]["previous_page_url"].is_null());
    assert!(metas[2]["next_page_url"].is_null());

    // Going back from the last page gives the middle page again.
    let prev = TestApp::path_of(metas[2]["previous_page_url"].as_str().unwrap());
    let body = app.get(&prev).await.expect(200);
    let back: Vec<Value> =
        body["conversations"].as_array().unwrap().iter().map(|c| c["sid"].clone()).collect();
    assert_eq!(back, sids[3..6].to_vec());
    assert_eq!(body["meta"]["page"], 1);
}

#[actix_web::test]
async fn page_size_is_capped_per_list() {
    let app = TestApp::new().await;
    let body = app.get("/v1/Conversations?PageSize=1000").await.expect(200);
    assert_eq!(body["meta"]["page_size"], 100);
    let body = app.get("/v1/Roles?PageSize=1000").await.expect(200);
    assert_eq!(body["meta"]["page_size"], 50);
    let body = app.get("/v1/Users").await.expect(200);
    assert_eq!(body["meta"]["page_size"], 50);
}

#[actix_web::test]
async fn healthz_reports_the_database() {
    let app = TestApp::new().await;
    let res = app.send("GET", "/healthz", &[], None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["status"], "ok");
}

/// With the database unreachable `/healthz` answers 503 promptly, and 200
/// again once it is back. (PostgreSQL only: a SQLite file cannot go away.)
#[actix_web::test]
async fn healthz_answers_503_while_the_database_is_down() {
    let app = TestApp::new().await;
    if !app.db.is_postgres() {
        return;
    }
    app.db.pg_admin("ALTER DATABASE {db} ALLOW_CONNECTIONS false");
    app.db.pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'");
    let started = std::time::Instant::now();
    let res = app.send("GET", "/healthz", &[], None).await;
    assert_eq!(res.status, 503, "{}", res.body);
    assert_eq!(res.body["status"], 503);
    assert!(started.elapsed() < std::time::Duration::from_secs(6), "took {:?}", started.elapsed());
    // A request in the outage is 503 as well, never a 500.
    let res = app.get("/v1/Conversations").await;
    assert_eq!(res.status, 503, "{}", res.body);
    // Back: the pool reconnects (it backs off between attempts, so allow it
    // a few probes).
    app.db.pg_admin("ALTER DATABASE {db} ALLOW_CONNECTIONS true");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let res = app.send("GET", "/healthz", &[], None).await;
        if res.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {} after the database came back", res.status);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    app.get("/v1/Conversations").await.expect(200);
}

#[test]
fn migrations_run_up_down_up() {
    let db = TestDb::new();
    let mut conn = confab::testing::establish(&db.url).expect("connect");
    let applied = confab::testing::migrations::run_pending(&mut conn).expect("up");
    assert!(!applied.is_empty());
    confab::testing::migrations::revert_all(&mut conn).expect("down");
    let again = confab::testing::migrations::run_pending(&mut conn).expect("up again");
    assert_eq!(applied, again);
    assert!(confab::testing::migrations::run_pending(&mut conn).expect("idempotent").is_empty());
}

/// The PostgreSQL functions in src/db/sql are applied at start when the
/// database does not hold their current text (first start, text of another
/// version, a dropped schema), not again when unchanged, and never over a
/// newer version's text (an older instance during a rolling deploy).
#[test]
fn replaceable_sql_is_applied_when_its_text_changes() {
    use confab::testing::migrations::run_pending;
    use diesel::RunQueryDsl;
    const APPLIED: &str = "replaceable SQL (src/db/sql)";
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let db = TestDb::new();
    let mut conn = confab::testing::establish(&db.url).expect("connect");
    let first = run_pending(&mut conn).expect("up");
    assert!(run_pending(&mut conn).expect("again").is_empty(), "nothing changed, nothing applied");
    if matches!(conn, confab::testing::DbConnection::Sqlite(_)) {
        assert!(!first.iter().any(|m| m == APPLIED), "SQLite has no stored functions: {first:?}");
        return;
    }
    assert_eq!(first.last().map(String::as_str), Some(APPLIED), "{first:?}");
    for change in ["COMMENT ON SCHEMA confab_fn IS 'v0 sha256:00'", "DROP SCHEMA confab_fn CASCADE"] {
        diesel::sql_query(change).execute(&mut conn).expect(change);
        let applied = run_pending(&mut conn).expect("up");
        assert_eq!(applied, [APPLIED], "after {change}");
        let found: Found = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'confab_fn' AND p.proname = 'append_message') AS found",
        )
        .get_result(&mut conn)
        .expect("look up the function");
        assert!(found.found, "confab_fn.append_message exists after {change}");
        assert!(run_pending(&mut conn).expect("again").is_empty(), "applied once after {change}");
    }
    // A newer version's text is left alone by this (older) one.
    diesel::sql_query("COMMENT ON SCHEMA confab_fn IS 'v999 sha256:00'").execute(&mut conn).expect("newer");
    assert!(run_pending(&mut conn).expect("up").is_empty(), "an older version does not downgrade");
    let newer: Found = diesel::sql_query(
        "SELECT obj_description('confab_fn'::regnamespace, 'pg_namespace') = 'v999 sha256:00' AS found",
    )
    .get_result(&mut conn)
    .expect("read the marker");
    assert!(newer.found, "the newer marker stays");
}

/// The browser client is served as a JavaScript module, with no credentials.
#[actix_web::test]
async fn the_browser_client_is_served() {
    let app = TestApp::new().await;
    let res = app.send("GET", "/confab.js", &[], None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers.get("content-type").unwrap(), "text/javascript; charset=utf-8");
    assert_eq!(res.headers.get("cache-control").unwrap(), "no-cache");
    let text = String::from_utf8(res.raw).unwrap();
    assert!(text.contains("export class Client"), "the ES module");
}

/// The console's page comes with a policy that runs only Confab's own
/// scripts and styles, and names every file it loads; those files are served.
#[actix_web::test]
async fn the_console_is_served_under_a_content_security_policy() {
    let app = TestApp::new().await;
    let page = app.send("GET", "/", &[], None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers.get("content-type").unwrap(), "text/html; charset=utf-8");
    let csp = page.headers.get("content-security-policy").expect("a CSP").to_str().unwrap().to_owned();
    for directive in
        ["default-src 'none'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "no inline code or eval: {csp}");
    assert_eq!(page.headers.get("referrer-policy").unwrap(), "no-referrer");
    let html = String::from_utf8(page.raw).unwrap();
    // The policy allows no inline script, so every script has a src.
    assert!(!html.contains("<script>") && !html.contains("<style"), "nothing inline");

    for (file, kind) in [
        ("/console/main.js", "text/javascript; charset=utf-8"),
        ("/console/admin.js", "text/javascript; charset=utf-8"),
        ("/console/chat.js", "text/javascript; charset=utf-8"),
        ("/console/ui.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let res = app.send("GET", file, &[], None).await;
        assert_eq!(res.status, 200, "{file}");
        assert_eq!(res.headers.get("content-type").unwrap(), kind, "{file}");
        assert_eq!(res.headers.get("x-content-type-options").unwrap(), "nosniff");
        // Reached from the page, or imported by the console's entry module.
        let main_js = include_str!("../../../static/console/main.js");
        assert!(
            html.contains(file) || main_js.contains(&format!("\"{file}\"")),
            "{file} is loaded by the console"
        );
    }
    app.send("GET", "/console/missing.js", &[], None).await.expect_error(404, 20404);
    app.send("GET", "/console/..%2Fconfab.js", &[], None).await.expect_error(404, 20404);
}

/// `/console/config`: the media limits and each role type's permissions,
/// as the role editor shows them.
#[actix_web::test]
async fn the_console_config_names_limits_and_permissions() {
    let app = TestApp::new().await;
    let config = app.send("GET", "/console/config", &[], None).await.expect(200);
    assert_eq!(config["max_media_bytes"], 157_286_400);
    assert_eq!(config["max_media_per_message"], 10);
    let names = |t: &str| -> Vec<String> {
        config["permissions"][t].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    let (conversation, service) = (names("conversation"), names("service"));
    assert!(
        conversation.contains(&"sendMediaMessage".to_owned())
            && !conversation.contains(&"createConversation".to_owned())
    );
    assert!(
        service.contains(&"createConversation".to_owned())
            && !service.contains(&"sendMediaMessage".to_owned())
    );
}
