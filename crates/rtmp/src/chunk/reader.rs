//! Chunk reader: basic and message headers (§5.3.1), reassembly of interleaved chunk streams, and
//! the two chunk-layer control messages, Set Chunk Size (§5.4.1) and Abort (§5.4.2).

use super::{Message, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE_ON_WIRE};
use crate::messages::{read_u32, MessageType};
use crate::RtmpError;
use bytes::BytesMut;
use std::collections::HashMap;

/// Caps on what one connection's chunk stream may make us hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest Set Chunk Size accepted from the peer.
    pub max_chunk_size: u32,
    /// Largest declared message length (the wire allows 2^24 - 1).
    pub max_message_len: u32,
    /// Sum of the lengths of all partially received messages.
    pub max_reassembly_bytes: usize,
    /// Distinct chunk stream ids (the wire allows 65597).
    pub max_chunk_streams: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_chunk_size: 0x00FF_FFFF,
            max_message_len: 8 << 20,
            max_reassembly_bytes: 24 << 20,
            max_chunk_streams: 32,
        }
    }
}

/// What the chunk stream remembers to decompress type 1, 2 and 3 headers (§5.3.1.2).
#[derive(Debug)]
struct ChunkStream {
    stream_id: u32,
    len: u32,
    message_type: MessageType,
    /// Absolute timestamp of the current (or last) message.
    timestamp: u32,
    /// Last timestamp field: absolute after type 0, a delta after types 1 and 2. A type 3 chunk
    /// starting a new message adds it (§5.3.1.2.4).
    ts_field: u32,
    /// The last type 0/1/2 header used an extended timestamp.
    extended: bool,
    /// The message being reassembled, sized from its declared length.
    partial: Option<BytesMut>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    Payload {
        chunk_stream_id: u32,
        remaining: usize,
    },
}

#[derive(Debug)]
struct Header {
    format: u8,
    chunk_stream_id: u32,
    consumed: usize,
    timestamp: u32,
    extended: bool,
    len: u32,
    message_type: MessageType,
    stream_id: u32,
}

enum Parse {
    Need(usize),
    Done(Header),
}

/// Turns received bytes into whole messages; bytes are copied once, into a buffer sized from the
/// message header, which is then frozen into the [`Message`] payload.
#[derive(Debug)]
pub struct ChunkReader {
    limits: ChunkLimits,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    reassembly_bytes: usize,
    state: State,
    /// Header bytes received so far, plus up to four payload bytes peeked after a type 3 header.
    pending: Vec<u8>,
}

