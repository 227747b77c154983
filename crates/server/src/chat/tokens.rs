//! Chat tokens: issued by the API, presented in the first WebSocket message (never in a URL).
//!
//! `v2.CHANNEL.NAME.ROLE.FLAGS.EXPIRY.MAC`: channel and name are URL-safe by validation, FLAGS is
//! one lower-case letter per flag (`f`: the account followed the channel when the token was
//! issued) or `-` for none, EXPIRY is unix seconds, MAC is hex HMAC-SHA256 over everything before
//! it with the server's chat secret (`DATA_DIR/chat-secret`, 0600). Stateless: nothing to store,
//! and rotating the secret revokes every token at once.
//!
//! Tokens issued before flags existed, `v1.CHANNEL.NAME.ROLE.EXPIRY.MAC`, still verify until they
//! expire (as tokens without flags). Unknown flag letters are ignored, so a later flag does not
//! break a token for a server that does not know it.

use ferrocast_chat::{Reason, Refusal, Role};

/// Longest token accepted.
pub const MAX_TOKEN_LEN: usize = 256;

/// The `follower` flag's letter.
const FOLLOWER: char = 'f';

/// What a valid token proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Display name.
    pub name: String,
    /// Role in the room.
    pub role: Role,
    /// Whether the account followed the channel when the token was issued.
    pub follower: bool,
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Moderator => "moderator",
        Role::Streamer => "streamer",
    }
}

/// Issues a token for `name` with `role` in `channel`, valid until `expires_unix`; `follower`
/// says the account follows the channel.
pub fn issue(
    secret: &[u8],
    channel: &str,
    name: &str,
    role: Role,
    follower: bool,
    expires_unix: u64,
) -> String {
    let flags = if follower { "f" } else { "-" };
    let payload = format!(
        "v2.{channel}.{name}.{}.{flags}.{expires_unix}",
        role_str(role)
    );
    let mac = crate::auth::hmac_hex(secret, &payload);
    format!("{payload}.{mac}")
}

/// Checks a token (`v2`, or `v1` from before flags) for `channel` at `now_unix`; returns what it
/// proves.
pub fn verify(secret: &[u8], channel: &str, token: &str, now_unix: u64) -> Result<Claims, Refusal> {
    let bad = || {
        Refusal::new(
            Reason::BadToken,
            "the token is invalid, expired or for another room",
        )
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad());
    }
    let (payload, mac) = token.rsplit_once('.').ok_or_else(bad)?;
    let expected = crate::auth::hmac_hex(secret, payload);
    if !crate::auth::secrets_equal(expected.as_bytes(), mac.as_bytes()) {
        return Err(bad());
    }
    let parts: Vec<&str> = payload.split('.').collect();
    let (for_channel, name, role, flags, expires) = match parts[..] {
        ["v2", for_channel, name, role, flags, expires] => {
            (for_channel, name, role, flags, expires)
        }
        ["v1", for_channel, name, role, expires] => (for_channel, name, role, "-", expires),
        _ => return Err(bad()),
    };
    let role = match role {
        "viewer" => Role::Viewer,
        "moderator" => Role::Moderator,
        "streamer" => Role::Streamer,
        _ => return Err(bad()),
    };
    let expires: u64 = expires.parse().map_err(|_| bad())?;
    if for_channel != channel || expires <= now_unix {
        return Err(bad());
    }
    Ok(Claims {
        name: name.to_owned(),
        role,
        follower: flags.contains(FOLLOWER),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(name: &str, role: Role, follower: bool) -> Claims {
        Claims {
            name: name.to_owned(),
            role,
            follower,
        }
    }

    #[test]
    fn tokens_verify_only_unaltered_unexpired_and_in_their_room() {
        let t = issue(SECRET, "room", "alice", Role::Moderator, false, 100);
        assert!(t.starts_with("v2.room.alice.moderator.-.100."), "{t}");
        assert_eq!(
            verify(SECRET, "room", &t, 99),
            Ok(claims("alice", Role::Moderator, false))
        );
        assert!(verify(SECRET, "room", &t, 100).is_err());
        assert!(verify(SECRET, "other", &t, 10).is_err());
        assert!(verify(b"another secret", "room", &t, 10).is_err());
        let forged = t.replace("moderator", "streamer");
        assert!(verify(SECRET, "room", &forged, 10).is_err());
        assert!(verify(SECRET, "room", "garbage", 10).is_err());
        assert!(verify(SECRET, "room", &"x".repeat(10_000), 10).is_err());
    }

    #[test]
    fn the_follower_flag_is_signed() {
        let t = issue(SECRET, "room", "bob", Role::Viewer, true, 100);
        assert!(t.starts_with("v2.room.bob.viewer.f.100."), "{t}");
        assert_eq!(
            verify(SECRET, "room", &t, 10),
            Ok(claims("bob", Role::Viewer, true))
        );
        // Claiming to follow without the server's say-so breaks the MAC.
        let plain = issue(SECRET, "room", "bob", Role::Viewer, false, 100);
        let forged = plain.replace(".viewer.-.", ".viewer.f.");
        assert_ne!(forged, plain);
        assert!(verify(SECRET, "room", &forged, 10).is_err());
    }

    #[test]
    fn v1_tokens_still_verify_without_flags() {
        // Made the way the v1 issuer made them.
        let payload = "v1.room.carol.viewer.100";
        let t = format!("{payload}.{}", crate::auth::hmac_hex(SECRET, payload));
        assert_eq!(
            verify(SECRET, "room", &t, 10),
            Ok(claims("carol", Role::Viewer, false))
        );
        assert!(verify(SECRET, "room", &t, 100).is_err());
        // A v1 payload with a flags field (or a v2 one without) is not a token.
        for payload in ["v1.room.carol.viewer.f.100", "v2.room.carol.viewer.100"] {
            let t = format!("{payload}.{}", crate::auth::hmac_hex(SECRET, payload));
            assert!(verify(SECRET, "room", &t, 10).is_err(), "{payload}");
        }
        // Unknown flags are ignored.
        let payload = "v2.room.carol.viewer.xf.100";
        let t = format!("{payload}.{}", crate::auth::hmac_hex(SECRET, payload));
        assert_eq!(
            verify(SECRET, "room", &t, 10),
            Ok(claims("carol", Role::Viewer, true))
        );
    }
}
