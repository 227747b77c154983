//! The chunk reader alone, and a session past a valid plain handshake and `connect`, fed arbitrary
//! chunk bytes split at input-chosen points.
#![no_main]

use ferrocast_rtmp::chunk::{ChunkLimits, ChunkReader};
use ferrocast_rtmp::{ServerEvent, ServerSession, SessionConfig};
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

/// C0, a plain C1 and C2, then `connect` (app "live") on chunk stream 3.
fn prelude() -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend_from_slice(&[0u8; 1536 * 2]);
    let mut body = Vec::new();
    ferrocast_amf0::encode_all(
        &[
            ferrocast_amf0::Value::from("connect"),
            ferrocast_amf0::Value::Number(1.0),
            ferrocast_amf0::Value::object([("app", ferrocast_amf0::Value::from("live"))]),
        ],
        &mut body,
    );
    v.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, body.len() as u8, 0x14, 0, 0, 0, 0]);
    v.extend_from_slice(&body);
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(split % 64) + 1;

    let mut reader = ChunkReader::new(ChunkLimits {
        max_chunk_size: 1 << 16,
        max_message_len: 1 << 16,
        max_reassembly_bytes: 1 << 18,
        max_chunk_streams: 16,
    });
    'reader: for chunk in rest.chunks(piece) {
        let mut input = chunk;
        loop {
            match reader.read(&mut input) {
                Ok(Some(message)) => assert!(message.payload.len() <= 1 << 16),
                Ok(None) => break,
                Err(_) => break 'reader,
            }
        }
    }
    assert!(reader.reassembly_bytes() <= 1 << 18);

    let now = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), now);
    session.handle_input(now, &prelude()).expect("valid prelude");
    let Some(ServerEvent::ConnectRequested { request, .. }) = session.poll_event() else {
        panic!("connect not raised");
    };
    session.accept_connect(request).expect("accept");
    for chunk in rest.chunks(piece) {
        if session.handle_input(now, chunk).is_err() {
            break;
        }
        while session.poll_transmit().is_some() {}
        while let Some(event) = session.poll_event() {
            if let ServerEvent::PublishRequested { request, .. } = event {
                let _ = session.accept_publish(request);
            }
        }
    }
});
