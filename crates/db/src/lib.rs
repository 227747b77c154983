//! The data layer: channels and their (hashed) stream keys, chat rooms, and accounts (users,
//! sessions, API tokens, follows) and videos on demand.
//!
//! [`Store`] is the one interface the server uses. The embedded default is SQLite under the data
//! directory; PostgreSQL joins as another variant with its own migrations, so callers never change.
#![forbid(unsafe_code)]

mod chat;
mod sqlite;
mod sqlite_chat;
mod sqlite_users;
mod sqlite_videos;
mod users;
mod videos;

pub use chat::{ChatAppend, ChatEventRow, ChatModes, ChatRoomRecord, Hides};
pub use sqlite::{connect as connect_sqlite, SqliteStore};
pub use users::{ApiTokenRecord, ChannelDetails, NewChannel, TokenHash, UserRecord};
pub use videos::{VideoRecord, VideoState, VideoUpdate};

use serde::Serialize;

/// Errors of the data layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A channel with this name already exists.
    #[error("channel {name:?} already exists")]
    NameTaken {
        /// The requested name.
        name: String,
    },
    /// An account with this name already exists.
    #[error("user {name:?} already exists")]
    UserNameTaken {
        /// The requested name.
        name: String,
    },
    /// Opening the database or applying migrations failed.
    #[error("opening database {url}: {source}")]
    Open {
        /// The database URL or path.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Migrations could not be applied.
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other driver error.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
}

/// A channel as stored: everything but the key, which only exists hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelRecord {
    /// Database id.
    pub id: i64,
    /// Unique, URL-safe name.
    pub name: String,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// Last key rotation (or creation), unix ms.
    pub key_rotated_at_ms: i64,
    /// The channel's own transcoding ladder as JSON text, opaque to the store; `None` follows
    /// the server's ladder.
    pub ladder: Option<String>,
}

/// The stored form of a stream key: its SHA-256 digest.
pub type KeyHash = [u8; 32];

/// The one data-layer interface of the server, dispatched by backend.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Store {
    /// Embedded SQLite (the zero-configuration default).
    Sqlite(SqliteStore),
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self, DbError> {
        Ok(Store::Sqlite(SqliteStore::open(path).await?))
    }

    /// Creates a channel with the given key hash.
    pub async fn create_channel(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now_ms: i64,
    ) -> Result<ChannelRecord, DbError> {
        match self {
            Store::Sqlite(s) => s.create_channel(name, key_hash, now_ms).await,
        }
    }

    /// All channels, by name.
    pub async fn list_channels(&self) -> Result<Vec<ChannelRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.list_channels().await,
        }
    }

    /// One channel by name.
    pub async fn get_channel(&self, name: &str) -> Result<Option<ChannelRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.get_channel(name).await,
        }
    }

    /// Deletes a channel; false when it did not exist.
    pub async fn delete_channel(&self, name: &str) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.delete_channel(name).await,
        }
    }

    /// Replaces a channel's key hash; false when the channel does not exist.
    pub async fn rotate_key(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.rotate_key(name, key_hash, now_ms).await,
        }
    }

    /// Sets (`Some` JSON text) or clears a channel's own ladder; the updated channel, or `None`
    /// when it does not exist.
    pub async fn set_channel_ladder(
        &self,
        name: &str,
        ladder: Option<&str>,
    ) -> Result<Option<ChannelRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.set_channel_ladder(name, ladder).await,
        }
    }

    /// The channel whose stored hash equals `key_hash`, with that stored hash, so the caller can
    /// confirm it in constant time.
    pub async fn channel_by_key_hash(
        &self,
        key_hash: &KeyHash,
    ) -> Result<Option<(ChannelRecord, KeyHash)>, DbError> {
        match self {
            Store::Sqlite(s) => s.channel_by_key_hash(key_hash).await,
        }
    }

    /// Checks the database answers (readiness).
    pub async fn ping(&self) -> Result<(), DbError> {
        match self {
            Store::Sqlite(s) => s.ping().await,
        }
    }
}
