//! Client frames: the pure decoder and the refusal reasons.

use serde::{Deserialize, Serialize};

/// Largest client frame (bytes) the decoder looks at; larger ones are refused as `too_long`.
pub const MAX_CLIENT_FRAME: usize = 4096;
/// Longest message text, in characters (before HTML escaping).
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest moderation reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// Longest timeout, seconds (two weeks, as on Twitch).
pub const MAX_TIMEOUT_SECS: u64 = 14 * 24 * 3600;
/// Longest slow-mode interval, seconds.
pub const MAX_SLOW_SECS: u64 = 3600;

/// Why a command was refused; the `reason` field of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The user's message bucket is empty, or the connection sends commands too fast.
    RateLimited,
    /// Slow mode: the user's previous message is too recent.
    SlowMode,
    /// The user (or their address) is banned from the room.
    Banned,
    /// The user is timed out.
    TimedOut,
    /// The text or the frame is too long.
    TooLong,
    /// The same text as the user's previous message, too soon.
    Duplicate,
    /// Nothing left to send after sanitizing.
    Empty,
    /// Not JSON, not an object, a missing or mistyped field.
    BadRequest,
    /// A `type` this protocol version does not know.
    UnknownType,
    /// A command other than `join` (or `ping`) before joining.
    NotJoined,
    /// A second `join` on the same connection.
    AlreadyJoined,
    /// A display name that breaks the naming rules.
    InvalidName,
    /// The name is in use by someone else in the room.
    NameTaken,
    /// The name belongs to the streamer or a moderator.
    NameReserved,
    /// The token is malformed, forged, expired or for another room.
    BadToken,
    /// The command needs the moderator or streamer role, or targets someone it may not.
    Forbidden,
    /// The target message or user is unknown to the room.
    NotFound,
    /// Followers-only mode: only followers of the channel (and its moderators and streamer) may
    /// post.
    FollowersOnly,
    /// The room does not let guests (no account) join or post.
    GuestsNotAllowed,
}

impl Reason {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::RateLimited => "rate_limited",
            Reason::SlowMode => "slow_mode",
            Reason::Banned => "banned",
            Reason::TimedOut => "timed_out",
            Reason::TooLong => "too_long",
            Reason::Duplicate => "duplicate",
            Reason::Empty => "empty",
            Reason::BadRequest => "bad_request",
            Reason::UnknownType => "unknown_type",
            Reason::NotJoined => "not_joined",
            Reason::AlreadyJoined => "already_joined",
            Reason::InvalidName => "invalid_name",
            Reason::NameTaken => "name_taken",
            Reason::NameReserved => "name_reserved",
            Reason::BadToken => "bad_token",
            Reason::Forbidden => "forbidden",
            Reason::NotFound => "not_found",
            Reason::FollowersOnly => "followers_only",
            Reason::GuestsNotAllowed => "guests_not_allowed",
        }
    }
}

/// A refused command: the reason, a human message and, when known, when to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.as_str())]
pub struct Refusal {
    /// Machine-readable reason.
    pub reason: Reason,
    /// For people.
    pub message: String,
    /// Milliseconds until the same command could succeed (rate limits, slow mode, timeouts).
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    /// A refusal without a retry hint.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A refusal that may succeed after `ms`.
    pub fn retry_after(reason: Reason, message: impl Into<String>, ms: u64) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after_ms: Some(ms),
        }
    }
}

/// A moderation action, from the socket or the REST API (same JSON shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModAction {
    /// Remove one message from everyone's view.
    Delete {
        /// The message's `id`.
        id: String,
    },
    /// Keep a user from talking for `seconds`; their visible messages are removed.
    Timeout {
        /// Display name of the target.
        user: String,
        /// Duration.
        seconds: u64,
        /// Shown to the room.
        reason: Option<String>,
    },
    /// Keep a user (and their address) from talking until unbanned.
    Ban {
        /// Display name of the target.
        user: String,
        /// Shown to the room.
        reason: Option<String>,
    },
    /// Lift a ban.
    Unban {
        /// Display name of the target.
        user: String,
    },
    /// Slow mode: at most one message per `seconds` per viewer (0 turns it off).
    Slow {
        /// Interval; 0 is off.
        seconds: u64,
    },
    /// Remove every message from view.
    Clear,
    /// Followers-only mode: only followers (and moderators and the streamer) may post.
    Followers {
        /// On or off.
        on: bool,
    },
    /// Whether guests (no account) may join and post.
    Guests {
        /// Allowed or not.
        allowed: bool,
    },
}

