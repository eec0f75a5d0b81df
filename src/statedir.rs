//! Files in the state directory, readable by the engine's user only. The state directory holds
//! baselines (account names, networks, devices), revocations, alert bodies waiting for delivery
//! and dead letters: it is created `0700` and every file in it `0600`, and a file or directory
//! that already exists with a wider mode is narrowed when the engine opens it (state written by
//! an older version). Stops at permissions: what goes into each file is its owner's business
//! (`checkpoint`, `respond::revoke`, `respond::outbox`).
//!
//! On platforms without Unix modes these are the plain operations.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

/// Mode of the state directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in it.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its parents) if needed and narrows it to [`DIR_MODE`].
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    narrow(dir, DIR_MODE)
}

/// Creates (or truncates) `path` for writing, [`FILE_MODE`].
pub fn create_file(path: &Path) -> io::Result<File> {
    let f = options(OpenOptions::new().write(true).create(true).truncate(true)).open(path)?;
    narrow(path, FILE_MODE)?;
    Ok(f)
}

/// Opens `path` for appending, creating it if `create`, [`FILE_MODE`].
pub fn open_append(path: &Path, create: bool) -> io::Result<File> {
    let f = options(OpenOptions::new().append(true).create(create)).open(path)?;
    narrow(path, FILE_MODE)?;
    Ok(f)
}

#[cfg(unix)]
fn options(o: &mut OpenOptions) -> &mut OpenOptions {
    o.mode(FILE_MODE)
}

#[cfg(not(unix))]
fn options(o: &mut OpenOptions) -> &mut OpenOptions {
    o
}

/// Sets `mode` unless the current one is already as narrow (a file created with `mode` is, the
/// umask only narrows it further).
#[cfg(unix)]
fn narrow(path: &Path, mode: u32) -> io::Result<()> {
    let now = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if now & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}
