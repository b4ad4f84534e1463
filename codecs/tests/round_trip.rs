//! Every value a codec encodes decodes back to itself.

mod common;

use common::{codecs, envelope, test_event, TestEvent};
use proptest::prelude::*;
use rustok_iggy::{Codec, CodecExt};
use rustok_iggy_codecs::{JsonCodec, PostcardCodec};

fn round_trip<T>(codec: &dyn Codec, value: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = codec
        .encode_value(value)
        .map_err(|e| TestCaseError::fail(format!("{}: encode: {e}", codec.name())))?;
    let back: T = codec
        .decode_value(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{}: decode: {e}", codec.name())))?;
    prop_assert_eq!(&back, value, "codec {}", codec.name());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn events_round_trip_through_every_codec(event in test_event()) {
        for codec in codecs() {
            round_trip(codec.as_ref(), &event)?;
        }
    }

    #[test]
    fn envelopes_round_trip_through_json(envelope in envelope()) {
        round_trip(&JsonCodec::new(), &envelope)?;
    }

    #[test]
    fn envelopes_round_trip_through_postcard(
        mut envelope in envelope(),
        key in proptest::option::of(any::<String>()),
    ) {
        envelope.partition_key = key;
        round_trip(&PostcardCodec::new(), &envelope)?;
    }

    #[test]
    fn encoding_is_deterministic(event in test_event()) {
        for codec in codecs() {
            let a = codec.encode_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = codec.encode_value(&event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(a, b, "codec {}", codec.name());
        }
    }
}

#[test]
fn json_payloads_are_plain_json() {
    let event = TestEvent {
        name: "x".into(),
        count: 1,
        delta: -1,
        small: 0,
        flag: true,
        letter: 'a',
        note: None,
        maybe_count: Some(3),
        tags: vec!["t".into()],
        blob: vec![1, 2],
        attributes: [("k".to_owned(), 5)].into(),
        kind: common::Kind::Priced {
            cents: 100,
            currency: None,
        },
        history: vec![common::Kind::Created],
        unit: (),
    };
    let bytes = JsonCodec::new().encode_value(&event).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"name":"x","count":1,"delta":-1,"small":0,"flag":true,"letter":"a","note":null,"maybe_count":3,"tags":["t"],"blob":[1,2],"attributes":{"k":5},"kind":{"Priced":{"cents":100,"currency":null}},"history":["Created"],"unit":null}"#
    );
}
