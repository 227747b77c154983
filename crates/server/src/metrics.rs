//! Prometheus metrics: names in one place, the recorder, and the HTTP middleware.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Open RTMP connections.
pub const RTMP_CONNECTIONS: &str = "ferrocast_rtmp_connections";
/// RTMP connections accepted since start.
pub const RTMP_CONNECTIONS_TOTAL: &str = "ferrocast_rtmp_connections_total";
/// RTMP connections refused before the handshake, by reason.
pub const RTMP_CONNECTIONS_REFUSED: &str = "ferrocast_rtmp_connections_refused_total";
/// RTMP connections ended by an error, by kind.
pub const RTMP_ERRORS: &str = "ferrocast_rtmp_errors_total";
/// Publishes accepted, by channel.
pub const PUBLISH_ACCEPTED: &str = "ferrocast_rtmp_publish_accepted_total";
/// Publishes refused, by reason.
pub const PUBLISH_REFUSED: &str = "ferrocast_rtmp_publish_refused_total";
/// 1 while a channel has a publisher.
pub const CHANNEL_LIVE: &str = "ferrocast_channel_live";
/// Media bytes received, by channel.
pub const INGEST_BYTES: &str = "ferrocast_ingest_bytes_total";
/// Ingest bitrate over the last second, bits/s, by channel.
pub const INGEST_BITRATE: &str = "ferrocast_ingest_bitrate_bps";
/// Video frames per second over the last second, by channel.
pub const INGEST_FPS: &str = "ferrocast_ingest_frame_rate";
/// Seconds between the last two video keyframes, by channel.
pub const INGEST_KEYFRAME_INTERVAL: &str = "ferrocast_ingest_keyframe_interval_seconds";
/// Frames received, by channel and track.
pub const INGEST_FRAMES: &str = "ferrocast_ingest_frames_total";
/// Media messages the demuxer refused, by channel.
pub const INGEST_DEMUX_ERRORS: &str = "ferrocast_ingest_demux_errors_total";
/// Segments produced, by channel.
pub const SEGMENTS: &str = "ferrocast_segments_total";
/// Segment bytes produced, by channel.
pub const SEGMENT_BYTES: &str = "ferrocast_segment_bytes_total";
/// Segment durations, by channel.
pub const SEGMENT_DURATION: &str = "ferrocast_segment_duration_seconds";
/// Low-Latency HLS parts produced, by channel.
pub const PARTS: &str = "ferrocast_parts_total";
/// Time from the arrival of a part's last frame at the packager to the part being served, by
/// channel. The last frame is the one received before the frame whose arrival closed the part,
/// so this includes the wait for that closing frame (about one frame interval).
pub const PART_LATENCY: &str = "ferrocast_part_publish_latency_seconds";
/// Blocking LL-HLS requests (`_HLS_msn` playlist reloads, preload-hinted parts) waiting now, by
/// kind (`playlist`, `part`).
pub const HLS_BLOCKED: &str = "ferrocast_hls_blocked_requests";
/// Time from the position a blocking LL-HLS request waited for being reached (the part listed,
/// or the hinted part complete) to the request being released with its answer, by kind: how far
/// behind a crowd of waiting requests the server runs.
pub const HLS_BLOCKING_RELEASE: &str = "ferrocast_hls_blocking_release_seconds";
/// Blocking LL-HLS requests refused (400: malformed or too far ahead) or given up on (503: not
/// ready within three target durations), by kind and code.
pub const HLS_BLOCKING_ERRORS: &str = "ferrocast_hls_blocking_errors_total";
/// Inputs the packager refused, by channel.
pub const PACKAGER_ERRORS: &str = "ferrocast_packager_errors_total";
/// Hub events the packager missed by falling behind, by channel.
pub const PACKAGER_LAGGED: &str = "ferrocast_packager_lagged_events_total";
/// Bytes held in all segment rings.
pub const LIVE_HELD_BYTES: &str = "ferrocast_live_held_bytes";
/// HTTP requests, by route, method and status.
pub const HTTP_REQUESTS: &str = "ferrocast_http_requests_total";
/// HTTP request latency, by route.
pub const HTTP_DURATION: &str = "ferrocast_http_request_duration_seconds";

