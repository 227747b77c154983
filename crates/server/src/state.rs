//! What every handler and task shares.

use crate::auth;
use crate::config::Config;
use crate::live::Live;
use ferrocast_db::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Resolved configuration.
    pub config: Arc<Config>,
    /// The data layer.
    pub db: Store,
    /// Live channels.
    pub live: Arc<Live>,
    /// The admin bearer token.
    pub admin_token: Arc<str>,
    /// Metrics renderer (absent in unit tests).
    pub metrics: Option<PrometheusHandle>,
    /// True once listeners are bound and until shutdown begins.
    pub ready: Arc<AtomicBool>,
    /// The bound HTTP port (for URLs).
    pub http_port: u16,
    /// The bound RTMP port (for URLs).
    pub rtmp_port: u16,
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
