//! Files and stdin (`-`), plain or gzip: the records in them, with their line numbers.
//!
//! Owns the byte-level reading of `replay` and `decode` inputs: opening (gzip detected by its
//! magic bytes, so a piped `.gz` works too), splitting JSON lines with one reused buffer, and the
//! guard against over-long lines. A line longer than [`MAX_RECORD_BYTES`] is skipped in chunks
//! and reported as [`RejectKind::TooLong`]: a 1 GiB line costs 64 KiB of memory, not 1 GiB.
//! Decoding the record's bytes is [`super::decode`]'s job.
//!
//! Vendor exports sometimes come as one JSON document (an array, or `{"Records":[...]}`) rather
//! than JSON lines; for non-native formats such an input is read whole (up to
//! [`MAX_DOCUMENT_BYTES`]) and its elements handed over one by one, numbered from 1.

use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use super::decode::{document, Format, RejectKind, Rejection, MAX_RECORD_BYTES};

/// Receives each record: its 1-based line number and its bytes, or why it could not be read.
pub type RecordSink<'s> = dyn FnMut(u64, Result<&[u8], Rejection>) + 's;

/// Like [`RecordSink`], but can stop the reading early (a closed output pipe, say).
pub type StoppableSink<'s> = dyn FnMut(u64, Result<&[u8], Rejection>) -> ControlFlow<()> + 's;

/// The largest whole-document input read into memory.
pub const MAX_DOCUMENT_BYTES: u64 = 256 * 1024 * 1024;

/// Read buffer size: large enough that a typical file is read in few system calls.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The two bytes every gzip member starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The UTF-8 byte order mark some Windows tools put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Calls `f` with each record of `reader`: its 1-based line number and its bytes, or why the
/// record could not be read. Blank lines are not records; `\r\n` endings are accepted.
/// Returns only I/O errors of the input itself.
pub fn for_each_record(
    format: Format,
    reader: &mut dyn BufRead,
    f: &mut RecordSink<'_>,
) -> io::Result<()> {
    try_for_each_record(format, reader, &mut |n, r| {
        f(n, r);
        ControlFlow::Continue(())
    })
}

/// [`for_each_record`] that stops as soon as `f` returns [`ControlFlow::Break`].
pub fn try_for_each_record(
    format: Format,
    reader: &mut dyn BufRead,
    f: &mut StoppableSink<'_>,
) -> io::Result<()> {
    if format != Format::Native {
        let head = fill_buf(reader)?;
        if document::is_document(head) {
            return for_each_document_record(reader, f);
        }
    }
    for_each_line(reader, f)
}

fn for_each_line(reader: &mut dyn BufRead, f: &mut StoppableSink<'_>) -> io::Result<()> {
    // Room for a maximal record plus its `\r\n`: anything that fills it without a newline is
    // too long, and the rest of that line is skipped without being stored.
    let limit = MAX_RECORD_BYTES as u64 + 2;
    let mut line = Vec::with_capacity(8 * 1024);
    let mut number: u64 = 0;
    loop {
        line.clear();
        let read = (&mut *reader).take(limit).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if read as u64 == limit {
            let total = limit + skip_rest_of_line(reader)?;
            let rejection = Rejection::new(
                RejectKind::TooLong,
                format!("line of {total} bytes exceeds the {MAX_RECORD_BYTES} byte limit"),
            );
            if f(number, Err(rejection)).is_break() {
                return Ok(());
            }
            continue;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut record = line.as_slice();
        if number == 1 {
            record = record.strip_prefix(BOM).unwrap_or(record);
        }
        if record.len() > MAX_RECORD_BYTES {
            let rejection = Rejection::new(
                RejectKind::TooLong,
                format!(
                    "line of {} bytes exceeds the {MAX_RECORD_BYTES} byte limit",
                    record.len()
                ),
            );
            if f(number, Err(rejection)).is_break() {
                return Ok(());
            }
            continue;
        }
        if record.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if f(number, Ok(record)).is_break() {
            return Ok(());
        }
    }
}

/// Consumes the rest of an over-long line, newline included, without storing it; returns how
/// many bytes the line still had (newline excluded).
fn skip_rest_of_line(reader: &mut dyn BufRead) -> io::Result<u64> {
    let mut skipped: u64 = 0;
    loop {
        let buf = fill_buf(reader)?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(skipped + i as u64);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
                skipped += n as u64;
            }
        }
    }
}

