//! Fuzz target: arbitrary bytes as one native line or Kafka message.
//!
//! Beyond "no panic", it checks the two promises a producer relies on: a refusal always says
//! why (non-empty detail), and an accepted event written back in the native schema decodes to
//! the very same event, so `tocsin decode` output can be fed back in unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin::source::decode::native;

fuzz_target!(|data: &[u8]| {
    match native::decode(data) {
        Ok(event) => {
            let json = event.to_json();
            let again = native::decode(json.as_bytes())
                .unwrap_or_else(|r| panic!("re-decoding {json} was refused: {r}"));
            assert_eq!(event, again, "round trip changed the event: {json}");
        }
        Err(rejection) => assert!(
            !rejection.detail.is_empty(),
            "empty rejection detail ({:?})",
            rejection.kind
        ),
    }
});
