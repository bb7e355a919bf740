//! Cascades and the collector.

use super::*;

/// Media rows and objects of `sids` are gone (the objects after a collector
/// pass, if not at once); `kept` media still download.
async fn assert_media_gone(app: &TestApp, sids: &[String], kept: &[(Value, Vec<u8>)], what: &str) {
    for sid in sids {
        assert!(media_row(&app.state, sid).await.is_none(), "{what}: the row of {sid} remains");
    }
    collect(&app.state, now()).await;
    let left = objects(&app.state).await;
    for sid in sids {
        assert!(!left.contains(&Storage::media_key(sid)), "{what}: the object of {sid} remains");
        assert!(stored(&app.state, sid).await.is_none(), "{what}: the object of {sid} remains");
    }
    assert_eq!(pending_deletions(&app.state).await, 0, "{what}: deletions still queued");
    assert_eq!(left.len(), kept.len(), "{what}: objects {left:?}");
    for (m, data) in kept {
        assert_download(content_basic(app, m, &[]).await, data, &format!("{what}: kept media"));
    }
}

#[actix_web::test]
async fn deleting_a_message_deletes_its_media() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let data: Vec<Vec<u8>> = (0..3).map(|i| random_bytes(70_000 + i, 130 + i as u64)).collect();
    let mut media = Vec::new();
    for d in &data {
        media.push(upload(&app, &service, d, None, None).await);
    }
    let sids: Vec<String> = media.iter().map(|m| text(&m["sid"])).collect();
    let msg = send_media(&app, &messages_path(&ch), &[&sids[0], &sids[1]], &[]).await.expect(201);
    let other_msg = send_media(&app, &messages_path(&ch), &[&sids[2]], &[]).await.expect(201);
    assert_eq!(objects(&app.state).await.len(), 3);

    app.delete(&format!("{}/{}", messages_path(&ch), text(&msg["sid"]))).await.expect(204);
    for sid in &sids[..2] {
        media_json(&app, &service, sid).await.expect_error(404, 20404);
    }
    assert_media_gone(&app, &sids[..2], &[(media[2].clone(), data[2].clone())], "message delete").await;
    let m = media_json(&app, &service, &sids[2]).await.expect(200);
    assert_eq!(m["message_sid"], other_msg["sid"]);
    // A deleted media cannot be attached again.
    send_media(&app, &messages_path(&ch), &[&sids[0]], &[]).await.expect_error(400, 50510);
}

#[actix_web::test]
async fn deleting_a_conversation_deletes_its_media() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let doomed = text(&app.conversation(&[]).await["sid"]);
    let kept_ch = text(&app.conversation(&[]).await["sid"]);
    let mut gone = Vec::new();
    for i in 0..2 {
        let m = upload(&app, &service, &random_bytes(70_000, 140 + i), None, None).await;
        gone.push(text(&m["sid"]));
    }
    send_media(&app, &messages_path(&doomed), &[&gone[0]], &[]).await.expect(201);
    send_media(&app, &messages_path(&doomed), &[&gone[1]], &[("Body", "x")]).await.expect(201);
    // Media of another conversation, and media never attached, stay.
    let kept_data = random_bytes(2000, 149);
    let kept = upload(&app, &service, &kept_data, None, None).await;
    send_media(&app, &messages_path(&kept_ch), &[&text(&kept["sid"])], &[]).await.expect(201);
    let loose_data = random_bytes(3000, 150);
    let loose = upload(&app, &service, &loose_data, None, None).await;

    app.delete(&format!("/v1/Conversations/{doomed}")).await.expect(204);
    for sid in &gone {
        media_json(&app, &service, sid).await.expect_error(404, 20404);
    }
    assert_media_gone(&app, &gone, &[(kept, kept_data), (loose, loose_data)], "conversation delete").await;
}