fn for_each_document_record(reader: &mut dyn BufRead, f: &mut StoppableSink<'_>) -> io::Result<()> {
    let mut doc = Vec::new();
    let read = reader.take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut doc)? as u64;
    if read > MAX_DOCUMENT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a whole-JSON-document input larger than {} MiB; convert it to JSON lines \
                 (one record per line), e.g. with `jq -c '.[]'`",
                MAX_DOCUMENT_BYTES / (1024 * 1024)
            ),
        ));
    }
    let mut seen: u64 = 0;
    let mut stopped = false;
    let result = document::for_each_record(&doc, &mut |index, record| {
        seen = seen.max(index + 1);
        if !stopped {
            stopped = f(index + 1, Ok(record)).is_break();
        }
    });
    if let Err(rejection) = result {
        // A document that breaks off is reported as one more record: what came before is used.
        if !stopped {
            let _ = f(seen + 1, Err(rejection));
        }
    }
    Ok(())
}

/// `fill_buf`, retrying when a signal interrupts the read.
fn fill_buf(reader: &mut dyn BufRead) -> io::Result<&[u8]> {
    loop {
        match reader.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    // Asking again returns the same buffered bytes; returning the first borrow from inside the
    // loop is a case the borrow checker does not accept yet.
    reader.fill_buf()
}

/// Opens a path (`-` = stdin) for [`for_each_record`], transparently gunzipping gzip data
/// (detected by its magic bytes, whatever the name; concatenated gzip members are read as one
/// stream). A file named `.gz` that is not gzip is refused rather than read as text.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut plain: Box<dyn BufRead + Send> = if path.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, io::stdin()))
    } else {
        Box::new(BufReader::with_capacity(
            READ_BUFFER_BYTES,
            std::fs::File::open(path)?,
        ))
    };
    let head = fill_buf(&mut *plain)?;
    if head.starts_with(&GZIP_MAGIC) {
        let gunzip = flate2::bufread::MultiGzDecoder::new(plain);
        return Ok(Box::new(BufReader::with_capacity(
            READ_BUFFER_BYTES,
            gunzip,
        )));
    }
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if named_gz && !head.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "named .gz but not gzip data (no gzip magic bytes)",
        ));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Every callback, as (line, Ok(text) | Err(kind)).
    fn records(input: &[u8]) -> Vec<(u64, Result<String, RejectKind>)> {
        let mut got = Vec::new();
        for_each_record(Format::Native, &mut &input[..], &mut |n, r| {
            got.push((
                n,
                r.map(|b| String::from_utf8_lossy(b).into_owned())
                    .map_err(|e| e.kind),
            ))
        })
        .unwrap();
        got
    }

    #[test]
    fn numbers_lines_from_one_and_skips_blank_lines() {
        let got = records(b"a\r\n\n   \t\nb\nc");
        assert_eq!(
            got,
            vec![
                (1, Ok("a".into())),
                (4, Ok("b".into())),
                (5, Ok("c".into()))
            ]
        );
        assert!(records(b"").is_empty());
        assert!(records(b"\n\n").is_empty());
    }

    #[test]
    fn byte_order_mark_at_file_start_is_dropped() {
        let got = records(b"\xEF\xBB\xBF{}\n\xEF\xBB\xBF{}\n");
        assert_eq!(got[0], (1, Ok("{}".into())));
        // Only the first line of a file may carry one; elsewhere it is data for the decoder.
        assert_eq!(got[1], (2, Ok("\u{feff}{}".into())));
    }

    #[test]
    fn record_of_exactly_the_limit_is_kept_one_more_byte_is_too_long() {
        let max = "x".repeat(MAX_RECORD_BYTES);
        let input = format!("{max}\r\n{max}y\n{max}\nok");
        let got = records(input.as_bytes());
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].1.as_ref().map(String::len), Ok(MAX_RECORD_BYTES));
        assert_eq!(got[1], (2, Err(RejectKind::TooLong)));
        assert_eq!(got[2].1.as_ref().map(String::len), Ok(MAX_RECORD_BYTES));
        assert_eq!(got[3], (4, Ok("ok".into())));
    }

    /// Produces `size` bytes of one line lazily, then a short good line: nothing holds the
    /// long line in memory, so a test can make it far larger than the buffer.
    struct HugeLine {
        left: u64,
        tail: &'static [u8],
    }

    impl Read for HugeLine {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left > 0 {
                let n = (buf.len() as u64).min(self.left) as usize;
                buf[..n].fill(b'x');
                self.left -= n as u64;
                return Ok(n);
            }
            let n = buf.len().min(self.tail.len());
            buf[..n].copy_from_slice(&self.tail[..n]);
            self.tail = &self.tail[n..];
            Ok(n)
        }
    }

    #[test]
    fn huge_line_is_skipped_in_chunks_and_reading_goes_on() {
        let size = 16 * 1024 * 1024;
        let mut reader = BufReader::new(HugeLine {
            left: size,
            tail: b"\n{\"after\":1}\n",
        });
        let mut got = Vec::new();
        for_each_record(Format::Native, &mut reader, &mut |n, r| {
            got.push((n, r.map(<[u8]>::to_vec).map_err(|e| e.detail)));
        })
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (
                1,
                Err(format!(
                    "line of {size} bytes exceeds the {MAX_RECORD_BYTES} byte limit"
                ))
            )
        );
        assert_eq!(got[1], (2, Ok(b"{\"after\":1}".to_vec())));
    }

    #[test]
    fn huge_last_line_without_newline() {
        let mut reader = BufReader::new(HugeLine {
            left: 200_000,
            tail: b"",
        });
        let mut got = Vec::new();
        for_each_record(Format::Native, &mut reader, &mut |n, r| {
            got.push((n, r.map_err(|e| e.detail).is_ok()))
        })
        .unwrap();
        assert_eq!(got, vec![(1, false)]);
    }

    #[test]
    fn a_break_stops_reading() {
        let mut seen = Vec::new();
        try_for_each_record(Format::Native, &mut &b"a\nb\nc\n"[..], &mut |n, _| {
            seen.push(n);
            if n == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(seen, vec![1, 2]);
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn read_all(path: &Path) -> io::Result<Vec<u64>> {
        let mut reader = open(path)?;
        let mut lines = Vec::new();
        for_each_record(Format::Native, &mut *reader, &mut |n, r| {
            assert!(r.is_ok());
            lines.push(n)
        })?;
        Ok(lines)
    }

    #[test]
    fn gzip_is_detected_by_magic_and_members_are_concatenated() {
        let dir = tempfile::tempdir().unwrap();
        // Two members, as `cat a.gz b.gz` or a rotated log appended to gives.
        let mut data = gzip(b"{\"a\":1}\n{\"a\":2}\n");
        data.extend(gzip(b"{\"a\":3}\n"));
        let named = dir.path().join("events.jsonl.gz");
        std::fs::write(&named, &data).unwrap();
        assert_eq!(read_all(&named).unwrap(), vec![1, 2, 3]);
        // The magic bytes decide, not the name.
        let unnamed = dir.path().join("events.jsonl");
        std::fs::write(&unnamed, &data).unwrap();
        assert_eq!(read_all(&unnamed).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn plain_file_named_gz_is_refused_and_truncated_gzip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake.gz");
        std::fs::write(&fake, b"{\"a\":1}\n").unwrap();
        let err = read_all(&fake).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let cut = dir.path().join("cut.gz");
        let data = gzip("{\"a\":1}\n".repeat(1000).as_bytes());
        std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
        assert!(read_all(&cut).is_err());

        let empty = dir.path().join("empty.gz");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(read_all(&empty).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn missing_file_is_not_found() {
        let err = open(Path::new("/nonexistent/tocsin/events.jsonl"))
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