/// A decoded client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// Enter the room as a guest (`name`) or with an API-issued `token`, optionally recovering.
    Join {
        /// Guest display name.
        name: Option<String>,
        /// A token issued by the API (streamer, moderator or named viewer).
        token: Option<String>,
        /// Recover from this point: the epoch and the last offset the client saw.
        since: Option<(String, u64)>,
    },
    /// Post a message.
    Send {
        /// The raw text (sanitized by the room).
        text: String,
    },
    /// Application-level heartbeat; answered with `pong`.
    Ping,
    /// A moderation action.
    Moderate(ModAction),
}

/// Every field any command may carry; `type` picks which ones matter.
#[derive(Deserialize)]
struct RawCommand<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    name: Option<String>,
    token: Option<String>,
    since: Option<u64>,
    epoch: Option<String>,
    text: Option<String>,
    id: Option<String>,
    user: Option<String>,
    seconds: Option<u64>,
    reason: Option<String>,
    on: Option<bool>,
    allowed: Option<bool>,
}

fn missing(field: &str, kind: &str) -> Refusal {
    Refusal::new(
        Reason::BadRequest,
        format!("`{kind}` needs the field `{field}`"),
    )
}

/// Decodes one client text frame. Never panics; every failure is a [`Refusal`].
pub fn decode(frame: &str) -> Result<ClientCommand, Refusal> {
    if frame.len() > MAX_CLIENT_FRAME {
        return Err(Refusal::new(
            Reason::TooLong,
            format!("frames are at most {MAX_CLIENT_FRAME} bytes"),
        ));
    }
    let raw: RawCommand<'_> = serde_json::from_str(frame).map_err(|e| {
        Refusal::new(
            Reason::BadRequest,
            format!("expected one JSON object with a `type`: {e}"),
        )
    })?;
    let Some(kind) = raw.kind.as_deref() else {
        return Err(Refusal::new(Reason::BadRequest, "missing `type`"));
    };
    let command = match kind {
        "join" => {
            let since = match (raw.epoch, raw.since) {
                (Some(epoch), Some(offset)) => Some((epoch, offset)),
                (None, None) => None,
                _ => {
                    return Err(Refusal::new(
                        Reason::BadRequest,
                        "recovery needs both `epoch` and `since`",
                    ))
                }
            };
            if raw.name.is_none() && raw.token.is_none() {
                return Err(Refusal::new(
                    Reason::BadRequest,
                    "`join` needs a `name` (guest) or a `token`",
                ));
            }
            ClientCommand::Join {
                name: raw.name,
                token: raw.token,
                since,
            }
        }
        "send" => ClientCommand::Send {
            text: raw.text.ok_or_else(|| missing("text", kind))?,
        },
        "ping" => ClientCommand::Ping,
        "delete" => ClientCommand::Moderate(ModAction::Delete {
            id: raw.id.ok_or_else(|| missing("id", kind))?,
        }),
        "timeout" => ClientCommand::Moderate(ModAction::Timeout {
            user: raw.user.ok_or_else(|| missing("user", kind))?,
            seconds: raw.seconds.ok_or_else(|| missing("seconds", kind))?,
            reason: raw.reason,
        }),
        "ban" => ClientCommand::Moderate(ModAction::Ban {
            user: raw.user.ok_or_else(|| missing("user", kind))?,
            reason: raw.reason,
        }),
        "unban" => ClientCommand::Moderate(ModAction::Unban {
            user: raw.user.ok_or_else(|| missing("user", kind))?,
        }),
        "slow" => ClientCommand::Moderate(ModAction::Slow {
            seconds: raw.seconds.ok_or_else(|| missing("seconds", kind))?,
        }),
        "clear" => ClientCommand::Moderate(ModAction::Clear),
        "followers" => ClientCommand::Moderate(ModAction::Followers {
            on: raw.on.ok_or_else(|| missing("on", kind))?,
        }),
        "guests" => ClientCommand::Moderate(ModAction::Guests {
            allowed: raw.allowed.ok_or_else(|| missing("allowed", kind))?,
        }),
        other => {
            let shown: String = other.chars().take(32).collect();
            return Err(Refusal::new(
                Reason::UnknownType,
                format!("unknown command type {shown:?}"),
            ));
        }
    };
    Ok(command)
}

