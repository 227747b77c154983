//! What every handler and task shares.

use crate::auth;
use crate::chat::Chat;
use crate::config::Config;
use crate::live::Live;
use axum::http::HeaderValue;
use ferrocast_db::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Shared server state: one `Arc`, so handing it to every request costs one refcount.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the shared state.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// Resolved configuration.
    pub config: Arc<Config>,
    /// The data layer.
    pub db: Store,
    /// Live channels.
    pub live: Arc<Live>,
    /// Chat rooms.
    pub chat: Arc<Chat>,
    /// The transcoding ladder: the server's, the channels' own, the encoder.
    pub transcode: Arc<crate::transcode::TranscodeConfig>,
    /// The admin bearer token.
    pub admin_token: Arc<str>,
    /// Metrics renderer (absent in unit tests).
    pub metrics: Option<PrometheusHandle>,
    /// True once listeners are bound and until shutdown begins.
    pub ready: AtomicBool,
    /// `Cache-Control` of live playlists, derived from the segment duration once.
    pub playlist_cache_control: HeaderValue,
    /// `Cache-Control` of playlists answering a blocking reload (`_HLS_msn`) once it was reached.
    pub blocking_cache_control: HeaderValue,
    /// The bound HTTP port (for URLs).
    pub http_port: u16,
    /// The bound RTMP port (for URLs).
    pub rtmp_port: u16,
    /// Viewer telemetry and counts.
    pub qoe: crate::qoe::Qoe,
    /// Directory thumbnails.
    pub thumbnails: crate::thumbnail::Thumbnails,
    /// Video on demand (absent in unit tests).
    pub vod: Option<Arc<crate::vod::Vod>>,
}

impl AppState {
    /// The channel a stream key belongs to, confirmed in constant time.
    pub async fn channel_for_key(
        &self,
        key: &str,
    ) -> Result<Option<String>, ferrocast_db::DbError> {
        if key.is_empty() || key.len() > auth::MAX_STREAM_KEY_LEN {
            return Ok(None);
        }
        let hash = auth::hash_key(key);
        Ok(self
            .db
            .channel_by_key_hash(&hash)
            .await?
            .filter(|(_, stored)| auth::secrets_equal(stored, &hash))
            .map(|(c, _)| c.name))
    }
}
