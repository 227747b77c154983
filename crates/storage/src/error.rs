//! Why: a storage failure ends up in a video's `failed` reason and in operators' logs, so every
//! error names the operation, the key or file, and its cause; a full disk is recognised whatever
//! layer reported it and gets a sentence that says what to do.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A key or prefix that is not a safe relative path.
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configuration cannot open a store.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// No object at this key.
    #[error("object {key:?} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// A byte range that starts at or after the end of the object, or is empty.
    #[error("range {start}..{end} is not satisfiable for object {key:?} of {size} bytes")]
    RangeNotSatisfiable {
        /// The key.
        key: String,
        /// First byte asked for.
        start: u64,
        /// End (exclusive) asked for.
        end: u64,
        /// The object's size.
        size: u64,
    },
    /// The disk (or quota) is full.
    #[error(
        "no space left on the storage device while trying to {op} {target}: \
         free disk space or move the data directory to a larger volume"
    )]
    DiskFull {
        /// What was being done.
        op: &'static str,
        /// The key or file.
        target: String,
    },
    /// A local file operation failed.
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
    /// The object store (local or S3) failed.
    #[error("{backend} storage could not {op} {key:?}: {source}")]
    Backend {
        /// `local` or `s3`.
        backend: &'static str,
        /// What was being done.
        op: &'static str,
        /// The key.
        key: String,
        /// The cause (boxed: `object_store`'s error is large).
        #[source]
        source: Box<object_store::Error>,
    },
}

impl StorageError {
    /// True when the object (or local file) does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::NotFound { .. } => true,
            Self::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            Self::Backend { source, .. } => {
                matches!(**source, object_store::Error::NotFound { .. })
            }
            _ => false,
        }
    }

    /// True when the device or quota is full (ENOSPC, EDQUOT).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::DiskFull { .. } => true,
            Self::Io { source, .. } => io_is_disk_full(source),
            _ => false,
        }
    }

    /// A local file error, classified: a full disk becomes [`StorageError::DiskFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if io_is_disk_full(&source) {
            Self::DiskFull {
                op,
                target: path.display().to_string(),
            }
        } else {
            Self::Io { op, path, source }
        }
    }

    /// Classifies an object store error.
    pub(crate) fn store(
        backend: &'static str,
        op: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> Self {
        if let object_store::Error::NotFound { .. } = source {
            return Self::NotFound { key: key.into() };
        }
        if chain_is_disk_full(&source) {
            return Self::DiskFull {
                op,
                target: key.into(),
            };
        }
        Self::Backend {
            backend,
            op,
            key: key.into(),
            source: Box::new(source),
        }
    }
}

/// True for ENOSPC and EDQUOT, however they were wrapped.
pub(crate) fn io_is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || e.raw_os_error() == Some(28)
        || e.to_string().contains("No space left on device")
}

/// Walks an error's sources looking for a full disk.
pub(crate) fn chain_is_disk_full(e: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if io_is_disk_full(io) {
                return true;
            }
        }
        if c.to_string().contains("No space left on device") {
            return true;
        }
        cur = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_disk_full_with_a_clear_message() {
        let e = StorageError::io("write", "/data/media/x", io::Error::from_raw_os_error(28));
        assert!(e.is_disk_full());
        assert!(e.to_string().contains("no space left"), "{e}");
        let wrapped = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(io::Error::from_raw_os_error(28)),
        };
        let e = StorageError::store("local", "write", "sources/v1", wrapped);
        assert!(e.is_disk_full());
        assert!(e.to_string().contains("sources/v1"), "{e}");
    }

    #[test]
    fn not_found_is_recognised() {
        let e = StorageError::io("open", "/x", io::Error::from(io::ErrorKind::NotFound));
        assert!(e.is_not_found());
        assert!(!e.is_disk_full());
        let e = StorageError::store(
            "s3",
            "get",
            "k",
            object_store::Error::NotFound {
                path: "k".into(),
                source: "gone".into(),
            },
        );
        assert!(e.is_not_found());
    }
}
