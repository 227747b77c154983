//! Chat client frames: the decoder never panics, and a room fed decoded commands never panics
//! and keeps its offsets contiguous.
#![no_main]

use ferrocast_chat::{decode, Credential, Room, RoomConfig, RoomSeed};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let mut room = Room::new(
        "streamer",
        RoomConfig::default(),
        RoomSeed {
            epoch: "f".into(),
            ..RoomSeed::default()
        },
        0,
    );
    let ip = IpAddr::from([10, 0, 0, 1]);
    let _ = room.join(1, Credential::Guest { name: "fuzz".into() }, ip, None);
    let mut now = 0;
    let mut last = 0;
    // Each line is one frame, as a client would send them.
    for line in data.split(|b| *b == b'\n') {
        now += 700;
        let Ok(text) = std::str::from_utf8(line) else { continue };
        if let Ok(command) = decode(text) {
            let _ = room.command(now, 1, command);
        }
        if let Some(batch) = room.take_batch() {
            assert_eq!(batch.first_offset, last + 1);
            last = batch.last_offset;
        }
    }
});
