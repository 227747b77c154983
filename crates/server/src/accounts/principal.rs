//! Who a request acts as: the admin token, a user by personal API token (`Authorization:
//! Bearer fc_pat_...`), or a user by session cookie. Cookie-authenticated requests that change
//! state must also pass the CSRF check; Bearer requests carry no ambient credential and need not.

use super::{cookies, csrf_refused, token_hash, unauthenticated};
use super::{CSRF_COOKIE, CSRF_HEADER, MAX_TOKEN_LEN, PAT_PREFIX, SESSION_COOKIE};
use crate::auth;
use crate::clock::unix_ms;
use crate::http::api::bearer;
use crate::http::error::AppError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use ferrocast_db::{ChannelDetails, UserRecord};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Who a request acts as. Listed first among a handler's extractors, so an unauthenticated
/// request is refused before anything else about it is looked at.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The operator's admin token.
    Admin,
    /// A user, by session cookie or personal API token.
    User(UserRecord),
}

impl Principal {
    /// The account, unless this is the admin token.
    pub fn user(&self) -> Option<&UserRecord> {
        match self {
            Principal::Admin => None,
            Principal::User(user) => Some(user),
        }
    }

    /// The admin token and administrator accounts see and manage every channel.
    pub fn sees_all(&self) -> bool {
        self.user().is_none_or(|u| u.admin)
    }

    /// Whether this principal may manage the channel: its owner, an administrator or the admin
    /// token.
    pub fn may_manage(&self, channel: &ChannelDetails) -> bool {
        self.sees_all()
            || channel
                .owner_id
                .is_some_and(|o| Some(o) == self.user().map(|u| u.id))
    }

    /// For logs: `admin` (the token) or the account name.
    pub fn label(&self) -> &str {
        self.user().map_or("admin", |u| u.name.as_str())
    }
}

/// Whether a method only reads (and so needs no CSRF token).
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The double-submit check: both present, non-empty and equal (compared in constant time).
pub fn csrf_matches(cookie: Option<&str>, header: Option<&str>) -> bool {
    match (cookie, header) {
        (Some(c), Some(h)) => {
            !c.is_empty() && auth::secrets_equal(c.as_bytes(), h.trim().as_bytes())
        }
        _ => false,
    }
}

/// The CSRF check of a request: the cookie and the header agree.
pub fn csrf_ok(headers: &HeaderMap) -> bool {
    let header = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    csrf_matches(cookies::get(headers, CSRF_COOKIE), header)
}

/// Refuses a request whose CSRF token is missing or wrong (signup, login, logout).
pub fn require_csrf(headers: &HeaderMap) -> Result<(), AppError> {
    if csrf_ok(headers) {
        Ok(())
    } else {
        Err(csrf_refused())
    }
}

/// The user of a personal API token, if it is one.
async fn api_token_user(state: &AppState, given: &str) -> Result<Option<UserRecord>, AppError> {
    if !given.starts_with(PAT_PREFIX) || given.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    Ok(state
        .db
        .api_token_user(&token_hash(given), unix_ms())
        .await?)
}

/// The user of a session token, if it is a live one.
pub async fn session_user(state: &AppState, token: &str) -> Result<Option<UserRecord>, AppError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    Ok(state.db.session_user(&token_hash(token), unix_ms()).await?)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(given) = bearer(parts) {
            if auth::secrets_equal(given.as_bytes(), state.admin_token.as_bytes()) {
                return Ok(Principal::Admin);
            }
            return match api_token_user(state, given).await? {
                Some(user) => Ok(Principal::User(user)),
                None => Err(unauthenticated()),
            };
        }
        let Some(token) = cookies::get(&parts.headers, SESSION_COOKIE) else {
            return Err(unauthenticated());
        };
        if !is_safe(&parts.method) && !csrf_ok(&parts.headers) {
            return Err(csrf_refused());
        }
        match session_user(state, token).await? {
            Some(user) => Ok(Principal::User(user)),
            None => Err(AppError::bad_request(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the session has ended; sign in again",
            )),
        }
    }
}

/// A signed-in user (by session or API token); the admin token is not an account.
pub struct SignedIn(pub UserRecord);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::User(user) => Ok(SignedIn(user)),
            Principal::Admin => Err(AppError::bad_request(
                StatusCode::FORBIDDEN,
                "account_required",
                "this needs a user account: the admin token is not one",
            )),
        }
    }
}

/// The signed-in user when there is one, for public pages that show more to them; never
/// refuses (a stale cookie reads as signed out).
pub struct MaybeUser(pub Option<UserRecord>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        match Principal::from_request_parts(parts, state).await {
            Ok(Principal::User(user)) => Ok(MaybeUser(Some(user))),
            Ok(Principal::Admin) => Ok(MaybeUser(None)),
            Err(e) => {
                if e.status.is_server_error() {
                    tracing::warn!(error = %e.message, "signed-in user unknown; shown as signed out");
                }
                Ok(MaybeUser(None))
            }
        }
    }
}

/// The client's address (for rate limits and logs).
pub struct PeerIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderValue};

    #[test]
    fn double_submit() {
        assert!(csrf_matches(Some("abc"), Some("abc")));
        assert!(csrf_matches(Some("abc"), Some(" abc ")));
        assert!(!csrf_matches(Some("abc"), Some("abd")));
        assert!(!csrf_matches(Some("abc"), None));
        assert!(!csrf_matches(None, Some("abc")));
        assert!(!csrf_matches(Some(""), Some("")));
        assert!(!csrf_matches(None, None));

        let mut h = HeaderMap::new();
        assert!(!csrf_ok(&h));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("fc_session=s; fc_csrf=t0k"),
        );
        assert!(
            !csrf_ok(&h),
            "the cookie alone proves nothing: browsers send it anywhere"
        );
        h.insert("x-csrf-token", HeaderValue::from_static("t0k"));
        assert!(csrf_ok(&h));
        assert!(require_csrf(&h).is_ok());
        h.insert("x-csrf-token", HeaderValue::from_static("other"));
        let e = require_csrf(&h).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, "csrf"));
        assert!(is_safe(&Method::GET) && !is_safe(&Method::POST) && !is_safe(&Method::DELETE));
    }

    #[test]
    fn who_manages_what() {
        let channel = |owner_id| ChannelDetails {
            channel: ferrocast_db::ChannelRecord {
                id: 1,
                name: "c".into(),
                created_at_ms: 0,
                key_rotated_at_ms: 0,
                ladder: None,
            },
            owner_id,
            owner: None,
            title: String::new(),
        };
        let user = |id, admin| {
            Principal::User(UserRecord {
                id,
                name: format!("u{id}"),
                admin,
                created_at_ms: 0,
            })
        };
        assert!(Principal::Admin.may_manage(&channel(None)));
        assert!(user(1, false).may_manage(&channel(Some(1))));
        assert!(!user(2, false).may_manage(&channel(Some(1))));
        assert!(!user(2, false).may_manage(&channel(None)));
        assert!(user(2, true).may_manage(&channel(Some(1))));
        assert_eq!(user(3, false).label(), "u3");
        assert_eq!(Principal::Admin.label(), "admin");
    }
}
