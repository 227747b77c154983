//! Why: the storage API must behave the same on both backends, and the S3 one must work against
//! a real S3 server, presigned uploads included. This runs every operation on the local backend
//! and on moto's S3 server (PyPI `moto[server]`, installed by `scripts/deps.sh`), started on a
//! free loopback port. A missing moto fails the test: it never skips silently.

use bytes::Bytes;
use ferrocast_storage::{Storage, StorageConfig, StorageError};
use futures_util::TryStreamExt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bigger than one multipart part, so S3 uploads it in parts.
const BIG: usize = 12 << 20;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn collect(storage: &Storage, key: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let body = storage.get_range(key, range).await.unwrap().unwrap();
    let chunks: Vec<Bytes> = body.stream.try_collect().await.unwrap();
    chunks.concat()
}

/// Every operation but presigning, on whichever backend.
async fn exercise(storage: &Storage, scratch: &Path) {
    let data = pattern(BIG);
    let src = scratch.join("src.bin");
    std::fs::write(&src, &data).unwrap();

    // put_file streams (multipart on S3) and leaves the source in place.
    let key = "sources/v0123456789abcdef";
    assert_eq!(storage.put_file(key, &src).await.unwrap(), BIG as u64);
    assert!(src.exists());
    let info = storage.head(key).await.unwrap().unwrap();
    assert_eq!(info.size, BIG as u64);
    assert!(info.last_modified_ms > 1_600_000_000_000, "{info:?}");
    assert!(info.e_tag.is_some());
    assert!(storage.head("sources/vmissing").await.unwrap().is_none());

    // fetch_to_file creates parent directories.
    let out = scratch.join("work/job-1/source");
    assert_eq!(storage.fetch_to_file(key, &out).await.unwrap(), BIG as u64);
    assert!(std::fs::read(&out).unwrap() == data);
    let e = storage
        .fetch_to_file("sources/vmissing", &scratch.join("x"))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // Ranges, as an HTTP origin asks for them.
    let body = storage
        .get_range(key, Some(100..200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((body.size, body.range.clone()), (BIG as u64, 100..200));
    assert_eq!(body.e_tag, info.e_tag);
    drop(body);
    assert!(collect(storage, key, Some(100..200)).await == data[100..200]);
    let tail = (BIG - 10) as u64..BIG as u64 + 1000;
    assert!(collect(storage, key, Some(tail)).await == data[BIG - 10..]);
    assert!(collect(storage, key, None).await == data);
    let e = storage
        .get_range(key, Some(BIG as u64..BIG as u64 + 5))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StorageError::RangeNotSatisfiable { size, .. } if size == BIG as u64),
        "{e}"
    );
    assert!(storage
        .get_range("sources/vmissing", None)
        .await
        .unwrap()
        .is_none());

    // Small objects, listing by whole path segments, copy, rename.
    storage
        .put_bytes("vod/v1/master.m3u8", Bytes::from_static(b"#EXTM3U\n"))
        .await
        .unwrap();
    storage
        .put_bytes("vod/v1/v/720p/0.m4s", Bytes::from(vec![1u8; 1000]))
        .await
        .unwrap();
    storage
        .put_bytes("vod/v10/master.m3u8", Bytes::from_static(b"other"))
        .await
        .unwrap();
    assert_eq!(
        storage.get_bytes("vod/v1/master.m3u8").await.unwrap(),
        Some(Bytes::from_static(b"#EXTM3U\n"))
    );
    assert_eq!(storage.get_bytes("vod/v1/nope").await.unwrap(), None);
    assert_eq!(
        storage.list("vod/v1/").await.unwrap(),
        vec![
            ("vod/v1/master.m3u8".to_owned(), 8),
            ("vod/v1/v/720p/0.m4s".to_owned(), 1000)
        ]
    );
    storage
        .copy("vod/v1/master.m3u8", "tmp/v1/copy.m3u8")
        .await
        .unwrap();
    storage
        .rename("tmp/v1/copy.m3u8", "tmp/v1/renamed.m3u8")
        .await
        .unwrap();
    assert_eq!(storage.get_bytes("tmp/v1/copy.m3u8").await.unwrap(), None);
    assert_eq!(
        storage.get_bytes("tmp/v1/renamed.m3u8").await.unwrap(),
        Some(Bytes::from_static(b"#EXTM3U\n"))
    );
    assert_eq!(
        storage.get_bytes("vod/v1/master.m3u8").await.unwrap(),
        Some(Bytes::from_static(b"#EXTM3U\n")),
        "a copy leaves its source"
    );

    // delete_prefix takes exactly the prefix's objects.
    assert_eq!(storage.delete_prefix("vod/v1").await.unwrap(), 2);
    assert!(storage.list("vod/v1").await.unwrap().is_empty());
    assert_eq!(storage.list("vod/v10").await.unwrap().len(), 1);
    assert_eq!(storage.delete_prefix("vod/v1").await.unwrap(), 0);
    assert!(storage.delete_prefix("").await.is_err());
    storage.delete("vod/v10/master.m3u8").await.unwrap();
    storage.delete("vod/v10/master.m3u8").await.unwrap();

    // put_file_move takes the file away.
    let moved = scratch.join("moved.bin");
    std::fs::write(&moved, b"moved bytes").unwrap();
    assert_eq!(
        storage
            .put_file_move("sources/vmoved", &moved)
            .await
            .unwrap(),
        11
    );
    assert!(!moved.exists());
    assert_eq!(
        storage.get_bytes("sources/vmoved").await.unwrap(),
        Some(Bytes::from_static(b"moved bytes"))
    );

    let keys: Vec<String> = storage
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        [
            "sources/v0123456789abcdef",
            "sources/vmoved",
            "tmp/v1/renamed.m3u8"
        ]
    );

    // Keys that could escape are refused before any I/O.
    for bad in ["../etc/passwd", "/abs", "a/../../b"] {
        let e = storage.put_bytes(bad, Bytes::new()).await.unwrap_err();
        assert!(matches!(e, StorageError::InvalidKey { .. }), "{e}");
    }
}

