//! Secrets: the admin token and stream keys.
//!
//! Stream keys are 190 random bits, so a plain SHA-256 is a sufficient stored form (a slow KDF
//! only helps low-entropy passwords). Lookups go by the hash; the match is then confirmed with a
//! constant-time comparison so no timing reveals how much of a guess was right.

use anyhow::Context;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// Random characters in a stream key after its `sk_` prefix (62^32 ≈ 2^190).
const KEY_RANDOM_CHARS: usize = 32;
/// Longest stream key we look up; anything longer is refused before hashing.
pub const MAX_STREAM_KEY_LEN: usize = 128;

/// A fresh stream key.
pub fn new_stream_key() -> String {
    format!(
        "sk_{}",
        Alphanumeric.sample_string(&mut rand::rng(), KEY_RANDOM_CHARS)
    )
}

/// The stored form of a stream key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Constant-time equality of two secrets' bytes.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Where the admin token lives and what it is.
#[derive(Debug, Clone)]
pub struct AdminToken {
    /// The token.
    pub token: String,
    /// The file it was read from or written to, if any.
    pub path: Option<PathBuf>,
}

/// The admin token: `FERROCAST_ADMIN_TOKEN` if set, else `DATA_DIR/admin-token`, created (0600)
/// with a random value on first start.
pub fn load_or_create_admin_token(data_dir: &Path) -> anyhow::Result<AdminToken> {
    if let Ok(token) = std::env::var("FERROCAST_ADMIN_TOKEN") {
        let token = token.trim().to_owned();
        anyhow::ensure!(
            token.len() >= 16,
            "FERROCAST_ADMIN_TOKEN must be at least 16 characters"
        );
        return Ok(AdminToken { token, path: None });
    }
    let path = data_dir.join("admin-token");
    let token = load_or_create_secret(&path)?;
    Ok(AdminToken {
        token,
        path: Some(path),
    })
}

/// A random 40-character secret kept in `path` (0600), created on first use.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(secret) => {
            let secret = secret.trim().to_owned();
            anyhow::ensure!(!secret.is_empty(), "{} is empty", path.display());
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = Alphanumeric.sample_string(&mut rand::rng(), 40);
            write_private(path, &secret).with_context(|| format!("writing {}", path.display()))?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Reads the token the way a CLI on the same machine does (env, else the file).
pub fn read_admin_token(data_dir: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("FERROCAST_ADMIN_TOKEN") {
        return Ok(token.trim().to_owned());
    }
    let path = data_dir.join("admin-token");
    let token = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading admin token {} (is the server started with this --data-dir?)",
            path.display()
        )
    })?;
    Ok(token.trim().to_owned())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")
}

/// Hex HMAC-SHA256 of `payload` under `secret`: the MAC of every stateless token we issue.
pub fn hmac_hex(secret: &[u8], payload: &str) -> String {
    use hmac::{Hmac, Mac};
    use std::fmt::Write as _;
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    let mut out = String::with_capacity(64);
    for b in mac.finalize().into_bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_long_random_and_distinct() {
        let a = new_stream_key();
        let b = new_stream_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + KEY_RANDOM_CHARS);
        assert!(a.starts_with("sk_"));
        assert_ne!(hash_key(&a), hash_key(&b));
    }

    #[test]
    fn admin_token_file_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("ferrocast-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t1 = load_or_create_admin_token(&dir).unwrap();
        let mode = std::fs::metadata(dir.join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let t2 = load_or_create_admin_token(&dir).unwrap();
        assert_eq!(t1.token, t2.token);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn constant_time_compare_is_equality() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
