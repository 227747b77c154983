//! Video on demand: videos, their uploads, the job graph that turns a source into a ladder, and
//! the workers that run it. See docs/VOD.md.
//!
//! The video row (main database) is what users see; the work is jobs in the durable queue (its
//! own SQLite file), which refer to videos by id. Objects (sources, intermediates, outputs) live
//! in [`ferrocast_storage::Storage`]; scratch files of running steps under `DATA_DIR/work`.

pub mod cli;
pub mod media;
mod steps;
pub mod tokens;
mod worker;

use crate::config_vod::{StorageChoice, VodConfig};
use crate::http::error::AppError;
use axum::http::StatusCode;
use ferrocast_db::{Store, VideoRecord, VideoState, VideoUpdate};
use ferrocast_jobs::{JobId, NewJob, Queue};
use ferrocast_ladder::Ladder;
use ferrocast_storage::{Storage, StorageConfig, TusStore};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokens::Purpose;
use tokio::sync::{broadcast, watch, Notify};
use tracing::{info, warn};

pub use worker::spawn_workers;

/// Job kinds, one per step of a video's graph.
pub mod kind {
    /// Probe and validate the source; enqueues the rest of the graph.
    pub const PROBE: &str = "vod.probe";
    /// Encode some of the renditions (one decode of the source).
    pub const TRANSCODE: &str = "vod.transcode";
    /// CMAF segments, HLS playlists, DASH manifest, quality control.
    pub const PACKAGE: &str = "vod.package";
    /// The MP4 download.
    pub const MP4: &str = "vod.mp4";
    /// Poster, sprite and its WebVTT index.
    pub const THUMBS: &str = "vod.thumbs";
    /// Moves the outputs into place and marks the video ready.
    pub const PUBLISH: &str = "vod.publish";
    /// Every kind a VOD worker takes.
    pub const ALL: [&str; 6] = [PROBE, TRANSCODE, PACKAGE, MP4, THUMBS, PUBLISH];
}

/// How long a worker's lease lasts without a heartbeat: a killed worker's job is taken over
/// after at most this long.
pub const LEASE: Duration = Duration::from_secs(15);

/// What an upload may write: one video's source.
#[derive(Debug, Clone)]
pub struct UploadGrant {
    /// The video.
    pub video_id: String,
    /// Where the bytes go in storage.
    pub key: String,
    /// Size cap.
    pub max_bytes: u64,
}

/// The storage key of a video's uploaded source.
pub fn source_key(id: &str) -> String {
    format!("sources/{id}")
}

/// Where a presigned S3 upload lands before `complete` moves it to [`source_key`]; moving it
/// makes the presigned URL single-use (a second PUT lands where nothing reads).
fn presigned_key(id: &str) -> String {
    format!("uploads/{id}")
}

/// The storage prefix of a video's intermediates.
pub fn tmp_prefix(id: &str) -> String {
    format!("tmp/{id}/")
}

/// The storage prefix of a video's published outputs.
pub fn vod_prefix(id: &str) -> String {
    format!("vod/{id}/")
}

/// A new video id: `v` and 16 hex digits.
pub fn new_video_id() -> String {
    format!("v{:016x}", rand::random::<u64>())
}

