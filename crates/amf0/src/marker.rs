//! AMF0 type markers (AMF0 specification §2.1).

/// §2.2 IEEE-754 double, big-endian.
pub const NUMBER: u8 = 0x00;
/// §2.3 one byte, zero is false.
pub const BOOLEAN: u8 = 0x01;
/// §2.4 UTF-8 with a 16-bit length.
pub const STRING: u8 = 0x02;
/// §2.5 anonymous object: properties until the object-end marker.
pub const OBJECT: u8 = 0x03;
/// §2.6 reserved, not supported.
pub const MOVIECLIP: u8 = 0x04;
/// §2.7 null.
pub const NULL: u8 = 0x05;
/// §2.8 undefined.
pub const UNDEFINED: u8 = 0x06;
/// §2.9 index of an earlier complex value.
pub const REFERENCE: u8 = 0x07;
/// §2.10 associative array with a 32-bit count hint.
pub const ECMA_ARRAY: u8 = 0x08;
/// §2.11 ends objects, ECMA arrays and typed objects (after an empty property name).
pub const OBJECT_END: u8 = 0x09;
/// §2.12 dense array with a 32-bit count.
pub const STRICT_ARRAY: u8 = 0x0A;
/// §2.13 milliseconds since the epoch plus a 16-bit time zone.
pub const DATE: u8 = 0x0B;
/// §2.14 UTF-8 with a 32-bit length.
pub const LONG_STRING: u8 = 0x0C;
/// §2.15 a value the encoder could not serialise.
pub const UNSUPPORTED: u8 = 0x0D;
/// §2.16 reserved, not supported.
pub const RECORDSET: u8 = 0x0E;
/// §2.17 XML text with a 32-bit length.
pub const XML_DOCUMENT: u8 = 0x0F;
/// §2.18 object with a class name.
pub const TYPED_OBJECT: u8 = 0x10;
/// §3.1 switch to AMF3 for the next value, not supported here.
pub const AVMPLUS: u8 = 0x11;
