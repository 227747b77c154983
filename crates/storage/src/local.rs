//! Why: on the local backend the hot paths (copying multi-gigabyte sources in and out, serving
//! byte ranges of segments and MP4 downloads) go straight to tokio's file API: a kernel copy or
//! 64 KiB reads instead of `object_store`'s 8 KiB blocking reads, and a rename when a finished
//! upload already sits on the same volume. Writes land in a staging file beside the target
//! (`NAME#DIGITS`, which `object_store`'s listing skips) and are renamed into place, so a reader
//! never sees half an object.

use crate::{ObjectBody, ObjectInfo, StorageError};
use bytes::BytesMut;
use futures_util::StreamExt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Bytes per chunk when streaming a file out.
const READ_CHUNK: u64 = 64 * 1024;
/// `EXDEV`: a rename across file systems.
const EXDEV: i32 = 18;

fn staging_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(format!("#{}", rand::random::<u32>()));
    s.into()
}

async fn create_parent(path: &Path) -> Result<(), StorageError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| StorageError::io("create directory", parent, e))?;
    }
    Ok(())
}

/// Copies `src` to `dest` through a staging file: the object appears whole or not at all.
pub(crate) async fn copy_in(src: &Path, dest: &Path) -> Result<u64, StorageError> {
    tokio::fs::metadata(src)
        .await
        .map_err(|e| StorageError::io("read", src, e))?;
    create_parent(dest).await?;
    let staged = staging_path(dest);
    let n = match tokio::fs::copy(src, &staged).await {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&staged).await;
            return Err(StorageError::io("copy into storage", dest, e));
        }
    };
    if let Err(e) = tokio::fs::rename(&staged, dest).await {
        let _ = tokio::fs::remove_file(&staged).await;
        return Err(StorageError::io("rename into place", dest, e));
    }
    Ok(n)
}

/// Moves `src` to `dest`: a rename on the same volume, else a copy and a removal.
pub(crate) async fn move_in(src: &Path, dest: &Path) -> Result<u64, StorageError> {
    let size = tokio::fs::metadata(src)
        .await
        .map_err(|e| StorageError::io("read", src, e))?
        .len();
    create_parent(dest).await?;
    match tokio::fs::rename(src, dest).await {
        Ok(()) => Ok(size),
        Err(e) if e.raw_os_error() == Some(EXDEV) => {
            let n = copy_in(src, dest).await?;
            tokio::fs::remove_file(src)
                .await
                .map_err(|e| StorageError::io("remove", src, e))?;
            Ok(n)
        }
        Err(e) => Err(StorageError::io("move into storage", dest, e)),
    }
}

/// Copies the object at `src` out to `dest`.
pub(crate) async fn copy_out(key: &str, src: &Path, dest: &Path) -> Result<u64, StorageError> {
    match tokio::fs::metadata(src).await {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(StorageError::NotFound { key: key.into() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StorageError::NotFound { key: key.into() })
        }
        Err(e) => return Err(StorageError::io("read", src, e)),
    }
    create_parent(dest).await?;
    tokio::fs::copy(src, dest)
        .await
        .map_err(|e| StorageError::io("copy out of storage", dest, e))
}

fn info_of(meta: &std::fs::Metadata) -> ObjectInfo {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    let ms = i64::try_from(modified.as_millis()).unwrap_or(i64::MAX);
    ObjectInfo {
        size: meta.len(),
        last_modified_ms: ms,
        // Changes whenever the object is rewritten (a new file, renamed into place).
        e_tag: Some(format!("{:x}-{:x}", modified.as_micros(), meta.len())),
    }
}

/// The object's size and dates; `None` when absent.
pub(crate) async fn head(path: &Path) -> Result<Option<ObjectInfo>, StorageError> {
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => Ok(Some(info_of(&m))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io("read", path, e)),
    }
}

/// Streams `range` (or all) of the file; `None` when absent.
pub(crate) async fn get_range(
    key: &str,
    path: &Path,
    range: Option<Range<u64>>,
) -> Result<Option<ObjectBody>, StorageError> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("open", path, e)),
    };
    let meta = file
        .metadata()
        .await
        .map_err(|e| StorageError::io("read", path, e))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let info = info_of(&meta);
    let range = crate::clamp_range(key, range, info.size)?;
    if range.start > 0 {
        file.seek(io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| StorageError::io("seek", path, e))?;
    }
    let path = path.to_path_buf();
    let remaining = range.end - range.start;
    let stream = futures_util::stream::try_unfold(
        (file, remaining, path),
        |(mut file, remaining, path)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(READ_CHUNK);
            let mut buf = BytesMut::with_capacity(want as usize);
            let n = (&mut file)
                .take(want)
                .read_buf(&mut buf)
                .await
                .map_err(|e| StorageError::io("read", &path, e))?;
            if n == 0 {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while read");
                return Err(StorageError::io("read", &path, e));
            }
            Ok(Some((buf.freeze(), (file, remaining - n as u64, path))))
        },
    )
    .boxed();
    Ok(Some(ObjectBody {
        size: info.size,
        range,
        last_modified_ms: info.last_modified_ms,
        e_tag: info.e_tag,
        stream,
    }))
}
