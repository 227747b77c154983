use super::*;
use crate::messages::MessageType;
use crate::RtmpError;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

fn read_all(reader: &mut ChunkReader, mut input: &[u8]) -> Result<Vec<Message>, RtmpError> {
    let mut out = Vec::new();
    while let Some(m) = reader.read(&mut input)? {
        out.push(m);
    }
    assert!(input.is_empty());
    Ok(out)
}

fn read_bytewise(reader: &mut ChunkReader, input: &[u8]) -> Result<Vec<Message>, RtmpError> {
    let mut out = Vec::new();
    for b in input {
        out.extend(read_all(reader, std::slice::from_ref(b))?);
    }
    Ok(out)
}

fn reader() -> ChunkReader {
    ChunkReader::new(ChunkLimits::default())
}

fn msg(chunk_stream_id: u32, timestamp: u32, kind: u8, stream_id: u32, payload: &[u8]) -> Message {
    Message {
        chunk_stream_id,
        timestamp,
        message_type: MessageType(kind),
        stream_id,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// Type 0, then 1, 2 and 3 headers on chunk stream 4, each a whole message.
fn header_types_bytes() -> Vec<u8> {
    let mut b = vec![
        0x04, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x02, 0x08, 0x01, 0x00, 0x00, 0x00,
    ];
    b.extend_from_slice(b"a0");
    // Type 1: delta 20, length 3, type 9.
    b.extend_from_slice(&[0x44, 0x00, 0x00, 0x14, 0x00, 0x00, 0x03, 0x09]);
    b.extend_from_slice(b"v01");
    // Type 2: delta 30.
    b.extend_from_slice(&[0x84, 0x00, 0x00, 0x1E]);
    b.extend_from_slice(b"v02");
    // Type 3: same delta again.
    b.push(0xC4);
    b.extend_from_slice(b"v03");
    b
}

#[test]
fn every_header_type() {
    let expected = vec![
        msg(4, 1000, 8, 1, b"a0"),
        msg(4, 1020, 9, 1, b"v01"),
        msg(4, 1050, 9, 1, b"v02"),
        msg(4, 1080, 9, 1, b"v03"),
    ];
    assert_eq!(
        read_all(&mut reader(), &header_types_bytes()).unwrap(),
        expected
    );
    assert_eq!(
        read_bytewise(&mut reader(), &header_types_bytes()).unwrap(),
        expected
    );
}

#[test]
fn type_3_after_type_0_reuses_the_timestamp_as_delta() {
    // §5.3.1.2.4: "the timestamp delta for this Type 3 chunk is the same as the timestamp of the Type 0 chunk".
    let mut b = vec![
        0x04, 0x00, 0x00, 0x17, 0x00, 0x00, 0x01, 0x08, 0x01, 0x00, 0x00, 0x00, b'x',
    ];
    b.extend_from_slice(&[0xC4, b'y']);
    let got = read_all(&mut reader(), &b).unwrap();
    assert_eq!(got[1].timestamp, 46);
}

#[test]
fn two_and_three_byte_basic_headers() {
    let mut b = vec![0x00, 0x00, 0, 0, 5, 0, 0, 1, 0x12, 0, 0, 0, 0, b'a'];
    b.extend_from_slice(&[0x01, 0x10, 0x27, 0, 0, 6, 0, 0, 1, 0x12, 0, 0, 0, 0, b'b']);
    let got = read_all(&mut reader(), &b).unwrap();
    assert_eq!(got[0].chunk_stream_id, 64);
    assert_eq!(got[1].chunk_stream_id, 64 + 0x10 + 0x27 * 256);
    assert_eq!(got[1].timestamp, 6);
}

#[test]
fn multi_chunk_message_at_default_chunk_size() {
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut b = vec![0x06, 0, 0, 0x10, 0x00, 0x01, 0x2C, 0x09, 0x01, 0, 0, 0];
    b.extend_from_slice(&payload[..128]);
    b.push(0xC6);
    b.extend_from_slice(&payload[128..256]);
    b.push(0xC6);
    b.extend_from_slice(&payload[256..]);
    let got = read_bytewise(&mut reader(), &b).unwrap();
    assert_eq!(got, vec![msg(6, 16, 9, 1, &payload)]);
}

#[test]
fn extended_timestamp_repeated_on_continuation_chunks() {
    // What FFmpeg and librtmp send: the 4-byte extended field again after each type 3 header.
    let payload = [7u8; 130];
    let mut b = vec![
        0x06, 0xFF, 0xFF, 0xFF, 0, 0, 130, 0x09, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00,
    ];
    b.extend_from_slice(&payload[..128]);
    b.extend_from_slice(&[0xC6, 0x01, 0x00, 0x00, 0x00]);
    b.extend_from_slice(&payload[128..]);
    assert_eq!(
        read_bytewise(&mut reader(), &b).unwrap(),
        vec![msg(6, 0x0100_0000, 9, 1, &payload)]
    );
}

#[test]
fn extended_timestamp_absent_on_continuation_chunks() {
    // Some encoders omit it; the four bytes after the type 3 header are then payload.
    let payload: Vec<u8> = (0..132u8).collect();
    let mut b = vec![
        0x06, 0xFF, 0xFF, 0xFF, 0, 0, 132, 0x09, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00,
    ];
    b.extend_from_slice(&payload[..128]);
    b.push(0xC6);
    b.extend_from_slice(&payload[128..]);
    let expected = vec![msg(6, 0x0100_0000, 9, 1, &payload)];
    assert_eq!(read_all(&mut reader(), &b).unwrap(), expected);
    assert_eq!(read_bytewise(&mut reader(), &b).unwrap(), expected);
}

#[test]
fn extended_timestamp_absent_with_short_tail_then_next_header() {
    // A 2-byte tail: the peeked bytes straddle the tail and the next chunk's header.
    let payload: Vec<u8> = (0..130u8).collect();
    let mut b = vec![
        0x06, 0xFF, 0xFF, 0xFF, 0, 0, 130, 0x09, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00,
    ];
    b.extend_from_slice(&payload[..128]);
    b.push(0xC6);
    b.extend_from_slice(&payload[128..]);
    b.extend_from_slice(&[0x04, 0, 0, 0, 0, 0, 1, 0x08, 1, 0, 0, 0, b'a']);
    let expected = vec![msg(6, 0x0100_0000, 9, 1, &payload), msg(4, 0, 8, 1, b"a")];
    assert_eq!(read_all(&mut reader(), &b).unwrap(), expected);
    assert_eq!(read_bytewise(&mut reader(), &b).unwrap(), expected);
}

#[test]
fn extended_delta_on_type_3_new_message() {
    // Type 1 with an extended delta, then a type 3 new message repeating that delta.
    let mut b = vec![0x05, 0, 0, 0, 0, 0, 1, 0x08, 1, 0, 0, 0, b'a'];
    b.extend_from_slice(&[
        0x45, 0xFF, 0xFF, 0xFF, 0, 0, 1, 0x08, 0x01, 0x00, 0x00, 0x00, b'b',
    ]);
    b.extend_from_slice(&[0xC5, 0x01, 0x00, 0x00, 0x00, b'c']);
    let got = read_bytewise(&mut reader(), &b).unwrap();
    let stamps: Vec<u32> = got.iter().map(|m| m.timestamp).collect();
    assert_eq!(stamps, [0, 0x0100_0000, 0x0200_0000]);
    assert_eq!(got[2].payload, &b"c"[..]);
}

#[test]
fn timestamp_delta_wraps() {
    let mut b = vec![
        0x04, 0xFF, 0xFF, 0xFF, 0, 0, 1, 0x08, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0, b'a',
    ];
    b.extend_from_slice(&[0x84, 0x00, 0x00, 0x20, b'b']);
    let got = read_all(&mut reader(), &b).unwrap();
    assert_eq!(got[0].timestamp, 0xFFFF_FFF0);
    assert_eq!(got[1].timestamp, 0x10);
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk() {
    let mut b = vec![
        0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x01, 0x00,
    ];
    let payload = [9u8; 300];
    b.extend_from_slice(&[0x06, 0, 0, 0, 0x00, 0x01, 0x2C, 0x09, 1, 0, 0, 0]);
    b.extend_from_slice(&payload[..256]);
    b.push(0xC6);
    b.extend_from_slice(&payload[256..]);
    let mut r = reader();
    let got = read_bytewise(&mut r, &b).unwrap();
    assert_eq!(r.chunk_size(), 256);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message_type, MessageType::SET_CHUNK_SIZE);
    assert_eq!(got[1].payload.len(), 300);
}

#[test]
fn interleaved_chunk_streams() {
    let video = [1u8; 200];
    let mut b = vec![0x06, 0, 0, 40, 0, 0, 200, 0x09, 1, 0, 0, 0];
    b.extend_from_slice(&video[..128]);
    // A whole audio message between the two video chunks.
    b.extend_from_slice(&[0x04, 0, 0, 41, 0, 0, 2, 0x08, 1, 0, 0, 0, 0xAF, 0x01]);
    b.push(0xC6);
    b.extend_from_slice(&video[128..]);
    let mut r = reader();
    let got = read_all(&mut r, &b).unwrap();
    assert_eq!(
        got,
        vec![msg(4, 41, 8, 1, &[0xAF, 1]), msg(6, 40, 9, 1, &video)]
    );
    assert_eq!(r.reassembly_bytes(), 0);
}

#[test]
fn abort_discards_the_partial_message() {
    let mut b = vec![0x06, 0, 0, 0, 0, 0, 200, 0x09, 1, 0, 0, 0];
    b.extend_from_slice(&[5u8; 128]);
    b.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 0x02, 0, 0, 0, 0, 0, 0, 0, 6]);
    b.extend_from_slice(&[0x06, 0, 0, 9, 0, 0, 1, 0x09, 1, 0, 0, 0, 0x17]);
    let mut r = reader();
    let got = read_all(&mut r, &b).unwrap();
    assert_eq!(got[0].message_type, MessageType::ABORT);
    assert_eq!(got[1], msg(6, 9, 9, 1, &[0x17]));
    assert_eq!(r.reassembly_bytes(), 0);
}

