//! Chat through the real binary with real WebSocket clients.

use crate::chat_client::{tcp_from, token, ChatClient};
use crate::harness::{fetch, wait_for, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};
use tungstenite::Message;

const T: Duration = Duration::from_secs(5);

fn messages(client: &mut ChatClient, n: usize) -> Vec<Value> {
    (0..n).map(|_| client.recv_type("message", T)).collect()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn viewers_and_the_streamer_talk_in_one_order() {
    let server = Server::start("chat-talk", &[]);
    server.create_channel("talk");
    let streamer_token = token(&server, "talk", "ignored", "streamer");
    let mut alice = ChatClient::connect(&server, "talk", "127.0.0.1");
    let mut bob = ChatClient::connect(&server, "talk", "127.0.0.2");
    let mut streamer = ChatClient::connect(&server, "talk", "127.0.0.3");
    let joined = alice.join_guest("alice");
    assert_eq!(
        (joined["protocol"].as_u64(), joined["you"]["role"].as_str()),
        (Some(1), Some("viewer"))
    );
    bob.join_guest("bob");
    let joined = streamer.join_token(&streamer_token);
    assert_eq!(
        joined["you"],
        json!({"name": "talk", "role": "streamer", "banned": false, "follower": false})
    );
    assert_eq!(joined["viewers"], 3);

    alice.say("hi <b>all</b>");
    std::thread::sleep(Duration::from_millis(50));
    bob.say("hey");
    std::thread::sleep(Duration::from_millis(50));
    streamer.say("welcome");
    let seen: Vec<Vec<Value>> = [&mut alice, &mut bob, &mut streamer]
        .into_iter()
        .map(|c| messages(c, 3))
        .collect();
    assert_eq!(ids(&seen[0]), ids(&seen[1]));
    assert_eq!(ids(&seen[0]), ids(&seen[2]));
    let offsets: Vec<u64> = seen[0]
        .iter()
        .map(|m| m["offset"].as_u64().unwrap())
        .collect();
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
    // No markup reaches another client.
    assert_eq!(seen[1][0]["text"], "hi &lt;b&gt;all&lt;/b&gt;");
    assert_eq!(
        seen[0][2]["user"],
        json!({"name": "talk", "role": "streamer"})
    );
    assert!(seen[0][0]["ts"].as_i64().unwrap() > 1_700_000_000_000);

    // Names: the streamer's is reserved, a taken one is refused, both with their reason.
    let mut eve = ChatClient::connect(&server, "talk", "127.0.0.4");
    eve.send(json!({"type": "join", "name": "Talk"}));
    assert_eq!(eve.recv_type("error", T)["reason"], "name_reserved");
    eve.send(json!({"type": "join", "name": "ALICE"}));
    assert_eq!(eve.recv_type("error", T)["reason"], "name_taken");
    eve.send(json!({"type": "join", "name": "eve", "token": "v1.talk.x.streamer.9999999999.00"}));
    assert_eq!(eve.recv_type("error", T)["reason"], "bad_token");
    eve.join_guest("eve");
    // Presence: the room reports its viewer count (at most every 5 s, when it changed).
    let presence = alice.recv_type("presence", Duration::from_secs(8));
    assert!(presence["viewers"].as_u64().unwrap() >= 3, "{presence}");

    let history = server.get("/api/v1/channels/talk/chat?limit=10", &[]);
    let history: Value = serde_json::from_slice(&history.body).unwrap();
    assert_eq!(ids(history["messages"].as_array().unwrap()), ids(&seen[0]));
    let stats: Value =
        serde_json::from_slice(&server.get("/api/v1/channels/talk/chat/stats", &[]).body).unwrap();
    assert_eq!(stats["viewers"], 4);
    assert_eq!(
        server.metric("ferrocast_chat_messages_in_total{channel=\"talk\"}"),
        Some(3.0)
    );
    assert_eq!(
        server.metric("ferrocast_chat_refusals_total{reason=\"name_taken\"}"),
        Some(1.0)
    );
    wait_for("message rate signal", T, || {
        server
            .metric("ferrocast_chat_message_rate{channel=\"talk\"}")
            .filter(|r| *r > 0.0)
    });
    assert_eq!(server.get("/chat/nope", &[]).status, 404);
    assert_eq!(server.get("/chat/talk", &[]).status, 400);
    // Bad history and stats requests get a 4xx with a JSON reason.
    for bad in ["?before=xyz", "?limit=many", "?since=3"] {
        let r = server.get(&format!("/api/v1/channels/talk/chat{bad}"), &[]);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (r.status, body["error"].as_str()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }
    assert_eq!(server.get("/api/v1/channels/nope/chat", &[]).status, 404);
    assert_eq!(
        server.get("/api/v1/channels/nope/chat/stats", &[]).status,
        404
    );
}

#[test]
fn moderation_timeout_ban_slow_mode_and_delete() {
    let server = Server::start("chat-mod", &[]);
    let channel = server.create_channel("mod");
    let key = channel["stream_key"].as_str().unwrap().to_owned();
    // The streamer (holding the stream key) appoints a moderator; a wrong key cannot.
    let (status, _) = server.api_with_token(
        "PUT",
        "/api/v1/channels/mod/chat/moderators/mia",
        None,
        Some(&key),
    );
    assert_eq!(status, 204);
    let (status, _) = server.api_with_token(
        "PUT",
        "/api/v1/channels/mod/chat/moderators/x1",
        None,
        Some("sk_wrong"),
    );
    assert_eq!(status, 401);
    let mia_token = token(&server, "mod", "mia", "moderator");
    let (status, body) = server.api(
        "POST",
        "/api/v1/channels/mod/chat/tokens",
        Some(json!({"name": "notmod", "role": "moderator"})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("not_a_moderator"))
    );

    let mut alice = ChatClient::connect(&server, "mod", "127.0.0.1");
    let mut bob = ChatClient::connect(&server, "mod", "127.0.0.2");
    let mut mia = ChatClient::connect(&server, "mod", "127.0.0.3");
    alice.join_guest("alice");
    bob.join_guest("bob");
    assert_eq!(mia.join_token(&mia_token)["you"]["role"], "moderator");

    let spam = bob.say_and_wait("buy followers");
    mia.send(json!({"type": "delete", "id": spam["id"]}));
    let deleted = alice.recv_type("delete", T);
    assert_eq!(deleted["target"], spam["id"]);
    assert_eq!(deleted["by"], "mia");

    // A viewer cannot moderate.
    alice.send(json!({"type": "clear"}));
    assert_eq!(alice.recv_type("error", T)["reason"], "forbidden");

    // Timeout: refused with its reason, then released.
    mia.send(json!({"type": "timeout", "user": "bob", "seconds": 1}));
    assert_eq!(alice.recv_type("timeout", T)["user"], "bob");
    let refused = bob.say_and_wait("let me talk");
    assert_eq!(refused["reason"], "timed_out");
    assert!(refused["retry_after_ms"].as_u64().unwrap() <= 1000);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(bob.say_and_wait("back")["type"], "message");

    // Ban through the REST API with the stream key: it follows bob's address across names.
    let (status, body) = server.api_with_token(
        "POST",
        "/api/v1/channels/mod/chat/actions",
        Some(json!({"type": "ban", "user": "bob", "reason": "spam"})),
        Some(&key),
    );
    assert_eq!((status, body["type"].as_str()), (200, Some("ban")));
    assert_eq!(alice.recv_type("ban", T)["user"], "bob");
    assert_eq!(bob.say_and_wait("still here?")["reason"], "banned");
    drop(bob);
    let mut bobby = ChatClient::connect(&server, "mod", "127.0.0.2");
    assert_eq!(bobby.join_guest("bobby")["you"]["banned"], true);
    assert_eq!(bobby.say_and_wait("new name")["reason"], "banned");
    assert_eq!(alice.say_and_wait("unaffected")["type"], "message");

    // Slow mode from the moderator's socket; moderators are exempt.
    let mut zed = ChatClient::connect(&server, "mod", "127.0.0.9");
    zed.join_guest("zed");
    mia.send(json!({"type": "slow", "seconds": 2}));
    assert_eq!(zed.recv_type("slow", T)["seconds"], 2);
    assert_eq!(zed.say_and_wait("one")["type"], "message");
    let refused = zed.say_and_wait("two");
    assert_eq!(refused["reason"], "slow_mode");
    assert!(refused["retry_after_ms"].as_u64().unwrap() > 1000);
    assert_eq!(mia.say_and_wait("mods are exempt")["type"], "message");
    let again = mia.say_and_wait("really");
    assert_eq!(again["type"], "message", "{again}");

    let (status, _) = server.api(
        "POST",
        "/api/v1/channels/mod/chat/actions",
        Some(json!({"type": "unban", "user": "bob"})),
    );
    assert_eq!(status, 200);
    alice.recv_type("unban", T);
    assert_eq!(bobby.say_and_wait("free again")["type"], "message");
    let (status, body) = server.api(
        "POST",
        "/api/v1/channels/mod/chat/actions",
        Some(json!({"type": "dance"})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unknown_type"))
    );
    // Dismissing a moderator takes effect at once.
    let (status, _) = server.api("DELETE", "/api/v1/channels/mod/chat/moderators/mia", None);
    assert_eq!(status, 204);
    mia.send(json!({"type": "clear"}));
    assert_eq!(mia.recv_type("error", T)["reason"], "forbidden");
}

#[test]
fn reconnect_with_an_offset_recovers_exactly_the_missed_messages_even_across_a_restart() {
    let mut server = Server::start("chat-recover", &[]);
    server.create_channel("rec");
    let mut alice = ChatClient::connect(&server, "rec", "127.0.0.1");
    alice.join_guest("alice");
    let mut carol = ChatClient::connect(&server, "rec", "127.0.0.2");
    let joined = carol.join_guest("carol");
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    for i in 0..3 {
        alice.say(&format!("before {i}"));
    }
    let seen = messages(&mut carol, 3);
    let last = seen[2]["offset"].as_u64().unwrap();
    drop(carol);
    let missed: Vec<String> = (0..5)
        .map(|i| {
            alice.say_and_wait(&format!("missed {i}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();

    let mut carol = ChatClient::connect(&server, "rec", "127.0.0.2");
    carol.send(json!({"type": "join", "name": "carol", "epoch": epoch, "since": last}));
    let joined = carol.recv_type("joined", T);
    assert_eq!(joined["recovered"], true);
    assert_eq!(ids(joined["backlog"].as_array().unwrap()), missed);
    // Nothing is delivered twice after the recovered backlog.
    alice.say("after");
    assert_eq!(carol.recv_type("message", T)["text"], "after");
    drop(carol);

    let mut dave = ChatClient::connect(&server, "rec", "127.0.0.3");
    dave.send(json!({"type": "join", "name": "dave", "epoch": "wrong", "since": 2}));
    let joined = dave.recv_type("joined", T);
    assert_eq!(joined["recovered"], false);
    assert_eq!(joined["backlog"].as_array().unwrap().len(), 9);
    drop((alice, dave));

    // History, epoch and offsets survive a restart; so does recovery.
    assert!(server.terminate(Duration::from_secs(10)));
    let server = Server::start_in(server.data_dir.clone(), &[]);
    let history: Value =
        serde_json::from_slice(&server.get("/api/v1/channels/rec/chat", &[]).body).unwrap();
    assert_eq!(history["messages"].as_array().unwrap().len(), 9);
    let before = &missed[2];
    let older: Value = serde_json::from_slice(
        &server
            .get(
                &format!("/api/v1/channels/rec/chat?before={before}&limit=2"),
                &[],
            )
            .body,
    )
    .unwrap();
    let texts: Vec<&str> = older["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["missed 0", "missed 1"]);
    let mut carol = ChatClient::connect(&server, "rec", "127.0.0.2");
    carol.send(json!({"type": "join", "name": "carol", "epoch": epoch, "since": last + 3}));
    let joined = carol.recv_type("joined", T);
    assert_eq!(joined["recovered"], true);
    assert_eq!(joined["epoch"], epoch.as_str());
    assert_eq!(joined["backlog"].as_array().unwrap().len(), 3);
    let next = carol.say_and_wait("after restart");
    assert_eq!(next["offset"].as_u64(), Some(last + 7));
}

#[test]
fn limits_refuse_with_machine_readable_reasons_and_keep_the_connection() {
    let server = Server::start("chat-limits", &[]);
    server.create_channel("lim");
    let mut alice = ChatClient::connect(&server, "lim", "127.0.0.1");
    alice.join_guest("alice");
    for i in 0..20 {
        assert_eq!(alice.say_and_wait(&format!("m{i}"))["type"], "message");
    }
    let refused = alice.say_and_wait("one too many");
    assert_eq!(refused["reason"], "rate_limited");
    assert!(refused["retry_after_ms"].as_u64().unwrap() > 0);
    let mut bob = ChatClient::connect(&server, "lim", "127.0.0.2");
    bob.join_guest("bob");
    assert_eq!(bob.say_and_wait("same text")["type"], "message");
    assert_eq!(bob.say_and_wait("same text")["reason"], "duplicate");
    assert_eq!(bob.say_and_wait(&"x".repeat(501))["reason"], "too_long");
    // A frame over the protocol's 4 KiB (but under the hard limit) is refused, not fatal.
    bob.send(json!({"type": "send", "text": "y".repeat(10_000)}));
    assert_eq!(bob.recv_type("error", T)["reason"], "too_long");
    assert_eq!(bob.say_and_wait("still connected")["type"], "message");
}

#[test]
fn adversarial_clients_never_disturb_the_room() {
    let server = Server::start("chat-adversarial", &["--chat-heartbeat", "400ms"]);
    server.create_channel("adv");
    let mut alice = ChatClient::connect(&server, "adv", "127.0.0.1");
    alice.join_guest("alice");

    // Garbage before auth: each gets its reason, and the connection can still join.
    let mut g = ChatClient::connect(&server, "adv", "127.0.0.2");
    g.send_raw(Message::binary(vec![0xff, 0x00, 0x13]));
    assert_eq!(g.recv_type("error", T)["reason"], "bad_request");
    g.send_raw(Message::text("not json at all"));
    assert_eq!(g.recv_type("error", T)["reason"], "bad_request");
    g.send_raw(Message::text(r#"{"type":"jo"#));
    assert_eq!(g.recv_type("error", T)["reason"], "bad_request");
    g.send(json!({"type": "send", "text": "before join"}));
    assert_eq!(g.recv_type("error", T)["reason"], "not_joined");
    g.join_guest("garbage");
    g.send(json!({"type": "teleport"}));
    assert_eq!(g.recv_type("error", T)["reason"], "unknown_type");
    g.send(json!({"type": "send", "text": 42}));
    assert_eq!(g.recv_type("error", T)["reason"], "bad_request");

    // A million-character name is over the hard frame limit: the connection is closed.
    let mut huge = ChatClient::connect(&server, "adv", "127.0.0.3");
    huge.send_raw(Message::text(
        json!({"type": "join", "name": "n".repeat(1_000_000)}).to_string(),
    ));
    // 1009 when the close frame arrives before the reset of our unfinished write, else 1006.
    let code = huge.wait_closed(T);
    assert!(matches!(code, Some(1009 | 1006)), "{code:?}");

    // A flood of commands: refused, then the connection is closed.
    let mut flood = ChatClient::connect(&server, "adv", "127.0.0.4");
    flood.join_guest("flooder");
    for _ in 0..400 {
        if !flood.send_raw(Message::text(r#"{"type":"ping"}"#)) {
            break;
        }
    }
    // 1008, or 1006 when our unread flood made the close a reset.
    let code = flood.wait_closed(T);
    assert!(matches!(code, Some(1008 | 1006)), "{code:?}");

    // A client that never answers pings is dropped after 2.5 heartbeats.
    let mut mute = ChatClient::connect(&server, "adv", "127.0.0.5");
    mute.join_guest("mute");
    wait_for("silent client dropped", T, || {
        // Reading answers the server's pings: these two stay alive while `mute` goes silent.
        let _ = alice.recv(Duration::from_millis(20));
        let _ = g.recv(Duration::from_millis(20));
        server
            .metric("ferrocast_chat_disconnects_total{reason=\"heartbeat\"}")
            .filter(|n| *n >= 1.0)
    });
    assert!(mute.wait_closed(T).is_some());

    // Raw garbage on the HTTP port, and a plain GET of the socket URL, get a 400.
    let mut raw = tcp_from(&server, "127.0.0.6", None);
    raw.write_all(b"\x16\x03\x01garbage\r\n\r\n").unwrap();
    assert_eq!(
        server.get("/chat/adv", &[("Upgrade", "websocket")]).status,
        400
    );

    // Through all of it the room kept working and the server stayed up.
    assert_eq!(alice.say_and_wait("still fine")["type"], "message");
    assert_eq!(g.recv_type("message", T)["text"], "still fine");
    assert_eq!(fetch("GET", &server.url("/healthz"), &[]).status, 200);
}

#[test]
fn a_client_that_stops_reading_is_dropped_without_delaying_others() {
    let server = Server::start("chat-slow", &[]);
    server.create_channel("slow");
    let senders: Vec<String> = ["m1", "m2", "m3"]
        .iter()
        .map(|m| {
            assert_eq!(
                server
                    .api(
                        "PUT",
                        &format!("/api/v1/channels/slow/chat/moderators/{m}"),
                        None
                    )
                    .0,
                204
            );
            token(&server, "slow", m, "moderator")
        })
        .collect();
    let mut fast = ChatClient::connect(&server, "slow", "127.0.0.1");
    fast.join_guest("fast");
    let mut stuck = ChatClient::connect_with(&server, "slow", "127.0.0.2", Some(2048));
    stuck.join_guest("stuck");
    let mut writers: Vec<ChatClient> = senders
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut c = ChatClient::connect(&server, "slow", &format!("127.0.1.{i}"));
            c.join_token(t);
            c
        })
        .collect();
    let filler = "z".repeat(450);
    let mut sent_at = Vec::new();
    for i in 0..270 {
        writers[i % 3].say(&format!("{i} {filler}"));
        sent_at.push(Instant::now());
        std::thread::sleep(Duration::from_millis(4));
    }
    // The fast reader gets every message promptly while the stuck one holds nothing up.
    let mut worst = Duration::ZERO;
    let mut seen = std::collections::BTreeSet::new();
    let mut last_offset = 0;
    for _ in 0..270 {
        let m = fast.recv_type("message", T);
        let offset = m["offset"].as_u64().unwrap();
        assert!(offset > last_offset, "one order");
        last_offset = offset;
        let i: usize = m["text"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen.insert(i), "no duplicates");
        worst = worst.max(sent_at[i].elapsed());
    }
    assert!(worst < Duration::from_secs(2), "slowest delivery {worst:?}");
    wait_for("slow consumer dropped", Duration::from_secs(15), || {
        server
            .metric("ferrocast_chat_slow_consumer_disconnects_total")
            .filter(|n| *n >= 1.0)
    });
    assert_eq!(stuck.wait_closed(Duration::from_secs(10)), Some(4000));
}
