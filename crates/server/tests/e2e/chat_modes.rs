//! Chat room modes through the real binary: followers-only (follower status carried in the
//! session token) and guests allowed or not, toggled on the socket and through the API, reported
//! in `joined` and on the watch API, and kept across a restart.

use crate::accounts::client::{Browser, PASSWORD};
use crate::chat_client::ChatClient;
use crate::harness::Server;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);
const TOKEN: &str = "/api/v1/channels/bobtv/chat/session-token";

/// A chat token for the signed-in browser.
fn session_token(browser: &mut Browser<'_>) -> Value {
    let (status, t) = browser.call("POST", TOKEN, None);
    assert_eq!(status, 200, "{t}");
    t
}

/// The refusal of a `join` (the connection stays open).
fn join_refused(client: &mut ChatClient, join: Value) -> Value {
    client.send(join);
    client.recv_type("error", T)
}

/// The watch API's `chat`, as anyone sees it.
fn watch_chat(server: &Server) -> Value {
    let res = server.get("/api/v1/watch/bobtv", &[]);
    assert_eq!(res.status, 200, "{}", res.text());
    serde_json::from_slice::<Value>(&res.body).unwrap()["chat"].clone()
}

#[test]
fn followers_only_and_guests_off_end_to_end() {
    let mut s = Server::start("chat-modes", &[]);
    let mut bob = Browser::new(&s);
    bob.signup("bob");
    bob.create_channel("bobtv");
    let mut carol = Browser::new(&s);
    carol.signup("carol");
    assert_eq!(
        watch_chat(&s),
        json!({"guests": true, "followers_only": false})
    );

    // The streamer, a guest and an account that does not follow are in the room.
    let t = session_token(&mut bob);
    assert_eq!(t["role"], "streamer");
    let mut streamer = ChatClient::connect(&s, "bobtv", "127.0.0.1");
    let joined = streamer.join_token(t["token"].as_str().unwrap());
    assert_eq!(
        (&joined["followers_only"], &joined["guests"]),
        (&json!(false), &json!(true)),
        "{joined}"
    );
    let mut guest = ChatClient::connect(&s, "bobtv", "127.0.0.2");
    guest.join_guest("gina");
    let t = session_token(&mut carol);
    assert_eq!(
        (&t["role"], &t["follower"]),
        (&json!("viewer"), &json!(false))
    );
    assert!(t["token"].as_str().unwrap().starts_with("v2."), "{t}");
    let mut lurker = ChatClient::connect(&s, "bobtv", "127.0.0.3");
    let joined = lurker.join_token(t["token"].as_str().unwrap());
    assert_eq!(joined["you"]["follower"], false, "{joined}");
    assert_eq!(guest.say_and_wait("before")["type"], "message");

    // Viewers may not toggle modes.
    let refused = {
        lurker.send(json!({"type": "followers", "on": true}));
        lurker.recv_type("error", T)
    };
    assert_eq!(refused["reason"], "forbidden", "{refused}");

    // The streamer turns followers-only on over the socket: an event of the ordered stream.
    streamer.send(json!({"type": "followers", "on": true}));
    for client in [&mut streamer, &mut guest, &mut lurker] {
        let ev = client.recv_type("followers", T);
        assert_eq!(
            (&ev["on"], &ev["by"]),
            (&json!(true), &json!("bobtv")),
            "{ev}"
        );
        assert!(ev["offset"].is_u64() && ev["id"].is_string(), "{ev}");
    }
    let refused = guest.say_and_wait("hello?");
    assert_eq!(
        (&refused["reason"], &refused["message"]),
        (
            &json!("followers_only"),
            &json!("Only followers can chat: follow bobtv to join in")
        ),
        "{refused}"
    );
    assert_eq!(lurker.say_and_wait("me?")["reason"], "followers_only");
    assert_eq!(
        streamer.say_and_wait("followers only now")["type"],
        "message"
    );
    assert_eq!(
        watch_chat(&s),
        json!({"guests": true, "followers_only": true})
    );

    // Carol follows, gets a fresh token and joins again, recovering what she saw: she may post.
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let (status, _) = carol.call("PUT", "/api/v1/channels/bobtv/follow", None);
    assert_eq!(status, 204);
    let t = session_token(&mut carol);
    assert_eq!(t["follower"], true, "{t}");
    let mut fan = ChatClient::connect(&s, "bobtv", "127.0.0.3");
    fan.send(json!({"type": "join", "token": t["token"], "epoch": epoch, "since": 1}));
    let joined = fan.recv_type("joined", T);
    assert_eq!(
        (
            &joined["you"]["follower"],
            &joined["followers_only"],
            &joined["recovered"]
        ),
        (&json!(true), &json!(true), &json!(true)),
        "{joined}"
    );
    let said = fan.say_and_wait("now i follow");
    assert_eq!(
        (&said["type"], &said["user"]["name"]),
        (&json!("message"), &json!("carol")),
        "{said}"
    );
    // Her old connection's token still says she did not follow: it stays refused.
    assert_eq!(lurker.say_and_wait("old token")["reason"], "followers_only");
    drop(lurker);

    // Guests off, through the API with the admin token: an event too.
    let (status, ev) = s.api(
        "POST",
        "/api/v1/channels/bobtv/chat/actions",
        Some(json!({"type": "guests", "allowed": false})),
    );
    assert_eq!(status, 200, "{ev}");
    assert_eq!(
        (&ev["type"], &ev["allowed"], &ev["by"]),
        (&json!("guests"), &json!(false), &json!("bobtv"))
    );
    let seen = streamer.recv_type("guests", T);
    assert_eq!((&seen["allowed"], &seen["id"]), (&json!(false), &ev["id"]));
    // A new guest is turned away at the door; the one already in stays but cannot post.
    let mut late = ChatClient::connect(&s, "bobtv", "127.0.0.4");
    let refused = join_refused(&mut late, json!({"type": "join", "name": "late"}));
    assert_eq!(
        (&refused["reason"], &refused["message"]),
        (
            &json!("guests_not_allowed"),
            &json!("Log in to chat in this channel")
        ),
        "{refused}"
    );
    assert_eq!(
        guest.say_and_wait("still here")["reason"],
        "guests_not_allowed"
    );
    assert_eq!(fan.say_and_wait("accounts still talk")["type"], "message");
    // The API refuses what the socket refuses.
    let (status, body) = s.api(
        "POST",
        "/api/v1/channels/bobtv/chat/actions",
        Some(json!({"type": "guests"})),
    );
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("bad_request")),
        "{body}"
    );
    assert_eq!(
        watch_chat(&s),
        json!({"guests": false, "followers_only": true})
    );
    drop((streamer, guest, fan, late));

    // The modes are stored with the room: after a restart the watch API reads them without
    // opening the room, and `joined` reports them.
    assert!(s.terminate(Duration::from_secs(10)));
    let s = Server::start_in(s.data_dir.clone(), &[]);
    assert_eq!(
        watch_chat(&s),
        json!({"guests": false, "followers_only": true})
    );
    let mut late = ChatClient::connect(&s, "bobtv", "127.0.0.4");
    let refused = join_refused(&mut late, json!({"type": "join", "name": "late"}));
    assert_eq!(refused["reason"], "guests_not_allowed");
    let mut carol = Browser::new(&s);
    let (status, body) = carol.login("carol", PASSWORD);
    assert_eq!(status, 200, "{body}");
    let t = session_token(&mut carol);
    assert_eq!(t["follower"], true, "{t}");
    let mut fan = ChatClient::connect(&s, "bobtv", "127.0.0.3");
    let joined = fan.join_token(t["token"].as_str().unwrap());
    assert_eq!(
        (&joined["followers_only"], &joined["guests"]),
        (&json!(true), &json!(false)),
        "{joined}"
    );
    // Both off again: guests are welcome.
    for body in [
        json!({"type": "followers", "on": false}),
        json!({"type": "guests", "allowed": true}),
    ] {
        let (status, ev) = s.api("POST", "/api/v1/channels/bobtv/chat/actions", Some(body));
        assert_eq!(status, 200, "{ev}");
    }
    let joined = late.join_guest("late");
    assert_eq!(
        (&joined["followers_only"], &joined["guests"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(late.say_and_wait("finally")["type"], "message");
}
