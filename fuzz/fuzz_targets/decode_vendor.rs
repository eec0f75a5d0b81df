//! Fuzz target: vendor decoders and whole-document splitting.
//!
//! The first byte chooses the format (low bits) and whether the rest is one record or a whole
//! document (high bit) — the two ways `tocsin replay` and the Kafka source feed vendor input.
//! Every rejection must carry a detail; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin::source::decode::{self, document, Decoded, Format, Rejection};

const FORMATS: [Format; 9] = [
    Format::Native,
    Format::Ocsf,
    Format::Ecs,
    Format::Okta,
    Format::Entra,
    Format::Cloudtrail,
    Format::Auth0,
    Format::GoogleWorkspace,
    Format::Keycloak,
];

fn check(result: Result<Decoded<'_>, Rejection>) {
    match result {
        Ok(Decoded::Event(event)) => assert!(!event.account.is_empty(), "event without account"),
        Ok(Decoded::NotApplicable(why)) => assert!(!why.is_empty(), "skip without a reason"),
        Err(r) => assert!(
            !r.detail.is_empty(),
            "empty rejection detail ({:?})",
            r.kind
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector & 0x7f) % FORMATS.len()];
    if selector & 0x80 == 0 {
        decode::decode(format, record, &mut check);
    } else {
        // `is_document` only looks at the head; splitting must cope whether or not it agreed.
        let _ = document::is_document(record);
        let result = document::for_each_record(record, &mut |_, element| {
            decode::decode(format, element, &mut check);
        });
        if let Err(r) = result {
            assert!(
                !r.detail.is_empty(),
                "empty document rejection ({:?})",
                r.kind
            );
        }
    }
});
