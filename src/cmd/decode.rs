//! `tocsin decode`: shows what Tocsin makes of each input record, for checking a format mapping.
//!
//! Every record, in input order, becomes one JSON line on stdout: the normalised native event,
//! or `{"file","line","rejected","detail"}`, or `{"file","line","not_applicable"}`. Bad records
//! are the point of this command, so they never change the exit code; an input that cannot be
//! opened is a usage error (exit 2) and one that breaks off mid-way (a truncated `.gz`) exits 1
//! after everything readable was printed.

use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{CmdError, CmdResult};
use crate::event::Event;
use crate::source::decode::{self, Decoded, Format, RejectKind, Rejection};
use crate::source::file;

/// Arguments of `tocsin decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Input format.
    #[arg(long, value_enum, default_value = "native")]
    pub format: Format,
    /// Input files (`-` = stdin, `.gz` accepted).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// What the run saw, for the closing summary.
#[derive(Debug, Default)]
struct Tally {
    records: u64,
    events: u64,
    rejected: u64,
    not_applicable: u64,
    unreadable_files: u64,
}

/// Runs `tocsin decode`.
pub fn run(args: DecodeArgs) -> CmdResult {
    // Check every input before printing anything, so a typo does not leave half an output.
    for f in &args.files {
        if f.as_os_str() != "-" && !f.is_file() {
            return Err(CmdError::Usage(format!("{}: no such file", f.display())));
        }
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let mut tally = Tally::default();
    let mut closed = false;
    for path in &args.files {
        match decode_file(args.format, path, &mut out, &mut tally) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                closed = true;
                break;
            }
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return Err(anyhow::Error::from(e).context("writing output").into())
        }
        Err(_) => closed = true,
        Ok(()) => {}
    }
    if !closed {
        eprintln!(
            "decode: {} records: {} events, {} rejected, {} not applicable{}",
            tally.records,
            tally.events,
            tally.rejected,
            tally.not_applicable,
            if tally.unreadable_files > 0 {
                format!(
                    "; {} file(s) could not be read to the end",
                    tally.unreadable_files
                )
            } else {
                String::new()
            }
        );
    }
    Ok(if tally.unreadable_files > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints every record of one file. Errors returned are output errors; a read error of the
/// input is printed as an `io` rejection and counted.
fn decode_file(
    format: Format,
    path: &Path,
    out: &mut dyn Write,
    tally: &mut Tally,
) -> io::Result<()> {
    let name = path.display().to_string();
    let mut reader = match file::open(path) {
        Ok(r) => r,
        Err(e) => {
            tally.unreadable_files += 1;
            let rejection = Rejection::new(RejectKind::Io, format!("cannot open: {e}"));
            return write_rejection(out, &name, 0, &rejection);
        }
    };
    let mut last_line = 0;
    let mut write_error = None;
    let read = file::try_for_each_record(format, &mut *reader, &mut |line, record| {
        last_line = line;
        tally.records += 1;
        let written = match record {
            Ok(bytes) => {
                let mut result = Ok(());
                decode::decode(format, bytes, &mut |decoded| {
                    if result.is_err() {
                        return;
                    }
                    result = match decoded {
                        Ok(Decoded::Event(event)) => {
                            tally.events += 1;
                            write_event(out, &event)
                        }
                        Ok(Decoded::NotApplicable(why)) => {
                            tally.not_applicable += 1;
                            write_not_applicable(out, &name, line, &why)
                        }
                        Err(rejection) => {
                            tally.rejected += 1;
                            write_rejection(out, &name, line, &rejection)
                        }
                    };
                });
                result
            }
            Err(rejection) => {
                tally.rejected += 1;
                write_rejection(out, &name, line, &rejection)
            }
        };
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    if let Err(e) = read {
        tally.unreadable_files += 1;
        let rejection = Rejection::new(RejectKind::Io, format!("read error: {e}"));
        write_rejection(out, &name, last_line + 1, &rejection)?;
    }
    Ok(())
}

fn write_event(mut out: &mut dyn Write, event: &Event<'_>) -> io::Result<()> {
    event.write_json(&mut out)?;
    out.write_all(b"\n")
}

fn write_rejection(
    out: &mut dyn Write,
    file: &str,
    line: u64,
    rejection: &Rejection,
) -> io::Result<()> {
    out.write_all(b"{\"file\":")?;
    serde_json::to_writer(&mut *out, file)?;
    write!(
        out,
        ",\"line\":{line},\"rejected\":\"{}\",\"detail\":",
        rejection.kind.as_str()
    )?;
    serde_json::to_writer(&mut *out, &rejection.detail)?;
    out.write_all(b"}\n")
}

fn write_not_applicable(out: &mut dyn Write, file: &str, line: u64, why: &str) -> io::Result<()> {
    out.write_all(b"{\"file\":")?;
    serde_json::to_writer(&mut *out, file)?;
    write!(out, ",\"line\":{line},\"not_applicable\":")?;
    serde_json::to_writer(&mut *out, why)?;
    out.write_all(b"}\n")
}