#[test]
fn zero_length_message() {
    let b = [0x03, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0];
    assert_eq!(
        read_all(&mut reader(), &b).unwrap(),
        vec![msg(3, 0, 20, 0, b"")]
    );
}

#[test]
fn header_without_previous_is_an_error() {
    for (first, format) in [(0x44u8, 1u8), (0x84, 2), (0xC4, 3)] {
        let err = read_all(&mut reader(), &[first, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(
            matches!(err, RtmpError::MissingPreviousHeader { chunk_stream_id: 4, format: f } if f == format),
            "{err:?}"
        );
    }
}

#[test]
fn chunk_size_caps() {
    let set = |size: u32| {
        let mut b = vec![0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0];
        b.extend_from_slice(&size.to_be_bytes());
        read_all(&mut reader(), &b)
    };
    assert!(matches!(
        set(0),
        Err(RtmpError::InvalidChunkSize { requested: 0 })
    ));
    assert!(matches!(
        set(0x8000_0000),
        Err(RtmpError::InvalidChunkSize {
            requested: 0x8000_0000
        })
    ));
    assert!(matches!(
        set(0x7FFF_FFFF),
        Err(RtmpError::ChunkSizeTooLarge {
            requested: 0x7FFF_FFFF,
            max: 0x00FF_FFFF
        })
    ));
    assert!(set(1).is_ok());
    // A short body.
    let short = [0x02, 0, 0, 0, 0, 0, 2, 0x01, 0, 0, 0, 0, 0, 1];
    assert!(matches!(
        read_all(&mut reader(), &short),
        Err(RtmpError::MalformedControl { len: 2, .. })
    ));
}

#[test]
fn message_length_cap() {
    let limits = ChunkLimits {
        max_message_len: 1000,
        ..ChunkLimits::default()
    };
    let b = [0x06, 0, 0, 0, 0, 0x03, 0xE9, 0x09, 1, 0, 0, 0];
    let err = read_all(&mut ChunkReader::new(limits), &b).unwrap_err();
    assert!(matches!(
        err,
        RtmpError::MessageTooLong {
            chunk_stream_id: 6,
            message_type: MessageType::VIDEO,
            len: 1001,
            max: 1000
        }
    ));
}

#[test]
fn reassembly_cap_spans_chunk_streams() {
    let limits = ChunkLimits {
        max_reassembly_bytes: 500,
        ..ChunkLimits::default()
    };
    let mut b = vec![0x06, 0, 0, 0, 0, 0x01, 0x2C, 0x09, 1, 0, 0, 0];
    b.extend_from_slice(&[0; 128]);
    b.extend_from_slice(&[0x07, 0, 0, 0, 0, 0x01, 0x2C, 0x09, 1, 0, 0, 0]);
    let err = read_all(&mut ChunkReader::new(limits), &b).unwrap_err();
    assert!(matches!(
        err,
        RtmpError::ReassemblyOverflow {
            chunk_stream_id: 7,
            requested: 300,
            in_use: 300,
            max: 500
        }
    ));
}

#[test]
fn chunk_stream_cap() {
    let limits = ChunkLimits {
        max_chunk_streams: 3,
        ..ChunkLimits::default()
    };
    let mut r = ChunkReader::new(limits);
    let mut b = Vec::new();
    for id in 3..7u8 {
        b.extend_from_slice(&[id, 0, 0, 0, 0, 0, 1, 0x08, 1, 0, 0, 0, 0]);
    }
    let err = read_all(&mut r, &b).unwrap_err();
    assert!(matches!(
        err,
        RtmpError::TooManyChunkStreams {
            chunk_stream_id: 6,
            max: 3
        }
    ));
}

#[test]
fn writer_compresses_headers_and_repeats_extended_timestamps() {
    let mut w = ChunkWriter::new();
    let mut out = BytesMut::new();
    w.write(&msg(4, 1000, 8, 1, b"ab"), &mut out).unwrap();
    w.write(&msg(4, 1020, 9, 1, b"abc"), &mut out).unwrap();
    w.write(&msg(4, 1050, 9, 1, b"abc"), &mut out).unwrap();
    w.write(&msg(4, 1080, 9, 1, b"abc"), &mut out).unwrap();
    let mut expected = header_types_bytes();
    // Same header bytes as the hand-written stream; only the payloads differ.
    for (at, b) in [
        (12, b"ab".as_slice()),
        (22, b"abc"),
        (29, b"abc"),
        (33, b"abc"),
    ] {
        expected[at..at + b.len()].copy_from_slice(b);
    }
    assert_eq!(&out[..], &expected[..]);

    let mut out = BytesMut::new();
    let mut w = ChunkWriter::new();
    w.write(&msg(6, 0x0100_0000, 9, 1, &[7u8; 130]), &mut out)
        .unwrap();
    let mut expected = vec![
        0x06, 0xFF, 0xFF, 0xFF, 0, 0, 130, 0x09, 1, 0, 0, 0, 1, 0, 0, 0,
    ];
    expected.extend_from_slice(&[7u8; 128]);
    expected.extend_from_slice(&[0xC6, 1, 0, 0, 0, 7, 7]);
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn writer_refuses_messages_the_header_cannot_describe() {
    let big = Message {
        payload: Bytes::from(vec![0u8; 0x0100_0000]),
        ..msg(6, 0, 9, 1, b"")
    };
    assert!(matches!(
        ChunkWriter::new().write(&big, &mut BytesMut::new()),
        Err(RtmpError::MessageTooLong {
            len: 0x0100_0000,
            ..
        })
    ));
}

fn arb_message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![2u32..10, 60u32..70, 318u32..322, 65590u32..65600],
        prop_oneof![0u32..100, 0x00FF_FFF0u32..0x0100_0010, any::<u32>()],
        prop_oneof![Just(8u8), Just(9), Just(18), Just(20)],
        0u32..3,
        prop::collection::vec(any::<u8>(), 0..700),
    )
        .prop_map(|(id, ts, kind, sid, payload)| msg(id, ts, kind, sid, &payload))
}

proptest! {
    #[test]
    fn writer_to_reader_round_trip(
        messages in prop::collection::vec(arb_message(), 1..12),
        chunk_size in prop_oneof![1u32..8, 100u32..300, Just(4096)],
        splits in prop::collection::vec(1usize..64, 1..16),
    ) {
        let mut w = ChunkWriter::new();
        let mut out = BytesMut::new();
        let set = msg(2, 0, 1, 0, &chunk_size.to_be_bytes());
        w.write(&set, &mut out).unwrap();
        w.set_chunk_size(chunk_size);
        for m in &messages {
            w.write(m, &mut out).unwrap();
        }
        let mut r = reader();
        let mut got = Vec::new();
        let mut input = &out[..];
        let mut i = 0;
        while !input.is_empty() {
            let n = splits[i % splits.len()].min(input.len());
            i += 1;
            let mut piece = &input[..n];
            while let Some(m) = r.read(&mut piece).unwrap() {
                got.push(m);
            }
            input = &input[n..];
        }
        prop_assert_eq!(got.remove(0), set);
        let ids: Vec<u32> = messages.iter().map(|m| m.chunk_stream_id.clamp(2, 65599)).collect();
        let expected: Vec<Message> = messages
            .into_iter()
            .zip(ids)
            .map(|(m, id)| Message { chunk_stream_id: id, ..m })
            .collect();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(r.reassembly_bytes(), 0);
    }

    #[test]
    fn reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut r = ChunkReader::new(ChunkLimits {
            max_chunk_size: 1 << 16,
            max_message_len: 1 << 16,
            max_reassembly_bytes: 1 << 17,
            max_chunk_streams: 8,
        });
        let mut input = &bytes[..];
        while let Ok(Some(_)) = r.read(&mut input) {}
        prop_assert!(r.reassembly_bytes() <= 1 << 17);
    }
}
