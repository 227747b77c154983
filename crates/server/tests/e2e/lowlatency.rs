//! Low-Latency HLS through the real binary: parts in the playlist, blocking playlist reloads,
//! preload-hinted parts, delta updates, the limits on how far ahead a request may ask, and
//! `--part-duration off`.

use crate::harness::{stream_kinds, wait_for, Resp, Server};
use ferrocast_hls::validate::{validate_media_playlist, PlaylistFacts};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(40);
/// What a blocked request may take beyond the part it waits for: the frame that closes the part,
/// packaging, the HTTP round trip, and a busy two-core machine.
const SLACK: Duration = Duration::from_millis(300);

/// Parses and checks a playlist with the spec's rules, panicking with the violations. The looped
/// test input jumps its video timestamps forward by 11 ms at each loop point, which the packager
/// must absorb without a part exceeding PART-TARGET.
fn valid(text: &str) -> PlaylistFacts {
    validate_media_playlist(text).unwrap_or_else(|v| panic!("{v:?}\n{text}"))
}

/// The current playlist at `path`, checked.
fn playlist(s: &Server, path: &str) -> (String, PlaylistFacts) {
    let r = s.get(path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let facts = valid(&text);
    (text, facts)
}

/// (msn, part) of a part URI `SID/M.P.m4s`.
fn part_numbers(uri: &str) -> (u64, u64) {
    let file = uri.rsplit('/').next().unwrap();
    let (msn, part) = file.strip_suffix(".m4s").unwrap().split_once('.').unwrap();
    (msn.parse().unwrap(), part.parse().unwrap())
}

/// Whether the playlist lists this part URI in an `EXT-X-PART` tag.
fn lists_part(text: &str, uri: &str) -> bool {
    let attr = format!("URI=\"{uri}\"");
    text.lines()
        .any(|l| l.starts_with("#EXT-X-PART:") && l.contains(&attr))
}

fn error_code(r: &Resp) -> String {
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    body["error"].as_str().unwrap_or_default().to_owned()
}

fn part_target(facts: &PlaylistFacts) -> Duration {
    Duration::from_secs_f64(facts.part_target.expect("EXT-X-PART-INF"))
}

#[test]
fn low_latency_playlists_parts_blocking_reloads_and_delta_updates() {
    let s = Server::start("ll", &["--window", "10"]);
    let (_publisher, path) = s.go_live("ll");
    let dir = path.rsplit_once('/').unwrap().0.to_owned();

    // The playlist lists parts, hints the next one and advertises the delivery directives.
    let (text, facts) = wait_for("trailing parts", LONG, || {
        let (text, facts) = playlist(&s, &path);
        (!facts.trailing_parts.is_empty() && facts.segments.len() >= 2).then_some((text, facts))
    });
    for tag in [
        "#EXT-X-PART-INF:PART-TARGET=0.504",
        "#EXT-X-PART:",
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
    ] {
        assert!(text.contains(tag), "{tag} missing:\n{text}");
    }
    let target = part_target(&facts);
    let control = facts.server_control.clone().unwrap();
    assert!(control.can_block_reload);
    assert_eq!(control.can_skip_until, Some(12.0), "{text}");
    assert!(facts.segments.last().unwrap().parts.len() >= 3, "{text}");

    // A complete segment is exactly its parts, byte for byte.
    let last = facts.segments.last().unwrap();
    let whole = s.get(&format!("{dir}/{}", last.uri), &[]);
    assert_eq!(whole.status, 200);
    let mut joined = Vec::new();
    for part in &last.parts {
        let r = s.get(&format!("{dir}/{}", part.uri), &[]);
        assert_eq!(r.status, 200, "{}", part.uri);
        joined.extend_from_slice(&r.body);
    }
    assert_eq!(joined, whole.body, "segment {} = its parts", last.msn);

    // Blocking reload for the hinted part: answered as soon as it is listed.
    for _ in 0..4 {
        let (_, facts) = playlist(&s, &path);
        let hint = facts.preload_part_uri().expect("a preload hint").to_owned();
        let (msn, part) = part_numbers(&hint);
        let started = Instant::now();
        let r = s.get(&format!("{path}?_HLS_msn={msn}&_HLS_part={part}"), &[]);
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            took < target + SLACK,
            "blocking reload for {msn}.{part} took {took:?}"
        );
        let text = r.text();
        let reloaded = valid(&text);
        assert!(
            reloaded.last_position() >= Some((msn, Some(part))),
            "{msn}.{part}:\n{text}"
        );
        assert!(lists_part(&text, &hint), "{hint} listed:\n{text}");
        assert_eq!(r.header("cache-control"), Some("public, max-age=6"));
    }

    // The preload hint's URL is held until the part is complete, then serves its bytes.
    let (_, facts) = playlist(&s, &path);
    let hint = facts.preload_part_uri().unwrap().to_owned();
    let started = Instant::now();
    let r = s.get(&format!("{dir}/{hint}"), &[]);
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < target + SLACK, "hinted part {hint} took {took:?}");
    assert_eq!(&r.body[4..8], b"styp", "a part starts with styp");
    assert_eq!(r.header("content-type"), Some("video/iso.segment"));
    assert!(r.header("cache-control").unwrap().contains("immutable"));
    let etag = r.header("etag").unwrap().to_owned();
    let ranged = s.get(&format!("{dir}/{hint}"), &[("Range", "bytes=0-7")]);
    assert_eq!((ranged.status, &ranged.body[..]), (206, &r.body[..8]));
    assert_eq!(
        s.get(&format!("{dir}/{hint}"), &[("If-None-Match", &etag)])
            .status,
        304
    );

    // Three segments past the last one is refused at once. (A segment completing between the
    // two requests makes it two past, which is waited for: then ask again.)
    let refused = (0..3).any(|_| {
        let (_, facts) = playlist(&s, &path);
        let last_msn = facts.segments.last().unwrap().msn;
        let started = Instant::now();
        let r = s.get(&format!("{path}?_HLS_msn={}", last_msn + 3), &[]);
        if r.status == 400 {
            assert_eq!(error_code(&r), "too_far_ahead");
            assert!(started.elapsed() < Duration::from_secs(1), "not held");
            return true;
        }
        let (_, now) = playlist(&s, &path);
        assert!(now.segments.last().unwrap().msn > last_msn, "{}", r.text());
        false
    });
    assert!(refused, "a request three segments ahead is refused");

    // Malformed, too many parts ahead, or a part nobody hinted: refused at once.
    let (_, facts) = playlist(&s, &path);
    let last_msn = facts.segments.last().unwrap().msn;
    let (hint_msn, _) = part_numbers(facts.preload_part_uri().unwrap());
    let sid = facts.preload_part_uri().unwrap().split('/').next().unwrap();
    let started = Instant::now();
    for (query, code) in [
        (
            format!("_HLS_msn={}&_HLS_part=40", hint_msn + 1),
            "too_far_ahead",
        ),
        ("_HLS_part=1".to_owned(), "bad_delivery_directive"),
        ("_HLS_msn=x".to_owned(), "bad_delivery_directive"),
        ("_HLS_skip=NO".to_owned(), "bad_delivery_directive"),
    ] {
        let r = s.get(&format!("{path}?{query}"), &[]);
        assert_eq!(
            (r.status, error_code(&r)),
            (400, code.to_owned()),
            "{query}"
        );
    }
    let far = s.get(&format!("{dir}/{sid}/{}.0.m4s", hint_msn + 2), &[]);
    assert_eq!(far.status, 404);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "none of them waited"
    );
    // An older segment is answered without waiting, with the whole playlist.
    let r = s.get(&format!("{path}?_HLS_msn={}", last_msn - 1), &[]);
    assert_eq!(r.status, 200);
    assert!(valid(&r.text()).segment(last_msn).is_some());

    // Delta updates once segments lie beyond the skip boundary (12 s).
    let (delta, full) = wait_for("a delta update", LONG, || {
        let (_, full) = playlist(&s, &path);
        let r = s.get(&format!("{path}?_HLS_skip=YES"), &[]);
        let text = r.text();
        text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=")
            .then(|| (valid(&text), full))
    });
    assert!(delta.skipped_segments > 0);
    let merged = delta.apply_delta(&full).expect("the delta applies");
    assert!(merged.segments.len() >= 7, "{merged:?}");
    // Blocking and skipping together.
    let next = delta.next_msn();
    let r = s.get(&format!("{path}?_HLS_msn={next}&_HLS_skip=v2"), &[]);
    assert_eq!(r.status, 200);
    let blocked_delta = valid(&r.text());
    assert!(blocked_delta.skipped_segments > 0);
    assert!(blocked_delta.segment(next).is_some());

    // Players that know nothing of LL-HLS still play it.
    let kinds = stream_kinds(&s.url("/live/ll/master.m3u8"));
    assert!(
        kinds.contains(&"video".to_owned()) && kinds.contains(&"audio".to_owned()),
        "{kinds:?}"
    );

    let metrics = s.metrics();
    assert!(
        s.metric("ferrocast_parts_total{channel=\"ll\"}").unwrap() > 10.0,
        "parts counted"
    );
    for sample in [
        "ferrocast_part_publish_latency_seconds_bucket{channel=\"ll\"",
        "ferrocast_hls_blocked_requests{",
    ] {
        assert!(metrics.contains(sample), "metrics lack {sample}");
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ferrocast_hls_blocking_errors_total{")
                && l.contains("code=\"400\"")),
        "400s counted"
    );
}

