//! Encryption at rest.

use super::*;

#[actix_web::test]
async fn stored_objects_hold_no_plaintext() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("phrase", phrase_bytes(MIB)),
        ("random", random_bytes(300 * 1024 + 123, 42)),
        ("zeros", vec![0u8; 3 * CHUNK + 5]),
    ];
    for (what, plain) in &cases {
        for multipart in [false, true] {
            let m = if multipart {
                upload_multipart(&app, &service, &[], plain, "x.bin", None).await.expect(201)
            } else {
                upload(&app, &service, plain, None, None).await
            };
            let object = stored(&app.state, &text(&m["sid"])).await.expect("object stored");
            assert_eq!(
                object.len(),
                sealed_len(plain.len()),
                "{what}: plaintext + 16 bytes per 64 KiB chunk"
            );
            assert_eq!(object.len(), plain.len() + plain.len().div_ceil(CHUNK) * TAG);
            assert_no_plaintext_window(&object, plain);
            assert_download(content_basic(&app, &m, &[]).await, plain, what);
        }
    }
    // The same bytes uploaded twice are stored differently (a key per media).
    let plain = phrase_bytes(CHUNK);
    let a = upload(&app, &service, &plain, None, None).await;
    let b = upload(&app, &service, &plain, None, None).await;
    let a = stored(&app.state, &text(&a["sid"])).await.unwrap();
    let b = stored(&app.state, &text(&b["sid"])).await.unwrap();
    assert_ne!(a, b);
    assert_no_plaintext_window(&a, &b);
}

/// The digest an ETag carries for a stored object: SHA-256 over its chunks'
/// tags (the last 16 bytes of every sealed chunk), in order.
fn tags_digest(object: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for sealed in object.chunks(CHUNK + TAG) {
        hasher.update(&sealed[sealed.len() - TAG..]);
    }
    format!("tags-sha256:{}", digest_hex(hasher))
}

#[actix_web::test]
async fn etag_digests_the_stored_tags_never_the_plaintext() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    // Across chunk and 1 MiB batch boundaries (batches are sealed apart).
    for (i, size) in [0, 1, CHUNK, CHUNK + 1, MIB, MIB + 1, 3 * MIB + 5].into_iter().enumerate() {
        let plain = random_bytes(size, 700 + i as u64);
        for multipart in [false, true] {
            let m = if multipart {
                upload_multipart(&app, &service, &[], &plain, "x.bin", None).await.expect(201)
            } else {
                upload(&app, &service, &plain, None, None).await
            };
            let sid = text(&m["sid"]);
            let what = format!("{size} bytes, multipart {multipart}");
            let object = stored(&app.state, &sid).await.expect("object stored");
            let expected = tags_digest(&object);
            let row = media_row(&app.state, &sid).await.expect("row");
            assert_eq!(row.digest.as_deref(), Some(expected.as_str()), "{what}");
            let (res, _) = content_basic(&app, &m, &[]).await;
            assert_eq!(header(&res, "etag"), Some(format!("\"{expected}\"")), "{what}");
            // Nothing in the row or the header is a digest of the plaintext.
            let plain_sha = digest_hex(Sha256::new_with_prefix(&plain));
            assert!(!expected.contains(&plain_sha), "{what}");
        }
    }
}

#[actix_web::test]
async fn migration_drops_plaintext_digests_and_etags_fall_back_to_the_sid() {
    use diesel_migrations::MigrationHarness;
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let plain = random_bytes(1000, 77);
    let m = upload(&app, &service, &plain, None, None).await;
    let sid = text(&m["sid"]);

    // Back to the schema before migration 000007 (000008 first), holding a
    // plaintext SHA-256 as that schema did; then forward again.
    let mut conn = confab::testing::establish(&app.db.url).expect("connect");
    let plain_sha = digest_hex(Sha256::new_with_prefix(&plain));
    let set = format!("UPDATE media SET sha256 = '{plain_sha}' WHERE sid = '{sid}'");
    let mut reverted = 0;
    match &mut conn {
        confab::testing::DbConnection::Sqlite(c) => {
            // Back to before media_digest (000007), whatever came after it.
            loop {
                reverted += 1;
                let version = c.revert_last_migration(confab::testing::migrations::SQLITE).expect("down");
                if version.to_string().contains("000007") {
                    break;
                }
            }
            diesel::sql_query(set).execute(c).expect("old digest");
        }
        confab::testing::DbConnection::Postgresql(c) => {
            // Back to before media_digest (000007), whatever came after it.
            loop {
                reverted += 1;
                let version = c.revert_last_migration(confab::testing::migrations::POSTGRES).expect("down");
                if version.to_string().contains("000007") {
                    break;
                }
            }
            diesel::sql_query(set).execute(c).expect("old digest");
        }
    }
    let applied = confab::testing::migrations::run_pending(&mut conn).expect("up");
    assert_eq!(applied.len(), reverted, "{applied:?}");

    let row = media_row(&app.state, &sid).await.expect("row");
    assert_eq!(row.digest, None, "the plaintext digest is gone");
    let (res, cut) = content_basic(&app, &m, &[]).await;
    assert_eq!(header(&res, "etag"), Some(format!("\"{sid}\"")));
    assert_download((res, cut), &plain, "after the migration");
}
