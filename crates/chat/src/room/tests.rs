use super::*;
use crate::protocol::{decode, ModAction};
use serde_json::{json, Value};

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
const C: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3));

fn room() -> Room {
    Room::new(
        "streamer",
        RoomConfig::default(),
        RoomSeed {
            epoch: "e1".into(),
            moderators: vec!["Mod1".into()],
            ..RoomSeed::default()
        },
        0,
    )
}

fn guest(room: &mut Room, conn: u64, name: &str, ip: IpAddr) -> JoinOutcome {
    room.join(conn, Credential::Guest { name: name.into() }, ip, None)
        .unwrap()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn say(room: &mut Room, now: i64, conn: u64, text: &str) -> Result<(), Reason> {
    room.command(now, conn, ClientCommand::Send { text: text.into() })
        .map(|_| ())
        .map_err(|r| r.reason)
}

/// The events of a batch frame, whether alone or batched.
fn events(batch: &Batch) -> Vec<Value> {
    let v = json(&batch.frame);
    if v["type"] == "batch" {
        v["events"].as_array().unwrap().clone()
    } else {
        vec![v]
    }
}

#[test]
fn one_order_for_everyone_with_monotonic_offsets_and_unique_ids() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    guest(&mut r, 2, "bob", B);
    for i in 0..5 {
        say(&mut r, i * 10, 1 + (i as u64 % 2), &format!("m{i}")).unwrap();
    }
    let batch = r.take_batch().unwrap();
    let evs = events(&batch);
    assert_eq!(evs.len(), 5);
    let offsets: Vec<u64> = evs.iter().map(|e| e["offset"].as_u64().unwrap()).collect();
    assert_eq!(offsets, vec![1, 2, 3, 4, 5]);
    assert_eq!(evs[0]["id"], "e1-1");
    assert_eq!(evs[1]["user"]["name"], "bob");
    assert_eq!((batch.first_offset, batch.last_offset), (1, 5));
    assert!(r.take_batch().is_none());
    // A single event goes out as itself, not wrapped.
    say(&mut r, 100, 1, "alone").unwrap();
    assert_eq!(json(&r.take_batch().unwrap().frame)["type"], "message");
}

#[test]
fn join_sends_state_and_backlog_of_flushed_messages_only() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    for i in 0..60 {
        say(&mut r, i * 2000, 1, &format!("m{i}")).unwrap();
        r.take_batch();
    }
    say(&mut r, 200_000, 1, "unflushed").unwrap();
    let j = guest(&mut r, 2, "bob", B);
    let v = json(&j.frame);
    assert_eq!(v["type"], "joined");
    assert_eq!(v["protocol"], 1);
    assert_eq!(v["you"]["name"], "bob");
    assert_eq!(v["viewers"], 2);
    let backlog = v["backlog"].as_array().unwrap();
    assert_eq!(backlog.len(), 50);
    assert_eq!(backlog.last().unwrap()["text"], "m59");
    assert_eq!(j.offset, 60);
    // The unflushed message reaches bob through the next batch, which ends after his offset.
    assert!(r.take_batch().unwrap().last_offset > j.offset);
}

#[test]
fn recovery_gives_exactly_the_missed_events_or_says_it_cannot() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    for i in 0..10 {
        say(&mut r, i * 2000, 1, &format!("m{i}")).unwrap();
    }
    r.take_batch();
    let since = |r: &mut Room, conn, epoch: &str, offset| {
        r.join(
            conn,
            Credential::Guest { name: "bob".into() },
            B,
            Some((epoch.into(), offset)),
        )
        .unwrap()
    };
    let j = since(&mut r, 2, "e1", 7);
    assert_eq!(j.recovered, Some(true));
    let missed: Vec<u64> = json(&j.frame)["backlog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(missed, vec![8, 9, 10]);
    r.leave(2);
    let j = since(&mut r, 3, "e1", 10);
    assert_eq!(j.recovered, Some(true));
    assert_eq!(json(&j.frame)["backlog"].as_array().unwrap().len(), 0);
    r.leave(3);
    let j = since(&mut r, 4, "other-epoch", 7);
    assert_eq!(j.recovered, Some(false));
    assert_eq!(json(&j.frame)["backlog"].as_array().unwrap().len(), 10);
    r.leave(4);
    // A client claiming more than was ever sent cannot be recovered either.
    assert_eq!(since(&mut r, 5, "e1", 99).recovered, Some(false));
}

