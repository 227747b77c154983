//! Encoder byte layouts and property tests over the public API.

use ferrocast_amf0::{decode, decode_all, encode, encode_all, Amf0Error, Limits, Value};
use proptest::prelude::*;

fn bytes_of(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode(v, &mut out);
    out
}

#[test]
fn encodes_command_reply_layout() {
    let reply = [
        Value::from("_result"),
        Value::Number(1.0),
        Value::object([("fmsVer", Value::from("FMS/3,0,1,123"))]),
        Value::Null,
    ];
    let mut out = Vec::new();
    encode_all(&reply, &mut out);
    let mut expected = vec![0x02, 0x00, 0x07];
    expected.extend_from_slice(b"_result");
    expected.push(0x00);
    expected.extend_from_slice(&[0x3F, 0xF0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&[0x03, 0x00, 0x06]);
    expected.extend_from_slice(b"fmsVer");
    expected.extend_from_slice(&[0x02, 0x00, 0x0D]);
    expected.extend_from_slice(b"FMS/3,0,1,123");
    expected.extend_from_slice(&[0x00, 0x00, 0x09, 0x05]);
    assert_eq!(out, expected);
}

#[test]
fn encodes_every_marker() {
    assert_eq!(bytes_of(&Value::Boolean(true)), [0x01, 0x01]);
    assert_eq!(bytes_of(&Value::Undefined), [0x06]);
    assert_eq!(
        bytes_of(&Value::EcmaArray(vec![("a".into(), Value::Null)])),
        [0x08, 0, 0, 0, 1, 0, 1, b'a', 0x05, 0, 0, 9]
    );
    assert_eq!(
        bytes_of(&Value::StrictArray(vec![Value::Null])),
        [0x0A, 0, 0, 0, 1, 0x05]
    );
    assert_eq!(
        bytes_of(&Value::Date {
            millis: 0.0,
            time_zone: 1
        }),
        [0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    );
    assert_eq!(
        bytes_of(&Value::LongString("x".into())),
        [0x0C, 0, 0, 0, 1, b'x']
    );
    assert_eq!(bytes_of(&Value::Xml("x".into())), [0x0F, 0, 0, 0, 1, b'x']);
}

#[test]
fn long_plain_string_becomes_long_string() {
    let s = "a".repeat(70_000);
    let bytes = bytes_of(&Value::String(s.clone()));
    assert_eq!(bytes[0], 0x0C);
    assert_eq!(decode_all(&bytes), Ok(vec![Value::LongString(s)]));
}

#[test]
fn overlong_property_name_is_truncated_on_a_char_boundary() {
    // 'é' is two bytes; 40_000 of them do not fit a 16-bit length.
    let key = "é".repeat(40_000);
    let bytes = bytes_of(&Value::object([(key, Value::Null)]));
    let decoded = decode_all(&bytes).unwrap();
    let (name, _) = &decoded[0].properties().unwrap()[0];
    assert_eq!(name.len(), 65_534);
    assert!(name.chars().all(|c| c == 'é'));
}

#[test]
fn accessors() {
    let v = Value::EcmaArray(vec![
        ("width".into(), Value::Number(1280.0)),
        ("stereo".into(), Value::Boolean(true)),
    ]);
    assert_eq!(v.get("width").and_then(Value::as_f64), Some(1280.0));
    assert_eq!(v.get("stereo").and_then(Value::as_bool), Some(true));
    assert_eq!(v.get("missing"), None);
    assert_eq!(Value::Null.get("x"), None);
    assert!(Value::Undefined.is_null_or_undefined());
    assert_eq!(Value::LongString("s".into()).as_str(), Some("s"));
    assert_eq!(Value::Number(1.0).as_str(), None);
}

fn arb_value() -> impl Strategy<Value = Value> {
    let key = "[a-zA-Z0-9@ é]{0,12}";
    let leaf = prop_oneof![
        any::<f64>()
            .prop_filter("NaN never equals itself", |n| !n.is_nan())
            .prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        ".{0,24}".prop_map(Value::String),
        Just(Value::Null),
        Just(Value::Undefined),
        (any::<i32>(), any::<i16>()).prop_map(|(m, tz)| Value::Date {
            millis: f64::from(m),
            time_zone: tz
        }),
        ".{0,24}".prop_map(Value::LongString),
        ".{0,24}".prop_map(Value::Xml),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec((key, inner.clone()), 0..6).prop_map(Value::Object),
            prop::collection::vec((key, inner.clone()), 0..6).prop_map(Value::EcmaArray),
            prop::collection::vec(inner, 0..6).prop_map(Value::StrictArray),
        ]
    })
}

proptest! {
    #[test]
    fn round_trip(values in prop::collection::vec(arb_value(), 0..4)) {
        let mut bytes = Vec::new();
        encode_all(&values, &mut bytes);
        prop_assert_eq!(decode_all(&bytes), Ok(values));
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut input = &bytes[..];
        let before = input.len();
        match decode(&mut input) {
            Ok(_) => prop_assert!(input.len() < before),
            Err(_) => prop_assert_eq!(input.len(), before),
        }
        let _ = decode_all(&bytes);
    }

    #[test]
    fn decode_never_panics_on_structured_garbage(
        prefix in prop::collection::vec(prop::sample::select(vec![0x03u8, 0x08, 0x0A, 0x10, 0x00, 0x09, 0xFF]), 0..64),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = prefix;
        bytes.extend(tail);
        let tight = Limits { max_depth: 4, max_string_len: 8, max_entries: 4 };
        if let Err(e) = ferrocast_amf0::decode_all_with_limits(&bytes, &tight) {
            // Every error is one of the documented kinds; none escapes as a panic.
            let _: &Amf0Error = &e;
        }
    }
}
