//! The `json` codec's decoder on arbitrary bytes: `Ok` or a codec error
//! naming the codec for every test type, never a panic or a stack overflow.
#![no_main]

use rustok_iggy_codecs::JsonCodec;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rustok_iggy_fuzz::check_codec(&JsonCodec::new(), data);
});