/// Whether `id` has the shape of a video id (checked before it reaches a key or a query).
pub fn valid_video_id(id: &str) -> bool {
    id.len() == 17
        && id.starts_with('v')
        && id[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The upload target handed out at creation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UploadTarget {
    /// HTTP method.
    pub method: &'static str,
    /// Absolute URL, or a path on this server (the API makes it absolute).
    pub url: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
    /// Size cap in bytes.
    pub max_bytes: u64,
    /// Headers the request must carry.
    pub headers: BTreeMap<String, String>,
    /// Whether `POST /api/v1/videos/ID/complete` must follow the PUT.
    pub complete_required: bool,
}

/// Video on demand: shared by the HTTP handlers and the workers.
pub struct Vod {
    /// Resolved configuration.
    pub config: VodConfig,
    db: Store,
    queue: Queue,
    storage: Storage,
    tus: TusStore,
    work_dir: PathBuf,
    secret: Vec<u8>,
    ladder: Ladder,
    tools: media::MediaTools,
    /// Video ids whose row changed, for the event streams.
    events: broadcast::Sender<String>,
    /// Wakes idle workers when a job is enqueued here.
    wake: Notify,
    /// Running jobs' cancel switches, so a cancel kills their ffmpeg at once.
    running: Mutex<HashMap<JobId, watch::Sender<bool>>>,
    /// Per-video progress of its parallel transcode jobs.
    progress: Mutex<HashMap<String, BTreeMap<u32, f32>>>,
    /// This process's worker name.
    worker_name: String,
}

impl Vod {
    /// Opens storage, the job queue and the scratch directory under `data_dir`.
    pub async fn open(
        config: VodConfig,
        data_dir: &Path,
        db: Store,
        ladder: Ladder,
        tools: media::MediaTools,
    ) -> anyhow::Result<Arc<Self>> {
        let storage = Storage::open(&match &config.storage {
            StorageChoice::Local => StorageConfig::Local {
                root: data_dir.join("media"),
            },
            StorageChoice::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => StorageConfig::S3 {
                bucket: bucket.clone(),
                region: region.clone(),
                endpoint: endpoint.clone(),
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                allow_http: endpoint.as_deref().is_some_and(|e| e.starts_with("http:")),
            },
        })?;
        let work_dir = data_dir.join("work");
        std::fs::create_dir_all(work_dir.join("jobs"))?;
        let tus = TusStore::open(work_dir.join("tus"), config.upload_url_ttl)?;
        let queue = Queue::open_sqlite(&data_dir.join("jobs.db")).await?;
        let secret = crate::auth::load_or_create_secret(&data_dir.join("vod-secret"))?;
        let (events, _) = broadcast::channel(256);
        let worker_name = format!(
            "{}:{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into()),
            std::process::id()
        );
        info!(
            storage = storage.kind(),
            workers = config.workers,
            "video on demand ready"
        );
        Ok(Arc::new(Self {
            config,
            db,
            queue,
            storage,
            tus,
            work_dir,
            secret: secret.into_bytes(),
            ladder,
            tools,
            events,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            worker_name,
        }))
    }

    /// Object storage.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Resumable uploads in progress.
    pub fn tus(&self) -> &TusStore {
        &self.tus
    }

    /// `DATA_DIR/work`: scratch space, never inside the object store.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The job queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Subscribes to "this video changed" notices.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.events.subscribe()
    }

    fn changed(&self, id: &str) {
        let _ = self.events.send(id.to_owned());
    }

    /// A playback token for a private video, valid for the configured time.
    pub fn playback_token(&self, id: &str) -> (String, i64) {
        let exp = crate::clock::unix_ms() / 1000 + self.config.playback_token_ttl.as_secs() as i64;
        (tokens::issue(&self.secret, Purpose::Playback, id, exp), exp)
    }

    /// Whether `token` grants playback of video `id` now.
    pub fn playback_allowed(&self, id: &str, token: Option<&str>) -> bool {
        token.is_some_and(|t| {
            tokens::verify(
                &self.secret,
                Purpose::Playback,
                t,
                crate::clock::unix_ms() / 1000,
            )
            .is_ok_and(|v| v == id)
        })
    }

    /// Records a new video and hands out its upload target.
    pub async fn create_video(
        &self,
        owner: Option<i64>,
        title: &str,
        private: bool,
    ) -> Result<(VideoRecord, UploadTarget, String), AppError> {
        let id = new_video_id();
        let now = crate::clock::unix_ms();
        let max = self.config.max_upload_bytes;
        let video = self
            .db
            .create_video(&id, owner, title, private, max as i64, now)
            .await?;
        let exp_s = now / 1000 + self.config.upload_url_ttl.as_secs() as i64;
        let token = tokens::issue(&self.secret, Purpose::Upload, &id, exp_s);
        let presigned = self
            .storage
            .presign_put(&presigned_key(&id), self.config.upload_url_ttl)
            .await
            .map_err(AppError::internal)?;
        let (url, complete_required) = match presigned {
            Some(url) => (url, true),
            None => (format!("/api/v1/uploads/direct/{token}"), false),
        };
        let target = UploadTarget {
            method: "PUT",
            url,
            expires_at: crate::clock::rfc3339(exp_s * 1000),
            max_bytes: max,
            headers: BTreeMap::new(),
            complete_required,
        };
        metrics::counter!(crate::metrics::VOD_VIDEOS_CREATED).increment(1);
        info!(video = %id, private, "video created");
        Ok((video, target, token))
    }

    fn grant_for(&self, token: &str) -> Result<String, AppError> {
        tokens::verify(
            &self.secret,
            Purpose::Upload,
            token,
            crate::clock::unix_ms() / 1000,
        )
        .map_err(|e| match e {
            tokens::TokenError::Expired => AppError::bad_request(
                StatusCode::FORBIDDEN,
                "upload_expired",
                "this upload URL has expired; create the video again",
            ),
            tokens::TokenError::Invalid => AppError::bad_request(
                StatusCode::FORBIDDEN,
                "invalid_upload_token",
                "this upload URL is not valid",
            ),
        })
    }

    async fn claim(&self, id: &str) -> Result<UploadGrant, AppError> {
        let video = self
            .db
            .get_video(id)
            .await?
            .ok_or_else(|| AppError::not_found("video"))?;
        let now = crate::clock::unix_ms();
        // A hold older than an upload URL's life belongs to an upload abandoned without a
        // DELETE (its tus record expires at the same age).
        let stale = now - self.config.upload_url_ttl.as_millis() as i64;
        if !self.db.claim_video_upload(id, now, stale).await? {
            return Err(AppError::bad_request(
                StatusCode::CONFLICT,
                "upload_used",
                match video.state {
                    VideoState::Uploading => "another upload of this video is in progress",
                    _ => "this video was already uploaded; the upload URL is single-use",
                },
            ));
        }
        Ok(UploadGrant {
            video_id: id.to_owned(),
            key: source_key(id),
            max_bytes: video.max_bytes.max(0) as u64,
        })
    }

    /// Checks a direct (local backend) upload URL's token and takes the video's upload slot.
    pub async fn direct_upload_begin(&self, token: &str) -> Result<UploadGrant, AppError> {
        let id = self.grant_for(token)?;
        self.claim(&id).await
    }

    /// Checks a tus creation request: metadata `video` and `token` from the video's creation,
    /// and the announced length against the cap.
    pub async fn tus_authorize(
        &self,
        metadata: &BTreeMap<String, String>,
        length: u64,
    ) -> Result<UploadGrant, AppError> {
        let token = metadata.get("token").ok_or_else(|| {
            AppError::bad_request(
                StatusCode::FORBIDDEN,
                "invalid_upload_token",
                "Upload-Metadata needs the video's upload token (key \"token\")",
            )
        })?;
        let id = self.grant_for(token)?;
        if metadata.get("video").is_some_and(|v| *v != id) {
            return Err(AppError::bad_request(
                StatusCode::FORBIDDEN,
                "invalid_upload_token",
                "the upload token belongs to another video",
            ));
        }
        let video = self
            .db
            .get_video(&id)
            .await?
            .ok_or_else(|| AppError::not_found("video"))?;
        if length > video.max_bytes.max(0) as u64 {
            return Err(too_large(video.max_bytes.max(0) as u64));
        }
        self.claim(&id).await
    }

    /// The source is in storage at `grant.key`: the video is queued and its first job enqueued.
    pub async fn upload_finished(&self, grant: &UploadGrant, size: u64) -> Result<(), AppError> {
        let now = crate::clock::unix_ms();
        if !self
            .db
            .video_uploaded(&grant.video_id, size as i64, now)
            .await?
        {
            return Err(AppError::bad_request(
                StatusCode::CONFLICT,
                "upload_used",
                "this video was already uploaded",
            ));
        }
        self.enqueue_probe(&grant.video_id).await?;
        metrics::counter!(crate::metrics::VOD_UPLOADS).increment(1);
        metrics::counter!(crate::metrics::VOD_UPLOAD_BYTES).increment(size);
        info!(video = %grant.video_id, bytes = size, "upload complete, queued");
        self.changed(&grant.video_id);
        Ok(())
    }

    /// An upload broke off: the slot is given back so the client may try again.
    pub async fn upload_failed(&self, grant: &UploadGrant, reason: &str) {
        warn!(video = %grant.video_id, reason, "upload failed");
        metrics::counter!(crate::metrics::VOD_UPLOAD_ERRORS).increment(1);
        if let Err(error) = self
            .db
            .release_video_upload(&grant.video_id, crate::clock::unix_ms())
            .await
        {
            warn!(video = %grant.video_id, %error, "releasing the upload slot");
        }
    }

    /// `POST /api/v1/videos/ID/complete` after a presigned S3 PUT: checks the object, moves it
    /// to the source key, queues the work.
    pub async fn complete_presigned(&self, video: &VideoRecord) -> Result<(), AppError> {
        if video.state != VideoState::Uploading {
            return Err(AppError::bad_request(
                StatusCode::CONFLICT,
                "upload_used",
                "this video was already uploaded",
            ));
        }
        let key = presigned_key(&video.id);
        let info = self
            .storage
            .head(&key)
            .await
            .map_err(AppError::internal)?
            .ok_or_else(|| {
                AppError::bad_request(
                    StatusCode::CONFLICT,
                    "not_uploaded",
                    "nothing was uploaded to this video's upload URL yet",
                )
            })?;
        let max = video.max_bytes.max(0) as u64;
        let grant = self.claim(&video.id).await?;
        if info.size > max {
            let _ = self.storage.delete(&key).await;
            self.fail_video(
                &video.id,
                "too_large",
                &format!(
                    "The upload is {} bytes; the limit is {max} bytes.",
                    info.size
                ),
            )
            .await;
            return Err(too_large(max));
        }
        if let Err(e) = self.storage.rename(&key, &grant.key).await {
            self.upload_failed(&grant, &e.to_string()).await;
            return Err(AppError::internal(e));
        }
        self.upload_finished(&grant, info.size).await
    }

    async fn enqueue_probe(&self, id: &str) -> Result<(), AppError> {
        let mut job = NewJob::new(kind::PROBE, serde_json::json!({ "video": id }));
        job.idempotency_key = Some(format!("{id}:probe"));
        job.max_attempts = self.config.max_attempts;
        job.timeout_ms = Some(600_000);
        self.queue
            .enqueue(&job, crate::clock::unix_ms())
            .await
            .map_err(AppError::internal)?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Marks a video failed with a reason a person understands.
    pub async fn fail_video(&self, id: &str, code: &str, reason: &str) {
        let update = VideoUpdate {
            state: Some(VideoState::Failed),
            error: Some(Some((reason.to_owned(), code.to_owned()))),
            ..VideoUpdate::default()
        };
        match self
            .db
            .update_video(id, &update, crate::clock::unix_ms())
            .await
        {
            Ok(_) => {
                metrics::counter!(crate::metrics::VOD_VIDEOS_FAILED, "code" => code.to_owned())
                    .increment(1);
                warn!(video = %id, code, reason, "video failed");
            }
            Err(error) => warn!(video = %id, %error, "recording a failure"),
        }
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.changed(id);
    }

    /// Deletes a video: its jobs are cancelled, its objects and row removed.
    pub async fn delete_video(&self, id: &str) -> Result<(), AppError> {
        let now = crate::clock::unix_ms();
        for job in self.jobs_of(id).await? {
            if !job.state.is_terminal() {
                let _ = self.cancel_job(job.id, "video deleted", now).await;
            }
        }
        for prefix in [vod_prefix(id), tmp_prefix(id)] {
            self.storage
                .delete_prefix(&prefix)
                .await
                .map_err(AppError::internal)?;
        }
        for key in [source_key(id), presigned_key(id)] {
            self.storage
                .delete(&key)
                .await
                .map_err(AppError::internal)?;
        }
        self.db.delete_video(id).await?;
        self.changed(id);
        Ok(())
    }

    /// The jobs of one video (every one is keyed `ID:step`), oldest first.
    pub async fn jobs_of(&self, id: &str) -> Result<Vec<ferrocast_jobs::Job>, AppError> {
        self.queue
            .list_by_key_prefix(&format!("{id}:"), 1000)
            .await
            .map_err(AppError::internal)
    }

    /// Cancels a job and kills its process at once when it runs here; a worker elsewhere
    /// learns it at its next heartbeat.
    pub async fn cancel_job(
        &self,
        id: JobId,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, ferrocast_jobs::JobError> {
        let job = self.queue.get(id).await?;
        let done = self.queue.cancel(id, reason, now_ms).await?;
        if let Some(stop) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            let _ = stop.send(true);
        }
        if let Some(video) = job.as_ref().and_then(|j| j.payload.get("video")?.as_str()) {
            if done {
                self.fail_video(
                    video,
                    "cancelled",
                    &format!("Processing was cancelled: {reason}."),
                )
                .await;
            }
        }
        Ok(done)
    }

    /// A retried or redriven job puts its video back in the queue, with the jobs of its graph
    /// that its death cancelled (they wait for it again).
    pub async fn job_retried(&self, id: JobId) {
        let Ok(Some(job)) = self.queue.get(id).await else {
            return;
        };
        if let Some(video) = job.payload.get("video").and_then(|v| v.as_str()) {
            let now = crate::clock::unix_ms();
            for other in self.jobs_of(video).await.unwrap_or_default() {
                if other.state == ferrocast_jobs::JobState::Cancelled {
                    if let Err(error) = self.queue.retry(other.id, now).await {
                        warn!(job = other.id.0, %error, "reviving a cancelled dependent");
                    }
                }
            }
            let update = VideoUpdate {
                state: Some(VideoState::Queued),
                error: Some(None),
                ..VideoUpdate::default()
            };
            let _ = self
                .db
                .update_video(video, &update, crate::clock::unix_ms())
                .await;
            self.changed(video);
        }
        self.wake.notify_waiters();
    }
}

fn too_large(max: u64) -> AppError {
    AppError::bad_request(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the upload is larger than the limit of {max} bytes"),
    )
}
