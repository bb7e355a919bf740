//! Master-key rotation re-wraps data keys without touching media objects,
//! from the library and through `confab admin rotate-master-key`.

use crate::util::{TestApp, TestDb, confab_bin, test_config};
use actix_web::test as actix_test;
use actix_web::web;
use confab::app::{self, AppState};
use confab::config::{DatabaseUrl, HashCost, StorageUrl};
use confab::testing::SecretKey;
use confab::testing::Storage;
use confab::testing::StoreError;
use confab::testing::schema::media;
use diesel::prelude::*;
use object_store::ObjectStoreExt;

async fn upload(state: &web::Data<AppState>, auth: &str, service: &str, body: &[u8]) -> String {
    let service_app = actix_test::init_service(app::build(state.clone())).await;
    let req = actix_test::TestRequest::post()
        .uri(&format!("/v1/Services/{service}/Media?Filename=a.bin"))
        .insert_header(("Authorization", auth))
        .insert_header(("Content-Type", "application/octet-stream"))
        .set_payload(body.to_vec())
        .to_request();
    let res: serde_json::Value = actix_test::call_and_read_body_json(&service_app, req).await;
    res["sid"].as_str().expect("media sid").to_owned()
}

async fn download(state: &web::Data<AppState>, auth: &str, service: &str, sid: &str) -> (u16, Vec<u8>) {
    let service_app = actix_test::init_service(app::build(state.clone())).await;
    let req = actix_test::TestRequest::get()
        .uri(&format!("/v1/Services/{service}/Media/{sid}/Content"))
        .insert_header(("Authorization", auth))
        .to_request();
    let res = actix_test::call_service(&service_app, req).await;
    let status = res.status().as_u16();
    (status, actix_test::read_body(res).await.to_vec())
}

async fn key_ids(state: &web::Data<AppState>) -> Vec<String> {
    state
        .db
        .read(|conn| Ok::<_, StoreError>(media::table.select(media::key_id).load::<String>(conn)?))
        .await
        .unwrap()
}

#[actix_web::test]
async fn rewrapping_moves_data_keys_to_the_new_master_and_leaves_objects_alone() {
    let old = [1u8; 32];
    let new = [2u8; 32];
    let app = TestApp::builder()
        .config(move |c| {
            c.media.master_key = Some(old);
            c.media.storage = StorageUrl::File(c.data_dir.join("media"));
        })
        .app()
        .await;
    let service = app.default_service().await;
    let auth = app.account.basic();
    let content = b"rotate me".repeat(10_000);
    let sid = upload(&app.state, &auth, &service, &content).await;
    let object = app.state.storage.store().get(&Storage::path(&Storage::media_key(&sid))).await;
    let before = object.unwrap().bytes().await.unwrap();

    // The rotation as an operator runs it: the new key current, the old one beside it.
    let mut rotating = test_config(&app.db, "http://localhost");
    rotating.media.master_key = Some(new);
    rotating.media.previous_master_keys = vec![old];
    let rotation = app
        .state
        .db
        .read(move |conn| Ok::<_, StoreError>(confab::testing::rotate::run(&rotating, conn, None)))
        .await
        .unwrap()
        .unwrap();
    // The media's data key and the account's sealed Auth Token.
    assert_eq!(rotation.rewrapped, 2);
    assert_eq!(key_ids(&app.state).await, vec![SecretKey::from_bytes(new).id()]);
    let after = app.state.storage.store().get(&Storage::path(&Storage::media_key(&sid))).await;
    assert_eq!(after.unwrap().bytes().await.unwrap(), before, "objects are not rewritten");

    // A server that knows only the new key reads it; one that knows only the
    // old key is refused at start, naming the cluster's key.
    let mut config = test_config(&app.db, "http://localhost");
    config.media.storage = StorageUrl::File(app.db.dir.path().join("media"));
    config.media.master_key = Some(new);
    let only_new = web::Data::new(web::block(move || AppState::initialize(config).unwrap()).await.unwrap());
    assert_eq!(download(&only_new, &auth, &service, &sid).await, (200, content.clone()));
    let mut config = test_config(&app.db, "http://localhost");
    config.media.master_key = Some(old);
    let refused =
        web::block(move || AppState::initialize(config).err().map(|e| e.to_string())).await.unwrap();
    let refused = refused.expect("an instance without the current key does not start");
    assert!(refused.contains(&SecretKey::from_bytes(new).id()), "{refused}");
}

