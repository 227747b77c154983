//! Accounts: users with argon2id passwords, browser sessions (cookie `fc_session`, CSRF by
//! double submit), personal API tokens, the login rate limit, and who a request acts as.
//!
//! docs/WEB.md ("Accounts and credentials") is the contract. Session and API tokens are random
//! (190 bits) and stored as their SHA-256 like stream keys; only passwords need a slow hash.

pub mod cli;
pub mod cookies;
pub mod limiter;
pub mod password;
pub mod principal;

pub use principal::{MaybeUser, PeerIp, Principal, SignedIn};

use crate::http::error::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrocast_db::UserRecord;
use rand::distr::{Alphanumeric, SampleString};
use std::sync::LazyLock;
use std::time::Duration;

/// The session cookie.
pub const SESSION_COOKIE: &str = "fc_session";
/// The CSRF cookie; its value must come back in [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "fc_csrf";
/// The CSRF request header.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts (not extended by use: signing in again starts a new one).
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// What every personal API token starts with, so a Bearer credential's kind shows at a glance.
pub const PAT_PREFIX: &str = "fc_pat_";
/// Random characters of session, CSRF and API tokens (62^32 ≈ 2^190).
const TOKEN_RANDOM_CHARS: usize = 32;
/// Longest credential looked up; anything longer is refused before hashing.
pub const MAX_TOKEN_LEN: usize = 128;

/// Shortest and longest account name.
const NAME_CHARS: std::ops::RangeInclusive<usize> = 3..=25;
/// Shortest and longest password, in characters.
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
/// Account names that chat reserves (docs/CHAT.md): an account so named would pass for staff
/// in every room.
const RESERVED_NAMES: &[&str] = &[
    "admin",
    "mod",
    "moderator",
    "streamer",
    "system",
    "ferrocast",
];

/// Logins, by result (`ok`, `failed`, `rate_limited`).
pub const LOGINS: &str = "ferrocast_logins_total";
/// Accounts created through signup.
pub const SIGNUPS: &str = "ferrocast_signups_total";

/// The process's login rate limiter (docs/WEB.md: 5 failures per name and 20 per address per
/// 15 minutes). Process-wide like the server it guards: one server runs per process.
pub static LOGIN_LIMITER: LazyLock<limiter::LoginLimiter> =
    LazyLock::new(limiter::LoginLimiter::default);

/// Checks an account name: 3 to 25 of `a-z 0-9 _`, starting with a letter, not reserved.
pub fn validate_user_name(name: &str) -> Result<(), AppError> {
    let ok = NAME_CHARS.contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            "account names are 3 to 25 characters of a-z, 0-9 and '_', starting with a letter",
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            format!("the name {name:?} is reserved"),
        ));
    }
    Ok(())
}

/// Checks a new password's length (8 to 128 characters).
pub fn validate_password(password: &str) -> Result<(), AppError> {
    if PASSWORD_CHARS.contains(&password.chars().count()) {
        return Ok(());
    }
    Err(AppError::bad_request(
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
        "passwords are 8 to 128 characters",
    ))
}

/// Names as typed: account names are lower-case, so `Alice` signs in as `alice`.
pub fn normalize_name(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// A fresh random token with `prefix`.
pub fn new_token(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), TOKEN_RANDOM_CHARS)
    )
}

/// The stored form of a session or API token.
pub fn token_hash(token: &str) -> [u8; 32] {
    crate::auth::hash_key(token)
}

/// A user as the API shows it.
pub fn user_json(user: &UserRecord) -> serde_json::Value {
    serde_json::json!({ "id": user.id, "name": user.name, "admin": user.admin })
}

/// 429 `{"error":"rate_limited","message":...,"retry_after_ms":N}` with `Retry-After`.
pub fn rate_limited(retry_after_ms: u64) -> Response {
    let body = serde_json::json!({
        "error": "rate_limited",
        "message": "too many failed sign-ins; try again later",
        "retry_after_ms": retry_after_ms,
    });
    let mut res = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    let secs = retry_after_ms.div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A 401 for a request with no (valid) credential.
pub fn unauthenticated() -> AppError {
    AppError::bad_request(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "sign in, or send Authorization: Bearer with the admin token or an API token",
    )
}

/// A 403 for a missing or mismatched CSRF token.
pub fn csrf_refused() -> AppError {
    AppError::bad_request(
        StatusCode::FORBIDDEN,
        "csrf",
        "missing or wrong X-CSRF-Token (GET /api/v1/session returns it)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names() {
        for ok in ["abc", "alice_99", "a23456789012345678901234x"] {
            assert!(validate_user_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "9lives",
            "_x_",
            "Alice",
            "al ice",
            "alïce",
            "a234567890123456789012345x",
            "admin",
            "ferrocast",
        ] {
            let e = validate_user_name(bad).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (422, "invalid_name"), "{bad}");
        }
        assert_eq!(normalize_name("  Alice "), "alice");
    }

    #[test]
    fn passwords() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"é".repeat(128)).is_ok());
        for bad in ["1234567".to_owned(), "x".repeat(129)] {
            assert_eq!(validate_password(&bad).unwrap_err().code, "weak_password");
        }
    }

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = new_token(PAT_PREFIX);
        let b = new_token(PAT_PREFIX);
        assert!(a.starts_with("fc_pat_") && a.len() == 7 + 32);
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
