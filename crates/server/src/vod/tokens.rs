//! Signed, expiring tokens for uploads and private playback.
//!
//! `u1.VIDEO.EXPIRY.MAC` lets one upload reach one video; `p1.VIDEO.EXPIRY.MAC` lets a player
//! read a private video's playlists, segments and files. EXPIRY is unix seconds, MAC is hex
//! HMAC-SHA256 over everything before it with the server's VOD secret (`DATA_DIR/vod-secret`,
//! 0600): stateless, and rotating the secret revokes every token at once. A playback token
//! covers the whole video, so the playlists can hand the same one to every URI they list.

use crate::auth::hmac_hex;

/// Longest token accepted.
const MAX_TOKEN_LEN: usize = 160;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// One upload of the video's source.
    Upload,
    /// Reading a private video.
    Playback,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Purpose::Upload => "u1",
            Purpose::Playback => "p1",
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of ours, or signed with another secret, or for another video.
    Invalid,
    /// Valid but past its expiry.
    Expired,
}

/// A token for `purpose` on `video`, valid until `expires_unix`.
pub fn issue(secret: &[u8], purpose: Purpose, video: &str, expires_unix: i64) -> String {
    let payload = format!("{}.{video}.{expires_unix}", purpose.tag());
    let mac = hmac_hex(secret, &payload);
    format!("{payload}.{mac}")
}

/// The video a token grants `purpose` on, if it is valid at `now_unix`.
pub fn verify(
    secret: &[u8],
    purpose: Purpose,
    token: &str,
    now_unix: i64,
) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Invalid);
    }
    let (payload, mac) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
    if !crate::auth::secrets_equal(hmac_hex(secret, payload).as_bytes(), mac.as_bytes()) {
        return Err(TokenError::Invalid);
    }
    let mut it = payload.split('.');
    let (Some(tag), Some(video), Some(exp), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(TokenError::Invalid);
    };
    if tag != purpose.tag() {
        return Err(TokenError::Invalid);
    }
    let exp: i64 = exp.parse().map_err(|_| TokenError::Invalid)?;
    if now_unix > exp {
        return Err(TokenError::Expired);
    }
    Ok(video.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_purpose_and_time() {
        let s = b"secret";
        let t = issue(s, Purpose::Playback, "v0123456789abcdef", 1000);
        assert_eq!(
            verify(s, Purpose::Playback, &t, 999).unwrap(),
            "v0123456789abcdef"
        );
        assert_eq!(
            verify(s, Purpose::Playback, &t, 1001),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(s, Purpose::Upload, &t, 999),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(b"other", Purpose::Playback, &t, 999),
            Err(TokenError::Invalid)
        );
        let forged = t.replace("v0123456789abcdef", "v0000000000000000");
        assert_eq!(
            verify(s, Purpose::Playback, &forged, 999),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(s, Purpose::Playback, "", 0),
            Err(TokenError::Invalid)
        );
    }
}
