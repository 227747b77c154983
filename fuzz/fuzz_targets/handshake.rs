//! A fresh `ServerSession` fed arbitrary bytes: C0/C1/C2 parsing, digest validation, then whatever
//! follows the handshake, in pieces chosen by the input.
#![no_main]

use ferrocast_rtmp::{ServerSession, SessionConfig};
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), now);
    let piece = usize::from(split).max(1) * 16;
    for chunk in rest.chunks(piece) {
        if session.handle_input(now, chunk).is_err() {
            break;
        }
        while session.poll_transmit().is_some() {}
        while session.poll_event().is_some() {}
    }
    let _ = session.handle_timeout(now);
});
