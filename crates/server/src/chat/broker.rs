//! The fan-out seam between rooms and connections.
//!
//! A room publishes each frame once; every connection subscribed to the room receives the same
//! bytes. The embedded broker is a tokio broadcast channel per room. A multi-node broker (NATS)
//! implements the same trait: `publish` sends to a subject, and a subscription task per room feeds
//! the local channel that `subscribe` hands out. Room logic never sees which one runs.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Frames a connection may fall behind by before it is dropped as a slow consumer.
pub const SUBSCRIBER_BACKLOG_FRAMES: usize = 256;

/// One frame for every connection of a room.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The WebSocket text payload.
    pub text: Utf8Bytes,
    /// Offset of the last event in the frame; 0 for frames outside the ordered stream (presence).
    pub last_offset: u64,
    /// Events in the frame.
    pub events: u32,
    /// Bytes the room had published when this frame was published, this one included; the
    /// difference to the room's current count is how far behind a connection is.
    pub published_bytes: u64,
    /// When the oldest event of the frame was accepted, unix ms (delivery latency).
    pub accepted_ms: i64,
}

/// Carries a room's frames to its connections.
pub trait Broker: Send + Sync + 'static {
    /// Publishes a frame to every subscriber of `room`.
    fn publish(&self, room: &str, frame: Outgoing);
    /// Subscribes to `room`'s frames from now on.
    fn subscribe(&self, room: &str) -> broadcast::Receiver<Outgoing>;
    /// Forgets a room nobody listens to.
    fn remove(&self, room: &str);
}

/// The embedded default: in-process broadcast channels.
#[derive(Default)]
pub struct InProcessBroker {
    topics: Mutex<HashMap<String, broadcast::Sender<Outgoing>>>,
}

impl InProcessBroker {
    fn sender(&self, room: &str) -> broadcast::Sender<Outgoing> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .entry(room.to_owned())
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BACKLOG_FRAMES).0)
            .clone()
    }
}

impl Broker for InProcessBroker {
    fn publish(&self, room: &str, frame: Outgoing) {
        // No subscribers is not an error: nobody is watching.
        let _ = self.sender(room).send(frame);
    }

    fn subscribe(&self, room: &str) -> broadcast::Receiver<Outgoing> {
        self.sender(room).subscribe()
    }

    fn remove(&self, room: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if topics.get(room).is_some_and(|t| t.receiver_count() == 0) {
            topics.remove(room);
        }
    }
}
