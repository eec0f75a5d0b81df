//! `okta` format: not built yet (issue 9).

use super::{Decoded, RejectKind, Rejection};

/// Decodes one `okta` record.
pub fn decode<'a>(_record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    out(Err(Rejection::new(
        RejectKind::BadValue,
        "the okta format is not supported yet",
    )));
}
