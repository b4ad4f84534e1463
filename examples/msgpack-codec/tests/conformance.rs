//! The testkit's codec suite on the MessagePack example: a downstream codec
//! is held to the same contract as the shipped ones.

use std::sync::Arc;

use rustok_iggy::Codec;
use rustok_iggy_example_msgpack::MsgpackCodec;

rustok_iggy_testkit::codec_conformance!(msgpack, || {
    Arc::new(MsgpackCodec::new()) as Arc<dyn Codec>
});