#[actix_web::test]
async fn deleting_a_service_deletes_its_media() {
    let app = TestApp::new().await;
    let default = app.default_service().await;
    let doomed = new_service(&app, "doomed").await;
    let ch = text(&app.post(&format!("/v1/Services/{doomed}/Conversations"), &[]).await.expect(201)["sid"]);
    let messages = format!("/v1/Services/{doomed}/Conversations/{ch}/Messages");
    let attached = text(&upload(&app, &doomed, &random_bytes(80_000, 160), None, None).await["sid"]);
    send_media(&app, &messages, &[&attached], &[]).await.expect(201);
    // Media uploaded to the service but never attached goes with it too.
    let loose = text(&upload(&app, &doomed, &random_bytes(500, 161), None, None).await["sid"]);
    let kept_data = random_bytes(4000, 162);
    let kept = upload(&app, &default, &kept_data, None, None).await;

    app.delete(&format!("/v1/Services/{doomed}")).await.expect(204);
    assert_media_gone(&app, &[attached, loose], &[(kept, kept_data)], "service delete").await;
    assert_eq!(media_rows(&app.state).await, 1);
}

#[actix_web::test]
async fn the_collector_removes_unattached_media_after_its_window() {
    let app = TestApp::builder().config(|c| c.media.gc_after = Duration::from_secs(1)).app().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let loose_data = random_bytes(90_000, 170);
    let loose = upload(&app, &service, &loose_data, None, None).await;
    let loose_sid = text(&loose["sid"]);
    let fetched = media_json(&app, &service, &loose_sid).await.expect(200);
    let attached_data = random_bytes(70_000, 171);
    let attached = upload(&app, &service, &attached_data, None, None).await;
    send_media(&app, &messages_path(&ch), &[&text(&attached["sid"])], &[]).await.expect(201);

    // Within the window nothing goes (as of the upload's own second).
    let uploaded_at = media_row(&app.state, &loose_sid).await.unwrap().date_upload_updated;
    let pass = collect(&app.state, uploaded_at).await;
    assert_eq!(pass.expired, 0, "{pass:?}");
    assert_eq!(media_rows(&app.state).await, 2);
    assert_download(content_basic(&app, &loose, &[]).await, &loose_data, "within the window");

    // After it, the unattached media and its object go; the attached stays.
    let pass = collect(&app.state, now() + 5).await;
    assert_eq!(pass.expired, 1, "{pass:?}");
    assert!(media_row(&app.state, &loose_sid).await.is_none(), "unattached media outlived its window");
    assert!(stored(&app.state, &loose_sid).await.is_none(), "the collected media's object remains");
    assert_eq!(objects(&app.state).await, vec![Storage::media_key(&text(&attached["sid"]))]);
    assert_eq!(pending_deletions(&app.state).await, 0);
    assert_download(content_basic(&app, &attached, &[]).await, &attached_data, "attached media");
    let again = collect(&app.state, now() + 3600).await;
    assert_eq!(again.expired, 0, "attached media is never collected: {again:?}");
    assert_download(content_temp(&app, &attached, &[]).await, &attached_data, "attached media, later");

    // The collected SID: gone everywhere, and not attachable.
    media_json(&app, &service, &loose_sid).await.expect_error(404, 20404);
    let (res, _) = content_temp(&app, &fetched, &[]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "a temporary URL of collected media");
    let body = send_media(&app, &messages_path(&ch), &[&loose_sid], &[]).await.expect_error(400, 50510);
    assert!(text(&body["message"]).contains("no media with that SID exists"), "{body}");
}

/// Inserts media rows in `state` (no objects), each `(sid, last touched)`.
async fn insert_media(app: &TestApp, service: &str, state: &'static str, rows: &[(String, i64)]) {
    let (rows, service, account) = (rows.to_vec(), service.to_owned(), app.account.sid.clone());
    confab::testing::transaction(&app.state.db, move |conn| {
        for (sid, touched) in &rows {
            let key = Storage::media_key(sid);
            diesel::insert_into(media::table)
                .values(NewMedia {
                    sid,
                    account_sid: &account,
                    service_sid: &service,
                    state,
                    content_type: "application/octet-stream",
                    filename: None,
                    category: "media",
                    author: "system",
                    size: 0,
                    object_key: &key,
                    key_id: "test",
                    wrapped_key: &[0u8; 60],
                    nonce_prefix: &[0u8; 7],
                    date_created: *touched,
                    date_upload_updated: *touched,
                    date_updated: *touched,
                })
                .execute(conn)?;
        }
        Ok(())
    })
    .await
    .expect("insert media rows");
}

