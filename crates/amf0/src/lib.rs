//! AMF0 (Action Message Format 0, Adobe 2007). INTERFACE STUB: the owner fills it in.
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::todo, unused)]

/// An AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Value)>),
    StrictArray(Vec<Value>),
    Date { millis: f64, time_zone: i16 },
    LongString(String),
    Xml(String),
}
