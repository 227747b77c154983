//! Live channels in memory: who is publishing, the hub, and what viewers are served.
//!
//! Each channel has one [`Hub`]. While a broadcast lasts (from the first publish until its
//! playlist ends), one packager task consumes the hub and fills an [`Output`]: the bounded ring of
//! CMAF segments and the cached playlists the HTTP origin serves.

mod health;
mod output;
mod packager;

pub use health::{IngestHealth, IngestSnapshot, TranscoderHealth, TranscoderSnapshot};
pub use output::{
    BlockingLimits, CachedPlaylist, Output, Position, Rendition, RenditionState, RungInfo,
    SOURCE_RENDITION,
};

use crate::metrics as m;
use ferrocast_hub::Hub;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Events a subscriber may fall behind by before it lags (about 10 s of 30 fps video + audio).
const HUB_CAPACITY: usize = 1024;
/// Ended broadcasts remembered for the directory's "recently ended" list.
const RECENT_ENDED: usize = 50;

/// Packaging settings shared by every channel.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Segment duration / EXT-X-TARGETDURATION.
    pub segment_duration: Duration,
    /// Segments listed per playlist.
    pub window: usize,
    /// Low-Latency HLS part duration (`None`: no parts, no blocking reloads, no delta updates).
    pub part_duration: Option<Duration>,
    /// How long a dropped publisher may take to come back.
    pub reconnect_grace: Duration,
    /// How long an ended broadcast stays served before its memory is freed.
    pub ended_retention: Duration,
    /// The transcoder (`None` only in unit tests): it runs a channel's ladder, its own or the
    /// server's, and idles for a channel whose ladder is off.
    pub transcode: Option<Arc<crate::transcode::TranscodeConfig>>,
}

/// All live channels of this server.
#[derive(Debug)]
pub struct Live {
    config: LiveConfig,
    channels: RwLock<HashMap<String, Arc<LiveChannel>>>,
    shutdown: watch::Receiver<bool>,
    /// Channels whose publish ended, newest first, each at most once (in memory: a restart
    /// forgets them).
    recent_ended: Arc<Mutex<VecDeque<(String, i64)>>>,
}

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishRefusal {
    /// Someone is already publishing to this channel.
    AlreadyLive,
    /// The server is shutting down.
    ShuttingDown,
}

/// One channel's live state.
#[derive(Debug)]
pub struct LiveChannel {
    /// Channel name.
    pub name: String,
    /// Fan-out of the current publisher's media.
    pub hub: Hub,
    /// Ingest figures of the current or last publish.
    pub ingest: IngestHealth,
    /// The directory's thumbnail.
    pub thumbnail: crate::thumbnail::ThumbnailSlot,
    /// The registry's list of ended broadcasts, which this channel's publish guard adds to.
    recent_ended: Arc<Mutex<VecDeque<(String, i64)>>>,
    state: Mutex<ChannelState>,
    output: RwLock<Option<Arc<Output>>>,
}

#[derive(Debug, Default)]
struct ChannelState {
    publisher: Option<PublisherSlot>,
    packager_running: bool,
}

#[derive(Debug)]
struct PublisherSlot {
    connection: u64,
    kick: Arc<Notify>,
}

/// Held by the ingest connection while it publishes; dropping it ends the publish.
#[derive(Debug)]
pub struct PublishGuard {
    channel: Arc<LiveChannel>,
    session: u64,
    connection: u64,
    clean: bool,
}

