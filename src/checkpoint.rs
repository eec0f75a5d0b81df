//! Durable checkpoints: the engine's state together with the source offsets it reflects.
//!
//! A checkpoint is one file, `checkpoint.bin` in `[state] dir`. It holds named state parts (the
//! detector's baselines, and whatever else implements [`Snapshot`]) and, for every Kafka partition
//! the engine owned, the offset of the next record *not yet* reflected in that state. Restoring
//! the parts and seeking each partition to its offset puts the engine exactly where it was; the
//! offsets committed to Kafka only report progress (they are committed after the checkpoint that
//! covers them, so they never run ahead of it).
//!
//! Writes are atomic: a temporary file is written and fsynced, renamed over the previous
//! checkpoint, and the directory is fsynced, so a crash leaves either the old or the new file.
//! A write that fails (a full disk) returns the error, removes its temporary file and leaves
//! the previous checkpoint untouched.
//! The file opens with a header (magic, format version, body length, XXH3-64 of the body); a
//! truncated or corrupt file is refused with a message saying so, never silently treated as
//! "no state", because starting from empty baselines would quietly blind the detector.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header: b"TOCSINCK" | version u32 | body length u64 | xxh3-64(body) u64
//! body:   offsets: count u32, then per partition: topic (u16 length + UTF-8) | partition i32 | offset i64
//!         parts:   count u32, then per part:      name (u16 length + UTF-8)  | length u64 | bytes
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

/// State that can be saved into a checkpoint and restored from one.
///
/// The detector implements it for its baselines; a part writes whatever versioned encoding it
/// likes, the checkpoint only frames and checksums it.
pub trait Snapshot: Send + Sync {
    /// Writes the whole state.
    fn write_snapshot(&self, w: &mut dyn Write) -> io::Result<()>;
    /// Replaces the state with the one read from `r` (written by `write_snapshot`, possibly by an
    /// older version). The error says what is wrong with the data.
    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), RestoreError>;
}

/// Why a state part refused the data a checkpoint handed it: the part's own error, kept whole
/// (each part has its own error type; the checkpoint only names the part).
#[derive(Debug)]
pub struct RestoreError(Box<dyn std::error::Error + Send + Sync>);

impl RestoreError {
    /// Wraps a part's error, or a message.
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> RestoreError {
        RestoreError(e.into())
    }
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RestoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// For each `(topic, partition)`, the offset of the next record the state does not reflect yet.
pub type SourceOffsets = BTreeMap<(String, i32), i64>;

const MAGIC: &[u8; 8] = b"TOCSINCK";
/// The format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 8;
/// The checkpoint file, in the state directory.
pub const FILE_NAME: &str = "checkpoint.bin";
const TMP_NAME: &str = "checkpoint.bin.tmp";

/// The temporary file a checkpoint is written to before the rename.
trait TempFile: Write {
    /// Flushes the data to stable storage (`fsync`).
    fn sync(&mut self) -> io::Result<()>;
}

impl TempFile for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

/// A checkpoint that could not be written or read, with the file it is about.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint {}: {kind}", path.display())]
pub struct CheckpointError {
    /// The checkpoint file (or the directory holding it).
    pub path: PathBuf,
    /// What went wrong.
    pub kind: CheckpointErrorKind,
}

/// What went wrong with a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointErrorKind {
    /// The file system refused (permissions, full disk...).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not start with the checkpoint magic: not a Tocsin checkpoint.
    #[error("not a Tocsin checkpoint (bad magic); move it away to start from empty state")]
    BadMagic,
    /// Written by a newer Tocsin.
    #[error("format version {0} is newer than this build understands ({FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    /// Shorter than its header says: the write was cut short or the file was truncated.
    #[error("truncated: header announces {expected} body bytes, file holds {actual}")]
    Truncated {
        /// Body length announced by the header.
        expected: u64,
        /// Body bytes present.
        actual: u64,
    },
    /// The checksum does not match: the file is corrupt.
    #[error("corrupt: checksum mismatch (stored {stored:016x}, computed {computed:016x})")]
    Corrupt {
        /// Checksum in the header.
        stored: u64,
        /// Checksum of the body as read.
        computed: u64,
    },
    /// The body is inconsistent although its checksum matches (a bug in the writer).
    #[error("malformed body: {0}")]
    Malformed(String),
    /// A state part refused its data.
    #[error("state part `{part}` cannot be restored: {detail}")]
    Part {
        /// The part's name.
        part: String,
        /// Its explanation.
        #[source]
        detail: RestoreError,
    },
    /// The file holds a part this build has no place for: restoring without it would lose state.
    #[error("holds state part `{0}` that this engine does not have")]
    UnknownPart(String),
}

