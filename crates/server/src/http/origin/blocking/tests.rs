use super::*;
use std::time::Duration;

fn limits() -> BlockingLimits {
    BlockingLimits {
        target_duration: Duration::from_secs(2),
        part_target: Duration::from_millis(504),
    }
}

/// Segment `next_msn - 1` complete with parts `0..=last_part`, none of `next_msn` yet.
fn complete(next_msn: u64, last_part: u64) -> Position {
    Position {
        next_msn,
        last: Some((next_msn - 1, Some(last_part))),
        hint: Some((next_msn, 0)),
        ended: false,
        moved_at: None,
    }
}

/// Segment `next_msn` in progress with parts `0..=last_part`.
fn open(next_msn: u64, last_part: u64) -> Position {
    Position {
        next_msn,
        last: Some((next_msn, Some(last_part))),
        hint: Some((next_msn, last_part + 1)),
        ended: false,
        moved_at: None,
    }
}

fn d(position: &Position, msn: u64, part: Option<u64>) -> Decision {
    decide(position, msn, part, &limits())
}

#[test]
fn segment_requests_wait_for_a_complete_segment() {
    let p = open(10, 1);
    assert_eq!(d(&p, 9, None), Decision::Ready);
    assert_eq!(d(&p, 3, None), Decision::Ready, "older segments are ready");
    assert_eq!(d(&p, 10, None), Decision::Wait, "parts do not complete it");
    assert_eq!(d(&p, 11, None), Decision::Wait);
    assert_eq!(d(&p, 12, None), Decision::TooFar, "three past the last (9)");
    let p = complete(10, 3);
    assert_eq!(d(&p, 9, None), Decision::Ready);
    assert_eq!(d(&p, 11, None), Decision::Wait);
    assert_eq!(d(&p, 12, None), Decision::TooFar);
    assert_eq!(d(&p, u64::MAX, None), Decision::TooFar);
}

#[test]
fn part_requests_wait_for_that_part_or_later() {
    let p = open(10, 1);
    assert_eq!(d(&p, 10, Some(0)), Decision::Ready);
    assert_eq!(d(&p, 10, Some(1)), Decision::Ready);
    assert_eq!(d(&p, 10, Some(2)), Decision::Wait, "the hinted part");
    assert_eq!(
        d(&p, 9, Some(7)),
        Decision::Ready,
        "a later segment has parts"
    );
    assert_eq!(d(&p, 11, Some(0)), Decision::Wait);
    // Beyond the Advance Part Limit (3 / 0.504 s = 5.95 parts past the last one).
    assert_eq!(d(&p, 10, Some(6)), Decision::Wait);
    assert_eq!(d(&p, 10, Some(7)), Decision::TooFar);
    assert_eq!(d(&p, 11, Some(4)), Decision::Wait);
    assert_eq!(d(&p, 11, Some(5)), Decision::TooFar);
}

#[test]
fn a_part_past_the_last_of_a_complete_segment_is_part_0_of_the_next() {
    let p = complete(10, 3);
    assert_eq!(d(&p, 9, Some(3)), Decision::Ready);
    assert_eq!(d(&p, 9, Some(4)), Decision::Wait, "means (10, 0)");
    assert_eq!(d(&open(10, 0), 9, Some(4)), Decision::Ready);
    assert_eq!(d(&open(10, 0), 9, Some(5)), Decision::Ready);
}

#[test]
fn an_ended_playlist_answers_at_once_and_an_empty_one_waits() {
    let mut p = open(10, 1);
    p.ended = true;
    assert_eq!(d(&p, 11, Some(3)), Decision::Ended);
    assert_eq!(d(&p, 1000, None), Decision::Ended);
    let empty = Position::default();
    assert_eq!(d(&empty, 0, None), Decision::Wait);
    assert_eq!(d(&empty, 0, Some(0)), Decision::Wait);
    assert_eq!(d(&empty, 1, Some(0)), Decision::Wait);
    assert_eq!(d(&empty, 2, None), Decision::TooFar);
}

#[test]
fn the_advance_part_limit_is_three_parts_from_one_second() {
    let mut l = limits();
    l.part_target = Duration::from_millis(1004);
    let p = open(10, 1);
    assert_eq!(decide(&p, 10, Some(4), &l), Decision::Wait);
    assert_eq!(decide(&p, 10, Some(5), &l), Decision::TooFar);
    l.part_target = Duration::ZERO;
    assert_eq!(decide(&p, 10, Some(5), &l), Decision::TooFar);
}

#[test]
fn directives_parse() {
    let parse = |q: &str| Directives::parse(Some(q));
    assert_eq!(Directives::parse(None), Ok(Directives::default()));
    assert_eq!(parse(""), Ok(Directives::default()));
    assert_eq!(
        parse("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES"),
        Ok(Directives {
            msn: Some(12),
            part: Some(3),
            skip: true
        })
    );
    assert_eq!(
        parse("t=1&_HLS_skip=v2&_HLS_future=x&&x"),
        Ok(Directives {
            msn: None,
            part: None,
            skip: true
        })
    );
    assert_eq!(
        parse("_HLS_msn=18446744073709551615").map(|d| d.msn),
        Ok(Some(u64::MAX))
    );
}

#[test]
fn malformed_directives_are_refused() {
    let parse = |q: &str| Directives::parse(Some(q));
    assert_eq!(parse("_HLS_part=1"), Err(DirectiveError::PartWithoutMsn));
    for bad in [
        "_HLS_msn=",
        "_HLS_msn",
        "_HLS_msn=abc",
        "_HLS_msn=-1",
        "_HLS_msn=+1",
        "_HLS_msn=1.5",
        "_HLS_msn=18446744073709551616",
        "_HLS_msn=%31",
    ] {
        assert_eq!(
            parse(bad),
            Err(DirectiveError::NotANumber { name: MSN }),
            "{bad}"
        );
    }
    assert_eq!(
        parse("_HLS_msn=1&_HLS_part=x"),
        Err(DirectiveError::NotANumber { name: PART })
    );
    assert_eq!(
        parse("_HLS_msn=1&_HLS_msn=2"),
        Err(DirectiveError::Repeated { name: MSN })
    );
    assert_eq!(
        parse("_HLS_skip=YES&_HLS_skip=YES"),
        Err(DirectiveError::Repeated { name: SKIP })
    );
    for bad in ["_HLS_skip=yes", "_HLS_skip=NO", "_HLS_skip="] {
        assert_eq!(parse(bad), Err(DirectiveError::BadSkip), "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_blocked_reload_is_released_by_the_position_or_gives_up() {
    let (tx, rx) = watch::channel(open(10, 1));
    let waiter = tokio::spawn(wait_playlist(rx.clone(), 10, Some(2), limits()));
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    tx.send(open(10, 2)).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), Decision::Ready);

    let started = tokio::time::Instant::now();
    let error = wait_playlist(rx.clone(), 11, None, limits())
        .await
        .unwrap_err();
    assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(6) && waited < Duration::from_secs(7),
        "three targets: {waited:?}"
    );

    let error = wait_playlist(rx.clone(), 13, None, limits())
        .await
        .unwrap_err();
    assert_eq!(error.status, StatusCode::BAD_REQUEST);

    let waiter = tokio::spawn(wait_playlist(rx, 11, None, limits()));
    tokio::task::yield_now().await;
    let mut ended = open(10, 2);
    ended.ended = true;
    tx.send(ended).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), Decision::Ended);
}
