//! Why: the plain data the storage API speaks: its configuration (whose `Debug` never shows
//! the secret key) and what `head` and `get_range` answer.

use crate::StorageError;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// Where objects live.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// A directory on the local disk (`{data_dir}/media`), created if missing.
    Local {
        /// The root directory.
        root: PathBuf,
    },
    /// An S3-compatible bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Region (`us-east-1` for most S3-compatible servers).
        region: String,
        /// Endpoint URL for non-AWS servers (MinIO, moto, R2); `None` for AWS.
        endpoint: Option<String>,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Allow `http://` endpoints (loopback test servers).
        allow_http: bool,
    },
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local { root } => f.debug_struct("Local").field("root", root).finish(),
            Self::S3 {
                bucket,
                region,
                endpoint,
                access_key_id,
                allow_http,
                ..
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("region", region)
                .field("endpoint", endpoint)
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field("allow_http", allow_http)
                .finish(),
        }
    }
}

/// An object's size and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix milliseconds.
    pub last_modified_ms: i64,
    /// Entity tag, when the backend has one.
    pub e_tag: Option<String>,
}

/// A (partial) object being streamed, for HTTP answers with `Range`.
pub struct ObjectBody {
    /// The whole object's size.
    pub size: u64,
    /// The bytes the stream yields (`0..size` without a range).
    pub range: Range<u64>,
    /// Last modification, Unix milliseconds.
    pub last_modified_ms: i64,
    /// Entity tag, when the backend has one.
    pub e_tag: Option<String>,
    /// The bytes.
    pub stream: BoxStream<'static, Result<Bytes, StorageError>>,
}

impl fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBody")
            .field("size", &self.size)
            .field("range", &self.range)
            .field("e_tag", &self.e_tag)
            .finish_non_exhaustive()
    }
}
