//! Caps on peer-controlled input end the session with their named errors, and no input panics.

use crate::client::{cmd, Client, Split};
use ferrocast_amf0::{Amf0Error, Value};
use ferrocast_rtmp::messages::MessageType;
use ferrocast_rtmp::{RtmpError, ServerEvent, ServerSession, SessionConfig};
use proptest::prelude::*;
use std::time::Instant;

fn connected(config: SessionConfig) -> Client {
    let mut c = Client::new(config, Split::Whole);
    c.handshake(true);
    c.command(
        0,
        &cmd(
            "connect",
            1.0,
            Value::object([("app", Value::from("live"))]),
            &[],
        ),
    )
    .unwrap();
    let request = match &c.take_events()[..] {
        [ServerEvent::ConnectRequested { request, .. }] => *request,
        other => panic!("{other:?}"),
    };
    c.server.accept_connect(request).unwrap();
    c.collect();
    c.take_messages();
    c
}

fn assert_closed_after(c: &mut Client, result: Result<(), RtmpError>) -> RtmpError {
    let err = result.unwrap_err();
    assert!(err.is_peer_error());
    c.collect();
    assert!(c.server.is_closed());
    // Further input is ignored rather than parsed.
    assert!(c.feed(&[0xFF; 64]).is_ok());
    err
}

#[test]
fn huge_chunk_size() {
    let mut c = connected(SessionConfig::default());
    let r = c.send(
        2,
        0,
        MessageType::SET_CHUNK_SIZE,
        0,
        &0x7FFF_FFFFu32.to_be_bytes(),
    );
    let err = assert_closed_after(&mut c, r);
    assert!(matches!(
        err,
        RtmpError::ChunkSizeTooLarge {
            requested: 0x7FFF_FFFF,
            ..
        }
    ));
    assert!(err.is_limit());
}

#[test]
fn huge_message_length() {
    let mut c = connected(SessionConfig::default());
    // A type 0 header declaring 16 MiB - 1 with no payload behind it.
    let r = c.feed(&[0x06, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x09, 1, 0, 0, 0]);
    let err = assert_closed_after(&mut c, r);
    assert!(matches!(
        err,
        RtmpError::MessageTooLong { chunk_stream_id: 6, message_type: MessageType::VIDEO, len: 0xFF_FFFF, max }
            if max == 8 << 20
    ));
}

#[test]
fn reassembly_overflow() {
    let mut c = connected(SessionConfig::default());
    // Four 8 MiB messages started on four chunk streams, none finished.
    let mut bytes = Vec::new();
    for id in [4u8, 5, 6, 7] {
        bytes.extend_from_slice(&[id, 0, 0, 0, 0x80, 0, 0, 0x09, 1, 0, 0, 0]);
        // One whole first chunk at the default chunk size.
        bytes.extend_from_slice(&[0; 128]);
    }
    let r = c.feed(&bytes);
    let err = assert_closed_after(&mut c, r);
    assert!(matches!(
        err,
        RtmpError::ReassemblyOverflow {
            chunk_stream_id: 7,
            requested: 0x80_0000,
            in_use: 0x180_0000,
            ..
        }
    ));
}

#[test]
fn too_many_chunk_streams() {
    let mut c = connected(SessionConfig::default());
    let mut bytes = Vec::new();
    for id in 10..200u32 {
        // Two-byte basic headers for ids >= 64.
        if id < 64 {
            bytes.push(id as u8);
        } else {
            bytes.extend_from_slice(&[0, (id - 64) as u8]);
        }
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0x08, 0, 0, 0, 0, 0xAF]);
    }
    let r = c.feed(&bytes);
    let err = assert_closed_after(&mut c, r);
    assert!(matches!(
        err,
        RtmpError::TooManyChunkStreams { max: 64, .. }
    ));
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..depth {
        v.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
    }
    v.push(0x05);
    v
}

#[test]
fn deep_amf_nesting() {
    let mut c = Client::new(SessionConfig::default(), Split::Whole);
    c.handshake(false);
    let mut body = Vec::new();
    ferrocast_amf0::encode_all(&[Value::from("connect"), Value::Number(1.0)], &mut body);
    body.extend(nested_arrays(10_000));
    let r = c.send(3, 0, MessageType::COMMAND_AMF0, 0, &body);
    let err = assert_closed_after(&mut c, r);
    assert!(matches!(
        err,
        RtmpError::Amf {
            message_type: MessageType::COMMAND_AMF0,
            stream_id: 0,
            source: Amf0Error::DepthExceeded { max: 16, .. }
        }
    ));
    assert!(err.is_limit());
}

