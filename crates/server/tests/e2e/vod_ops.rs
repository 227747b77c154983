//! Operating the job queue from the CLI (`ferrocast jobs ...` against the running server): a
//! running transcode is found, cancelled (its ffmpeg dies at once, the video fails with the
//! reason), retried (the video's whole graph runs again to `ready`), and the finished jobs are
//! purged.

use crate::harness::{bin, run_ok, wait_for, Server};
use crate::vod::{ready, sample, uploaded, video};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// `ferrocast jobs ARGS` against `server`; its JSON answer.
fn jobs(server: &Server, args: &[&str]) -> Value {
    let out = run_ok(
        Command::new(bin())
            .arg("jobs")
            .args(["--url", &server.url(""), "--data-dir"])
            .arg(&server.data_dir)
            .args(args),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ffmpeg_running(server: &Server) -> bool {
    let pattern = format!("{}/work/jobs", server.data_dir.display());
    !Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap()
        .stdout
        .is_empty()
}

#[test]
fn the_cli_cancels_a_running_transcode_at_once_and_a_retry_finishes_the_video() {
    let file = sample("sample-1080p-20s", 20, "1920x1080");
    let server = Server::start("vod-ops", &["--workers", "1"]);
    let id = uploaded(&server, "Cancel me", &file);
    let job = wait_for("a running transcode", Duration::from_secs(120), || {
        let list = jobs(&server, &["list", "--state", "running"]);
        list["jobs"]
            .as_array()?
            .iter()
            .find(|j| j["kind"] == "vod.transcode")
            .map(|j| j["id"].as_i64().unwrap())
    });
    wait_for("its ffmpeg", Duration::from_secs(30), || {
        ffmpeg_running(&server).then_some(())
    });
    let asked = Instant::now();
    let answer = jobs(
        &server,
        &["cancel", &job.to_string(), "--reason", "wrong file"],
    );
    assert_eq!(answer["cancelled"], true, "{answer}");
    wait_for("ffmpeg to be killed", Duration::from_secs(2), || {
        (!ffmpeg_running(&server)).then_some(())
    });
    println!("ffmpeg gone {:?} after the cancel", asked.elapsed());
    let v = video(&server, &id);
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["error_code"], "cancelled");
    assert!(v["error"].as_str().unwrap().contains("wrong file"), "{v}");
    let shown = jobs(&server, &["show", &job.to_string()]);
    assert_eq!(shown["state"], "cancelled", "{shown}");
    assert_eq!(shown["cancel_reason"], "wrong file");
    let waiting = jobs(&server, &["list", "--state", "cancelled"]);
    assert!(waiting["jobs"].as_array().unwrap().len() >= 5, "{waiting}");

    let retried = jobs(&server, &["retry", &job.to_string()]);
    assert_eq!(retried["state"], "ready", "{retried}");
    assert_eq!(video(&server, &id)["state"], "queued");
    ready(&server, &id);
    // The video is ready a moment before its publish job is recorded as done.
    wait_for("every job to succeed", Duration::from_secs(10), || {
        let stats = jobs(&server, &["stats"]);
        (stats["by_state"]["succeeded"] == 6).then_some(())
    });
    let purged = jobs(&server, &["purge"]);
    assert_eq!(purged["purged"], 6, "{purged}");
}

#[test]
fn a_separate_worker_process_transcodes_for_a_server_without_workers() {
    let file = sample("sample-360p-6s", 6, "640x360");
    let server = Server::start("vod-worker", &["--workers", "0"]);
    let id = uploaded(&server, "Elsewhere", &file);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        video(&server, &id)["state"],
        "queued",
        "no worker in the server"
    );
    // The server's event stream, open before the worker starts, sees the other process's work
    // through to `ready`.
    let events = Command::new("curl")
        .args(["-sN", "--max-time", "120"])
        .arg(server.url(&format!("/api/v1/videos/{id}/events")))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let log = std::fs::File::create(server.data_dir.join("worker.log")).unwrap();
    let mut worker = Command::new(bin())
        .args([
            "worker",
            "--workers",
            "1",
            "--vod-preset",
            "ultrafast",
            "--data-dir",
        ])
        .arg(&server.data_dir)
        .stderr(log)
        .spawn()
        .unwrap();
    let events = events.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&events.stdout);
    let queued = text.find("\"state\":\"queued\"");
    let done = text.find("\"state\":\"ready\"");
    assert!(queued.is_some() && done > queued, "{text}");
    ready(&server, &id);
    // The worker is idle now and polls nothing: a video uploaded to the server is announced to it
    // by its queue upkeep (every 2 s), long before its 60 s backstop.
    let asked = Instant::now();
    let second = uploaded(&server, "Elsewhere again", &file);
    wait_for(
        "the idle worker to take the new video",
        Duration::from_secs(8),
        || (video(&server, &second)["state"] != "queued").then_some(()),
    );
    println!("taken {:?} after the upload", asked.elapsed());
    ready(&server, &second);
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let status = worker.wait().unwrap();
    assert!(
        status.success(),
        "the worker stops cleanly on SIGTERM: {status}"
    );
}
