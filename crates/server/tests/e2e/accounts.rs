//! Accounts through the real binary: signup and login with session cookies and CSRF, the login
//! rate limit, personal API tokens and `ferrocast user`; channel ownership, follows and chat
//! session tokens are in `accounts/channels.rs`.

mod channels;
pub mod client;

use crate::harness::{bin, Server};
use client::{Browser, PASSWORD};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn signup_login_logout_with_session_cookie_and_csrf() {
    let s = Server::start("accounts", &[]);
    let mut alice = Browser::new(&s);
    let (status, session) = alice.call("GET", "/api/v1/session", None);
    assert_eq!((status, &session["user"]), (200, &Value::Null));
    let csrf = session["csrf"].as_str().unwrap().to_owned();
    let set = alice.set_cookie("fc_csrf").expect("the CSRF cookie is set");
    assert!(set.starts_with(&format!("fc_csrf={csrf};")), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert_eq!(alice.header("cache-control"), Some("no-store"));

    // Signup needs the CSRF header, matching the cookie.
    let creds = json!({"name": "alice", "password": PASSWORD});
    let (status, body) = alice.send(
        "POST",
        "/api/v1/auth/signup",
        Some(creds.clone()),
        false,
        None,
    );
    assert_eq!((status, &body["error"]), (403, &json!("csrf")), "{body}");
    alice
        .jar
        .insert("fc_csrf".into(), "forgedforgedforged".into());
    let (status, _) = alice.send("POST", "/api/v1/auth/signup", Some(creds), false, None);
    assert_eq!(status, 403);
    alice.jar.insert("fc_csrf".into(), csrf.clone());

    let user = alice.signup("Alice");
    assert_eq!(
        (&user["name"], &user["admin"]),
        (&json!("alice"), &json!(true)),
        "the first account administers"
    );
    let set = alice.set_cookie("fc_session").expect("signed in");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let session_token = alice.jar["fc_session"].clone();
    let (_, me) = alice.call("GET", "/api/v1/session", None);
    assert_eq!(
        (&me["user"]["name"], &me["csrf"]),
        (&json!("alice"), &json!(csrf))
    );

    let mut bob = Browser::new(&s);
    let bob_user = bob.signup("bob");
    assert_eq!(
        bob_user["admin"], false,
        "only the first account is an administrator"
    );
    let mut again = Browser::new(&s);
    again.call("GET", "/api/v1/session", None);
    for (creds, status, code) in [
        (
            json!({"name": "bob", "password": PASSWORD}),
            409,
            "name_taken",
        ),
        (
            json!({"name": "x", "password": PASSWORD}),
            422,
            "invalid_name",
        ),
        (
            json!({"name": "system", "password": PASSWORD}),
            422,
            "invalid_name",
        ),
        (
            json!({"name": "dave", "password": "short"}),
            422,
            "weak_password",
        ),
        (json!({"name": "dave"}), 400, "invalid_body"),
    ] {
        let (got, body) = again.call("POST", "/api/v1/auth/signup", Some(creds.clone()));
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (status, code),
            "{creds}"
        );
    }

    // A cookie-authenticated change without the CSRF header is refused; with it, it works.
    let (status, body) = alice.send(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "alpha"})),
        false,
        None,
    );
    assert_eq!((status, &body["error"]), (403, &json!("csrf")), "{body}");
    let c = alice.create_channel("alpha");
    assert_eq!((&c["owner"], &c["title"]), (&json!("alice"), &json!("")));
    let (status, _) = alice.send("GET", "/api/v1/channels", None, false, None);
    assert_eq!(status, 200, "reading needs no CSRF header");

    // Login: the wrong password, no CSRF header, then right.
    let mut laptop = Browser::new(&s);
    let (status, body) = laptop.login("alice", "not the password");
    assert_eq!(
        (status, &body["error"]),
        (401, &json!("bad_credentials")),
        "{body}"
    );
    let (status, body) = laptop.login("nobody", PASSWORD);
    assert_eq!(
        (status, &body["error"]),
        (401, &json!("bad_credentials")),
        "{body}"
    );
    let (status, _) = laptop.send(
        "POST",
        "/api/v1/auth/login",
        Some(json!({"name": "alice", "password": PASSWORD})),
        false,
        None,
    );
    assert_eq!(status, 403);
    let (status, body) = laptop.login("ALICE", PASSWORD);
    assert_eq!(
        (status, &body["user"]["name"]),
        (200, &json!("alice")),
        "{body}"
    );
    assert_ne!(
        laptop.jar["fc_session"], session_token,
        "a session per sign-in"
    );

    // Logout ends that session only.
    let (status, _) = laptop.send("POST", "/api/v1/auth/logout", None, false, None);
    assert_eq!(status, 403, "logout is CSRF-checked too");
    let (status, _) = laptop.call("POST", "/api/v1/auth/logout", None);
    assert_eq!(status, 204);
    assert!(
        !laptop.jar.contains_key("fc_session"),
        "the cookie is cleared"
    );
    let (_, me) = laptop.call("GET", "/api/v1/session", None);
    assert_eq!(me["user"], Value::Null);
    laptop.jar.insert("fc_session".into(), "ended".into());
    let (status, _) = laptop.call("GET", "/api/v1/channels", None);
    assert_eq!(status, 401);
    let (status, _) = alice.call("GET", "/api/v1/channels", None);
    assert_eq!(status, 200, "the other session lives on");

    // Signing in again ends the session the browser held.
    let (status, _) = alice.login("alice", PASSWORD);
    assert_eq!(status, 200);
    assert_ne!(alice.jar["fc_session"], session_token);
    let mut stale = Browser::new(&s);
    stale.jar.insert("fc_session".into(), session_token.clone());
    let (status, _) = stale.call("GET", "/api/v1/channels", None);
    assert_eq!(status, 401);

    assert_eq!(s.metric("ferrocast_signups_total"), Some(2.0));
    assert_eq!(s.metric("ferrocast_logins_total{result=\"ok\"}"), Some(2.0));
    assert_eq!(
        s.metric("ferrocast_logins_total{result=\"failed\"}"),
        Some(2.0)
    );
    let log = s.log_text();
    assert!(!log.contains(PASSWORD), "a password reached the log");
    assert!(
        !log.contains(&session_token),
        "a session token reached the log"
    );
    let login = s
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "login failed")
        .expect("failed logins are logged");
    assert_eq!(
        (&login["user"], &login["ip"]),
        (&json!("alice"), &json!("127.0.0.1"))
    );
    let db = std::fs::read(s.data_dir.join("ferrocast.db")).unwrap();
    assert!(!db
        .windows(session_token.len())
        .any(|w| w == session_token.as_bytes()));
    assert!(!db.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()));
}

