//! Sans-IO RTMP server session for ingest: FFmpeg, OBS and GStreamer `rtmp2sink` publish to it.
//!
//! Implements Adobe's *Real-Time Messaging Protocol (RTMP) Specification 1.0* (December 2012):
//! - §5.2 handshake, plus the digest (Flash Player 9) form real clients send ([`handshake`]);
//! - §5.3 chunk stream: basic and message headers, extended timestamps, reassembly ([`chunk`]);
//! - §5.4 protocol control messages and §6.2 / §7.1.7 user control events ([`messages`]);
//! - §7.2 NetConnection and NetStream commands in AMF0 (Adobe *AMF 0* spec, `ferrocast-amf0`).
//!
//! The session owns no socket and reads no clock. The driver feeds received bytes with
//! [`ServerSession::handle_input`], writes whatever [`ServerSession::poll_transmit`] returns, drains
//! [`ServerSession::poll_event`], calls [`ServerSession::handle_timeout`] when
//! [`ServerSession::poll_timeout`] passes, and answers `*Requested` events with `accept_*` or
//! `reject_*`. When [`ServerSession::is_closed`] turns true (or any call returns an error) it closes
//! the connection.
#![forbid(unsafe_code)]

pub mod chunk;
mod config;
mod error;
pub mod handshake;
pub mod messages;
mod session;

pub use config::SessionConfig;
pub use error::RtmpError;
pub use session::ServerSession;

use bytes::Bytes;

/// Identifies a request raised as an event and answered by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u32);

/// What the peer did that the application must know about or decide on, in arrival order.
#[derive(Debug)]
pub enum ServerEvent {
    /// `connect` command; answer with accept_connect/reject_connect.
    ConnectRequested {
        /// Pass to `accept_connect` / `reject_connect`.
        request: RequestId,
        /// The application name (`live` in `rtmp://host/live/key`), trailing slashes removed.
        app: String,
        /// The URL the client connected to, when it said.
        tc_url: Option<String>,
    },
    /// `publish` command; answer with accept_publish/reject_publish. `stream_key` has any `?query` removed.
    PublishRequested {
        /// Pass to `accept_publish` / `reject_publish`.
        request: RequestId,
        /// The application name from `connect`.
        app: String,
        /// The publishing name with any `?query` removed.
        stream_key: String,
        /// The message stream the media will arrive on.
        stream_id: u32,
    },
    /// `@setDataFrame onMetaData` (or bare `onMetaData`) properties.
    Metadata {
        /// Object or ECMA array properties in wire order.
        properties: Vec<(String, ferrocast_amf0::Value)>,
    },
    /// Audio message payload (an FLV AUDIODATA tag body) with its RTMP timestamp in ms (wrapping u32).
    Audio {
        /// Milliseconds, wrapping at 2^32.
        timestamp: u32,
        /// The tag body, shared with the receive buffer.
        payload: Bytes,
    },
    /// Video message payload (an FLV VIDEODATA tag body) with its RTMP timestamp in ms (wrapping u32).
    Video {
        /// Milliseconds, wrapping at 2^32.
        timestamp: u32,
        /// The tag body, shared with the receive buffer.
        payload: Bytes,
    },
    /// The publisher ended the publish (FCUnpublish, deleteStream or closeStream).
    PublishFinished {
        /// The message stream that was publishing.
        stream_id: u32,
    },
    /// `play` was requested; this server only ingests, the session refuses it by itself.
    PlayRefused {
        /// The name the client asked to play.
        stream_name: String,
    },
}
