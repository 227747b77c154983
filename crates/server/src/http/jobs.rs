//! The job queue's operator API: list, inspect, retry, cancel, redrive the dead letter, purge.
//! Administrators only (the admin token or an administrator account).

use super::error::AppError;
use crate::accounts::Principal;
use crate::state::AppState;
use crate::vod::Vod;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrocast_jobs::{Job, JobError, JobId, JobState};
use serde::{Deserialize, Serialize};

/// The jobs routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs", get(list))
        .route("/api/v1/jobs/stats", get(stats))
        .route("/api/v1/jobs/redrive", post(redrive))
        .route("/api/v1/jobs/purge", post(purge))
        .route("/api/v1/jobs/{id}", get(show))
        .route("/api/v1/jobs/{id}/retry", post(retry))
        .route("/api/v1/jobs/{id}/cancel", post(cancel))
}

fn admin<'a>(state: &'a AppState, p: &Principal) -> Result<&'a Vod, AppError> {
    if !p.sees_all() {
        return Err(AppError::bad_request(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the job queue is for administrators",
        ));
    }
    super::videos::vod(state).map(|v| &**v)
}

fn job_error(e: JobError) -> AppError {
    match e {
        JobError::NotFound(_) => AppError::not_found("job"),
        JobError::InvalidState { .. } => {
            AppError::bad_request(StatusCode::CONFLICT, "invalid_state", e.to_string())
        }
        other => AppError::internal(other),
    }
}

/// A job as the API shows it.
#[derive(Debug, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    job: Job,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    lease_expires_at: Option<String>,
    /// Seconds from the first lease to the end (or now).
    run_seconds: Option<f64>,
    /// Ids of the jobs it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    depends_on: Option<Vec<JobId>>,
}

/// The view of a job.
pub fn job_view(job: Job, depends_on: Option<Vec<JobId>>) -> JobView {
    let now = crate::clock::unix_ms();
    JobView {
        created_at: crate::clock::rfc3339(job.created_at_ms),
        started_at: job.started_at_ms.map(crate::clock::rfc3339),
        finished_at: job.finished_at_ms.map(crate::clock::rfc3339),
        lease_expires_at: job.lease_expires_at_ms.map(crate::clock::rfc3339),
        run_seconds: job
            .started_at_ms
            .map(|s| (job.finished_at_ms.unwrap_or(now) - s).max(0) as f64 / 1000.0),
        depends_on,
        job,
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    limit: Option<u32>,
}

/// Parses a job state name, with a 400 naming the valid ones.
pub fn parse_state(s: &str) -> Result<JobState, AppError> {
    JobState::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            AppError::bad_request(
                StatusCode::BAD_REQUEST,
                "invalid_state",
                format!("state must be one of {}", names.join(", ")),
            )
        })
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let vod = admin(&state, &principal)?;
    let st = q.state.as_deref().map(parse_state).transpose()?;
    let jobs = vod
        .queue()
        .list(st, q.limit.unwrap_or(100).min(1000))
        .await
        .map_err(job_error)?;
    let views: Vec<JobView> = jobs.into_iter().map(|j| job_view(j, None)).collect();
    Ok(Json(serde_json::json!({ "jobs": views })).into_response())
}

async fn stats(State(state): State<AppState>, principal: Principal) -> Result<Response, AppError> {
    let vod = admin(&state, &principal)?;
    let stats = vod
        .queue()
        .stats(crate::clock::unix_ms())
        .await
        .map_err(job_error)?;
    let by_state: serde_json::Map<String, serde_json::Value> = stats
        .by_state
        .iter()
        .map(|(s, n)| (s.as_str().to_owned(), (*n).into()))
        .collect();
    Ok(Json(serde_json::json!({
        "by_state": by_state,
        "due": stats.due,
        "oldest_due_age_seconds": stats.oldest_ready_age_ms.map(|ms| ms as f64 / 1000.0),
    }))
    .into_response())
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let vod = admin(&state, &principal)?;
    let job = vod
        .queue()
        .get(JobId(id))
        .await
        .map_err(job_error)?
        .ok_or_else(|| AppError::not_found("job"))?;
    let deps = vod
        .queue()
        .dependencies(JobId(id))
        .await
        .map_err(job_error)?;
    Ok(Json(job_view(job, Some(deps))).into_response())
}

async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let vod = admin(&state, &principal)?;
    let new_state = vod
        .queue()
        .retry(JobId(id), crate::clock::unix_ms())
        .await
        .map_err(job_error)?;
    vod.job_retried(JobId(id)).await;
    tracing::info!(
        job = id,
        by = principal.label(),
        state = new_state.as_str(),
        "job retried"
    );
    Ok(Json(serde_json::json!({ "id": id, "state": new_state })).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct CancelBody {
    reason: Option<String>,
}

async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    body: Option<Json<CancelBody>>,
) -> Result<Response, AppError> {
    let vod = admin(&state, &principal)?;
    let reason = body
        .and_then(|Json(b)| b.reason)
        .unwrap_or_else(|| format!("cancelled by {}", principal.label()));
    let done = vod
        .cancel_job(JobId(id), &reason, crate::clock::unix_ms())
        .await
        .map_err(job_error)?;
    Ok(Json(serde_json::json!({ "id": id, "cancelled": done })).into_response())
}

async fn redrive(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, AppError> {
    let vod = admin(&state, &principal)?;
    let dead = vod
        .queue()
        .list(Some(JobState::Dead), 10_000)
        .await
        .map_err(job_error)?;
    let n = vod
        .queue()
        .redrive_dead(crate::clock::unix_ms())
        .await
        .map_err(job_error)?;
    for job in dead {
        vod.job_retried(job.id).await;
    }
    Ok(Json(serde_json::json!({ "redriven": n })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    /// Finished jobs older than this go, e.g. "7days" [default: 0s, every finished job].
    older_than: Option<String>,
}

async fn purge(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<PurgeBody>, JsonRejection>,
) -> Result<Response, AppError> {
    let vod = admin(&state, &principal)?;
    let older = match body {
        Ok(Json(PurgeBody {
            older_than: Some(s),
        })) => humantime::parse_duration(&s).map_err(|e| {
            AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_duration", e.to_string())
        })?,
        Ok(Json(PurgeBody { older_than: None })) => std::time::Duration::ZERO,
        // No body at all means every finished job; a body that does not parse is refused
        // rather than read as "everything".
        Err(JsonRejection::MissingJsonContentType(_)) => std::time::Duration::ZERO,
        Err(e) => {
            return Err(AppError::bad_request(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                e.body_text(),
            ))
        }
    };
    let before = crate::clock::unix_ms() - older.as_millis() as i64;
    let n = vod.queue().purge(before).await.map_err(job_error)?;
    Ok(Json(serde_json::json!({ "purged": n })).into_response())
}