#[test]
fn deep_amf_nesting_in_metadata_is_fatal_but_odd_metadata_is_not() {
    let mut c = connected(SessionConfig::default());
    c.command(0, &cmd("createStream", 2.0, Value::Null, &[]))
        .unwrap();
    c.command(1, &cmd("publish", 3.0, Value::Null, &[Value::from("k")]))
        .unwrap();
    let request = match &c.take_events()[..] {
        [ServerEvent::PublishRequested { request, .. }] => *request,
        other => panic!("{other:?}"),
    };
    c.server.accept_publish(request).unwrap();
    let mut odd = Vec::new();
    ferrocast_amf0::encode(&Value::from("onMetaData"), &mut odd);
    odd.push(0x11); // AMF3 switch marker: unsupported, skipped.
    c.send(4, 0, MessageType::DATA_AMF0, 1, &odd).unwrap();
    let mut deep = Vec::new();
    ferrocast_amf0::encode(&Value::from("onMetaData"), &mut deep);
    deep.extend(nested_arrays(100));
    let r = c.send(4, 0, MessageType::DATA_AMF0, 1, &deep);
    let err = assert_closed_after(&mut c, r);
    assert!(matches!(
        err,
        RtmpError::Amf {
            source: Amf0Error::DepthExceeded { .. },
            ..
        }
    ));
}

#[test]
fn long_app_and_stream_key() {
    let config = SessionConfig {
        max_app_len: 8,
        max_stream_key_len: 16,
        ..SessionConfig::default()
    };
    let mut c = Client::new(config.clone(), Split::Whole);
    c.handshake(false);
    let r = c.command(
        0,
        &cmd(
            "connect",
            1.0,
            Value::object([("app", Value::from("a".repeat(9)))]),
            &[],
        ),
    );
    assert!(matches!(
        assert_closed_after(&mut c, r),
        RtmpError::AppTooLong { len: 9, max: 8 }
    ));

    let mut c = connected(config);
    c.command(0, &cmd("createStream", 2.0, Value::Null, &[]))
        .unwrap();
    let r = c.command(
        1,
        &cmd("publish", 3.0, Value::Null, &[Value::from("k".repeat(17))]),
    );
    assert!(matches!(
        assert_closed_after(&mut c, r),
        RtmpError::StreamKeyTooLong { len: 17, max: 16 }
    ));
}

#[test]
fn too_many_streams_and_unknown_stream() {
    let mut c = connected(SessionConfig::default());
    let mut result = Ok(());
    for t in 0..20 {
        result = c.command(0, &cmd("createStream", f64::from(t + 2), Value::Null, &[]));
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(
        assert_closed_after(&mut c, result),
        RtmpError::TooManyStreams { max: 8 }
    ));

    let mut c = connected(SessionConfig::default());
    let r = c.command(7, &cmd("publish", 2.0, Value::Null, &[Value::from("k")]));
    assert!(matches!(
        assert_closed_after(&mut c, r),
        RtmpError::UnknownStream { stream_id: 7 }
    ));
}

#[test]
fn regression_inputs() {
    // Inputs that once looked risky: a type 3 header with extended state but no stream, a
    // zero-length Set Chunk Size, a header after an abort of an unknown chunk stream.
    let cases: [&[u8]; 3] = [
        &[0xC4, 0xFF, 0xFF, 0xFF, 0xFF],
        &[0x02, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0],
        &[0x02, 0, 0, 0, 0, 0, 4, 0x02, 0, 0, 0, 0, 0, 0, 0, 9, 0xC9],
    ];
    for case in cases {
        let mut c = Client::new(SessionConfig::default(), Split::Whole);
        c.handshake(false);
        let _ = c.feed(case);
    }
}

fn handshake_prefix() -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend_from_slice(&[0u8; 1536]);
    v.extend_from_slice(&[0u8; 1536]);
    v
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let now = Instant::now();
        let mut fresh = ServerSession::new(SessionConfig::default(), now);
        let _ = fresh.handle_input(now, &bytes);
        while fresh.poll_transmit().is_some() {}
        while fresh.poll_event().is_some() {}

        let mut after = ServerSession::new(SessionConfig::default(), now);
        after.handle_input(now, &handshake_prefix()).unwrap();
        if after.handle_input(now, &bytes).is_err() {
            prop_assert!(after.is_closed() || after.poll_transmit().is_some());
        }
        while after.poll_event().is_some() {}
    }

    #[test]
    fn arbitrary_chunks_after_connect_never_panic(
        chunks in prop::collection::vec(
            (2u8..8, any::<u8>(), 0u32..300, prop_oneof![Just(1u8), Just(4), Just(8), Just(9), Just(15), Just(17), Just(18), Just(20), Just(22), any::<u8>()], 0u32..3,
             prop::collection::vec(any::<u8>(), 0..300)),
            0..12),
    ) {
        let mut c = connected(SessionConfig::default());
        for (id, ts_hi, ts, kind, sid, payload) in chunks {
            let timestamp = (u32::from(ts_hi) << 24) | ts;
            if c.send(u32::from(id), timestamp, MessageType(kind), sid, &payload).is_err() {
                break;
            }
            c.take_events();
        }
    }
}

#[test]
fn oversized_command_message() {
    let config = SessionConfig {
        max_amf_message_len: 100,
        ..SessionConfig::default()
    };
    let mut c = Client::new(config, Split::Whole);
    c.handshake(false);
    let r = c.command(
        0,
        &cmd(
            "connect",
            1.0,
            Value::object([("app", Value::from("x".repeat(100)))]),
            &[],
        ),
    );
    let err = assert_closed_after(&mut c, r);
    assert!(matches!(
        err,
        RtmpError::AmfMessageTooLong {
            message_type: MessageType::COMMAND_AMF0,
            stream_id: 0,
            max: 100,
            ..
        }
    ));
}
