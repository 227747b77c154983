//! AMF0 decoding of arbitrary bytes; whatever decodes must re-encode and decode to the same values.
#![no_main]

use ferrocast_amf0::{decode_all_with_limits, encode_all, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::DEFAULT;
    let Ok(values) = decode_all_with_limits(data, &limits) else {
        return;
    };
    let mut bytes = Vec::new();
    encode_all(&values, &mut bytes);
    let again = decode_all_with_limits(&bytes, &limits).expect("re-encoded values decode");
    // NaN never equals itself; compare through the encoding instead.
    let mut bytes_again = Vec::new();
    encode_all(&again, &mut bytes_again);
    assert_eq!(bytes, bytes_again);
});
