//! Uploads: the local backend's "presigned" PUT and tus 1.0.0 resumable uploads, as thin
//! handlers over `ferrocast_storage` (docs/VOD.md).
//!
//! Why: a source can be gigabytes, so bodies stream to a staging file and never sit in memory
//! (the default body limit is lifted for these routes only), and each body is handled in its
//! own task, so a client that hangs up mid-body still leaves the upload in a known state (the
//! direct upload's slot given back; the tus offset recorded for resuming). A tus upload carries
//! the grant it was created with (video id, storage key, cap) in its stored metadata, so
//! whichever upload id a request names, finishing it can only deliver that upload's own video.
//!
//! Spec: <https://tus.io/protocols/resumable-upload> (Core, Creation, Expiration, Termination).

use super::error::AppError;
use crate::state::AppState;
use crate::vod::{UploadGrant, Vod};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{options, put};
use axum::{Json, Router};
use ferrocast_storage::tus::{format_metadata, http_date, parse_metadata};
use ferrocast_storage::{StorageError, TusError, TusInfo, TusLock};
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// The tus version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The tus extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,expiration,termination";
/// `Content-Type` of a tus PATCH body.
pub const TUS_CONTENT_TYPE: &str = "application/offset+octet-stream";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION_H: HeaderName = HeaderName::from_static("tus-version");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");

/// Metadata keys the server stores in a tus upload (the grant); never taken from the client.
const META_VIDEO: &str = "video";
const META_KEY: &str = "key";
const META_MAX: &str = "max_bytes";
const META_TOKEN: &str = "token";
/// Write buffer of a direct upload's staging file.
const WRITE_BUFFER: usize = 1 << 20;

/// The upload routes; request bodies here are unlimited (they stream to disk).
pub fn routes() -> Router<AppState> {
    let tus = Router::new()
        .route("/api/v1/uploads/", options(tus_options).post(tus_create))
        .route(
            "/api/v1/uploads/{id}",
            options(tus_options)
                .head(tus_head)
                .patch(tus_patch)
                .delete(tus_delete),
        )
        .layer(axum::middleware::map_response(tus_resumable));
    Router::new()
        .route("/api/v1/uploads/direct/{token}", put(direct_put))
        .merge(tus)
        .layer(DefaultBodyLimit::disable())
}

fn vod(state: &AppState) -> Result<Arc<Vod>, AppError> {
    super::videos::vod(state).cloned()
}

fn now_ms() -> u64 {
    crate::clock::unix_ms().max(0) as u64
}

fn too_large(max: u64) -> AppError {
    AppError::bad_request(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the upload is larger than the limit of {max} bytes"),
    )
}

fn storage_error(e: StorageError) -> AppError {
    if e.is_disk_full() {
        AppError::bad_request(StatusCode::INSUFFICIENT_STORAGE, "disk_full", e.to_string())
    } else {
        AppError::internal(e)
    }
}

fn tus_error(e: TusError) -> AppError {
    let (status, code) = match &e {
        TusError::NotFound => return AppError::not_found("upload"),
        TusError::Expired => (StatusCode::GONE, "upload_expired"),
        TusError::Conflict { .. } => (StatusCode::CONFLICT, "offset_mismatch"),
        TusError::Locked => (StatusCode::LOCKED, "upload_locked"),
        TusError::BeyondLength { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "beyond_length"),
        TusError::Interrupted { .. } => (StatusCode::BAD_REQUEST, "upload_interrupted"),
        TusError::InvalidMetadata(_) => (StatusCode::BAD_REQUEST, "invalid_metadata"),
        TusError::DiskFull { .. } => (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
        _ => return AppError::internal(e),
    };
    AppError::bad_request(status, code, e.to_string())
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, AppError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            AppError::bad_request(
                StatusCode::BAD_REQUEST,
                "invalid_header",
                format!("{name} must be a non-negative integer"),
            )
        })
}

fn set(res: &mut Response, name: HeaderName, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        res.headers_mut().insert(name, v);
    }
}

/// tus: `Tus-Resumable` on every response.
async fn tus_resumable(mut res: Response) -> Response {
    res.headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    res
}

