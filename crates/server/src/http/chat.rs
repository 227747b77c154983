//! Chat over HTTP: the WebSocket at `/chat/CHANNEL`, and the REST API for history, tokens,
//! moderators and moderation actions.
//!
//! Channel-scoped operations accept the admin token, the channel's own stream key (whoever holds
//! the key runs the channel), or the owner's or an administrator's session or API token. Signed-in
//! users get a chat token of their own from `POST .../chat/session-token`.

use super::api::{authorize, bearer, ChannelName, CHANNEL_PATH_PARAM};
use super::error::AppError;
use crate::accounts::{Principal, SignedIn, PAT_PREFIX};
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
/// Lifetime of a signed-in user's chat token: a long watch session, not a standing credential.
const SESSION_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// The chat routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat/{name}", get(socket))
        .route("/api/v1/channels/{name}/chat", get(history))
        .route("/api/v1/channels/{name}/chat/stats", get(stats))
        .route("/api/v1/channels/{name}/chat/tokens", post(issue_token))
        .route(
            "/api/v1/channels/{name}/chat/session-token",
            post(session_token),
        )
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

/// Who acts on a channel's chat: the operator (admin token), the streamer (the stream key), or
/// the owner or an administrator by account.
struct ChannelOwner {
    channel: String,
    /// For logs: `admin`, `streamer` or the account name.
    by: String,
}

impl FromRequestParts<AppState> for ChannelOwner {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // A Bearer that is neither the admin token nor an API token can only be a stream key.
        let stream_key = bearer(parts)
            .filter(|given| {
                !given.starts_with(PAT_PREFIX)
                    && !auth::secrets_equal(given.as_bytes(), state.admin_token.as_bytes())
            })
            .map(str::to_owned);
        let principal = match &stream_key {
            Some(_) => None,
            None => Some(Principal::from_request_parts(parts, state).await?),
        };
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::not_found("channel"))?;
        let channel = params
            .get(CHANNEL_PATH_PARAM)
            .cloned()
            .ok_or_else(|| AppError::not_found("channel"))?;
        if let Some(principal) = principal {
            if principal.user().is_some() {
                authorize(state, &principal, &channel).await?;
            }
            return Ok(Self {
                channel,
                by: principal.label().to_owned(),
            });
        }
        let given = stream_key.unwrap_or_default();
        match state.channel_for_key(&given).await? {
            Some(owned) if owned == channel => Ok(Self {
                channel,
                by: "streamer".to_owned(),
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
        .issue_token(&owner.channel, &name, body.role, false, ttl);
    tracing::info!(channel = %owner.channel, name = %name, role = ?body.role, by = %owner.by, "chat token issued");
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
    tracing::info!(channel = %owner.channel, by = %owner.by, kind = event.kind.type_name(), "chat moderation via API");
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
    tracing::info!(channel = %owner.channel, user = %user, appointed, by = %owner.by, "chat moderators changed");
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

/// `POST /api/v1/channels/NAME/chat/session-token`: a chat token for the signed-in account. The
/// owner speaks as the streamer, whose chat name is the channel's (the room knows its streamer by
/// that name); anyone else under their account name, as a moderator when appointed.
///
/// The token also says whether the account follows the channel now (what followers-only mode asks
/// for). Following later takes a fresh token and a new join: the web page fetches one when the
/// user clicks Follow.
async fn session_token(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    let details = state
        .db
        .channel_details(&name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    let (chat_name, role) = if details.owner_id == Some(user.id) {
        (name.clone(), Role::Streamer)
    } else {
        if user.name.eq_ignore_ascii_case(&name) {
            // The room would show this viewer under its streamer's name.
            return Err(AppError::bad_request(
                StatusCode::CONFLICT,
                "name_reserved",
                "your account name is this channel's, which chat reserves for its streamer",
            ));
        }
        let appointed = state.chat.moderators(&name).await.map_err(open_error)?;
        let role = if appointed.iter().any(|m| m.eq_ignore_ascii_case(&user.name)) {
            Role::Moderator
        } else {
            Role::Viewer
        };
        (user.name.clone(), role)
    };
    let follower = state.db.is_following(user.id, details.channel.id).await?;
    let (token, expires) =
        state
            .chat
            .issue_token(&name, &chat_name, role, follower, SESSION_TOKEN_TTL);
    tracing::debug!(channel = %name, user = %user.name, role = ?role, follower, "chat session token issued");
    let mut res = Json(serde_json::json!({
        "token": token,
        "name": chat_name,
        "role": role,
        "follower": follower,
        "expires_at": expires,
    }))
    .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
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
