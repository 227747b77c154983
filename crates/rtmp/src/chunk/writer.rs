//! Chunk writer: splits messages into chunks of our chunk size, compressing headers against the
//! previous message on the same chunk stream (§5.3.1.2) and repeating extended timestamps on
//! continuation chunks as FFmpeg and librtmp expect (§5.3.1.3).

use super::{Message, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE_ON_WIRE};
use crate::RtmpError;
use bytes::{BufMut, BytesMut};
use std::collections::HashMap;

/// Largest message length a chunk message header can express (24 bits).
pub const MAX_MESSAGE_LEN_ON_WIRE: u32 = 0x00FF_FFFF;

#[derive(Debug, Clone, Copy)]
struct Previous {
    stream_id: u32,
    len: u32,
    message_type: u8,
    timestamp: u32,
    ts_field: u32,
}

/// Turns messages into chunks; the counterpart of [`super::ChunkReader`].
#[derive(Debug)]
pub struct ChunkWriter {
    chunk_size: u32,
    previous: HashMap<u32, Previous>,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    /// A writer at the default chunk size of 128.
    pub fn new() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            previous: HashMap::new(),
        }
    }

    /// Our current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the chunk size for later messages; write a Set Chunk Size message first so the peer
    /// reads them correctly. Clamped to 1..=2^31-1.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE_ON_WIRE);
    }

    /// Appends `message` as chunks. Chunk stream ids are clamped to the encodable 2..=65599.
    pub fn write(&mut self, message: &Message, out: &mut BytesMut) -> Result<(), RtmpError> {
        let len = u32::try_from(message.payload.len())
            .ok()
            .filter(|&len| len <= MAX_MESSAGE_LEN_ON_WIRE)
            .ok_or(RtmpError::MessageTooLong {
                chunk_stream_id: message.chunk_stream_id,
                message_type: message.message_type,
                len: u32::try_from(message.payload.len()).unwrap_or(u32::MAX),
                max: MAX_MESSAGE_LEN_ON_WIRE,
            })?;
        let id = message.chunk_stream_id.clamp(2, 65599);
        let ts = message.timestamp;
        let kind = message.message_type.0;

        let (format, ts_field) = match self.previous.get(&id) {
            Some(prev)
                if prev.stream_id == message.stream_id
                    // Deltas are unsigned: a timestamp going backwards needs a full header.
                    && ts.wrapping_sub(prev.timestamp) < 0x8000_0000 =>
            {
                let delta = ts.wrapping_sub(prev.timestamp);
                if prev.len != len || prev.message_type != kind {
                    (1, delta)
                } else if delta != prev.ts_field {
                    (2, delta)
                } else {
                    (3, delta)
                }
            }
            _ => (0, ts),
        };
        let extended = ts_field >= EXTENDED_TIMESTAMP;

        write_basic_header(out, format, id);
        if format < 3 {
            let field = ts_field.min(EXTENDED_TIMESTAMP);
            out.put_slice(&field.to_be_bytes()[1..]);
            if format < 2 {
                out.put_slice(&len.to_be_bytes()[1..]);
                out.put_u8(kind);
            }
            if format == 0 {
                out.put_u32_le(message.stream_id);
            }
        }
        if extended {
            out.put_u32(ts_field);
        }

        let chunk_size = self.chunk_size as usize;
        let mut chunks = message.payload.chunks(chunk_size);
        out.put_slice(chunks.next().unwrap_or_default());
        for chunk in chunks {
            write_basic_header(out, 3, id);
            if extended {
                out.put_u32(ts_field);
            }
            out.put_slice(chunk);
        }

        self.previous.insert(
            id,
            Previous {
                stream_id: message.stream_id,
                len,
                message_type: kind,
                timestamp: ts,
                ts_field,
            },
        );
        Ok(())
    }
}

fn write_basic_header(out: &mut BytesMut, format: u8, id: u32) {
    let format = format << 6;
    match id {
        // Clamped by the caller to 2..=65599, so the narrowing below cannot lose bits.
        2..=63 => out.put_u8(format | id as u8),
        64..=319 => out.put_slice(&[format, (id - 64) as u8]),
        _ => {
            let rest = (id - 64) as u16;
            out.put_slice(&[format | 1, rest as u8, (rest >> 8) as u8]);
        }
    }
}
