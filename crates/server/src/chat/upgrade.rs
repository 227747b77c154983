//! The WebSocket handshake (RFC 6455 §4.2) and the hand-over of the TCP connection to the chat.
//!
//! Done here rather than through a framework extractor so that the socket itself is reachable:
//! its kernel send buffer is fixed, which makes the per-connection send queue bounded in bytes
//! (the room's frame backlog plus this buffer) instead of growing with TCP autotuning.

use super::connection;
use super::{Chat, RoomHandle};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// Kernel send buffer of a chat connection.
const SEND_BUFFER: usize = 64 << 10;
/// Largest inbound message; beyond it the connection is closed (1009). Frames above the
/// protocol's 4 KiB but below this get a `too_long` error and the connection stays open.
pub const MAX_MESSAGE: usize = 64 << 10;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        // Clients send little; the read buffer is zero-filled on every read attempt and held
        // by every connection, so it stays small (larger messages take several reads).
        .read_buffer_size(512)
        .write_buffer_size(8192)
        .max_write_buffer_size(2 << 20)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Why a request is not a WebSocket handshake we accept.
pub fn check(req: &Request) -> Result<HeaderValue, &'static str> {
    let headers = req.headers();
    if !has_token(headers, header::CONNECTION, "upgrade")
        || !has_token(headers, header::UPGRADE, "websocket")
    {
        return Err("this URL is a WebSocket: send Connection: Upgrade and Upgrade: websocket");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("only WebSocket version 13 is spoken");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("missing Sec-WebSocket-Key")?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|_| "bad Sec-WebSocket-Key")
}

/// Answers 101 and runs the connection once hyper hands the socket over.
pub fn accept(
    mut req: Request,
    accept_key: HeaderValue,
    chat: Arc<Chat>,
    room: Arc<RoomHandle>,
    ip: IpAddr,
) -> Response {
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(error) => {
                tracing::debug!(%error, "chat upgrade failed");
                return;
            }
        };
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let tcp = parts.io.into_inner();
                if let Err(error) = socket2::SockRef::from(&tcp).set_send_buffer_size(SEND_BUFFER) {
                    tracing::debug!(%error, "setting the chat send buffer failed");
                }
                // Chat frames are small and must leave at once, not wait for the peer's ACK.
                let _ = tcp.set_nodelay(true);
                let ws = WebSocketStream::from_partially_read(
                    tcp,
                    parts.read_buf.to_vec(),
                    Role::Server,
                    Some(ws_config()),
                )
                .await;
                connection::run(ws, chat, room, ip).await;
            }
            Err(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config()),
                )
                .await;
                connection::run(ws, chat, room, ip).await;
            }
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept_key);
    response
}
