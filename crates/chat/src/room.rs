//! One room's state: members, the ordered event stream, recovery, moderation and limits.

use crate::limits::{sanitize_text, validate_name, TokenBucket};
use crate::protocol::{ClientCommand, Reason, Refusal, MAX_REASON_CHARS, MAX_SLOW_SECS};
pub use crate::wire::Role;
use crate::wire::{batch_frame, json_array, pong_frame, Event, EventKind, UserRef};
use bytes::Bytes;
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

mod join;
mod moderation;
#[cfg(test)]
mod tests;

/// Names no guest may take, besides the streamer's and the moderators'.
const RESERVED_NAMES: &[&str] = &[
    "admin",
    "moderator",
    "mod",
    "streamer",
    "system",
    "ferrocast",
];

/// Limits and sizes of a room.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Messages sent on join (the visible backlog).
    pub backlog: usize,
    /// Events kept for recovery after a reconnect.
    pub recovery_events: usize,
    /// Viewer message bucket: (messages, period ms).
    pub viewer_rate: (u32, u64),
    /// Moderator and streamer message bucket: (messages, period ms).
    pub moderator_rate: (u32, u64),
    /// The same text again within this many ms is refused as `duplicate`.
    pub duplicate_window_ms: i64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            backlog: 50,
            recovery_events: 2000,
            viewer_rate: (20, 30_000),
            moderator_rate: (100, 30_000),
            duplicate_window_ms: 30_000,
        }
    }
}

/// A ban as stored: the identity (lower-case name) and the addresses banned with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanSeed {
    /// Lower-case display name.
    pub identity: String,
    /// Addresses the user was seen at.
    pub ips: Vec<IpAddr>,
}

/// What a room starts from: its stored epoch, offsets, recent events and moderation state.
///
/// The default is a new room: no history, no moderators, every mode off and guests allowed.
#[derive(Debug, Clone)]
pub struct RoomSeed {
    /// The room's epoch (random, stable while the stored history is).
    pub epoch: String,
    /// The last offset stored (0 for a new room).
    pub last_offset: u64,
    /// The most recent stored events, oldest first.
    pub events: Vec<Event>,
    /// Appointed moderators (any case).
    pub moderators: Vec<String>,
    /// Active bans.
    pub bans: Vec<BanSeed>,
    /// Slow-mode interval in seconds.
    pub slow_secs: u64,
    /// Followers-only mode.
    pub followers_only: bool,
    /// Whether guests (no account) may join and post.
    pub guests: bool,
}

impl Default for RoomSeed {
    fn default() -> Self {
        Self {
            epoch: String::new(),
            last_offset: 0,
            events: Vec::new(),
            moderators: Vec::new(),
            bans: Vec::new(),
            slow_secs: 0,
            followers_only: false,
            guests: true,
        }
    }
}

/// How a connection claims its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A guest with a chosen name (validated, unique, not reserved).
    Guest {
        /// The chosen display name.
        name: String,
    },
    /// A name and role the server verified (an API-issued token).
    Verified {
        /// The token's display name.
        name: String,
        /// The token's role.
        role: Role,
        /// Whether the account followed the channel when the token was issued (what
        /// followers-only mode asks for).
        follower: bool,
    },
}

/// A successful join: the `joined` frame and who the connection now is.
#[derive(Debug, Clone)]
pub struct JoinOutcome {
    /// The `joined` frame (room state, identity, backlog or recovered events).
    pub frame: Bytes,
    /// Events up to this offset are in the frame: skip broadcast batches that end at or before it.
    pub offset: u64,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// `Some(true)` when recovery succeeded, `Some(false)` when it was asked for and impossible.
    pub recovered: Option<bool>,
}

/// Events accepted since the last batch, as one frame for every connection.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The event itself when alone, else `{"type":"batch","events":[...]}`.
    pub frame: Bytes,
    /// Offset of the first event.
    pub first_offset: u64,
    /// Offset of the last event.
    pub last_offset: u64,
    /// The events, to persist.
    pub events: Vec<Arc<Event>>,
}

struct Member {
    identity: String,
    name: String,
    role: Role,
    ip: IpAddr,
    verified: bool,
    follower: bool,
}

