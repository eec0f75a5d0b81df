//! Disk full while checkpointing, on a real file system: a 256 KiB tmpfs is mounted (root
//! only; CI runs as root), filled almost to the brim, and a checkpoint larger than what is left
//! is written into it. The write must fail with the disk's own error, the previous checkpoint
//! must stay byte for byte and loadable, and the torn temporary file must be gone, so failed
//! attempts do not eat the space a later one needs.
//!
//! Where mounting is impossible (not root, no CAP_SYS_ADMIN) the test says so loudly on stderr
//! and returns; the injected-ENOSPC unit test `checkpoint::tests::disk_full_at_any_byte_keeps_
//! the_previous_checkpoint` covers the same guarantees everywhere.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use parking_lot::Mutex;
use tocsin::checkpoint::{
    CheckpointErrorKind, CheckpointStore, RestoreError, Snapshot, SourceOffsets,
};

/// A state part holding opaque bytes.
#[derive(Default)]
struct Blob(Mutex<Vec<u8>>);

impl Snapshot for Blob {
    fn write_snapshot(&self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(&self.0.lock())
    }
    fn read_snapshot(&self, r: &mut dyn Read) -> Result<(), RestoreError> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).map_err(RestoreError::new)?;
        *self.0.lock() = v;
        Ok(())
    }
}

/// A small tmpfs mounted for the test, unmounted (and its mount point removed) on drop, even
/// when an assertion fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let uid = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            })
            .unwrap_or_default();
        if uid != "0" {
            return Err(format!("not root (effective uid {uid:?})"));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tocsin-disk-full-test")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut c = Command::new("umount");
            if lazy {
                c.arg("-l");
            }
            c.arg(self.dir.path()).status().is_ok_and(|s| s.success())
        };
        if !umount(false) && !umount(true) {
            eprintln!("could not unmount {}", self.dir.path().display());
        }
    }
}

/// Writes 4 KiB files until the disk refuses one; returns them (the last one may be partial).
fn fill(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in 0.. {
        let path = dir.join(format!("filler-{i:04}"));
        let result = File::create(&path).and_then(|mut f| f.write_all(&[0xee; 4096]));
        files.push(path);
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::StorageFull => return files,
            Err(e) => panic!("filling the disk: {e}"),
        }
        assert!(i < 1000, "a 256 KiB disk took 4 MiB: not the small tmpfs?");
    }
    unreachable!()
}

fn offsets(next: i64) -> SourceOffsets {
    [(("auth-events".to_string(), 0), next)]
        .into_iter()
        .collect()
}

#[test]
fn full_disk_keeps_the_previous_checkpoint_and_no_torn_temp_file() {
    let disk = match SmallDisk::mount("256k") {
        Ok(d) => d,
        Err(why) => {
            eprintln!(
                "\n*** NOT RUN: real disk-full checkpoint test: cannot mount a tmpfs ({why}).\n\
                 *** Only the injected-ENOSPC unit test covered a full disk in this run.\n"
            );
            return;
        }
    };
    let state = disk.path().join("state");
    let store = CheckpointStore::new(&state);
    let old = Blob(Mutex::new(
        b"baseline of dr.martin@cabinet-rouen ".repeat(500),
    ));
    store.write(&offsets(1000), &[("detector", &old)]).unwrap();
    let good = fs::read(store.path()).unwrap();
    assert!(good.len() > 16 * 1024);

    let filler = fill(disk.path());
    // Leave 8 KiB (the refused filler file, empty, and two full ones): the new checkpoint
    // (64 KiB) starts, then tears part-way.
    for f in &filler[filler.len() - 3..] {
        fs::remove_file(f).unwrap();
    }
    let new = Blob(Mutex::new(vec![0x42; 64 * 1024]));
    for attempt in 0..5 {
        let err = store
            .write(&offsets(2000), &[("detector", &new)])
            .unwrap_err();
        assert!(
            matches!(&err.kind, CheckpointErrorKind::Io(e) if e.kind() == io::ErrorKind::StorageFull),
            "attempt {attempt}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("checkpoint.bin") && msg.contains("No space left on device"),
            "{msg}"
        );
        assert_eq!(fs::read(store.path()).unwrap(), good, "attempt {attempt}");
        let names: Vec<_> = fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["checkpoint.bin"], "attempt {attempt}");
    }
    // The space the torn attempts used is free again: 8 KiB still fit.
    let room = disk.path().join("room");
    File::create(&room)
        .and_then(|mut f| f.write_all(&[1; 8192]))
        .expect("failed checkpoints left their bytes on the disk");
    fs::remove_file(&room).unwrap();

    // The previous checkpoint restores as it was.
    let restored = Blob::default();
    assert_eq!(
        store.restore(&[("detector", &restored)]).unwrap(),
        Some(offsets(1000))
    );
    assert_eq!(*restored.0.lock(), *old.0.lock());

    // Once space is freed, the next checkpoint goes through.
    for f in &filler {
        let _ = fs::remove_file(f);
    }
    store.write(&offsets(2000), &[("detector", &new)]).unwrap();
    let restored = Blob::default();
    assert_eq!(
        store.restore(&[("detector", &restored)]).unwrap(),
        Some(offsets(2000))
    );
    assert_eq!(restored.0.lock().len(), 64 * 1024);
}
