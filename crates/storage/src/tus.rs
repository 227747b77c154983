//! The server side of tus 1.0.0 resumable uploads (Core, Creation, Expiration, Termination),
//! as a store over a staging directory with no HTTP in it.
//!
//! Why: an upload interrupted at 90 % must resume at 90 %. Each upload is a data file
//! (`{id}.bin`) that PATCH bodies stream into, and a small JSON sidecar (`{id}.json`, replaced
//! atomically) holding the offset that is known to be on disk. A broken body keeps what arrived;
//! a crash loses at most what came after the last checkpoint, because the next append cuts the
//! data file back to the sidecar's offset. Time is an input (`now_ms`), so expiry is testable.
//!
//! Spec: <https://tus.io/protocols/resumable-upload> (1.0.0).

use crate::error::io_is_disk_full;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

#[path = "tus_wire.rs"]
mod wire;
pub use wire::{format_metadata, http_date, parse_metadata, MAX_METADATA_LEN, MAX_METADATA_PAIRS};

/// Bytes written between two checkpoints of the offset (data synced, then the sidecar).
pub const CHECKPOINT_BYTES: u64 = 16 << 20;
/// Write buffer per upload in flight.
const WRITE_BUFFER: usize = 1 << 20;
/// Length of an upload id (lowercase hex).
const ID_LEN: usize = 32;

/// Why a tus operation failed; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TusError {
    /// No such upload (or it was terminated or swept): 404.
    #[error("upload not found")]
    NotFound,
    /// The upload expired: 410.
    #[error("upload expired")]
    Expired,
    /// `Upload-Offset` is not the upload's offset: 409.
    #[error("Upload-Offset is {got} but the upload is at offset {expected}")]
    Conflict {
        /// The upload's offset.
        expected: u64,
        /// The offset the request gave.
        got: u64,
    },
    /// Another request is writing this upload: 423.
    #[error("another request is writing this upload")]
    Locked,
    /// The body goes past `Upload-Length`: 413.
    #[error("the body goes past Upload-Length ({length} bytes); offset is now {offset}")]
    BeyondLength {
        /// The declared length.
        length: u64,
        /// The offset kept.
        offset: u64,
    },
    /// The request body broke midway; what arrived is kept.
    #[error("the upload body was interrupted at offset {offset}: {reason}")]
    Interrupted {
        /// The offset kept.
        offset: u64,
        /// The transport's error.
        reason: String,
    },
    /// A malformed `Upload-Metadata` header: 400.
    #[error("invalid Upload-Metadata: {0}")]
    InvalidMetadata(String),
    /// The disk is full: 507.
    #[error("no space left on the device while writing {}: free disk space", .path.display())]
    DiskFull {
        /// The file.
        path: PathBuf,
    },
    /// A file operation failed: 500.
    #[error("could not {op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl TusError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        if io_is_disk_full(&source) {
            Self::DiskFull { path: path.into() }
        } else {
            Self::Io {
                op,
                path: path.into(),
                source,
            }
        }
    }

    /// True when the device is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull { .. })
    }
}

/// What is known about an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TusInfo {
    /// The upload id (32 lowercase hex characters).
    pub id: String,
    /// Bytes received and on disk.
    pub offset: u64,
    /// `Upload-Length`.
    pub length: u64,
    /// `Upload-Metadata`, decoded (plus whatever the server stored there).
    pub metadata: BTreeMap<String, String>,
    /// When it expires unless written to, Unix milliseconds.
    pub expires_at_ms: u64,
    /// Every byte arrived (`offset == length`).
    pub complete: bool,
    /// The data was handed on ([`TusStore::mark_finished`]); only the record remains.
    pub finished: bool,
}

impl TusInfo {
    /// True once `now_ms` reached the expiry.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sidecar {
    length: u64,
    offset: u64,
    metadata: BTreeMap<String, String>,
    created_ms: u64,
    expires_at_ms: u64,
    #[serde(default)]
    finished: bool,
}

