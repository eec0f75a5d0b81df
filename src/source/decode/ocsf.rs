//! `ocsf` format: not built yet (issue 9).

use super::{Decoded, RejectKind, Rejection};

/// Decodes one `ocsf` record.
pub fn decode<'a>(_record: &'a [u8], out: &mut dyn FnMut(Result<Decoded<'a>, Rejection>)) {
    out(Err(Rejection::new(
        RejectKind::BadValue,
        "the ocsf format is not supported yet",
    )));
}
