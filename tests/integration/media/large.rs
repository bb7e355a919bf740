//! 150 MiB (under CONFAB_TEST_LARGE_MEDIA=1).

use super::*;

const LARGE: usize = 157_286_400;
const PIECE: usize = MIB;

/// Piece `k` of the large content (regenerated on demand, never held whole).
fn large_piece(k: usize) -> Bytes {
    let len = PIECE.min(LARGE - k * PIECE);
    Bytes::from(random_bytes(len, 1_000_000 + k as u64))
}

fn large_stream() -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    futures_util::stream::iter(0..LARGE.div_ceil(PIECE)).map(|k| Ok(large_piece(k)))
}

async fn download_hash<S>(res: &mut awc::ClientResponse<S>) -> (usize, String)
where
    S: futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin,
{
    let mut hasher = Sha256::new();
    let mut n = 0;
    while let Some(piece) = res.next().await {
        let piece = piece.expect("download body");
        n += piece.len();
        hasher.update(&piece);
    }
    (n, digest_hex(hasher))
}

#[actix_web::test]
async fn largest_media_round_trips() {
    if std::env::var("CONFAB_TEST_LARGE_MEDIA").ok().as_deref() != Some("1") {
        eprintln!("largest_media_round_trips: skipped (set CONFAB_TEST_LARGE_MEDIA=1 to run)");
        return;
    }
    let server = TestServer::start().await;
    assert_eq!(server.state.config.media.max_bytes, LARGE as u64, "the default limit");
    let long = Duration::from_secs(1800);
    let client = awc::Client::builder()
        .timeout(long)
        .add_default_header(("Authorization", server.account.basic()))
        .finish();
    let anonymous = awc::Client::builder().timeout(long).finish();
    let service = server_service(&server).await;
    let mut hasher = Sha256::new();
    for k in 0..LARGE.div_ceil(PIECE) {
        hasher.update(large_piece(k));
    }
    let want = digest_hex(hasher);
    let url = format!("{}/v1/Services/{service}/Media", server.base);

    // Raw, with its length declared, streamed from the generator.
    let started = std::time::Instant::now();
    let mut res = client
        .post(format!("{url}?Filename=big.mp4"))
        .insert_header(("Content-Type", "video/mp4"))
        .send_body(awc::body::SizedStream::new(LARGE as u64, large_stream()))
        .await
        .expect("raw upload");
    assert_eq!(res.status().as_u16(), 201);
    let raw: Value = res.json().await.expect("json");
    let raw_upload = started.elapsed();
    eprintln!("150 MiB raw upload: {raw_upload:?}");
    check_media(&raw, &server.account.sid, &service, LARGE, "video/mp4", Some("big.mp4"), &server.base);

    // Multipart, chunked, the file part exactly at the limit.
    let head = Bytes::from(multipart_head(&[], "big.bin", Some("application/octet-stream")));
    let tail = Bytes::from(multipart_tail());
    let form = futures_util::stream::iter([Ok(head)])
        .chain(large_stream())
        .chain(futures_util::stream::iter([Ok::<Bytes, std::io::Error>(tail)]));
    let started = std::time::Instant::now();
    let mut res = client
        .post(&url)
        .insert_header(("Content-Type", multipart_type()))
        .send_stream(form)
        .await
        .expect("multipart upload");
    assert_eq!(res.status().as_u16(), 201);
    let multipart: Value = res.json().await.expect("json");
    let multipart_upload = started.elapsed();
    eprintln!("150 MiB multipart upload: {multipart_upload:?}");
    assert_eq!(multipart["size"], LARGE as u64);

    for (what, m, upload_time) in [("raw", &raw, raw_upload), ("multipart", &multipart, multipart_upload)] {
        let object = server.state.storage.store().head(&object_path(&text(&m["sid"]))).await.expect("head");
        assert_eq!(object.size, sealed_len(LARGE) as u64, "{what}: stored size");

        let started = std::time::Instant::now();
        let mut res =
            client.get(format!("{}{}", server.base, text(&m["links"]["content"]))).send().await.expect("get");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers().get("content-length").unwrap().to_str().unwrap(), LARGE.to_string());
        let (n, got) = download_hash(&mut res).await;
        let download_time = started.elapsed();
        eprintln!("150 MiB {what} download (Basic): {download_time:?}");
        assert_eq!(n, LARGE, "{what}: downloaded length");
        assert_eq!(got, want, "{what}: SHA-256 through Basic auth");
        // Downloading streams like uploading: same order of time, whatever
        // the machine (work per chunk must not grow with the object).
        assert!(
            download_time <= upload_time * 10 + Duration::from_secs(10),
            "{what}: downloading 150 MiB took {download_time:?}, uploading it {upload_time:?}"
        );

        let mut res = anonymous.get(text(&m["links"]["content_direct_temporary"])).send().await.expect("get");
        assert_eq!(res.status().as_u16(), 200);
        let (n, got) = download_hash(&mut res).await;
        assert_eq!((n, got.as_str()), (LARGE, want.as_str()), "{what}: SHA-256 through the temporary URL");

        // The tail, by range.
        let mut res = client
            .get(format!("{}{}", server.base, text(&m["links"]["content"])))
            .insert_header(("Range", "bytes=-1000"))
            .send()
            .await
            .expect("range");
        assert_eq!(res.status().as_u16(), 206);
        let tail = res.body().limit(MIB).await.expect("body");
        let last = large_piece(LARGE / PIECE - 1);
        assert_same_bytes(&tail, &last[last.len() - 1000..], "the last 1000 bytes");
    }
    server.stop().await;
}
