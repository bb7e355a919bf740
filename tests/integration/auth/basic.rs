//! Authentication and tenancy: Basic credentials, token rotation (and the
//! verification cache), isolation between accounts, the `confab` binary's
//! admin commands and start-up errors, and one end-to-end run on a socket.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::util::{Account, TestApp, TestServer, assert_keys, confab_bin};
use confab::config::{Config, DatabaseUrl, HashCost};
use confab::testing as accounts;

const ERROR_KEYS: &[&str] = &["code", "message", "more_info", "status"];

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn sid(v: &Value) -> String {
    v["sid"].as_str().unwrap_or_else(|| panic!("no sid: {v}")).to_owned()
}

#[track_caller]
fn assert_challenge(res: &crate::util::Resp) {
    let challenge = res
        .headers
        .get("WWW-Authenticate")
        .unwrap_or_else(|| panic!("401 without WWW-Authenticate: {:?}", res.headers))
        .to_str()
        .expect("ascii header");
    assert!(challenge.starts_with("Basic"), "{challenge}");
}

async fn rotate(app: &TestApp, account_sid: &str) -> String {
    let account_sid = account_sid.to_owned();
    let keyring = app.state.keys.keyring();
    app.state
        .db
        .read(move |conn| accounts::rotate_auth_token(conn, &account_sid, HashCost::TESTING, &keyring))
        .await
        .expect("rotate")
}

#[actix_web::test]
async fn requests_without_credentials_are_challenged() {
    let app = TestApp::new().await;
    for (method, path) in [
        ("GET", "/v1/Conversations"),
        ("POST", "/v1/Conversations"),
        ("GET", "/v1/Configuration"),
        ("GET", "/v1/Services"),
        ("GET", "/v1/Users"),
        ("GET", "/v1/Roles"),
        ("DELETE", "/v1/Services/IS00000000000000000000000000000000"),
    ] {
        let res = app.send(method, path, &[("FriendlyName", "x")], None).await;
        assert_challenge(&res);
        let body = res.expect_error(401, 20003);
        assert_keys(&body, ERROR_KEYS);
    }
    // Nothing was created by the unauthenticated POST.
    let list = app.get("/v1/Conversations").await.expect(200);
    assert!(list["conversations"].as_array().unwrap().is_empty());
    // The right credentials work on the same paths.
    app.get("/v1/Conversations").await.expect(200);
}

#[actix_web::test]
async fn wrong_token_and_unknown_account_are_indistinguishable() {
    let app = TestApp::new().await;
    let wrong_token = app
        .send(
            "GET",
            "/v1/Conversations",
            &[],
            Some(&basic(&app.account.sid, "0123456789abcdef0123456789abcdef")),
        )
        .await;
    let unknown_sid = format!("AC{}", "f".repeat(32));
    let unknown_account =
        app.send("GET", "/v1/Conversations", &[], Some(&basic(&unknown_sid, &app.account.token))).await;
    let not_a_sid =
        app.send("GET", "/v1/Conversations", &[], Some(&basic("admin", &app.account.token))).await;
    // The token of another account does not open this one.
    let other = app.create_account().await;
    let crossed =
        app.send("GET", "/v1/Conversations", &[], Some(&basic(&app.account.sid, &other.token))).await;
    // An empty password.
    let empty = app.send("GET", "/v1/Conversations", &[], Some(&basic(&app.account.sid, ""))).await;

    for res in [&wrong_token, &unknown_account, &not_a_sid, &crossed, &empty] {
        assert_eq!(res.status, 401, "{}", res.body);
        assert_challenge(res);
    }
    assert_eq!(wrong_token.raw, unknown_account.raw, "bodies must not tell the two apart");
    assert_eq!(wrong_token.raw, not_a_sid.raw);
    assert_eq!(wrong_token.raw, crossed.raw);
    assert_eq!(wrong_token.headers.get("WWW-Authenticate"), unknown_account.headers.get("WWW-Authenticate"));
    assert_eq!(wrong_token.headers.get("Content-Type"), unknown_account.headers.get("Content-Type"));
    let body = wrong_token.expect_error(401, 20003);
    assert_keys(&body, ERROR_KEYS);
}