impl Live {
    /// An empty registry; `shutdown` turns true when the server stops.
    pub fn new(config: LiveConfig, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            config,
            channels: RwLock::new(HashMap::new()),
            shutdown,
            recent_ended: Arc::default(),
        }
    }

    /// The channel's live state, if it has ever gone live since start.
    pub fn get(&self, name: &str) -> Option<Arc<LiveChannel>> {
        self.channels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn new_channel(&self, name: &str) -> Arc<LiveChannel> {
        Arc::new(LiveChannel {
            name: name.to_owned(),
            hub: Hub::new(HUB_CAPACITY),
            ingest: IngestHealth::default(),
            thumbnail: Default::default(),
            recent_ended: self.recent_ended.clone(),
            state: Mutex::new(ChannelState::default()),
            output: RwLock::new(None),
        })
    }

    /// Claims the channel for a publisher. `kick` is notified when the server wants it gone.
    pub fn start_publish(
        &self,
        name: &str,
        connection: u64,
        kick: Arc<Notify>,
    ) -> Result<PublishGuard, PublishRefusal> {
        if *self.shutdown.borrow() {
            return Err(PublishRefusal::ShuttingDown);
        }
        let channel = loop {
            // The claim happens under the map's read lock, so the idle sweeper (which takes the
            // write lock) can never remove a channel between its lookup and its claim.
            {
                let map = self.channels.read().unwrap_or_else(PoisonError::into_inner);
                if let Some(channel) = map.get(name) {
                    self.claim(channel, connection, kick)?;
                    break channel.clone();
                }
            }
            self.channels
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(name.to_owned())
                .or_insert_with(|| self.new_channel(name));
        };
        let session = channel.hub.start();
        channel.ingest.started(crate::clock::unix_ms());
        metrics::gauge!(m::CHANNEL_LIVE, "channel" => name.to_owned()).set(1.0);
        Ok(PublishGuard {
            channel,
            session,
            connection,
            clean: false,
        })
    }

    fn claim(
        &self,
        channel: &Arc<LiveChannel>,
        connection: u64,
        kick: Arc<Notify>,
    ) -> Result<(), PublishRefusal> {
        let mut state = channel.lock_state();
        if state.publisher.is_some() {
            return Err(PublishRefusal::AlreadyLive);
        }
        state.publisher = Some(PublisherSlot { connection, kick });
        if !state.packager_running {
            state.packager_running = true;
            // Subscribe before the session starts so the packager sees `Started`.
            let sub = channel.hub.subscribe();
            let transcode_sub = self
                .config
                .transcode
                .as_ref()
                .map(|_| channel.hub.subscribe());
            tokio::spawn(packager::run(
                channel.clone(),
                sub,
                self.config.clone(),
                self.shutdown.clone(),
                transcode_sub,
            ));
        }
        Ok(())
    }

    /// Forgets channels with no publisher, no packager and nothing served, so an offline channel
    /// holds no memory (the hub's queue would otherwise keep its last seconds of media).
    pub fn sweep_idle(&self) -> usize {
        let mut map = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let before = map.len();
        map.retain(|_, c| {
            let state = c.lock_state();
            state.publisher.is_some() || state.packager_running || c.output().is_some()
        });
        before - map.len()
    }

    /// Asks the channel's publisher (if any) to stop, e.g. after a key rotation.
    pub fn kick(&self, name: &str) {
        if let Some(ch) = self.get(name) {
            if let Some(p) = &ch.lock_state().publisher {
                p.kick.notify_one();
            }
        }
    }

    /// Forgets a deleted channel: its publisher is kicked and its playlists disappear.
    pub fn remove(&self, name: &str) {
        self.kick(name);
        self.forget_ended(name);
        let removed = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        if let Some(ch) = removed {
            *ch.output.write().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// Channels with a publisher right now.
    pub fn live_count(&self) -> usize {
        let map = self.channels.read().unwrap_or_else(PoisonError::into_inner);
        map.values().filter(|c| c.is_live()).count()
    }

    /// Total bytes held in all channels' segment rings.
    pub fn held_bytes(&self) -> usize {
        let map = self.channels.read().unwrap_or_else(PoisonError::into_inner);
        map.values()
            .filter_map(|c| c.output())
            .map(|o| o.held_bytes())
            .sum()
    }

    /// Broadcasts that ended and are not live again, newest first: (channel, ended at unix ms).
    pub fn recently_ended(&self) -> Vec<(String, i64)> {
        let ended: Vec<_> = self
            .recent_ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        ended
            .into_iter()
            .filter(|(name, _)| !self.get(name).is_some_and(|c| c.is_live()))
            .collect()
    }

    /// Forgets a deleted channel in the recently-ended list.
    fn forget_ended(&self, name: &str) {
        self.recent_ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(n, _)| n != name);
    }

    /// Every channel's state (for shutdown).
    pub fn all(&self) -> Vec<Arc<LiveChannel>> {
        self.channels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

impl LiveChannel {
    fn lock_state(&self) -> MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a publisher is connected now.
    pub fn is_live(&self) -> bool {
        self.lock_state().publisher.is_some()
    }

    /// Whether a packager task still runs (live, or within the reconnect grace period).
    pub fn is_packaging(&self) -> bool {
        self.lock_state().packager_running
    }

    /// What viewers are served now: the current or last broadcast.
    pub fn output(&self) -> Option<Arc<Output>> {
        self.output
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_output(&self, output: Arc<Output>) {
        *self.output.write().unwrap_or_else(PoisonError::into_inner) = Some(output);
    }

    /// Stops serving `output` unless a newer broadcast already replaced it.
    fn clear_output(&self, output: &Arc<Output>) {
        let mut current = self.output.write().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, output)) {
            *current = None;
        }
    }

    /// Called by the packager when it wants to end the broadcast: succeeds (and marks the packager
    /// stopped) only if no publisher has claimed the channel meanwhile.
    fn packager_may_stop(&self) -> bool {
        let mut state = self.lock_state();
        if state.publisher.is_some() {
            return false;
        }
        state.packager_running = false;
        true
    }
}

impl PublishGuard {
    /// The hub session number.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The channel being published.
    pub fn channel(&self) -> &Arc<LiveChannel> {
        &self.channel
    }

    /// Marks the end as an explicit unpublish (the playlist ends at once, no grace period).
    pub fn set_clean(&mut self) {
        self.clean = true;
    }
}

impl Drop for PublishGuard {
    fn drop(&mut self) {
        {
            let mut state = self.channel.lock_state();
            if state
                .publisher
                .as_ref()
                .is_some_and(|p| p.connection == self.connection)
            {
                state.publisher = None;
            }
        }
        self.channel.hub.end(self.session, self.clean);
        let now = crate::clock::unix_ms();
        self.channel.ingest.ended(now);
        {
            let mut ended = self
                .channel
                .recent_ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            ended.retain(|(n, _)| *n != self.channel.name);
            ended.push_front((self.channel.name.clone(), now));
            ended.truncate(RECENT_ENDED);
        }
        metrics::gauge!(m::CHANNEL_LIVE, "channel" => self.channel.name.clone()).set(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(shutdown: watch::Receiver<bool>) -> Live {
        Live::new(
            LiveConfig {
                segment_duration: Duration::from_secs(2),
                window: 6,
                part_duration: Some(Duration::from_millis(500)),
                reconnect_grace: Duration::from_secs(10),
                ended_retention: Duration::from_millis(100),
                transcode: None,
            },
            shutdown,
        )
    }

    #[tokio::test]
    async fn one_publisher_per_channel_and_idle_channels_are_freed() {
        let (_tx, rx) = watch::channel(false);
        let live = live(rx);
        let mut first = live.start_publish("a", 1, Arc::new(Notify::new())).unwrap();
        assert_eq!(
            live.start_publish("a", 2, Arc::new(Notify::new()))
                .unwrap_err(),
            PublishRefusal::AlreadyLive
        );
        assert_eq!(live.sweep_idle(), 0, "a live channel is never swept");
        first.set_clean();
        drop(first);
        // The packager ends the broadcast at once (clean unpublish), keeps it served for the
        // retention period, then frees it; only then may the sweeper forget the channel.
        let channel = live.get("a").unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while channel.output().is_some() || channel.is_packaging() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("ended broadcast freed after its retention");
        assert_eq!(live.sweep_idle(), 1);
        assert!(live.get("a").is_none());
        // The name can go live again.
        drop(live.start_publish("a", 3, Arc::new(Notify::new())).unwrap());
    }

    #[tokio::test]
    async fn no_publish_once_shutting_down() {
        let (tx, rx) = watch::channel(false);
        let live = live(rx);
        tx.send(true).unwrap();
        assert_eq!(
            live.start_publish("a", 1, Arc::new(Notify::new()))
                .unwrap_err(),
            PublishRefusal::ShuttingDown
        );
    }
}