#[test]
fn repeated_login_failures_are_rate_limited() {
    let s = Server::start("ratelimit", &[]);
    Browser::new(&s).signup("carol");
    let mut b = Browser::new(&s);
    for _ in 0..5 {
        let (status, _) = b.login("carol", "guess guess guess");
        assert_eq!(status, 401);
    }
    // Even the right password waits now: otherwise guessing would simply go on.
    let (status, body) = b.login("carol", PASSWORD);
    assert_eq!(
        (status, &body["error"]),
        (429, &json!("rate_limited")),
        "{body}"
    );
    let wait = body["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 14 * 60 * 1000 && wait <= 15 * 60 * 1000, "{wait}");
    assert!(b.header("retry-after").is_some());
    assert_eq!(
        s.metric("ferrocast_logins_total{result=\"rate_limited\"}"),
        Some(1.0)
    );
    // Other names from this address still get their tries.
    Browser::new(&s).signup("dave");
    let (status, _) = Browser::new(&s).login("dave", PASSWORD);
    assert_eq!(status, 200);
}

#[test]
fn personal_api_tokens_act_as_their_user_until_revoked() {
    let s = Server::start("pat", &[]);
    let mut alice = Browser::new(&s);
    alice.signup("alice");
    let mut bob = Browser::new(&s);
    bob.signup("bob");
    let (status, created) = bob.call("POST", "/api/v1/tokens", Some(json!({"name": " ci "})));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "ci");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("fc_pat_") && token.len() == 39, "{token}");
    let (status, _) = bob.call("POST", "/api/v1/tokens", Some(json!({"name": ""})));
    assert_eq!(status, 422);

    // A Bearer request carries no ambient credential: no cookie, no CSRF header needed.
    let mut script = Browser::new(&s);
    let (status, c) = script.send(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "scripted"})),
        false,
        Some(&token),
    );
    assert_eq!((status, &c["owner"]), (201, &json!("bob")), "{c}");
    let (status, list) = script.send("GET", "/api/v1/channels", None, false, Some(&token));
    assert_eq!(
        (status, list["channels"].as_array().unwrap().len()),
        (200, 1)
    );
    let (status, _) = script.send(
        "GET",
        "/api/v1/channels",
        None,
        false,
        Some("fc_pat_notAtokenNotAtokenNotAtoken1"),
    );
    assert_eq!(status, 401);

    let (_, tokens) = bob.call("GET", "/api/v1/tokens", None);
    let listed = &tokens["tokens"][0];
    assert_eq!(
        (&listed["name"], &listed["id"]),
        (&json!("ci"), &created["id"])
    );
    assert!(listed["last_used_at"].is_string(), "{tokens}");
    assert!(listed.get("token").is_none(), "shown once only: {tokens}");
    let (_, theirs) = alice.call("GET", "/api/v1/tokens", None);
    assert_eq!(theirs["tokens"], json!([]));
    let id = created["id"].as_i64().unwrap();
    let (status, _) = alice.call("DELETE", &format!("/api/v1/tokens/{id}"), None);
    assert_eq!(status, 404, "not alice's to revoke");
    let (status, _) = s.api("GET", "/api/v1/tokens", None);
    assert_eq!(status, 403, "the admin token is no account");

    let (status, _) = bob.call("DELETE", &format!("/api/v1/tokens/{id}"), None);
    assert_eq!(status, 204);
    let (status, _) = script.send("GET", "/api/v1/channels", None, false, Some(&token));
    assert_eq!(status, 401, "revoked");
    let db = std::fs::read(s.data_dir.join("ferrocast.db")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
}