impl Sidecar {
    fn info(&self, id: &str) -> TusInfo {
        TusInfo {
            id: id.into(),
            offset: self.offset,
            length: self.length,
            metadata: self.metadata.clone(),
            expires_at_ms: self.expires_at_ms,
            complete: self.offset == self.length,
            finished: self.finished,
        }
    }
}

/// Exclusive hold on one upload; released when dropped.
#[derive(Debug)]
pub struct TusLock {
    id: String,
    held: Arc<Mutex<HashSet<String>>>,
}

impl TusLock {
    /// The upload id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for TusLock {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// The uploads in one staging directory.
#[derive(Debug, Clone)]
pub struct TusStore {
    dir: PathBuf,
    expiry: Duration,
    held: Arc<Mutex<HashSet<String>>>,
}

/// True for ids this store hands out: path-safe by construction.
fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TusStore {
    /// Opens (creating) the staging directory; uploads expire `expiry` after their last write.
    pub fn open(dir: PathBuf, expiry: Duration) -> Result<Self, TusError> {
        std::fs::create_dir_all(&dir).map_err(|e| TusError::io("create directory", &dir, e))?;
        Ok(Self {
            dir,
            expiry,
            held: Arc::default(),
        })
    }

    /// How long an upload lives after its last write.
    pub fn expiry(&self) -> Duration {
        self.expiry
    }

    fn sidecar_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The data file of an upload (valid ids only; it may not exist).
    pub fn data_path(&self, id: &str) -> Option<PathBuf> {
        valid_id(id).then(|| self.dir.join(format!("{id}.bin")))
    }

    async fn read_sidecar(&self, id: &str) -> Result<Option<Sidecar>, TusError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let path = self.sidecar_path(id);
        match tokio::fs::read(&path).await {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| TusError::io("parse", &path, io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TusError::io("read", &path, e)),
        }
    }

    /// Writes the sidecar to a temporary file, syncs it and renames it over the old one.
    async fn write_sidecar(&self, id: &str, s: &Sidecar) -> Result<(), TusError> {
        let path = self.sidecar_path(id);
        let tmp = self
            .dir
            .join(format!("{id}.json.tmp{}", rand::random::<u32>()));
        let json = serde_json::to_vec(s).map_err(|e| TusError::io("encode", &path, e.into()))?;
        let result = async {
            let mut f = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| TusError::io("create", &tmp, e))?;
            f.write_all(&json)
                .await
                .map_err(|e| TusError::io("write", &tmp, e))?;
            f.sync_all()
                .await
                .map_err(|e| TusError::io("sync", &tmp, e))?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| TusError::io("rename", &path, e))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Creates an upload of `length` bytes (tus Creation); its data file starts empty.
    pub async fn create(
        &self,
        length: u64,
        metadata: BTreeMap<String, String>,
        now_ms: u64,
    ) -> Result<TusInfo, TusError> {
        let id = format!("{:032x}", rand::random::<u128>());
        let side = Sidecar {
            length,
            offset: 0,
            metadata,
            created_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(millis(self.expiry)),
            finished: false,
        };
        // The sidecar first: a data file without one is debris that the sweep removes.
        self.write_sidecar(&id, &side).await?;
        let data = self.dir.join(format!("{id}.bin"));
        if let Err(e) = tokio::fs::File::create(&data).await {
            let _ = tokio::fs::remove_file(self.sidecar_path(&id)).await;
            return Err(TusError::io("create", &data, e));
        }
        Ok(side.info(&id))
    }

    /// The upload's state; `None` when unknown (expired ones are still returned: check
    /// [`TusInfo::is_expired`]).
    pub async fn info(&self, id: &str) -> Result<Option<TusInfo>, TusError> {
        Ok(self.read_sidecar(id).await?.map(|s| s.info(id)))
    }