/// Tasks alive in the runtime (a leak shows here first).
pub const TASKS_ALIVE: &str = "ferrocast_tasks_alive";
/// Open chat WebSocket connections.
pub const CHAT_CONNECTIONS: &str = "ferrocast_chat_connections";
/// Open chat rooms.
pub const CHAT_ROOMS: &str = "ferrocast_chat_rooms";
/// Chat messages accepted, by channel.
pub const CHAT_MESSAGES_IN: &str = "ferrocast_chat_messages_in_total";
/// Chat events written to connections (one per event per connection).
pub const CHAT_DELIVERIES: &str = "ferrocast_chat_deliveries_total";
/// Time from a chat event's acceptance to its write to a connection.
pub const CHAT_DELIVERY_SECONDS: &str = "ferrocast_chat_delivery_seconds";
/// Chat commands refused, by reason.
pub const CHAT_REFUSALS: &str = "ferrocast_chat_refusals_total";
/// Chat connections closed for falling behind.
pub const CHAT_SLOW_CONSUMERS: &str = "ferrocast_chat_slow_consumer_disconnects_total";
/// Chat connections the server closed, by reason.
pub const CHAT_DISCONNECTS: &str = "ferrocast_chat_disconnects_total";
/// Chat messages per second over the last ten seconds, by channel.
pub const CHAT_MESSAGE_RATE: &str = "ferrocast_chat_message_rate";
/// Chat events that could not be stored, by kind.
pub const CHAT_PERSIST_ERRORS: &str = "ferrocast_chat_persist_errors_total";
/// Gauge, 1 for the H.264 encoder the transcoding ladder uses (label `encoder`).
pub const TRANSCODER_ENCODER: &str = "ferrocast_transcoder_encoder_info";
/// Gauge: ffmpeg's encode speed (1.0 = real time), per channel and rendition.
pub const TRANSCODER_SPEED: &str = "ferrocast_transcoder_speed";
/// Frames the transcoder dropped, per channel and rendition.
pub const TRANSCODER_DROPPED: &str = "ferrocast_transcoder_dropped_frames_total";
/// Transcoder restarts after ffmpeg exited while the publisher was live.
pub const TRANSCODER_RESTARTS: &str = "ferrocast_transcoder_restarts_total";
/// Rungs dropped because encoding was slower than real time.
pub const TRANSCODER_SHED: &str = "ferrocast_transcoder_shed_rungs_total";
/// Player startup time (page load to first frame) the players report, by channel.
pub const QOE_STARTUP: &str = "ferrocast_qoe_startup_seconds";
/// Live latency the players report every 10 s, by channel.
pub const QOE_LATENCY: &str = "ferrocast_qoe_live_latency_seconds";
/// Rebuffering (stalled) time per report period, by channel.
pub const QOE_REBUFFER: &str = "ferrocast_qoe_rebuffer_seconds";
/// Time played, by channel (rebuffering over played is the rebuffer ratio).
pub const QOE_PLAYED: &str = "ferrocast_qoe_played_seconds_total";
/// Rendition switches the players report, by channel.
pub const QOE_SWITCHES: &str = "ferrocast_qoe_rendition_switches_total";
/// Player errors the players report, by channel.
pub const QOE_ERRORS: &str = "ferrocast_qoe_player_errors_total";
/// QoE reports refused, by reason (`rate_limited`, `invalid`, `unknown_channel`).
pub const QOE_REFUSED: &str = "ferrocast_qoe_reports_refused_total";
/// Players that reported in the last 30 s, by channel.
pub const VIEWERS: &str = "ferrocast_viewers";
/// Thumbnails made from a live keyframe, by outcome (`ok`, `error`).
pub const THUMBNAILS: &str = "ferrocast_thumbnails_total";