#[test]
fn recovery_fails_when_the_gap_is_older_than_the_ring() {
    let mut r = Room::new(
        "streamer",
        RoomConfig {
            recovery_events: 5,
            duplicate_window_ms: 0,
            ..RoomConfig::default()
        },
        RoomSeed {
            epoch: "e".into(),
            ..RoomSeed::default()
        },
        0,
    );
    guest(&mut r, 1, "alice", A);
    for i in 0..10 {
        say(&mut r, i * 2000, 1, &format!("m{i}")).unwrap();
    }
    r.take_batch();
    let try_since = |r: &mut Room, conn, offset| {
        let j = r
            .join(
                conn,
                Credential::Guest { name: "bob".into() },
                B,
                Some(("e".into(), offset)),
            )
            .unwrap();
        r.leave(conn);
        j.recovered
    };
    assert_eq!(try_since(&mut r, 2, 5), Some(true)); // 6..=10 are in the ring
    assert_eq!(try_since(&mut r, 3, 4), Some(false)); // 5 is gone
}

#[test]
fn names_are_validated_unique_and_not_impersonating() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    let refuse = |r: &mut Room, conn, name: &str, ip| {
        r.join(conn, Credential::Guest { name: name.into() }, ip, None)
            .unwrap_err()
            .reason
    };
    assert_eq!(refuse(&mut r, 2, "ALICE", B), Reason::NameTaken);
    assert_eq!(refuse(&mut r, 2, "Streamer", B), Reason::NameReserved);
    assert_eq!(refuse(&mut r, 2, "mod1", B), Reason::NameReserved);
    assert_eq!(refuse(&mut r, 2, "admin", B), Reason::NameReserved);
    assert_eq!(
        refuse(&mut r, 2, &"x".repeat(1_000_000), B),
        Reason::InvalidName
    );
    assert_eq!(refuse(&mut r, 2, "<script>", B), Reason::InvalidName);
    // The same guest reconnecting from the same address keeps the name.
    guest(&mut r, 3, "alice", A);
    // Tokens prove roles; a moderator token only works while appointed.
    let verified = |r: &mut Room, conn, name: &str, role| {
        r.join(
            conn,
            Credential::Verified {
                name: name.into(),
                role,
                follower: false,
            },
            C,
            None,
        )
    };
    assert_eq!(
        verified(&mut r, 4, "streamer", Role::Streamer)
            .unwrap()
            .role,
        Role::Streamer
    );
    assert_eq!(
        verified(&mut r, 5, "mod1", Role::Moderator).unwrap().role,
        Role::Moderator
    );
    assert_eq!(
        verified(&mut r, 6, "bob", Role::Moderator)
            .unwrap_err()
            .reason,
        Reason::Forbidden
    );
    assert_eq!(
        verified(&mut r, 6, "bob", Role::Streamer)
            .unwrap_err()
            .reason,
        Reason::Forbidden
    );
    assert_eq!(
        r.command(
            0,
            5,
            ClientCommand::Join {
                name: None,
                token: None,
                since: None
            }
        )
        .unwrap_err()
        .reason,
        Reason::AlreadyJoined
    );
}

#[test]
fn rate_limit_slow_mode_and_duplicates_refuse_with_their_reason() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    for i in 0..20 {
        say(&mut r, 0, 1, &format!("m{i}")).unwrap();
    }
    let refusal = r
        .command(
            0,
            1,
            ClientCommand::Send {
                text: "one more".into(),
            },
        )
        .unwrap_err();
    assert_eq!(refusal.reason, Reason::RateLimited);
    assert_eq!(refusal.retry_after_ms, Some(1500));
    say(&mut r, 1500, 1, "refilled").unwrap();

    say(&mut r, 40_000, 1, "same").unwrap();
    assert_eq!(say(&mut r, 41_000, 1, "SAME"), Err(Reason::Duplicate));
    say(&mut r, 71_000, 1, "same").unwrap();

    let moderator = r
        .join(
            9,
            Credential::Verified {
                name: "mod1".into(),
                role: Role::Moderator,
                follower: false,
            },
            C,
            None,
        )
        .unwrap();
    assert_eq!(moderator.role, Role::Moderator);
    r.moderate(
        80_000,
        "mod1",
        Role::Moderator,
        ModAction::Slow { seconds: 10 },
    )
    .unwrap();
    say(&mut r, 82_000, 1, "first").unwrap();
    let refusal = r
        .command(
            87_000,
            1,
            ClientCommand::Send {
                text: "second".into(),
            },
        )
        .unwrap_err();
    assert_eq!(
        (refusal.reason, refusal.retry_after_ms),
        (Reason::SlowMode, Some(5000))
    );
    say(&mut r, 92_000, 1, "second").unwrap();
    // Moderators are exempt from slow mode.
    say(&mut r, 90_000, 9, "a").unwrap();
    say(&mut r, 90_001, 9, "b").unwrap();
    assert_eq!(say(&mut r, 0, 1, &"x".repeat(501)), Err(Reason::TooLong));
    assert_eq!(say(&mut r, 0, 1, " \n "), Err(Reason::Empty));
    assert_eq!(say(&mut r, 0, 42, "who am i"), Err(Reason::NotJoined));
}

