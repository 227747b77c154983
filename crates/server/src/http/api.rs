//! The channel API (`/api/v1/channels`), IVS-style: create returns the key and the URLs; and,
//! in the submodules, the accounts API and the public watch-page API (docs/WEB.md).
//!
//! Channel routes act for the channel's owner, an administrator account or the admin token
//! ([`Principal`]); a channel that exists but is someone else's answers 403 (channel names are
//! public anyway: they are the watch pages' addresses).

mod ladder;
mod public;
mod session;

use super::error::AppError;
use crate::accounts::Principal;
use crate::auth;
use crate::clock::rfc3339;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrocast_db::{ChannelDetails, NewChannel};
use serde::{Deserialize, Serialize};

/// Longest channel name.
pub const MAX_NAME_LEN: usize = 48;
/// Longest channel title, in characters.
pub const MAX_TITLE_CHARS: usize = 140;
/// Names a channel cannot take because its watch page (`/NAME`) would shadow a page or route
/// of the server (docs/WEB.md).
pub const RESERVED_CHANNEL_NAMES: &[&str] = &[
    "api",
    "assets",
    "chat",
    "live",
    "vod",
    "videos",
    "login",
    "logout",
    "signup",
    "studio",
    "metrics",
    "healthz",
    "readyz",
    "favicon.ico",
];

/// The API routes: channels, accounts and the public watch API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels", post(create).get(list))
        .route(
            "/api/v1/channels/{name}",
            get(show).delete(delete).patch(ladder::patch),
        )
        .route("/api/v1/channels/{name}/rotate-key", post(rotate))
        .merge(session::routes())
        .merge(public::routes())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    name: String,
    title: Option<String>,
}

/// A channel as the API shows it.
#[derive(Debug, Serialize)]
struct ChannelView {
    name: String,
    /// Free text, `""` when unset.
    title: String,
    /// The owning account's name; `null` for a channel made with the admin token.
    owner: Option<String>,
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

/// Checks a new channel's name: a valid name that is not reserved. Only creation refuses
/// reserved names, so a channel made before they were reserved can still be managed.
pub fn validate_new_name(name: &str) -> Result<(), AppError> {
    validate_name(name)?;
    if RESERVED_CHANNEL_NAMES.contains(&name) {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            format!("the channel name {name:?} is reserved (the web app has a page there)"),
        ));
    }
    Ok(())
}

/// Checks a title: trimmed, at most [`MAX_TITLE_CHARS`] characters, no control characters.
pub fn validate_title(title: &str) -> Result<String, AppError> {
    let title = title.trim();
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_title",
            format!("titles are at most {MAX_TITLE_CHARS} characters"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_title",
            "titles are one line of text without control characters",
        ));
    }
    Ok(title.to_owned())
}

/// The channel, when `principal` may manage it: 404 when there is none, 403 when it is someone
/// else's.
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<ChannelDetails, AppError> {
    let details = state
        .db
        .channel_details(name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    if !principal.may_manage(&details) {
        return Err(AppError::bad_request(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this channel belongs to another account",
        ));
    }
    Ok(details)
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

/// The host name for URLs: the configured public host, or the request's Host without its port.
pub fn host_of(state: &AppState, headers: &HeaderMap) -> String {
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
    details: &ChannelDetails,
    key: Option<String>,
) -> ChannelView {
    let c = &details.channel;
    let host = host_of(state, headers);
    let ingest_url = format!("rtmp://{host}:{}/live", state.rtmp_port);
    let publish_url = key.as_ref().map(|k| format!("{ingest_url}/{k}"));
    let own = crate::transcode::own_ladder(c);
    ChannelView {
        name: c.name.clone(),
        title: details.title.clone(),
        owner: details.owner.clone(),
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
    principal: Principal,
    headers: HeaderMap,
    body: Result<Json<CreateChannel>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| {
        AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
    })?;
    validate_new_name(&body.name)?;
    let title = validate_title(body.title.as_deref().unwrap_or(""))?;
    let key = auth::new_stream_key();
    let details = state
        .db
        .create_owned_channel(NewChannel {
            name: &body.name,
            key_hash: &auth::hash_key(&key),
            owner_id: principal.user().map(|u| u.id),
            title: &title,
            now_ms: crate::clock::unix_ms(),
        })
        .await?;
    tracing::info!(channel = %details.channel.name, by = principal.label(), "channel created");
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &headers, &details, Some(key))),
    )
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let owner = if principal.sees_all() {
        None
    } else {
        principal.user().map(|u| u.id)
    };
    let channels = state.db.list_channel_details(owner).await?;
    let views: Vec<_> = channels
        .iter()
        .map(|c| view(&state, &headers, c, None))
        .collect();
    Ok(Json(serde_json::json!({ "channels": views })).into_response())
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    let details = authorize(&state, &principal, &name).await?;
    Ok(Json(view(&state, &headers, &details, None)).into_response())
}

async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    authorize(&state, &principal, &name).await?;
    if !state.db.delete_channel(&name).await? {
        return Err(AppError::not_found("channel"));
    }
    state.live.remove(&name);
    state.chat.close_room(&name);
    state.qoe.forget(&name);
    tracing::info!(channel = %name, by = principal.label(), "channel deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    authorize(&state, &principal, &name).await?;
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
    tracing::info!(channel = %name, by = principal.label(), "stream key rotated");
    let details = state
        .db
        .channel_details(&name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    Ok(Json(view(&state, &headers, &details, Some(key))).into_response())
}
