//! Reading `Cookie` and writing `Set-Cookie` headers. Parsed by hand: only our own two cookies
//! matter, their values are alphanumeric, and a cookie crate would add parsing we do not use.

use axum::http::{header, HeaderMap, HeaderValue};
use std::time::Duration;

/// The value of cookie `name` in the request (the first, if sent twice), without surrounding
/// quotes. Malformed pairs are skipped, never an error: browsers send whatever was set.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
}

/// `SameSite` of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites (a link to a watch page keeps you signed
    /// in), not on their sub-requests or form posts.
    Lax,
    /// Never sent from another site.
    Strict,
}

/// A `Set-Cookie` value: HttpOnly and `Path=/` always; `max_age` of `None` deletes the cookie.
pub fn set(
    name: &str,
    value: &str,
    max_age: Option<Duration>,
    same_site: SameSite,
    secure: bool,
) -> HeaderValue {
    let same_site = match same_site {
        SameSite::Lax => "Lax",
        SameSite::Strict => "Strict",
    };
    let max_age = max_age.map_or(0, |d| d.as_secs());
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    );
    // Our names and values are alphanumeric; should one ever not be, send no cookie rather than
    // fail the request.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether the client reached us over HTTPS, as a TLS-terminating proxy in front says
/// (`X-Forwarded-Proto` or `Forwarded: proto=`). Only used to add `Secure`: a client that lies
/// only hides its own cookies from itself on plain HTTP.
pub fn is_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("https")
        });
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split([';', ','])
                .filter_map(|p| p.trim().split_once('='))
                .any(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
        });
    forwarded_proto || forwarded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn parses_cookie_headers() {
        let h = headers(&["a=1; fc_session=abc;fc_csrf=\"q1\"", "fc_session=second"]);
        assert_eq!(get(&h, "fc_session"), Some("abc"));
        assert_eq!(get(&h, "fc_csrf"), Some("q1"));
        assert_eq!(get(&h, "a"), Some("1"));
        assert_eq!(get(&h, "fc"), None);
        assert_eq!(get(&h, "missing"), None);
        let odd = headers(&["junk; =x; fc_csrf=; x_fc_session=nope; fc_session = spaced "]);
        assert_eq!(get(&odd, "fc_csrf"), Some(""));
        assert_eq!(get(&odd, "fc_session"), Some("spaced"));
        assert_eq!(get(&HeaderMap::new(), "fc_session"), None);
        let mut binary = HeaderMap::new();
        binary.insert(
            header::COOKIE,
            HeaderValue::from_bytes(b"fc_session=\xff").unwrap(),
        );
        assert_eq!(get(&binary, "fc_session"), None);
    }

    #[test]
    fn set_cookie_attributes() {
        let v = set(
            "fc_session",
            "tok",
            Some(Duration::from_secs(60)),
            SameSite::Lax,
            false,
        );
        assert_eq!(
            v,
            "fc_session=tok; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        let v = set("fc_csrf", "", None, SameSite::Strict, true);
        assert_eq!(
            v,
            "fc_csrf=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn https_behind_a_proxy() {
        let mut h = HeaderMap::new();
        assert!(!is_https(&h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(is_https(&h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!is_https(&h));
        let mut h = HeaderMap::new();
        h.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=1.2.3.4;proto=https;by=x"),
        );
        assert!(is_https(&h));
    }
}
