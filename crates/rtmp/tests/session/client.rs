//! An in-memory RTMP publisher that drives a `ServerSession` the way FFmpeg, OBS and GStreamer do,
//! feeding bytes in chosen pieces and parsing the server's replies with the crate's chunk reader.

use bytes::{Bytes, BytesMut};
use ferrocast_amf0::Value;
use ferrocast_rtmp::chunk::{ChunkLimits, ChunkReader, ChunkWriter, Message};
use ferrocast_rtmp::messages::MessageType;
use ferrocast_rtmp::{RtmpError, ServerEvent, ServerSession, SessionConfig};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::Sha256;
use std::time::Instant;

pub const HANDSHAKE_SIZE: usize = 1536;
const CLIENT_KEY: &[u8] = b"Genuine Adobe Flash Player 001";
const SERVER_KEY: &[u8; 68] = b"Genuine Adobe Flash Media Server 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";

/// How bytes are handed to `handle_input`.
#[derive(Debug, Clone, Copy)]
pub enum Split {
    Whole,
    OneByte,
    Random(u64),
}

pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

pub fn digest_offset(packet: &[u8], scheme: usize) -> usize {
    let base = if scheme == 0 { 8 } else { 772 };
    base + 4
        + packet[base..base + 4]
            .iter()
            .map(|&b| b as usize)
            .sum::<usize>()
            % 728
}

/// C1 as FFmpeg's native client builds it: version 9.0.124.2 and a scheme-0 digest.
pub fn digest_c1(rng: &mut StdRng, scheme: usize) -> Vec<u8> {
    let mut c1 = vec![0u8; HANDSHAKE_SIZE];
    rng.fill(&mut c1[8..]);
    c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
    let at = digest_offset(&c1, scheme);
    let digest = hmac(CLIENT_KEY, &[&c1[..at], &c1[at + 32..]]);
    c1[at..at + 32].copy_from_slice(&digest);
    c1
}

pub struct Client {
    pub server: ServerSession,
    pub now: Instant,
    writer: ChunkWriter,
    reader: ChunkReader,
    rng: StdRng,
    split: Split,
    /// Server bytes not yet parsed (handshake phase).
    raw: Vec<u8>,
    handshaken: bool,
    /// Messages received from the server, in order.
    pub received: Vec<Message>,
    /// Events raised by the server, in order.
    pub events: Vec<ServerEvent>,
    pub bytes_sent: u64,
}

impl Client {
    pub fn new(config: SessionConfig, split: Split) -> Self {
        let now = Instant::now();
        let seed = match split {
            Split::Random(seed) => seed,
            _ => 7,
        };
        Self {
            server: ServerSession::new(config, now),
            now,
            writer: ChunkWriter::new(),
            reader: ChunkReader::new(ChunkLimits::default()),
            rng: StdRng::seed_from_u64(seed),
            split,
            raw: Vec::new(),
            handshaken: false,
            received: Vec::new(),
            events: Vec::new(),
            bytes_sent: 0,
        }
    }