/// A checkpoint as read from disk: verified, not yet applied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Where each partition resumes.
    pub offsets: SourceOffsets,
    /// Each part's bytes, by name.
    pub parts: BTreeMap<String, Vec<u8>>,
}

/// The checkpoint file of one state directory.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// The checkpoint kept in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> CheckpointStore {
        CheckpointStore { dir: dir.into() }
    }

    /// The checkpoint file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn err(&self, kind: impl Into<CheckpointErrorKind>) -> CheckpointError {
        CheckpointError {
            path: self.path(),
            kind: kind.into(),
        }
    }

    /// Writes `parts` and the `offsets` they reflect, atomically. The caller must have quiesced
    /// the pipeline: no part may change while it is written.
    ///
    /// On any failure (a full disk, most likely) the previous checkpoint is left as it was, the
    /// error is returned, and the temporary file is removed: a torn temp file is useless and,
    /// on a full disk, holds the very space the next attempt needs.
    pub fn write(
        &self,
        offsets: &SourceOffsets,
        parts: &[(&str, &dyn Snapshot)],
    ) -> Result<(), CheckpointError> {
        self.write_with(&mut Vec::new(), offsets, parts)
    }

    /// [`write`](Self::write) encoding into `buf` (cleared first): a caller that checkpoints
    /// every few seconds keeps one buffer the size of the state instead of growing a new one
    /// each time.
    pub fn write_with(
        &self,
        buf: &mut Vec<u8>,
        offsets: &SourceOffsets,
        parts: &[(&str, &dyn Snapshot)],
    ) -> Result<(), CheckpointError> {
        self.write_via(buf, offsets, parts, crate::statedir::create_file)
    }

    /// [`write`](Self::write) with the temporary file opened by `create`: the file system, or
    /// in tests a disk that fills up on cue.
    fn write_via<F: TempFile>(
        &self,
        body: &mut Vec<u8>,
        offsets: &SourceOffsets,
        parts: &[(&str, &dyn Snapshot)],
        create: impl FnOnce(&Path) -> io::Result<F>,
    ) -> Result<(), CheckpointError> {
        crate::statedir::create_dir(&self.dir).map_err(|e| self.err(e))?;
        let tmp = self.dir.join(TMP_NAME);
        encode_body(body, offsets, parts).map_err(|e| self.err(e))?;
        let body = &body[..];
        let mut hasher = Xxh3::new();
        hasher.update(body);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..20].copy_from_slice(&(body.len() as u64).to_le_bytes());
        header[20..28].copy_from_slice(&hasher.digest().to_le_bytes());
        let replace = || -> io::Result<()> {
            let mut f = create(&tmp)?;
            f.write_all(&header)?;
            f.write_all(body)?;
            f.sync()?;
            drop(f);
            fs::rename(&tmp, self.path())
        };
        if let Err(e) = replace() {
            if let Err(rm) = fs::remove_file(&tmp) {
                if rm.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(file = %tmp.display(), error = %rm, "cannot remove the failed checkpoint's temporary file");
                }
            }
            return Err(self.err(e));
        }
        // The rename is only durable once the directory entry is on disk.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.err(e))
    }

    /// Reads and verifies the checkpoint. `Ok(None)` only when there is no checkpoint file at all;
    /// any damaged file is an error.
    pub fn load(&self) -> Result<Option<Loaded>, CheckpointError> {
        let data = match fs::read(self.path()) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        decode(&data).map(Some).map_err(|k| self.err(k))
    }

    /// Loads the checkpoint and hands each part its bytes; returns the offsets to resume from
    /// (`None`: no checkpoint, start from what Kafka has committed). A part missing from the file
    /// keeps its current (empty) state and is logged; a part in the file that `parts` lacks is an
    /// error, since dropping it would lose state silently.
    pub fn restore(
        &self,
        parts: &[(&str, &dyn Snapshot)],
    ) -> Result<Option<SourceOffsets>, CheckpointError> {
        let Some(mut loaded) = self.load()? else {
            return Ok(None);
        };
        if let Some(name) = loaded
            .parts
            .keys()
            .find(|n| !parts.iter().any(|(p, _)| p == n))
        {
            return Err(self.err(CheckpointErrorKind::UnknownPart(name.clone())));
        }
        for (name, part) in parts {
            match loaded.parts.remove(*name) {
                Some(bytes) => part
                    .read_snapshot(&mut bytes.as_slice())
                    .map_err(|detail| {
                        self.err(CheckpointErrorKind::Part {
                            part: name.to_string(),
                            detail,
                        })
                    })?,
                None => tracing::warn!(
                    part = name,
                    "checkpoint has no data for this state part; it starts empty"
                ),
            }
        }
        Ok(Some(loaded.offsets))
    }
}