struct UserState {
    bucket: TokenBucket,
    last_text: Option<(u64, i64)>,
    last_message_ms: Option<i64>,
}

/// One room: see the crate docs for the driving loop.
pub struct Room {
    channel: String,
    config: RoomConfig,
    epoch: String,
    next_offset: u64,
    flushed: u64,
    ring: VecDeque<Arc<Event>>,
    visible: VecDeque<Arc<Event>>,
    pending: Vec<Arc<Event>>,
    members: HashMap<u64, Member>,
    moderators: HashSet<String>,
    bans: HashMap<String, Vec<IpAddr>>,
    ip_bans: HashMap<IpAddr, String>,
    timeouts: HashMap<String, i64>,
    slow_secs: u64,
    followers_only: bool,
    guests: bool,
    users: HashMap<String, UserState>,
    seen: HashMap<String, IpAddr>,
    accepted_messages: u64,
}

fn identity_of(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn text_hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.to_lowercase().hash(&mut h);
    h.finish()
}

impl Room {
    /// A room for `channel` (also the streamer's display name), resumed from `seed` at `now_ms`.
    pub fn new(channel: &str, config: RoomConfig, seed: RoomSeed, now_ms: i64) -> Self {
        let mut room = Self {
            channel: channel.to_owned(),
            epoch: seed.epoch,
            next_offset: seed.last_offset + 1,
            flushed: seed.last_offset,
            ring: VecDeque::with_capacity(config.recovery_events.min(4096)),
            visible: VecDeque::with_capacity(config.backlog.min(1024)),
            pending: Vec::new(),
            members: HashMap::new(),
            moderators: seed.moderators.iter().map(|m| identity_of(m)).collect(),
            bans: HashMap::new(),
            ip_bans: HashMap::new(),
            timeouts: HashMap::new(),
            slow_secs: seed.slow_secs.min(MAX_SLOW_SECS),
            followers_only: seed.followers_only,
            guests: seed.guests,
            users: HashMap::new(),
            seen: HashMap::new(),
            accepted_messages: 0,
            config,
        };
        for ban in seed.bans {
            for ip in &ban.ips {
                room.ip_bans.insert(*ip, ban.identity.clone());
            }
            room.bans.insert(ban.identity, ban.ips);
        }
        for event in seed.events {
            let event = Arc::new(event);
            if let EventKind::Timeout { user, seconds, .. } = &event.kind {
                let until = event
                    .ts_ms
                    .saturating_add((*seconds as i64).saturating_mul(1000));
                if until > now_ms {
                    room.timeouts.insert(identity_of(user), until);
                }
            }
            room.apply_to_views(&event);
            room.remember(event);
        }
        room
    }

    /// The room's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Open connections that joined.
    pub fn viewers(&self) -> usize {
        self.members.len()
    }

    /// Messages accepted since the room started (for the message-rate signal).
    pub fn accepted_messages(&self) -> u64 {
        self.accepted_messages
    }

