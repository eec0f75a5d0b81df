//! Whole-document inputs for vendor formats: a file holding one JSON array, or an object with a
//! records array (`Records`, `records`, `value`), rather than JSON lines. Not built yet (issue 9).

/// True when the start of an input (`head`, leading whitespace skipped) shows a whole JSON
/// document rather than JSON lines.
pub fn is_document(_head: &[u8]) -> bool {
    false
}

/// Calls `f` with each record of a whole document (its element index and bytes).
pub fn for_each_record(
    _doc: &[u8],
    _f: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), super::Rejection> {
    Ok(())
}