impl ChunkReader {
    /// A reader at the default chunk size of 128 with no chunk stream state.
    pub fn new(limits: ChunkLimits) -> Self {
        Self {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            reassembly_bytes: 0,
            state: State::Header,
            pending: Vec::with_capacity(32),
        }
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes reserved by partially received messages.
    pub fn reassembly_bytes(&self) -> usize {
        self.reassembly_bytes
    }

    /// Applies a Set Chunk Size value (done automatically for received Set Chunk Size messages).
    pub fn set_chunk_size(&mut self, requested: u32) -> Result<(), RtmpError> {
        // §5.4.1: "Valid sizes are 1 to 2147483647 (0x7FFFFFFF) inclusive".
        if requested == 0 || requested > MAX_CHUNK_SIZE_ON_WIRE {
            return Err(RtmpError::InvalidChunkSize { requested });
        }
        if requested > self.limits.max_chunk_size {
            return Err(RtmpError::ChunkSizeTooLarge {
                requested,
                max: self.limits.max_chunk_size,
            });
        }
        self.chunk_size = requested;
        Ok(())
    }

    /// Drops the partial message on a chunk stream (done automatically for received Abort messages).
    pub fn abort(&mut self, chunk_stream_id: u32) {
        if let Some(stream) = self.streams.get_mut(&chunk_stream_id) {
            if let Some(partial) = stream.partial.take() {
                self.reassembly_bytes -= stream.len as usize;
                drop(partial);
            }
        }
        if let State::Payload {
            chunk_stream_id: current,
            ..
        } = self.state
        {
            if current == chunk_stream_id {
                self.state = State::Header;
            }
        }
    }

    /// Consumes bytes from `input` until one message is complete (returned) or `input` is empty
    /// (`Ok(None)`); call again with the rest. Set Chunk Size and Abort are applied before the
    /// message is returned, so the next call already reads with the new state.
    pub fn read(&mut self, input: &mut &[u8]) -> Result<Option<Message>, RtmpError> {
        loop {
            match self.state {
                State::Header => {
                    let header = loop {
                        match self.parse_header()? {
                            Parse::Done(h) => break h,
                            Parse::Need(n) => {
                                if input.is_empty() {
                                    return Ok(None);
                                }
                                let take = (n - self.pending.len()).min(input.len());
                                self.pending.extend_from_slice(&input[..take]);
                                *input = &input[take..];
                            }
                        }
                    };
                    self.pending.drain(..header.consumed);
                    if let Some(message) = self.apply_header(header)? {
                        return Ok(Some(message));
                    }
                }
                State::Payload {
                    chunk_stream_id,
                    remaining,
                } => {
                    if self.pending.is_empty() && input.is_empty() {
                        return Ok(None);
                    }
                    if let Some(message) = self.read_payload(chunk_stream_id, remaining, input)? {
                        return Ok(Some(message));
                    }
                }
            }
        }
    }

    fn parse_header(&self) -> Result<Parse, RtmpError> {
        let buf = &self.pending[..];
        let Some(&first) = buf.first() else {
            return Ok(Parse::Need(1));
        };
        let format = first >> 6;
        // §5.3.1.1: ids 0 and 1 in the first byte select the 2- and 3-byte forms.
        let (basic_len, chunk_stream_id) = match first & 0x3F {
            0 => match buf.get(1) {
                Some(&b) => (2, 64 + u32::from(b)),
                None => return Ok(Parse::Need(2)),
            },
            1 => match buf.get(1..3) {
                Some(b) => (3, 64 + u32::from(b[0]) + 256 * u32::from(b[1])),
                None => return Ok(Parse::Need(3)),
            },
            id => (1, u32::from(id)),
        };
        let header_len = basic_len + [11, 7, 3, 0][usize::from(format)];
        let Some(fields) = buf.get(basic_len..header_len) else {
            return Ok(Parse::Need(header_len));
        };
        let previous = self.streams.get(&chunk_stream_id);
        let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);

        if format == 3 {
            let Some(prev) = previous else {
                return Err(RtmpError::MissingPreviousHeader {
                    chunk_stream_id,
                    format,
                });
            };
            let mut consumed = basic_len;
            if prev.extended {
                // §5.3.1.3 says type 3 chunks carry the extended timestamp when the header they
                // continue did; FFmpeg and librtmp (OBS) send it, some encoders do not. Consume
                // the four bytes only when they repeat the value, as SRS does.
                let Some(peek) = buf.get(basic_len..basic_len + 4) else {
                    return Ok(Parse::Need(basic_len + 4));
                };
                if peek == prev.ts_field.to_be_bytes() {
                    consumed += 4;
                }
            }
            return Ok(Parse::Done(Header {
                format,
                chunk_stream_id,
                consumed,
                timestamp: prev.ts_field,
                extended: prev.extended,
                len: prev.len,
                message_type: prev.message_type,
                stream_id: prev.stream_id,
            }));
        }

        if format != 0 && previous.is_none() {
            return Err(RtmpError::MissingPreviousHeader {
                chunk_stream_id,
                format,
            });
        }
        let ts = u24(&fields[0..3]);
        let (len, message_type) = match (format, previous) {
            (2, Some(prev)) => (prev.len, prev.message_type),
            _ => (u24(&fields[3..6]), MessageType(fields[6])),
        };
        let stream_id = match (format, previous) {
            // §5.3.1.2.1: the message stream id is little-endian.
            (0, _) => u32::from_le_bytes([fields[7], fields[8], fields[9], fields[10]]),
            (_, Some(prev)) => prev.stream_id,
            (_, None) => 0,
        };
        let (timestamp, extended, consumed) = if ts == EXTENDED_TIMESTAMP {
            let Some(ext) = buf.get(header_len..header_len + 4) else {
                return Ok(Parse::Need(header_len + 4));
            };
            (
                u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]),
                true,
                header_len + 4,
            )
        } else {
            (ts, false, header_len)
        };
        Ok(Parse::Done(Header {
            format,
            chunk_stream_id,
            consumed,
            timestamp,
            extended,
            len,
            message_type,
            stream_id,
        }))
    }

    fn apply_header(&mut self, h: Header) -> Result<Option<Message>, RtmpError> {
        let id = h.chunk_stream_id;
        if !self.streams.contains_key(&id) && self.streams.len() >= self.limits.max_chunk_streams {
            return Err(RtmpError::TooManyChunkStreams {
                chunk_stream_id: id,
                max: self.limits.max_chunk_streams,
            });
        }
        let stream = self.streams.entry(id).or_insert(ChunkStream {
            stream_id: 0,
            len: 0,
            message_type: MessageType(0),
            timestamp: 0,
            ts_field: 0,
            extended: false,
            partial: None,
        });
        if h.format == 3 {
            if let Some(partial) = &stream.partial {
                let remaining = (stream.len as usize - partial.len()).min(self.chunk_size as usize);
                self.state = State::Payload {
                    chunk_stream_id: id,
                    remaining,
                };
                return Ok(None);
            }
            stream.timestamp = stream.timestamp.wrapping_add(stream.ts_field);
        } else {
            if stream.partial.take().is_some() {
                // A new header before the last message completed: the sender gave up on it.
                tracing::debug!(
                    chunk_stream_id = id,
                    "message header replaces a partial message"
                );
                self.reassembly_bytes -= stream.len as usize;
            }
            stream.timestamp = if h.format == 0 {
                h.timestamp
            } else {
                stream.timestamp.wrapping_add(h.timestamp)
            };
            stream.ts_field = h.timestamp;
            stream.extended = h.extended;
            stream.len = h.len;
            stream.message_type = h.message_type;
            stream.stream_id = h.stream_id;
        }

        if stream.len > self.limits.max_message_len {
            return Err(RtmpError::MessageTooLong {
                chunk_stream_id: id,
                message_type: stream.message_type,
                len: stream.len,
                max: self.limits.max_message_len,
            });
        }
        let len = stream.len as usize;
        if len == 0 {
            let message = Message {
                chunk_stream_id: id,
                timestamp: stream.timestamp,
                message_type: stream.message_type,
                stream_id: stream.stream_id,
                payload: bytes::Bytes::new(),
            };
            return self.finish(message).map(Some);
        }
        if self.reassembly_bytes + len > self.limits.max_reassembly_bytes {
            return Err(RtmpError::ReassemblyOverflow {
                chunk_stream_id: id,
                requested: len,
                in_use: self.reassembly_bytes,
                max: self.limits.max_reassembly_bytes,
            });
        }
        self.reassembly_bytes += len;
        stream.partial = Some(BytesMut::with_capacity(len));
        self.state = State::Payload {
            chunk_stream_id: id,
            remaining: len.min(self.chunk_size as usize),
        };
        Ok(None)
    }

    fn read_payload(
        &mut self,
        id: u32,
        mut remaining: usize,
        input: &mut &[u8],
    ) -> Result<Option<Message>, RtmpError> {
        let Some(stream) = self.streams.get_mut(&id) else {
            self.state = State::Header;
            return Ok(None);
        };
        let Some(partial) = stream.partial.as_mut() else {
            self.state = State::Header;
            return Ok(None);
        };
        let from_pending = remaining.min(self.pending.len());
        partial.extend_from_slice(&self.pending[..from_pending]);
        self.pending.drain(..from_pending);
        remaining -= from_pending;
        let from_input = remaining.min(input.len());
        partial.extend_from_slice(&input[..from_input]);
        *input = &input[from_input..];
        remaining -= from_input;

        if remaining > 0 {
            self.state = State::Payload {
                chunk_stream_id: id,
                remaining,
            };
            return Ok(None);
        }
        self.state = State::Header;
        if partial.len() < stream.len as usize {
            return Ok(None);
        }
        let payload = stream.partial.take().unwrap_or_default().freeze();
        self.reassembly_bytes -= payload.len();
        let message = Message {
            chunk_stream_id: id,
            timestamp: stream.timestamp,
            message_type: stream.message_type,
            stream_id: stream.stream_id,
            payload,
        };
        self.finish(message).map(Some)
    }

    /// Applies the chunk-layer control messages before handing a message out.
    fn finish(&mut self, message: Message) -> Result<Message, RtmpError> {
        let malformed = || RtmpError::MalformedControl {
            message_type: message.message_type,
            len: message.payload.len(),
        };
        match message.message_type {
            MessageType::SET_CHUNK_SIZE => {
                let requested = read_u32(&message.payload).ok_or_else(malformed)?;
                self.set_chunk_size(requested)?;
            }
            MessageType::ABORT => {
                let id = read_u32(&message.payload).ok_or_else(malformed)?;
                self.abort(id);
            }
            _ => {}
        }
        Ok(message)
    }
}