    /// Takes the upload's lock; [`TusError::Locked`] when another request holds it.
    pub fn try_lock(&self, id: &str) -> Result<TusLock, TusError> {
        if !valid_id(id) {
            return Err(TusError::NotFound);
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if !held.insert(id.to_owned()) {
            return Err(TusError::Locked);
        }
        Ok(TusLock {
            id: id.to_owned(),
            held: Arc::clone(&self.held),
        })
    }

    /// Appends a PATCH body at `expected_offset` (locks the upload for the duration).
    pub async fn append<S, E>(
        &self,
        id: &str,
        expected_offset: u64,
        body: S,
        now_ms: u64,
    ) -> Result<TusInfo, TusError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Display,
    {
        let lock = self.try_lock(id)?;
        self.append_locked(&lock, expected_offset, body, now_ms)
            .await
    }

    /// Appends a PATCH body under a lock already held: streams it to the data file, refusing
    /// a wrong offset and bytes past the length; keeps what arrived when the body breaks, and
    /// persists the new offset. Each write moves the expiry to `now_ms + expiry`.
    pub async fn append_locked<S, E>(
        &self,
        lock: &TusLock,
        expected_offset: u64,
        body: S,
        now_ms: u64,
    ) -> Result<TusInfo, TusError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Display,
    {
        let id = lock.id.as_str();
        let mut side = self.read_sidecar(id).await?.ok_or(TusError::NotFound)?;
        if now_ms >= side.expires_at_ms {
            return Err(TusError::Expired);
        }
        // tus Core: "If the offsets do not match, the Server MUST respond with the
        // 409 Conflict status without modifying the upload resource."
        if expected_offset != side.offset {
            return Err(TusError::Conflict {
                expected: side.offset,
                got: expected_offset,
            });
        }
        let mut body = std::pin::pin!(body);
        if side.offset == side.length {
            // Nothing more may arrive; an empty body just asks for the state again.
            while let Some(item) = body.next().await {
                if item.is_ok_and(|c| !c.is_empty()) {
                    return Err(TusError::BeyondLength {
                        length: side.length,
                        offset: side.offset,
                    });
                }
            }
            return Ok(side.info(id));
        }
        let path = self.dir.join(format!("{id}.bin"));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => TusError::NotFound,
                _ => TusError::io("open", &path, e),
            })?;
        // Bytes past the persisted offset were never acknowledged (a crash mid-write): drop them.
        file.set_len(side.offset)
            .await
            .map_err(|e| TusError::io("truncate", &path, e))?;
        file.seek(io::SeekFrom::Start(side.offset))
            .await
            .map_err(|e| TusError::io("seek", &path, e))?;
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut durable = side.offset;
        let mut outcome: Result<(), TusError> = Ok(());
        while let Some(item) = body.next().await {
            let chunk = match item {
                Ok(c) => c,
                Err(e) => {
                    outcome = Err(TusError::Interrupted {
                        offset: 0,
                        reason: e.to_string(),
                    });
                    break;
                }
            };
            if chunk.len() as u64 > side.length - side.offset {
                outcome = Err(TusError::BeyondLength {
                    length: side.length,
                    offset: 0,
                });
                break;
            }
            if let Err(e) = out.write_all(&chunk).await {
                outcome = Err(TusError::io("write", &path, e));
                break;
            }
            side.offset += chunk.len() as u64;
            if side.offset - durable >= CHECKPOINT_BYTES {
                match sync(&mut out, &path).await {
                    Ok(()) => {
                        self.write_sidecar(id, &side).await?;
                        durable = side.offset;
                    }
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
        }
        if let Err(e) = sync(&mut out, &path).await {
            // Unknown how much reached the disk: fall back to the last checkpoint.
            side.offset = durable;
            if outcome.is_ok() {
                outcome = Err(e);
            }
        }
        side.expires_at_ms = now_ms.saturating_add(millis(self.expiry));
        self.write_sidecar(id, &side).await?;
        match outcome {
            Ok(()) => Ok(side.info(id)),
            Err(TusError::Interrupted { reason, .. }) => Err(TusError::Interrupted {
                offset: side.offset,
                reason,
            }),
            Err(TusError::BeyondLength { length, .. }) => Err(TusError::BeyondLength {
                length,
                offset: side.offset,
            }),
            Err(e) => Err(e),
        }
    }

    /// Records that a complete upload's data was handed on, and removes the data file if it is
    /// still there; the record stays (HEAD keeps answering) until it expires.
    pub async fn mark_finished(&self, lock: &TusLock, now_ms: u64) -> Result<TusInfo, TusError> {
        let id = lock.id.as_str();
        let mut side = self.read_sidecar(id).await?.ok_or(TusError::NotFound)?;
        if side.offset != side.length {
            return Err(TusError::Conflict {
                expected: side.length,
                got: side.offset,
            });
        }
        side.finished = true;
        side.expires_at_ms = now_ms.saturating_add(millis(self.expiry));
        self.write_sidecar(id, &side).await?;
        remove_if_present(&self.dir.join(format!("{id}.bin"))).await?;
        Ok(side.info(id))
    }

    /// Deletes an upload (tus Termination); [`TusError::Locked`] while a PATCH writes it.
    pub async fn terminate(&self, id: &str) -> Result<(), TusError> {
        let _lock = self.try_lock(id)?;
        let sidecar = self.sidecar_path(id);
        match tokio::fs::remove_file(&sidecar).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(TusError::NotFound),
            Err(e) => return Err(TusError::io("remove", &sidecar, e)),
        }
        remove_if_present(&self.dir.join(format!("{id}.bin"))).await
    }