/// Videos created.
pub const VOD_VIDEOS_CREATED: &str = "ferrocast_vod_videos_created_total";
/// Videos that became ready.
pub const VOD_VIDEOS_READY: &str = "ferrocast_vod_videos_ready_total";
/// Videos that failed, by code (`not_video`, `too_long`, `processing_failed`, ...).
pub const VOD_VIDEOS_FAILED: &str = "ferrocast_vod_videos_failed_total";
/// Uploads completed.
pub const VOD_UPLOADS: &str = "ferrocast_vod_uploads_total";
/// Bytes of completed uploads.
pub const VOD_UPLOAD_BYTES: &str = "ferrocast_vod_upload_bytes_total";
/// Uploads that broke off or were refused.
pub const VOD_UPLOAD_ERRORS: &str = "ferrocast_vod_upload_errors_total";
/// Jobs in each state (the autoscaling signal is `state="ready"`).
pub const JOBS_DEPTH: &str = "ferrocast_jobs";
/// Jobs claimable now (ready, or failed with their back-off over).
pub const JOBS_DUE: &str = "ferrocast_jobs_due";
/// How long the oldest claimable job has waited, seconds.
pub const JOBS_OLDEST_AGE: &str = "ferrocast_jobs_oldest_due_age_seconds";
/// Job attempts ended, by kind and outcome (`succeeded`, `failed`, `refused`, `cancelled`).
pub const JOBS_FINISHED: &str = "ferrocast_jobs_finished_total";
/// Job attempt durations, by kind.
pub const JOB_SECONDS: &str = "ferrocast_job_seconds";
/// Running jobs whose lease lapsed and that were taken back.
pub const JOBS_REAPED: &str = "ferrocast_jobs_reaped_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HTTP_DURATION.to_owned()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(CHAT_DELIVERY_SECONDS.to_owned()),
            &[0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5],
        )?
        .set_buckets_for_metric(
            Matcher::Full(HLS_BLOCKING_RELEASE.to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(PART_LATENCY.to_owned()),
            &[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(SEGMENT_DURATION.to_owned()),
            &[0.5, 1.0, 1.5, 1.9, 2.0, 2.1, 2.5, 3.0, 4.0, 6.0, 8.0, 10.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(QOE_STARTUP.to_owned()),
            &[0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(QOE_LATENCY.to_owned()),
            &[
                0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0, 30.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(QOE_REBUFFER.to_owned()),
            &[0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(JOB_SECONDS.to_owned()),
            &[
                0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
            ],
        )?
        .install_recorder()?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Records every request's route, status and latency.
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(SharedString::const_str("unmatched"), |p| {
            SharedString::from(p.as_str().to_owned())
        });
    let method = method_label(req.method());
    let response = next.run(req).await;
    record_http(route, method, response.status(), start);
    response
}

/// Counts one answered request and its latency (from `start`) under its route pattern.
///
/// Labels are shared strings, static for the usual methods and statuses: this runs for every
/// request, and most of its cost was allocating them.
pub fn record_http(
    route: SharedString,
    method: SharedString,
    status: axum::http::StatusCode,
    start: Instant,
) {
    metrics::histogram!(HTTP_DURATION, "route" => route.clone())
        .record(start.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status_label(status))
        .increment(1);
}

/// The `method` label: static for the standard methods.
pub fn method_label(method: &Method) -> SharedString {
    static_label(
        method.as_str(),
        &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )
}

/// The `status` label: static for the statuses answered most.
fn status_label(status: axum::http::StatusCode) -> SharedString {
    static_label(
        status.as_str(),
        &["200", "201", "204", "206", "304", "400", "404", "503"],
    )
}

/// `value` as a label: the matching entry of `known` (no allocation), else an owned copy.
fn static_label(value: &str, known: &[&'static str]) -> SharedString {
    match known.iter().find(|k| **k == value) {
        Some(k) => SharedString::const_str(k),
        None => SharedString::from(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn labels_are_the_method_and_the_numeric_status() {
        assert_eq!(method_label(&Method::GET).as_ref(), "GET");
        assert_eq!(method_label(&Method::OPTIONS).as_ref(), "OPTIONS");
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(method_label(&custom).as_ref(), "PROPFIND");
        assert_eq!(status_label(StatusCode::OK).as_ref(), "200");
        assert_eq!(status_label(StatusCode::NOT_MODIFIED).as_ref(), "304");
        assert_eq!(status_label(StatusCode::IM_A_TEAPOT).as_ref(), "418");
        assert_eq!(
            status_label(StatusCode::INTERNAL_SERVER_ERROR).as_ref(),
            "500"
        );
    }
}