#[actix_web::test]
async fn malformed_authorization_headers_are_401() {
    let app = TestApp::new().await;
    let no_colon = format!("Basic {}", STANDARD.encode(&app.account.sid));
    let token_only = format!("Basic {}", STANDARD.encode(&app.account.token));
    let bearer = format!("Bearer {}", STANDARD.encode(format!("{}:{}", app.account.sid, app.account.token)));
    let raw_pair = format!("Basic {}:{}", app.account.sid, app.account.token);
    let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0xfd]));
    for header in [
        "",
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        no_colon.as_str(),
        token_only.as_str(),
        raw_pair.as_str(),
        not_utf8.as_str(),
    ] {
        let res = app.send("GET", "/v1/Conversations", &[], Some(header)).await;
        assert_eq!(res.status, 401, "header {header:?}: {}", res.body);
        assert_challenge(&res);
        res.expect_error(401, 20003);
    }
    // A Bearer credential is an access token: this one is not a JWT.
    let res = app.send("GET", "/v1/Conversations", &[], Some(&bearer)).await;
    res.expect_error(401, 20101);
}

#[actix_web::test]
async fn a_rotated_token_stops_working_on_the_very_next_request() {
    let app = TestApp::new().await;
    let old = app.account.basic();
    // Used successfully, twice: the second check may be served from the cache.
    app.send("GET", "/v1/Conversations", &[], Some(&old)).await.expect(200);
    app.send("GET", "/v1/Conversations", &[], Some(&old)).await.expect(200);
    let bystander = app.create_account().await;
    app.get_as(&bystander, "/v1/Conversations").await.expect(200);

    let new_token = rotate(&app, &app.account.sid).await;
    assert_ne!(new_token, app.account.token);
    assert_eq!(new_token.len(), 32);
    assert!(new_token.bytes().all(|b| b.is_ascii_hexdigit()), "{new_token}");

    let res = app.send("GET", "/v1/Conversations", &[], Some(&old)).await;
    assert_challenge(&res);
    res.expect_error(401, 20003);
    app.send("POST", "/v1/Conversations", &[("FriendlyName", "x")], Some(&old))
        .await
        .expect_error(401, 20003);

    let new = basic(&app.account.sid, &new_token);
    let conv = app.send("POST", "/v1/Conversations", &[("FriendlyName", "x")], Some(&new)).await.expect(201);
    app.send("GET", &format!("/v1/Conversations/{}", sid(&conv)), &[], Some(&new)).await.expect(200);
    // Still refused after the new token is in use (and cached).
    app.send("GET", "/v1/Conversations", &[], Some(&old)).await.expect_error(401, 20003);

    // Rotating again retires the second token as well.
    let third = rotate(&app, &app.account.sid).await;
    app.send("GET", "/v1/Conversations", &[], Some(&new)).await.expect_error(401, 20003);
    app.send("GET", "/v1/Conversations", &[], Some(&basic(&app.account.sid, &third))).await.expect(200);

    // Other accounts are not affected.
    app.get_as(&bystander, "/v1/Conversations").await.expect(200);

    // Unknown accounts cannot be rotated.
    let app_state = app.state.clone();
    let keyring = app.state.keys.keyring();
    let missing = app_state
        .db
        .read(move |conn| {
            accounts::rotate_auth_token(conn, &format!("AC{}", "0".repeat(32)), HashCost::TESTING, &keyring)
        })
        .await;
    assert!(missing.is_err());
}

#[actix_web::test]
async fn a_rotated_token_stops_working_even_with_a_long_cache() {
    // A long cache lifetime must not keep a retired token alive either.
    let app = TestApp::builder().config(|c| c.auth_cache_ttl = Duration::from_secs(86_400)).app().await;
    let old = app.account.basic();
    for _ in 0..3 {
        app.send("GET", "/v1/Users", &[], Some(&old)).await.expect(200);
    }
    let new_token = rotate(&app, &app.account.sid).await;
    app.send("GET", "/v1/Users", &[], Some(&old)).await.expect_error(401, 20003);
    app.send("GET", "/v1/Users", &[], Some(&basic(&app.account.sid, &new_token))).await.expect(200);
}