#[test]
fn timeout_blocks_then_releases_and_hides_messages() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    guest(&mut r, 2, "bob", B);
    say(&mut r, 0, 2, "spam").unwrap();
    r.take_batch();
    assert_eq!(
        r.moderate(1000, "alice", Role::Viewer, ModAction::Clear)
            .unwrap_err()
            .reason,
        Reason::Forbidden
    );
    let ev = r
        .moderate(
            1000,
            "streamer",
            Role::Streamer,
            ModAction::Timeout {
                user: "bob".into(),
                seconds: 60,
                reason: Some("<b>calm</b>".into()),
            },
        )
        .unwrap();
    let v = json(&ev.json);
    assert_eq!(
        (v["type"].as_str(), v["user"].as_str()),
        (Some("timeout"), Some("bob"))
    );
    assert_eq!(v["reason"], "&lt;b&gt;calm&lt;/b&gt;");
    let refusal = r
        .command(
            31_000,
            2,
            ClientCommand::Send {
                text: "hello".into(),
            },
        )
        .unwrap_err();
    assert_eq!(
        (refusal.reason, refusal.retry_after_ms),
        (Reason::TimedOut, Some(30_000))
    );
    say(&mut r, 61_000, 2, "hello again").unwrap();
    r.take_batch();
    // The purge removed bob's old message from the backlog new joiners get.
    let j = guest(&mut r, 3, "carol", C);
    let texts: Vec<String> = json(&j.frame)["backlog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, vec!["hello again"]);
}

#[test]
fn ban_follows_the_address_across_names_until_unbanned() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    guest(&mut r, 2, "bob", B);
    r.moderate(
        0,
        "streamer",
        Role::Streamer,
        ModAction::Ban {
            user: "bob".into(),
            reason: None,
        },
    )
    .unwrap();
    assert_eq!(say(&mut r, 1, 2, "hi"), Err(Reason::Banned));
    r.leave(2);
    let j = guest(&mut r, 3, "bobby", B);
    assert_eq!(json(&j.frame)["you"]["banned"], true);
    assert_eq!(say(&mut r, 2, 3, "i am new"), Err(Reason::Banned));
    // Others on other addresses are not affected.
    say(&mut r, 3, 1, "still here").unwrap();
    // What a ban event stores, and a room resumed from it keeps the ban.
    assert_eq!(r.banned_ips("bob"), Some(&[B][..]));
    let mut resumed = Room::new(
        "streamer",
        RoomConfig::default(),
        RoomSeed {
            epoch: "e1".into(),
            bans: vec![BanSeed {
                identity: "bob".into(),
                ips: vec![B],
            }],
            ..RoomSeed::default()
        },
        0,
    );
    guest(&mut resumed, 7, "bobbie", B);
    assert_eq!(say(&mut resumed, 1, 7, "again"), Err(Reason::Banned));
    r.moderate(
        4,
        "streamer",
        Role::Streamer,
        ModAction::Unban { user: "bob".into() },
    )
    .unwrap();
    say(&mut r, 5, 3, "free").unwrap();
    assert_eq!(
        r.moderate(
            6,
            "streamer",
            Role::Streamer,
            ModAction::Unban { user: "bob".into() }
        )
        .unwrap_err()
        .reason,
        Reason::NotFound
    );
}

