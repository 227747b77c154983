//! One chat WebSocket: join (first-message auth), commands, delivery, heartbeats.
//!
//! Close codes (documented in docs/CHAT.md): 1000 normal, 1008 policy (no join in time, command
//! flood), 1009 frame too big, 1012 server restarting, 4000 slow consumer (reconnect and recover),
//! 4001 heartbeat timeout, 4004 room closed.

use super::broker::Outgoing;
use super::{Chat, RoomHandle};
use crate::clock::unix_ms;
use crate::metrics;
use bytes::Bytes;
use ferrocast_chat::protocol::{decode, ClientCommand};
use ferrocast_chat::wire::error_frame;
use ferrocast_chat::{Credential, Reason, Refusal, TokenBucket};
use futures_util::{SinkExt, StreamExt};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// A connection must join within this time.
const JOIN_DEADLINE: Duration = Duration::from_secs(10);
/// A single write may take this long before the connection counts as stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Unread bytes a connection may have fallen behind the room by.
const MAX_BEHIND_BYTES: u64 = 1 << 20;
/// Commands per connection: a burst of this many (above any role's message burst)...
const COMMAND_BURST: u32 = 120;
/// ...refilled over this period.
const COMMAND_PERIOD_MS: u64 = 10_000;
/// Refusals in a row for command flooding before the connection is closed.
const FLOOD_CLOSE_AFTER: u32 = 50;
/// Frames drained from the room per write burst (one flush for all of them).
const DRAIN_BURST: usize = 32;

const CLOSE_POLICY: u16 = 1008;
const CLOSE_RESTART: u16 = 1012;
const CLOSE_SLOW: u16 = 4000;
const CLOSE_HEARTBEAT: u16 = 4001;
const CLOSE_ROOM_GONE: u16 = 4004;

fn text(bytes: Bytes) -> Message {
    Message::Text(Utf8Bytes::try_from(bytes).unwrap_or_default())
}

/// What the upgrade hands over: a TCP stream, or hyper's upgraded connection in tests.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// The chat socket.
type WebSocket<S> = WebSocketStream<S>;

/// A client frame, sorted.
enum Incoming {
    /// A text frame: a command.
    Text(Utf8Bytes),
    /// Control frames (answered by the WebSocket layer) and nothing to act on.
    Ignore,
    /// Binary: not part of the protocol.
    Binary,
    /// The client closed, or the connection failed.
    Gone,
}

