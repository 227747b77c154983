//! A browser's side of the accounts API for the tests: cookies kept between requests and the
//! CSRF header sent the way the web app sends it.

use crate::harness::Server;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery";

/// A browser's view of the API: a cookie jar, and the CSRF header on every unsafe request
/// (unless told not to), as the web app sends it.
pub struct Browser<'a> {
    server: &'a Server,
    pub jar: BTreeMap<String, String>,
    /// The `Set-Cookie` headers of the last response.
    set_cookies: Vec<String>,
    /// The headers of the last response.
    headers: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a Server) -> Self {
        Self {
            server,
            jar: BTreeMap::new(),
            set_cookies: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A request with the jar's cookies, the CSRF header when `csrf`, and a Bearer `token`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: bool,
        token: Option<&str>,
    ) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let url = self.server.url(path);
        let mut headers: Vec<(&str, String)> = Vec::new();
        if !self.jar.is_empty() {
            let cookie = self
                .jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            headers.push(("Cookie", cookie));
        }
        if csrf {
            if let Some(c) = self.jar.get("fc_csrf") {
                headers.push(("X-CSRF-Token", c.clone()));
            }
        }
        if let Some(t) = token {
            headers.push(("Authorization", format!("Bearer {t}")));
        }
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req;
                for (k, v) in &headers {
                    r = r.header(*k, v.as_str());
                }
                r
            }};
        }
        let body = body.unwrap_or(Value::Null);
        let res = match method {
            "POST" => with_headers!(agent.post(&url)).send_json(&body),
            "PUT" => with_headers!(agent.put(&url)).send_json(&body),
            "PATCH" => with_headers!(agent.patch(&url)).send_json(&body),
            "DELETE" => with_headers!(agent.delete(&url)).call(),
            _ => with_headers!(agent.get(&url)).call(),
        };
        let mut res = res.unwrap();
        self.headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        self.set_cookies = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &self.set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A signed-in browser request (cookies and CSRF header).
    pub fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, body, true, None)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }

    /// Loads the session (gets the CSRF cookie) and signs up; returns the user.
    pub fn signup(&mut self, name: &str) -> Value {
        let (status, body) = self.call("GET", "/api/v1/session", None);
        assert_eq!(status, 200, "{body}");
        let (status, body) = self.call(
            "POST",
            "/api/v1/auth/signup",
            Some(json!({"name": name, "password": PASSWORD})),
        );
        assert_eq!(status, 201, "{body}");
        body["user"].clone()
    }

    pub fn login(&mut self, name: &str, password: &str) -> (u16, Value) {
        if !self.jar.contains_key("fc_csrf") {
            self.call("GET", "/api/v1/session", None);
        }
        self.call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"name": name, "password": password})),
        )
    }

    pub fn create_channel(&mut self, name: &str) -> Value {
        let (status, body) = self.call("POST", "/api/v1/channels", Some(json!({"name": name})));
        assert_eq!(status, 201, "{body}");
        body
    }
}
