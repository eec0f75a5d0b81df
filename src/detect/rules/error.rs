//! The errors of the rule language and of rules directories, and the helpers that locate them:
//! an expression's problem at a byte offset ([`ExprError`]), a file's problem at a line with
//! its rule id ([`RuleError`], [`RuleErrors`]), TOML documents that keep every key's position
//! (`SpannedTable`) and the sorted walk of a rules folder (`read_sorted`).
//!
//! Every other module of `rules` reports through these; this one depends on none of them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;

/// Why a `when` expression was refused, and where (byte offset into the expression).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Byte offset into the expression source where the problem starts.
    pub offset: usize,
    /// What is wrong, for a rule author.
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            offset,
            message: message.into(),
        }
    }

    /// The 1-based line and column (in characters) of [`ExprError::offset`] within `src`, the
    /// expression it came from: `when` may be a multi-line TOML string.
    pub fn line_column(&self, src: &str) -> (usize, usize) {
        let upto = self.offset.min(src.len());
        let (mut line, mut column) = (1, 1);
        // Offsets always sit on char boundaries (the lexer only stops there); `take_while`
        // stays correct even if one did not.
        for (_, c) in src.char_indices().take_while(|(i, _)| *i < upto) {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        (line, column)
    }
}

/// One problem in a rules directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The file (as found under the rules directory given).
    pub file: PathBuf,
    /// 1-based line of the offending key, when the problem has one.
    pub line: Option<usize>,
    /// The rule id, once known.
    pub rule: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl RuleError {
    pub(crate) fn new(
        file: &Path,
        line: Option<usize>,
        rule: Option<&str>,
        reason: impl Into<String>,
    ) -> RuleError {
        RuleError {
            file: file.to_path_buf(),
            line,
            rule: rule.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": rule {rule}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Every problem found while loading a rules directory, in file and line order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()
        .iter()
        .take(offset.min(src.len()))
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A TOML document's top-level keys and values, each with its byte range, so every error can
/// name its line and unknown keys can be reported together with everything else.
pub(crate) struct SpannedTable(BTreeMap<Spanned<String>, Spanned<toml::Value>>);

impl SpannedTable {
    /// Parses `src`; a TOML syntax error comes back as `(line, reason)`.
    pub(crate) fn parse(src: &str) -> Result<SpannedTable, (Option<usize>, String)> {
        toml::from_str(src).map(SpannedTable).map_err(|e| {
            let line = e.span().map(|s| line_of(src, s.start));
            (line, format!("invalid TOML: {}", e.message().trim()))
        })
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Spanned<toml::Value>> {
        // Spanned compares by value only, so a zero span finds the real key.
        self.0.get(&Spanned::new(0..0, key.to_owned()))
    }

    /// The key itself, with its span.
    pub(crate) fn key(&self, key: &str) -> Option<&Spanned<String>> {
        self.0
            .get_key_value(&Spanned::new(0..0, key.to_owned()))
            .map(|(k, _)| k)
    }

    /// Keys not in `known`.
    pub(crate) fn unknown_keys<'a>(
        &'a self,
        known: &'a [&str],
    ) -> impl Iterator<Item = &'a Spanned<String>> + 'a {
        self.0
            .keys()
            .filter(move |k| !known.contains(&k.get_ref().as_str()))
    }
}

/// The `.toml` files under `dir`, sorted by path; `recursive` descends into sub-folders. A
/// missing folder has no files.
pub(crate) fn read_sorted(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>, RuleError> {
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, recursive, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), RuleError> {
    let cannot =
        |e: std::io::Error| RuleError::new(dir, None, None, format!("cannot read folder: {e}"));
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        // Hidden files: editor lock and swap files (`.#rule.toml`), never rules.
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        // Symlinked files are read; symlinked folders are not descended into, since a link
        // back up the tree would loop forever.
        if path.is_dir() {
            if recursive && !is_symlink(&path) {
                walk(&path, recursive, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_offsets() {
        let s = "a\nbb\nccc";
        assert_eq!(line_of(s, 0), 1);
        assert_eq!(line_of(s, 2), 2);
        assert_eq!(line_of(s, 7), 3);
        assert_eq!(line_of(s, 999), 3);
    }
}
