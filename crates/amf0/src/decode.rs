use crate::{marker, Amf0Error, Value};

/// Caps on what a peer can make the decoder allocate or recurse into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Containers (objects, ECMA arrays, strict arrays, typed objects) nested inside each other.
    pub max_depth: usize,
    /// Bytes in any one string, long string, XML document or property name.
    pub max_string_len: usize,
    /// Properties or elements in any one container.
    pub max_entries: usize,
}

impl Limits {
    /// Generous for any real command or `onMetaData`, small enough that abuse is cheap to refuse.
    pub const DEFAULT: Self = Self {
        max_depth: 32,
        max_string_len: 1 << 20,
        max_entries: 4096,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Decodes one value with [`Limits::DEFAULT`], advancing `input` past it (left as is on error).
pub fn decode(input: &mut &[u8]) -> Result<Value, Amf0Error> {
    decode_with_limits(input, &Limits::DEFAULT)
}

/// Decodes one value under `limits`, advancing `input` past it (left as is on error).
pub fn decode_with_limits(input: &mut &[u8], limits: &Limits) -> Result<Value, Amf0Error> {
    let mut reader = Reader {
        buf: input,
        pos: 0,
        limits,
    };
    let value = reader.value(0)?;
    *input = &input[reader.pos..];
    Ok(value)
}

/// Decodes every value in a command or data message body with [`Limits::DEFAULT`].
pub fn decode_all(input: &[u8]) -> Result<Vec<Value>, Amf0Error> {
    decode_all_with_limits(input, &Limits::DEFAULT)
}

/// Decodes every value in a command or data message body under `limits`.
///
/// The number of top-level values is capped by `limits.max_entries` too.
pub fn decode_all_with_limits(input: &[u8], limits: &Limits) -> Result<Vec<Value>, Amf0Error> {
    let mut reader = Reader {
        buf: input,
        pos: 0,
        limits,
    };
    let mut values = Vec::new();
    while reader.pos < input.len() {
        if values.len() >= limits.max_entries {
            return Err(Amf0Error::TooManyEntries {
                max: limits.max_entries,
                offset: reader.pos,
            });
        }
        values.push(reader.value(0)?);
    }
    Ok(values)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        if self.remaining() < n {
            return Err(Amf0Error::UnexpectedEof {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Amf0Error> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        self.array().map(u32::from_be_bytes)
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        self.array().map(f64::from_be_bytes)
    }

    fn text(&mut self, len: usize) -> Result<String, Amf0Error> {
        if len > self.limits.max_string_len {
            return Err(Amf0Error::StringTooLong {
                len,
                max: self.limits.max_string_len,
                offset: self.pos,
            });
        }
        let bytes = self.take(len)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn short_text(&mut self) -> Result<String, Amf0Error> {
        let len = self.u16()?;
        self.text(usize::from(len))
    }

    fn long_text(&mut self) -> Result<String, Amf0Error> {
        let len = self.u32()?;
        self.text(len as usize)
    }

    /// Checks the nesting cap before entering a container at `depth` (0 = top level).
    fn enter(&self, depth: usize, offset: usize) -> Result<usize, Amf0Error> {
        if depth >= self.limits.max_depth {
            return Err(Amf0Error::DepthExceeded {
                max: self.limits.max_depth,
                offset,
            });
        }
        Ok(depth + 1)
    }

    fn value(&mut self, depth: usize) -> Result<Value, Amf0Error> {
        let start = self.pos;
        let m = self.u8()?;
        Ok(match m {
            marker::NUMBER => Value::Number(self.f64()?),
            marker::BOOLEAN => Value::Boolean(self.u8()? != 0),
            marker::STRING => Value::String(self.short_text()?),
            marker::OBJECT => {
                let inner = self.enter(depth, start)?;
                Value::Object(self.properties(inner, false)?)
            }
            marker::NULL => Value::Null,
            marker::UNDEFINED | marker::UNSUPPORTED => Value::Undefined,
            marker::REFERENCE => {
                // Encoders of live streams never emit references; resolving them would let a
                // peer build cyclic or exponentially shared graphs, so the index is dropped.
                self.u16()?;
                Value::Undefined
            }
            marker::ECMA_ARRAY => {
                let inner = self.enter(depth, start)?;
                // §2.10: the count is only a hint; the object-end marker terminates.
                self.u32()?;
                Value::EcmaArray(self.properties(inner, true)?)
            }
            marker::OBJECT_END => return Err(Amf0Error::UnexpectedObjectEnd { offset: start }),
            marker::STRICT_ARRAY => {
                let inner = self.enter(depth, start)?;
                let count = self.u32()? as usize;
                if count > self.limits.max_entries {
                    return Err(Amf0Error::TooManyEntries {
                        max: self.limits.max_entries,
                        offset: start,
                    });
                }
                // Each element takes at least one byte: never reserve more than could follow.
                let mut values = Vec::with_capacity(count.min(self.remaining()));
                for _ in 0..count {
                    values.push(self.value(inner)?);
                }
                Value::StrictArray(values)
            }
            marker::DATE => {
                let millis = self.f64()?;
                let time_zone = i16::from_be_bytes(self.array()?);
                Value::Date { millis, time_zone }
            }
            marker::LONG_STRING => Value::LongString(self.long_text()?),
            marker::XML_DOCUMENT => Value::Xml(self.long_text()?),
            marker::TYPED_OBJECT => {
                let inner = self.enter(depth, start)?;
                let _class_name = self.short_text()?;
                Value::Object(self.properties(inner, false)?)
            }
            marker::MOVIECLIP | marker::RECORDSET | marker::AVMPLUS => {
                return Err(Amf0Error::UnsupportedMarker {
                    marker: m,
                    offset: start,
                })
            }
            _ => {
                return Err(Amf0Error::UnknownMarker {
                    marker: m,
                    offset: start,
                })
            }
        })
    }

    /// Reads `name value` pairs up to the empty-name + object-end terminator (§2.5, §2.10).
    fn properties(
        &mut self,
        depth: usize,
        ecma_array: bool,
    ) -> Result<Vec<(String, Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            if ecma_array && self.remaining() == 0 {
                // Some encoders end a top-level ECMA array with the buffer.
                return Ok(props);
            }
            let key_offset = self.pos;
            let key_len = self.u16()?;
            if key_len == 0 && self.buf.get(self.pos) == Some(&marker::OBJECT_END) {
                self.pos += 1;
                return Ok(props);
            }
            if props.len() >= self.limits.max_entries {
                return Err(Amf0Error::TooManyEntries {
                    max: self.limits.max_entries,
                    offset: key_offset,
                });
            }
            let key = self.text(usize::from(key_len))?;
            let value = self.value(depth)?;
            props.push((key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Value, Amf0Error> {
        let mut input = bytes;
        let v = decode(&mut input)?;
        assert!(input.is_empty(), "trailing bytes: {input:?}");
        Ok(v)
    }

    #[test]
    fn scalars() {
        assert_eq!(
            one(&[0x00, 0x40, 0x08, 0, 0, 0, 0, 0, 0]),
            Ok(Value::Number(3.0))
        );
        assert_eq!(one(&[0x01, 0x00]), Ok(Value::Boolean(false)));
        assert_eq!(one(&[0x01, 0x07]), Ok(Value::Boolean(true)));
        assert_eq!(
            one(&[0x02, 0x00, 0x02, b'h', b'i']),
            Ok(Value::String("hi".into()))
        );
        assert_eq!(one(&[0x05]), Ok(Value::Null));
        assert_eq!(one(&[0x06]), Ok(Value::Undefined));
        assert_eq!(one(&[0x07, 0x00, 0x03]), Ok(Value::Undefined));
        assert_eq!(one(&[0x0D]), Ok(Value::Undefined));
        assert_eq!(
            one(&[0x0C, 0, 0, 0, 3, b'a', b'b', b'c']),
            Ok(Value::LongString("abc".into()))
        );
        assert_eq!(
            one(&[0x0F, 0, 0, 0, 2, b'<', b'>']),
            Ok(Value::Xml("<>".into()))
        );
        assert_eq!(
            one(&[0x0B, 0x40, 0x59, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE]),
            Ok(Value::Date {
                millis: 100.0,
                time_zone: -2
            })
        );
    }

    #[test]
    fn containers() {
        let object = [
            0x03, 0x00, 0x01, b'a', 0x05, 0x00, 0x01, b'b', 0x01, 0x01, 0x00, 0x00, 0x09,
        ];
        assert_eq!(
            one(&object),
            Ok(Value::Object(vec![
                ("a".into(), Value::Null),
                ("b".into(), Value::Boolean(true))
            ]))
        );
        let ecma = [0x08, 0, 0, 0, 9, 0x00, 0x01, b'k', 0x06, 0x00, 0x00, 0x09];
        assert_eq!(
            one(&ecma),
            Ok(Value::EcmaArray(vec![("k".into(), Value::Undefined)]))
        );
        let strict = [0x0A, 0, 0, 0, 2, 0x05, 0x06];
        assert_eq!(
            one(&strict),
            Ok(Value::StrictArray(vec![Value::Null, Value::Undefined]))
        );
        let typed = [
            0x10, 0x00, 0x01, b'C', 0x00, 0x01, b'x', 0x05, 0x00, 0x00, 0x09,
        ];
        assert_eq!(
            one(&typed),
            Ok(Value::Object(vec![("x".into(), Value::Null)]))
        );
    }

    #[test]
    fn ecma_array_without_end_marker_at_end_of_input() {
        let bytes = [0x08, 0, 0, 0, 1, 0x00, 0x01, b'k', 0x05];
        assert_eq!(
            one(&bytes),
            Ok(Value::EcmaArray(vec![("k".into(), Value::Null)]))
        );
    }

    #[test]
    fn empty_property_name_that_is_not_the_end() {
        let bytes = [0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x09];
        assert_eq!(
            one(&bytes),
            Ok(Value::Object(vec![(String::new(), Value::Null)]))
        );
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        assert_eq!(
            one(&[0x02, 0x00, 0x01, 0xE9]),
            Ok(Value::String("\u{FFFD}".into()))
        );
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(
            one(&[0x00, 0x40]),
            Err(Amf0Error::UnexpectedEof {
                offset: 1,
                needed: 7
            })
        );
        assert_eq!(
            one(&[0x09]),
            Err(Amf0Error::UnexpectedObjectEnd { offset: 0 })
        );
        assert_eq!(
            one(&[0x11, 0x01]),
            Err(Amf0Error::UnsupportedMarker {
                marker: 0x11,
                offset: 0
            })
        );
        assert_eq!(
            one(&[0x12]),
            Err(Amf0Error::UnknownMarker {
                marker: 0x12,
                offset: 0
            })
        );
        // An object that never ends.
        assert!(matches!(
            one(&[0x03, 0x00, 0x01, b'a', 0x05]),
            Err(Amf0Error::UnexpectedEof { offset: 5, .. })
        ));
    }

    #[test]
    fn input_is_untouched_on_error_and_advanced_on_success() {
        let bytes = [0x05, 0x00, 0x40];
        let mut input = &bytes[..];
        assert_eq!(decode(&mut input), Ok(Value::Null));
        assert_eq!(input, &[0x00, 0x40]);
        assert!(decode(&mut input).is_err());
        assert_eq!(input, &[0x00, 0x40]);
    }

    #[test]
    fn depth_cap() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::DEFAULT
        };
        let nested = |n: usize| {
            let mut v = [0x0A, 0, 0, 0, 1].repeat(n);
            v.push(0x05);
            v
        };
        assert!(decode_all_with_limits(&nested(3), &limits).is_ok());
        assert_eq!(
            decode_all_with_limits(&nested(4), &limits),
            Err(Amf0Error::DepthExceeded { max: 3, offset: 15 })
        );
        // Deep enough to overflow the stack without the cap.
        let err = decode_all(&nested(1_000_000)).unwrap_err();
        assert!(matches!(err, Amf0Error::DepthExceeded { max: 32, .. }));
        assert!(err.is_limit());
    }

    #[test]
    fn string_cap() {
        let limits = Limits {
            max_string_len: 2,
            ..Limits::DEFAULT
        };
        assert!(decode_all_with_limits(&[0x02, 0, 2, b'a', b'b'], &limits).is_ok());
        assert_eq!(
            decode_all_with_limits(&[0x02, 0, 3, b'a', b'b', b'c'], &limits),
            Err(Amf0Error::StringTooLong {
                len: 3,
                max: 2,
                offset: 3
            })
        );
        // The cap applies before the bytes are needed, so a lying length fails fast.
        assert!(matches!(
            decode_all_with_limits(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF], &limits),
            Err(Amf0Error::StringTooLong {
                len: 0xFFFF_FFFF,
                ..
            })
        ));
        // Property names count too.
        assert!(matches!(
            decode_all_with_limits(&[0x03, 0, 3, b'a', b'b', b'c', 0x05, 0, 0, 9], &limits),
            Err(Amf0Error::StringTooLong { len: 3, .. })
        ));
    }

    #[test]
    fn entry_cap() {
        let limits = Limits {
            max_entries: 1,
            ..Limits::DEFAULT
        };
        assert_eq!(
            decode_all_with_limits(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF], &limits),
            Err(Amf0Error::TooManyEntries { max: 1, offset: 0 })
        );
        assert_eq!(
            decode_all_with_limits(
                &[0x03, 0, 1, b'a', 0x05, 0, 1, b'b', 0x05, 0, 0, 9],
                &limits
            ),
            Err(Amf0Error::TooManyEntries { max: 1, offset: 5 })
        );
        assert_eq!(
            decode_all_with_limits(&[0x05, 0x05], &limits),
            Err(Amf0Error::TooManyEntries { max: 1, offset: 1 })
        );
        // A huge strict-array count under the cap must not allocate up front.
        assert!(matches!(
            decode_all(&[0x0A, 0, 0, 0x0F, 0xFF]),
            Err(Amf0Error::UnexpectedEof { .. })
        ));
    }

    #[test]
    fn decode_all_reads_a_command() {
        // "connect", 1, {app: "live"}
        let mut bytes = vec![0x02, 0, 7];
        bytes.extend_from_slice(b"connect");
        bytes.push(0x00);
        bytes.extend_from_slice(&1.0f64.to_be_bytes());
        bytes.extend_from_slice(&[0x03, 0, 3, b'a', b'p', b'p', 0x02, 0, 4]);
        bytes.extend_from_slice(b"live");
        bytes.extend_from_slice(&[0, 0, 9]);
        let values = decode_all(&bytes).unwrap();
        assert_eq!(values[0].as_str(), Some("connect"));
        assert_eq!(values[1].as_f64(), Some(1.0));
        assert_eq!(values[2].get("app").and_then(Value::as_str), Some("live"));
        assert_eq!(values[2].get("tcUrl"), None);
    }
}