/// tus Core: "If the version specified by the Client is not supported by the Server, it MUST
/// respond with the 412 Precondition Failed status and MUST include the Tus-Version header".
/// Answers `Some(412)` when the request does not speak our version.
fn refuse_version(headers: &HeaderMap) -> Option<Response> {
    if headers.get(&TUS_RESUMABLE).and_then(|v| v.to_str().ok()) == Some(TUS_VERSION) {
        return None;
    }
    let mut res = AppError::bad_request(
        StatusCode::PRECONDITION_FAILED,
        "tus_version",
        format!("this server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}"),
    )
    .into_response();
    set(&mut res, TUS_VERSION_H, TUS_VERSION);
    Some(res)
}

/// `OPTIONS /api/v1/uploads/`: what the server supports.
async fn tus_options(State(state): State<AppState>) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    set(&mut res, TUS_VERSION_H, TUS_VERSION);
    set(
        &mut res,
        HeaderName::from_static("tus-extension"),
        TUS_EXTENSIONS,
    );
    if let Some(vod) = &state.vod {
        set(
            &mut res,
            HeaderName::from_static("tus-max-size"),
            vod.config.max_upload_bytes,
        );
    }
    res
}

/// The grant stored in an upload's metadata at creation.
fn grant_of(info: &TusInfo) -> Result<UploadGrant, AppError> {
    let m = &info.metadata;
    match (m.get(META_VIDEO), m.get(META_KEY), m.get(META_MAX)) {
        (Some(video), Some(key), Some(max)) => Ok(UploadGrant {
            video_id: video.clone(),
            key: key.clone(),
            max_bytes: max.parse().map_err(AppError::internal)?,
        }),
        _ => Err(AppError::internal(format!(
            "tus upload {} has no grant in its metadata",
            info.id
        ))),
    }
}

/// `Upload-Metadata` as the client sent it (the server's own keys left out).
fn client_metadata(info: &TusInfo) -> String {
    format_metadata(
        info.metadata
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), META_KEY | META_MAX))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

