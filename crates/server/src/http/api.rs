//! The channel API (`/api/v1/channels`), IVS-style: create returns the key and the URLs.

mod ladder;

use super::error::AppError;
use crate::auth;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrocast_db::ChannelRecord;
use serde::{Deserialize, Serialize};
use std::time::UNIX_EPOCH;

/// Longest channel name.
pub const MAX_NAME_LEN: usize = 48;

/// The API routes (all behind the admin token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels", post(create).get(list))
        .route(
            "/api/v1/channels/{name}",
            get(show).delete(delete).patch(ladder::patch),
        )
        .route("/api/v1/channels/{name}/rotate-key", post(rotate))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    name: String,
}

/// A channel as the API shows it.
#[derive(Debug, Serialize)]
struct ChannelView {
    name: String,
    /// Only present when just created or rotated: it is never stored in clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_key: Option<String>,
    /// OBS "Server" field.
    ingest_url: String,
    /// Full publish URL for ffmpeg (only with the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_url: Option<String>,
    playback_url: String,
    live: bool,
    created_at: String,
    key_rotated_at: String,
    /// The transcoding ladder the next publish gets: `"off"` or `{"rungs": [...]}`.
    ladder: serde_json::Value,
    /// Whether that is the server's ladder (the channel has none of its own).
    ladder_default: bool,
}

fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Checks the name: 1 to 48 of `a-z 0-9 - _`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), AppError> {
    let ok_len = !name.is_empty() && name.len() <= MAX_NAME_LEN;
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    let ok_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        return Ok(());
    }
    Err(AppError::bad_request(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_name",
        format!(
            "channel names are 1 to {MAX_NAME_LEN} characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
        ),
    ))
}

/// The `Authorization: Bearer` credential of a request, trimmed.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Proof that the request carries the admin token. Listed first among a handler's extractors,
/// so an unauthenticated request is refused before anything else about it is looked at.
struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let given = bearer(parts).ok_or_else(AppError::unauthorized)?;
        if auth::secrets_equal(given.as_bytes(), state.admin_token.as_bytes()) {
            Ok(Admin)
        } else {
            Err(AppError::unauthorized())
        }
    }
}

/// The path parameter that names the channel in every channel route.
pub const CHANNEL_PATH_PARAM: &str = "name";

/// A channel name from the path, validated like a created one.
pub struct ChannelName(pub String);

impl FromRequestParts<AppState> for ChannelName {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::not_found("channel"))?;
        validate_name(&name)?;
        Ok(ChannelName(name))
    }
}

fn host_of(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(h) = &state.config.public_host {
        return h.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    // Strip a port, keeping bracketed IPv6 literals intact.
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => host[..i].to_owned(),
        _ => host.to_owned(),
    }
}

fn view(
    state: &AppState,
    headers: &HeaderMap,
    c: &ChannelRecord,
    key: Option<String>,
) -> ChannelView {
    let host = host_of(state, headers);
    let ingest_url = format!("rtmp://{host}:{}/live", state.rtmp_port);
    let publish_url = key.as_ref().map(|k| format!("{ingest_url}/{k}"));
    let own = crate::transcode::own_ladder(c);
    ChannelView {
        name: c.name.clone(),
        stream_key: key,
        ingest_url,
        publish_url,
        playback_url: format!(
            "http://{host}:{}/live/{}/master.m3u8",
            state.http_port, c.name
        ),
        live: state.live.get(&c.name).is_some_and(|l| l.is_live()),
        created_at: rfc3339(c.created_at_ms),
        key_rotated_at: rfc3339(c.key_rotated_at_ms),
        ladder: ladder::to_api(own.as_ref().unwrap_or(&state.transcode.ladder)),
        ladder_default: own.is_none(),
    }
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    body: Result<Json<CreateChannel>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| {
        AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
    })?;
    validate_name(&body.name)?;
    let key = auth::new_stream_key();
    let record = state
        .db
        .create_channel(&body.name, &auth::hash_key(&key), crate::clock::unix_ms())
        .await?;
    tracing::info!(channel = %record.name, "channel created");
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &headers, &record, Some(key))),
    )
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let channels = state.db.list_channels().await?;
    let views: Vec<_> = channels
        .iter()
        .map(|c| view(&state, &headers, c, None))
        .collect();
    Ok(Json(serde_json::json!({ "channels": views })).into_response())
}

async fn show(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    let c = state
        .db
        .get_channel(&name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    Ok(Json(view(&state, &headers, &c, None)).into_response())
}

async fn delete(
    State(state): State<AppState>,
    _: Admin,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    if !state.db.delete_channel(&name).await? {
        return Err(AppError::not_found("channel"));
    }
    state.live.remove(&name);
    state.chat.close_room(&name);
    tracing::info!(channel = %name, "channel deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    let key = auth::new_stream_key();
    if !state
        .db
        .rotate_key(&name, &auth::hash_key(&key), crate::clock::unix_ms())
        .await?
    {
        return Err(AppError::not_found("channel"));
    }
    // A leaked key is the usual reason to rotate: whoever streams with it is cut off too.
    state.live.kick(&name);
    tracing::info!(channel = %name, "stream key rotated");
    let c = state
        .db
        .get_channel(&name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    Ok(Json(view(&state, &headers, &c, Some(key))).into_response())
}
