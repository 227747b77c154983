//! Video on demand on S3: a real S3-compatible server (moto, from PyPI) as the object store, the
//! upload going straight to it by a presigned URL.

use crate::harness::{wait_for, Server};
use crate::vod::{create, decode, put_file, ready, sample, source_duration};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A real S3-compatible server (moto) for the tests, installed by scripts/deps.sh.
fn moto() -> &'static (String, Mutex<std::process::Child>) {
    static MOTO: OnceLock<(String, Mutex<std::process::Child>)> = OnceLock::new();
    MOTO.get_or_init(|| {
        let exe = std::env::var("FERROCAST_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap())
                    .join(".cache/ferrocast/moto/bin/moto_server")
            });
        assert!(
            exe.exists(),
            "moto_server not found at {}: run scripts/deps.sh",
            exe.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for("moto to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        (endpoint, Mutex::new(child))
    })
}

#[test]
fn on_s3_the_upload_url_is_a_real_presigned_url() {
    let (endpoint, _) = moto();
    let bucket = format!("ferrocast-{}", crate::harness::rand_u64() % 1_000_000);
    let status = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-f", "-X", "PUT"])
        .arg(format!("{endpoint}/{bucket}"))
        .status()
        .unwrap();
    assert!(status.success(), "creating the bucket");
    let file = sample("sample-360p-6s", 6, "640x360");
    let server = Server::start(
        "vod-s3",
        &[
            "--vod-preset",
            "ultrafast",
            "--storage",
            "s3",
            "--s3-bucket",
            &bucket,
            "--s3-endpoint",
            endpoint,
            "--s3-access-key-id",
            "test",
            "--s3-secret-access-key",
            "test",
        ],
    );
    let created = create(&server, "On S3", "public");
    let id = created["id"].as_str().unwrap().to_owned();
    let url = created["upload"]["url"].as_str().unwrap();
    assert!(url.starts_with(endpoint.as_str()), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert_eq!(created["upload"]["complete_required"], true);
    let (status, body) = put_file(url, &file);
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.api("POST", &format!("/api/v1/videos/{id}/complete"), None);
    assert_eq!(status, 202, "{body}");
    let v = ready(&server, &id);
    let got = decode(v["playback_url"].as_str().unwrap());
    assert!((got - source_duration(&file)).abs() <= 0.15);
    // The outputs are in the bucket, not on local disk.
    assert!(!server.data_dir.join("media/vod").join(&id).exists());
    let listing = crate::harness::fetch(
        "GET",
        &format!("{endpoint}/{bucket}?list-type=2&prefix=vod/{id}/"),
        &[],
    )
    .text();
    assert!(listing.contains("master.m3u8"), "{listing}");
}
