//! Chat over HTTP: the WebSocket at `/chat/CHANNEL`, and the REST API for history, tokens,
//! moderators and moderation actions.
//!
//! Channel-scoped operations accept the admin token or the channel's own stream key (the streamer
//! has no account yet; whoever holds the key runs the channel).

use super::api::{bearer, ChannelName, CHANNEL_PATH_PARAM};
use super::error::AppError;
use crate::auth;
use crate::chat::{upgrade, Chat, OpenError};
use crate::clock::unix_ms;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ferrocast_chat::protocol::decode_action;
use ferrocast_chat::{validate_name, Reason, Refusal, Role};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Longest token lifetime the API issues.
const MAX_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// The chat routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat/{name}", get(socket))
        .route("/api/v1/channels/{name}/chat", get(history))
        .route("/api/v1/channels/{name}/chat/stats", get(stats))
        .route("/api/v1/channels/{name}/chat/tokens", post(issue_token))
        .route("/api/v1/channels/{name}/chat/actions", post(action))
        .route("/api/v1/channels/{name}/chat/moderators", get(moderators))
        .route(
            "/api/v1/channels/{name}/chat/moderators/{user}",
            put(appoint).delete(dismiss),
        )
}

fn open_error(e: OpenError) -> AppError {
    match e {
        OpenError::NotFound => AppError::not_found("channel"),
        OpenError::Db(e) => e.into(),
    }
}

fn refusal_error(r: Refusal) -> AppError {
    Chat::count_refusal(r.reason);
    let status = match r.reason {
        Reason::Forbidden => StatusCode::FORBIDDEN,
        Reason::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    AppError::bad_request(status, r.reason.as_str(), r.message)
}

/// Who acts on a channel's chat: the operator (admin token) or the streamer (the stream key).
struct ChannelOwner {
    channel: String,
    by: &'static str,
}

impl FromRequestParts<AppState> for ChannelOwner {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let given = bearer(parts).ok_or_else(AppError::unauthorized)?.to_owned();
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::not_found("channel"))?;
        let channel = params
            .get(CHANNEL_PATH_PARAM)
            .cloned()
            .ok_or_else(|| AppError::not_found("channel"))?;
        if auth::secrets_equal(given.as_bytes(), state.admin_token.as_bytes()) {
            return Ok(Self {
                channel,
                by: "admin",
            });
        }
        match state.channel_for_key(&given).await? {
            Some(owned) if owned == channel => Ok(Self {
                channel,
                by: "streamer",
            }),
            _ => Err(AppError::unauthorized()),
        }
    }
}