/// A heartbeat that fails is logged and the upload goes on.
#[actix_web::test]
async fn a_failed_heartbeat_does_not_fail_the_upload() {
    let app = TestApp::builder().config(|c| c.media.upload_heartbeat = Duration::ZERO).app().await;
    let service = app.default_service().await;
    // Every update that keeps a row `uploading` (a heartbeat) fails.
    let postgres = app.state.db.is_postgres();
    confab::testing::transaction(&app.state.db, move |conn| {
        let statements: &[&str] = if postgres {
            &[
                "CREATE FUNCTION refuse_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     IF NEW.state = 'uploading' THEN RAISE EXCEPTION 'heartbeat refused'; END IF; \
                     RETURN NEW; END $$",
                "CREATE TRIGGER refuse_heartbeat BEFORE UPDATE ON media FOR EACH ROW \
                     EXECUTE FUNCTION refuse_heartbeat()",
            ]
        } else {
            &["CREATE TRIGGER refuse_heartbeat BEFORE UPDATE ON media WHEN NEW.state = 'uploading' \
                   BEGIN SELECT RAISE(ABORT, 'heartbeat refused'); END"]
        };
        for sql in statements {
            diesel::sql_query(*sql).execute(conn)?;
        }
        Ok(())
    })
    .await
    .expect("trigger");
    let data = random_bytes(300_000, 64);
    let m = upload(&app, &service, &data, None, None).await;
    assert_download(content_basic(&app, &m, &[]).await, &data, "uploaded despite a failed heartbeat");
}

/// A long idle timeout lengthens the window after which uploads count as
/// abandoned: an upload idle for less than heartbeat + timeout stays.
#[actix_web::test]
async fn the_stale_upload_window_follows_the_idle_timeout() {
    let app = TestApp::builder()
        .config(|c| {
            c.media.gc_after = Duration::from_secs(1);
            c.media.upload_idle_timeout = Duration::from_secs(600);
        })
        .app()
        .await;
    let service = app.default_service().await;
    let window = app.state.config.media.stale_upload_after().as_secs() as i64;
    assert!(window > 600 + 60, "window {window} s");
    let t = now();
    let (idle, abandoned) = (SidKind::Media.generate(), SidKind::Media.generate());
    // Idle for 400 s: within its 600 s timeout (and the last heartbeat).
    insert_media(
        &app,
        &service,
        "uploading",
        &[(idle.clone(), t - 400), (abandoned.clone(), t - window - 1)],
    )
    .await;
    let pass = collect(&app.state, t).await;
    assert_eq!(pass.expired, 1, "{pass:?}");
    assert!(
        media_row(&app.state, &idle).await.is_some(),
        "a live upload within its idle timeout was collected"
    );
    assert!(media_row(&app.state, &abandoned).await.is_none(), "the abandoned upload remains");
}

/// The row of an upload in progress is deleted (as a service delete or the
/// collector would): the upload answers 409 and keeps nothing.
#[actix_web::test]
async fn an_upload_whose_row_vanished_answers_409_and_keeps_nothing() {
    let server = TestServer::start().await;
    let service = server_service(&server).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let request =
        server.client().post(format!("{}/v1/Services/{service}/Media", server.base)).send_stream(body);
    let answer = actix_web::rt::spawn(async move {
        let mut res = request.await.expect("upload");
        let body: Value = res.json().await.expect("json");
        (res.status().as_u16(), body)
    });
    let data = random_bytes(200_000, 63);
    tx.send(Ok(Bytes::copy_from_slice(&data[..100_000]))).await.expect("first half");
    let mut waited = 0;
    while media_rows(&server.state).await == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let deleted =
        confab::testing::transaction(
            &server.state.db,
            |conn| Ok(diesel::delete(media::table).execute(conn)?),
        )
        .await
        .expect("delete the row");
    assert_eq!(deleted, 1, "the upload's row exists while it streams");
    tx.send(Ok(Bytes::copy_from_slice(&data[100_000..]))).await.expect("second half");
    drop(tx);
    let (status, body) = answer.await.expect("client task");
    assert_eq!((status, body["code"].as_u64()), (409, Some(20409)), "{body}");
    assert_nothing_stored(&server.state, "row deleted mid-upload").await;
    server.stop().await;
}

