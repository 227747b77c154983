//! Videos on demand: the user-visible record of each upload and its processing.

use crate::{DbError, Store};
use serde::Serialize;

/// Where a video is in its life, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoState {
    /// Waiting for its bytes.
    Uploading,
    /// Uploaded; its jobs wait for a worker.
    Queued,
    /// A worker is on it (`progress` tells how far).
    Processing,
    /// Playable.
    Ready,
    /// Refused or out of retries (`error` says why).
    Failed,
}

impl VideoState {
    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoState::Uploading => "uploading",
            VideoState::Queued => "queued",
            VideoState::Processing => "processing",
            VideoState::Ready => "ready",
            VideoState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "uploading" => VideoState::Uploading,
            "queued" => VideoState::Queued,
            "processing" => VideoState::Processing,
            "ready" => VideoState::Ready,
            "failed" => VideoState::Failed,
            _ => return None,
        })
    }
}

/// A video as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoRecord {
    /// `v` + 16 hex digits.
    pub id: String,
    /// The account that created it (`None`: the admin token, or a deleted account).
    pub owner_id: Option<i64>,
    /// Title.
    pub title: String,
    /// True when playback needs a signed token.
    pub private: bool,
    /// State.
    pub state: VideoState,
    /// 0 to 1 while processing.
    pub progress: f64,
    /// Why it failed, for people.
    pub error: Option<String>,
    /// Why it failed, for programs (`not_video`, `too_long`, ...).
    pub error_code: Option<String>,
    /// Upload size cap.
    pub max_bytes: i64,
    /// Size of the uploaded source.
    pub source_bytes: Option<i64>,
    /// Duration of the source in seconds, once probed.
    pub duration_s: Option<f64>,
    /// Source width, once probed.
    pub width: Option<i64>,
    /// Source height, once probed.
    pub height: Option<i64>,
    /// Renditions and other outputs as JSON text, opaque to the store.
    pub meta: Option<String>,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// Last change, unix ms.
    pub updated_at_ms: i64,
    /// When it became ready, unix ms.
    pub ready_at_ms: Option<i64>,
}

/// A change to a video: fields left `None` keep their value.
#[derive(Debug, Clone, Default)]
pub struct VideoUpdate {
    /// New state.
    pub state: Option<VideoState>,
    /// New progress (0 to 1).
    pub progress: Option<f64>,
    /// Failure reason and code; `Some(None)` clears them.
    pub error: Option<Option<(String, String)>>,
    /// Probed duration.
    pub duration_s: Option<f64>,
    /// Probed size.
    pub dimensions: Option<(i64, i64)>,
    /// Outputs JSON.
    pub meta: Option<String>,
    /// Ready time.
    pub ready_at_ms: Option<i64>,
}

impl Store {
    /// Records a new video waiting for its upload.
    pub async fn create_video(
        &self,
        id: &str,
        owner_id: Option<i64>,
        title: &str,
        private: bool,
        max_bytes: i64,
        now_ms: i64,
    ) -> Result<VideoRecord, DbError> {
        match self {
            Store::Sqlite(s) => {
                s.create_video(id, owner_id, title, private, max_bytes, now_ms)
                    .await
            }
        }
    }

    /// One video.
    pub async fn get_video(&self, id: &str) -> Result<Option<VideoRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.get_video(id).await,
        }
    }

    /// Newest first, one owner's or everyone's.
    pub async fn list_videos(
        &self,
        owner_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<VideoRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.list_videos(owner_id, limit).await,
        }
    }

    /// Takes the single upload slot of a video still `uploading`; false when another upload
    /// holds it (and took it after `stale_before_ms`: an older hold was abandoned) or the
    /// upload is over.
    pub async fn claim_video_upload(
        &self,
        id: &str,
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.claim_video_upload(id, now_ms, stale_before_ms).await,
        }
    }

    /// Gives the upload slot back after an upload broke off, so the same URL may try again.
    pub async fn release_video_upload(&self, id: &str, now_ms: i64) -> Result<(), DbError> {
        match self {
            Store::Sqlite(s) => s.release_video_upload(id, now_ms).await,
        }
    }

    /// `uploading` -> `queued` with the source's size; false when it was not `uploading`.
    pub async fn video_uploaded(&self, id: &str, bytes: i64, now_ms: i64) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.video_uploaded(id, bytes, now_ms).await,
        }
    }

    /// Applies a change; false when the video does not exist.
    pub async fn update_video(
        &self,
        id: &str,
        update: &VideoUpdate,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.update_video(id, update, now_ms).await,
        }
    }

    /// Deletes a video's row; false when it did not exist.
    pub async fn delete_video(&self, id: &str) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.delete_video(id).await,
        }
    }
}
