//! Session configuration: every cap on what the peer controls.

use crate::chunk::ChunkLimits;
use ferrocast_amf0::Limits;
use std::time::Duration;

/// Caps on everything the peer controls, plus what we announce to it.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Time from session creation until C2 must have arrived; slowloris guard.
    pub handshake_timeout: Duration,
    /// Largest Set Chunk Size the peer may ask for.
    pub max_chunk_size: u32,
    /// Largest message the peer may announce (video keyframes are the big ones).
    pub max_message_len: u32,
    /// Sum of partially received message lengths; bounds memory per connection.
    pub max_reassembly_bytes: usize,
    /// AMF container nesting in commands and metadata; bounds recursion.
    pub max_amf_depth: usize,
    /// Bytes in one AMF string (tcUrl with tokens is the longest legitimate one).
    pub max_amf_string_len: usize,
    /// Bytes in the `app` of `connect`.
    pub max_app_len: usize,
    /// Bytes in the name given to `publish`, query included.
    pub max_stream_key_len: usize,
    /// Chunk size we announce and use for our own messages.
    pub out_chunk_size: u32,
    /// Window acknowledgement size we announce.
    pub window_ack_size: u32,
    /// Distinct chunk stream ids the peer may use (FFmpeg and OBS use fewer than ten).
    pub max_chunk_streams: usize,
    /// Properties or elements in one AMF container.
    pub max_amf_entries: usize,
    /// Bytes in one command or data message; decoded AMF can take tens of times its wire size.
    pub max_amf_message_len: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            max_chunk_size: 0x00FF_FFFF,
            max_message_len: 8 << 20,
            max_reassembly_bytes: 24 << 20,
            max_amf_depth: 16,
            max_amf_string_len: 64 << 10,
            max_app_len: 256,
            max_stream_key_len: 2048,
            out_chunk_size: 4096,
            window_ack_size: 2_500_000,
            max_chunk_streams: 64,
            max_amf_entries: 1024,
            max_amf_message_len: 256 << 10,
        }
    }
}

impl SessionConfig {
    pub(crate) fn chunk_limits(&self) -> ChunkLimits {
        ChunkLimits {
            max_chunk_size: self.max_chunk_size,
            max_message_len: self.max_message_len,
            max_reassembly_bytes: self.max_reassembly_bytes,
            max_chunk_streams: self.max_chunk_streams,
        }
    }

    pub(crate) fn amf_limits(&self) -> Limits {
        Limits {
            max_depth: self.max_amf_depth,
            max_string_len: self.max_amf_string_len,
            max_entries: self.max_amf_entries,
        }
    }
}
