//! HTTP: `router(state) -> Router` with the API, the HLS origin and the operations endpoints.

pub mod api;
pub mod chain_body;
pub mod chat;
pub mod directory;
pub mod error;
pub mod jobs;
pub mod openapi;
pub mod ops;
pub mod origin;
pub mod serve;
pub mod uploads;
pub mod videos;
pub mod vod;
pub mod web;

use crate::state::AppState;
use axum::Router;

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(chat::routes())
        .merge(origin::routes())
        .merge(ops::routes())
        .merge(openapi::routes())
        .merge(directory::routes())
        .merge(videos::routes())
        .merge(jobs::routes())
        .merge(vod::routes())
        .merge(uploads::routes())
        .merge(web::routes())
        .fallback(|| async { error::AppError::not_found("route") })
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .with_state(state)
}
