//! Accounts storage: users, browser sessions, personal API tokens, follows, and channel
//! ownership and titles.
//!
//! Session and API tokens are high-entropy random strings, so the store keeps only their SHA-256
//! ([`TokenHash`]) and looks them up by it, like stream keys.

use crate::{ChannelRecord, DbError, KeyHash, Store};

/// The stored form of a session or API token: its SHA-256 digest.
pub type TokenHash = [u8; 32];

/// An account as stored, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Database id.
    pub id: i64,
    /// Unique account name.
    pub name: String,
    /// Administrators see and manage every channel.
    pub admin: bool,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
}

/// A personal API token as listed (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Database id.
    pub id: i64,
    /// The name its owner gave it.
    pub name: String,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// Last use, unix ms, to within a minute; `None` if never used.
    pub last_used_at_ms: Option<i64>,
}

/// A channel with what the API shows besides the stream state: owner and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDetails {
    /// The channel.
    pub channel: ChannelRecord,
    /// The owning user's id; `None` for a channel made with the admin token.
    pub owner_id: Option<i64>,
    /// The owning user's name.
    pub owner: Option<String>,
    /// Free-text title, `""` when unset.
    pub title: String,
}

/// A new channel for [`Store::create_owned_channel`].
#[derive(Debug, Clone, Copy)]
pub struct NewChannel<'a> {
    /// Unique, URL-safe name.
    pub name: &'a str,
    /// SHA-256 of the stream key.
    pub key_hash: &'a KeyHash,
    /// Owning user, if any.
    pub owner_id: Option<i64>,
    /// Title (already validated).
    pub title: &'a str,
    /// Creation time, unix ms.
    pub now_ms: i64,
}

impl Store {
    /// Creates an account. It is an administrator when `admin` is set or when it is the first
    /// account of the database (decided in the same statement, so two first signups cannot both
    /// become administrators).
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        admin: bool,
        now_ms: i64,
    ) -> Result<UserRecord, DbError> {
        match self {
            Store::Sqlite(s) => s.create_user(name, password_hash, admin, now_ms).await,
        }
    }

    /// An account and its password hash, by name.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<(UserRecord, String)>, DbError> {
        match self {
            Store::Sqlite(s) => s.user_by_name(name).await,
        }
    }

    /// Every account, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.list_users().await,
        }
    }

    /// Stores a new session of `user_id`, valid until `expires_at_ms`.
    pub async fn create_session(
        &self,
        token_hash: &TokenHash,
        user_id: i64,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), DbError> {
        match self {
            Store::Sqlite(s) => {
                s.create_session(token_hash, user_id, now_ms, expires_at_ms)
                    .await
            }
        }
    }

    /// The user of an unexpired session.
    pub async fn session_user(
        &self,
        token_hash: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.session_user(token_hash, now_ms).await,
        }
    }

    /// Ends a session; false when there was none.
    pub async fn delete_session(&self, token_hash: &TokenHash) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.delete_session(token_hash).await,
        }
    }

    /// Forgets sessions expired at `now_ms`; how many.
    pub async fn delete_expired_sessions(&self, now_ms: i64) -> Result<u64, DbError> {
        match self {
            Store::Sqlite(s) => s.delete_expired_sessions(now_ms).await,
        }
    }

    /// Stores a personal API token of `user_id`.
    pub async fn create_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &TokenHash,
        now_ms: i64,
    ) -> Result<ApiTokenRecord, DbError> {
        match self {
            Store::Sqlite(s) => s.create_api_token(user_id, name, token_hash, now_ms).await,
        }
    }

    /// A user's API tokens, oldest first.
    pub async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiTokenRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.list_api_tokens(user_id).await,
        }
    }

    /// Revokes one of `user_id`'s tokens; false when that user has no token `id`.
    pub async fn delete_api_token(&self, user_id: i64, id: i64) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.delete_api_token(user_id, id).await,
        }
    }

    /// The user an API token acts as; records the use (at most once a minute per token).
    pub async fn api_token_user(
        &self,
        token_hash: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, DbError> {
        match self {
            Store::Sqlite(s) => s.api_token_user(token_hash, now_ms).await,
        }
    }

    /// Follows (`true`) or unfollows a channel; whether anything changed.
    pub async fn set_following(
        &self,
        user_id: i64,
        channel_id: i64,
        follow: bool,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.set_following(user_id, channel_id, follow, now_ms).await,
        }
    }

    /// How many users follow a channel.
    pub async fn follower_count(&self, channel_id: i64) -> Result<u64, DbError> {
        match self {
            Store::Sqlite(s) => s.follower_count(channel_id).await,
        }
    }

    /// Whether `user_id` follows the channel.
    pub async fn is_following(&self, user_id: i64, channel_id: i64) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.is_following(user_id, channel_id).await,
        }
    }

    /// Creates a channel with an owner (or none) and a title.
    pub async fn create_owned_channel(
        &self,
        new: NewChannel<'_>,
    ) -> Result<ChannelDetails, DbError> {
        match self {
            Store::Sqlite(s) => s.create_owned_channel(new).await,
        }
    }

    /// One channel with its owner and title.
    pub async fn channel_details(&self, name: &str) -> Result<Option<ChannelDetails>, DbError> {
        match self {
            Store::Sqlite(s) => s.channel_details(name).await,
        }
    }

    /// Channels with owner and title, by name: `owner_id`'s, or every channel for `None`.
    pub async fn list_channel_details(
        &self,
        owner_id: Option<i64>,
    ) -> Result<Vec<ChannelDetails>, DbError> {
        match self {
            Store::Sqlite(s) => s.list_channel_details(owner_id).await,
        }
    }

    /// Sets a channel's title; false when the channel does not exist.
    pub async fn set_channel_title(&self, name: &str, title: &str) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => s.set_channel_title(name, title).await,
        }
    }
}
