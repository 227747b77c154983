//! One chat WebSocket: join (first-message auth), commands, delivery, heartbeats.
//!
//! Close codes (documented in docs/CHAT.md): 1000 normal, 1008 policy (no join in time, command
//! flood), 1009 frame too big, 1012 server restarting, 4000 slow consumer (reconnect and recover),
//! 4001 heartbeat timeout, 4004 room closed.

use super::broker::Outgoing;
use super::{now_ms, Chat, RoomHandle};
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
use tokio::sync::broadcast::error::RecvError;
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

/// The chat socket, over whatever stream the upgrade handed over.
type WebSocket<S> = WebSocketStream<S>;

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocket<S>,
    message: Message,
) -> bool {
    matches!(
        timeout(WRITE_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Closes with `code`, counting the disconnect under `why`.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(
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

async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocket<S>,
    refusal: &Refusal,
) -> bool {
    Chat::count_refusal(refusal.reason);
    send(socket, text(error_frame(refusal))).await
}

/// Drives one connection until it closes.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
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
async fn join<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocket<S>,
    chat: &Arc<Chat>,
    room: &Arc<RoomHandle>,
    conn: u64,
    ip: IpAddr,
) -> Option<(u64, tokio::sync::broadcast::Receiver<Outgoing>)> {
    let deadline = Instant::now() + JOIN_DEADLINE;
    let mut commands = TokenBucket::new(COMMAND_BURST, COMMAND_PERIOD_MS, now_ms());
    loop {
        let message = match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => {
                close(socket, CLOSE_POLICY, "join first", "join_timeout").await;
                return None;
            }
            Ok(None | Some(Err(_))) => return None,
            Ok(Some(Ok(message))) => message,
        };
        let frame = match message {
            Message::Text(t) => t,
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            Message::Binary(_) => {
                refuse(
                    socket,
                    &Refusal::new(Reason::BadRequest, "frames are JSON text"),
                )
                .await;
                continue;
            }
        };
        if commands.try_take(now_ms()).is_err() {
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
                Ok((name, role)) => Credential::Verified { name, role },
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
        let outcome = room.lock().join(now_ms(), conn, credential, ip, since);
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

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
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
    let mut commands = TokenBucket::new(COMMAND_BURST, COMMAND_PERIOD_MS, now_ms());
    let mut flood = 0u32;
    // Created once: re-registering with the server-wide and room-wide signals on every loop turn
    // would contend on their shared locks from every connection.
    let mut shutdown = chat.shutdown_signal();
    let mut closed = room.closed();
    let shutdown = signalled(&mut shutdown);
    let closed = signalled(&mut closed);
    tokio::pin!(shutdown, closed);
    let deliveries = ::metrics::counter!(metrics::CHAT_DELIVERIES);
    let latency = ::metrics::histogram!(metrics::CHAT_DELIVERY_SECONDS);
    loop {
        tokio::select! {
            incoming = socket.next() => {
                let Some(Ok(message)) = incoming else { return };
                last_heard = Instant::now();
                let frame = match message {
                    Message::Text(t) => t,
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                    Message::Binary(_) => {
                        if !refuse(socket, &Refusal::new(Reason::BadRequest, "frames are JSON text")).await {
                            return;
                        }
                        continue;
                    }
                };
                let now = now_ms();
                if let Err(wait) = commands.try_take(now) {
                    flood += 1;
                    if flood >= FLOOD_CLOSE_AFTER {
                        close(socket, CLOSE_POLICY, "too many commands", "flood").await;
                        return;
                    }
                    let refusal = Refusal::retry_after(Reason::RateLimited, "too many commands", wait);
                    if !refuse(socket, &refusal).await {
                        return;
                    }
                    continue;
                }
                flood = 0;
                let reply = decode(frame.as_str()).and_then(|command| room.lock().command(now, conn, command));
                let ok = match reply {
                    Ok(Some(frame)) => send(socket, text(frame)).await,
                    Ok(None) => {
                        room.wake();
                        true
                    }
                    Err(refusal) => refuse(socket, &refusal).await,
                };
                if !ok {
                    return;
                }
            }
            received = frames.recv() => {
                let first = match received {
                    Ok(frame) => frame,
                    Err(RecvError::Lagged(_)) => {
                        slow_consumer(socket, room).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                };
                // Drain what else is ready and flush once: one write for a burst of frames.
                let mut batch = vec![first];
                while batch.len() < DRAIN_BURST {
                    match frames.try_recv() {
                        Ok(frame) => batch.push(frame),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                            slow_consumer(socket, room).await;
                            return;
                        }
                        Err(_) => break,
                    }
                }
                if let Some(last) = batch.last() {
                    if room.published_bytes().saturating_sub(last.published_bytes) > MAX_BEHIND_BYTES {
                        slow_consumer(socket, room).await;
                        return;
                    }
                }
                let mut events = 0u64;
                let mut oldest = i64::MAX;
                // One deadline for the whole burst: a timer per write would cost more than the
                // write itself in a big room.
                let written = timeout(WRITE_TIMEOUT, async {
                    for frame in batch {
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
                    slow_consumer(socket, room).await;
                    return;
                }
                if events > 0 {
                    deliveries.increment(events);
                    latency.record((now_ms() - oldest).max(0) as f64 / 1000.0);
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > silence_limit {
                    close(socket, CLOSE_HEARTBEAT, "heartbeat timeout", "heartbeat").await;
                    return;
                }
                if !send(socket, Message::Ping(Bytes::new())).await {
                    return;
                }
            }
            _ = &mut shutdown => {
                close(socket, CLOSE_RESTART, "server restarting; reconnect and recover", "restart").await;
                return;
            }
            _ = &mut closed => {
                close(socket, CLOSE_ROOM_GONE, "room closed", "room_closed").await;
                return;
            }
        }
    }
}

/// Resolves once the flag is set; never if its sender is gone (nothing can set it any more).
async fn signalled(flag: &mut tokio::sync::watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn slow_consumer<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocket<S>,
    room: &RoomHandle,
) {
    ::metrics::counter!(metrics::CHAT_SLOW_CONSUMERS).increment(1);
    tracing::info!(channel = %room.channel, "chat connection too slow; closed");
    close(
        socket,
        CLOSE_SLOW,
        "too slow; reconnect and recover",
        "slow_consumer",
    )
    .await;
}