    /// Whether nobody is connected and nothing waits to be sent: the room may be dropped.
    pub fn is_idle(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// Current slow-mode interval in seconds.
    pub fn slow_secs(&self) -> u64 {
        self.slow_secs
    }

    /// Whether followers-only mode is on.
    pub fn followers_only(&self) -> bool {
        self.followers_only
    }

    /// Whether guests (no account) may join and post.
    pub fn guests_allowed(&self) -> bool {
        self.guests
    }

    /// The addresses banned with `identity` (lower-case name), if it is banned: what a ban
    /// event stores.
    pub fn banned_ips(&self, identity: &str) -> Option<&[IpAddr]> {
        self.bans.get(identity).map(Vec::as_slice)
    }

    /// Makes `name` a moderator (takes effect on their next join).
    pub fn appoint(&mut self, name: &str) {
        self.moderators.insert(identity_of(name));
    }

    /// Removes `name` from the moderators; their open connections become viewers.
    pub fn dismiss(&mut self, name: &str) {
        let identity = identity_of(name);
        self.moderators.remove(&identity);
        for m in self.members.values_mut() {
            if m.identity == identity && m.role == Role::Moderator {
                m.role = Role::Viewer;
            }
        }
    }

    /// The connection left (or was dropped).
    pub fn leave(&mut self, conn: u64) {
        self.members.remove(&conn);
    }

    /// A joined connection's command. `Ok(Some(frame))` is a direct reply (e.g. `pong`); accepted
    /// messages and actions reach everyone, the sender included, through the next batch.
    pub fn command(
        &mut self,
        now_ms: i64,
        conn: u64,
        command: ClientCommand,
    ) -> Result<Option<Bytes>, Refusal> {
        match command {
            ClientCommand::Ping => Ok(Some(pong_frame())),
            ClientCommand::Join { .. } => {
                Err(Refusal::new(Reason::AlreadyJoined, "already joined"))
            }
            ClientCommand::Send { text } => self.send(now_ms, conn, &text).map(|_| None),
            ClientCommand::Moderate(action) => {
                let member = self
                    .members
                    .get(&conn)
                    .ok_or_else(|| Refusal::new(Reason::NotJoined, "join first"))?;
                let (by, role) = (member.name.clone(), member.role);
                self.moderate(now_ms, &by, role, action).map(|_| None)
            }
        }
    }

    fn send(&mut self, now_ms: i64, conn: u64, raw: &str) -> Result<Arc<Event>, Refusal> {
        let member = self
            .members
            .get(&conn)
            .ok_or_else(|| Refusal::new(Reason::NotJoined, "join first"))?;
        let (identity, role, ip) = (member.identity.clone(), member.role, member.ip);
        let (verified, follower) = (member.verified, member.follower);
        let user = UserRef {
            name: member.name.clone(),
            role,
        };
        if role == Role::Viewer {
            if self.is_banned(&identity, ip) {
                return Err(Refusal::new(
                    Reason::Banned,
                    "you are banned from this chat",
                ));
            }
            if let Some(until) = self.timeouts.get(&identity).copied() {
                if until > now_ms {
                    return Err(Refusal::retry_after(
                        Reason::TimedOut,
                        "you are timed out",
                        (until - now_ms) as u64,
                    ));
                }
                self.timeouts.remove(&identity);
            }
            // Room modes bind viewers only: moderators and the streamer always talk.
            if !verified && !self.guests {
                return Err(guests_not_allowed());
            }
            if self.followers_only && !follower {
                return Err(Refusal::new(
                    Reason::FollowersOnly,
                    format!(
                        "Only followers can chat: follow {} to join in",
                        self.channel
                    ),
                ));
            }
        }
        let text = sanitize_text(raw)?;
        let hash = text_hash(&text);
        let (capacity, period) = if role == Role::Viewer {
            self.config.viewer_rate
        } else {
            self.config.moderator_rate
        };
        let slow_ms = (self.slow_secs as i64) * 1000;
        let duplicate_window = self.config.duplicate_window_ms;
        let state = self.users.entry(identity).or_insert_with(|| UserState {
            bucket: TokenBucket::new(capacity, period, now_ms),
            last_text: None,
            last_message_ms: None,
        });
        if role == Role::Viewer {
            if let Some(last) = state.last_message_ms {
                if slow_ms > 0 && now_ms - last < slow_ms {
                    return Err(Refusal::retry_after(
                        Reason::SlowMode,
                        format!("slow mode: one message every {} s", slow_ms / 1000),
                        (slow_ms - (now_ms - last)) as u64,
                    ));
                }
            }
            if let Some((last_hash, at)) = state.last_text {
                if last_hash == hash && now_ms - at < duplicate_window {
                    return Err(Refusal::retry_after(
                        Reason::Duplicate,
                        "that is the same as your previous message",
                        (duplicate_window - (now_ms - at)) as u64,
                    ));
                }
            }
        }
        if let Err(wait) = state.bucket.try_take(now_ms) {
            return Err(Refusal::retry_after(
                Reason::RateLimited,
                format!("at most {capacity} messages per {} s", period / 1000),
                wait,
            ));
        }
        state.last_message_ms = Some(now_ms);
        state.last_text = Some((hash, now_ms));
        self.accepted_messages += 1;
        Ok(self.push(now_ms, EventKind::Message { user, text }))
    }

    /// Hands out every event accepted since the last call as one frame.
    pub fn take_batch(&mut self) -> Option<Batch> {
        let first = self.pending.first()?.offset;
        let last = self.pending.last()?.offset;
        let events = std::mem::take(&mut self.pending);
        let frame = if events.len() == 1 {
            events[0].json.clone()
        } else {
            batch_frame(events.iter().map(|e| &e.json[..]))
        };
        self.flushed = last;
        Some(Batch {
            frame,
            first_offset: first,
            last_offset: last,
            events,
        })
    }

    /// Forgets per-user state that no longer matters (full buckets, expired timeouts), so memory
    /// follows the active users, not everyone who ever talked.
    pub fn upkeep(&mut self, now_ms: i64) {
        let quiet = self
            .config
            .duplicate_window_ms
            .max((self.slow_secs as i64) * 1000);
        self.users.retain(|_, s| {
            !(s.bucket.is_full(now_ms) && s.last_message_ms.is_none_or(|t| now_ms - t > quiet))
        });
        self.timeouts.retain(|_, until| *until > now_ms);
        if self.seen.len() > 4 * self.members.len() + 10_000 {
            let online: HashSet<&str> =
                self.members.values().map(|m| m.identity.as_str()).collect();
            let banned = &self.bans;
            self.seen.retain(|identity, _| {
                online.contains(identity.as_str()) || banned.contains_key(identity)
            });
        }
    }

    fn is_banned(&self, identity: &str, ip: IpAddr) -> bool {
        self.bans.contains_key(identity) || self.ip_bans.contains_key(&ip)
    }

    /// Appends an event to the ordered stream.
    fn push(&mut self, now_ms: i64, kind: EventKind) -> Arc<Event> {
        let offset = self.next_offset;
        self.next_offset += 1;
        let event = Arc::new(Event::new(&self.epoch, offset, now_ms, kind));
        self.apply_to_views(&event);
        self.remember(event.clone());
        self.pending.push(event.clone());
        event
    }

    fn remember(&mut self, event: Arc<Event>) {
        if self.ring.len() >= self.config.recovery_events.max(1) {
            self.ring.pop_front();
        }
        self.ring.push_back(event);
    }

    /// Keeps the visible backlog in step with an event (messages in; deleted, purged or cleared
    /// ones out).
    fn apply_to_views(&mut self, event: &Arc<Event>) {
        match &event.kind {
            EventKind::Message { .. } => {
                // Room for the backlog plus messages not yet flushed, which joiners do not get.
                if self.visible.len() >= 2 * self.config.backlog.max(1) {
                    self.visible.pop_front();
                }
                self.visible.push_back(event.clone());
            }
            EventKind::Delete { target, .. } => self.visible.retain(|e| &e.id != target),
            EventKind::Timeout { user, .. } | EventKind::Ban { user, .. } => {
                let identity = identity_of(user);
                self.visible
                    .retain(|e| e.author().is_none_or(|a| identity_of(a) != identity));
            }
            EventKind::Clear { .. } => self.visible.clear(),
            EventKind::Slow { seconds, .. } => self.slow_secs = *seconds,
            EventKind::Followers { on, .. } => self.followers_only = *on,
            EventKind::Guests { allowed, .. } => self.guests = *allowed,
            EventKind::Unban { .. } => {}
        }
    }
}

/// The refusal for a guest (no account) in a room that does not take guests.
fn guests_not_allowed() -> Refusal {
    Refusal::new(Reason::GuestsNotAllowed, "Log in to chat in this channel")
}

/// A moderator's reason, cut to [`MAX_REASON_CHARS`] before it is escaped (cutting after would
/// split an entity such as `&amp;`), then sanitized like a message.
fn clip_reason(reason: Option<String>) -> Option<String> {
    let clipped: String = reason?.chars().take(MAX_REASON_CHARS).collect();
    sanitize_text(&clipped).ok()
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("channel", &self.channel)
            .field("epoch", &self.epoch)
            .field("next_offset", &self.next_offset)
            .field("members", &self.members.len())
            .finish()
    }
}
