//! Whole publishes as FFmpeg, OBS and GStreamer perform them, under every way of splitting input.

use crate::client::{cmd, code, level, Client, Split};
use bytes::Bytes;
use ferrocast_amf0::Value;
use ferrocast_rtmp::chunk::Message;
use ferrocast_rtmp::messages::{self, MessageType, UserControlEvent};
use ferrocast_rtmp::{RequestId, RtmpError, ServerEvent, SessionConfig};
use std::time::Duration;

fn connect_object() -> Value {
    Value::object([
        ("app", Value::from("live")),
        ("type", Value::from("nonprivate")),
        (
            "flashVer",
            Value::from("FMLE/3.0 (compatible; Lavf59.27.100)"),
        ),
        ("tcUrl", Value::from("rtmp://localhost:1935/live")),
        ("objectEncoding", Value::Number(0.0)),
    ])
}

/// Connects and accepts; returns after checking the server's connect replies.
fn connect(c: &mut Client) {
    c.command(0, &cmd("connect", 1.0, connect_object(), &[]))
        .unwrap();
    let events = c.take_events();
    let [ServerEvent::ConnectRequested {
        request,
        app,
        tc_url,
    }] = &events[..]
    else {
        panic!("expected ConnectRequested, got {events:?}");
    };
    assert_eq!(app, "live");
    assert_eq!(tc_url.as_deref(), Some("rtmp://localhost:1935/live"));
    let not_ack = |m: &Message| m.message_type != MessageType::ACKNOWLEDGEMENT;
    assert!(
        !c.take_messages().iter().any(not_ack),
        "nothing but acknowledgements is sent before the application decides"
    );
    c.server.accept_connect(*request).unwrap();
    c.collect();
    let received: Vec<Message> = c.take_messages().into_iter().filter(not_ack).collect();
    let kinds: Vec<MessageType> = received.iter().map(|m| m.message_type).collect();
    assert_eq!(
        kinds,
        [
            MessageType::WINDOW_ACK_SIZE,
            MessageType::SET_PEER_BANDWIDTH,
            MessageType::SET_CHUNK_SIZE,
            MessageType::COMMAND_AMF0
        ]
    );
    assert_eq!(messages::read_u32(&received[0].payload), Some(2_500_000));
    assert_eq!(&received[1].payload[..], &[0x00, 0x26, 0x25, 0xA0, 2]);
    assert_eq!(messages::read_u32(&received[2].payload), Some(4096));
    let result = ferrocast_amf0::decode_all(&received[3].payload).unwrap();
    assert_eq!(result[0].as_str(), Some("_result"));
    assert_eq!(result[1].as_f64(), Some(1.0));
    assert!(result[2]
        .get("fmsVer")
        .and_then(Value::as_str)
        .unwrap()
        .starts_with("FMS/"));
    assert_eq!(
        result[2].get("capabilities").and_then(Value::as_f64),
        Some(31.0)
    );
    assert_eq!(code(&result), Some("NetConnection.Connect.Success"));
    assert_eq!(
        result[3].get("objectEncoding").and_then(Value::as_f64),
        Some(0.0)
    );
}

/// releaseStream, FCPublish, createStream and publish as FFmpeg sends them; returns the request.
fn request_publish(c: &mut Client, name: &str) -> RequestId {
    let key = Value::from(name);
    c.command(
        0,
        &cmd(
            "releaseStream",
            2.0,
            Value::Null,
            std::slice::from_ref(&key),
        ),
    )
    .unwrap();
    c.command(
        0,
        &cmd("FCPublish", 3.0, Value::Null, std::slice::from_ref(&key)),
    )
    .unwrap();
    c.command(0, &cmd("createStream", 4.0, Value::Null, &[]))
        .unwrap();
    let replies = c.take_commands();
    let names: Vec<(&str, f64)> = replies
        .iter()
        .map(|(_, v)| (v[0].as_str().unwrap(), v[1].as_f64().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("_result", 2.0),
            ("onFCPublish", 0.0),
            ("_result", 3.0),
            ("_result", 4.0)
        ]
    );
    assert_eq!(replies[3].1[3], Value::Number(1.0), "first stream id is 1");

    c.command(
        1,
        &cmd("publish", 5.0, Value::Null, &[key, Value::from("live")]),
    )
    .unwrap();
    let events = c.take_events();
    let [ServerEvent::PublishRequested {
        request,
        app,
        stream_key,
        stream_id,
    }] = &events[..]
    else {
        panic!("expected PublishRequested, got {events:?}");
    };
    assert_eq!((app.as_str(), stream_id), ("live", &1));
    assert_eq!(stream_key, name.split('?').next().unwrap());
    *request
}