#[actix_web::test]
async fn accounts_cannot_see_each_others_resources() {
    let app = TestApp::new().await;
    let owner = &app.account;
    let conv = app.conversation(&[("FriendlyName", "private"), ("UniqueName", "shared-name")]).await;
    let ch = sid(&conv);
    let participant =
        app.post(&format!("/v1/Conversations/{ch}/Participants"), &[("Identity", "alice")]).await.expect(201);
    let msg = app
        .post(
            &format!("/v1/Conversations/{ch}/Messages"),
            &[("Author", "alice"), ("Body", "the secret plan")],
        )
        .await
        .expect(201);
    let user = app.post("/v1/Users", &[("Identity", "bob"), ("FriendlyName", "Bob")]).await.expect(201);
    let role = app
        .post(
            "/v1/Roles",
            &[("FriendlyName", "private-role"), ("Type", "conversation"), ("Permission", "sendMessage")],
        )
        .await
        .expect(201);
    let service = app.post("/v1/Services", &[("FriendlyName", "private-service")]).await.expect(201);

    let other = app.create_account().await;
    let (mb, im, us, rl, is) = (sid(&participant), sid(&msg), sid(&user), sid(&role), sid(&service));
    let paths = [
        format!("/v1/Conversations/{ch}"),
        "/v1/Conversations/shared-name".to_owned(),
        format!("/v1/Conversations/{ch}/Participants"),
        format!("/v1/Conversations/{ch}/Participants/{mb}"),
        format!("/v1/Conversations/{ch}/Participants/alice"),
        format!("/v1/Conversations/{ch}/Messages"),
        format!("/v1/Conversations/{ch}/Messages/{im}"),
        format!("/v1/Users/{us}"),
        "/v1/Users/bob".to_owned(),
        "/v1/Users/alice".to_owned(),
        format!("/v1/Users/{us}/Conversations"),
        format!("/v1/Users/alice/Conversations/{ch}"),
        format!("/v1/Roles/{rl}"),
        format!("/v1/Services/{is}"),
        format!("/v1/Services/{is}/Configuration"),
        format!("/v1/Services/{is}/Conversations"),
    ];
    for path in &paths {
        let res = app.get_as(&other, path).await;
        assert_ne!(res.status, 403, "{path}: never 403");
        let body = res.expect_error(404, 20404);
        assert_keys(&body, ERROR_KEYS);
        let text = body.to_string();
        for secret in ["the secret plan", "private", "Bob"] {
            assert!(!text.contains(secret), "{path} leaked {secret:?}: {text}");
        }
    }
    // Writes and deletes are not found either, and change nothing.
    for (path, form) in [
        (format!("/v1/Conversations/{ch}"), vec![("FriendlyName", "pwned")]),
        (format!("/v1/Conversations/{ch}/Messages"), vec![("Body", "spam")]),
        (format!("/v1/Conversations/{ch}/Participants"), vec![("Identity", "mallory")]),
        (format!("/v1/Users/{us}"), vec![("FriendlyName", "pwned")]),
        (format!("/v1/Roles/{rl}"), vec![("Permission", "leaveConversation")]),
    ] {
        app.post_as(&other, &path, &form).await.expect_error(404, 20404);
    }
    for path in [
        format!("/v1/Conversations/{ch}/Messages/{im}"),
        format!("/v1/Conversations/{ch}/Participants/{mb}"),
        format!("/v1/Users/{us}"),
        format!("/v1/Roles/{rl}"),
        format!("/v1/Services/{is}"),
        format!("/v1/Conversations/{ch}"),
    ] {
        app.delete_as(&other, &path).await.expect_error(404, 20404);
    }
    assert_eq!(app.get(&format!("/v1/Conversations/{ch}")).await.expect(200), conv);
    assert_eq!(app.get(&format!("/v1/Conversations/{ch}/Messages/{im}")).await.expect(200), msg);
    assert_eq!(app.get(&format!("/v1/Users/{us}")).await.expect(200), user);
    assert_eq!(app.get(&format!("/v1/Roles/{rl}")).await.expect(200), role);
    assert_eq!(app.get(&format!("/v1/Services/{is}")).await.expect(200), service);
    let participants = app.get(&format!("/v1/Conversations/{ch}/Participants")).await.expect(200);
    assert_eq!(participants["participants"].as_array().unwrap().len(), 1);

    // Lists show only the caller's own resources.
    let theirs = app.get_as(&other, "/v1/Conversations").await.expect(200);
    assert!(theirs["conversations"].as_array().unwrap().is_empty(), "{theirs}");
    let theirs = app.get_as(&other, "/v1/Users").await.expect(200);
    assert!(theirs["users"].as_array().unwrap().is_empty(), "{theirs}");
    let theirs = app.get_as(&other, "/v1/Roles").await.expect(200);
    let roles = theirs["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 4);
    assert!(roles.iter().all(|r| r["account_sid"] == other.sid.as_str() && r["sid"] != role["sid"]));
    let theirs = app.get_as(&other, "/v1/Services").await.expect(200);
    let services = theirs["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["account_sid"], other.sid.as_str());
    let theirs = app.get_as(&other, "/v1/ParticipantConversations?Identity=alice").await.expect(200);
    assert!(theirs["conversations"].as_array().unwrap().is_empty(), "{theirs}");
    let config = app.get_as(&other, "/v1/Configuration").await.expect(200);
    assert_eq!(config["account_sid"], other.sid.as_str());
    assert_ne!(config["default_chat_service_sid"], app.default_service().await.as_str());

    // Names are per account: the other account may reuse them freely.
    let mine = app.post_as(&other, "/v1/Conversations", &[("UniqueName", "shared-name")]).await.expect(201);
    app.post_as(&other, "/v1/Users", &[("Identity", "bob")]).await.expect(201);
    assert_ne!(mine["sid"], conv["sid"]);
    assert_eq!(app.get("/v1/Conversations/shared-name").await.expect(200)["sid"], conv["sid"]);
    assert_eq!(app.get_as(&other, "/v1/Conversations/shared-name").await.expect(200)["sid"], mine["sid"]);
    // And the owner still sees exactly its own.
    let own = app.get_as(owner, "/v1/Conversations").await.expect(200);
    let own: Vec<String> = own["conversations"].as_array().unwrap().iter().map(sid).collect();
    assert_eq!(own, vec![ch]);
}

// --- the binary ------------------------------------------------------------

/// Runs `confab` with only the given environment, in `dir` (so no stray
/// `.env` is read), and gives up after 60 s.
fn run_confab(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut child = Command::new(confab_bin())
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn confab");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("confab {args:?} did not exit; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the CLI run in `dir` uses: its database and the master key it
/// generated into `./data`.
fn cli_config(database: &Path, dir: &Path) -> Config {
    let mut config = Config::for_database(DatabaseUrl::Sqlite(database.to_path_buf()), &dir.join("data"));
    config.media.master_key = None;
    config
}

/// One request against an app over `database`, with these credentials.
async fn status_with(database: &Path, dir: &Path, user: &str, token: &str) -> u16 {
    let config = cli_config(database, dir);
    let state = actix_web::web::block(move || confab::app::AppState::initialize(config).expect("initialize"))
        .await
        .expect("block");
    let service = actix_web::test::init_service(confab::app::build(actix_web::web::Data::new(state))).await;
    let req = actix_web::test::TestRequest::get()
        .uri("/v1/Conversations")
        .insert_header(("Authorization", basic(user, token)))
        .to_request();
    actix_web::test::call_service(&service, req).await.status().as_u16()
}

#[actix_web::test]
async fn admin_commands_create_accounts_and_rotate_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db");
    let url = format!("sqlite://{}", db.display());
    let env = [("DATABASE_URL", url.as_str())];

    let out = run_confab(dir.path(), &env, &["admin", "create-account", "--friendly-name", "T"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.trim().lines().count(), 1, "one line of output: {stdout:?}");
    let creds: Value = serde_json::from_str(stdout.trim()).expect("stdout is one JSON object");
    assert_keys(&creds, &["account_sid", "auth_token"]);
    let account_sid = creds["account_sid"].as_str().unwrap().to_owned();
    let first_token = creds["auth_token"].as_str().unwrap().to_owned();
    assert!(account_sid.starts_with("AC") && is_hex(&account_sid[2..], 32), "{account_sid}");
    assert!(!first_token.is_empty());

    // Each run makes a new account.
    let again = run_confab(dir.path(), &env, &["admin", "create-account"]);
    assert!(again.status.success());
    let again: Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_ne!(again["account_sid"], creds["account_sid"]);

    // The printed credentials work against that database.
    assert_eq!(status_with(&db, dir.path(), &account_sid, &first_token).await, 200);

    let out = run_confab(dir.path(), &env, &["admin", "rotate-auth-token", &account_sid]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let new_token = stdout.trim();
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout:?}");
    assert!(is_hex(new_token, 32), "{new_token:?}");
    assert_ne!(new_token, first_token);

    assert_eq!(status_with(&db, dir.path(), &account_sid, &first_token).await, 401);
    assert_eq!(status_with(&db, dir.path(), &account_sid, new_token).await, 200);

    // An unknown account cannot be rotated.
    let unknown = format!("AC{}", "0".repeat(32));
    let out = run_confab(dir.path(), &env, &["admin", "rotate-auth-token", &unknown]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no token printed: {}", String::from_utf8_lossy(&out.stdout));
}

#[actix_web::test]
async fn rotation_by_another_process_retires_a_cached_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db");
    let url = format!("sqlite://{}", db.display());
    let env = [("DATABASE_URL", url.as_str())];
    let out = run_confab(dir.path(), &env, &["admin", "create-account"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let creds: Value = serde_json::from_slice(&out.stdout).expect("json");
    let account = Account {
        sid: creds["account_sid"].as_str().unwrap().to_owned(),
        token: creds["auth_token"].as_str().unwrap().to_owned(),
    };

    // One long-lived app over that database; its cache learns the token.
    let config = cli_config(&db, dir.path());
    let state = actix_web::web::block(move || confab::app::AppState::initialize(config).expect("initialize"))
        .await
        .expect("block");
    let service = actix_web::test::init_service(confab::app::build(actix_web::web::Data::new(state))).await;
    let get = |auth: String| {
        actix_web::test::TestRequest::get()
            .uri("/v1/Users")
            .insert_header(("Authorization", auth))
            .to_request()
    };
    for _ in 0..2 {
        assert_eq!(actix_web::test::call_service(&service, get(account.basic())).await.status(), 200);
    }

    let out = run_confab(dir.path(), &env, &["admin", "rotate-auth-token", &account.sid]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let new_token = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();

    assert_eq!(actix_web::test::call_service(&service, get(account.basic())).await.status(), 401);
    assert_eq!(
        actix_web::test::call_service(&service, get(basic(&account.sid, &new_token))).await.status(),
        200
    );
}

#[test]
fn a_bad_bind_address_stops_the_server_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    for args in [&[][..], &["serve"][..]] {
        let out = run_confab(dir.path(), &[("DATABASE_URL", &url), ("CONFAB_BIND", "nope")], args);
        assert!(!out.status.success(), "{args:?} exited successfully");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("CONFAB_BIND"), "stderr: {stderr}");
    }
    // Admin commands read the same configuration and refuse it too.
    let out = run_confab(
        dir.path(),
        &[("DATABASE_URL", &url), ("CONFAB_BIND", "nope")],
        &["admin", "create-account"],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CONFAB_BIND"));
}

#[test]
fn an_address_already_in_use_stops_the_server_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = run_confab(dir.path(), &[("DATABASE_URL", &url), ("CONFAB_BIND", &addr)], &["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CONFAB_BIND"), "stderr: {stderr}");
    drop(taken);
}

#[test]
fn other_bad_settings_name_their_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    for (var, value) in [
        ("DATABASE_URL", "mysql://localhost/confab"),
        ("CONFAB_PUBLIC_URL", "ftp://example.com"),
        ("CONFAB_LOG_FORMAT", "xml"),
        ("CONFAB_DB_POOL_SIZE", "lots"),
    ] {
        let mut env = vec![("DATABASE_URL", url.as_str())];
        env.retain(|(k, _)| *k != var);
        env.push((var, value));
        let out = run_confab(dir.path(), &env, &["admin", "create-account"]);
        assert!(!out.status.success(), "{var}={value} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}: stderr: {stderr}");
    }
}

// --- end to end ------------------------------------------------------------

#[actix_web::test]
async fn end_to_end_over_a_real_socket() {
    let server = TestServer::start().await;
    let client = server.client();

    let mut res = client
        .post(format!("{}/v1/Conversations", server.base))
        .send_form(&[("FriendlyName", "over the wire")])
        .await
        .expect("create");
    assert_eq!(res.status().as_u16(), 201);
    assert!(
        res.headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "{:?}",
        res.headers()
    );
    let conv: Value = res.json().await.expect("json");
    let ch = sid(&conv);
    assert_eq!(conv["friendly_name"], "over the wire");
    assert_eq!(conv["url"], format!("{}/v1/Conversations/{ch}", server.base));

    let mut res = client.get(format!("{}/v1/Conversations", server.base)).send().await.expect("list");
    assert_eq!(res.status().as_u16(), 200);
    let list: Value = res.json().await.expect("json");
    assert_eq!(list["meta"]["key"], "conversations");
    let items = list["conversations"].as_array().expect("conversations");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["sid"], ch.as_str());
    let url = list["meta"]["url"].as_str().expect("meta.url");
    assert!(url.starts_with(&format!("{}/v1/Conversations?", server.base)), "{url}");
    assert!(list["meta"]["first_page_url"].as_str().unwrap().starts_with(&server.base));

    // The URLs the server hands out resolve back to it.
    let mut res = client.get(conv["url"].as_str().unwrap()).send().await.expect("fetch");
    assert_eq!(res.status().as_u16(), 200);
    let fetched: Value = res.json().await.expect("json");
    assert_eq!(fetched, conv);

    // Without credentials: challenged, over the socket too.
    let mut res = awc::Client::default()
        .get(format!("{}/v1/Conversations", server.base))
        .send()
        .await
        .expect("unauthenticated");
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers().contains_key("WWW-Authenticate"));
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], 20003);

    server.stop().await;
}
