//! Password hashing: argon2id with the `argon2` crate's defaults (m = 19 MiB, t = 2, p = 1), in
//! PHC string form so the parameters travel with each hash.
//!
//! Each hash takes tens of milliseconds of CPU and 19 MiB of memory, so it runs on the blocking
//! pool (never on the async workers, which serve video) and at most [`max_concurrent`] at once:
//! without a bound, a burst of sign-ins could ask for gigabytes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a sign-in waits for a hashing slot before the server says it is busy.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot stayed taken for [`QUEUE_WAIT`].
    #[error("too many sign-ins at once")]
    Busy,
    /// The hasher failed (it does not for valid parameters).
    #[error("hashing: {0}")]
    Hash(String),
    /// The blocking task died.
    #[error("hashing task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes running at once: the cores, at least 2.
fn max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(max_concurrent()));

/// A PHC string of the password with a fresh random salt (blocking).
pub fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (blocking). A hash that does not parse
/// matches nothing.
pub fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "stored password hash does not parse");
            false
        }
    }
}

/// A hash no password is checked against in earnest: an unknown name costs the same time as a
/// wrong password, so timing does not tell which names exist.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("not a password: only timing matters")
            .unwrap_or_else(|_| "$argon2id$v=19$m=19456,t=2,p=1$invalid".to_owned())
    })
}

async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let _slot = tokio::time::timeout(QUEUE_WAIT, SLOTS.acquire())
        .await
        .map_err(|_| PasswordError::Busy)?
        .map_err(|_| PasswordError::Busy)?;
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// Hashes a new password off the async runtime.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    run(move || hash_blocking(&password)).await?
}

/// Checks a password against the stored hash, or against a dummy when the account does not
/// exist (always false then, after the same work).
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    run(move || match stored {
        Some(hash) => verify_blocking(&password, &hash),
        None => {
            verify_blocking(&password, dummy_hash());
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse".into()).await.unwrap();
        let b = hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "fresh salt each time");
        assert!(verify("correct horse".into(), Some(a.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse".into(), Some(a)).await.unwrap());
        assert!(!verify("correct horse".into(), None).await.unwrap());
        assert!(!verify_blocking("x", "not a phc string"));
    }
}
