//! What the web app's pages read besides the channel API: the directory of live channels, their
//! thumbnails, viewer telemetry (`POST /api/v1/qoe`), and the studio's health and QoE views.

use super::api::ChannelName;
use super::error::AppError;
use crate::accounts::Principal;
use crate::live::{IngestSnapshot, LiveChannel, RenditionState, TranscoderSnapshot};
use crate::qoe::{Refused, Report};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Instant;

/// Largest QoE report accepted.
const MAX_QOE_BODY: usize = 4096;
/// Ended broadcasts the directory lists.
const ENDED_LISTED: usize = 12;

/// The public directory, thumbnails and telemetry intake.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/directory", get(directory))
        .route("/live/{name}/thumbnail.jpg", get(thumbnail))
        .route(
            "/api/v1/qoe",
            post(qoe_report).layer(DefaultBodyLimit::max(MAX_QOE_BODY)),
        )
        .route("/api/v1/channels/{name}/health", get(channel_health))
        .route("/api/v1/channels/{name}/qoe", get(channel_qoe))
}

async fn channel_health(
    State(state): State<AppState>,
    principal: Principal,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    super::api::authorize(&state, &principal, &name).await?;
    let channel = state.live.get(&name);
    Ok(no_store(Json(health(&state, channel.as_deref()))))
}

async fn channel_qoe(
    State(state): State<AppState>,
    principal: Principal,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    super::api::authorize(&state, &principal, &name).await?;
    Ok(no_store(Json(state.qoe.summary(&name, Instant::now()))))
}

/// Figures for one signed-in streamer: never stored by a shared cache.
fn no_store(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res
}

#[derive(Debug, Serialize)]
struct LiveEntry {
    name: String,
    title: String,
    owner: Option<String>,
    viewers: usize,
    started_at: Option<String>,
    thumbnail_url: String,
}

#[derive(Debug, Serialize)]
struct EndedEntry {
    name: String,
    title: String,
    owner: Option<String>,
    ended_at: String,
}

/// Viewers of a channel now: players reporting telemetry, or people in its chat when more are
/// there (a player without the web page, ffplay say, only shows in the chat count if at all).
pub fn viewers(state: &AppState, name: &str) -> usize {
    let players = state.qoe.viewers(name, Instant::now());
    players.max(state.chat.viewers(name))
}

async fn directory(State(state): State<AppState>) -> Result<Response, AppError> {
    let records = state.db.list_channel_details(None).await?;
    let by_name: std::collections::HashMap<&str, _> = records
        .iter()
        .map(|c| (c.channel.name.as_str(), c))
        .collect();
    let mut live: Vec<LiveEntry> = state
        .live
        .all()
        .into_iter()
        .filter(|c| c.is_live())
        .filter_map(|c| {
            let record = by_name.get(c.name.as_str())?;
            Some(LiveEntry {
                name: c.name.clone(),
                title: record.title.clone(),
                owner: record.owner.clone(),
                viewers: viewers(&state, &c.name),
                started_at: c.ingest.snapshot().started_at_ms.map(crate::clock::rfc3339),
                thumbnail_url: format!("/live/{}/thumbnail.jpg", c.name),
            })
        })
        .collect();
    // Most watched first, as a viewer browsing expects.
    live.sort_by(|a, b| b.viewers.cmp(&a.viewers).then(a.name.cmp(&b.name)));
    let ended: Vec<EndedEntry> = state
        .live
        .recently_ended()
        .into_iter()
        .filter_map(|(name, at)| {
            let record = by_name.get(name.as_str())?;
            Some(EndedEntry {
                title: record.title.clone(),
                owner: record.owner.clone(),
                name,
                ended_at: crate::clock::rfc3339(at),
            })
        })
        .take(ENDED_LISTED)
        .collect();
    let mut res = Json(serde_json::json!({ "live": live, "ended": ended })).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=2"),
    );
    Ok(res)
}