/// The embedded key file: the CLI generates a new key, keeps the old one in
/// master.key.previous, and a running server follows without a restart.
#[actix_web::test]
async fn the_cli_rotates_the_key_file_under_a_running_server() {
    let server = TestApp::builder()
        .config(|c| {
            c.media.master_key = None;
            c.media.storage = StorageUrl::File(c.data_dir.join("media"));
        })
        .server()
        .await;
    let data_dir = server.db.dir.path().to_path_buf();
    let key_before = std::fs::read_to_string(data_dir.join("master.key")).unwrap();
    let service = server
        .state
        .db
        .read(|conn| {
            Ok::<i64, StoreError>(confab::testing::schema::accounts::table.count().get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(service, 1);
    let client = server.client();
    let mut res = client.get(format!("{}/v1/Configuration", server.base)).send().await.unwrap();
    let cfg: serde_json::Value = res.json().await.unwrap();
    let service = cfg["default_chat_service_sid"].as_str().unwrap().to_owned();
    let content = b"file key".repeat(20_000);
    let mut res = client
        .post(format!("{}/v1/Services/{service}/Media", server.base))
        .insert_header(("Content-Type", "application/octet-stream"))
        .send_body(content.clone())
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let media_json: serde_json::Value = res.json().await.unwrap();
    let sid = media_json["sid"].as_str().unwrap().to_owned();
    let mut res = client
        .post(format!("{}/v2/Credentials", server.base))
        .send_form(&[("Type", "fcm"), ("Secret", "fcm server key")])
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let credential: serde_json::Value = res.json().await.unwrap();
    let credential = credential["sid"].as_str().unwrap().to_owned();

    let database_url = match &server.db.url {
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    let out = std::process::Command::new(confab_bin())
        .args(["admin", "rotate-master-key"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &database_url)
        .env("CONFAB_DATA_DIR", &data_dir)
        .env("CONFAB_STORAGE_URL", format!("file://{}", data_dir.join("media").display()))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The media's data key, the account's sealed Auth Token and the push credential.
    assert_eq!(report["rewrapped"], 3);
    let key_after = std::fs::read_to_string(data_dir.join("master.key")).unwrap();
    assert_ne!(key_before, key_after);
    assert_eq!(std::fs::read_to_string(data_dir.join("master.key.previous")).unwrap(), key_before);
    assert_eq!(key_ids(&server.state).await, vec![report["key_id"].as_str().unwrap().to_owned()]);

    let new_key_id = report["key_id"].as_str().unwrap().to_owned();
    let account = server.account.sid.clone();
    let (sealed_under, _, opened) =
        confab::testing::push_credential_secrets(&server.state, &account, &credential).await;
    assert_eq!(sealed_under, new_key_id);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&opened).unwrap()["secret"], "fcm server key");

    // The running server notices the new key file within about a second:
    // an upload after that wraps its data key under the new key (before any
    // rotated row has been read, which would also make it reload).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let later = b"after the rotation".repeat(20_000);
    let mut res = client
        .post(format!("{}/v1/Services/{service}/Media", server.base))
        .insert_header(("Content-Type", "application/octet-stream"))
        .send_body(later.clone())
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let later_json: serde_json::Value = res.json().await.unwrap();
    let later_sid = later_json["sid"].as_str().unwrap().to_owned();
    let later_key: String = {
        let sid = later_sid.clone();
        server
            .state
            .db
            .read(move |conn| {
                Ok::<String, StoreError>(
                    media::table.filter(media::sid.eq(&sid)).select(media::key_id).get_result(conn)?,
                )
            })
            .await
            .unwrap()
    };
    assert_eq!(later_key, new_key_id, "an upload after the rotation uses the new master key");

    // Old and new media both download, with Basic auth and through temporary
    // URLs: one minted before the rotation (still within its TTL) and fresh ones.
    let anonymous = awc::Client::default();
    for (what, sid, body, minted) in [
        ("before the rotation", &sid, &content, &media_json),
        ("after the rotation", &later_sid, &later, &later_json),
    ] {
        let mut res = client
            .get(format!("{}/v1/Services/{service}/Media/{sid}/Content", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(&res.body().limit(1 << 24).await.unwrap().to_vec(), body, "{what}");
        let temporary = minted["links"]["content_direct_temporary"].as_str().unwrap();
        let mut res = anonymous.get(temporary).send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}: the URL minted at upload");
        assert_eq!(&res.body().limit(1 << 24).await.unwrap().to_vec(), body, "{what}");
        let mut res =
            client.get(format!("{}/v1/Services/{service}/Media/{sid}", server.base)).send().await.unwrap();
        let fresh: serde_json::Value = res.json().await.unwrap();
        let mut res =
            anonymous.get(fresh["links"]["content_direct_temporary"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 200, "{what}: a fresh URL");
        assert_eq!(&res.body().limit(1 << 24).await.unwrap().to_vec(), body, "{what}");
    }
    server.stop().await;
}

#[test]
fn new_key_is_refused_when_the_key_comes_from_the_environment() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://localhost");
    config.media.master_key = Some([3u8; 32]);
    let state = AppState::initialize(config).unwrap();
    let mut conn = state.db.get().unwrap();
    let err = confab::testing::rotate::run(&state.config, &mut conn, Some([4u8; 32])).unwrap_err();
    assert!(err.contains("CONFAB_PREVIOUS_MASTER_KEYS"), "{err}");
}

fn start_with(config: confab::config::Config) -> Result<AppState, String> {
    AppState::initialize(config).map_err(|e| e.to_string())
}

/// One master key per cluster: the database records the key's fingerprint;
/// an instance with another key, or with none on a database in use, is
/// refused at start with a message naming the key, and no key is generated
/// for a database that already holds sealed rows.
#[actix_web::test]
async fn a_wrong_or_missing_key_is_refused_at_start() {
    let db = TestDb::new();
    let k1 = SecretKey::from_bytes([11u8; 32]).id();
    let mut first = test_config(&db, "http://localhost");
    first.media.master_key = Some([11u8; 32]);
    let state =
        web::block(move || start_with(first)).await.unwrap().expect("the first instance records its key");
    let keyring = state.keys.keyring();
    state
        .db
        .read(move |conn| confab::testing::create_account(conn, "t", None, None, HashCost::TESTING, &keyring))
        .await
        .unwrap();

    let mut wrong = test_config(&db, "http://localhost");
    wrong.media.master_key = Some([33u8; 32]);
    let err = web::block(move || start_with(wrong)).await.unwrap().err().expect("a wrong key is refused");
    assert!(err.contains("mismatch") && err.contains(&k1), "{err}");
    assert!(err.contains(&SecretKey::from_bytes([33u8; 32]).id()), "names the key it has: {err}");

    // The embedded defaults on a fresh data folder: no key file is made for
    // a database in use.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut defaults = test_config(&db, "http://localhost");
    defaults.media.master_key = None;
    defaults.data_dir = elsewhere.path().to_path_buf();
    let err = web::block(move || start_with(defaults)).await.unwrap().err().expect("no key is generated");
    assert!(err.contains(&k1) && err.contains("empty database"), "{err}");
    assert!(!elsewhere.path().join("master.key").exists(), "no key file was generated");

    // A database from before keys were recorded: whatever is sealed must
    // open with the configured keys.
    state
        .db
        .read(|conn| {
            Ok::<_, StoreError>(diesel::delete(confab::testing::schema::master_keys::table).execute(conn)?)
        })
        .await
        .unwrap();
    let mut wrong = test_config(&db, "http://localhost");
    wrong.media.master_key = Some([33u8; 32]);
    let err = web::block(move || start_with(wrong)).await.unwrap().err().expect("sealed rows name their key");
    assert!(err.contains(&k1), "{err}");
    let mut right = test_config(&db, "http://localhost");
    right.media.master_key = Some([11u8; 32]);
    web::block(move || start_with(right)).await.unwrap().expect("the key the rows were sealed with");
    let recorded = state.db.read(confab::testing::master_keys::current).await.unwrap();
    assert_eq!(recorded.as_deref(), Some(k1.as_str()));
}

/// Two instances and a rolling rotation: each holds both keys before the
/// new one becomes current, the rotation re-seals every row, the old key is
/// retired and dropped, and media uploaded through either instance, and
/// access tokens of an existing API key, work through the other at every step.
#[actix_web::test]
async fn rotation_rolls_across_two_instances_without_a_failed_request() {
    let (k1, k2) = ([21u8; 32], [22u8; 32]);
    let db = TestDb::new();
    let storage = {
        let c = test_config(&db, "http://localhost");
        match c.media.storage {
            StorageUrl::Memory => StorageUrl::File(db.dir.path().join("media")),
            shared => shared,
        }
    };
    let instance = |current: [u8; 32], previous: Vec<[u8; 32]>| {
        let mut config = test_config(&db, "http://localhost");
        config.media.storage = storage.clone();
        config.media.master_key = Some(current);
        config.media.previous_master_keys = previous;
        config
    };
    let start = |config: confab::config::Config| async move {
        web::Data::new(web::block(move || start_with(config)).await.unwrap().expect("instance starts"))
    };
    let a = start(instance(k1, vec![])).await;
    let b = start(instance(k1, vec![])).await;
    let keyring = a.keys.keyring();
    let creds = a
        .db
        .read(move |conn| confab::testing::create_account(conn, "t", None, None, HashCost::TESTING, &keyring))
        .await
        .unwrap();
    let account = crate::util::Account { sid: creds.account_sid.clone(), token: creds.auth_token.clone() };
    let auth = account.basic();
    let service = {
        let app = actix_test::init_service(app::build(a.clone())).await;
        let req = actix_test::TestRequest::get()
            .uri("/v1/Configuration")
            .insert_header(("Authorization", auth.as_str()));
        let cfg: serde_json::Value = actix_test::call_and_read_body_json(&app, req.to_request()).await;
        cfg["default_chat_service_sid"].as_str().unwrap().to_owned()
    };
    let key: serde_json::Value = {
        let app = actix_test::init_service(app::build(b.clone())).await;
        let req = actix_test::TestRequest::post()
            .uri(&format!("/2010-04-01/Accounts/{}/Keys.json", account.sid))
            .insert_header(("Authorization", auth.as_str()))
            .set_form([("FriendlyName", "tokens")]);
        actix_test::call_and_read_body_json(&app, req.to_request()).await
    };
    let api_key = crate::util::ApiKey {
        sid: key["sid"].as_str().unwrap().into(),
        secret: key["secret"].as_str().unwrap().into(),
    };
    let token = crate::util::bearer(&crate::util::access_token(&api_key, &account.sid, "alice", &service));

    let mut uploaded: Vec<(String, Vec<u8>)> = Vec::new();
    // Uploads through `from`, then reads everything so far through both.
    async fn round(
        from: &web::Data<AppState>,
        to: &web::Data<AppState>,
        auth: &str,
        token: &str,
        service: &str,
        uploaded: &mut Vec<(String, Vec<u8>)>,
        step: &str,
    ) {
        let body = format!("{step}: {}", uploaded.len()).repeat(5_000).into_bytes();
        let sid = upload(from, auth, service, &body).await;
        uploaded.push((sid, body));
        for state in [from, to] {
            for (sid, body) in uploaded.iter() {
                assert_eq!(download(state, auth, service, sid).await, (200, body.clone()), "{step}: {sid}");
            }
            let app = actix_test::init_service(app::build(state.clone())).await;
            let req = actix_test::TestRequest::get()
                .uri(&format!("/v1/Services/{service}/Users/alice"))
                .insert_header(("Authorization", token));
            let status = actix_test::call_service(&app, req.to_request()).await.status();
            assert_ne!(status, 401, "{step}: the access token verifies");
        }
    }
    round(&a, &b, &auth, &token, &service, &mut uploaded, "one key").await;

    // 1. Every instance accepts the new key, one restart at a time; the old
    //    key stays current, so the instance not yet restarted reads all.
    let a = start(instance(k1, vec![k2])).await;
    round(&a, &b, &auth, &token, &service, &mut uploaded, "a accepts").await;
    round(&b, &a, &auth, &token, &service, &mut uploaded, "a accepts").await;
    let b = start(instance(k1, vec![k2])).await;
    round(&b, &a, &auth, &token, &service, &mut uploaded, "both accept").await;
    assert_eq!(key_ids(&a).await.into_iter().collect::<std::collections::BTreeSet<_>>().len(), 1);

    // 2. The new key becomes current: rows are re-sealed, and the running
    //    instances seal under it within about a second.
    let rotating = instance(k2, vec![k1]);
    let rotation =
        a.db.read(move |conn| Ok::<_, StoreError>(confab::testing::rotate::run(&rotating, conn, None)))
            .await
            .unwrap()
            .unwrap();
    let k2_id = SecretKey::from_bytes(k2).id();
    assert_eq!(rotation.key_id, k2_id);
    round(&a, &b, &auth, &token, &service, &mut uploaded, "just rotated").await;
    round(&b, &a, &auth, &token, &service, &mut uploaded, "just rotated").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    round(&a, &b, &auth, &token, &service, &mut uploaded, "rotated").await;
    round(&b, &a, &auth, &token, &service, &mut uploaded, "rotated").await;
    let last_two: Vec<String> = uploaded.iter().rev().take(2).map(|(sid, _)| sid.clone()).collect();
    for sid in last_two {
        let key_id =
            a.db.read(move |conn| {
                Ok::<String, StoreError>(
                    media::table.filter(media::sid.eq(&sid)).select(media::key_id).get_result(conn)?,
                )
            })
            .await
            .unwrap();
        assert_eq!(key_id, k2_id, "both instances follow the new current key");
    }

    // 3. The old key is retired (stragglers re-sealed) and dropped from the
    //    instances, one at a time; an instance with only the old key no longer starts.
    let k1_id = SecretKey::from_bytes(k1).id();
    let retiring = instance(k2, vec![k1]);
    let k1_for_retire = k1_id.clone();
    let retired =
        a.db.read(move |conn| {
            Ok::<_, StoreError>(confab::testing::rotate::retire(&retiring, conn, &k1_for_retire))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retired.retired.as_str(), retired.current.as_str()), (k1_id.as_str(), k2_id.as_str()));
    assert!(key_ids(&a).await.iter().all(|k| *k == k2_id), "every data key is under the new key");
    let a = start(instance(k2, vec![])).await;
    round(&a, &b, &auth, &token, &service, &mut uploaded, "a drops the old key").await;
    let b = start(instance(k2, vec![])).await;
    round(&b, &a, &auth, &token, &service, &mut uploaded, "b drops the old key").await;
    let config = instance(k1, vec![]);
    let err =
        web::block(move || start_with(config)).await.unwrap().err().expect("the old key alone is refused");
    assert!(err.contains(&k2_id), "{err}");
    // The current key cannot be retired.
    let retiring = instance(k2, vec![]);
    let k2_for_retire = k2_id.clone();
    let err =
        a.db.read(move |conn| {
            Ok::<_, StoreError>(confab::testing::rotate::retire(&retiring, conn, &k2_for_retire))
        })
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.contains("current"), "{err}");
}

/// `confab admin rotate-master-key` exits cleanly, every time: with libpq's
/// OpenSSL loaded, its exit handler used to free state the pool's threads
/// still held, and about one run in 26 ended in SIGSEGV (src/db/openssl.rs).
#[test]
fn the_rotation_command_exits_cleanly_every_time() {
    let db = TestDb::new();
    let data_dir = db.dir.path().join("cli");
    let database_url = match &db.url {
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    for run in 0..40 {
        let out = std::process::Command::new(confab_bin())
            .args(["admin", "rotate-master-key"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &database_url)
            .env("CONFAB_DATA_DIR", &data_dir)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        assert!(out.status.success(), "run {run}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
}
