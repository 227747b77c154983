//! Chat: rooms per channel over WebSocket (`/chat/CHANNEL`), their persistence and signals.
//!
//! Room logic lives in `ferrocast-chat` (sans-IO); this module holds the rooms, runs one task per
//! room that batches accepted events into frames and publishes them through the [`Broker`],
//! persists events in order, and computes the message-rate signal.

pub mod broker;
pub mod connection;
mod room_task;
pub mod tokens;
pub mod upgrade;

use crate::clock::unix_ms;
use crate::metrics;
use broker::{Broker, InProcessBroker};
use ferrocast_chat::{BanSeed, Reason, Refusal, Role, Room, RoomConfig, RoomSeed};
use ferrocast_db::{ChatAppend, ChatEventRow, ChatModes, Store};
use rand::distr::{Alphanumeric, SampleString};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch, Notify};

/// Stored events a room reloads on opening (its recovery window across restarts).
const RELOAD_EVENTS: u32 = 2000;
/// Persistence jobs queued before new ones are dropped (and counted).
const PERSIST_QUEUE: usize = 4096;
/// Events kept per room in the database, whatever their age.
const KEEP_PER_ROOM: u32 = 100_000;

/// Chat settings from the server configuration.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Messages sent on join.
    pub backlog: usize,
    /// History retention.
    pub retention: Duration,
    /// WebSocket ping interval.
    pub heartbeat: Duration,
}

/// A message-rate sample: what automatic highlights and other analysers subscribe to.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSample {
    /// The channel.
    pub channel: String,
    /// Messages per second over the last ten seconds.
    pub per_second: f64,
}

/// One open room and what its connections share.
pub struct RoomHandle {
    /// Channel name (also the room name and the streamer's display name).
    pub channel: String,
    /// Database id of the channel.
    pub channel_id: i64,
    state: Mutex<Room>,
    wake: Arc<Notify>,
    published_bytes: AtomicU64,
    /// Messages per second over the last ten seconds, as `f64` bits (read by `stats`).
    rate: AtomicU64,
    closed: watch::Sender<bool>,
    /// Per-channel metric handles, resolved once when the room opens.
    messages_in: ::metrics::Counter,
    rate_gauge: ::metrics::Gauge,
}

impl RoomHandle {
    /// Locks the room state; never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, Room> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the room task that events are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Bytes published so far (see [`broker::Outgoing::published_bytes`]).
    pub fn published_bytes(&self) -> u64 {
        self.published_bytes.load(Ordering::Relaxed)
    }

    /// Resolves when the room is closed (its channel was deleted).
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }
}

enum PersistJob {
    Events {
        channel_id: i64,
        rows: Vec<ChatEventRow>,
        modes: ChatModes,
    },
    Ban {
        channel_id: i64,
        identity: String,
        ips: Option<String>,
        now_ms: i64,
    },
    /// Answered once every job queued before it is stored.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// Errors opening a room.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No such channel.
    #[error("no such channel")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] ferrocast_db::DbError),
}

/// All chat rooms of the server.
pub struct Chat {
    db: Store,
    broker: Arc<dyn Broker>,
    rooms: Mutex<HashMap<String, Arc<RoomHandle>>>,
    opening: tokio::sync::Mutex<()>,
    config: ChatConfig,
    secret: Vec<u8>,
    persist: mpsc::Sender<PersistJob>,
    rates: broadcast::Sender<RateSample>,
    shutdown: watch::Receiver<bool>,
    next_conn: AtomicU64,
}

impl Chat {
    /// Starts the chat service (its persistence and retention tasks).
    pub fn start(
        db: Store,
        config: ChatConfig,
        secret: Vec<u8>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let (persist, jobs) = mpsc::channel(PERSIST_QUEUE);
        tokio::spawn(persist_loop(db.clone(), jobs));
        let chat = Arc::new(Self {
            db,
            broker: Arc::new(InProcessBroker::default()),
            rooms: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
            config,
            secret,
            persist,
            rates: broadcast::channel(1024).0,
            shutdown,
            next_conn: AtomicU64::new(1),
        });
        tokio::spawn(retention_loop(chat.db.clone(), chat.config.retention));
        chat
    }