fn accept_publish(c: &mut Client, request: RequestId) {
    c.server.accept_publish(request).unwrap();
    c.collect();
    let received = c.take_messages();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].message_type, MessageType::USER_CONTROL);
    assert_eq!(
        &received[0].payload[..],
        &messages::user_control(UserControlEvent::STREAM_BEGIN, 1)[..]
    );
    let status = ferrocast_amf0::decode_all(&received[1].payload).unwrap();
    assert_eq!(received[1].stream_id, 1);
    assert_eq!(status[0].as_str(), Some("onStatus"));
    assert_eq!(level(&status), Some("status"));
    assert_eq!(code(&status), Some("NetStream.Publish.Start"));
}

fn metadata_bytes(set_data_frame: bool) -> Vec<u8> {
    let mut values = Vec::new();
    if set_data_frame {
        values.push(Value::from("@setDataFrame"));
    }
    values.push(Value::from("onMetaData"));
    values.push(Value::EcmaArray(vec![
        ("width".into(), Value::Number(1280.0)),
        ("height".into(), Value::Number(720.0)),
        ("videocodecid".into(), Value::Number(7.0)),
        ("encoder".into(), Value::from("Lavf59.27.100")),
    ]));
    let mut out = Vec::new();
    ferrocast_amf0::encode_all(&values, &mut out);
    out
}

fn video_payload(i: u32, len: usize) -> Vec<u8> {
    let mut v = vec![if i == 0 { 0x17 } else { 0x27 }, 0x01, 0, 0, 0];
    v.extend((0..len).map(|j| (j as u32).wrapping_mul(31).wrapping_add(i) as u8));
    v
}

