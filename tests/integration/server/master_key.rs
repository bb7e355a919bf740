//! Master-key rotation re-wraps data keys without touching media objects,
//! from the library and through `confab admin rotate-master-key`.

use crate::util::{TestApp, TestDb, confab_bin, test_config};
use actix_web::test as actix_test;
use actix_web::web;
use confab::app::{self, AppState};
use confab::config::{DatabaseUrl, StorageUrl};
use confab::testing::Storage;
use confab::testing::StoreError;
use confab::testing::schema::media;
use confab::testing::{Keyring, SecretKey};
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

    let ring = Keyring::new(SecretKey::from_bytes(new), vec![SecretKey::from_bytes(old)]);
    let moved =
        app.state.db.read(move |conn| confab::testing::rotate::rewrap_all(conn, &ring)).await.unwrap();
    // The media's data key and the account's sealed Auth Token.
    assert_eq!(moved, 2);
    assert_eq!(key_ids(&app.state).await, vec![SecretKey::from_bytes(new).id()]);
    let after = app.state.storage.store().get(&Storage::path(&Storage::media_key(&sid))).await;
    assert_eq!(after.unwrap().bytes().await.unwrap(), before, "objects are not rewritten");

    // A server that knows only the new key reads it; one that knows only the old key cannot.
    let mut config = test_config(&app.db, "http://localhost");
    config.media.storage = StorageUrl::File(app.db.dir.path().join("media"));
    config.media.master_key = Some(new);
    let only_new = web::Data::new(web::block(move || AppState::initialize(config).unwrap()).await.unwrap());
    assert_eq!(download(&only_new, &auth, &service, &sid).await, (200, content.clone()));
    let mut config = test_config(&app.db, "http://localhost");
    config.media.storage = StorageUrl::File(app.db.dir.path().join("media"));
    config.media.master_key = Some(old);
    let only_old = web::Data::new(web::block(move || AppState::initialize(config).unwrap()).await.unwrap());
    assert_eq!(download(&only_old, &auth, &service, &sid).await.0, 500);
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