fn upload_headers(res: &mut Response, info: &TusInfo) {
    set(res, UPLOAD_OFFSET, info.offset);
    set(res, UPLOAD_EXPIRES, http_date(info.expires_at_ms));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `POST /api/v1/uploads/` (tus Creation): `Upload-Length`, and `Upload-Metadata` holding the
/// video's `video` id and upload `token`; answers 201 with the upload's `Location`.
async fn tus_create(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    create(state, headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn create(state: AppState, headers: HeaderMap) -> Result<Response, AppError> {
    let vod = vod(&state)?;
    if headers.contains_key("upload-defer-length") {
        return Err(AppError::bad_request(
            StatusCode::BAD_REQUEST,
            "defer_length_unsupported",
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    let length = header_u64(&headers, &UPLOAD_LENGTH)?.ok_or_else(|| {
        AppError::bad_request(
            StatusCode::BAD_REQUEST,
            "missing_length",
            "Upload-Length is required",
        )
    })?;
    if length > vod.config.max_upload_bytes {
        return Err(too_large(vod.config.max_upload_bytes));
    }
    let raw = match headers.get(&UPLOAD_METADATA) {
        Some(v) => v
            .to_str()
            .map_err(|_| tus_error(TusError::InvalidMetadata("not visible ASCII".into())))?,
        None => "",
    };
    let mut metadata = parse_metadata(raw).map_err(tus_error)?;
    let grant = vod.tus_authorize(&metadata, length).await?;
    if length > grant.max_bytes {
        vod.upload_failed(&grant, "Upload-Length is over the cap")
            .await;
        return Err(too_large(grant.max_bytes));
    }
    metadata.remove(META_TOKEN);
    metadata.insert(META_VIDEO.into(), grant.video_id.clone());
    metadata.insert(META_KEY.into(), grant.key.clone());
    metadata.insert(META_MAX.into(), grant.max_bytes.to_string());
    let info = match vod.tus().create(length, metadata, now_ms()).await {
        Ok(info) => info,
        Err(e) => {
            vod.upload_failed(&grant, &e.to_string()).await;
            return Err(tus_error(e));
        }
    };
    tracing::info!(video = %grant.video_id, upload = %info.id, length, "tus upload created");
    if info.complete {
        // An empty file: nothing will be PATCHed.
        let lock = vod.tus().try_lock(&info.id).map_err(tus_error)?;
        finish(&vod, &lock, &grant, &info).await?;
    }
    let mut res = StatusCode::CREATED.into_response();
    set(
        &mut res,
        header::LOCATION,
        format!("/api/v1/uploads/{}", info.id),
    );
    set(&mut res, UPLOAD_EXPIRES, http_date(info.expires_at_ms));
    Ok(res)
}

/// The tus upload with this id, or 404.
async fn upload_info(vod: &Vod, id: &str) -> Result<TusInfo, AppError> {
    vod.tus()
        .info(id)
        .await
        .map_err(tus_error)?
        .ok_or_else(|| AppError::not_found("upload"))
}

/// `HEAD /api/v1/uploads/{id}`: the offset to resume from.
async fn tus_head(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    let result = async {
        let vod = vod(&state)?;
        let info = upload_info(&vod, &id).await?;
        if info.is_expired(now_ms()) {
            return Err(tus_error(TusError::Expired));
        }
        let mut res = StatusCode::OK.into_response();
        upload_headers(&mut res, &info);
        set(&mut res, UPLOAD_LENGTH, info.length);
        let meta = client_metadata(&info);
        if !meta.is_empty() {
            set(&mut res, UPLOAD_METADATA, meta);
        }
        Ok(res)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `PATCH /api/v1/uploads/{id}`: appends the body at `Upload-Offset`; 204 with the new offset.
/// The last byte moves the data into storage as the video's source and queues its work.
async fn tus_patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    let result = async {
        let vod = vod(&state)?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if content_type != Some(TUS_CONTENT_TYPE) {
            return Err(AppError::bad_request(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type",
                format!("a tus PATCH body must be Content-Type: {TUS_CONTENT_TYPE}"),
            ));
        }
        let offset = header_u64(&headers, &UPLOAD_OFFSET)?.ok_or_else(|| {
            AppError::bad_request(
                StatusCode::BAD_REQUEST,
                "missing_offset",
                "Upload-Offset is required",
            )
        })?;
        let content_length = header_u64(&headers, &header::CONTENT_LENGTH)?;
        // Its own task: if the client hangs up, what arrived is still recorded.
        tokio::spawn(patch(vod, id, offset, content_length, body))
            .await
            .map_err(AppError::internal)?
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn patch(
    vod: Arc<Vod>,
    id: String,
    offset: u64,
    content_length: Option<u64>,
    body: Body,
) -> Result<Response, AppError> {
    let tus = vod.tus();
    let lock = tus.try_lock(&id).map_err(tus_error)?;
    let info = tus
        .info(&id)
        .await
        .map_err(tus_error)?
        .ok_or_else(|| AppError::not_found("upload"))?;
    let grant = grant_of(&info)?;
    if let Some(n) = content_length {
        if offset == info.offset && n > info.length - info.offset {
            return Err(tus_error(TusError::BeyondLength {
                length: info.length,
                offset: info.offset,
            }));
        }
    }
    let info = match tus
        .append_locked(&lock, offset, body.into_data_stream(), now_ms())
        .await
    {
        Ok(info) => info,
        Err(e @ TusError::Interrupted { .. }) => {
            tracing::debug!(upload = %id, error = %e, "tus body interrupted; resumable");
            return Err(tus_error(e));
        }
        Err(e) => return Err(tus_error(e)),
    };
    if info.complete && !info.finished {
        finish(&vod, &lock, &grant, &info).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    upload_headers(&mut res, &info);
    Ok(res)
}

/// Every byte is in: the data becomes the video's source and its work is queued. Safe to run
/// again after a failure or a crash (a client re-sends the last PATCH with an empty body).
async fn finish(
    vod: &Vod,
    lock: &TusLock,
    grant: &UploadGrant,
    info: &TusInfo,
) -> Result<(), AppError> {
    let data = vod
        .tus()
        .data_path(lock.id())
        .ok_or_else(|| AppError::not_found("upload"))?;
    if tokio::fs::try_exists(&data).await.unwrap_or(false) {
        vod.storage()
            .put_file_move(&grant.key, &data)
            .await
            .map_err(storage_error)?;
    } else {
        // Moved before a crash or a failed hand-over: the object must be there, whole.
        let stored = vod
            .storage()
            .head(&grant.key)
            .await
            .map_err(storage_error)?;
        if stored.map(|o| o.size) != Some(info.length) {
            return Err(AppError::internal(format!(
                "tus upload {} lost its data before it reached storage",
                info.id
            )));
        }
    }
    match vod.upload_finished(grant, info.length).await {
        Ok(()) => {}
        // Already handed over by an earlier attempt.
        Err(e) if e.code == "upload_used" => {}
        Err(e) => return Err(e),
    }
    vod.tus()
        .mark_finished(lock, now_ms())
        .await
        .map_err(tus_error)?;
    tracing::info!(video = %grant.video_id, upload = %info.id, bytes = info.length, "tus upload complete");
    Ok(())
}

/// `DELETE /api/v1/uploads/{id}` (tus Termination): the upload and its data go; the video's
/// upload slot is given back.
async fn tus_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(res) = refuse_version(&headers) {
        return res;
    }
    let result = async {
        let vod = vod(&state)?;
        let info = upload_info(&vod, &id).await?;
        vod.tus().terminate(&id).await.map_err(tus_error)?;
        if !info.finished {
            if let Ok(grant) = grant_of(&info) {
                vod.upload_failed(&grant, "the client terminated the upload")
                    .await;
            }
        }
        Ok::<_, AppError>(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `PUT /api/v1/uploads/direct/{token}`: the local backend's single-use upload URL. The body
/// streams to `{data_dir}/work/uploads/`, then moves into storage as the video's source;
/// answers 202 once the work is queued.
async fn direct_put(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let vod = vod(&state)?;
    let content_length = header_u64(&headers, &header::CONTENT_LENGTH)?;
    // Refused before the single-use slot is taken.
    if content_length.is_some_and(|n| n > vod.config.max_upload_bytes) {
        return Err(too_large(vod.config.max_upload_bytes));
    }
    let grant = vod.direct_upload_begin(&token).await?;
    // Its own task: a client that hangs up still gets its slot given back and no debris left.
    tokio::spawn(direct(vod, grant, content_length, body))
        .await
        .map_err(AppError::internal)?
}

async fn direct(
    vod: Arc<Vod>,
    grant: UploadGrant,
    content_length: Option<u64>,
    body: Body,
) -> Result<Response, AppError> {
    let dir = vod.work_dir().join("uploads");
    // Named after this process, so that a restart can tell a crashed upload's file from the
    // uploads of a live process (steps::sweep_scratch).
    let tmp = dir.join(format!(
        "{}-{}-{:08x}.part",
        std::process::id(),
        grant.video_id,
        rand::random::<u32>()
    ));
    let received = async {
        if content_length.is_some_and(|n| n > grant.max_bytes) {
            return Err(too_large(grant.max_bytes));
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| storage_error(StorageError::io("create directory", &dir, e)))?;
        let size = receive(body, &tmp, grant.max_bytes).await?;
        vod.storage()
            .put_file_move(&grant.key, &tmp)
            .await
            .map_err(storage_error)?;
        Ok(size)
    }
    .await;
    let size = match received {
        Ok(size) => size,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            vod.upload_failed(&grant, &e.message).await;
            return Err(e);
        }
    };
    vod.upload_finished(&grant, size).await?;
    let body = serde_json::json!({ "id": grant.video_id, "state": "queued", "bytes": size });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Streams `body` to a new file at `path`, refusing it once more than `max` bytes arrived.
async fn receive(body: Body, path: &std::path::Path, max: u64) -> Result<u64, AppError> {
    let io = |op: &'static str, e: std::io::Error| storage_error(StorageError::io(op, path, e));
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| io("create", e))?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::bad_request(
                StatusCode::BAD_REQUEST,
                "upload_interrupted",
                format!("the upload broke off after {total} bytes: {e}"),
            )
        })?;
        total += chunk.len() as u64;
        if total > max {
            return Err(too_large(max));
        }
        out.write_all(&chunk).await.map_err(|e| io("write", e))?;
    }
    out.flush().await.map_err(|e| io("write", e))?;
    Ok(total)
}

#[cfg(test)]
#[path = "uploads_tests.rs"]
mod tests;
