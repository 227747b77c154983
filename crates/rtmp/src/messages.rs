//! Message type ids and protocol control payloads (RTMP 1.0 §5.4, §6.2, §7.1).

use std::fmt;

/// A message type id (§6.1.2). Open: unknown ids are carried, logged and skipped, never a parse error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    /// §5.4.1 Set Chunk Size.
    pub const SET_CHUNK_SIZE: Self = Self(1);
    /// §5.4.2 Abort Message.
    pub const ABORT: Self = Self(2);
    /// §5.4.3 Acknowledgement.
    pub const ACKNOWLEDGEMENT: Self = Self(3);
    /// §6.2 / §7.1.7 User Control Message.
    pub const USER_CONTROL: Self = Self(4);
    /// §5.4.4 Window Acknowledgement Size.
    pub const WINDOW_ACK_SIZE: Self = Self(5);
    /// §5.4.5 Set Peer Bandwidth.
    pub const SET_PEER_BANDWIDTH: Self = Self(6);
    /// §7.1.4 Audio Message.
    pub const AUDIO: Self = Self(8);
    /// §7.1.5 Video Message.
    pub const VIDEO: Self = Self(9);
    /// §7.1.2 Data Message, AMF3 encoded.
    pub const DATA_AMF3: Self = Self(15);
    /// §7.1.3 Shared Object Message, AMF3 encoded.
    pub const SHARED_OBJECT_AMF3: Self = Self(16);
    /// §7.1.1 Command Message, AMF3 encoded.
    pub const COMMAND_AMF3: Self = Self(17);
    /// §7.1.2 Data Message, AMF0 encoded.
    pub const DATA_AMF0: Self = Self(18);
    /// §7.1.3 Shared Object Message, AMF0 encoded.
    pub const SHARED_OBJECT_AMF0: Self = Self(19);
    /// §7.1.1 Command Message, AMF0 encoded.
    pub const COMMAND_AMF0: Self = Self(20);
    /// §7.1.6 Aggregate Message.
    pub const AGGREGATE: Self = Self(22);
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::SET_CHUNK_SIZE => "SetChunkSize",
            Self::ABORT => "Abort",
            Self::ACKNOWLEDGEMENT => "Acknowledgement",
            Self::USER_CONTROL => "UserControl",
            Self::WINDOW_ACK_SIZE => "WindowAckSize",
            Self::SET_PEER_BANDWIDTH => "SetPeerBandwidth",
            Self::AUDIO => "Audio",
            Self::VIDEO => "Video",
            Self::DATA_AMF3 => "DataAmf3",
            Self::SHARED_OBJECT_AMF3 => "SharedObjectAmf3",
            Self::COMMAND_AMF3 => "CommandAmf3",
            Self::DATA_AMF0 => "DataAmf0",
            Self::SHARED_OBJECT_AMF0 => "SharedObjectAmf0",
            Self::COMMAND_AMF0 => "CommandAmf0",
            Self::AGGREGATE => "Aggregate",
            _ => return write!(f, "MessageType({})", self.0),
        };
        f.write_str(name)
    }
}

/// A User Control event type (§7.1.7). Open like [`MessageType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserControlEvent(pub u16);

impl UserControlEvent {
    /// A stream became functional; data is the stream id.
    pub const STREAM_BEGIN: Self = Self(0);
    /// Playback of a stream ended; data is the stream id.
    pub const STREAM_EOF: Self = Self(1);
    /// No more data on a stream for now; data is the stream id.
    pub const STREAM_DRY: Self = Self(2);
    /// Client buffer length; data is stream id and milliseconds.
    pub const SET_BUFFER_LENGTH: Self = Self(3);
    /// The stream is recorded; data is the stream id.
    pub const STREAM_IS_RECORDED: Self = Self(4);
    /// Liveness probe; data is a timestamp to echo.
    pub const PING_REQUEST: Self = Self(6);
    /// Answer to a ping; data is the echoed timestamp.
    pub const PING_RESPONSE: Self = Self(7);
}

/// §5.4.5 limit types of Set Peer Bandwidth.
pub mod bandwidth_limit {
    /// The peer should limit its output to the window size.
    pub const HARD: u8 = 0;
    /// Limit to this window or the one already in effect, whichever is smaller.
    pub const SOFT: u8 = 1;
    /// Hard if the previous limit was hard, otherwise ignore.
    pub const DYNAMIC: u8 = 2;
}

/// Chunk stream for protocol control messages (§5.4: "chunk stream ID 2").
pub const CONTROL_CHUNK_STREAM: u32 = 2;

/// Reads the four-byte big-endian body of Set Chunk Size, Abort, Acknowledgement and Window
/// Acknowledgement Size; `None` when it is too short.
pub fn read_u32(payload: &[u8]) -> Option<u32> {
    payload
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Body of a Set Peer Bandwidth message.
pub fn set_peer_bandwidth(window: u32, limit_type: u8) -> Vec<u8> {
    let mut out = window.to_be_bytes().to_vec();
    out.push(limit_type);
    out
}

/// Body of a User Control message whose event data is one u32 (all but SetBufferLength).
pub fn user_control(event: UserControlEvent, value: u32) -> Vec<u8> {
    let mut out = event.0.to_be_bytes().to_vec();
    out.extend_from_slice(&value.to_be_bytes());
    out
}

/// Splits a User Control body into its event type and data.
pub fn parse_user_control(payload: &[u8]) -> Option<(UserControlEvent, &[u8])> {
    let (kind, data) = payload.split_at_checked(2)?;
    Some((
        UserControlEvent(u16::from_be_bytes([kind[0], kind[1]])),
        data,
    ))
}