/// Runs `ferrocast user ARGS` on the server's data directory with `stdin`.
fn user_cli(s: &Server, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(bin())
        .arg("user")
        .arg("--data-dir")
        .arg(&s.data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cli_adds_and_lists_users() {
    let s = Server::start("usercli", &[]);
    Browser::new(&s).signup("first");
    let out = user_cli(
        &s,
        &["add", "ops", "--admin", "--password-stdin"],
        "ops password 1\nignored\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&made["name"], &made["admin"]),
        (&json!("ops"), &json!(true))
    );
    assert!(made.get("password").is_none());
    let out = user_cli(&s, &["add", "plain"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plain["admin"], false);
    let generated = plain["password"]
        .as_str()
        .expect("a generated password is shown");

    // The running server sees them at once (one database, WAL).
    let (status, body) = Browser::new(&s).login("ops", "ops password 1");
    assert_eq!(
        (status, &body["user"]["admin"]),
        (200, &json!(true)),
        "{body}"
    );
    let (status, _) = Browser::new(&s).login("plain", generated);
    assert_eq!(status, 200);

    for (args, stdin) in [
        (
            &["add", "ops", "--password-stdin"][..],
            "another password\n",
        ),
        (
            &["add", "No Good", "--password-stdin"],
            "another password\n",
        ),
        (&["add", "shorty", "--password-stdin"], "short\n"),
        (&["add", "empty", "--password-stdin"], ""),
    ] {
        let out = user_cli(&s, args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
    }
    let out = user_cli(&s, &["list"], "");
    assert!(out.status.success());
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let users: Vec<_> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap(), u["admin"].as_bool().unwrap()))
        .collect();
    assert_eq!(users, [("first", true), ("ops", true), ("plain", false)]);
    assert!(list["users"][0]["created_at"].is_string());
}
