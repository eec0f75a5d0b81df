//! `entra` format: not built yet (issue 9).

use super::{Decoded, RejectKind, Rejection};

/// Decodes one `entra` record.
pub fn decode<'a>(_record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    out(Err(Rejection::new(
        RejectKind::BadValue,
        "the entra format is not supported yet",
    )));
}
