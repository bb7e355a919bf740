//! A local media folder that runs out of space: the upload is answered 507
//! (code 20507), its temporary file and row are cleaned up, and the worker
//! goes on serving; downloads in flight beside it complete. Needs a small
//! tmpfs (root, or a user allowed to mount); skipped with a message elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use futures_util::StreamExt;
use futures_util::future::join_all;

use super::*;

/// A 1 MiB tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).ok()?;
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(at).output().ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a small tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                found.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    found
}

#[actix_web::test]
async fn a_full_disk_answers_507_and_harms_no_other_request() {
    let holder = tempfile::tempdir().unwrap();
    let media_dir = holder.path().join("media");
    let Some(_disk) = SmallDisk::mount(&media_dir) else { return };
    let dir = media_dir.clone();
    let server = TestApp::builder().config(move |c| c.media.storage = StorageUrl::File(dir)).server().await;
    let client = server.client();
    let mut res = client.get(format!("{}/v1/Configuration", server.base)).send().await.unwrap();
    let cfg: Value = res.json().await.unwrap();
    let service = text(&cfg["default_chat_service_sid"]);
    let upload = |body: Vec<u8>| {
        let client = client.clone();
        let url = format!("{}/v1/Services/{service}/Media?Filename=f.bin", server.base);
        async move {
            let mut res = client
                .post(url)
                .insert_header(("Content-Type", "application/octet-stream"))
                .send_body(body)
                .await
                .expect("an answer, not a reset");
            let status = res.status().as_u16();
            (status, res.json::<Value>().limit(1 << 20).await.unwrap_or(Value::Null))
        }
    };
    let small = random_bytes(200_000, 1);
    let (status, stored) = upload(small.clone()).await;
    assert_eq!(status, 201, "{stored}");
    let stored_sid = text(&stored["sid"]);

    // Downloads of the stored media run beside the upload that fills the disk.
    let download = || {
        let client = client.clone();
        let url = format!("{}/v1/Services/{service}/Media/{stored_sid}/Content", server.base);
        async move {
            let res = client.get(url).send().await.expect("download starts");
            assert_eq!(res.status(), 200);
            let mut body = Vec::new();
            let mut stream = res;
            while let Some(chunk) = stream.next().await {
                body.extend_from_slice(&chunk.expect("the download is not cut"));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            body
        }
    };
    let big = random_bytes(3 * MIB, 2);
    let (failed, downloads) = futures_util::join!(upload(big), join_all((0..4).map(|_| download())));
    assert_eq!(failed.0, 507, "{}", failed.1);
    assert_eq!(failed.1["code"], 20507, "{}", failed.1);
    assert_eq!(failed.1["status"], 507);
    for body in downloads {
        assert_same_bytes(&body, &small, "a download beside the full disk");
    }
    // Nothing of the failed upload is left on the disk or in the database.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let files = files_under(&media_dir);
    assert!(files.iter().all(|f| !f.ends_with(".part")), "no temporary file is left: {files:?}");
    assert_eq!(files.len(), 1, "only the stored media: {files:?}");
    let rows = server
        .state
        .db
        .read(|conn| Ok::<i64, StoreError>(media::table.count().get_result(conn)?))
        .await
        .unwrap();
    assert_eq!(rows, 1, "the failed upload's row is gone");
    // And the server goes on: space freed by nothing, a small upload still fits.
    let (status, body) = upload(random_bytes(100_000, 3)).await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}