    /// The chat settings.
    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// The fan-out.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The server's shutdown signal.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Arc<RoomHandle>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open room of `channel`, opening it (from the database) if needed.
    pub async fn room(self: &Arc<Self>, channel: &str) -> Result<Arc<RoomHandle>, OpenError> {
        if let Some(room) = self.rooms().get(channel) {
            return Ok(room.clone());
        }
        // One opener at a time, so two first joiners cannot open two rooms for one channel.
        let _opening = self.opening.lock().await;
        if let Some(room) = self.rooms().get(channel) {
            return Ok(room.clone());
        }
        let record = self
            .db
            .get_channel(channel)
            .await?
            .ok_or(OpenError::NotFound)?;
        let epoch = Alphanumeric
            .sample_string(&mut rand::rng(), 12)
            .to_ascii_lowercase();
        let stored = self.db.chat_room(record.id, &epoch).await?;
        let events = self
            .db
            .chat_recent(record.id, RELOAD_EVENTS)
            .await?
            .iter()
            .filter_map(|json| ferrocast_chat::Event::from_json(json))
            .collect();
        let moderators = self.db.chat_moderators(record.id).await?;
        let bans = self
            .db
            .chat_bans(record.id)
            .await?
            .into_iter()
            .map(|(identity, ips)| BanSeed {
                identity,
                ips: parse_ips(&ips),
            })
            .collect();
        let seed = RoomSeed {
            epoch: stored.epoch,
            last_offset: stored.last_offset,
            events,
            moderators,
            bans,
            slow_secs: stored.modes.slow_secs,
            followers_only: stored.modes.followers_only,
            guests: stored.modes.guests,
        };
        let config = RoomConfig {
            backlog: self.config.backlog,
            ..RoomConfig::default()
        };
        let room = Room::new(channel, config, seed, unix_ms());
        let handle = Arc::new(RoomHandle {
            channel: channel.to_owned(),
            channel_id: record.id,
            state: Mutex::new(room),
            wake: Arc::new(Notify::new()),
            published_bytes: AtomicU64::new(0),
            rate: AtomicU64::new(0f64.to_bits()),
            closed: watch::channel(false).0,
            messages_in: ::metrics::counter!(metrics::CHAT_MESSAGES_IN, "channel" => channel.to_owned()),
            rate_gauge: ::metrics::gauge!(metrics::CHAT_MESSAGE_RATE, "channel" => channel.to_owned()),
        });
        self.rooms().insert(channel.to_owned(), handle.clone());
        ::metrics::gauge!(metrics::CHAT_ROOMS).increment(1.0);
        tokio::spawn(room_task::run(
            self.clone(),
            Arc::downgrade(&handle),
            handle.wake.clone(),
        ));
        tracing::info!(channel, epoch = %handle.lock().epoch(), "chat room opened");
        Ok(handle)
    }

    /// Closes a channel's room (the channel was deleted): its connections are told and dropped.
    pub fn close_room(&self, channel: &str) {
        if let Some(room) = self.rooms().remove(channel) {
            let _ = room.closed.send(true);
            ::metrics::gauge!(metrics::CHAT_ROOMS).decrement(1.0);
        }
    }

    /// Issues a chat token; `follower` says the account follows the channel (followers-only
    /// mode lets it post).
    pub fn issue_token(
        &self,
        channel: &str,
        name: &str,
        role: Role,
        follower: bool,
        ttl: Duration,
    ) -> (String, u64) {
        let expires = (unix_ms() / 1000) as u64 + ttl.as_secs().max(1);
        (
            tokens::issue(&self.secret, channel, name, role, follower, expires),
            expires,
        )
    }

    /// Checks a chat token for `channel`.
    pub fn verify_token(&self, channel: &str, token: &str) -> Result<tokens::Claims, Refusal> {
        tokens::verify(&self.secret, channel, token, (unix_ms() / 1000) as u64)
    }

    /// A channel's room modes: the open room's, else the stored ones (asking does not open the
    /// room).
    pub async fn modes(
        &self,
        channel: &str,
        channel_id: i64,
    ) -> Result<ChatModes, ferrocast_db::DbError> {
        let open = self.rooms().get(channel).cloned();
        if let Some(room) = open {
            return Ok(modes_of(&room.lock()));
        }
        self.db.chat_modes(channel_id).await
    }

