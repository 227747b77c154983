//! Operations endpoints: health, readiness and Prometheus metrics.

use crate::metrics as m;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::atomic::Ordering;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

/// Alive: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready: listeners are up, the database answers, and the server is not shutting down.
async fn readyz(State(state): State<AppState>) -> Response {
    let db_ok = state.db.ping().await.is_ok();
    let ready = state.ready.load(Ordering::Relaxed);
    let live = state.live.live_count();
    let body =
        serde_json::json!({ "ready": ready && db_ok, "database": db_ok, "live_channels": live });
    let status = if ready && db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    metrics::gauge!(m::LIVE_HELD_BYTES).set(state.live.held_bytes() as f64);
    let body = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