#[tokio::test]
async fn local_backend() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data/media");
    let storage = Storage::open(&StorageConfig::Local { root: root.clone() }).unwrap();
    assert_eq!(storage.kind(), "local");
    assert!(root.is_dir());
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    exercise(&storage, &scratch).await;
    let p = storage.local_path("tmp/v1/renamed.m3u8").unwrap();
    assert_eq!(p, root.canonicalize().unwrap().join("tmp/v1/renamed.m3u8"));
    assert!(p.is_file());
    assert!(storage.local_path("../x").is_none());
    assert!(storage
        .presign_put("sources/v1", Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
    // Deleting a prefix leaves no empty directories behind.
    assert!(!root.join("vod/v1").exists());
}

/// moto's server, killed when dropped.
struct Moto {
    child: Child,
    base: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROCAST_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/ferrocast/moto/bin/moto_server")
}

fn start_moto() -> Moto {
    let exe = moto_path();
    assert!(
        exe.is_file(),
        "moto's S3 server is not installed at {}: run `scripts/deps.sh moto` (or `scripts/deps.sh test`), \
         or point FERROCAST_MOTO_SERVER at a moto_server executable",
        exe.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&exe)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let moto = Moto {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&moto.base).call().is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on {} within 60 s",
            moto.base
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_backend_on_moto() {
    let moto = tokio::task::spawn_blocking(start_moto).await.unwrap();
    let bucket_url = format!("{}/ferrocast-test", moto.base);
    tokio::task::spawn_blocking(move || ureq::put(&bucket_url).send_empty().unwrap())
        .await
        .unwrap();
    let storage = Storage::open(&StorageConfig::S3 {
        bucket: "ferrocast-test".into(),
        region: "us-east-1".into(),
        endpoint: Some(moto.base.clone()),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        allow_http: true,
    })
    .unwrap();
    assert_eq!(storage.kind(), "s3");
    assert!(storage.local_path("sources/v1").is_none());
    let dir = tempfile::tempdir().unwrap();
    exercise(&storage, dir.path()).await;

    // The 12 MiB source went up in parts: S3's ETag of a multipart object ends in "-PARTS".
    let info = storage
        .head("sources/v0123456789abcdef")
        .await
        .unwrap()
        .unwrap();
    assert!(
        info.e_tag.as_deref().unwrap_or("").ends_with("-2\""),
        "{info:?}"
    );

    // A presigned PUT done by a plain HTTP client, bytes read back through the store.
    let url = storage
        .presign_put("sources/vpresigned", Duration::from_secs(300))
        .await
        .unwrap()
        .unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let payload = pattern(300_000);
    let sent = payload.clone();
    let status = tokio::task::spawn_blocking(move || {
        ureq::put(&url).send(&sent[..]).unwrap().status().as_u16()
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let back = storage
        .get_bytes("sources/vpresigned")
        .await
        .unwrap()
        .unwrap();
    assert!(back == payload);
}
