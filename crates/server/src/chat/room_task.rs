//! One task per open room: batches accepted events into frames, publishes and persists them,
//! and once a second computes the message rate, reports presence and does upkeep.

use super::broker::Outgoing;
use super::{Chat, PersistJob, RateSample, RoomHandle};
use crate::clock::unix_ms;
use crate::metrics;
use ferrocast_chat::{Batch, EventKind};
use ferrocast_db::{ChatEventRow, Hides};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// Seconds of message counts behind the rate signal.
const RATE_WINDOW_SECS: usize = 10;
/// Presence is reported at most this often.
const PRESENCE_EVERY: Duration = Duration::from_secs(5);
/// An empty room is closed after this long.
const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// How long events wait to be batched: short for small rooms (latency), longer for big ones so
/// that each connection gets fewer, larger frames (one write carries several messages).
fn batch_window(viewers: usize) -> Duration {
    Duration::from_millis(10 + (viewers as u64 / 100).min(90))
}

pub(super) async fn run(chat: Arc<Chat>, weak: Weak<RoomHandle>, wake: Arc<Notify>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Starts from the room's opening, so messages before the first tick count too.
    let mut counts: VecDeque<u64> = VecDeque::with_capacity(RATE_WINDOW_SECS + 2);
    counts.push_back(0);
    let mut last_presence = (0usize, tokio::time::Instant::now());
    let mut idle_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = wake.notified() => {
                let Some(room) = weak.upgrade() else { return };
                let viewers = room.lock().viewers();
                tokio::time::sleep(batch_window(viewers)).await;
                flush(&chat, &room);
            }
            _ = tick.tick() => {
                let Some(room) = weak.upgrade() else { return };
                let now = tokio::time::Instant::now();
                let (accepted, viewers, idle) = {
                    let mut state = room.lock();
                    state.upkeep(unix_ms());
                    (state.accepted_messages(), state.viewers(), state.is_idle())
                };
                counts.push_back(accepted);
                if counts.len() > RATE_WINDOW_SECS + 1 {
                    counts.pop_front();
                }
                let span = counts.len().saturating_sub(1).max(1) as f64;
                let per_second = (accepted - counts.front().copied().unwrap_or(accepted)) as f64 / span;
                room.rate.store(per_second.to_bits(), Ordering::Relaxed);
                if per_second > 0.0 || counts.iter().any(|c| *c != accepted) {
                    let _ = chat.rates.send(RateSample { channel: room.channel.clone(), per_second });
                }
                room.rate_gauge.set(per_second);
                if viewers != last_presence.0 && now - last_presence.1 >= PRESENCE_EVERY {
                    last_presence = (viewers, now);
                    publish(&chat, &room, ferrocast_chat::wire::presence_frame(viewers), 0, 0, unix_ms());
                }
                idle_since = if idle { Some(idle_since.unwrap_or(now)) } else { None };
                if idle_since.is_some_and(|t| now - t >= IDLE_CLOSE) && close_if_unused(&chat, room) {
                    return;
                }
            }
        }
    }
}

/// Drops the room from the registry if nobody but the registry and this task holds it.
fn close_if_unused(chat: &Chat, room: Arc<RoomHandle>) -> bool {
    let mut rooms = chat.rooms();
    // A deleted channel's room is no longer registered, and a new room may stand under its name:
    // only this very room is ever removed.
    let registered = rooms
        .get(&room.channel)
        .is_some_and(|r| Arc::ptr_eq(r, &room));
    // The registry's reference (if any) and ours. Joins take theirs under the registry lock.
    let ours = if registered { 2 } else { 1 };
    if Arc::strong_count(&room) > ours || !room.lock().is_idle() {
        return false;
    }
    if registered {
        rooms.remove(&room.channel);
        ::metrics::gauge!(metrics::CHAT_ROOMS).decrement(1.0);
    }
    drop(rooms);
    chat.broker.remove(&room.channel);
    tracing::debug!(channel = %room.channel, "idle chat room closed");
    true
}

fn publish(
    chat: &Chat,
    room: &RoomHandle,
    frame: bytes::Bytes,
    last_offset: u64,
    events: u32,
    accepted_ms: i64,
) {
    let Ok(text) = tokio_tungstenite::tungstenite::Utf8Bytes::try_from(frame) else {
        return;
    };
    let len = text.len() as u64;
    let published_bytes = room.published_bytes.fetch_add(len, Ordering::Relaxed) + len;
    chat.broker.publish(
        &room.channel,
        Outgoing {
            text,
            last_offset,
            events,
            published_bytes,
            accepted_ms,
        },
    );
}

/// Takes the room's pending events, publishes them as one frame and queues them for storage.
pub(super) fn flush(chat: &Chat, room: &RoomHandle) {
    let (batch, modes, mut banned) = {
        let mut state = room.lock();
        let Some(batch) = state.take_batch() else {
            return;
        };
        // What each ban in the batch stores: its addresses, as the room holds them now.
        let banned: VecDeque<String> = batch
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Ban { user, .. } => Some(
                    state
                        .banned_ips(&user.to_ascii_lowercase())
                        .unwrap_or_default()
                        .iter()
                        .map(|ip| ip.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            })
            .collect();
        (batch, super::modes_of(&state), banned)
    };
    let Batch {
        frame,
        last_offset,
        events,
        ..
    } = batch;
    let accepted_ms = events.first().map_or_else(unix_ms, |e| e.ts_ms);
    publish(
        chat,
        room,
        frame,
        last_offset,
        events.len() as u32,
        accepted_ms,
    );
    let mut rows = Vec::with_capacity(events.len());
    let mut messages = 0;
    for event in &events {
        let hides = match &event.kind {
            EventKind::Message { .. } => {
                messages += 1;
                Hides::Nothing
            }
            EventKind::Delete { target, .. } => Hides::Message(target.clone()),
            EventKind::Timeout { user, .. } => Hides::Author(user.to_ascii_lowercase()),
            EventKind::Ban { user, .. } => {
                let identity = user.to_ascii_lowercase();
                chat.queue(PersistJob::Ban {
                    channel_id: room.channel_id,
                    identity: identity.clone(),
                    ips: Some(banned.pop_front().unwrap_or_default()),
                    now_ms: event.ts_ms,
                });
                Hides::Author(identity)
            }
            EventKind::Unban { user, .. } => {
                chat.queue(PersistJob::Ban {
                    channel_id: room.channel_id,
                    identity: user.to_ascii_lowercase(),
                    ips: None,
                    now_ms: event.ts_ms,
                });
                Hides::Nothing
            }
            EventKind::Clear { .. } => Hides::All,
            EventKind::Slow { .. } | EventKind::Followers { .. } | EventKind::Guests { .. } => {
                Hides::Nothing
            }
        };
        rows.push(ChatEventRow {
            offset: event.offset,
            id: event.id.clone(),
            kind: event.kind.type_name().to_owned(),
            author: event.author().map(str::to_ascii_lowercase),
            ts_ms: event.ts_ms,
            json: String::from_utf8_lossy(&event.json).into_owned(),
            hides,
        });
    }
    room.messages_in.increment(messages);
    chat.queue(PersistJob::Events {
        channel_id: room.channel_id,
        rows,
        modes,
    });
}
