//! The per-channel hub between ingest and everything that consumes a live channel.
//!
//! One publisher at a time feeds a [`Hub`]; any number of consumers (the HLS packager today; the
//! transcoder, recorder, restreamer and analysers next) subscribe. Media travels as refcounted
//! `Bytes` inside [`MediaEvent`]s, so fan-out costs a refcount per consumer, not a copy.
//!
//! Memory is bounded: each subscriber has a fixed-capacity queue. A consumer that falls behind
//! by more than that is told how much it lost ([`Recv::Lagged`]) and must resynchronise (e.g. wait
//! for the next keyframe and mark a discontinuity); it never makes the publisher wait or buffer.
#![forbid(unsafe_code)]

use ferrocast_media::{AudioConfig, MediaEvent, StreamMetadata, VideoConfig};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// Events each subscriber sees, in publish order.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A publisher started; `session` numbers publishes on this hub from 1.
    Started {
        /// The publish session number.
        session: u64,
    },
    /// Media from the current publisher.
    Media(MediaEvent),
    /// The publisher stopped. `clean` is true for an explicit unpublish, false for a dropped
    /// connection (which may come back within the reconnect grace period).
    Ended {
        /// The publish session number.
        session: u64,
        /// Whether the publisher said goodbye.
        clean: bool,
    },
}

/// What a subscriber receives.
#[derive(Debug)]
pub enum Recv {
    /// The next event.
    Event(HubEvent),
    /// The subscriber fell behind and `n` events were dropped for it.
    Lagged(u64),
    /// The hub is gone.
    Closed,
}

/// The decoder state a late subscriber needs before the next keyframe makes sense.
#[derive(Debug, Clone, Default)]
pub struct StreamState {
    /// Current publish session, if one is live.
    pub session: Option<u64>,
    /// Latest video configuration.
    pub video: Option<VideoConfig>,
    /// Latest audio configuration.
    pub audio: Option<AudioConfig>,
    /// Latest metadata.
    pub metadata: Option<StreamMetadata>,
}

/// One channel's fan-out point.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: broadcast::Sender<HubEvent>,
    state: Mutex<StreamState>,
    sessions: Mutex<u64>,
}

/// A subscription to a hub.
#[derive(Debug)]
pub struct Subscriber {
    rx: broadcast::Receiver<HubEvent>,
}

impl Hub {
    /// A hub whose subscribers may each fall `capacity` events behind before they lag.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            inner: Arc::new(Inner {
                tx,
                state: Mutex::new(StreamState::default()),
                sessions: Mutex::new(0),
            }),
        }
    }

    /// Subscribes from now on; pair it with [`Hub::state`] to start mid-stream.
    pub fn subscribe(&self) -> Subscriber {
        Subscriber {
            rx: self.inner.tx.subscribe(),
        }
    }

    /// Number of current subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// The decoder state as of the latest published event.
    pub fn state(&self) -> StreamState {
        self.lock_state().clone()
    }

    /// Begins a publish session and announces it.
    pub fn start(&self) -> u64 {
        let session = {
            let mut n = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *n += 1;
            *n
        };
        *self.lock_state() = StreamState {
            session: Some(session),
            ..StreamState::default()
        };
        self.send(HubEvent::Started { session });
        session
    }

    /// Publishes one media event of the current session.
    pub fn publish(&self, event: MediaEvent) {
        match &event {
            MediaEvent::VideoConfig(c) => self.lock_state().video = Some(c.clone()),
            MediaEvent::AudioConfig(c) => self.lock_state().audio = Some(c.clone()),
            MediaEvent::Metadata(m) => self.lock_state().metadata = Some(m.clone()),
            MediaEvent::Frame(_) => {}
        }
        self.send(HubEvent::Media(event));
    }

    /// Ends the publish session `session` (no-op if another one has started since).
    pub fn end(&self, session: u64, clean: bool) {
        {
            let mut state = self.lock_state();
            if state.session != Some(session) {
                return;
            }
            *state = StreamState::default();
        }
        self.send(HubEvent::Ended { session, clean });
    }

    fn send(&self, event: HubEvent) {
        // No subscriber is not an error: media is simply not consumed.
        let _ = self.inner.tx.send(event);
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Subscriber {
    /// Waits for the next event.
    pub async fn recv(&mut self) -> Recv {
        match self.rx.recv().await {
            Ok(ev) => Recv::Event(ev),
            Err(broadcast::error::RecvError::Lagged(n)) => Recv::Lagged(n),
            Err(broadcast::error::RecvError::Closed) => Recv::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ferrocast_media::{Frame, TrackKind};

    fn frame(dts: i64) -> MediaEvent {
        MediaEvent::Frame(Frame {
            kind: TrackKind::Audio,
            dts,
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(b"x"),
        })
    }

    #[tokio::test]
    async fn subscribers_see_session_lifecycle_in_order() {
        let hub = Hub::new(16);
        let mut a = hub.subscribe();
        let s = hub.start();
        hub.publish(frame(0));
        hub.end(s, false);
        assert!(matches!(
            a.recv().await,
            Recv::Event(HubEvent::Started { session: 1 })
        ));
        assert!(matches!(
            a.recv().await,
            Recv::Event(HubEvent::Media(MediaEvent::Frame(_)))
        ));
        assert!(matches!(
            a.recv().await,
            Recv::Event(HubEvent::Ended {
                session: 1,
                clean: false
            })
        ));
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_instead_of_growing_memory() {
        let hub = Hub::new(4);
        let mut slow = hub.subscribe();
        hub.start();
        for i in 0..100 {
            hub.publish(frame(i));
        }
        assert!(matches!(slow.recv().await, Recv::Lagged(n) if n > 90));
    }

    #[tokio::test]
    async fn stale_end_does_not_end_a_newer_session() {
        let hub = Hub::new(16);
        let old = hub.start();
        let new = hub.start();
        hub.end(old, true);
        assert_eq!(hub.state().session, Some(new));
    }
}