/// Empties a buffer that is refilled with about as many bytes as last time (a state
/// snapshot), and makes room for an eighth more. Left to `Vec`'s doubling, a buffer whose
/// state grows past a power of two would take twice the state's size for good; this way it
/// stays within an eighth of the largest snapshot.
pub(crate) fn clear_for_reuse(buf: &mut Vec<u8>) {
    let last = buf.len();
    buf.clear();
    buf.reserve_exact(last + last / 8);
}

fn encode_body(
    body: &mut Vec<u8>,
    offsets: &SourceOffsets,
    parts: &[(&str, &dyn Snapshot)],
) -> io::Result<()> {
    clear_for_reuse(body);
    body.extend_from_slice(&(offsets.len() as u32).to_le_bytes());
    for ((topic, partition), offset) in offsets {
        put_name(body, topic)?;
        body.extend_from_slice(&partition.to_le_bytes());
        body.extend_from_slice(&offset.to_le_bytes());
    }
    body.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for (name, part) in parts {
        put_name(body, name)?;
        let len_at = body.len();
        body.extend_from_slice(&0u64.to_le_bytes());
        part.write_snapshot(body)?;
        let len = (body.len() - len_at - 8) as u64;
        body[len_at..len_at + 8].copy_from_slice(&len.to_le_bytes());
    }
    Ok(())
}

fn put_name(body: &mut Vec<u8>, name: &str) -> io::Result<()> {
    let len = u16::try_from(name.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("name of {} bytes is too long for a checkpoint", name.len()),
        )
    })?;
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(name.as_bytes());
    Ok(())
}