#[test]
fn who_may_moderate_whom() {
    let mut r = room();
    let m = |r: &mut Room, by_role, user: &str| {
        r.moderate(
            0,
            "x",
            by_role,
            ModAction::Ban {
                user: user.into(),
                reason: None,
            },
        )
        .map(|_| ())
        .map_err(|e| e.reason)
    };
    assert_eq!(
        m(&mut r, Role::Moderator, "streamer"),
        Err(Reason::Forbidden)
    );
    assert_eq!(m(&mut r, Role::Moderator, "mod1"), Err(Reason::Forbidden));
    assert_eq!(m(&mut r, Role::Streamer, "mod1"), Ok(()));
    assert_eq!(m(&mut r, Role::Moderator, "nobody_yet"), Ok(()));
    assert_eq!(
        r.moderate(
            0,
            "x",
            Role::Streamer,
            ModAction::Delete {
                id: "e1-999".into()
            }
        )
        .unwrap_err()
        .reason,
        Reason::NotFound
    );
    assert_eq!(
        r.moderate(0, "x", Role::Streamer, ModAction::Slow { seconds: 100_000 })
            .unwrap_err()
            .reason,
        Reason::BadRequest
    );
}

#[test]
fn delete_and_clear_are_ordered_events_applied_by_recovery() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    say(&mut r, 0, 1, "one").unwrap();
    say(&mut r, 1, 1, "two").unwrap();
    r.take_batch();
    let ev = r
        .moderate(
            2,
            "streamer",
            Role::Streamer,
            ModAction::Delete { id: "e1-1".into() },
        )
        .unwrap();
    assert_eq!(ev.offset, 3);
    r.take_batch();
    let j = r
        .join(
            2,
            Credential::Guest { name: "bob".into() },
            B,
            Some(("e1".into(), 2)),
        )
        .unwrap();
    let backlog = json(&j.frame)["backlog"].clone();
    assert_eq!(backlog[0]["type"], "delete");
    assert_eq!(backlog[0]["target"], "e1-1");
    let fresh = guest(&mut r, 3, "carol", C);
    let texts = json(&fresh.frame)["backlog"].as_array().unwrap().len();
    assert_eq!(texts, 1);
    r.moderate(3, "streamer", Role::Streamer, ModAction::Clear)
        .unwrap();
    r.take_batch();
    r.leave(3);
    let fresh = guest(&mut r, 3, "carol", C);
    assert_eq!(json(&fresh.frame)["backlog"].as_array().unwrap().len(), 0);
}

#[test]
fn a_restarted_room_continues_offsets_and_keeps_recovery_and_timeouts() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    say(&mut r, 0, 1, "before restart").unwrap();
    r.moderate(
        0,
        "streamer",
        Role::Streamer,
        ModAction::Timeout {
            user: "alice".into(),
            seconds: 60,
            reason: None,
        },
    )
    .unwrap();
    let stored: Vec<Event> = r
        .take_batch()
        .unwrap()
        .events
        .iter()
        .map(|e| (**e).clone())
        .collect();
    let seed = RoomSeed {
        epoch: "e1".into(),
        last_offset: 2,
        events: stored,
        ..RoomSeed::default()
    };
    let mut r2 = Room::new("streamer", RoomConfig::default(), seed, 10_000);
    let j = r2
        .join(
            1,
            Credential::Guest {
                name: "alice".into(),
            },
            A,
            Some(("e1".into(), 1)),
        )
        .unwrap();
    assert_eq!(j.recovered, Some(true));
    assert_eq!(say(&mut r2, 20_000, 1, "x"), Err(Reason::TimedOut));
    say(&mut r2, 61_000, 1, "after").unwrap();
    assert_eq!(r2.take_batch().unwrap().first_offset, 3);
}

