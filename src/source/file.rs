//! Files and stdin (`-`), plain or gzip: records with their line numbers. Being built (issue 2).

use std::io::BufRead;

use super::decode::{Format, Rejection};

/// Receives each record: its 1-based line number and its bytes, or why it could not be read.
pub type RecordSink<'s> = dyn FnMut(u64, Result<&[u8], Rejection>) + 's;

/// Calls `f` with each record of `reader`: its 1-based line number and its bytes, or why the
/// record could not be read.
pub fn for_each_record(
    _format: Format,
    _reader: &mut dyn BufRead,
    _f: &mut RecordSink<'_>,
) -> std::io::Result<()> {
    Ok(())
}

/// Opens a path (`-` = stdin), transparently gunzipping `.gz` files.
pub fn open(path: &std::path::Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let f = std::fs::File::open(path)?;
    Ok(Box::new(std::io::BufReader::new(f)))
}
