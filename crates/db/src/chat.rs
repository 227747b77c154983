//! Chat storage: rooms (epoch, last offset, modes), the event stream, moderators and bans.

use crate::{DbError, Store};

/// A room's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRoomRecord {
    /// Random epoch, fixed for the room's life.
    pub epoch: String,
    /// The last offset ever stored.
    pub last_offset: u64,
    /// Slow mode, followers-only mode, guests.
    pub modes: ChatModes,
}

/// A room's modes, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatModes {
    /// Slow-mode interval.
    pub slow_secs: u64,
    /// Followers-only mode.
    pub followers_only: bool,
    /// Whether guests (no account) may join and post.
    pub guests: bool,
}

impl Default for ChatModes {
    /// A new room's: every mode off, guests allowed.
    fn default() -> Self {
        Self {
            slow_secs: 0,
            followers_only: false,
            guests: true,
        }
    }
}

/// Which stored messages an event hides from history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hides {
    /// None.
    Nothing,
    /// The message with this id.
    Message(String),
    /// Every earlier message by this (lower-case) author.
    Author(String),
    /// Every earlier message.
    All,
}

/// One event to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEventRow {
    /// Offset in the room.
    pub offset: u64,
    /// Globally unique id.
    pub id: String,
    /// `message`, `delete`, `ban`, ...
    pub kind: String,
    /// Lower-case author of a message.
    pub author: Option<String>,
    /// Accepted at, unix ms.
    pub ts_ms: i64,
    /// The JSON clients receive.
    pub json: String,
    /// What it hides.
    pub hides: Hides,
}

/// One room's events for [`Store::chat_append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAppend {
    /// The room's channel.
    pub channel_id: i64,
    /// Events in offset order.
    pub rows: Vec<ChatEventRow>,
    /// The room's modes after them.
    pub modes: ChatModes,
}

impl Store {
    /// The room of `channel_id`, created with `epoch` if it has none yet.
    pub async fn chat_room(&self, channel_id: i64, epoch: &str) -> Result<ChatRoomRecord, DbError> {
        match self {
            Store::Sqlite(s) => s.chat_room(channel_id, epoch).await,
        }
    }

    /// The latest `limit` events of a room, oldest first (JSON as sent).
    pub async fn chat_recent(&self, channel_id: i64, limit: u32) -> Result<Vec<String>, DbError> {
        match self {
            Store::Sqlite(s) => s.chat_recent(channel_id, limit).await,
        }
    }

    /// The stored modes of a channel's room; a new room's when it has none yet (reading does
    /// not create the room).
    pub async fn chat_modes(&self, channel_id: i64) -> Result<ChatModes, DbError> {
        match self {
            Store::Sqlite(s) => s.chat_modes(channel_id).await,
        }
    }

    /// Stores the events of one or more rooms in one transaction, applies what they hide and
    /// advances each room's last offset and modes.
    pub async fn chat_append(&self, batches: &[ChatAppend]) -> Result<(), DbError> {
        match self {
            Store::Sqlite(s) => s.chat_append(batches).await,
        }
    }

    /// Visible messages before `before` (an offset; newest when `None`), at most `limit`, oldest
    /// first.
    pub async fn chat_history(
        &self,
        channel_id: i64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<String>, DbError> {
        match self {
            Store::Sqlite(s) => s.chat_history(channel_id, before, limit).await,
        }
    }

    /// Appointed moderators of a room.
    pub async fn chat_moderators(&self, channel_id: i64) -> Result<Vec<String>, DbError> {
        match self {
            Store::Sqlite(s) => s.chat_moderators(channel_id).await,
        }
    }

    /// Appoints (true) or dismisses (false) a moderator; returns whether anything changed.
    pub async fn chat_set_moderator(
        &self,
        channel_id: i64,
        name: &str,
        appointed: bool,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        match self {
            Store::Sqlite(s) => {
                s.chat_set_moderator(channel_id, name, appointed, now_ms)
                    .await
            }
        }
    }

    /// Active bans: (identity, comma-separated addresses).
    pub async fn chat_bans(&self, channel_id: i64) -> Result<Vec<(String, String)>, DbError> {
        match self {
            Store::Sqlite(s) => s.chat_bans(channel_id).await,
        }
    }

    /// Records a ban (`Some(ips)`) or lifts it (`None`).
    pub async fn chat_set_ban(
        &self,
        channel_id: i64,
        identity: &str,
        ips: Option<&str>,
        now_ms: i64,
    ) -> Result<(), DbError> {
        match self {
            Store::Sqlite(s) => s.chat_set_ban(channel_id, identity, ips, now_ms).await,
        }
    }

    /// Retention: deletes events older than `older_than_ms` and, per room, beyond the newest
    /// `keep` events. Returns how many were deleted.
    pub async fn chat_prune(&self, older_than_ms: i64, keep: u32) -> Result<u64, DbError> {
        match self {
            Store::Sqlite(s) => s.chat_prune(older_than_ms, keep).await,
        }
    }
}
