//! Sans-IO RTMP server session (Adobe RTMP 1.0 specification, 2012).
//!
//! INTERFACE STUB: the helper who owns this crate replaces the bodies; the public signatures below
//! are what the server crate codes against. Keep them (additions are fine).
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::todo, unused)]

use bytes::Bytes;
use std::time::{Duration, Instant};

/// Identifies a request raised as an event and answered by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u32);

/// Caps on everything the peer controls.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub handshake_timeout: Duration,
    pub max_chunk_size: u32,
    pub max_message_len: u32,
    pub max_reassembly_bytes: usize,
    pub max_amf_depth: usize,
    pub max_amf_string_len: usize,
    pub max_app_len: usize,
    pub max_stream_key_len: usize,
    /// Chunk size we announce and use for our own messages.
    pub out_chunk_size: u32,
    /// Window acknowledgement size we announce.
    pub window_ack_size: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        todo!()
    }
}

#[derive(Debug)]
pub enum ServerEvent {
    /// `connect` command; answer with accept_connect/reject_connect.
    ConnectRequested { request: RequestId, app: String, tc_url: Option<String> },
    /// `publish` command; answer with accept_publish/reject_publish. `stream_key` has any `?query` removed.
    PublishRequested { request: RequestId, app: String, stream_key: String, stream_id: u32 },
    /// `@setDataFrame onMetaData` (or bare `onMetaData`) properties.
    Metadata { properties: Vec<(String, ferrocast_amf0::Value)> },
    /// Audio message payload (an FLV AUDIODATA tag body) with its RTMP timestamp in ms (wrapping u32).
    Audio { timestamp: u32, payload: Bytes },
    /// Video message payload (an FLV VIDEODATA tag body) with its RTMP timestamp in ms (wrapping u32).
    Video { timestamp: u32, payload: Bytes },
    /// The publisher ended the publish (FCUnpublish, deleteStream or closeStream).
    PublishFinished { stream_id: u32 },
    /// `play` was requested; this server only ingests, the session refuses it by itself.
    PlayRefused { stream_name: String },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtmpError {
    #[error("stub")]
    Stub,
}

impl RtmpError {
    /// True when the error only means the peer went away or misbehaved at the protocol level.
    pub fn is_peer_error(&self) -> bool {
        todo!()
    }
}

pub struct ServerSession {}

impl ServerSession {
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        todo!()
    }
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), RtmpError> {
        todo!()
    }
    /// Call when `poll_timeout` passes; errors when the handshake deadline expired.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RtmpError> {
        todo!()
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }
    /// Bytes to write to the peer, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        todo!()
    }
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        todo!()
    }
    pub fn accept_connect(&mut self, request: RequestId) -> Result<(), RtmpError> {
        todo!()
    }
    pub fn reject_connect(&mut self, request: RequestId, description: &str) -> Result<(), RtmpError> {
        todo!()
    }
    /// Sends NetStream.Publish.Start.
    pub fn accept_publish(&mut self, request: RequestId) -> Result<(), RtmpError> {
        todo!()
    }
    /// Sends onStatus with `code` (e.g. NetStream.Publish.BadName) and `description`; the driver then closes.
    pub fn reject_publish(&mut self, request: RequestId, code: &str, description: &str) -> Result<(), RtmpError> {
        todo!()
    }
    /// Server-initiated end (shutdown, channel deleted, key rotated): onStatus NetStream.Unpublish.Success
    /// on the publishing stream and NetConnection.Connect.AppShutdown / Closed on the connection.
    pub fn shutdown(&mut self, description: &str) -> Result<(), RtmpError> {
        todo!()
    }
    /// True once the session has nothing more to do but flush transmit and close.
    pub fn is_closed(&self) -> bool {
        todo!()
    }
}
