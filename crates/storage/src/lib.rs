//! Object storage for Ferrocast's video on demand, and the server side of tus 1.0 uploads.
//!
//! Why: sources, intermediates and published videos live under the same keys (`sources/{id}`,
//! `tmp/{id}/...`, `vod/{id}/...`; docs/VOD.md) on the local disk by default and on any
//! S3-compatible store by configuration, and the rest of the server should not care which.
//! Both backends go through [`object_store`]; every transfer streams (S3 multipart uploads with
//! a bounded number of parts in flight), so memory stays flat with multi-gigabyte files.
//!
//! Specs: Amazon S3 API (multipart upload, SigV4 query-string presigning) and
//! [tus 1.0.0](https://tus.io/protocols/resumable-upload) in [`tus`].
#![forbid(unsafe_code)]

mod error;
mod key;
mod local;
pub mod tus;
mod types;

pub use error::StorageError;
pub use key::MAX_KEY_LEN;
pub use tus::{TusError, TusInfo, TusLock, TusStore};
pub use types::{ObjectBody, ObjectInfo, StorageConfig};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use key::{check_key, check_prefix};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Size of one S3 multipart part (S3's minimum is 5 MiB); larger files use larger parts.
pub const PART_SIZE: usize = 8 << 20;
/// Parts uploading at once per file: memory per upload stays near `(this + 1) * PART_SIZE`.
pub const PART_CONCURRENCY: usize = 3;
/// S3 accepts at most this many parts in one upload.
const MAX_PARTS: u64 = 10_000;
/// Bytes read from a file per step when feeding a multipart upload.
const FILE_READ_CHUNK: usize = 1 << 20;

/// The object store: cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    inner: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Local { fs: LocalFileSystem },
    S3 { s3: AmazonS3 },
}

/// The range to serve of an object of `size` bytes; the end is clamped to the size.
pub(crate) fn clamp_range(
    key: &str,
    range: Option<Range<u64>>,
    size: u64,
) -> Result<Range<u64>, StorageError> {
    match range {
        None => Ok(0..size),
        Some(r) if r.start >= r.end || r.start >= size => Err(StorageError::RangeNotSatisfiable {
            key: key.into(),
            start: r.start,
            end: r.end,
            size,
        }),
        Some(r) => Ok(r.start..r.end.min(size)),
    }
}

/// The part size for a file of `len` bytes: [`PART_SIZE`], or more so it fits in 10,000 parts.
fn part_size_for(len: u64) -> usize {
    let min = len.div_ceil(MAX_PARTS - 1).div_ceil(1 << 20) << 20;
    usize::try_from(min).unwrap_or(usize::MAX).max(PART_SIZE)
}