/// A whole FFmpeg-style publish; returns the number of acknowledgements the server sent.
fn ffmpeg_publish(split: Split, chunk_size: u32, digest: bool) {
    let mut c = Client::new(SessionConfig::default(), split);
    c.handshake(digest);
    c.set_chunk_size(chunk_size);
    connect(&mut c);
    let request = request_publish(&mut c, "secret-key?token=abc");

    // Media sent before the decision is never delivered.
    c.send(6, 0, MessageType::VIDEO, 1, &video_payload(0, 10))
        .unwrap();
    c.send(4, 0, MessageType::DATA_AMF0, 1, &metadata_bytes(true))
        .unwrap();
    assert!(c.take_events().is_empty());

    accept_publish(&mut c, request);
    c.send(4, 0, MessageType::DATA_AMF0, 1, &metadata_bytes(true))
        .unwrap();
    let events = c.take_events();
    let [ServerEvent::Metadata { properties }] = &events[..] else {
        panic!("expected Metadata, got {events:?}");
    };
    assert_eq!(properties.len(), 4);
    assert_eq!(properties[0], ("width".to_string(), Value::Number(1280.0)));

    // AAC sequence header, then interleaved audio and video; video timestamps cross 0xFFFFFF so
    // extended timestamps appear, and a keyframe spans many chunks.
    let mut expected = Vec::new();
    c.send(4, 0, MessageType::AUDIO, 1, &[0xAF, 0x00, 0x12, 0x10])
        .unwrap();
    expected.push((MessageType::AUDIO, 0, vec![0xAF, 0x00, 0x12, 0x10]));
    for i in 0..6u32 {
        let ts = 0x00FF_FF00 + i * 40;
        let video = video_payload(i, if i == 0 { 20_000 } else { 700 + i as usize });
        c.send(6, ts, MessageType::VIDEO, 1, &video).unwrap();
        expected.push((MessageType::VIDEO, ts, video));
        let audio = vec![0xAF, 0x01, i as u8, 0x42];
        c.send(4, ts + 3, MessageType::AUDIO, 1, &audio).unwrap();
        expected.push((MessageType::AUDIO, ts + 3, audio));
    }
    let got: Vec<(MessageType, u32, Vec<u8>)> = c
        .take_events()
        .into_iter()
        .map(|e| match e {
            ServerEvent::Audio { timestamp, payload } => {
                (MessageType::AUDIO, timestamp, payload.to_vec())
            }
            ServerEvent::Video { timestamp, payload } => {
                (MessageType::VIDEO, timestamp, payload.to_vec())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(got, expected);

    c.command(
        0,
        &cmd(
            "FCUnpublish",
            6.0,
            Value::Null,
            &[Value::from("secret-key?token=abc")],
        ),
    )
    .unwrap();
    c.command(
        0,
        &cmd("deleteStream", 7.0, Value::Null, &[Value::Number(1.0)]),
    )
    .unwrap();
    let events = c.take_events();
    assert!(
        matches!(&events[..], [ServerEvent::PublishFinished { stream_id: 1 }]),
        "{events:?}"
    );
    let statuses = c.take_commands();
    assert!(statuses
        .iter()
        .any(|(sid, v)| *sid == 1 && code(v) == Some("NetStream.Unpublish.Success")));
    // Media after the end of the publish is dropped.
    c.send(6, 5000, MessageType::VIDEO, 1, &video_payload(9, 5))
        .unwrap();
    assert!(c.take_events().is_empty());
    assert!(!c.server.is_closed());
}

#[test]
fn ffmpeg_publish_whole_buffers() {
    ffmpeg_publish(Split::Whole, 4096, true);
}

#[test]
fn ffmpeg_publish_one_byte_at_a_time_at_odd_chunk_sizes() {
    ffmpeg_publish(Split::OneByte, 129, true);
    ffmpeg_publish(Split::OneByte, 1, false);
}

#[test]
fn ffmpeg_publish_random_splits() {
    for (seed, chunk_size) in [(1, 7), (2, 128), (3, 1000), (4, 4096), (5, 60_000), (6, 3)] {
        ffmpeg_publish(Split::Random(seed), chunk_size, seed % 2 == 0);
    }
}

#[test]
fn gstreamer_style_publish_with_amf3_commands_and_bare_on_metadata() {
    let mut c = Client::new(SessionConfig::default(), Split::Random(11));
    c.handshake(false);
    connect(&mut c);
    // createStream as an AMF3 command message: a zero format byte, then AMF0.
    let mut body = vec![0u8];
    ferrocast_amf0::encode_all(&cmd("createStream", 2.0, Value::Null, &[]), &mut body);
    c.send(3, 0, MessageType::COMMAND_AMF3, 0, &body).unwrap();
    let replies = c.take_commands();
    assert_eq!(replies[0].1[0].as_str(), Some("_result"));
    assert_eq!(replies[0].1[3], Value::Number(1.0));
    c.command(
        1,
        &cmd(
            "publish",
            3.0,
            Value::Null,
            &[Value::from("gst"), Value::from("live")],
        ),
    )
    .unwrap();
    let request = match &c.take_events()[..] {
        [ServerEvent::PublishRequested {
            request,
            stream_key,
            ..
        }] if stream_key == "gst" => *request,
        other => panic!("{other:?}"),
    };
    accept_publish(&mut c, request);
    c.send(4, 0, MessageType::DATA_AMF0, 1, &metadata_bytes(false))
        .unwrap();
    let mut amf3_data = vec![0u8];
    amf3_data.extend(metadata_bytes(true));
    c.send(4, 0, MessageType::DATA_AMF3, 1, &amf3_data).unwrap();
    let events = c.take_events();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| matches!(e, ServerEvent::Metadata { properties } if properties.len() == 4)));
    // closeStream on the publishing stream ends it.
    c.command(1, &cmd("closeStream", 0.0, Value::Null, &[]))
        .unwrap();
    assert!(matches!(
        &c.take_events()[..],
        [ServerEvent::PublishFinished { stream_id: 1 }]
    ));
}

#[test]
fn rejected_publish_sends_error_status_then_closes() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(true);
    connect(&mut c);
    let request = request_publish(&mut c, "wrong");
    c.server
        .reject_publish(request, "NetStream.Publish.BadName", "Unknown stream key.")
        .unwrap();
    // Closed only once the rejection has been handed out for writing.
    assert!(!c.server.is_closed());
    c.collect();
    assert!(c.server.is_closed());
    let replies = c.take_commands();
    let [(1, status)] = &replies[..] else {
        panic!("{replies:?}")
    };
    assert_eq!(status[0].as_str(), Some("onStatus"));
    assert_eq!(level(status), Some("error"));
    assert_eq!(code(status), Some("NetStream.Publish.BadName"));
    assert_eq!(
        status[3].get("description").and_then(Value::as_str),
        Some("Unknown stream key.")
    );
    // Nothing from a rejected session reaches the application.
    c.send(6, 0, MessageType::VIDEO, 1, &video_payload(0, 10))
        .unwrap();
    assert!(c.take_events().is_empty());
    assert!(matches!(
        c.server.accept_publish(request),
        Err(RtmpError::UnknownRequest(_))
    ));
}