    /// Every room's message rate, once per second per active room: the seam automatic highlights
    /// plug into (chat bursts).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn subscribe_rates(&self) -> broadcast::Receiver<RateSample> {
        self.rates.subscribe()
    }

    /// People in a channel's chat room now (0 when the room is not open; asking does not open it).
    pub fn viewers(&self, channel: &str) -> usize {
        let open = self.rooms().get(channel).cloned();
        open.map_or(0, |room| room.lock().viewers())
    }

    /// Viewers and messages per second of a channel's room; zeros for a channel whose room is
    /// not open (asking does not open it).
    pub async fn stats(&self, channel: &str) -> Result<(usize, f64), OpenError> {
        let open = self.rooms().get(channel).cloned();
        if let Some(room) = open {
            let rate = f64::from_bits(room.rate.load(Ordering::Relaxed));
            return Ok((room.lock().viewers(), rate));
        }
        self.db
            .get_channel(channel)
            .await?
            .map(|_| (0, 0.0))
            .ok_or(OpenError::NotFound)
    }

    /// Appoints or dismisses a moderator, in the database and in the open room.
    pub async fn set_moderator(
        self: &Arc<Self>,
        channel: &str,
        name: &str,
        appointed: bool,
    ) -> Result<bool, OpenError> {
        let room = self.room(channel).await?;
        let identity = name.to_ascii_lowercase();
        let changed = self
            .db
            .chat_set_moderator(room.channel_id, &identity, appointed, unix_ms())
            .await?;
        let mut state = room.lock();
        if appointed {
            state.appoint(&identity);
        } else {
            state.dismiss(&identity);
        }
        Ok(changed)
    }

    /// Appointed moderators of a channel.
    pub async fn moderators(self: &Arc<Self>, channel: &str) -> Result<Vec<String>, OpenError> {
        let room = self.room(channel).await?;
        Ok(self.db.chat_moderators(room.channel_id).await?)
    }

    /// Stored history: visible messages before `before`, oldest first.
    pub async fn history(
        self: &Arc<Self>,
        channel: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<String>, OpenError> {
        let record = self
            .db
            .get_channel(channel)
            .await?
            .ok_or(OpenError::NotFound)?;
        Ok(self.db.chat_history(record.id, before, limit).await?)
    }

    /// Refusal bookkeeping shared by the socket and the API.
    pub fn count_refusal(reason: Reason) {
        ::metrics::counter!(metrics::CHAT_REFUSALS, "reason" => reason.as_str()).increment(1);
    }

    /// At shutdown: publishes and stores every accepted event, waiting at most `limit`.
    pub async fn drain(&self, limit: Duration) {
        let rooms: Vec<_> = self.rooms().values().cloned().collect();
        for room in &rooms {
            room_task::flush(self, room);
        }
        let (done, stored) = tokio::sync::oneshot::channel();
        if self.persist.send(PersistJob::Barrier(done)).await.is_ok()
            && tokio::time::timeout(limit, stored).await.is_err()
        {
            tracing::warn!("chat events still unstored at shutdown");
        }
    }

    fn queue(&self, job: PersistJob) {
        if self.persist.try_send(job).is_err() {
            ::metrics::counter!(metrics::CHAT_PERSIST_ERRORS, "kind" => "queue_full").increment(1);
            tracing::warn!("chat persistence queue full; events kept in memory only");
        }
    }
}

/// A room's modes, as stored.
fn modes_of(room: &Room) -> ChatModes {
    ChatModes {
        slow_secs: room.slow_secs(),
        followers_only: room.followers_only(),
        guests: room.guests_allowed(),
    }
}

/// Parses a stored ban's addresses.
fn parse_ips(ips: &str) -> Vec<IpAddr> {
    ips.split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Jobs taken from the queue at once: the events of many rooms share one transaction.
const PERSIST_BATCH: usize = 256;

async fn persist_loop(db: Store, mut jobs: mpsc::Receiver<PersistJob>) {
    let mut taken = Vec::with_capacity(PERSIST_BATCH);
    while jobs.recv_many(&mut taken, PERSIST_BATCH).await > 0 {
        let mut events = Vec::new();
        let mut barriers = Vec::new();
        for job in taken.drain(..) {
            match job {
                PersistJob::Events {
                    channel_id,
                    rows,
                    modes,
                } => events.push(ChatAppend {
                    channel_id,
                    rows,
                    modes,
                }),
                PersistJob::Ban {
                    channel_id,
                    identity,
                    ips,
                    now_ms,
                } => {
                    let stored = db
                        .chat_set_ban(channel_id, &identity, ips.as_deref(), now_ms)
                        .await;
                    report(stored);
                }
                PersistJob::Barrier(done) => barriers.push(done),
            }
        }
        if !events.is_empty() {
            report(db.chat_append(&events).await);
        }
        for done in barriers {
            let _ = done.send(());
        }
    }
}

fn report(stored: Result<(), ferrocast_db::DbError>) {
    if let Err(error) = stored {
        ::metrics::counter!(metrics::CHAT_PERSIST_ERRORS, "kind" => "database").increment(1);
        tracing::warn!(%error, "storing chat events failed");
    }
}

async fn retention_loop(db: Store, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = unix_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        match db.chat_prune(cutoff, KEEP_PER_ROOM).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "chat history pruned"),
            Err(error) => tracing::warn!(%error, "pruning chat history failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_chat::{ClientCommand, Credential};

    #[tokio::test]
    async fn rooms_publish_their_message_rate() {
        let dir = std::env::temp_dir().join(format!("ferrocast-chat-rate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Store::open_sqlite(&dir.join("db.sqlite")).await.unwrap();
        db.create_channel("rate", &[7; 32], 0).await.unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let config = ChatConfig {
            backlog: 50,
            retention: Duration::from_secs(3600),
            heartbeat: Duration::from_secs(20),
        };
        let chat = Chat::start(db, config, b"secret".to_vec(), shutdown);
        let mut rates = chat.subscribe_rates();
        let room = chat.room("rate").await.unwrap();
        let ip = IpAddr::from([127, 0, 0, 1]);
        {
            let mut state = room.lock();
            state
                .join(1, Credential::Guest { name: "ann".into() }, ip, None)
                .unwrap();
            for i in 0..5 {
                let text = format!("m{i}");
                state
                    .command(unix_ms(), 1, ClientCommand::Send { text })
                    .unwrap();
            }
        }
        room.wake();
        let sample = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let s = rates.recv().await.unwrap();
                if s.per_second > 0.0 {
                    return s;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(sample.channel, "rate");
        assert!(chat.stats("rate").await.unwrap().1 > 0.0);
        std::fs::remove_dir_all(dir).ok();
    }
}
