//! The testkit's codec suite on the shipped codecs: what every codec
//! promises (round trips, determinism, clean errors on garbage, truncated
//! and trailing input, no panics), checked on the ones users run.

use std::sync::Arc;

use rustok_iggy::Codec;
use rustok_iggy_codecs::{JsonCodec, PostcardCodec};

rustok_iggy_testkit::codec_conformance!(json, || Arc::new(JsonCodec::new()) as Arc<dyn Codec>);
rustok_iggy_testkit::codec_conformance!(postcard, || {
    Arc::new(PostcardCodec::new()) as Arc<dyn Codec>
});
