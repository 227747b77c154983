//! What the watch page reads and does: `GET /api/v1/watch/NAME` (public) and following a
//! channel (`PUT`/`DELETE /api/v1/channels/NAME/follow`, signed in).

use super::{validate_name, ChannelName};
use crate::accounts::{MaybeUser, SignedIn};
use crate::clock::{rfc3339, unix_ms};
use crate::http::error::AppError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::json;

/// The watch and follow routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/watch/{name}", get(watch))
        .route(
            "/api/v1/channels/{name}/follow",
            put(follow).delete(unfollow),
        )
}

/// `GET /api/v1/watch/NAME`: what the watch page shows about a channel. Any name that is not a
/// channel's, valid or not, is a 404: the page only needs to know there is nothing to watch.
async fn watch(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    if validate_name(&name).is_err() {
        return Err(AppError::not_found("channel"));
    }
    let details = state
        .db
        .channel_details(&name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    let channel = state.live.get(&name);
    let live = channel.as_ref().is_some_and(|c| c.is_live());
    let started_at = channel
        .as_ref()
        .filter(|_| live)
        .and_then(|c| c.ingest.snapshot().started_at_ms)
        .map(rfc3339);
    let followers = state.db.follower_count(details.channel.id).await?;
    let following = match &user {
        Some(u) => state.db.is_following(u.id, details.channel.id).await?,
        None => false,
    };
    // The open room's modes, else the stored ones: asking does not open the room.
    let chat = state.chat.modes(&name, details.channel.id).await?;
    let mut res = Json(json!({
        "name": name,
        "title": details.title,
        "owner": details.owner,
        "live": live,
        "started_at": started_at,
        "viewers": crate::http::directory::viewers(&state, &name),
        "followers": followers,
        "following": following,
        "playback_url": format!("/live/{name}/master.m3u8"),
        "chat": { "guests": chat.guests, "followers_only": chat.followers_only },
    }))
    .into_response();
    // `following` depends on who asks: no shared cache may keep one caller's answer.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(res)
}

async fn set_following(
    state: &AppState,
    user: &ferrocast_db::UserRecord,
    name: &str,
    follow: bool,
) -> Result<Response, AppError> {
    let details = state
        .db
        .channel_details(name)
        .await?
        .ok_or_else(|| AppError::not_found("channel"))?;
    let changed = state
        .db
        .set_following(user.id, details.channel.id, follow, unix_ms())
        .await?;
    if changed {
        tracing::info!(user = %user.name, channel = %name, follow, "follow changed");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/v1/channels/NAME/follow` → 204 (also when already following).
async fn follow(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    set_following(&state, &user, &name, true).await
}

/// `DELETE /api/v1/channels/NAME/follow` → 204 (also when not following).
async fn unfollow(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    ChannelName(name): ChannelName,
) -> Result<Response, AppError> {
    set_following(&state, &user, &name, false).await
}
