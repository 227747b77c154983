//! NetConnection and NetStream commands (§7.2) and data messages (§7.1.2).

use super::{
    status, PendingPublish, Phase, ServerSession, StreamState, CONNECTION_CHUNK_STREAM, MAX_STREAMS,
};
use crate::chunk::Message;
use crate::messages::MessageType;
use crate::{RtmpError, ServerEvent};
use ferrocast_amf0::Value;

/// The AMF0 body of a command or data message; AMF3-typed messages from Flash-era clients start
/// with a zero format byte before AMF0 values, which is skipped.
fn amf0_body(message: &Message) -> &[u8] {
    let amf3 = matches!(
        message.message_type,
        MessageType::COMMAND_AMF3 | MessageType::DATA_AMF3
    );
    match &message.payload[..] {
        [0, rest @ ..] if amf3 => rest,
        body => body,
    }
}

/// Removes a `?query` (tokens some clients append to the name) from a publishing name.
fn strip_query(name: &str) -> &str {
    name.split_once('?').map_or(name, |(key, _)| key)
}

impl ServerSession {
    fn decode(&self, message: &Message) -> Result<Vec<Value>, RtmpError> {
        let max = self.config.max_amf_message_len;
        if message.payload.len() > max {
            return Err(RtmpError::AmfMessageTooLong {
                message_type: message.message_type,
                stream_id: message.stream_id,
                len: message.payload.len(),
                max,
            });
        }
        ferrocast_amf0::decode_all_with_limits(amf0_body(message), &self.amf_limits).map_err(
            |source| RtmpError::Amf {
                message_type: message.message_type,
                stream_id: message.stream_id,
                source,
            },
        )
    }

    pub(super) fn handle_command(&mut self, message: Message) -> Result<(), RtmpError> {
        let values = self.decode(&message)?;
        let mut values = values.into_iter();
        let Some(Value::String(name) | Value::LongString(name)) = values.next() else {
            return Err(RtmpError::MalformedCommand {
                command: String::new(),
                reason: "the first value is not a command name",
            });
        };
        let transaction_id = values.next().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let object = values.next().unwrap_or(Value::Null);
        let args: Vec<Value> = values.collect();
        tracing::debug!(command = %name, transaction_id, stream_id = message.stream_id, "command");

        if name == "connect" {
            return self.on_connect(transaction_id, &object);
        }
        if self.phase != Phase::Connected {
            tracing::debug!(command = %name, "ignoring command before connect was accepted");
            return Ok(());
        }
        let first_str = args
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match name.as_str() {
            // FFmpeg and OBS send these Adobe-era calls before createStream and track their
            // transactions; answering keeps them from waiting.
            "releaseStream" => self.reply_result(transaction_id, Value::Undefined),
            "FCPublish" => {
                self.send_command(
                    CONNECTION_CHUNK_STREAM,
                    0,
                    &[
                        Value::from("onFCPublish"),
                        Value::Number(0.0),
                        Value::Null,
                        Value::object([
                            ("code", Value::from("NetStream.Publish.Start")),
                            ("description", Value::from(first_str.as_str())),
                        ]),
                    ],
                );
                self.reply_result(transaction_id, Value::Undefined);
            }
            "createStream" => self.on_create_stream(transaction_id)?,
            "publish" => self.on_publish(message.stream_id, &args)?,
            "FCUnpublish" => {
                let key = strip_query(&first_str);
                let found = self.streams.iter().find_map(|(&id, state)| match state {
                    StreamState::Publishing { key: k } if k == key => Some(id),
                    StreamState::PublishPending(request) => self
                        .pending_publish
                        .get(request)
                        .filter(|p| p.key == key)
                        .map(|_| id),
                    _ => None,
                });
                if let Some(stream_id) = found {
                    self.finish_publish(stream_id);
                }
            }
            "deleteStream" => {
                if let Some(id) = args.first().and_then(Value::as_f64) {
                    // Stream ids are small positive integers; anything else matches no stream.
                    let stream_id = id as u32;
                    self.finish_publish(stream_id);
                    self.streams.remove(&stream_id);
                }
            }
            "closeStream" => self.finish_publish(message.stream_id),
            "play" => {
                self.send_on_status(
                    message.stream_id,
                    "error",
                    "NetStream.Play.StreamNotFound",
                    "This server only accepts publishing.",
                );
                self.events.push_back(ServerEvent::PlayRefused {
                    stream_name: first_str,
                });
            }
            _ => {
                // getStreamLength, _checkbw, ...: a transaction id means the peer waits for an answer.
                if transaction_id != 0.0 {
                    self.send_command(
                        CONNECTION_CHUNK_STREAM,
                        0,
                        &[
                            Value::from("_error"),
                            Value::Number(transaction_id),
                            Value::Null,
                            status(
                                "error",
                                "NetConnection.Call.Failed",
                                "Method not supported.",
                            ),
                        ],
                    );
                }
            }
        }
        Ok(())
    }

