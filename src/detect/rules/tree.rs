//! Where rule files come from: a rules directory on disk, or the rules tree built into the
//! binary (the repository's `rules/`, embedded by `build.rs`, used when no `[rules] dir` is
//! configured). Loading ([`mod@super::file`], [`super::lists`]) reads both the same way through
//! [`RuleTree`]; [`dump`] writes the built-in tree out as the start of a custom set.
//!
//! This module only lists and reads files; what they mean is the rest of `rules`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::error::{read_sorted, RuleError};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
}

/// How built-in files are named in errors and in [`super::Rule::file`].
pub const BUILT_IN_ROOT: &str = "<built-in rules>";

/// A rules tree: `stable/`, `incubating/`, `sandbox/` (rule files, in sub-folders at will) and
/// `lists/`.
#[derive(Clone, Copy, Debug)]
pub enum RuleTree<'a> {
    /// A rules directory on disk.
    Dir(&'a Path),
    /// The rules shipped inside the binary.
    BuiltIn,
}

impl RuleTree<'_> {
    /// The root, as errors name it.
    pub fn root(&self) -> PathBuf {
        match self {
            RuleTree::Dir(d) => d.to_path_buf(),
            RuleTree::BuiltIn => PathBuf::from(BUILT_IN_ROOT),
        }
    }

    /// The `.toml` files under the folder `sub` (recursively or not), sorted as paths; a
    /// missing folder has none.
    pub(crate) fn toml_files(&self, sub: &str, recursive: bool) -> Result<Vec<PathBuf>, RuleError> {
        match self {
            RuleTree::Dir(d) => read_sorted(&d.join(sub), recursive),
            RuleTree::BuiltIn => {
                let prefix = format!("{sub}/");
                let mut out: Vec<PathBuf> = embedded::FILES
                    .iter()
                    .filter_map(|(rel, _)| {
                        let inner = rel.strip_prefix(&prefix)?;
                        (inner.ends_with(".toml") && (recursive || !inner.contains('/')))
                            .then(|| Path::new(BUILT_IN_ROOT).join(rel))
                    })
                    .collect();
                // Sorted as paths, like a directory's files, so rules come in the same order
                // from either tree.
                out.sort();
                Ok(out)
            }
        }
    }

    /// The text of a file [`RuleTree::toml_files`] returned.
    pub(crate) fn read(&self, path: &Path) -> std::io::Result<Cow<'static, str>> {
        match self {
            RuleTree::Dir(_) => std::fs::read_to_string(path).map(Cow::Owned),
            RuleTree::BuiltIn => path
                .strip_prefix(BUILT_IN_ROOT)
                .ok()
                .and_then(|rel| {
                    embedded::FILES
                        .iter()
                        .find(|(r, _)| Path::new(r) == rel)
                        .map(|(_, text)| Cow::Borrowed(*text))
                })
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    }
}

/// Every file of the built-in tree: path relative to it (`/`-separated) and text, sorted.
pub fn built_in_files() -> &'static [(&'static str, &'static str)] {
    embedded::FILES
}

/// Why [`dump`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The destination holds files already: a dump never overwrites a rules set.
    #[error("{0}: exists and is not an empty folder; choose a new one")]
    NotEmpty(PathBuf),
    /// A file or folder could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file or folder at fault.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Writes the built-in tree (rules of every maturity, lists, README) under `dest`, which must
/// not exist or be an empty folder. Returns the number of files written.
pub fn dump(dest: &Path) -> Result<usize, DumpError> {
    if dest.exists() {
        let empty = std::fs::read_dir(dest).is_ok_and(|mut rd| rd.next().is_none());
        if !empty {
            return Err(DumpError::NotEmpty(dest.to_path_buf()));
        }
    }
    for (rel, text) in embedded::FILES {
        let path = dest.join(rel);
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)
        };
        write(&path).map_err(|source| DumpError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(embedded::FILES.len())
}
