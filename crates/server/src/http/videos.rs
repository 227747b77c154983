//! The videos API: create (with an upload target), read, list, delete, complete a presigned
//! upload, and follow progress as server-sent events.

use super::error::AppError;
use crate::accounts::Principal;
use crate::state::AppState;
use crate::vod::{valid_video_id, Vod};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrocast_db::{VideoRecord, VideoState};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

/// The videos routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/videos", post(create).get(list))
        .route("/api/v1/videos/{id}", get(show).delete(remove))
        .route("/api/v1/videos/{id}/complete", post(complete))
        .route("/api/v1/videos/{id}/events", get(events))
}

/// `POST /api/v1/videos`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateVideo {
    title: String,
    /// `public` (default) or `private`.
    visibility: Option<String>,
}

/// A video as the API shows it.
#[derive(Debug, Serialize)]
pub struct VideoView {
    id: String,
    title: String,
    visibility: &'static str,
    state: VideoState,
    /// Percent, 0 to 100.
    progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    duration: Option<f64>,
    width: Option<i64>,
    height: Option<i64>,
    source_bytes: Option<i64>,
    renditions: serde_json::Value,
    playback_url: Option<String>,
    dash_url: Option<String>,
    download_url: Option<String>,
    poster_url: Option<String>,
    thumbnails_url: Option<String>,
    /// When the token in the URLs of a private video expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_expires_at: Option<String>,
    created_at: String,
    ready_at: Option<String>,
}

/// The answer to a creation: the video, where to upload it, and the tus alternative.
#[derive(Debug, Serialize)]
struct Created {
    #[serde(flatten)]
    video: VideoView,
    upload: crate::vod::UploadTarget,
    tus: TusTarget,
}

#[derive(Debug, Serialize)]
struct TusTarget {
    endpoint: String,
    /// Upload-Metadata the creation request must carry.
    metadata: BTreeMap<String, String>,
    max_bytes: u64,
}

/// `http://host:port` as the client reached us (or the configured public host).
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    format!(
        "http://{}:{}",
        super::api::host_of(state, headers),
        state.http_port
    )
}

/// Video on demand, or 503 where it is not set up (unit tests' states).
pub fn vod(state: &AppState) -> Result<&std::sync::Arc<Vod>, AppError> {
    state.vod.as_ref().ok_or_else(|| {
        AppError::bad_request(
            StatusCode::SERVICE_UNAVAILABLE,
            "vod_unavailable",
            "video on demand is not available on this server",
        )
    })
}

/// The view of `v`; URLs are absolute on `base` and carry a fresh token when it is private.
pub fn view(state: &AppState, base: &str, v: &VideoRecord) -> VideoView {
    let ready = v.state == VideoState::Ready;
    let (query, expires) = match (&state.vod, v.private && ready) {
        (Some(vod), true) => {
            let (t, exp) = vod.playback_token(&v.id);
            (
                format!("?token={t}"),
                Some(crate::clock::rfc3339(exp * 1000)),
            )
        }
        _ => (String::new(), None),
    };
    let url = |file: &str| ready.then(|| format!("{base}/vod/{}/{file}{query}", v.id));
    let meta: Option<serde_json::Value> =
        v.meta.as_deref().and_then(|m| serde_json::from_str(m).ok());
    VideoView {
        id: v.id.clone(),
        title: v.title.clone(),
        visibility: if v.private { "private" } else { "public" },
        state: v.state,
        progress: (v.progress * 1000.0).round() / 10.0,
        error: v.error.clone(),
        error_code: v.error_code.clone(),
        duration: meta
            .as_ref()
            .and_then(|m| m.get("duration_s")?.as_f64())
            .or(v.duration_s),
        width: v.width,
        height: v.height,
        source_bytes: v.source_bytes,
        renditions: meta
            .as_ref()
            .and_then(|m| m.get("renditions").cloned())
            .unwrap_or_else(|| serde_json::json!([])),
        playback_url: url("master.m3u8"),
        dash_url: url("manifest.mpd"),
        download_url: url("download.mp4"),
        poster_url: url("poster.jpg"),
        thumbnails_url: url("thumbnails.vtt"),
        token_expires_at: expires,
        created_at: crate::clock::rfc3339(v.created_at_ms),
        ready_at: v.ready_at_ms.map(crate::clock::rfc3339),
    }
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Json<CreateVideo>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(body) = body.map_err(|e| {
        AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
    })?;
    let title = super::api::validate_title(&body.title)?;
    if title.trim().is_empty() {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_title",
            "a video needs a title",
        ));
    }
    let private = match body.visibility.as_deref().unwrap_or("public") {
        "public" => false,
        "private" => true,
        other => {
            return Err(AppError::bad_request(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_visibility",
                format!("visibility is \"public\" or \"private\", not {other:?}"),
            ))
        }
    };
    let vod = vod(&state)?;
    let (video, mut upload, token) = vod
        .create_video(principal.user().map(|u| u.id), &title, private)
        .await?;
    let base = base_url(&state, &headers);
    if upload.url.starts_with('/') {
        upload.url = format!("{base}{}", upload.url);
    }
    let created = Created {
        video: view(&state, &base, &video),
        tus: TusTarget {
            endpoint: format!("{base}/api/v1/uploads/"),
            metadata: BTreeMap::from([
                ("video".to_owned(), video.id.clone()),
                ("token".to_owned(), token),
            ]),
            max_bytes: upload.max_bytes,
        },
        upload,
    };
    let mut res = (StatusCode::CREATED, Json(created)).into_response();
    if let Ok(v) = format!("/api/v1/videos/{}", video.id).parse() {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let owner = if principal.sees_all() {
        None
    } else {
        principal.user().map(|u| u.id)
    };
    let videos = state
        .db
        .list_videos(owner, q.limit.unwrap_or(100).min(1000))
        .await?;
    let base = base_url(&state, &headers);
    let views: Vec<VideoView> = videos.iter().map(|v| view(&state, &base, v)).collect();
    Ok(Json(serde_json::json!({ "videos": views })).into_response())
}

