//! Chat tokens: issued by the API, presented in the first WebSocket message (never in a URL).
//!
//! `v1.CHANNEL.NAME.ROLE.EXPIRY.MAC`: channel and name are URL-safe by validation, EXPIRY is unix
//! seconds, MAC is hex HMAC-SHA256 over everything before it with the server's chat secret
//! (`DATA_DIR/chat-secret`, 0600). Stateless: nothing to store, and rotating the secret revokes
//! every token at once.

use ferrocast_chat::{Reason, Refusal, Role};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write as _;

/// Longest token accepted.
pub const MAX_TOKEN_LEN: usize = 256;

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Moderator => "moderator",
        Role::Streamer => "streamer",
    }
}

fn mac_hex(secret: &[u8], payload: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    let mut out = String::with_capacity(64);
    for b in mac.finalize().into_bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Issues a token for `name` with `role` in `channel`, valid until `expires_unix`.
pub fn issue(secret: &[u8], channel: &str, name: &str, role: Role, expires_unix: u64) -> String {
    let payload = format!("v1.{channel}.{name}.{}.{expires_unix}", role_str(role));
    let mac = mac_hex(secret, &payload);
    format!("{payload}.{mac}")
}

/// Checks a token for `channel` at `now_unix`; returns the name and role it proves.
pub fn verify(
    secret: &[u8],
    channel: &str,
    token: &str,
    now_unix: u64,
) -> Result<(String, Role), Refusal> {
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
    let expected = mac_hex(secret, payload);
    if !crate::auth::secrets_equal(expected.as_bytes(), mac.as_bytes()) {
        return Err(bad());
    }
    let parts: Vec<&str> = payload.split('.').collect();
    let [version, for_channel, name, role, expires] = parts[..] else {
        return Err(bad());
    };
    let role = match role {
        "viewer" => Role::Viewer,
        "moderator" => Role::Moderator,
        "streamer" => Role::Streamer,
        _ => return Err(bad()),
    };
    let expires: u64 = expires.parse().map_err(|_| bad())?;
    if version != "v1" || for_channel != channel || expires <= now_unix {
        return Err(bad());
    }
    Ok((name.to_owned(), role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_unaltered_unexpired_and_in_their_room() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let t = issue(secret, "room", "alice", Role::Moderator, 100);
        assert_eq!(
            verify(secret, "room", &t, 99),
            Ok(("alice".to_owned(), Role::Moderator))
        );
        assert!(verify(secret, "room", &t, 100).is_err());
        assert!(verify(secret, "other", &t, 10).is_err());
        assert!(verify(b"another secret", "room", &t, 10).is_err());
        let forged = t.replace("moderator", "streamer");
        assert!(verify(secret, "room", &forged, 10).is_err());
        assert!(verify(secret, "room", "garbage", 10).is_err());
        assert!(verify(secret, "room", &"x".repeat(10_000), 10).is_err());
    }
}