/// Decodes a moderation action alone (the REST API's body); other commands are refused.
pub fn decode_action(body: &str) -> Result<ModAction, Refusal> {
    match decode(body)? {
        ClientCommand::Moderate(action) => Ok(action),
        _ => Err(Refusal::new(
            Reason::UnknownType,
            "expected a moderation action: delete, timeout, ban, unban, slow, clear, followers or \
             guests",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_each_command() {
        assert_eq!(
            decode(r#"{"type":"join","name":"alice","epoch":"ab","since":7}"#),
            Ok(ClientCommand::Join {
                name: Some("alice".into()),
                token: None,
                since: Some(("ab".into(), 7))
            })
        );
        assert_eq!(
            decode(r#"{"type":"send","text":"hi"}"#),
            Ok(ClientCommand::Send { text: "hi".into() })
        );
        assert_eq!(
            decode(r#"{"type":"timeout","user":"bob","seconds":60}"#),
            Ok(ClientCommand::Moderate(ModAction::Timeout {
                user: "bob".into(),
                seconds: 60,
                reason: None
            }))
        );
        assert_eq!(
            decode(r#"{"type":"clear"}"#),
            Ok(ClientCommand::Moderate(ModAction::Clear))
        );
        assert_eq!(
            decode(r#"{"type":"followers","on":true}"#),
            Ok(ClientCommand::Moderate(ModAction::Followers { on: true }))
        );
        assert_eq!(
            decode_action(r#"{"type":"guests","allowed":false}"#),
            Ok(ModAction::Guests { allowed: false })
        );
    }

    #[test]
    fn refusals_name_their_reason() {
        let reason = |s: &str| decode(s).unwrap_err().reason;
        assert_eq!(reason("not json"), Reason::BadRequest);
        assert_eq!(reason(r#"{"type":"send""#), Reason::BadRequest);
        assert_eq!(reason(r#"[1,2]"#), Reason::BadRequest);
        assert_eq!(reason(r#"{"text":"x"}"#), Reason::BadRequest);
        assert_eq!(reason(r#"{"type":"send"}"#), Reason::BadRequest);
        assert_eq!(reason(r#"{"type":"send","text":5}"#), Reason::BadRequest);
        assert_eq!(reason(r#"{"type":"dance"}"#), Reason::UnknownType);
        assert_eq!(reason(r#"{"type":"join"}"#), Reason::BadRequest);
        assert_eq!(
            reason(r#"{"type":"join","name":"a","since":3}"#),
            Reason::BadRequest
        );
        let huge = format!(r#"{{"type":"join","name":"{}"}}"#, "x".repeat(1_000_000));
        assert_eq!(reason(&huge), Reason::TooLong);
        assert!(decode_action(r#"{"type":"send","text":"x"}"#).is_err());
        assert_eq!(reason(r#"{"type":"followers"}"#), Reason::BadRequest);
        assert_eq!(
            reason(r#"{"type":"followers","on":"yes"}"#),
            Reason::BadRequest
        );
        assert_eq!(reason(r#"{"type":"guests","on":true}"#), Reason::BadRequest);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = decode(&s);
        }

        #[test]
        fn never_panics_on_json_like(kind in "[a-z]{0,8}", field in "[a-z]{0,8}", v in ".{0,20}") {
            let _ = decode(&format!(r#"{{"type":"{kind}","{field}":"{v}"}}"#));
            let _ = decode(&format!(r#"{{"type":"{kind}","{field}":{v}}}"#));
        }
    }
}
