//! Server frames: ordered events (serialized once) and the per-connection replies.

use crate::protocol::Refusal;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What a user is in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A guest or a viewer with a token.
    Viewer,
    /// Appointed by the streamer; may moderate viewers.
    Moderator,
    /// The channel's owner; may moderate anyone.
    Streamer,
}

/// The author of a message as every client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// Display name.
    pub name: String,
    /// Role at the time of the message.
    pub role: Role,
}

/// What happened; the `type` of the event frame and its own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A chat message (text already sanitized and HTML-escaped).
    Message {
        /// The author.
        user: UserRef,
        /// The text.
        text: String,
    },
    /// A message was removed.
    Delete {
        /// The removed message's id.
        target: String,
        /// Who removed it.
        by: String,
    },
    /// A user was timed out; clients hide their messages.
    Timeout {
        /// Display name of the target.
        user: String,
        /// Duration in seconds.
        seconds: u64,
        /// Given by the moderator.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who did it.
        by: String,
    },
    /// A user was banned; clients hide their messages.
    Ban {
        /// Display name of the target.
        user: String,
        /// Given by the moderator.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who did it.
        by: String,
    },
    /// A ban was lifted.
    Unban {
        /// Display name of the target.
        user: String,
        /// Who did it.
        by: String,
    },
    /// Slow mode changed (0 is off).
    Slow {
        /// Seconds between a viewer's messages.
        seconds: u64,
        /// Who did it.
        by: String,
    },
    /// Every message was removed from view.
    Clear {
        /// Who did it.
        by: String,
    },
    /// Followers-only mode changed.
    Followers {
        /// Whether only followers (and moderators and the streamer) may post now.
        on: bool,
        /// Who did it.
        by: String,
    },
    /// Whether guests may join and post changed.
    Guests {
        /// Whether guests (no account) may join and post now.
        allowed: bool,
        /// Who did it.
        by: String,
    },
}

impl EventKind {
    /// The `type` spelling, also stored as the event kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Message { .. } => "message",
            EventKind::Delete { .. } => "delete",
            EventKind::Timeout { .. } => "timeout",
            EventKind::Ban { .. } => "ban",
            EventKind::Unban { .. } => "unban",
            EventKind::Slow { .. } => "slow",
            EventKind::Clear { .. } => "clear",
            EventKind::Followers { .. } => "followers",
            EventKind::Guests { .. } => "guests",
        }
    }
}

/// One event of a room's ordered stream, with its JSON text made once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the room's epoch, from 1.
    pub offset: u64,
    /// `EPOCH-OFFSET`: unique across rooms.
    pub id: String,
    /// Wall-clock time the server accepted it, unix ms.
    pub ts_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// The frame every client receives.
    pub json: Bytes,
}

#[derive(Serialize)]
struct WireRef<'a> {
    id: &'a str,
    offset: u64,
    ts: i64,
    #[serde(flatten)]
    kind: &'a EventKind,
}

#[derive(Deserialize)]
struct WireOwned {
    id: String,
    offset: u64,
    ts: i64,
    #[serde(flatten)]
    kind: EventKind,
}

impl Event {
    /// Builds the event and its JSON.
    pub fn new(epoch: &str, offset: u64, ts_ms: i64, kind: EventKind) -> Self {
        let id = format!("{epoch}-{offset}");
        let json = serde_json::to_vec(&WireRef {
            id: &id,
            offset,
            ts: ts_ms,
            kind: &kind,
        })
        .map(Bytes::from)
        .unwrap_or_default();
        Self {
            offset,
            id,
            ts_ms,
            kind,
            json,
        }
    }

    /// Rebuilds an event from its stored JSON (history reloaded after a restart).
    pub fn from_json(json: &str) -> Option<Self> {
        let wire: WireOwned = serde_json::from_str(json).ok()?;
        Some(Self {
            offset: wire.offset,
            id: wire.id,
            ts_ms: wire.ts,
            kind: wire.kind,
            json: Bytes::copy_from_slice(json.as_bytes()),
        })
    }

    /// The author's name when this is a message.
    pub fn author(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Message { user, .. } => Some(&user.name),
            _ => None,
        }
    }
}

/// Joins JSON objects into one JSON array body: `[a,b,c]`.
pub(crate) fn json_array<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a [u8]>) {
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
}

/// `{"type":"batch","events":[...]}` from already serialized events.
pub(crate) fn batch_frame<'a>(events: impl Iterator<Item = &'a [u8]>) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"type":"batch","events":"#);
    json_array(&mut out, events);
    out.push(b'}');
    Bytes::from(out)
}

/// The `error` frame for a refusal.
pub fn error_frame(refusal: &Refusal) -> Bytes {
    #[derive(Serialize)]
    struct ErrorFrame<'a> {
        r#type: &'static str,
        reason: &'static str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    }
    serde_json::to_vec(&ErrorFrame {
        r#type: "error",
        reason: refusal.reason.as_str(),
        message: &refusal.message,
        retry_after_ms: refusal.retry_after_ms,
    })
    .map(Bytes::from)
    .unwrap_or_default()
}

/// The `pong` frame.
pub fn pong_frame() -> Bytes {
    Bytes::from_static(br#"{"type":"pong"}"#)
}

/// The `presence` frame: how many connections watch the room.
pub fn presence_frame(viewers: usize) -> Bytes {
    let mut s = String::with_capacity(40);
    let _ = write!(s, r#"{{"type":"presence","viewers":{viewers}}}"#);
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_json_round_trips() {
        let e = Event::new(
            "9f",
            3,
            1_700_000_000_000,
            EventKind::Message {
                user: UserRef {
                    name: "alice".into(),
                    role: Role::Viewer,
                },
                text: "hi &amp; bye".into(),
            },
        );
        let text = std::str::from_utf8(&e.json).unwrap();
        assert_eq!(
            text,
            r#"{"id":"9f-3","offset":3,"ts":1700000000000,"type":"message","user":{"name":"alice","role":"viewer"},"text":"hi &amp; bye"}"#
        );
        assert_eq!(Event::from_json(text), Some(e));
        let e = Event::new(
            "9f",
            4,
            5,
            EventKind::Followers {
                on: true,
                by: "mod1".into(),
            },
        );
        let text = std::str::from_utf8(&e.json).unwrap();
        assert_eq!(
            text,
            r#"{"id":"9f-4","offset":4,"ts":5,"type":"followers","on":true,"by":"mod1"}"#
        );
        assert_eq!(Event::from_json(text), Some(e));
        let e = Event::new(
            "9f",
            5,
            6,
            EventKind::Guests {
                allowed: false,
                by: "streamer".into(),
            },
        );
        let text = std::str::from_utf8(&e.json).unwrap();
        assert_eq!(
            text,
            r#"{"id":"9f-5","offset":5,"ts":6,"type":"guests","allowed":false,"by":"streamer"}"#
        );
        assert_eq!(Event::from_json(text), Some(e));
        let b = batch_frame([&b"{}"[..], &b"{\"a\":1}"[..]].into_iter());
        assert_eq!(&b[..], br#"{"type":"batch","events":[{},{"a":1}]}"#);
    }
}