#[test]
fn upkeep_forgets_idle_users() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    say(&mut r, 0, 1, "x").unwrap();
    assert_eq!(r.users.len(), 1);
    r.upkeep(10_000);
    assert_eq!(r.users.len(), 1);
    r.upkeep(100_000);
    assert_eq!(r.users.len(), 0);
    assert!(decode(r#"{"type":"ping"}"#).is_ok());
    assert_eq!(
        r.command(0, 1, ClientCommand::Ping).unwrap().as_deref(),
        Some(&br#"{"type":"pong"}"#[..])
    );
}

#[test]
fn a_long_reason_is_cut_before_it_is_escaped() {
    let mut r = room();
    guest(&mut r, 1, "alice", A);
    let reason = format!("{}&", "x".repeat(crate::protocol::MAX_REASON_CHARS - 1));
    let ev = r
        .moderate(
            0,
            "streamer",
            Role::Streamer,
            ModAction::Ban {
                user: "alice".into(),
                reason: Some(reason + " and more"),
            },
        )
        .unwrap();
    let text = json(&ev.json)["reason"].as_str().unwrap().to_owned();
    assert!(text.ends_with("x&amp;"), "{text}");
    assert_eq!(
        text.len(),
        crate::protocol::MAX_REASON_CHARS - 1 + "&amp;".len()
    );
}

/// A signed-in account (a verified token) joining.
fn account(room: &mut Room, conn: u64, name: &str, role: Role, follower: bool) -> JoinOutcome {
    room.join(
        conn,
        Credential::Verified {
            name: name.into(),
            role,
            follower,
        },
        C,
        None,
    )
    .unwrap()
}

#[test]
fn followers_only_lets_followers_moderators_and_the_streamer_post() {
    let mut r = room();
    assert!(!r.followers_only());
    guest(&mut r, 1, "guest1", A);
    account(&mut r, 2, "fan", Role::Viewer, true);
    account(&mut r, 3, "lurker", Role::Viewer, false);
    account(&mut r, 4, "mod1", Role::Moderator, false);
    account(&mut r, 5, "streamer", Role::Streamer, false);
    // Off: everyone talks.
    for conn in 1..=5 {
        say(&mut r, conn as i64, conn, &format!("hello {conn}")).unwrap();
    }
    r.take_batch();
    // A viewer may not turn it on; a moderator may.
    let by_viewer = r.command(10, 2, decode(r#"{"type":"followers","on":true}"#).unwrap());
    assert_eq!(by_viewer.unwrap_err().reason, Reason::Forbidden);
    assert!(!r.followers_only());
    r.command(10, 4, decode(r#"{"type":"followers","on":true}"#).unwrap())
        .unwrap();
    assert!(r.followers_only());
    let ev = events(&r.take_batch().unwrap());
    assert_eq!(
        (&ev[0]["type"], &ev[0]["on"], &ev[0]["by"]),
        (&json!("followers"), &json!(true), &json!("mod1"))
    );
    // On: guests and accounts that do not follow are refused, politely.
    let refusal = r
        .command(20, 1, ClientCommand::Send { text: "hi".into() })
        .unwrap_err();
    assert_eq!(refusal.reason, Reason::FollowersOnly);
    assert_eq!(
        refusal.message,
        "Only followers can chat: follow streamer to join in"
    );
    assert_eq!(say(&mut r, 20, 3, "me too"), Err(Reason::FollowersOnly));
    say(&mut r, 20, 2, "i follow").unwrap();
    say(&mut r, 20, 4, "i moderate").unwrap();
    say(&mut r, 20, 5, "my channel").unwrap();
    // New joiners learn the mode from `joined`, and whether their token says they follow.
    let j = json(&account(&mut r, 6, "newfan", Role::Viewer, true).frame);
    assert_eq!(
        (&j["followers_only"], &j["guests"], &j["you"]["follower"]),
        (&json!(true), &json!(true), &json!(true))
    );
    // The streamer turns it off again: everyone talks.
    r.moderate(
        30,
        "streamer",
        Role::Streamer,
        ModAction::Followers { on: false },
    )
    .unwrap();
    assert!(!r.followers_only());
    say(&mut r, 40, 1, "free again").unwrap();
    say(&mut r, 40, 3, "me too").unwrap();
}

#[test]
fn guests_off_turns_new_guests_away_and_silences_those_already_in() {
    let mut r = room();
    assert!(r.guests_allowed());
    guest(&mut r, 1, "early", A);
    account(&mut r, 2, "carol", Role::Viewer, false);
    // Only the streamer and moderators may change it.
    assert_eq!(
        r.moderate(
            0,
            "carol",
            Role::Viewer,
            ModAction::Guests { allowed: false }
        )
        .unwrap_err()
        .reason,
        Reason::Forbidden
    );
    let ev = r
        .moderate(
            0,
            "streamer",
            Role::Streamer,
            ModAction::Guests { allowed: false },
        )
        .unwrap();
    assert_eq!(
        json(&ev.json),
        json!({"id": "e1-1", "offset": 1, "ts": 0, "type": "guests", "allowed": false, "by": "streamer"})
    );
    assert!(!r.guests_allowed());
    r.take_batch();
    // A new guest is refused at the door, recovering or not.
    let refused = r
        .join(
            3,
            Credential::Guest {
                name: "late".into(),
            },
            B,
            None,
        )
        .unwrap_err();
    assert_eq!(
        (refused.reason, refused.message.as_str()),
        (Reason::GuestsNotAllowed, "Log in to chat in this channel")
    );
    assert_eq!(
        r.join(
            3,
            Credential::Guest {
                name: "late".into()
            },
            B,
            Some(("e1".into(), 1))
        )
        .unwrap_err()
        .reason,
        Reason::GuestsNotAllowed
    );
    // The guest already in stays, reads, but cannot post; accounts talk.
    assert_eq!(r.viewers(), 2);
    assert_eq!(
        say(&mut r, 1, 1, "still here"),
        Err(Reason::GuestsNotAllowed)
    );
    say(&mut r, 1, 2, "signed in").unwrap();
    let j = json(&account(&mut r, 4, "dave", Role::Viewer, false).frame);
    assert_eq!(
        (&j["guests"], &j["followers_only"], &j["you"]["follower"]),
        (&json!(false), &json!(false), &json!(false))
    );
    // Both modes: a guest is told to log in (the first step), an account to follow.
    r.moderate(
        2,
        "mod1",
        Role::Moderator,
        ModAction::Followers { on: true },
    )
    .unwrap();
    assert_eq!(say(&mut r, 3, 1, "hm"), Err(Reason::GuestsNotAllowed));
    assert_eq!(say(&mut r, 3, 2, "hm"), Err(Reason::FollowersOnly));
    // Guests back: the early guest may post again and new ones may join.
    r.moderate(
        4,
        "mod1",
        Role::Moderator,
        ModAction::Followers { on: false },
    )
    .unwrap();
    r.moderate(
        4,
        "mod1",
        Role::Moderator,
        ModAction::Guests { allowed: true },
    )
    .unwrap();
    say(&mut r, 5, 1, "back").unwrap();
    guest(&mut r, 5, "late", B);
    assert_eq!(
        serde_json::to_value(Reason::GuestsNotAllowed).unwrap(),
        json!("guests_not_allowed")
    );
    assert_eq!(Reason::FollowersOnly.as_str(), "followers_only");
}

#[test]
fn modes_come_back_from_the_seed_and_from_stored_events() {
    // From the stored room state.
    let mut r = Room::new(
        "streamer",
        RoomConfig::default(),
        RoomSeed {
            epoch: "e1".into(),
            followers_only: true,
            guests: false,
            ..RoomSeed::default()
        },
        0,
    );
    assert!(r.followers_only() && !r.guests_allowed());
    assert_eq!(
        r.join(1, Credential::Guest { name: "g1".into() }, A, None)
            .unwrap_err()
            .reason,
        Reason::GuestsNotAllowed
    );
    let j = json(&account(&mut r, 2, "fan", Role::Viewer, true).frame);
    assert_eq!(
        (&j["followers_only"], &j["guests"]),
        (&json!(true), &json!(false))
    );
    say(&mut r, 0, 2, "hi").unwrap();
    // The default seed is a new room: guests welcome, followers-only off.
    let seed = RoomSeed::default();
    assert!(seed.guests && !seed.followers_only);
    // Stored events replayed on opening agree with (and here, override) the seed.
    r.moderate(
        1,
        "streamer",
        Role::Streamer,
        ModAction::Guests { allowed: true },
    )
    .unwrap();
    r.moderate(
        2,
        "streamer",
        Role::Streamer,
        ModAction::Followers { on: false },
    )
    .unwrap();
    let stored: Vec<Event> = r
        .take_batch()
        .unwrap()
        .events
        .iter()
        .map(|e| (**e).clone())
        .collect();
    assert_eq!(stored[1].kind.type_name(), "guests");
    assert_eq!(stored[2].kind.type_name(), "followers");
    let again: Vec<Event> = stored
        .iter()
        .map(|e| Event::from_json(std::str::from_utf8(&e.json).unwrap()).unwrap())
        .collect();
    assert_eq!(again, stored);
    let resumed = Room::new(
        "streamer",
        RoomConfig::default(),
        RoomSeed {
            epoch: "e1".into(),
            last_offset: 3,
            events: again,
            followers_only: true,
            guests: false,
            ..RoomSeed::default()
        },
        10,
    );
    assert!(!resumed.followers_only() && resumed.guests_allowed());
}
