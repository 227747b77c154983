//! The videos and jobs API refuse bad requests with a status and a JSON error, before any work.

use crate::harness::Server;
use crate::vod::{create, put_file};
use serde_json::{json, Value};
use std::process::Command;

/// `curl` with the admin token and a raw body; status and JSON answer.
fn raw(server: &Server, method: &str, path: &str, body: &str) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", method])
        .args(["-H", &format!("Authorization: Bearer {}", server.token)])
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ])
        .arg(server.url(path))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn assert_error(answer: (u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], code, "{}", answer.1);
}

#[test]
fn bad_video_and_job_requests_get_a_status_and_a_reason() {
    let server = Server::start("vod-api", &["--workers", "0"]);
    let post = |body: Value| server.api("POST", "/api/v1/videos", Some(body));
    let (status, _) = server.api_with_token(
        "POST",
        "/api/v1/videos",
        Some(json!({ "title": "x" })),
        None,
    );
    assert_eq!(status, 401);
    assert_error(
        post(json!({ "title": "x", "visibility": "secret" })),
        422,
        "invalid_visibility",
    );
    assert_error(post(json!({ "title": "  " })), 422, "invalid_title");
    assert_error(post(json!({ "title": "a\u{7}b" })), 422, "invalid_title");
    assert_error(
        post(json!({ "title": "x", "owner": 1 })),
        400,
        "invalid_body",
    );
    assert_error(
        raw(&server, "POST", "/api/v1/videos", "{\"title\":"),
        400,
        "invalid_body",
    );
    for path in [
        "/api/v1/videos/nonsense",
        "/api/v1/videos/v0000000000000000",
    ] {
        assert_error(server.api("GET", path, None), 404, "not_found");
    }

    let created = create(&server, "Not uploaded", "public");
    let id = created["id"].as_str().unwrap();
    // Nothing was uploaded to complete; nothing is served before it is ready.
    assert_error(
        server.api("POST", &format!("/api/v1/videos/{id}/complete"), None),
        409,
        "not_uploaded",
    );
    for path in [
        format!("/vod/{id}/master.m3u8"),
        format!("/vod/{id}/..%2Fsources"),
        "/vod/v0000000000000000/master.m3u8".to_owned(),
    ] {
        assert_eq!(server.get(&path, &[]).status, 404, "{path}");
    }
    // An upload URL with a forged or another video's token.
    let url = created["upload"]["url"].as_str().unwrap();
    let forged = url.replace(id, "v0000000000000000");
    let tiny = std::env::temp_dir().join(format!("vod-api-{}", std::process::id()));
    std::fs::write(&tiny, b"bytes").unwrap();
    let (status, body) = put_file(&forged, &tiny);
    assert_eq!(status, 403, "{body}");

    assert_error(
        server.api("GET", "/api/v1/jobs?state=bogus", None),
        400,
        "invalid_state",
    );
    assert_error(
        server.api("GET", "/api/v1/jobs/999999", None),
        404,
        "not_found",
    );
    assert_error(
        server.api("POST", "/api/v1/jobs/999999/retry", None),
        404,
        "not_found",
    );
    assert_error(
        raw(
            &server,
            "POST",
            "/api/v1/jobs/purge",
            "{\"older_than\":\"soon\"}",
        ),
        400,
        "invalid_duration",
    );
    assert_error(
        raw(
            &server,
            "POST",
            "/api/v1/jobs/purge",
            "{\"everything\":true}",
        ),
        400,
        "invalid_body",
    );
    std::fs::remove_file(tiny).ok();
}
