//! The native schema (CONTRACT §2). Being built (issue 2).

use super::{RejectKind, Rejection};
use crate::event::Event;

/// Decodes one native JSON line.
pub fn decode(_line: &[u8]) -> Result<Event<'_>, Rejection> {
    Err(Rejection::new(
        RejectKind::NotJson,
        "native decoding is being built",
    ))
}
