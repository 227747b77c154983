//! Session errors: every cap on peer-controlled input has its own variant with enough context
//! (chunk stream, message type, sizes) to find the offending bytes in a capture.

use crate::messages::MessageType;
use crate::RequestId;
use ferrocast_amf0::Amf0Error;

/// Why a session failed; after any error except [`RtmpError::UnknownRequest`] the session is
/// closed and the driver should drop the connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtmpError {
    /// C0 asked for a protocol version other than 3 (§5.2.2; 6 and 8 are encrypted RTMPE).
    #[error("unsupported RTMP version {version} in C0")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// The handshake did not complete within `SessionConfig::handshake_timeout`.
    #[error("handshake not completed within {timeout_ms} ms")]
    HandshakeTimeout {
        /// The configured deadline in milliseconds.
        timeout_ms: u128,
    },
    /// Set Chunk Size outside 1..=2^31-1 (§5.4.1: the most significant bit must be zero).
    #[error("invalid chunk size {requested}")]
    InvalidChunkSize {
        /// The requested size.
        requested: u32,
    },
    /// Set Chunk Size above `SessionConfig::max_chunk_size`.
    #[error("chunk size {requested} exceeds the cap of {max}")]
    ChunkSizeTooLarge {
        /// The requested size.
        requested: u32,
        /// The configured cap.
        max: u32,
    },
    /// A message header declares a length above `SessionConfig::max_message_len`.
    #[error("message of {len} bytes (type {message_type}, chunk stream {chunk_stream_id}) exceeds the cap of {max}")]
    MessageTooLong {
        /// Chunk stream carrying it.
        chunk_stream_id: u32,
        /// Declared type.
        message_type: MessageType,
        /// Declared length.
        len: u32,
        /// The configured cap.
        max: u32,
    },
    /// Partially received messages would together exceed `SessionConfig::max_reassembly_bytes`.
    #[error("reassembling {requested} more bytes on chunk stream {chunk_stream_id} with {in_use} in use exceeds the cap of {max}")]
    ReassemblyOverflow {
        /// Chunk stream starting the new message.
        chunk_stream_id: u32,
        /// Length of the new message.
        requested: usize,
        /// Bytes already reserved by other partial messages.
        in_use: usize,
        /// The configured cap.
        max: usize,
    },
    /// More distinct chunk stream ids than `SessionConfig::max_chunk_streams`.
    #[error("chunk stream {chunk_stream_id} exceeds the cap of {max} chunk streams")]
    TooManyChunkStreams {
        /// The new chunk stream id.
        chunk_stream_id: u32,
        /// The configured cap.
        max: usize,
    },
    /// A type 1, 2 or 3 chunk header on a chunk stream that never had a type 0 header (§5.3.1.2).
    #[error(
        "chunk header type {format} on chunk stream {chunk_stream_id} without a previous header"
    )]
    MissingPreviousHeader {
        /// The chunk stream.
        chunk_stream_id: u32,
        /// Header type 1, 2 or 3.
        format: u8,
    },
    /// A protocol control or user control message shorter than its fixed layout.
    #[error("malformed {message_type} message of {len} bytes")]
    MalformedControl {
        /// The message type.
        message_type: MessageType,
        /// Its payload length.
        len: usize,
    },
    /// A command or data message whose AMF body could not be decoded.
    #[error("bad AMF in {message_type} message on stream {stream_id}: {source}")]
    Amf {
        /// The message type.
        message_type: MessageType,
        /// The message stream id.
        stream_id: u32,
        /// The decoder's reason.
        #[source]
        source: Amf0Error,
    },
    /// A command or data message longer than `SessionConfig::max_amf_message_len`.
    #[error(
        "{message_type} message of {len} bytes on stream {stream_id} exceeds the cap of {max}"
    )]
    AmfMessageTooLong {
        /// The message type.
        message_type: MessageType,
        /// The message stream id.
        stream_id: u32,
        /// Its length.
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// A command whose required arguments are missing or of the wrong type.
    #[error("malformed `{command}` command: {reason}")]
    MalformedCommand {
        /// The command name.
        command: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The `app` of `connect` is longer than `SessionConfig::max_app_len`.
    #[error("app name of {len} bytes exceeds the cap of {max}")]
    AppTooLong {
        /// Its length in bytes.
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// The stream key of `publish` is longer than `SessionConfig::max_stream_key_len`.
    #[error("stream key of {len} bytes exceeds the cap of {max}")]
    StreamKeyTooLong {
        /// Its length in bytes (query included).
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// More concurrent `createStream` streams than the session allows.
    #[error("more than {max} message streams")]
    TooManyStreams {
        /// The cap.
        max: usize,
    },
    /// More messages sent ahead of the `connect` decision than the session buffers.
    #[error("more than {max} messages received while connect was pending")]
    TooManyPendingMessages {
        /// The cap.
        max: usize,
    },
    /// `publish` on a message stream the peer never created.
    #[error("publish on unknown message stream {stream_id}")]
    UnknownStream {
        /// The message stream id.
        stream_id: u32,
    },
    /// The application answered a request that is not pending (already answered or never raised).
    #[error("request {0:?} is not pending")]
    UnknownRequest(RequestId),
}

impl RtmpError {
    /// True when the error only means the peer went away or misbehaved at the protocol level.
    pub fn is_peer_error(&self) -> bool {
        !matches!(self, Self::UnknownRequest(_))
    }

    /// True when a configured cap on peer-controlled input tripped (likely abuse, worth a metric).
    pub fn is_limit(&self) -> bool {
        match self {
            Self::ChunkSizeTooLarge { .. }
            | Self::MessageTooLong { .. }
            | Self::ReassemblyOverflow { .. }
            | Self::TooManyChunkStreams { .. }
            | Self::AppTooLong { .. }
            | Self::StreamKeyTooLong { .. }
            | Self::TooManyStreams { .. }
            | Self::TooManyPendingMessages { .. }
            | Self::AmfMessageTooLong { .. }
            | Self::HandshakeTimeout { .. } => true,
            Self::Amf { source, .. } => source.is_limit(),
            _ => false,
        }
    }
}
