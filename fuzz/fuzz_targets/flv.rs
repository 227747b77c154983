//! FLV files and tag bodies from untrusted bytes: the reader and the demuxer must never panic.
//!
//! Input that starts with `FLV` is read as a whole file (the committed fixtures in
//! `testdata/flv/` make a good seed corpus); anything else is read as the tags of a file whose
//! 9-byte header is supplied here, so the fuzzer spends its time in tags and codec configurations.
#![no_main]

use bytes::Bytes;
use ferrocast_flv::{FlvReader, TagDemuxer};
use libfuzzer_sys::fuzz_target;

const HEADER: &[u8] = b"FLV\x01\x05\x00\x00\x00\x09";

fuzz_target!(|data: &[u8]| {
    let file = if data.starts_with(b"FLV") {
        Bytes::copy_from_slice(data)
    } else {
        let mut file = HEADER.to_vec();
        file.extend_from_slice(data);
        Bytes::from(file)
    };
    let Ok(reader) = FlvReader::new(file) else {
        return;
    };
    let mut demuxer = TagDemuxer::new();
    for tag in reader {
        let Ok(tag) = tag else {
            break;
        };
        // Errors are fine; panics are not.
        let _ = demuxer.tag(&tag);
    }
});