#[test]
fn blocked_requests_give_up_after_three_target_durations() {
    let s = Server::start("llstall", &[]);
    let (publisher, path) = s.go_live("stall");
    let dir = path.rsplit_once('/').unwrap().0.to_owned();
    wait_for("a preload hint", LONG, || {
        playlist(&s, &path).1.preload_part_uri().map(|_| ())
    });
    // Frozen: the open part never closes, the next segment never comes.
    publisher.signal("STOP");
    std::thread::sleep(Duration::from_millis(500));
    let (_, facts) = playlist(&s, &path);
    let hint = facts.preload_part_uri().unwrap().to_owned();
    let next = facts.next_msn();
    let started = Instant::now();
    let part = std::thread::scope(|scope| {
        let part = scope.spawn(|| s.get(&format!("{dir}/{hint}"), &[]));
        let reload = s.get(&format!("{path}?_HLS_msn={}", next + 1), &[]);
        assert_eq!(
            (reload.status, error_code(&reload)),
            (503, "not_ready".into())
        );
        part.join().unwrap()
    });
    assert_eq!((part.status, error_code(&part)), (503, "not_ready".into()));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(5900) && took < Duration::from_secs(9),
        "three 2 s target durations: {took:?}"
    );
    assert_eq!(part.header("cache-control"), Some("no-cache"));
    publisher.signal("CONT");
}