    fn reply_result(&mut self, transaction_id: f64, value: Value) {
        if transaction_id != 0.0 {
            self.send_command(
                CONNECTION_CHUNK_STREAM,
                0,
                &[
                    Value::from("_result"),
                    Value::Number(transaction_id),
                    Value::Null,
                    value,
                ],
            );
        }
    }

    fn on_connect(&mut self, transaction_id: f64, object: &Value) -> Result<(), RtmpError> {
        if self.phase != Phase::AwaitConnect {
            tracing::debug!("ignoring repeated connect");
            return Ok(());
        }
        let app = object
            .get("app")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim_end_matches('/');
        if app.len() > self.config.max_app_len {
            return Err(RtmpError::AppTooLong {
                len: app.len(),
                max: self.config.max_app_len,
            });
        }
        let app = app.to_owned();
        let tc_url = object
            .get("tcUrl")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let object_encoding = object
            .get("objectEncoding")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let request = self.next_request();
        self.phase = Phase::ConnectPending {
            request,
            transaction_id,
            object_encoding,
        };
        self.app.clone_from(&app);
        self.events.push_back(ServerEvent::ConnectRequested {
            request,
            app,
            tc_url,
        });
        Ok(())
    }

    fn on_create_stream(&mut self, transaction_id: f64) -> Result<(), RtmpError> {
        if self.streams.len() >= MAX_STREAMS {
            return Err(RtmpError::TooManyStreams { max: MAX_STREAMS });
        }
        let mut id = self.next_stream_id;
        while id == 0 || self.streams.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_stream_id = id.wrapping_add(1);
        self.streams.insert(id, StreamState::Idle);
        self.reply_result(transaction_id, Value::Number(f64::from(id)));
        Ok(())
    }

    fn on_publish(&mut self, stream_id: u32, args: &[Value]) -> Result<(), RtmpError> {
        let Some(name) = args.first().and_then(Value::as_str) else {
            return Err(RtmpError::MalformedCommand {
                command: "publish".into(),
                reason: "the publishing name is not a string",
            });
        };
        if name.len() > self.config.max_stream_key_len {
            return Err(RtmpError::StreamKeyTooLong {
                len: name.len(),
                max: self.config.max_stream_key_len,
            });
        }
        let key = strip_query(name).to_owned();
        match self.streams.get(&stream_id) {
            None => return Err(RtmpError::UnknownStream { stream_id }),
            Some(StreamState::Idle) => {}
            Some(_) => {
                self.send_on_status(
                    stream_id,
                    "error",
                    "NetStream.Publish.BadConnection",
                    "This stream is already publishing.",
                );
                return Ok(());
            }
        }
        let request = self.next_request();
        self.streams
            .insert(stream_id, StreamState::PublishPending(request));
        self.pending_publish.insert(
            request,
            PendingPublish {
                stream_id,
                key: key.clone(),
                abandoned: false,
            },
        );
        self.events.push_back(ServerEvent::PublishRequested {
            request,
            app: self.app.clone(),
            stream_key: key,
            stream_id,
        });
        Ok(())
    }

    /// Ends a publish the peer stopped; a pending one is answered with PublishFinished on accept.
    fn finish_publish(&mut self, stream_id: u32) {
        match self.streams.get(&stream_id) {
            Some(StreamState::Publishing { .. }) => {
                self.streams.insert(stream_id, StreamState::Idle);
                self.send_on_status(
                    stream_id,
                    "status",
                    "NetStream.Unpublish.Success",
                    "Stream unpublished.",
                );
                self.events
                    .push_back(ServerEvent::PublishFinished { stream_id });
            }
            Some(StreamState::PublishPending(request)) => {
                if let Some(pending) = self.pending_publish.get_mut(request) {
                    pending.abandoned = true;
                }
                self.streams.insert(stream_id, StreamState::Idle);
            }
            Some(StreamState::Idle) | None => {}
        }
    }

    /// `@setDataFrame onMetaData {..}` (FFmpeg, OBS) or `onMetaData {..}` (older Flash encoders).
    pub(super) fn handle_data(&mut self, message: Message) -> Result<(), RtmpError> {
        if !self.is_publishing(message.stream_id) {
            return Ok(());
        }
        let values = match self.decode(&message) {
            Ok(values) => values,
            Err(RtmpError::Amf { source, .. }) if !source.is_limit() => {
                // Odd metadata is not worth dropping a live publish over.
                tracing::debug!(error = %source, "ignoring undecodable data message");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut values = values.as_slice();
        if values.first().and_then(Value::as_str) == Some("@setDataFrame") {
            values = &values[1..];
        }
        if let [name, data, ..] = values {
            if name.as_str() == Some("onMetaData") {
                if let Some(properties) = data.properties() {
                    self.events.push_back(ServerEvent::Metadata {
                        properties: properties.to_vec(),
                    });
                }
            }
        }
        Ok(())
    }
}
