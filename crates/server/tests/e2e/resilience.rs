//! Reconnects, misbehaving peers, many channels, graceful shutdown.

use crate::harness::{ffprobe, media, wait_for, Publisher, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(40);

#[test]
fn reconnect_within_grace_continues_after_discontinuity_then_grace_ends_it() {
    let s = Server::start("reconnect", &["--reconnect-grace", "4s", "--window", "10"]);
    let c = s.create_channel("chan");
    let url = s.publish_url(c["stream_key"].as_str().unwrap());
    let mut p = Publisher::start(&media().av, &url, true);
    let path = s.media_playlist_path("chan");
    wait_for("two segments", LONG, || {
        (s.playlist(&path)?.segments.len() >= 2).then_some(())
    });
    let before = s.playlist(&path).unwrap();
    p.kill(); // vanishes without unpublishing
    std::thread::sleep(Duration::from_millis(1500));
    let during = s.playlist(&path).unwrap();
    assert!(
        !during.endlist,
        "within the grace period the playlist stays open"
    );
    let mut p2 = Publisher::start(&media().av, &url, true);
    let after = wait_for("a segment after the discontinuity", LONG, || {
        let pl = s.playlist(&path)?;
        let i = pl.segments.iter().position(|x| x.discontinuity)?;
        (pl.segments.len() > i + 1).then_some(pl)
    });
    assert!(!after.endlist);
    assert!(
        after.media_sequence >= before.media_sequence,
        "media sequence never goes back"
    );
    let msns: Vec<u64> = after.segments.iter().map(|x| x.msn).collect();
    assert!(msns.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(after.segments.first().unwrap().msn <= before.segments.last().unwrap().msn + 1);
    assert_eq!(
        after.maps.len(),
        2,
        "the new publisher's init is announced after the discontinuity:\n{}",
        after.text
    );
    // The stream still decodes across the boundary.
    ffprobe(&s.url("/live/chan/master.m3u8"), "stream=codec_name");

    p2.kill();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !s.playlist(&path).unwrap().endlist,
        "still inside the grace period"
    );
    let ended = wait_for(
        "ENDLIST after the grace period",
        Duration::from_secs(10),
        || s.playlist(&path).filter(|p| p.endlist),
    );
    assert!(ended.segments.last().unwrap().msn >= after.segments.last().unwrap().msn);
}

#[test]
fn a_publisher_that_goes_silent_without_closing_is_dropped() {
    let s = Server::start(
        "silent",
        &["--publisher-idle-timeout", "2s", "--reconnect-grace", "2s"],
    );
    let (mut p, path) = s.go_live("chan");
    // Frozen: the TCP connection stays open but nothing arrives, like a peer that vanished.
    p.signal("STOP");
    wait_for(
        "the silent publisher to be dropped",
        Duration::from_secs(10),
        || {
            let (_, c) = s.api("GET", "/api/v1/channels/chan", None);
            (c["live"] == false).then_some(())
        },
    );
    wait_for(
        "ENDLIST after the grace period",
        Duration::from_secs(10),
        || s.playlist(&path).filter(|p| p.endlist),
    );
    assert!(
        s.log_lines().iter().any(|l| l["kind"] == "idle_timeout"),
        "{}",
        s.log_text()
    );
    p.kill();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

/// True when the server closed the connection (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn misbehaving_peers_never_disturb_a_live_stream() {
    let s = Server::start("garbage", &[]);
    let c = s.create_channel("chan");
    let mut p = Publisher::start(
        &media().av,
        &s.publish_url(c["stream_key"].as_str().unwrap()),
        true,
    );
    let path = s.media_playlist_path("chan");
    let rss_before = rss_kib(s.pid());

    // Pure garbage: a wrong version byte ends the handshake at once.
    let mut garbage = TcpStream::connect(&s.rtmp).unwrap();
    let noise: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _ = garbage.write_all(&noise);
    assert!(
        closed_within(&mut garbage, Duration::from_secs(5)),
        "garbage connection closed"
    );

    // Valid C0 + half a C1, then silence: closed at the handshake deadline.
    let mut stall = TcpStream::connect(&s.rtmp).unwrap();
    stall.write_all(&[3u8]).unwrap();
    stall.write_all(&[0u8; 700]).unwrap();
    // One byte a second: never completes a handshake.
    let mut slow = TcpStream::connect(&s.rtmp).unwrap();
    // A well-formed handshake followed by a chunk header announcing a 16 MiB message.
    let mut huge = TcpStream::connect(&s.rtmp).unwrap();
    huge.write_all(&[3u8]).unwrap();
    huge.write_all(&[0u8; 1536]).unwrap();
    let mut s1 = [0u8; 1 + 1536 + 1536];
    huge.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    huge.read_exact(&mut s1).unwrap();
    huge.write_all(&s1[1..1537]).unwrap(); // C2 echoes S1
    huge.write_all(&[0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0])
        .unwrap();
    huge.write_all(&[0x02; 128]).unwrap();
    assert!(
        closed_within(&mut huge, Duration::from_secs(5)),
        "an oversized message is refused"
    );

    for _ in 0..6 {
        let _ = slow.write_all(&[3u8]);
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        closed_within(&mut stall, Duration::from_secs(15)),
        "stalled handshake closed at its deadline"
    );
    assert!(
        closed_within(&mut slow, Duration::from_secs(15)),
        "trickling peer closed at the handshake deadline"
    );

    // The stream kept flowing and still plays; memory did not balloon.
    let msn = s.last_msn(&path);
    wait_for("segments keep coming", LONG, || {
        (s.last_msn(&path) > msn).then_some(())
    });
    assert!(p.running());
    ffprobe(&s.url("/live/chan/master.m3u8"), "stream=codec_name");
    let rss_after = rss_kib(s.pid());
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    assert!(
        s.metric("ferrocast_rtmp_errors_total{kind=\"protocol\"}")
            .unwrap_or(0.0)
            >= 2.0,
        "{}",
        s.metrics()
    );
}

#[test]
fn connections_per_address_are_capped() {
    let s = Server::start("percap", &["--max-connections-per-ip", "3"]);
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&s.rtmp).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&s.rtmp).unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_secs(3)),
        "4th connection from one address is closed"
    );
    assert!(
        !closed_within(&mut held[0], Duration::from_millis(500)),
        "the first ones are still served"
    );
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(300));
    let mut again = TcpStream::connect(&s.rtmp).unwrap();
    assert!(
        !closed_within(&mut again, Duration::from_millis(500)),
        "a freed slot can be used again"
    );
    assert_eq!(
        s.metric("ferrocast_rtmp_connections_refused_total{reason=\"connection_limit\"}"),
        Some(1.0)
    );
}