    /// Hands `bytes` to the server in pieces, collecting what it sends back and raises.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = match self.split {
                Split::Whole => rest.len(),
                Split::OneByte => 1,
                Split::Random(_) => self.rng.random_range(1..=rest.len().min(3000)),
            };
            self.bytes_sent += n as u64;
            let result = self.server.handle_input(self.now, &rest[..n]);
            self.collect();
            result?;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Drains the server's transmit and events.
    pub fn collect(&mut self) {
        while let Some(out) = self.server.poll_transmit() {
            self.raw.extend_from_slice(&out);
        }
        while let Some(e) = self.server.poll_event() {
            self.events.push(e);
        }
        if !self.handshaken {
            return;
        }
        let raw = std::mem::take(&mut self.raw);
        let mut input = &raw[..];
        while let Some(m) = self.reader.read(&mut input).expect("server output parses") {
            self.received.push(m);
        }
    }

    /// Runs the handshake; with `digest`, checks the server's S1 digest and S2 signature the way
    /// FFmpeg's client does.
    pub fn handshake(&mut self, digest: bool) {
        let c1 = if digest {
            digest_c1(&mut self.rng, 0)
        } else {
            let mut c1 = vec![0u8; HANDSHAKE_SIZE];
            self.rng.fill(&mut c1[8..]);
            c1
        };
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&c1);
        self.feed(&c0c1).unwrap();
        assert_eq!(
            self.raw.len(),
            1 + 2 * HANDSHAKE_SIZE,
            "S0+S1+S2 right after C1"
        );
        assert_eq!(self.raw[0], 3);
        let s1 = self.raw[1..1 + HANDSHAKE_SIZE].to_vec();
        let s2 = self.raw[1 + HANDSHAKE_SIZE..].to_vec();
        if digest {
            let valid = [0, 1].into_iter().any(|scheme| {
                let at = digest_offset(&s1, scheme);
                s1[at..at + 32] == hmac(&SERVER_KEY[..36], &[&s1[..at], &s1[at + 32..]])
            });
            assert!(valid, "S1 carries a server digest");
            let at = digest_offset(&c1, 0);
            let key = hmac(SERVER_KEY, &[&c1[at..at + 32]]);
            assert_eq!(
                s2[HANDSHAKE_SIZE - 32..],
                hmac(&key, &[&s2[..HANDSHAKE_SIZE - 32]])
            );
        } else {
            assert_eq!(s2, c1, "plain S2 echoes C1");
        }
        self.raw.clear();
        self.handshaken = true;
        // C2 echoes S1.
        self.feed(&s1).unwrap();
        assert!(self.server.poll_timeout().is_none());
    }

    pub fn encode_message(
        &mut self,
        chunk_stream_id: u32,
        timestamp: u32,
        kind: MessageType,
        stream_id: u32,
        payload: Bytes,
    ) -> Vec<u8> {
        let mut out = BytesMut::new();
        let message = Message {
            chunk_stream_id,
            timestamp,
            message_type: kind,
            stream_id,
            payload,
        };
        self.writer.write(&message, &mut out).unwrap();
        out.to_vec()
    }

    pub fn send(
        &mut self,
        chunk_stream_id: u32,
        timestamp: u32,
        kind: MessageType,
        stream_id: u32,
        payload: &[u8],
    ) -> Result<(), RtmpError> {
        let bytes = self.encode_message(
            chunk_stream_id,
            timestamp,
            kind,
            stream_id,
            Bytes::copy_from_slice(payload),
        );
        self.feed(&bytes)
    }

    pub fn set_chunk_size(&mut self, size: u32) {
        self.send(2, 0, MessageType::SET_CHUNK_SIZE, 0, &size.to_be_bytes())
            .unwrap();
        self.writer.set_chunk_size(size);
    }

    pub fn command(&mut self, stream_id: u32, values: &[Value]) -> Result<(), RtmpError> {
        let mut payload = Vec::new();
        ferrocast_amf0::encode_all(values, &mut payload);
        let csid = if stream_id == 0 { 3 } else { 8 };
        self.send(csid, 0, MessageType::COMMAND_AMF0, stream_id, &payload)
    }

    /// Command messages received since the last call: (message stream id, AMF values).
    pub fn take_commands(&mut self) -> Vec<(u32, Vec<Value>)> {
        let mut out = Vec::new();
        for m in std::mem::take(&mut self.received) {
            if m.message_type == MessageType::COMMAND_AMF0 {
                out.push((m.stream_id, ferrocast_amf0::decode_all(&m.payload).unwrap()));
            }
        }
        out
    }

    pub fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.received)
    }

    pub fn take_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.events)
    }
}

/// `(name, transaction, command object, args...)` as a value list.
pub fn cmd(name: &str, transaction: f64, object: Value, args: &[Value]) -> Vec<Value> {
    let mut v = vec![Value::from(name), Value::Number(transaction), object];
    v.extend_from_slice(args);
    v
}

/// The `code` of an onStatus / _result / _error info object (the fourth value).
pub fn code(values: &[Value]) -> Option<&str> {
    values.get(3)?.get("code")?.as_str()
}

pub fn level(values: &[Value]) -> Option<&str> {
    values.get(3)?.get("level")?.as_str()
}