async fn thumbnail(
    State(state): State<AppState>,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    let channel = state
        .live
        .get(&name)
        .ok_or_else(|| AppError::not_found("thumbnail"))?;
    let jpeg = state
        .thumbnails
        .get(&channel)
        .await
        .ok_or_else(|| AppError::not_found("thumbnail"))?;
    let mut res = jpeg.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=5"),
    );
    Ok(res)
}

async fn qoe_report(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<Report>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(report) = body.map_err(|e| {
        metrics::counter!(crate::metrics::QOE_REFUSED, "reason" => "invalid").increment(1);
        AppError::bad_request(e.status(), "invalid_body", e.body_text())
    })?;
    // Only channels that have been live since start: the maps stay as small as the server.
    if super::api::validate_name(&report.channel).is_err()
        || state.live.get(&report.channel).is_none()
    {
        metrics::counter!(crate::metrics::QOE_REFUSED, "reason" => "unknown_channel").increment(1);
        return Err(AppError::not_found("channel"));
    }
    match state.qoe.record(peer.ip(), &report, Instant::now()) {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(Refused::RateLimited) => Err(AppError::bad_request(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many reports from this address; one a second is enough",
        )),
        Err(Refused::Invalid(field)) => Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("`{field}` is out of range"),
        )),
    }
}

/// A problem with the publisher's settings the streamer can fix.
#[derive(Debug, Serialize, PartialEq)]
pub struct Warning {
    /// Stable code.
    pub code: &'static str,
    /// What to change, for a person.
    pub message: String,
}

/// The studio's health view of a channel.
#[derive(Debug, Serialize)]
pub struct Health {
    live: bool,
    uptime_s: Option<f64>,
    ingest: IngestView,
    transcoder: Option<TranscoderSnapshot>,
    renditions: Vec<RenditionState>,
    warnings: Vec<Warning>,
}

#[derive(Debug, Serialize)]
struct IngestView {
    bitrate_kbps: f64,
    fps: f64,
    keyframe_interval_s: Option<f64>,
    width: Option<u32>,
    height: Option<u32>,
    video_codec: Option<String>,
    audio_codec: Option<String>,
    dropped_frames: u64,
    demux_errors: u64,
}

/// The health view of `channel` (`None`: it has not been live since the server started).
pub fn health(state: &AppState, channel: Option<&LiveChannel>) -> Health {
    let Some(channel) = channel else {
        return Health {
            live: false,
            uptime_s: None,
            ingest: IngestView::from_snapshot(&IngestSnapshot::default(), None),
            transcoder: None,
            renditions: Vec::new(),
            warnings: Vec::new(),
        };
    };
    let live = channel.is_live();
    let snap = channel.ingest.snapshot();
    let stream = channel.hub.state();
    let ingest = IngestView::from_snapshot(&snap, Some(&stream));
    let output = channel.output();
    let transcoder = output
        .as_ref()
        .map(|o| o.transcoder.snapshot())
        .filter(|t| t.encoder.is_some());
    let renditions = output.map(|o| o.rendition_states()).unwrap_or_default();
    let top_rung_kbps = renditions
        .iter()
        .skip(1)
        .filter_map(|r| r.bandwidth)
        .max()
        .map(|b| b as f64 / 1000.0);
    let warnings = if live {
        warnings(
            &ingest,
            transcoder.as_ref(),
            top_rung_kbps,
            state.config.segment_duration.as_secs_f64(),
        )
    } else {
        Vec::new()
    };
    let uptime_s = snap
        .started_at_ms
        .filter(|_| live)
        .map(|t| (crate::clock::unix_ms() - t).max(0) as f64 / 1000.0);
    Health {
        live,
        uptime_s,
        ingest,
        transcoder,
        renditions,
        warnings,
    }
}