#[test]
fn ten_channels_live_at_once() {
    let s = Server::start("ten", &[]);
    let mut pubs = Vec::new();
    for i in 0..10 {
        let c = s.create_channel(&format!("ch{i}"));
        pubs.push(Publisher::start(
            &media().av,
            &s.publish_url(c["stream_key"].as_str().unwrap()),
            true,
        ));
    }
    for i in 0..10 {
        let path = s.media_playlist_path(&format!("ch{i}"));
        wait_for("two segments per channel", LONG, || {
            (s.playlist(&path)?.segments.len() >= 2).then_some(())
        });
    }
    for p in &mut pubs {
        assert!(p.running());
    }
    let m = s.metrics();
    assert_eq!(
        m.lines()
            .filter(|l| l.starts_with("ferrocast_channel_live{") && l.ends_with(" 1"))
            .count(),
        10,
        "{m}"
    );
    let probe = ffprobe(&s.url("/live/ch7/master.m3u8"), "stream=codec_name");
    assert_eq!(probe["streams"].as_array().unwrap().len(), 2);
}

#[test]
fn sigterm_tells_publishers_and_ends_playlists() {
    let mut s = Server::start(
        "sigterm",
        &["--shutdown-drain", "3s", "--reconnect-grace", "30s"],
    );
    let (mut p, path) = s.go_live("chan");
    let url = s.url(&path);
    let pid = s.pid();
    let killer = std::thread::spawn(move || {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    });
    killer.join().unwrap();
    // During the drain the playlist is still served, and it has ended (despite the 30 s grace).
    let ended = wait_for("ENDLIST during drain", Duration::from_secs(3), || {
        let r = crate::harness::fetch("GET", &url, &[]);
        (r.status == 200)
            .then(|| crate::harness::parse_media_playlist(&r.text()))
            .filter(|p| p.endlist)
    });
    assert!(!ended.segments.is_empty());
    p.wait(Duration::from_secs(10))
        .expect("the publisher is told and disconnected");
    assert!(
        s.terminate(Duration::from_secs(15)),
        "server exits cleanly after SIGTERM"
    );
    let log = s.log_text();
    assert!(log.contains("shutdown complete"), "{log}");
}

#[test]
fn http_clients_that_never_finish_their_request_head_are_closed() {
    let s = Server::start("slowhttp", &[]);
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut c = TcpStream::connect(&s.http).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // Everyone else is served meanwhile.
    assert_eq!(s.get("/healthz", &[]).status, 200);
    for c in &mut slow {
        assert!(
            closed_within(c, Duration::from_secs(20)),
            "an unfinished request head is dropped at the header-read deadline"
        );
    }
    assert_eq!(s.get("/healthz", &[]).status, 200);
}