async fn socket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ChannelName(name): ChannelName,
    req: Request,
) -> Result<Response, AppError> {
    let chat = state.chat.clone();
    let room = chat.room(&name).await.map_err(open_error)?;
    let accept_key = upgrade::check(&req)
        .map_err(|m| AppError::bad_request(StatusCode::BAD_REQUEST, "websocket_required", m))?;
    Ok(upgrade::accept(req, accept_key, chat, room, peer.ip()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// An offset or a message id (`EPOCH-OFFSET`): messages before it.
    before: Option<String>,
    limit: Option<u32>,
}

async fn history(
    State(state): State<AppState>,
    ChannelName(name): ChannelName,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|e| {
        AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_query", e.body_text())
    })?;
    let before = match query.before.as_deref() {
        None => None,
        Some(b) => Some(
            b.rsplit('-')
                .next()
                .and_then(|o| o.parse::<u64>().ok())
                .ok_or_else(|| {
                    AppError::bad_request(
                        StatusCode::BAD_REQUEST,
                        "invalid_query",
                        "`before` is a message id or an offset",
                    )
                })?,
        ),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let messages = state
        .chat
        .history(&name, before, limit)
        .await
        .map_err(open_error)?;
    // The stored JSON is exactly what clients received: splice it in without re-encoding.
    let mut body = String::with_capacity(32 + messages.iter().map(|m| m.len() + 1).sum::<usize>());
    body.push_str(r#"{"messages":["#);
    body.push_str(&messages.join(","));
    body.push_str("]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// Display name; the streamer's is the channel name.
    name: Option<String>,
    role: Role,
    ttl_secs: Option<u64>,
}

async fn issue_token(
    State(state): State<AppState>,
    owner: ChannelOwner,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| {
        AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
    })?;
    let name = match body.role {
        Role::Streamer => owner.channel.clone(),
        _ => body.name.ok_or_else(|| {
            AppError::bad_request(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "`name` is required",
            )
        })?,
    };
    validate_name(&name).map_err(refusal_error)?;
    if body.role == Role::Moderator {
        let appointed = state
            .chat
            .moderators(&owner.channel)
            .await
            .map_err(open_error)?;
        if !appointed.iter().any(|m| m.eq_ignore_ascii_case(&name)) {
            return Err(AppError::bad_request(
                StatusCode::CONFLICT,
                "not_a_moderator",
                "appoint the moderator first (PUT .../chat/moderators/NAME)",
            ));
        }
    }
    let ttl = Duration::from_secs(
        body.ttl_secs
            .unwrap_or(24 * 3600)
            .clamp(60, MAX_TOKEN_TTL_SECS),
    );
    let (token, expires) = state
        .chat
        .issue_token(&owner.channel, &name, body.role, ttl);
    tracing::info!(channel = %owner.channel, name = %name, role = ?body.role, by = owner.by, "chat token issued");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "token": token,
            "name": name,
            "role": body.role,
            "expires_at": expires,
        })),
    )
        .into_response())
}

async fn action(
    State(state): State<AppState>,
    owner: ChannelOwner,
    body: String,
) -> Result<Response, AppError> {
    let action = decode_action(&body).map_err(refusal_error)?;
    let room = state.chat.room(&owner.channel).await.map_err(open_error)?;
    let event = room
        .lock()
        .moderate(unix_ms(), &owner.channel, Role::Streamer, action)
        .map_err(refusal_error)?;
    room.wake();
    tracing::info!(channel = %owner.channel, by = owner.by, kind = event.kind.type_name(), "chat moderation via API");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        event.json.clone(),
    )
        .into_response())
}

async fn moderators(
    State(state): State<AppState>,
    owner: ChannelOwner,
) -> Result<Response, AppError> {
    let list = state
        .chat
        .moderators(&owner.channel)
        .await
        .map_err(open_error)?;
    Ok(Json(serde_json::json!({ "moderators": list })).into_response())
}

async fn set_moderator(
    state: AppState,
    owner: ChannelOwner,
    user: String,
    appointed: bool,
) -> Result<Response, AppError> {
    validate_name(&user).map_err(refusal_error)?;
    let changed = state
        .chat
        .set_moderator(&owner.channel, &user, appointed)
        .await
        .map_err(open_error)?;
    if !appointed && !changed {
        return Err(AppError::not_found("moderator"));
    }
    tracing::info!(channel = %owner.channel, user = %user, appointed, by = owner.by, "chat moderators changed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn appoint(
    State(state): State<AppState>,
    owner: ChannelOwner,
    Path((_, user)): Path<(String, String)>,
) -> Result<Response, AppError> {
    set_moderator(state, owner, user, true).await
}

async fn dismiss(
    State(state): State<AppState>,
    owner: ChannelOwner,
    Path((_, user)): Path<(String, String)>,
) -> Result<Response, AppError> {
    set_moderator(state, owner, user, false).await
}

/// Viewers and message rate of a channel's chat (the directory and dashboards show them).
async fn stats(
    State(state): State<AppState>,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    let (viewers, rate) = state.chat.stats(&name).await.map_err(open_error)?;
    Ok(Json(serde_json::json!({
        "viewers": viewers,
        "messages_per_second": rate,
    }))
    .into_response())
}