#[test]
fn rejected_connect_sends_error_then_closes() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(false);
    c.command(0, &cmd("connect", 1.0, connect_object(), &[]))
        .unwrap();
    let request = match &c.take_events()[..] {
        [ServerEvent::ConnectRequested { request, .. }] => *request,
        other => panic!("{other:?}"),
    };
    assert!(matches!(c.server.accept_connect(RequestId(99)), Err(e) if !e.is_peer_error()));
    c.server
        .reject_connect(request, "No such application.")
        .unwrap();
    c.collect();
    assert!(c.server.is_closed());
    let replies = c.take_commands();
    assert_eq!(replies[0].1[0].as_str(), Some("_error"));
    assert_eq!(replies[0].1[1].as_f64(), Some(1.0));
    assert_eq!(code(&replies[0].1), Some("NetConnection.Connect.Rejected"));
}

#[test]
fn commands_sent_ahead_of_the_connect_decision_are_answered_after_it() {
    let mut c = Client::new(SessionConfig::default(), Split::OneByte);
    c.handshake(true);
    c.command(0, &cmd("connect", 1.0, connect_object(), &[]))
        .unwrap();
    c.command(0, &cmd("createStream", 2.0, Value::Null, &[]))
        .unwrap();
    let request = match &c.take_events()[..] {
        [ServerEvent::ConnectRequested { request, .. }] => *request,
        other => panic!("{other:?}"),
    };
    assert!(c.take_messages().is_empty());
    c.server.accept_connect(request).unwrap();
    c.collect();
    let replies = c.take_commands();
    let ids: Vec<f64> = replies
        .iter()
        .map(|(_, v)| v[1].as_f64().unwrap())
        .collect();
    assert_eq!(ids, [1.0, 2.0]);
}

#[test]
fn deleting_a_stream_before_the_publish_decision() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(true);
    connect(&mut c);
    let request = request_publish(&mut c, "k");
    c.command(
        0,
        &cmd("deleteStream", 6.0, Value::Null, &[Value::Number(1.0)]),
    )
    .unwrap();
    assert!(c.take_events().is_empty());
    c.server.accept_publish(request).unwrap();
    c.collect();
    assert!(matches!(
        &c.take_events()[..],
        [ServerEvent::PublishFinished { stream_id: 1 }]
    ));
    assert!(
        c.take_commands().is_empty(),
        "no Publish.Start for a deleted stream"
    );
}

#[test]
fn play_is_refused() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(true);
    connect(&mut c);
    c.command(0, &cmd("createStream", 2.0, Value::Null, &[]))
        .unwrap();
    c.command(
        0,
        &cmd("getStreamLength", 3.0, Value::Null, &[Value::from("movie")]),
    )
    .unwrap();
    c.command(1, &cmd("play", 4.0, Value::Null, &[Value::from("movie")]))
        .unwrap();
    let events = c.take_events();
    assert!(
        matches!(&events[..], [ServerEvent::PlayRefused { stream_name }] if stream_name == "movie")
    );
    let replies = c.take_commands();
    assert_eq!(replies[1].1[0].as_str(), Some("_error"));
    assert_eq!(replies[1].1[1].as_f64(), Some(3.0));
    assert_eq!(replies[2].0, 1);
    assert_eq!(level(&replies[2].1), Some("error"));
    assert_eq!(code(&replies[2].1), Some("NetStream.Play.StreamNotFound"));
    assert!(!c.server.is_closed());
}

