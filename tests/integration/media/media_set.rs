//! MediaSet.

use super::*;

#[actix_web::test]
async fn media_set_answers_each_sid_in_order() {
    let app = TestApp::new().await;
    let service = app.default_service().await;
    let ch = text(&app.conversation(&[]).await["sid"]);
    let a = upload(&app, &service, b"alpha", Some("image/png"), Some("a.png")).await;
    let b = upload(&app, &service, b"beta", Some("application/pdf"), Some("b.pdf")).await;
    let msg = send_media(&app, &messages_path(&ch), &[&text(&b["sid"])], &[]).await.expect(201);
    let other = new_service(&app, "other").await;
    let elsewhere = upload(&app, &other, b"gamma", None, None).await;
    let missing = SidKind::Media.generate();

    let asked = [
        text(&a["sid"]),
        missing.clone(),
        text(&b["sid"]),
        "bogus".into(),
        text(&elsewhere["sid"]),
        text(&a["sid"]),
    ];
    let list: Vec<Value> = asked.iter().map(|s| json!({"media_sid": s})).collect();
    let items = media_set(&app, &service, &json!({"command": "get", "list": list})).await.expect(200);
    let items = items.as_array().expect("a JSON array");
    assert_eq!(items.len(), asked.len());
    let codes: Vec<u64> = items.iter().map(|i| i["code"].as_u64().expect("code")).collect();
    assert_eq!(codes, [200, 404, 200, 404, 404, 200]);
    for (item, sid) in items.iter().zip(&asked) {
        if item["code"] == 200 {
            let record = &item["media_record"];
            assert_keys(record, &MEDIA_KEYS);
            assert_eq!(record["sid"], sid.as_str());
        } else {
            assert!(item["media_record"].is_null(), "{item}");
        }
    }
    assert_eq!(without_temporary(&items[0]["media_record"]), without_temporary(&a));
    assert_eq!(items[2]["media_record"]["message_sid"], msg["sid"]);
    assert_eq!(items[2]["media_record"]["channel_sid"], ch.as_str());
    assert_download(content_temp(&app, &items[0]["media_record"], &[]).await, b"alpha", "MediaSet URL");

    let empty = media_set(&app, &service, &json!({"command": "get", "list": []})).await.expect(200);
    assert_eq!(empty, json!([]));
    let res = media_set(&app, &service, &json!({"command": "delete", "list": list})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = media_set(&app, &service, &json!({"nonsense": true})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let many: Vec<Value> = (0..1000).map(|_| json!({"media_sid": text(&a["sid"])})).collect();
    let res = media_set(&app, &service, &json!({"command": "get", "list": many})).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "a batch is bounded");
    assert_eq!(media_rows(&app.state).await, 3);
}
