//! The installation's key for account and tenant names (`baseline::name_key64`): 16 random
//! bytes in `<state dir>/name-key` (hex, mode 0600), created once by the first `tocsin run`
//! and read by every later one, so baselines and checkpoints keep matching their accounts.
//!
//! A state directory that already holds a checkpoint but no key file was written with unkeyed
//! names: the file then records `unkeyed` and the engine goes on unkeyed, so an upgrade never
//! silently forgets every baseline (a fresh state directory gets a key). `replay` has no
//! installation and hashes unkeyed, so its output does not depend on any file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The key file, in the state directory.
pub(crate) const KEY_FILE: &str = "name-key";

/// What the state directory says about name keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKey {
    /// Names are hashed with this key.
    Keyed([u8; 16]),
    /// State from before keyed names: hashed unkeyed, as that state was written.
    Unkeyed,
}

/// A key file that cannot be created or used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NameKeyError {
    /// Reading or writing failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file holds something else than a key or `unkeyed` (never shown: it may be a key).
    #[error("{path}: not a name key (32 hex digits, or `unkeyed`); restore it from a backup, or remove it together with the checkpoint to start over", path = path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
}

/// Reads the key of the state directory `dir`, creating it (and `dir`) when there is none.
pub(crate) fn load_or_create(dir: &Path) -> Result<NameKey, NameKeyError> {
    let path = dir.join(KEY_FILE);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NameKeyError::Io { path, source }
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return parse(&text).ok_or(NameKeyError::Corrupt { path }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path)(e)),
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key = if dir.join(crate::checkpoint::FILE_NAME).exists() {
        NameKey::Unkeyed
    } else {
        NameKey::Keyed(rand::random())
    };
    let text = match key {
        NameKey::Keyed(k) => format!("{}\n", hex::encode(k)),
        NameKey::Unkeyed => "unkeyed\n".to_owned(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io(&path))?;
            Ok(key)
        }
        // Another process created it first: use its key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            parse(&text).ok_or(NameKeyError::Corrupt { path })
        }
        Err(e) => Err(io(&path)(e)),
    }
}

fn parse(text: &str) -> Option<NameKey> {
    let text = text.trim();
    if text == "unkeyed" {
        return Some(NameKey::Unkeyed);
    }
    let bytes = hex::decode(text).ok()?;
    Some(NameKey::Keyed(<[u8; 16]>::try_from(bytes.as_slice()).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = load_or_create(&state).unwrap();
        let NameKey::Keyed(key) = first else {
            panic!("a fresh state directory gets a key: {first:?}")
        };
        assert_ne!(key, [0; 16]);
        assert_eq!(
            load_or_create(&state).unwrap(),
            first,
            "read back, not re-made"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(state.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another installation, another key.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path()).unwrap(), first);
        // Keyed names differ from unkeyed ones and between keys.
        let name = "dr.martin@cabinet-rouen";
        let keyed = crate::baseline::keyed_name_key64(&key, name);
        assert_eq!(keyed, crate::baseline::keyed_name_key64(&key, name));
        assert_ne!(keyed, crate::baseline::keyed_name_key64(&[7; 16], name));
        assert_ne!(keyed, xxhash_rust::xxh3::xxh3_64(name.as_bytes()));
    }

    #[test]
    fn state_written_before_keyed_names_stays_unkeyed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::checkpoint::FILE_NAME), b"old state").unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap(), NameKey::Unkeyed);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(),
            "unkeyed\n"
        );
        assert_eq!(load_or_create(dir.path()).unwrap(), NameKey::Unkeyed);
    }

    #[test]
    fn a_damaged_key_file_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "0123456789abcdef-secretish").unwrap();
        let e = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a name key"), "{e}");
        assert!(!e.contains("secretish"), "{e}");
    }
}