    /// Removes uploads whose expiry passed (and unreadable records, stray data and temporary
    /// files); returns how many uploads went. Uploads being written are left alone.
    pub async fn sweep_expired(&self, now_ms: u64) -> Result<usize, TusError> {
        let mut rd = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| TusError::io("list", &self.dir, e))?;
        let mut names = Vec::new();
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| TusError::io("list", &self.dir, e))?
        {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        let mut swept = 0;
        for name in &names {
            let path = self.dir.join(name);
            if let Some(id) = name.strip_suffix(".json").filter(|id| valid_id(id)) {
                let Ok(_lock) = self.try_lock(id) else {
                    continue;
                };
                let expired = match self.read_sidecar(id).await {
                    Ok(Some(s)) => now_ms >= s.expires_at_ms,
                    Ok(None) => false,
                    Err(e) => {
                        tracing::warn!(upload = id, error = %e, "removing an unreadable tus record");
                        true
                    }
                };
                if expired {
                    remove_if_present(&path).await?;
                    remove_if_present(&self.dir.join(format!("{id}.bin"))).await?;
                    swept += 1;
                }
            } else if let Some(id) = name.strip_suffix(".bin").filter(|id| valid_id(id)) {
                // Checked now, not from the listing: `create` writes the record first.
                let Ok(_lock) = self.try_lock(id) else {
                    continue;
                };
                let orphan = !tokio::fs::try_exists(self.sidecar_path(id))
                    .await
                    .unwrap_or(true);
                if orphan {
                    remove_if_present(&path).await?;
                }
            } else if name.contains(".json.tmp") {
                let old = tokio::fs::metadata(&path)
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(3600));
                if old {
                    remove_if_present(&path).await?;
                }
            }
        }
        Ok(swept)
    }
}

async fn sync(
    out: &mut tokio::io::BufWriter<tokio::fs::File>,
    path: &Path,
) -> Result<(), TusError> {
    out.flush()
        .await
        .map_err(|e| TusError::io("write", path, e))?;
    out.get_mut()
        .sync_data()
        .await
        .map_err(|e| TusError::io("sync", path, e))
}

async fn remove_if_present(path: &Path) -> Result<(), TusError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TusError::io("remove", path, e)),
    }
}

#[cfg(test)]
#[path = "tus_tests.rs"]
mod tests;
