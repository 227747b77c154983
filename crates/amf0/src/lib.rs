//! AMF0, the Action Message Format version 0 that RTMP commands and FLV `onMetaData` use.
//!
//! Follows Adobe's *Action Message Format -- AMF 0* specification (December 2007):
//! §2.1 lists the type markers, §2.2–§2.18 the encoding of each type. Every size on the wire is
//! peer-controlled, so [`decode_with_limits`] bounds nesting depth (§2.5 objects may nest without
//! limit in the spec), string length and entry counts, with one [`Amf0Error`] variant per cap.
//!
//! Deviations, chosen for interoperability with real encoders:
//! - strings that are not valid UTF-8 (§1.3 requires UTF-8) are decoded lossily instead of failing;
//! - references (§2.9) and the "unsupported" marker (§2.14) decode as [`Value::Undefined`], typed
//!   objects (§2.18) as [`Value::Object`] without their class name;
//! - an ECMA array (§2.10) that ends at the end of the input without its object-end marker is
//!   accepted, as some encoders write `onMetaData` that way.
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod error;
pub mod marker;
mod value;

pub use decode::{decode, decode_all, decode_all_with_limits, decode_with_limits, Limits};
pub use encode::{encode, encode_all};
pub use error::Amf0Error;
pub use value::Value;
