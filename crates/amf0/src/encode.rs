use crate::marker;
use crate::Value;

/// Appends the AMF0 encoding of `value`; strings over 65535 bytes become long strings (§2.14).
///
/// Property names longer than 65535 bytes cannot be represented (§2.4 UTF-8-empty/UTF-8 use a
/// 16-bit length) and are truncated at a character boundary.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Number(n) => {
            out.push(marker::NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(&[marker::BOOLEAN, u8::from(*b)]),
        Value::String(s) if s.len() <= usize::from(u16::MAX) => {
            out.push(marker::STRING);
            write_short_str(s, out);
        }
        Value::String(s) | Value::LongString(s) => {
            out.push(marker::LONG_STRING);
            write_long_str(s, out);
        }
        Value::Object(props) => {
            out.push(marker::OBJECT);
            write_properties(props, out);
        }
        Value::Null => out.push(marker::NULL),
        Value::Undefined => out.push(marker::UNDEFINED),
        Value::EcmaArray(props) => {
            out.push(marker::ECMA_ARRAY);
            out.extend_from_slice(&saturating_u32(props.len()).to_be_bytes());
            write_properties(props, out);
        }
        Value::StrictArray(values) => {
            out.push(marker::STRICT_ARRAY);
            let count = saturating_u32(values.len());
            out.extend_from_slice(&count.to_be_bytes());
            for v in values.iter().take(count as usize) {
                encode(v, out);
            }
        }
        Value::Date { millis, time_zone } => {
            out.push(marker::DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&time_zone.to_be_bytes());
        }
        Value::Xml(s) => {
            out.push(marker::XML_DOCUMENT);
            write_long_str(s, out);
        }
    }
}

/// Appends each value in order, as a command or data message body carries them.
pub fn encode_all(values: &[Value], out: &mut Vec<u8>) {
    for v in values {
        encode(v, out);
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn write_short_str(s: &str, out: &mut Vec<u8>) {
    let s = truncate_at_char(s, usize::from(u16::MAX));
    // Cannot fail: truncated to u16::MAX above.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_long_str(s: &str, out: &mut Vec<u8>) {
    let s = truncate_at_char(s, u32::MAX as usize);
    out.extend_from_slice(&saturating_u32(s.len()).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_properties(props: &[(String, Value)], out: &mut Vec<u8>) {
    for (k, v) in props {
        write_short_str(k, out);
        encode(v, out);
    }
    out.extend_from_slice(&[0, 0, marker::OBJECT_END]);
}