/// The video with this id, or 404 (an id of the wrong shape never reaches the database).
async fn find(state: &AppState, id: &str) -> Result<VideoRecord, AppError> {
    if !valid_video_id(id) {
        return Err(AppError::not_found("video"));
    }
    state
        .db
        .get_video(id)
        .await?
        .ok_or_else(|| AppError::not_found("video"))
}

/// Who may see a video: anyone when it is public, its owner and administrators when private
/// (viewers of a private video get its URLs from whoever shares them).
async fn visible(state: &AppState, parts: &mut Parts, id: &str) -> Result<VideoRecord, AppError> {
    let video = find(state, id).await?;
    if video.private {
        let principal = Principal::from_request_parts(parts, state).await.ok();
        if !principal.is_some_and(|p| may_manage(&p, &video)) {
            return Err(AppError::not_found("video"));
        }
    }
    Ok(video)
}

fn may_manage(p: &Principal, v: &VideoRecord) -> bool {
    p.sees_all()
        || v.owner_id
            .is_some_and(|o| Some(o) == p.user().map(|u| u.id))
}

async fn owned(state: &AppState, p: &Principal, id: &str) -> Result<VideoRecord, AppError> {
    let video = find(state, id).await?;
    if !may_manage(p, &video) {
        return Err(AppError::bad_request(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this video belongs to another account",
        ));
    }
    Ok(video)
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut parts: Parts,
) -> Result<Response, AppError> {
    let video = visible(&state, &mut parts, &id).await?;
    let base = base_url(&state, &parts.headers);
    let mut res = Json(view(&state, &base, &video)).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    owned(&state, &principal, &id).await?;
    vod(&state)?.delete_video(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn complete(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let video = owned(&state, &principal, &id).await?;
    let vod = vod(&state)?;
    vod.complete_presigned(&video).await?;
    let video = state
        .db
        .get_video(&id)
        .await?
        .ok_or_else(|| AppError::not_found("video"))?;
    let base = base_url(&state, &headers);
    Ok((StatusCode::ACCEPTED, Json(view(&state, &base, &video))).into_response())
}

/// Longest an event stream stays open; clients (EventSource) reconnect by themselves.
const EVENTS_MAX: Duration = Duration::from_secs(3600);
/// How often an event stream re-reads its video without being told of a change.
const REREAD: Duration = Duration::from_secs(2);

async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut parts: Parts,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let video = visible(&state, &mut parts, &id).await?;
    let vod = vod(&state)?;
    let mut changes = vod.subscribe();
    let base = base_url(&state, &parts.headers);
    let stream = async_stream(move |tx| async move {
        let deadline = tokio::time::Instant::now() + EVENTS_MAX;
        let mut last = serde_json::to_string(&view(&state, &base, &video)).unwrap_or_default();
        if tx.send(last.clone()).await.is_err() {
            return;
        }
        loop {
            // A lagging receiver only missed notices: the row is read afresh anyway. Workers in
            // another process (`ferrocast worker`) notify nobody here: the row is also re-read
            // every REREAD.
            let woke = tokio::time::timeout(REREAD, changes.recv()).await;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            match woke {
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
                Ok(Ok(changed)) if changed != id => continue,
                _ => {}
            }
            let Ok(row) = state.db.get_video(&id).await else {
                return;
            };
            let Some(row) = row else {
                let _ = tx.send("{\"deleted\":true}".into()).await;
                return;
            };
            let text = serde_json::to_string(&view(&state, &base, &row)).unwrap_or_default();
            if text != last {
                if tx.send(text.clone()).await.is_err() {
                    return;
                }
                last = text;
            }
            if matches!(row.state, VideoState::Ready | VideoState::Failed) {
                return;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A stream of `video` events fed by a task through a small channel (bounded: a slow client
/// holds back only its own task).
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<String>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        let text = rx.recv().await?;
        Some((Ok(Event::default().event("video").data(text)), rx))
    })
}
