//! Channels of accounts: ownership, key rotation by the owner, follows on the watch API and
//! chat session tokens.

use super::client::Browser;
use crate::chat_client::ChatClient;
use crate::harness::{media, wait_for, Publisher, Server};
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn channels_belong_to_their_owner() {
    let s = Server::start("owners", &[]);
    let mut alice = Browser::new(&s);
    alice.signup("alice");
    let mut bob = Browser::new(&s);
    bob.signup("bob");
    let mut carol = Browser::new(&s);
    carol.signup("carol");

    let (status, c) = bob.call(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "bobtv", "title": "  Bob plays  "})),
    );
    assert_eq!(status, 201, "{c}");
    assert_eq!(
        (&c["owner"], &c["title"]),
        (&json!("bob"), &json!("Bob plays"))
    );
    assert!(c["stream_key"].as_str().unwrap().starts_with("sk_"));
    let unowned = s.create_channel("ops");
    assert_eq!(unowned["owner"], Value::Null, "made with the admin token");
    for reserved in ["studio", "api", "login"] {
        let (status, body) = bob.call("POST", "/api/v1/channels", Some(json!({"name": reserved})));
        assert_eq!(
            (status, &body["error"]),
            (422, &json!("invalid_name")),
            "{reserved}"
        );
    }

    let names = |b: &mut Browser| {
        let (status, list) = b.call("GET", "/api/v1/channels", None);
        assert_eq!(status, 200, "{list}");
        list["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&mut bob), ["bobtv"]);
    assert!(names(&mut carol).is_empty());
    assert_eq!(
        names(&mut alice),
        ["bobtv", "ops"],
        "an administrator sees every channel"
    );
    let (_, all) = s.api("GET", "/api/v1/channels", None);
    assert_eq!(all["channels"].as_array().unwrap().len(), 2);

    // Someone else's channel: 403 (it exists; names are public), an unknown one: 404.
    for (method, path, body) in [
        ("GET", "/api/v1/channels/bobtv", None),
        (
            "PATCH",
            "/api/v1/channels/bobtv",
            Some(json!({"title": "mine now"})),
        ),
        ("DELETE", "/api/v1/channels/bobtv", None),
        ("POST", "/api/v1/channels/bobtv/rotate-key", None),
        ("GET", "/api/v1/channels/bobtv/chat/moderators", None),
        ("PUT", "/api/v1/channels/bobtv/chat/moderators/carol", None),
        (
            "POST",
            "/api/v1/channels/bobtv/chat/actions",
            Some(json!({"type": "clear"})),
        ),
        ("GET", "/api/v1/channels/ops", None),
    ] {
        let (status, err) = carol.call(method, path, body);
        assert_eq!(
            (status, &err["error"]),
            (403, &json!("forbidden")),
            "{method} {path}: {err}"
        );
    }
    let (status, _) = carol.call("GET", "/api/v1/channels/nothing", None);
    assert_eq!(status, 404);

    // The owner, an administrator and the admin token manage it.
    let (status, c) = bob.call(
        "PATCH",
        "/api/v1/channels/bobtv",
        Some(json!({"title": "Speedruns"})),
    );
    assert_eq!((status, &c["title"]), (200, &json!("Speedruns")), "{c}");
    let (status, body) = bob.call(
        "PATCH",
        "/api/v1/channels/bobtv",
        Some(json!({"title": "x".repeat(141)})),
    );
    assert_eq!((status, &body["error"]), (422, &json!("invalid_title")));
    let (status, body) = bob.call(
        "PATCH",
        "/api/v1/channels/bobtv",
        Some(json!({"ladder": "off", "title": "Both"})),
    );
    assert_eq!(
        (status, &body["ladder"], &body["title"]),
        (200, &json!("off"), &json!("Both")),
        "{body}"
    );
    let (status, c) = alice.call("GET", "/api/v1/channels/bobtv", None);
    assert_eq!((status, &c["owner"]), (200, &json!("bob")));
    let (status, _) = s.api("GET", "/api/v1/channels/bobtv", None);
    assert_eq!(status, 200);

    // The studio appoints moderators and moderates with the owner's session.
    let (status, _) = bob.call("PUT", "/api/v1/channels/bobtv/chat/moderators/carol", None);
    assert_eq!(status, 204);
    let (status, mods) = bob.call("GET", "/api/v1/channels/bobtv/chat/moderators", None);
    assert_eq!((status, &mods["moderators"]), (200, &json!(["carol"])));
    let (status, _) = bob.send(
        "PUT",
        "/api/v1/channels/bobtv/chat/moderators/dave",
        None,
        false,
        None,
    );
    assert_eq!(status, 403, "CSRF applies to chat routes as well");
    let (status, event) = bob.call(
        "POST",
        "/api/v1/channels/bobtv/chat/actions",
        Some(json!({"type": "slow", "seconds": 5})),
    );
    assert_eq!(
        (status, &event["type"], &event["by"]),
        (200, &json!("slow"), &json!("bobtv")),
        "{event}"
    );

    let (status, _) = carol.call("DELETE", "/api/v1/channels/bobtv", None);
    assert_eq!(status, 403);
    let (status, _) = bob.call("DELETE", "/api/v1/channels/bobtv", None);
    assert_eq!(status, 204);
}

#[test]
fn an_owner_rotates_the_key_and_only_the_new_one_publishes() {
    let s = Server::start("ownerkey", &[]);
    let mut bob = Browser::new(&s);
    bob.signup("bob");
    let c = bob.create_channel("bobtv");
    let old_key = c["stream_key"].as_str().unwrap().to_owned();
    let (status, rotated) = bob.call("POST", "/api/v1/channels/bobtv/rotate-key", None);
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["stream_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    let mut old = Publisher::start(&media().av, &s.publish_url(&old_key), false);
    let (ok, _) = old
        .wait(Duration::from_secs(15))
        .expect("the old key is refused");
    assert!(!ok);
    let mut fresh = Publisher::start(&media().av, &s.publish_url(&new_key), true);
    wait_for("the new key to publish", Duration::from_secs(40), || {
        let (_, c) = bob.call("GET", "/api/v1/channels/bobtv", None);
        (c["live"] == true).then_some(())
    });
    assert!(fresh.running());
    let (_, watch) = bob.call("GET", "/api/v1/watch/bobtv", None);
    assert_eq!(watch["live"], true, "{watch}");
    assert!(watch["started_at"].is_string(), "{watch}");
}

#[test]
fn follows_show_on_the_watch_api() {
    let s = Server::start("follow", &[]);
    let mut bob = Browser::new(&s);
    bob.signup("bob");
    let (status, _) = bob.call(
        "POST",
        "/api/v1/channels",
        Some(json!({"name": "bobtv", "title": "Hi"})),
    );
    assert_eq!(status, 201);
    let mut carol = Browser::new(&s);
    carol.signup("carol");
    let mut guest = Browser::new(&s);

    let (status, w) = guest.call("GET", "/api/v1/watch/bobtv", None);
    assert_eq!(status, 200, "{w}");
    assert_eq!(
        w,
        json!({"name": "bobtv", "title": "Hi", "owner": "bob", "live": false,
               "started_at": null, "viewers": 0, "followers": 0, "following": false,
               "playback_url": "/live/bobtv/master.m3u8",
               "chat": {"guests": true, "followers_only": false}})
    );
    for missing in ["nobody", "Bad%20Name"] {
        let (status, _) = guest.call("GET", &format!("/api/v1/watch/{missing}"), None);
        assert_eq!(status, 404, "{missing}");
    }

    let (status, _) = guest.call("PUT", "/api/v1/channels/bobtv/follow", None);
    assert_eq!(status, 401);
    let (status, body) = s.api("PUT", "/api/v1/channels/bobtv/follow", None);
    assert_eq!((status, &body["error"]), (403, &json!("account_required")));
    let (status, _) = carol.send("PUT", "/api/v1/channels/bobtv/follow", None, false, None);
    assert_eq!(status, 403, "CSRF");
    for _ in 0..2 {
        let (status, _) = carol.call("PUT", "/api/v1/channels/bobtv/follow", None);
        assert_eq!(status, 204);
    }
    let (status, _) = carol.call("PUT", "/api/v1/channels/nobody/follow", None);
    assert_eq!(status, 404);
    let (_, w) = carol.call("GET", "/api/v1/watch/bobtv", None);
    assert_eq!(
        (&w["followers"], &w["following"]),
        (&json!(1), &json!(true))
    );
    let (_, w) = guest.call("GET", "/api/v1/watch/bobtv", None);
    assert_eq!(
        (&w["followers"], &w["following"]),
        (&json!(1), &json!(false))
    );
    let (_, w) = bob.call("GET", "/api/v1/watch/bobtv", None);
    assert_eq!(w["following"], false);
    let (status, _) = carol.call("DELETE", "/api/v1/channels/bobtv/follow", None);
    assert_eq!(status, 204);
    let (_, w) = carol.call("GET", "/api/v1/watch/bobtv", None);
    assert_eq!(
        (&w["followers"], &w["following"]),
        (&json!(0), &json!(false))
    );
}

#[test]
fn chat_session_tokens_carry_the_account_role() {
    let s = Server::start("chatsession", &[]);
    let mut bob = Browser::new(&s);
    bob.signup("bob");
    bob.create_channel("bobtv");
    let mut carol = Browser::new(&s);
    carol.signup("carol");
    let path = "/api/v1/channels/bobtv/chat/session-token";

    let (status, t) = bob.call("POST", path, None);
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        (&t["role"], &t["name"]),
        (&json!("streamer"), &json!("bobtv"))
    );
    let expires = t["expires_at"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 11 * 3600..=now + 12 * 3600 + 60).contains(&expires),
        "{t}"
    );
    let mut streamer = ChatClient::connect(&s, "bobtv", "127.0.0.1");
    let joined = streamer.join_token(t["token"].as_str().unwrap());
    assert_eq!(joined["you"]["role"], "streamer", "{joined}");

    let (_, t) = carol.call("POST", path, None);
    assert_eq!(
        (&t["role"], &t["name"]),
        (&json!("viewer"), &json!("carol"))
    );
    let (status, _) = bob.call("PUT", "/api/v1/channels/bobtv/chat/moderators/carol", None);
    assert_eq!(status, 204);
    let (_, t) = carol.call("POST", path, None);
    assert_eq!(
        (&t["role"], &t["name"]),
        (&json!("moderator"), &json!("carol"))
    );
    let mut moderator = ChatClient::connect(&s, "bobtv", "127.0.0.2");
    let joined = moderator.join_token(t["token"].as_str().unwrap());
    assert_eq!(
        (&joined["you"]["name"], &joined["you"]["role"]),
        (&json!("carol"), &json!("moderator"))
    );

    let (status, _) = Browser::new(&s).call("POST", path, None);
    assert_eq!(status, 401, "guests join with a name instead");
    let (status, _) = carol.send("POST", path, None, false, None);
    assert_eq!(status, 403, "CSRF");
    let (status, _) = carol.call("POST", "/api/v1/channels/nobody/chat/session-token", None);
    assert_eq!(status, 404);
}
