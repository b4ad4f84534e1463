//! What the cargo-fuzz targets share. The models are the CI proptests' own
//! modules, included by path so each exists once:
//!
//! - [`codec_cases`]: the event types and `decode_all` check of
//!   `codecs/tests` (every codec decodes or fails with a codec error);
//! - [`edits`] (with the embedded tests' [`common`] helpers): the data
//!   directory, edits and recovery invariant of
//!   `backends/embedded/tests/fuzz_recovery`.

#[path = "../../codecs/tests/common/mod.rs"]
pub mod codec_cases;

#[path = "../../backends/embedded/tests/common/mod.rs"]
pub mod common;

#[path = "../../backends/embedded/tests/fuzz_recovery/edits.rs"]
pub mod edits;

use rustok_iggy::Codec;

/// Fails the fuzz run (a panic is what libFuzzer reports) unless `codec`
/// decodes `data` into every test type or fails with a codec error.
pub fn check_codec(codec: &dyn Codec, data: &[u8]) {
    if let Err(violation) = codec_cases::decode_all(codec, data) {
        panic!("{violation}");
    }
}