#[test]
fn ping_request_gets_a_response_and_unknown_messages_are_skipped() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(true);
    let ping = messages::user_control(UserControlEvent::PING_REQUEST, 0xDEAD_BEEF);
    c.send(2, 0, MessageType::USER_CONTROL, 0, &ping).unwrap();
    c.send(3, 0, MessageType(0x42), 0, b"whatever").unwrap();
    c.send(3, 0, MessageType::SHARED_OBJECT_AMF0, 0, b"so")
        .unwrap();
    let received = c.take_messages();
    assert_eq!(received.len(), 1);
    assert_eq!(
        &received[0].payload[..],
        &messages::user_control(UserControlEvent::PING_RESPONSE, 0xDEAD_BEEF)[..]
    );
}

#[test]
fn acknowledgements_follow_the_peer_window() {
    let mut c = Client::new(SessionConfig::default(), Split::Random(3));
    c.handshake(true);
    c.send(
        2,
        0,
        MessageType::WINDOW_ACK_SIZE,
        0,
        &1000u32.to_be_bytes(),
    )
    .unwrap();
    connect(&mut c);
    let request = request_publish(&mut c, "k");
    accept_publish(&mut c, request);
    for i in 0..20 {
        c.send(6, i * 40, MessageType::VIDEO, 1, &video_payload(i, 700))
            .unwrap();
    }
    let acks: Vec<u32> = c
        .take_messages()
        .iter()
        .filter(|m| m.message_type == MessageType::ACKNOWLEDGEMENT)
        .map(|m| messages::read_u32(&m.payload).unwrap())
        .collect();
    assert!(acks.len() >= 10, "{acks:?}");
    assert!(acks.windows(2).all(|w| w[1] - w[0] >= 1000));
    let total = c.bytes_sent as u32;
    assert!(*acks.last().unwrap() <= total && total - acks.last().unwrap() < 1000);
}

#[test]
fn aggregate_messages_are_split_into_media() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(true);
    connect(&mut c);
    let request = request_publish(&mut c, "k");
    accept_publish(&mut c, request);
    let mut agg = Vec::new();
    for (kind, ts, body) in [(8u8, 1000u32, &b"aa"[..]), (9, 1040, b"vvv")] {
        agg.push(kind);
        agg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        agg.extend_from_slice(&ts.to_be_bytes()[1..]);
        agg.push((ts >> 24) as u8);
        agg.extend_from_slice(&[0, 0, 0]);
        agg.extend_from_slice(body);
        agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    }
    c.send(6, 5000, MessageType::AGGREGATE, 1, &agg).unwrap();
    let events = c.take_events();
    assert!(matches!(&events[..], [
        ServerEvent::Audio { timestamp: 5000, payload: a },
        ServerEvent::Video { timestamp: 5040, payload: v },
    ] if a == &Bytes::from_static(b"aa") && v == &Bytes::from_static(b"vvv")));
}

#[test]
fn shutdown_unpublishes_and_closes_the_connection() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(true);
    connect(&mut c);
    let request = request_publish(&mut c, "k");
    accept_publish(&mut c, request);
    c.server.shutdown("Server is shutting down.").unwrap();
    assert!(!c.server.is_closed());
    c.collect();
    assert!(c.server.is_closed());
    let replies = c.take_commands();
    let codes: Vec<(u32, &str)> = replies
        .iter()
        .map(|(sid, v)| (*sid, code(v).unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (1, "NetStream.Unpublish.Success"),
            (0, "NetConnection.Connect.Closed")
        ]
    );
    assert!(c.take_events().is_empty());
}

#[test]
fn handshake_deadline() {
    let config = SessionConfig {
        handshake_timeout: Duration::from_secs(5),
        ..SessionConfig::default()
    };
    let mut c = Client::new(config.clone(), Split::Whole);
    let start = c.now;
    assert_eq!(
        c.server.poll_timeout(),
        Some(start + Duration::from_secs(5))
    );
    c.feed(&[3, 0, 0]).unwrap();
    assert!(c
        .server
        .handle_timeout(start + Duration::from_secs(4))
        .is_ok());
    assert!(matches!(
        c.server.handle_timeout(start + Duration::from_secs(5)),
        Err(RtmpError::HandshakeTimeout { timeout_ms: 5000 })
    ));
    assert!(c.server.is_closed());
    assert_eq!(c.server.poll_timeout(), None);

    // A completed handshake clears the deadline.
    let mut c = Client::new(config, Split::Whole);
    c.handshake(false);
    assert_eq!(c.server.poll_timeout(), None);
    assert!(c
        .server
        .handle_timeout(start + Duration::from_secs(3600))
        .is_ok());
}
