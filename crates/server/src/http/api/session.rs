//! The accounts API: `GET /api/v1/session`, `POST /api/v1/auth/{signup,login,logout}` and
//! personal API tokens (`/api/v1/tokens`). docs/WEB.md ("Session") is the contract.

use crate::accounts::cookies::{self, SameSite};
use crate::accounts::principal::{require_csrf, session_user};
use crate::accounts::{self, password, PeerIp, SignedIn, LOGIN_LIMITER};
use crate::accounts::{CSRF_COOKIE, MAX_TOKEN_LEN, PAT_PREFIX, SESSION_COOKIE, SESSION_TTL};
use crate::clock::{rfc3339, unix_ms};
use crate::http::error::AppError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use ferrocast_db::{DbError, UserRecord};
use serde::Deserialize;
use serde_json::json;

/// API tokens one account may hold.
const MAX_API_TOKENS: usize = 50;
/// Longest API token name, in characters.
const MAX_TOKEN_NAME_CHARS: usize = 64;

/// The session and token routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", get(session))
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    name: String,
    password: String,
}

// By hand, so the password can never reach a log through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    body.map(|Json(b)| b)
        .map_err(|e| AppError::bad_request(StatusCode::BAD_REQUEST, "invalid_body", e.body_text()))
}

/// Responses about the caller's session must not be stored by anything in between.
fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn session_cookie(value: &str, headers: &HeaderMap) -> HeaderValue {
    cookies::set(
        SESSION_COOKIE,
        value,
        Some(SESSION_TTL),
        SameSite::Lax,
        cookies::is_https(headers),
    )
}

fn clear_session_cookie(headers: &HeaderMap) -> HeaderValue {
    cookies::set(
        SESSION_COOKIE,
        "",
        None,
        SameSite::Lax,
        cookies::is_https(headers),
    )
}

