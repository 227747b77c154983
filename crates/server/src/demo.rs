//! `ferrocast demo`: the server plus a synthetic live channel published by ffmpeg.

use crate::app;
use crate::auth;
use crate::config::Config;
use anyhow::Context;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::process::Command;
use tracing::warn;

const DEMO_CHANNEL: &str = "demo";

/// Runs the server and keeps an ffmpeg test pattern with a tone publishing into `demo`.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let running = app::start(config).await?;
    let db = &running.state.db;
    let key = auth::new_stream_key();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    // Keys exist only hashed, so an existing demo channel gets a fresh one.
    if db.get_channel(DEMO_CHANNEL).await?.is_some() {
        db.rotate_key(DEMO_CHANNEL, &auth::hash_key(&key), now)
            .await?;
    } else {
        db.create_channel(DEMO_CHANNEL, &auth::hash_key(&key), now)
            .await?;
    }
    let publish_url = format!("rtmp://127.0.0.1:{}/live/{key}", running.rtmp_addr.port());
    let host = running
        .state
        .config
        .public_host
        .clone()
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = running.http_addr.port();
    let watch_url = format!("http://{host}:{port}/{DEMO_CHANNEL}");
    let hls_url = format!("http://{host}:{port}/live/{DEMO_CHANNEL}/master.m3u8");

    let publisher = tokio::spawn(publish_forever(publish_url));
    #[allow(clippy::print_stdout)]
    {
        println!();
        println!("  Ferrocast demo is live.");
        println!("  Watch:   {watch_url}   (player and chat in the browser)");
        println!("  HLS:     {hls_url}   (ffplay, VLC, Safari)");
        println!(
            "  Studio:  http://{host}:{port}/studio   (sign up: the first account is the admin)"
        );
        println!("  API:     http://{host}:{port}/api/docs");
        println!("  Metrics: http://{host}:{port}/metrics");
        println!("  Ctrl-C stops the demo.");
        println!();
    }
    app::wait_for_signal().await;
    publisher.abort();
    running.shutdown().await
}

async fn publish_forever(url: String) {
    loop {
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
            .args(["-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k"])
            .args(["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"])
            .args(["-f", "flv", &url])
            .kill_on_drop(true)
            .status()
            .await
            .context("starting ffmpeg (is it installed?)");
        match status {
            Ok(s) => warn!(status = %s, "demo publisher exited; restarting"),
            Err(e) => warn!(error = %e, "demo publisher failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
