//! Helpers shared by the integration tests (each test file uses some of them).
#![allow(dead_code)]

use ferrocast_hls::validate::{validate_media_playlist, PlaylistFacts};
use ferrocast_hls::{MediaPlaylist, ServerControl};

/// The committed golden file `tests/golden/{name}`.
pub fn golden(name: &str) -> String {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The facts of a playlist that must pass the validator; panics with the violations otherwise.
pub fn valid(text: &str) -> PlaylistFacts {
    validate_media_playlist(text).unwrap_or_else(|v| panic!("{v:#?}\n{text}"))
}

/// An empty Low-Latency playlist: part target 0.5 s, blocking reload, a 12 s Skip Boundary,
/// `HOLD-BACK` 6 s and `PART-HOLD-BACK` 1.5 s.
pub fn low_latency(target_duration: u64) -> MediaPlaylist {
    let mut p = MediaPlaylist::new(target_duration);
    p.part_target = Some(0.5);
    let mut control = ServerControl::new();
    control.can_block_reload = true;
    control.can_skip_until = Some(12.0);
    control.hold_back = Some(6.0);
    control.part_hold_back = Some(1.5);
    p.server_control = Some(control);
    p
}