#[test]
fn part_duration_off_serves_regular_latency_playlists() {
    let s = Server::start("lloff", &["--part-duration", "off"]);
    let (_publisher, path) = s.go_live("plain");
    let (text, facts) = playlist(&s, &path);
    for tag in [
        "#EXT-X-PART",
        "#EXT-X-PRELOAD-HINT",
        "#EXT-X-SERVER-CONTROL",
        "#EXT-X-SKIP",
    ] {
        assert!(!text.contains(tag), "{tag} present:\n{text}");
    }
    assert!(facts.part_target.is_none());
    // Delivery directives are not advertised, so they are ignored: no wait, no refusal.
    let last = facts.segments.last().unwrap();
    let started = Instant::now();
    let r = s.get(
        &format!("{path}?_HLS_msn={}&_HLS_skip=YES", last.msn + 2),
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!r.text().contains("#EXT-X-SKIP"));
    assert_eq!(s.get(&format!("{path}?_HLS_part=1"), &[]).status, 200);
    let dir = path.rsplit_once('/').unwrap().0;
    let sid = last.uri.split('/').next().unwrap();
    let part = s.get(&format!("{dir}/{sid}/{}.0.m4s", last.msn), &[]);
    assert_eq!(part.status, 404);
    assert_eq!(s.get(&format!("{dir}/{}", last.uri), &[]).status, 200);
}