fn sort(frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Incoming {
    match frame {
        Some(Ok(Message::Text(t))) => Incoming::Text(t),
        Some(Ok(Message::Binary(_))) => Incoming::Binary,
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Incoming::Ignore,
        Some(Ok(Message::Close(_)) | Err(_)) | None => Incoming::Gone,
    }
}

fn binary_refusal() -> Refusal {
    Refusal::new(Reason::BadRequest, "frames are JSON text")
}

async fn send<S: Io>(socket: &mut WebSocket<S>, message: Message) -> bool {
    matches!(
        timeout(WRITE_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Closes with `code`, counting the disconnect under `why`.
async fn close<S: Io>(
    socket: &mut WebSocket<S>,
    code: u16,
    reason: &'static str,
    why: &'static str,
) {
    ::metrics::counter!(metrics::CHAT_DISCONNECTS, "reason" => why).increment(1);
    tracing::debug!(code, why, "chat connection closed by the server");
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = timeout(
        Duration::from_secs(1),
        socket.send(Message::Close(Some(frame))),
    )
    .await;
}

async fn refuse<S: Io>(socket: &mut WebSocket<S>, refusal: &Refusal) -> bool {
    Chat::count_refusal(refusal.reason);
    send(socket, text(error_frame(refusal))).await
}

/// Drives one connection until it closes.
pub async fn run<S: Io>(
    mut socket: WebSocket<S>,
    chat: Arc<Chat>,
    room: Arc<RoomHandle>,
    ip: IpAddr,
) {
    let conn = chat.next_conn_id();
    ::metrics::gauge!(metrics::CHAT_CONNECTIONS).increment(1.0);
    let joined = join(&mut socket, &chat, &room, conn, ip).await;
    if let Some(skip_until) = joined {
        session(&mut socket, &chat, &room, conn, skip_until).await;
        room.lock().leave(conn);
    }
    ::metrics::gauge!(metrics::CHAT_CONNECTIONS).decrement(1.0);
}

/// Waits for `join`; returns the offset up to which the `joined` frame covered the stream.
async fn join<S: Io>(
    socket: &mut WebSocket<S>,
    chat: &Arc<Chat>,
    room: &Arc<RoomHandle>,
    conn: u64,
    ip: IpAddr,
) -> Option<(u64, tokio::sync::broadcast::Receiver<Outgoing>)> {
    let deadline = Instant::now() + JOIN_DEADLINE;
    let mut commands = TokenBucket::new(COMMAND_BURST, COMMAND_PERIOD_MS, unix_ms());
    loop {
        let Ok(incoming) = tokio::time::timeout_at(deadline, socket.next()).await else {
            close(socket, CLOSE_POLICY, "join first", "join_timeout").await;
            return None;
        };
        let frame = match sort(incoming) {
            Incoming::Text(t) => t,
            Incoming::Gone => return None,
            Incoming::Ignore => continue,
            Incoming::Binary => {
                refuse(socket, &binary_refusal()).await;
                continue;
            }
        };
        if commands.try_take(unix_ms()).is_err() {
            close(socket, CLOSE_POLICY, "too many commands", "flood").await;
            return None;
        }
        let (name, token, since) = match decode(frame.as_str()) {
            Ok(ClientCommand::Join { name, token, since }) => (name, token, since),
            Ok(ClientCommand::Ping) => {
                send(socket, text(ferrocast_chat::wire::pong_frame())).await;
                continue;
            }
            Ok(_) => {
                refuse(
                    socket,
                    &Refusal::new(Reason::NotJoined, "send `join` first"),
                )
                .await;
                continue;
            }
            Err(refusal) => {
                refuse(socket, &refusal).await;
                continue;
            }
        };
        let credential = match token {
            Some(token) => match chat.verify_token(&room.channel, &token) {
                Ok(claims) => Credential::Verified {
                    name: claims.name,
                    role: claims.role,
                    follower: claims.follower,
                },
                Err(refusal) => {
                    refuse(socket, &refusal).await;
                    continue;
                }
            },
            None => Credential::Guest {
                name: name.unwrap_or_default(),
            },
        };
        // Subscribe before reading the room's state: every frame published after the state was
        // read reaches this receiver, and frames already covered by `joined` are skipped.
        let receiver = chat.broker().subscribe(&room.channel);
        let outcome = room.lock().join(conn, credential, ip, since);
        match outcome {
            Ok(outcome) => {
                tracing::debug!(channel = %room.channel, conn, name = %outcome.name, role = ?outcome.role, recovered = ?outcome.recovered, "chat join");
                if !send(socket, text(outcome.frame)).await {
                    room.lock().leave(conn);
                    return None;
                }
                return Some((outcome.offset, receiver));
            }
            Err(refusal) => {
                refuse(socket, &refusal).await;
            }
        }
    }
}

async fn session<S: Io>(
    socket: &mut WebSocket<S>,
    chat: &Arc<Chat>,
    room: &Arc<RoomHandle>,
    conn: u64,
    (skip_until, mut frames): (u64, tokio::sync::broadcast::Receiver<Outgoing>),
) {
    let heartbeat = chat.config().heartbeat;
    let silence_limit = heartbeat * 5 / 2;
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    let mut last_heard = Instant::now();
    let mut commands = TokenBucket::new(COMMAND_BURST, COMMAND_PERIOD_MS, unix_ms());
    let mut flood = 0u32;
    // Created once: re-registering with the server-wide and room-wide signals on every loop turn
    // would contend on their shared locks from every connection.
    let mut shutdown = chat.shutdown_signal();
    let mut closed = room.closed();
    let shutdown = signalled(&mut shutdown);
    let closed = signalled(&mut closed);
    tokio::pin!(shutdown, closed);
    let mut delivery = Delivery {
        skip_until,
        burst: Vec::new(),
        deliveries: ::metrics::counter!(metrics::CHAT_DELIVERIES),
        latency: ::metrics::histogram!(metrics::CHAT_DELIVERY_SECONDS),
    };
    loop {
        let open = tokio::select! {
            incoming = socket.next() => {
                last_heard = Instant::now();
                match sort(incoming) {
                    Incoming::Gone => false,
                    Incoming::Ignore => true,
                    Incoming::Binary => refuse(socket, &binary_refusal()).await,
                    Incoming::Text(frame) => {
                        command(socket, room, conn, &frame, &mut commands, &mut flood).await
                    }
                }
            }
            received = frames.recv() => delivery.deliver(socket, room, received, &mut frames).await,
            _ = ping.tick() => {
                if last_heard.elapsed() > silence_limit {
                    close(socket, CLOSE_HEARTBEAT, "heartbeat timeout", "heartbeat").await;
                    false
                } else {
                    send(socket, Message::Ping(Bytes::new())).await
                }
            }
            _ = &mut shutdown => {
                close(socket, CLOSE_RESTART, "server restarting; reconnect and recover", "restart").await;
                false
            }
            _ = &mut closed => {
                close(socket, CLOSE_ROOM_GONE, "room closed", "room_closed").await;
                false
            }
        };
        if !open {
            return;
        }
    }
}

/// Applies one client command under the per-connection limit; false when the connection ends.
async fn command<S: Io>(
    socket: &mut WebSocket<S>,
    room: &RoomHandle,
    conn: u64,
    frame: &Utf8Bytes,
    commands: &mut TokenBucket,
    flood: &mut u32,
) -> bool {
    let now = unix_ms();
    if let Err(wait) = commands.try_take(now) {
        *flood += 1;
        if *flood >= FLOOD_CLOSE_AFTER {
            close(socket, CLOSE_POLICY, "too many commands", "flood").await;
            return false;
        }
        let refusal = Refusal::retry_after(Reason::RateLimited, "too many commands", wait);
        return refuse(socket, &refusal).await;
    }
    *flood = 0;
    let reply = decode(frame.as_str()).and_then(|command| room.lock().command(now, conn, command));
    match reply {
        Ok(Some(frame)) => send(socket, text(frame)).await,
        Ok(None) => {
            room.wake();
            true
        }
        Err(refusal) => refuse(socket, &refusal).await,
    }
}

/// Writes the room's frames to one connection.
struct Delivery {
    /// Frames ending at or before this offset were in the `joined` frame.
    skip_until: u64,
    /// Reused for every burst: this runs for every frame on every connection.
    burst: Vec<Outgoing>,
    deliveries: ::metrics::Counter,
    latency: ::metrics::Histogram,
}

impl Delivery {
    /// Writes `received` and whatever else is ready with one flush; false when the connection
    /// ends (it fell behind or a write got stuck: a slow consumer).
    async fn deliver<S: Io>(
        &mut self,
        socket: &mut WebSocket<S>,
        room: &RoomHandle,
        received: Result<Outgoing, RecvError>,
        frames: &mut tokio::sync::broadcast::Receiver<Outgoing>,
    ) -> bool {
        let first = match received {
            Ok(frame) => frame,
            Err(RecvError::Lagged(_)) => return slow_consumer(socket, room).await,
            Err(RecvError::Closed) => return false,
        };
        self.burst.clear();
        self.burst.push(first);
        while self.burst.len() < DRAIN_BURST {
            match frames.try_recv() {
                Ok(frame) => self.burst.push(frame),
                Err(TryRecvError::Lagged(_)) => return slow_consumer(socket, room).await,
                Err(_) => break,
            }
        }
        let behind = self.burst.last().map_or(0, |last| {
            room.published_bytes().saturating_sub(last.published_bytes)
        });
        if behind > MAX_BEHIND_BYTES {
            return slow_consumer(socket, room).await;
        }
        let mut events = 0u64;
        let mut oldest = i64::MAX;
        let skip_until = self.skip_until;
        let burst = &mut self.burst;
        // One deadline for the whole burst: a timer per write would cost more than the write
        // itself in a big room.
        let written = timeout(WRITE_TIMEOUT, async {
            for frame in burst.drain(..) {
                if frame.last_offset != 0 && frame.last_offset <= skip_until {
                    continue;
                }
                events += u64::from(frame.events);
                oldest = oldest.min(frame.accepted_ms);
                socket.feed(Message::Text(frame.text)).await?;
            }
            socket.flush().await
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            return slow_consumer(socket, room).await;
        }
        if events > 0 {
            self.deliveries.increment(events);
            self.latency
                .record((unix_ms() - oldest).max(0) as f64 / 1000.0);
        }
        true
    }
}

/// Resolves once the flag is set; never if its sender is gone (nothing can set it any more).
async fn signalled(flag: &mut tokio::sync::watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Closes a connection that fell behind; always false (the connection ends).
async fn slow_consumer<S: Io>(socket: &mut WebSocket<S>, room: &RoomHandle) -> bool {
    ::metrics::counter!(metrics::CHAT_SLOW_CONSUMERS).increment(1);
    tracing::info!(channel = %room.channel, "chat connection too slow; closed");
    close(
        socket,
        CLOSE_SLOW,
        "too slow; reconnect and recover",
        "slow_consumer",
    )
    .await;
    false
}