impl IngestView {
    fn from_snapshot(s: &IngestSnapshot, stream: Option<&ferrocast_hub::StreamState>) -> Self {
        let video = stream.and_then(|s| s.video.as_ref());
        let audio = stream.and_then(|s| s.audio.as_ref());
        Self {
            bitrate_kbps: (s.bitrate_bps / 100.0).round() / 10.0,
            fps: (s.fps * 10.0).round() / 10.0,
            keyframe_interval_s: s.keyframe_interval_s,
            width: video.map(|v| v.width),
            height: video.map(|v| v.height),
            video_codec: video.map(|v| v.codec_string.clone()),
            audio_codec: audio.map(|a| format!("mp4a.40.{}", a.object_type)),
            dropped_frames: s.dropped_frames,
            demux_errors: s.demux_errors,
        }
    }
}

/// Encoder settings that will hurt viewers, as Twitch's and IVS's guidance puts them.
fn warnings(
    ingest: &IngestView,
    transcoder: Option<&TranscoderSnapshot>,
    top_rung_kbps: Option<f64>,
    segment_s: f64,
) -> Vec<Warning> {
    let mut out = Vec::new();
    if let Some(k) = ingest.keyframe_interval_s {
        // Segments can only start at keyframes: any other interval makes them uneven and
        // players' latency and switching worse.
        if (k - segment_s).abs() > 0.1 * segment_s {
            out.push(Warning {
                code: "keyframe_interval",
                message: format!(
                    "Keyframes arrive every {k:.1} s; set the encoder's keyframe interval to {segment_s:.0} s"
                ),
            });
        }
    }
    // The source rendition is offered as is: a viewer picking it needs this much bandwidth.
    let ceiling = top_rung_kbps.map_or(8_000.0, |top| (top * 2.5).max(6_000.0));
    if ingest.bitrate_kbps > ceiling {
        out.push(Warning {
            code: "bitrate_high",
            message: format!(
                "Ingest bitrate {:.0} kbps is above {ceiling:.0} kbps; viewers choosing the source will buffer. Lower the encoder's bitrate",
                ingest.bitrate_kbps
            ),
        });
    }
    if ingest.fps > 0.0 && ingest.fps < 24.0 {
        out.push(Warning {
            code: "low_frame_rate",
            message: format!(
                "Receiving {:.0} frames per second; the encoder or the network cannot keep up",
                ingest.fps
            ),
        });
    }
    if let Some(t) = transcoder {
        if t.speed.is_some_and(|s| s < 0.95) {
            out.push(Warning {
                code: "transcoder_slow",
                message: "The server encodes the ladder slower than real time; rungs may be shed"
                    .into(),
            });
        }
        if !t.shed.is_empty() {
            out.push(Warning {
                code: "rungs_shed",
                message: format!(
                    "Renditions dropped because the server could not keep up: {}",
                    t.shed.join(", ")
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest(bitrate_kbps: f64, fps: f64, keyframe: Option<f64>) -> IngestView {
        IngestView {
            bitrate_kbps,
            fps,
            keyframe_interval_s: keyframe,
            width: Some(1920),
            height: Some(1080),
            video_codec: None,
            audio_codec: None,
            dropped_frames: 0,
            demux_errors: 0,
        }
    }

    fn codes(w: &[Warning]) -> Vec<&'static str> {
        w.iter().map(|w| w.code).collect()
    }

    #[test]
    fn good_settings_warn_of_nothing() {
        let w = warnings(&ingest(4500.0, 30.0, Some(2.0)), None, Some(3200.0), 2.0);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn a_wrong_keyframe_interval_and_too_high_a_bitrate_are_named() {
        let w = warnings(&ingest(12_000.0, 30.0, Some(5.0)), None, Some(3200.0), 2.0);
        assert_eq!(codes(&w), ["keyframe_interval", "bitrate_high"]);
        assert!(w[0].message.contains("5.0 s"), "{}", w[0].message);
    }

    #[test]
    fn a_slow_transcoder_and_shed_rungs_are_named() {
        let t = TranscoderSnapshot {
            speed: Some(0.8),
            shed: vec!["720p".into()],
            ..TranscoderSnapshot::default()
        };
        let w = warnings(&ingest(3000.0, 12.0, Some(2.0)), Some(&t), None, 2.0);
        assert_eq!(
            codes(&w),
            ["low_frame_rate", "transcoder_slow", "rungs_shed"]
        );
    }
}
