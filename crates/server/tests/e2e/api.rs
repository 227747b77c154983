//! The channel API and CLI, IVS-style.

use crate::harness::{bin, Server};
use serde_json::json;
use std::process::Command;

#[test]
fn channels_crud_with_admin_token() {
    let s = Server::start("api", &[]);
    let (status, body) = s.api_with_token(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "alpha"})),
        None,
    );
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    let (status, _) = s.api_with_token(
        "GET",
        "/api/v1/channels",
        None,
        Some("wrong-token-wrong-token"),
    );
    assert_eq!(status, 401);

    let c = s.create_channel("alpha");
    let key = c["stream_key"].as_str().unwrap();
    assert!(key.len() >= 22, "key too short for 128 bits: {key}");
    assert_eq!(c["name"], "alpha");
    assert!(
        c["ingest_url"]
            .as_str()
            .unwrap()
            .starts_with("rtmp://127.0.0.1:"),
        "{c}"
    );
    assert!(c["ingest_url"].as_str().unwrap().ends_with("/live"), "{c}");
    assert_eq!(
        c["publish_url"].as_str().unwrap(),
        format!("{}/{key}", c["ingest_url"].as_str().unwrap())
    );
    assert_eq!(
        c["playback_url"].as_str().unwrap(),
        format!(
            "http://127.0.0.1:{}/live/alpha/master.m3u8",
            s.http.rsplit(':').next().unwrap()
        )
    );

    let (status, body) = s.api("POST", "/api/v1/channels", Some(json!({"name": "alpha"})));
    assert_eq!((status, body["error"].as_str()), (409, Some("name_taken")));
    for bad in ["", "Alpha", "a b", "../x", "-lead", &"x".repeat(49), "é"] {
        let (status, body) = s.api("POST", "/api/v1/channels", Some(json!({ "name": bad })));
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("invalid_name")),
            "name {bad:?}"
        );
    }
    let (status, body) = s.api("POST", "/api/v1/channels", Some(json!({"nom": "x"})));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_body"))
    );

    // Names in paths are validated like created ones; the token is checked before anything else.
    let (status, body) = s.api("GET", "/api/v1/channels/Not%20Valid", None);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_name"))
    );
    let (status, _) = s.api_with_token("DELETE", "/api/v1/channels/Not%20Valid", None, None);
    assert_eq!(status, 401);
    let (status, _) = s.api_with_token("POST", "/api/v1/channels/alpha/rotate-key", None, None);
    assert_eq!(status, 401);

    let (status, got) = s.api("GET", "/api/v1/channels/alpha", None);
    assert_eq!(status, 200);
    assert!(
        got.get("stream_key").is_none(),
        "keys are never shown again: {got}"
    );
    assert_eq!(got["live"], false);
    s.create_channel("beta");
    let (_, list) = s.api("GET", "/api/v1/channels", None);
    let names: Vec<_> = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let (status, rotated) = s.api("POST", "/api/v1/channels/alpha/rotate-key", None);
    assert_eq!(status, 200);
    assert_ne!(rotated["stream_key"].as_str().unwrap(), key);

    let (status, _) = s.api("DELETE", "/api/v1/channels/alpha", None);
    assert_eq!(status, 204);
    let (status, body) = s.api("GET", "/api/v1/channels/alpha", None);
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = s.api("DELETE", "/api/v1/channels/alpha", None);
    assert_eq!(status, 404);
    let (status, _) = s.api("POST", "/api/v1/channels/nope/rotate-key", None);
    assert_eq!(status, 404);

    // Keys are stored hashed: the database file never contains one in clear.
    let db = std::fs::read(s.data_dir.join("ferrocast.db")).unwrap();
    let rotated_key = rotated["stream_key"].as_str().unwrap();
    assert!(!db
        .windows(rotated_key.len())
        .any(|w| w == rotated_key.as_bytes()));
}

#[test]
fn cli_wraps_the_api_and_help_documents_flags() {
    let s = Server::start("cli", &[]);
    let cli = |args: &[&str]| {
        Command::new(bin())
            .arg("channel")
            .args(["--url", &s.url(""), "--data-dir"])
            .arg(&s.data_dir)
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&["create", "gamma"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["stream_key"].as_str().unwrap().starts_with("sk_"));
    let out = cli(&["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"gamma\""));
    let out = cli(&["rotate-key", "gamma"]);
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(rotated["stream_key"], created["stream_key"]);
    let out = cli(&["create", "Bad Name"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_name"));
    assert!(cli(&["delete", "gamma"]).status.success());
    assert!(!cli(&["get", "gamma"]).status.success());

    let help = Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--http",
        "--rtmp",
        "--data-dir",
        "--segment-duration",
        "--window",
        "--config",
        "FERROCAST_HTTP",
        "FERROCAST_RTMP",
        "FERROCAST_DATA_DIR",
        "--reconnect-grace",
    ] {
        assert!(help.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn admin_token_file_is_private_and_env_overrides_it() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start("token", &[]);
    let mode = std::fs::metadata(s.data_dir.join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(s.token.len() >= 32);
    let (status, _) = s.api("GET", "/api/v1/channels", None);
    assert_eq!(status, 200);
}

#[test]
fn health_readiness_and_unknown_routes() {
    let s = Server::start("ops", &[]);
    let r = s.get("/healthz", &[]);
    assert_eq!(r.status, 200);
    let r = s.get("/readyz", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    // One path segment is a page of the web app (a channel's watch page); API paths are not.
    let r = s.get("/api/v1/nope", &[]);
    assert_eq!(r.status, 404);
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"], "not_found");
    let r = s.get("/no/such/page", &[]);
    assert_eq!(r.status, 404);
    let r = s.get("/live/nobody/master.m3u8", &[]);
    assert_eq!(r.status, 404);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let m = s.metrics();
    assert!(m.contains("ferrocast_http_requests_total{"), "{m}");
    assert!(
        m.contains("ferrocast_http_request_duration_seconds_bucket{"),
        "{m}"
    );
}