impl Storage {
    /// Opens the store the configuration names (no network call).
    pub fn open(cfg: &StorageConfig) -> Result<Self, StorageError> {
        let backend = match cfg {
            StorageConfig::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|e| StorageError::io("create directory", root, e))?;
                let fs = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| StorageError::Config(format!("local root: {e}")))?
                    .with_automatic_cleanup(true);
                Backend::Local { fs }
            }
            StorageConfig::S3 {
                bucket,
                region,
                endpoint,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                if bucket.is_empty() {
                    return Err(StorageError::Config("the S3 bucket name is empty".into()));
                }
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(*allow_http)
                    .with_virtual_hosted_style_request(false);
                if let Some(endpoint) = endpoint {
                    b = b.with_endpoint(endpoint);
                }
                let s3 = b
                    .build()
                    .map_err(|e| StorageError::Config(format!("S3: {e}")))?;
                Backend::S3 { s3 }
            }
        };
        Ok(Self {
            inner: Arc::new(backend),
        })
    }

    /// `"local"` or `"s3"`.
    pub fn kind(&self) -> &'static str {
        match &*self.inner {
            Backend::Local { .. } => "local",
            Backend::S3 { .. } => "s3",
        }
    }

    fn store(&self) -> &dyn ObjectStore {
        match &*self.inner {
            Backend::Local { fs } => fs,
            Backend::S3 { s3 } => s3,
        }
    }

    fn err(&self, op: &'static str, key: &str, e: object_store::Error) -> StorageError {
        StorageError::store(self.kind(), op, key, e)
    }

    /// The file behind `loc` on the local backend; `op` names the operation in the error.
    fn file_of(
        &self,
        fs: &LocalFileSystem,
        loc: &object_store::path::Path,
        op: &'static str,
        key: &str,
    ) -> Result<PathBuf, StorageError> {
        fs.path_to_filesystem(loc).map_err(|e| self.err(op, key, e))
    }

    /// The file holding `key` on the local backend (whether or not it exists); `None` on S3
    /// or for an invalid key.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match &*self.inner {
            Backend::Local { fs } => fs.path_to_filesystem(&check_key(key).ok()?).ok(),
            Backend::S3 { .. } => None,
        }
    }

    /// Stores a copy of the file at `path` under `key`, streaming (multipart on S3 beyond one
    /// part); returns the bytes stored.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        let loc = check_key(key)?;
        match &*self.inner {
            Backend::Local { fs } => {
                let dest = self.file_of(fs, &loc, "write", key)?;
                local::copy_in(path, &dest).await
            }
            Backend::S3 { s3 } => self.s3_put_file(s3, key, &loc, path).await,
        }
    }

    /// Moves the file at `path` into storage under `key`: a rename on the local backend when it
    /// can, else an upload after which the file is removed; returns the bytes stored.
    pub async fn put_file_move(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        let loc = check_key(key)?;
        match &*self.inner {
            Backend::Local { fs } => {
                let dest = self.file_of(fs, &loc, "write", key)?;
                local::move_in(path, &dest).await
            }
            Backend::S3 { s3 } => {
                let n = self.s3_put_file(s3, key, &loc, path).await?;
                if let Err(e) = tokio::fs::remove_file(path).await {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove an uploaded file");
                }
                Ok(n)
            }
        }
    }

    async fn s3_put_file(
        &self,
        s3: &AmazonS3,
        key: &str,
        loc: &object_store::path::Path,
        path: &Path,
    ) -> Result<u64, StorageError> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| StorageError::io("open", path, e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| StorageError::io("read", path, e))?
            .len();
        if len <= PART_SIZE as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)
                .await
                .map_err(|e| StorageError::io("read", path, e))?;
            let n = buf.len() as u64;
            s3.put(loc, PutPayload::from(buf))
                .await
                .map_err(|e| self.err("upload", key, e))?;
            return Ok(n);
        }
        let upload = s3
            .put_multipart(loc)
            .await
            .map_err(|e| self.err("start a multipart upload of", key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size_for(len));
        let mut buf = vec![0u8; FILE_READ_CHUNK];
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(StorageError::io("read", path, e));
                }
            };
            if n == 0 {
                break;
            }
            // Back-pressure: at most PART_CONCURRENCY parts in flight, so memory stays flat.
            if let Err(e) = writer.wait_for_capacity(PART_CONCURRENCY).await {
                let _ = writer.abort().await;
                return Err(self.err("upload a part of", key, e));
            }
            writer.write(&buf[..n]);
            total += n as u64;
        }
        writer
            .finish()
            .await
            .map_err(|e| self.err("complete the multipart upload of", key, e))?;
        Ok(total)
    }

    /// Downloads `key` to the file at `path` (created, parents too), streaming; returns its size.
    pub async fn fetch_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        let loc = check_key(key)?;
        let s3 = match &*self.inner {
            Backend::Local { fs } => {
                let src = self.file_of(fs, &loc, "read", key)?;
                return local::copy_out(key, &src, path).await;
            }
            Backend::S3 { s3 } => s3,
        };
        let res = s3
            .get(&loc)
            .await
            .map_err(|e| self.err("download", key, e))?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StorageError::io("create directory", parent, e))?;
        }
        let file = tokio::fs::File::create(path)
            .await
            .map_err(|e| StorageError::io("create", path, e))?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut stream = res.into_stream();
        let mut total = 0u64;
        let result = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.err("download", key, e))?;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| StorageError::io("write", path, e))?;
                total += chunk.len() as u64;
            }
            out.flush()
                .await
                .map_err(|e| StorageError::io("write", path, e))?;
            Ok(total)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(path).await;
        }
        result
    }

    /// Stores a small object (a playlist, `meta.json`) whole.
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let loc = check_key(key)?;
        self.store()
            .put(&loc, PutPayload::from(data))
            .await
            .map_err(|e| self.err("write", key, e))?;
        Ok(())
    }

    /// Reads a small object whole; `None` when absent.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        let loc = check_key(key)?;
        match self.store().get(&loc).await {
            Ok(res) => res
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.err("read", key, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("read", key, e)),
        }
    }

    /// The object's size and version; `None` when absent.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        let loc = check_key(key)?;
        match &*self.inner {
            Backend::Local { fs } => {
                let path = self.file_of(fs, &loc, "read", key)?;
                local::head(&path).await
            }
            Backend::S3 { s3 } => match s3.head(&loc).await {
                Ok(m) => Ok(Some(ObjectInfo {
                    size: m.size,
                    last_modified_ms: m.last_modified.timestamp_millis(),
                    e_tag: m.e_tag,
                })),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err("read", key, e)),
            },
        }
    }

    /// Streams the object, or `range` of it (the end is clamped to the size); `None` when
    /// absent; [`StorageError::RangeNotSatisfiable`] when the range starts at or after the end.
    pub async fn get_range(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<ObjectBody>, StorageError> {
        let loc = check_key(key)?;
        let s3 = match &*self.inner {
            Backend::Local { fs } => {
                let path = self.file_of(fs, &loc, "read", key)?;
                return local::get_range(key, &path, range).await;
            }
            Backend::S3 { s3 } => s3,
        };
        if let Some(r) = &range {
            if r.start >= r.end {
                let Some(info) = self.head(key).await? else {
                    return Ok(None);
                };
                return clamp_range(key, range, info.size).map(|_| None);
            }
        }
        let opts = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        match s3.get_opts(&loc, opts).await {
            Ok(res) => {
                let owned_key = key.to_owned();
                let size = res.meta.size;
                let got = res.range.clone();
                let last_modified_ms = res.meta.last_modified.timestamp_millis();
                let e_tag = res.meta.e_tag.clone();
                let stream = res
                    .into_stream()
                    .map_err(move |e| StorageError::store("s3", "read", &owned_key, e))
                    .boxed();
                Ok(Some(ObjectBody {
                    size,
                    range: got,
                    last_modified_ms,
                    e_tag,
                    stream,
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => {
                // S3 answers 416 for a range past the end: say so plainly.
                if range.is_some() {
                    if let Ok(Some(info)) = self.head(key).await {
                        clamp_range(key, range, info.size)?;
                    }
                }
                Err(self.err("read", key, e))
            }
        }
    }

    /// Copies an object (a hard link on the local backend).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (src, dst) = (check_key(from)?, check_key(to)?);
        self.store()
            .copy(&src, &dst)
            .await
            .map_err(|e| self.err("copy", from, e))
    }

    /// Renames an object (copy then delete on S3).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (src, dst) = (check_key(from)?, check_key(to)?);
        self.store()
            .rename(&src, &dst)
            .await
            .map_err(|e| self.err("rename", from, e))
    }

    /// Deletes an object; an absent one is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let loc = check_key(key)?;
        match self.store().delete(&loc).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key, e)),
        }
    }

    /// Deletes every object under `prefix` (whole path segments: `vod/v1` is not `vod/v10`);
    /// returns how many. An empty prefix is refused.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let p = check_prefix(prefix, false)?;
        let store = self.store();
        let locations = store.list(p.as_ref()).map_ok(|m| m.location).boxed();
        let mut results = store.delete_stream(locations);
        let mut n = 0;
        while let Some(r) = results.next().await {
            match r {
                Ok(_) => n += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err("delete under", prefix, e)),
            }
        }
        drop(results);
        // Staging files a crash left behind are not listed; take the directory with them.
        if let (Backend::Local { fs }, Some(p)) = (&*self.inner, p) {
            if let Ok(dir) = fs.path_to_filesystem(&p) {
                if tokio::fs::symlink_metadata(&dir)
                    .await
                    .is_ok_and(|m| m.is_dir())
                {
                    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                        tracing::warn!(dir = %dir.display(), error = %e, "could not remove a directory");
                    }
                }
            }
        }
        Ok(n)
    }

    /// Every object under `prefix` (empty: all) with its size, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let p = check_prefix(prefix, true)?;
        let mut all: Vec<(String, u64)> = self
            .store()
            .list(p.as_ref())
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await
            .map_err(|e| self.err("list", prefix, e))?;
        all.sort();
        Ok(all)
    }

    /// A presigned S3 `PUT` URL for `key`, valid for `expires` (at most 7 days on AWS); `None`
    /// on the local backend, where the server receives the bytes itself.
    pub async fn presign_put(
        &self,
        key: &str,
        expires: Duration,
    ) -> Result<Option<String>, StorageError> {
        let loc = check_key(key)?;
        match &*self.inner {
            Backend::Local { .. } => Ok(None),
            Backend::S3 { s3 } => s3
                .signed_url(http::Method::PUT, &loc, expires)
                .await
                .map(|u| Some(u.to_string()))
                .map_err(|e| self.err("presign", key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_fit_in_ten_thousand() {
        assert_eq!(part_size_for(12 << 20), PART_SIZE);
        let big = 200u64 << 30;
        let part = part_size_for(big) as u64;
        assert!(big.div_ceil(part) <= MAX_PARTS, "{part}");
    }

    #[test]
    fn ranges_clamp_and_refuse() {
        assert_eq!(clamp_range("k", None, 10).unwrap(), 0..10);
        assert_eq!(clamp_range("k", Some(2..100), 10).unwrap(), 2..10);
        assert!(clamp_range("k", Some(10..11), 10).is_err());
        assert!(clamp_range("k", Some(3..3), 10).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let cfg = StorageConfig::S3 {
            bucket: "b".into(),
            region: "us-east-1".into(),
            endpoint: None,
            access_key_id: "AKIA".into(),
            secret_access_key: "hunter2".into(),
            allow_http: false,
        };
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