/// More expired media than one statement deletes: one pass takes them all.
#[actix_web::test]
async fn one_collector_pass_expires_more_than_one_batch() {
    let app = TestApp::builder().config(|c| c.media.gc_after = Duration::from_secs(1)).app().await;
    let service = app.default_service().await;
    let t = now();
    let many = collector::BATCH as usize * 2 + 1;
    let rows: Vec<(String, i64)> = (0..many).map(|_| (SidKind::Media.generate(), t - 3600)).collect();
    insert_media(&app, &service, "ready", &rows).await;
    let fresh = SidKind::Media.generate();
    insert_media(&app, &service, "ready", &[(fresh.clone(), t)]).await;

    let pass = collect(&app.state, t).await;
    assert_eq!(pass.expired, many, "{pass:?}");
    assert_eq!(pass.objects_failed, 0, "{pass:?}");
    assert_eq!(media_rows(&app.state).await, 1, "only the fresh media remains");
    assert!(media_row(&app.state, &fresh).await.is_some());
    assert_eq!(pending_deletions(&app.state).await, 0);
}

#[actix_web::test]
async fn the_collector_removes_abandoned_uploads() {
    let app = TestApp::builder().config(|c| c.media.gc_after = Duration::from_secs(1)).app().await;
    let service = app.default_service().await;
    let t = now();
    // (sid, last touched): one abandoned an hour ago, one in progress.
    let stale = SidKind::Media.generate();
    let active = SidKind::Media.generate();
    insert_media(&app, &service, "uploading", &[(stale.clone(), t - 3600), (active.clone(), t)]).await;
    // The abandoned upload left part of its object behind.
    put_stored(&app.state, &stale, random_bytes(1000, 180)).await;

    // An unfinished upload has no content and cannot be attached.
    let m = media_json(&app, &service, &active).await.expect(200);
    assert!(m["links"]["content_direct_temporary"].is_null(), "{m}");
    let (res, _) = content_basic(&app, &m, &[]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let ch = text(&app.conversation(&[]).await["sid"]);
    send_media(&app, &messages_path(&ch), &[&active], &[]).await.expect_error(400, 50510);

    let pass = collect(&app.state, t + 5).await;
    assert_eq!(pass.expired, 1, "{pass:?}");
    assert!(media_row(&app.state, &stale).await.is_none(), "the abandoned upload remains");
    assert!(stored(&app.state, &stale).await.is_none(), "its partial object remains");
    assert!(media_row(&app.state, &active).await.is_some(), "an upload in progress was collected");
    assert_eq!(pending_deletions(&app.state).await, 0);
}

/// The collector runs beside the server on its own (every
/// `CONFAB_GC_INTERVAL_SECS`), and not at all with `CONFAB_BACKGROUND=off`.
#[actix_web::test]
async fn the_collector_runs_in_the_background_unless_switched_off() {
    for background in [true, false] {
        let app = TestApp::builder()
            .config(move |c| {
                c.background = background;
                c.media.gc_interval = Duration::from_millis(200);
                c.media.gc_after = Duration::from_secs(1);
            })
            .app()
            .await;
        let running = confab::testing::start_background(&app.state);
        let service = app.default_service().await;
        let m = upload(&app, &service, b"never attached", None, None).await;
        let sid = text(&m["sid"]);
        // Unattached for longer than the 1 s allowed (dates are whole seconds).
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        let status = media_json(&app, &service, &sid).await.status.as_u16();
        if background {
            assert_eq!(status, 404, "collected by the background collector");
            assert_eq!(objects(&app.state).await, Vec::<String>::new(), "its object went too");
        } else {
            assert_eq!(status, 200, "nothing collects on an instance with the background off");
        }
        drop(running);
    }
}