fn decode(data: &[u8]) -> Result<Loaded, CheckpointErrorKind> {
    if data.len() < 8 || &data[..8] != MAGIC {
        return Err(CheckpointErrorKind::BadMagic);
    }
    if data.len() < HEADER_LEN {
        return Err(CheckpointErrorKind::Truncated {
            expected: 0,
            actual: 0,
        });
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if version > FORMAT_VERSION || version == 0 {
        return Err(CheckpointErrorKind::UnsupportedVersion(version));
    }
    let expected = u64::from_le_bytes(data[12..20].try_into().expect("8 bytes"));
    let stored = u64::from_le_bytes(data[20..28].try_into().expect("8 bytes"));
    let body = &data[HEADER_LEN..];
    if body.len() as u64 != expected {
        return Err(CheckpointErrorKind::Truncated {
            expected,
            actual: body.len() as u64,
        });
    }
    let mut hasher = Xxh3::new();
    hasher.update(body);
    let computed = hasher.digest();
    if computed != stored {
        return Err(CheckpointErrorKind::Corrupt { stored, computed });
    }
    let mut r = Body(body);
    let mut loaded = Loaded::default();
    for _ in 0..r.u32()? {
        let topic = r.name()?;
        let partition = r.i32()?;
        let offset = r.i64()?;
        loaded.offsets.insert((topic, partition), offset);
    }
    for _ in 0..r.u32()? {
        let name = r.name()?;
        let len = usize::try_from(r.u64()?)
            .map_err(|_| CheckpointErrorKind::Malformed("part too large".into()))?;
        let bytes = r.take(len)?.to_vec();
        loaded.parts.insert(name, bytes);
    }
    if !r.0.is_empty() {
        return Err(CheckpointErrorKind::Malformed(format!(
            "{} trailing bytes",
            r.0.len()
        )));
    }
    Ok(loaded)
}

/// A cursor over a verified body; every read is bounds-checked.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CheckpointErrorKind> {
        if self.0.len() < n {
            return Err(CheckpointErrorKind::Malformed(format!(
                "needs {n} more bytes, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CheckpointErrorKind> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
    fn u32(&mut self) -> Result<u32, CheckpointErrorKind> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, CheckpointErrorKind> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, CheckpointErrorKind> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, CheckpointErrorKind> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn name(&mut self) -> Result<String, CheckpointErrorKind> {
        let len = u16::from_le_bytes(self.array()?) as usize;
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| CheckpointErrorKind::Malformed("name is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// Bug (found in the 40 M-event soak, under heaptrack): the reused checkpoint buffers grew
    /// by `Vec` doubling, so once the state crossed a power of two each took twice its size for
    /// good, a step of ~3 MiB per buffer in the steady phase.
    #[test]
    fn a_reused_buffer_stays_close_to_the_snapshot_it_holds() {
        let mut buf = Vec::new();
        let mut len = 1_000_000usize;
        let mut worst: f64 = 0.0;
        for fill in 0..150 {
            clear_for_reuse(&mut buf);
            // Written in small pieces, as postcard does.
            for _ in 0..len / 64 {
                buf.extend_from_slice(&[7u8; 64]);
            }
            if fill > 0 {
                worst = worst.max(buf.capacity() as f64 / buf.len() as f64);
            }
            len += len / 100;
        }
        assert!(worst <= 1.2, "capacity reached {worst:.2} × the snapshot");
    }

    /// A state part holding one byte string, like a tiny baseline store.
    #[derive(Default)]
    struct Notes(Mutex<Vec<u8>>);

    impl Snapshot for Notes {
        fn write_snapshot(&self, w: &mut dyn Write) -> io::Result<()> {
            w.write_all(&self.0.lock())
        }
        fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), RestoreError> {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map_err(RestoreError::new)?;
            if v.first() == Some(&b'!') {
                return Err(RestoreError::new("refuses data starting with !"));
            }
            *self.0.lock() = v;
            Ok(())
        }
    }

    fn offsets() -> SourceOffsets {
        [
            (("auth-events".to_string(), 0), 1234),
            (("auth-events".to_string(), 3), 7),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn round_trip_restores_parts_and_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path().join("state"));
        let baselines = Notes(Mutex::new(b"dr.martin: device d1".to_vec()));
        let sessions = Notes(Mutex::new(Vec::new()));
        store
            .write(
                &offsets(),
                &[("baselines", &baselines), ("sessions", &sessions)],
            )
            .unwrap();

        let restored_b = Notes::default();
        let restored_s = Notes(Mutex::new(b"stale".to_vec()));
        let got = store
            .restore(&[("baselines", &restored_b), ("sessions", &restored_s)])
            .unwrap();
        assert_eq!(got, Some(offsets()));
        assert_eq!(&*restored_b.0.lock(), b"dr.martin: device d1");
        assert!(restored_s.0.lock().is_empty());
        assert!(!dir.path().join("state/checkpoint.bin.tmp").exists());
    }

    #[test]
    fn no_file_means_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        assert_eq!(store.restore(&[]).unwrap(), None);
    }

    #[test]
    fn truncated_file_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let part = Notes(Mutex::new(vec![7; 1000]));
        store.write(&offsets(), &[("baselines", &part)]).unwrap();
        let data = fs::read(store.path()).unwrap();
        fs::write(store.path(), &data[..data.len() - 10]).unwrap();
        let err = store.restore(&[("baselines", &part)]).unwrap_err();
        assert!(
            matches!(err.kind, CheckpointErrorKind::Truncated { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("checkpoint.bin"), "{err}");
    }

    #[test]
    fn flipped_byte_is_reported_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let part = Notes(Mutex::new(vec![7; 100]));
        store.write(&offsets(), &[("baselines", &part)]).unwrap();
        let mut data = fs::read(store.path()).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x40;
        fs::write(store.path(), &data).unwrap();
        let err = store.load().unwrap_err();
        assert!(
            matches!(err.kind, CheckpointErrorKind::Corrupt { .. }),
            "{err}"
        );
    }

    #[test]
    fn other_file_and_future_version_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        fs::write(store.path(), b"{\"not\":\"a checkpoint\"}").unwrap();
        assert!(matches!(
            store.load().unwrap_err().kind,
            CheckpointErrorKind::BadMagic
        ));

        store.write(&offsets(), &[]).unwrap();
        let mut data = fs::read(store.path()).unwrap();
        data[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        fs::write(store.path(), &data).unwrap();
        assert!(matches!(
            store.load().unwrap_err().kind,
            CheckpointErrorKind::UnsupportedVersion(v) if v == FORMAT_VERSION + 1
        ));
    }

    #[test]
    fn unknown_part_and_refused_part_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let part = Notes(Mutex::new(b"!bad".to_vec()));
        store.write(&offsets(), &[("revocations", &part)]).unwrap();
        let err = store.restore(&[]).unwrap_err();
        assert!(matches!(err.kind, CheckpointErrorKind::UnknownPart(ref p) if p == "revocations"));
        let err = store.restore(&[("revocations", &part)]).unwrap_err();
        assert!(err.to_string().contains("refuses data"), "{err}");
    }

    #[test]
    fn rewrite_replaces_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        store.write(&offsets(), &[]).unwrap();
        let mut later = offsets();
        later.insert(("auth-events".into(), 0), 5000);
        store.write(&later, &[]).unwrap();
        assert_eq!(store.load().unwrap().unwrap().offsets, later);
    }

    fn enospc() -> io::Error {
        io::Error::from(io::ErrorKind::StorageFull)
    }

    /// A disk that fills up: `room` bytes reach the real temporary file, then writes fail with
    /// ENOSPC; with `fail_sync` every write fits and `fsync` fails instead (delayed allocation,
    /// network file systems).
    struct FillingDisk {
        file: File,
        room: usize,
        fail_sync: bool,
    }

    impl Write for FillingDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.fail_sync {
                return self.file.write(buf);
            }
            if self.room == 0 {
                return Err(enospc());
            }
            let n = buf.len().min(self.room);
            let n = self.file.write(&buf[..n])?;
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }

    impl TempFile for FillingDisk {
        fn sync(&mut self) -> io::Result<()> {
            if self.fail_sync {
                return Err(enospc());
            }
            self.file.sync_all()
        }
    }

    fn on_disk(room: usize, fail_sync: bool) -> impl FnOnce(&Path) -> io::Result<FillingDisk> {
        move |p| {
            Ok(FillingDisk {
                file: File::create(p)?,
                room,
                fail_sync,
            })
        }
    }

    #[test]
    fn disk_full_at_any_byte_keeps_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let old = Notes(Mutex::new(b"dr.martin: device d1, FR".repeat(40)));
        store.write(&offsets(), &[("baselines", &old)]).unwrap();
        let good = fs::read(store.path()).unwrap();

        let mut later = offsets();
        later.insert(("auth-events".into(), 0), 9999);
        let new = Notes(Mutex::new(vec![0x5a; 5000]));
        let full_len = {
            let other = tempfile::tempdir().unwrap();
            let s = CheckpointStore::new(other.path());
            s.write(&later, &[("baselines", &new)]).unwrap();
            fs::read(s.path()).unwrap().len()
        };
        let tmp = dir.path().join(TMP_NAME);
        let cuts = [
            0,
            1,
            HEADER_LEN - 1,
            HEADER_LEN,
            HEADER_LEN + 1,
            2500,
            full_len - 1,
        ];
        let failures = cuts
            .iter()
            .map(|&room| (format!("full after {room} bytes"), on_disk(room, false)))
            .chain([("fsync fails".to_string(), on_disk(usize::MAX, true))]);
        for (what, disk) in failures {
            let err = store
                .write_via(&mut Vec::new(), &later, &[("baselines", &new)], disk)
                .unwrap_err();
            assert!(
                matches!(&err.kind, CheckpointErrorKind::Io(e) if e.kind() == io::ErrorKind::StorageFull),
                "{what}: {err}"
            );
            assert!(err.to_string().contains("checkpoint.bin"), "{what}: {err}");
            assert_eq!(fs::read(store.path()).unwrap(), good, "{what}: replaced");
            assert!(!tmp.exists(), "{what}: temporary file left behind");
            let restored = Notes::default();
            assert_eq!(
                store.restore(&[("baselines", &restored)]).unwrap(),
                Some(offsets()),
                "{what}"
            );
            assert_eq!(*restored.0.lock(), *old.0.lock(), "{what}");
        }

        // The file cannot even be created (no space for an inode): same outcome.
        let err = store
            .write_via(&mut Vec::new(), &later, &[("baselines", &new)], |_| {
                Err::<FillingDisk, _>(enospc())
            })
            .unwrap_err();
        assert!(matches!(err.kind, CheckpointErrorKind::Io(_)), "{err}");
        assert_eq!(fs::read(store.path()).unwrap(), good);

        // With room again, the same disk takes the new checkpoint: the failures above came
        // from the disk, not from the test's stand-in.
        store
            .write_via(
                &mut Vec::new(),
                &later,
                &[("baselines", &new)],
                on_disk(full_len, false),
            )
            .unwrap();
        assert_eq!(store.load().unwrap().unwrap().offsets, later);
        assert!(!tmp.exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["checkpoint.bin"]);
    }
}
