//! The chunk stream (RTMP 1.0 §5.3): messages split into chunks interleaved over one connection.

mod reader;
mod writer;

pub use reader::{ChunkLimits, ChunkReader};
pub use writer::ChunkWriter;

use crate::messages::MessageType;
use bytes::Bytes;

/// §5.4.1: "The maximum chunk size defaults to 128 bytes".
pub const DEFAULT_CHUNK_SIZE: u32 = 128;

/// §5.4.1: chunk sizes are 31-bit (the most significant bit must be zero).
pub const MAX_CHUNK_SIZE_ON_WIRE: u32 = 0x7FFF_FFFF;

/// A three-byte timestamp field of this value means a four-byte extended timestamp follows (§5.3.1.3).
pub(crate) const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;

/// A whole message, reassembled from its chunks or about to be chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Chunk stream it travelled on; it only matters for header compression.
    pub chunk_stream_id: u32,
    /// Milliseconds, wrapping at 2^32 (§5.3.1.2: "timestamps ... wrap around after 2^32").
    pub timestamp: u32,
    /// Type id.
    pub message_type: MessageType,
    /// Message stream id (0 for the connection, others created by `createStream`).
    pub stream_id: u32,
    /// The body, shared rather than copied.
    pub payload: Bytes,
}

#[cfg(test)]
mod tests;