/// A CSRF cookie value as we issue them (anything else is replaced).
fn plausible_csrf(v: &str) -> bool {
    (16..=MAX_TOKEN_LEN).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Starts a session for `user`: stores it and returns the `Set-Cookie` value. A session the
/// browser still held ends: the cookie is about to be replaced, and nothing else would end it.
async fn start_session(
    state: &AppState,
    user: &UserRecord,
    headers: &HeaderMap,
) -> Result<HeaderValue, AppError> {
    if let Some(old) = cookies::get(headers, SESSION_COOKIE).filter(|t| t.len() <= MAX_TOKEN_LEN) {
        state.db.delete_session(&accounts::token_hash(old)).await?;
    }
    let token = accounts::new_token("");
    let now = unix_ms();
    let ttl_ms = i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
    state
        .db
        .create_session(&accounts::token_hash(&token), user.id, now, now + ttl_ms)
        .await?;
    Ok(session_cookie(&token, headers))
}

fn hashing_error(e: password::PasswordError) -> AppError {
    match e {
        password::PasswordError::Busy => AppError::bad_request(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many sign-ins at once; try again in a moment",
        ),
        e => AppError::internal(e),
    }
}

/// `GET /api/v1/session`: who is signed in, and the CSRF token (set as a cookie if missing).
async fn session(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let mut set_cookies = Vec::new();
    let csrf = match cookies::get(&headers, CSRF_COOKIE).filter(|v| plausible_csrf(v)) {
        Some(v) => v.to_owned(),
        None => {
            let fresh = accounts::new_token("");
            set_cookies.push(cookies::set(
                CSRF_COOKIE,
                &fresh,
                Some(SESSION_TTL),
                SameSite::Strict,
                cookies::is_https(&headers),
            ));
            fresh
        }
    };
    let user = match cookies::get(&headers, SESSION_COOKIE) {
        None => None,
        Some(token) => {
            let user = session_user(&state, token).await?;
            if user.is_none() {
                // Ended or expired: stop sending it.
                set_cookies.push(clear_session_cookie(&headers));
            }
            user
        }
    };
    let mut res = Json(json!({
        "user": user.as_ref().map(accounts::user_json),
        "csrf": csrf,
    }))
    .into_response();
    for c in set_cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(no_store(res))
}

/// `POST /api/v1/auth/signup`: creates an account and signs it in.
async fn signup(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, AppError> {
    require_csrf(&headers)?;
    let body = json_body(body)?;
    let name = accounts::normalize_name(&body.name);
    accounts::validate_user_name(&name)?;
    accounts::validate_password(&body.password)?;
    let hash = password::hash(body.password).await.map_err(hashing_error)?;
    let user = match state.db.create_user(&name, &hash, false, unix_ms()).await {
        Ok(user) => user,
        Err(DbError::UserNameTaken { .. }) => {
            return Err(AppError::bad_request(
                StatusCode::CONFLICT,
                "name_taken",
                format!("the name {name:?} is taken"),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let res = signed_in(&state, &user, &headers, StatusCode::CREATED).await?;
    metrics::counter!(accounts::SIGNUPS).increment(1);
    tracing::info!(user = %user.name, %ip, admin = user.admin, "account created");
    Ok(res)
}

/// Starts a session for `user`: the answer carries the user and the session cookie.
async fn signed_in(
    state: &AppState,
    user: &UserRecord,
    headers: &HeaderMap,
    status: StatusCode,
) -> Result<Response, AppError> {
    let cookie = start_session(state, user, headers).await?;
    let mut res = (status, Json(json!({ "user": accounts::user_json(user) }))).into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(no_store(res))
}

/// `POST /api/v1/auth/login`: checks the password (rate-limited) and starts a session.
async fn login(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, AppError> {
    require_csrf(&headers)?;
    let body = json_body(body)?;
    let name = accounts::normalize_name(&body.name);
    let valid_name = accounts::validate_user_name(&name).is_ok();
    // What the client sent is only logged when it could be a name: it may be anything, any size.
    let shown = if valid_name {
        name.as_str()
    } else {
        "(invalid)"
    };
    let now = unix_ms();
    if let Err(wait_ms) = LOGIN_LIMITER.check(&name, ip, now) {
        metrics::counter!(accounts::LOGINS, "result" => "rate_limited").increment(1);
        tracing::warn!(user = shown, %ip, retry_after_ms = wait_ms, "login rate-limited");
        return Ok(accounts::rate_limited(wait_ms));
    }
    // A name that cannot exist is checked against nothing but still costs a hash, like any.
    let found = if valid_name {
        state.db.user_by_name(&name).await?
    } else {
        None
    };
    let (user, stored) = found.map_or((None, None), |(u, h)| (Some(u), Some(h)));
    let ok = password::verify(body.password, stored)
        .await
        .map_err(hashing_error)?;
    let Some(user) = user.filter(|_| ok) else {
        LOGIN_LIMITER.failed(valid_name.then_some(name.as_str()), ip, now);
        metrics::counter!(accounts::LOGINS, "result" => "failed").increment(1);
        tracing::warn!(user = shown, %ip, "login failed");
        return Err(AppError::bad_request(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong name or password",
        ));
    };
    LOGIN_LIMITER.succeeded(&name);
    // Sign-ins are rare enough to carry the cleanup of expired sessions.
    if let Err(error) = state.db.delete_expired_sessions(now).await {
        tracing::warn!(%error, "expired sessions not deleted");
    }
    let res = signed_in(&state, &user, &headers, StatusCode::OK).await?;
    metrics::counter!(accounts::LOGINS, "result" => "ok").increment(1);
    tracing::info!(user = %user.name, %ip, "login");
    Ok(res)
}

/// `POST /api/v1/auth/logout`: ends the session (CSRF-checked when there is one) → 204.
async fn logout(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = cookies::get(&headers, SESSION_COOKIE) {
        // Else any site could sign its visitors out of this one.
        require_csrf(&headers)?;
        if token.len() <= MAX_TOKEN_LEN {
            let ended = state
                .db
                .delete_session(&accounts::token_hash(token))
                .await?;
            if ended {
                tracing::info!(%ip, "logout");
            }
        }
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(&headers));
    Ok(no_store(res))
}

fn token_json(t: &ferrocast_db::ApiTokenRecord) -> serde_json::Value {
    json!({
        "id": t.id,
        "name": t.name,
        "created_at": rfc3339(t.created_at_ms),
        "last_used_at": t.last_used_at_ms.map(rfc3339),
    })
}

/// `GET /api/v1/tokens`: the caller's API tokens (never the tokens themselves).
async fn list_tokens(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
) -> Result<Response, AppError> {
    let tokens = state.db.list_api_tokens(user.id).await?;
    let shown: Vec<_> = tokens.iter().map(token_json).collect();
    Ok(no_store(Json(json!({ "tokens": shown })).into_response()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
}

/// `POST /api/v1/tokens`: a new API token, shown this once.
async fn create_token(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Result<Response, AppError> {
    let body = json_body(body)?;
    let name = body.name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_TOKEN_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            format!("token names are 1 to {MAX_TOKEN_NAME_CHARS} characters of one line"),
        ));
    }
    if state.db.list_api_tokens(user.id).await?.len() >= MAX_API_TOKENS {
        return Err(AppError::bad_request(
            StatusCode::CONFLICT,
            "too_many_tokens",
            format!("an account holds at most {MAX_API_TOKENS} tokens; revoke one first"),
        ));
    }
    let token = accounts::new_token(PAT_PREFIX);
    let record = state
        .db
        .create_api_token(user.id, name, &accounts::token_hash(&token), unix_ms())
        .await?;
    tracing::info!(user = %user.name, token_id = record.id, "API token created");
    let mut shown = token_json(&record);
    shown["token"] = token.into();
    if let Some(o) = shown.as_object_mut() {
        o.remove("last_used_at");
    }
    Ok(no_store((StatusCode::CREATED, Json(shown)).into_response()))
}

/// `DELETE /api/v1/tokens/ID`: revokes one of the caller's tokens.
async fn revoke_token(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::not_found("token"))?;
    if !state.db.delete_api_token(user.id, id).await? {
        return Err(AppError::not_found("token"));
    }
    tracing::info!(user = %user.name, token_id = id, "API token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let c = Credentials {
            name: "alice".into(),
            password: "hunter22hunter".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter"),
            "{shown}"
        );
    }

    #[test]
    fn csrf_cookies_we_would_not_issue_are_replaced() {
        assert!(plausible_csrf(&accounts::new_token("")));
        assert!(!plausible_csrf("short"));
        assert!(!plausible_csrf("has space in it, long enough"));
    }
}
