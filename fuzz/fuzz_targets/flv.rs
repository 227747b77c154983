//! FLV files and tag bodies from untrusted bytes: the reader, the stream reader and the demuxer
//! must never panic, and the stream reader fed in pieces finds the tags the file reader finds.
//!
//! Input that starts with `FLV` is read as a whole file (the committed fixtures in
//! `testdata/flv/` make a good seed corpus); anything else is read as the tags of a file whose
//! 9-byte header is supplied here, so the fuzzer spends its time in tags and codec configurations.
#![no_main]

use bytes::Bytes;
use ferrocast_flv::{FlvReader, FlvStreamReader, TagDemuxer};
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
    let mut stream = FlvStreamReader::new();
    let mut streamed = Vec::new();
    // Fed in uneven pieces, as a socket delivers them.
    'feed: for chunk in file.chunks(1 + data.len() % 7) {
        stream.extend(chunk);
        loop {
            match stream.next_tag() {
                Ok(Some(tag)) => streamed.push(tag),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    let Ok(reader) = FlvReader::new(file) else {
        return;
    };
    let mut demuxer = TagDemuxer::new();
    for (i, tag) in reader.enumerate() {
        let Ok(tag) = tag else {
            break;
        };
        if let Some(same) = streamed.get(i) {
            assert_eq!(same, &tag);
        }
        // Errors are fine; panics are not.
        let _ = demuxer.tag(&tag);
    }
});
