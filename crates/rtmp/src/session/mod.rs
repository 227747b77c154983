//! The server session state machine: handshake, then messages from the chunk reader dispatched to
//! protocol control handling (§5.4, §6.2), commands (§7.2) and media (§7.1.4–§7.1.6).

mod commands;

use crate::chunk::{ChunkReader, ChunkWriter, Message};
use crate::handshake::Handshake;
use crate::messages::{self, MessageType, UserControlEvent, CONTROL_CHUNK_STREAM};
use crate::{RequestId, RtmpError, ServerEvent, SessionConfig};
use bytes::{Buf, Bytes, BytesMut};
use ferrocast_amf0::{Limits, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

/// Chunk stream for our NetConnection command replies.
const CONNECTION_CHUNK_STREAM: u32 = 3;
/// Chunk stream for our NetStream status messages.
const STREAM_CHUNK_STREAM: u32 = 5;
/// Message streams one connection may hold open (publishers create one).
const MAX_STREAMS: usize = 8;
/// Commands buffered while the application decides on `connect`.
const MAX_DEFERRED: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Handshake,
    AwaitConnect,
    ConnectPending {
        request: RequestId,
        transaction_id: f64,
        object_encoding: f64,
    },
    Connected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StreamState {
    Idle,
    PublishPending(RequestId),
    Publishing { key: String },
}

#[derive(Debug)]
struct PendingPublish {
    stream_id: u32,
    key: String,
    /// The peer deleted the stream before the application answered.
    abandoned: bool,
}

/// One RTMP connection seen from the server; see the crate docs for the driver loop.
#[derive(Debug)]
pub struct ServerSession {
    config: SessionConfig,
    amf_limits: Limits,
    deadline: Instant,
    handshake: Handshake,
    reader: ChunkReader,
    writer: ChunkWriter,
    tx: BytesMut,
    events: VecDeque<ServerEvent>,
    bytes_received: u64,
    last_ack: u64,
    ack_window: u32,
    phase: Phase,
    deferred: VecDeque<Message>,
    app: String,
    next_request: u32,
    pending_publish: HashMap<RequestId, PendingPublish>,
    streams: BTreeMap<u32, StreamState>,
    next_stream_id: u32,
    closing: bool,
}

impl ServerSession {
    /// A session for a freshly accepted connection; the handshake deadline starts at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Self {
            amf_limits: config.amf_limits(),
            deadline: now + config.handshake_timeout,
            handshake: Handshake::new(),
            reader: ChunkReader::new(config.chunk_limits()),
            writer: ChunkWriter::new(),
            tx: BytesMut::new(),
            events: VecDeque::new(),
            bytes_received: 0,
            last_ack: 0,
            ack_window: config.window_ack_size,
            phase: Phase::Handshake,
            deferred: VecDeque::new(),
            app: String::new(),
            next_request: 0,
            pending_publish: HashMap::new(),
            streams: BTreeMap::new(),
            next_stream_id: 1,
            closing: false,
            config,
        }
    }

    /// Feeds bytes received from the peer; on error the session is closed.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), RtmpError> {
        let _ = now;
        if self.closing {
            return Ok(());
        }
        self.bytes_received += data.len() as u64;
        let result = self.process(data);
        if result.is_err() {
            self.close();
        }
        result
    }

    fn process(&mut self, mut input: &[u8]) -> Result<(), RtmpError> {
        if self.phase == Phase::Handshake {
            if !self.handshake.handle(&mut input, &mut self.tx)? {
                return Ok(());
            }
            tracing::debug!(digest = self.handshake.digest, "RTMP handshake complete");
            self.phase = Phase::AwaitConnect;
        }
        while !self.closing {
            let Some(message) = self.reader.read(&mut input)? else {
                break;
            };
            self.handle_message(message)?;
        }
        self.acknowledge();
        Ok(())
    }

    /// Call when `poll_timeout` passes; errors when the handshake deadline expired.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RtmpError> {
        if self.phase == Phase::Handshake && !self.closing && now >= self.deadline {
            self.close();
            return Err(RtmpError::HandshakeTimeout {
                timeout_ms: self.config.handshake_timeout.as_millis(),
            });
        }
        Ok(())
    }

    /// When `handle_timeout` must next be called: the handshake deadline, until it completes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.phase == Phase::Handshake && !self.closing).then_some(self.deadline)
    }

    /// Bytes to write to the peer, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.tx.is_empty()).then(|| self.tx.split().freeze())
    }

    /// Next event for the application, in the order the peer caused them.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Accepts `connect`: announces window and chunk sizes and replies NetConnection.Connect.Success,
    /// then handles any commands the peer sent ahead (their errors are returned here).
    pub fn accept_connect(&mut self, request: RequestId) -> Result<(), RtmpError> {
        let (transaction_id, object_encoding) = self.pending_connect(request)?;
        let window = self.config.window_ack_size;
        self.send_control(MessageType::WINDOW_ACK_SIZE, window.to_be_bytes().to_vec());
        self.send_control(
            MessageType::SET_PEER_BANDWIDTH,
            messages::set_peer_bandwidth(window, messages::bandwidth_limit::DYNAMIC),
        );
        let chunk_size = self
            .config
            .out_chunk_size
            .clamp(1, crate::chunk::MAX_CHUNK_SIZE_ON_WIRE);
        self.send_control(
            MessageType::SET_CHUNK_SIZE,
            chunk_size.to_be_bytes().to_vec(),
        );
        self.writer.set_chunk_size(chunk_size);
        self.send_command(
            CONNECTION_CHUNK_STREAM,
            0,
            &[
                Value::from("_result"),
                Value::Number(transaction_id),
                Value::object([
                    ("fmsVer", Value::from("FMS/3,5,7,7009")),
                    ("capabilities", Value::Number(31.0)),
                    ("mode", Value::Number(1.0)),
                ]),
                Value::object([
                    ("level", Value::from("status")),
                    ("code", Value::from("NetConnection.Connect.Success")),
                    ("description", Value::from("Connection succeeded.")),
                    ("objectEncoding", Value::Number(object_encoding)),
                ]),
            ],
        );
        self.phase = Phase::Connected;
        while let Some(message) = self.deferred.pop_front() {
            if let Err(e) = self.handle_message(message) {
                self.close();
                return Err(e);
            }
        }
        Ok(())
    }

    /// The transaction id and object encoding of the connect that `request` answers, if it is
    /// the one pending and the session is still open.
    fn pending_connect(&self, request: RequestId) -> Result<(f64, f64), RtmpError> {
        match self.phase {
            Phase::ConnectPending {
                request: pending,
                transaction_id,
                object_encoding,
            } if pending == request && !self.closing => Ok((transaction_id, object_encoding)),
            _ => Err(RtmpError::UnknownRequest(request)),
        }
    }

    /// Refuses `connect` with `_error` NetConnection.Connect.Rejected; the session then closes.
    pub fn reject_connect(
        &mut self,
        request: RequestId,
        description: &str,
    ) -> Result<(), RtmpError> {
        let (transaction_id, _) = self.pending_connect(request)?;
        self.send_command(
            CONNECTION_CHUNK_STREAM,
            0,
            &[
                Value::from("_error"),
                Value::Number(transaction_id),
                Value::Null,
                status("error", "NetConnection.Connect.Rejected", description),
            ],
        );
        self.close();
        Ok(())
    }

    /// Sends StreamBegin and NetStream.Publish.Start; media on the stream is delivered from now on.
    pub fn accept_publish(&mut self, request: RequestId) -> Result<(), RtmpError> {
        if self.closing {
            return Err(RtmpError::UnknownRequest(request));
        }
        let pending = self
            .pending_publish
            .remove(&request)
            .ok_or(RtmpError::UnknownRequest(request))?;
        let stream_id = pending.stream_id;
        if pending.abandoned {
            // Keep the application's view simple: every accepted publish ends with PublishFinished.
            self.events
                .push_back(ServerEvent::PublishFinished { stream_id });
            return Ok(());
        }
        self.send_control(
            MessageType::USER_CONTROL,
            messages::user_control(UserControlEvent::STREAM_BEGIN, stream_id),
        );
        let description = format!("{} is now published.", pending.key);
        self.send_on_status(stream_id, "status", "NetStream.Publish.Start", &description);
        self.streams
            .insert(stream_id, StreamState::Publishing { key: pending.key });
        Ok(())
    }

    /// Sends onStatus with `code` (e.g. NetStream.Publish.BadName) and `description`; the driver then closes.
    pub fn reject_publish(
        &mut self,
        request: RequestId,
        code: &str,
        description: &str,
    ) -> Result<(), RtmpError> {
        if self.closing {
            return Err(RtmpError::UnknownRequest(request));
        }
        let pending = self
            .pending_publish
            .remove(&request)
            .ok_or(RtmpError::UnknownRequest(request))?;
        if !pending.abandoned {
            self.send_on_status(pending.stream_id, "error", code, description);
            self.streams.insert(pending.stream_id, StreamState::Idle);
        }
        self.close();
        Ok(())
    }

    /// Server-initiated end (shutdown, channel deleted, key rotated): onStatus NetStream.Unpublish.Success
    /// on the publishing stream and NetConnection.Connect.AppShutdown / Closed on the connection.
    pub fn shutdown(&mut self, description: &str) -> Result<(), RtmpError> {
        if self.closing {
            return Ok(());
        }
        if self.phase == Phase::Connected {
            let publishing: Vec<u32> = self
                .streams
                .iter()
                .filter(|(_, s)| matches!(s, StreamState::Publishing { .. }))
                .map(|(&id, _)| id)
                .collect();
            for stream_id in publishing {
                self.send_control(
                    MessageType::USER_CONTROL,
                    messages::user_control(UserControlEvent::STREAM_EOF, stream_id),
                );
                self.send_on_status(
                    stream_id,
                    "status",
                    "NetStream.Unpublish.Success",
                    description,
                );
                self.streams.insert(stream_id, StreamState::Idle);
            }
            self.send_command(
                CONNECTION_CHUNK_STREAM,
                0,
                &[
                    Value::from("onStatus"),
                    Value::Number(0.0),
                    Value::Null,
                    status("status", "NetConnection.Connect.Closed", description),
                ],
            );
        }
        self.close();
        Ok(())
    }

    /// True once the session has nothing more to do but flush transmit and close.
    ///
    /// It turns true after rejections, `shutdown`, errors and timeouts, and only once
    /// `poll_transmit` has handed out every pending byte (such as the rejecting onStatus).
    pub fn is_closed(&self) -> bool {
        self.closing && self.tx.is_empty()
    }

    fn close(&mut self) {
        self.closing = true;
        self.deferred.clear();
        self.pending_publish.clear();
    }

    fn next_request(&mut self) -> RequestId {
        self.next_request = self.next_request.wrapping_add(1);
        RequestId(self.next_request)
    }

    /// §5.4.3: acknowledge once the bytes received since the last acknowledgement reach the window.
    fn acknowledge(&mut self) {
        if self.phase == Phase::Handshake || self.closing || self.ack_window == 0 {
            return;
        }
        if self.bytes_received - self.last_ack >= u64::from(self.ack_window) {
            self.last_ack = self.bytes_received;
            // The sequence number wraps with the 32-bit field.
            let sequence = self.bytes_received as u32;
            self.send_control(
                MessageType::ACKNOWLEDGEMENT,
                sequence.to_be_bytes().to_vec(),
            );
        }
    }

    fn handle_message(&mut self, message: Message) -> Result<(), RtmpError> {
        let malformed = |m: &Message| RtmpError::MalformedControl {
            message_type: m.message_type,
            len: m.payload.len(),
        };
        match message.message_type {
            // Applied by the chunk reader.
            MessageType::SET_CHUNK_SIZE | MessageType::ABORT => {}
            MessageType::ACKNOWLEDGEMENT | MessageType::SET_PEER_BANDWIDTH => {}
            MessageType::WINDOW_ACK_SIZE => {
                self.ack_window =
                    messages::read_u32(&message.payload).ok_or_else(|| malformed(&message))?;
            }
            MessageType::USER_CONTROL => {
                let (event, data) = messages::parse_user_control(&message.payload)
                    .ok_or_else(|| malformed(&message))?;
                if event == UserControlEvent::PING_REQUEST {
                    let stamp = messages::read_u32(data).ok_or_else(|| malformed(&message))?;
                    self.send_control(
                        MessageType::USER_CONTROL,
                        messages::user_control(UserControlEvent::PING_RESPONSE, stamp),
                    );
                }
            }
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                if matches!(self.phase, Phase::ConnectPending { .. }) {
                    if self.deferred.len() >= MAX_DEFERRED {
                        return Err(RtmpError::TooManyPendingMessages { max: MAX_DEFERRED });
                    }
                    self.deferred.push_back(message);
                } else {
                    self.handle_command(message)?;
                }
            }
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => self.handle_data(message)?,
            MessageType::AUDIO | MessageType::VIDEO => self.handle_media(message),
            MessageType::AGGREGATE => self.handle_aggregate(message)?,
            other => {
                tracing::debug!(message_type = %other, len = message.payload.len(), "ignoring message");
            }
        }
        Ok(())
    }

    fn is_publishing(&self, stream_id: u32) -> bool {
        matches!(
            self.streams.get(&stream_id),
            Some(StreamState::Publishing { .. })
        )
    }

    fn handle_media(&mut self, message: Message) {
        // Never deliver media the application has not authorised with accept_publish.
        if !self.is_publishing(message.stream_id) || message.payload.is_empty() {
            tracing::trace!(
                stream_id = message.stream_id,
                "dropping media outside an accepted publish"
            );
            return;
        }
        let Message {
            timestamp, payload, ..
        } = message;
        self.events
            .push_back(if message.message_type == MessageType::AUDIO {
                ServerEvent::Audio { timestamp, payload }
            } else {
                ServerEvent::Video { timestamp, payload }
            });
    }

    /// §7.1.6: an aggregate body is a run of FLV tags (11-byte header, body, 4-byte back pointer)
    /// whose timestamps are relative to the first one's.
    fn handle_aggregate(&mut self, message: Message) -> Result<(), RtmpError> {
        let mut rest = message.payload.clone();
        let mut first_ts = None;
        while rest.len() >= 11 {
            let kind = rest[0];
            let size = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
            let ts = u32::from_be_bytes([rest[7], rest[4], rest[5], rest[6]]);
            if rest.len() < 11 + size {
                break;
            }
            rest.advance(11);
            let body = rest.split_to(size);
            rest.advance(rest.len().min(4));
            let base = *first_ts.get_or_insert(ts);
            let sub = Message {
                chunk_stream_id: message.chunk_stream_id,
                timestamp: message.timestamp.wrapping_add(ts.wrapping_sub(base)),
                message_type: MessageType(kind),
                stream_id: message.stream_id,
                payload: body,
            };
            match sub.message_type {
                MessageType::AUDIO | MessageType::VIDEO => self.handle_media(sub),
                MessageType::DATA_AMF0 => self.handle_data(sub)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn send(
        &mut self,
        chunk_stream_id: u32,
        stream_id: u32,
        message_type: MessageType,
        payload: Vec<u8>,
    ) {
        let message = Message {
            chunk_stream_id,
            timestamp: 0,
            message_type,
            stream_id,
            payload: payload.into(),
        };
        if let Err(e) = self.writer.write(&message, &mut self.tx) {
            tracing::error!(error = %e, "outgoing message not sent");
        }
    }

    fn send_control(&mut self, message_type: MessageType, payload: Vec<u8>) {
        self.send(CONTROL_CHUNK_STREAM, 0, message_type, payload);
    }

    fn send_command(&mut self, chunk_stream_id: u32, stream_id: u32, values: &[Value]) {
        let mut payload = Vec::new();
        ferrocast_amf0::encode_all(values, &mut payload);
        self.send(
            chunk_stream_id,
            stream_id,
            MessageType::COMMAND_AMF0,
            payload,
        );
    }

    fn send_on_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        self.send_command(
            STREAM_CHUNK_STREAM,
            stream_id,
            &[
                Value::from("onStatus"),
                Value::Number(0.0),
                Value::Null,
                status(level, code, description),
            ],
        );
    }
}

/// The info object of onStatus, `_result` and `_error` (§7.2.1.1, §7.2.2).
fn status(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::from(level)),
        ("code", Value::from(code)),
        ("description", Value::from(description)),
    ])
}
