/// An AMF0 value; objects and ECMA arrays keep their properties in wire order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// §2.2 number.
    Number(f64),
    /// §2.3 boolean.
    Boolean(bool),
    /// §2.4 string; encoded as a long string when longer than 65535 bytes.
    String(String),
    /// §2.5 anonymous object (also what a §2.18 typed object decodes to).
    Object(Vec<(String, Value)>),
    /// §2.7 null.
    Null,
    /// §2.8 undefined (also what references and unsupported values decode to).
    Undefined,
    /// §2.10 ECMA (associative) array.
    EcmaArray(Vec<(String, Value)>),
    /// §2.12 strict (dense) array.
    StrictArray(Vec<Value>),
    /// §2.13 date.
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Reserved by the spec; should be zero.
        time_zone: i16,
    },
    /// §2.14 long string.
    LongString(String),
    /// §2.17 XML document.
    Xml(String),
}

impl Value {
    /// Text of a string or long string, so callers need not care which marker the peer chose.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) | Self::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The number, for fields such as transaction ids and stream ids.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, for flags in metadata.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Properties of an object or ECMA array, which encoders use interchangeably for key/value data.
    pub fn properties(&self) -> Option<&[(String, Value)]> {
        match self {
            Self::Object(p) | Self::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// First property named `key` of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties()?
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v))
    }

    /// True for null and undefined, which commands use interchangeably as "no value".
    pub fn is_null_or_undefined(&self) -> bool {
        matches!(self, Self::Null | Self::Undefined)
    }

    /// Builds an anonymous object from key/value pairs, for composing command replies.
    pub fn object<K: Into<String>>(properties: impl IntoIterator<Item = (K, Value)>) -> Self {
        Self::Object(properties.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Self::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Boolean(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}
