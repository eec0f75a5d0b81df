//! Rule files on disk: finding them (sorted, per maturity folder), reading each TOML file with
//! the position of every key, validating every field, and reporting *all* problems with file,
//! line and rule id, the way a rule author fixes them in one pass.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::expr::{compile, unknown_feature};
use super::lists::Lists;
use super::{FeatureDef, Maturity, Mode, Rule, RuleSet};
use crate::alert::{ResponseAction, Severity};

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

/// Keys a rule file may have.
const RULE_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "severity",
    "mitre",
    "when",
    "actions",
    "suppress",
    "mode",
    "false_positives",
    "explain",
];

/// Loads the rules of the given maturities (`stable`, `incubating`, `sandbox`) from `dir`,
/// with the lists of `dir/lists`. Every problem is collected; a missing maturity folder is
/// simply empty.
pub fn load_dir(
    dir: &Path,
    maturities: &[String],
    catalog: &[FeatureDef],
) -> Result<RuleSet, RuleErrors> {
    let mut errors = Vec::new();
    let mut wanted = Vec::new();
    for m in maturities {
        match Maturity::parse(m) {
            Some(m) if !wanted.contains(&m) => wanted.push(m),
            Some(_) => {}
            None => errors.push(RuleError::new(
                dir,
                None,
                None,
                format!("unknown maturity `{m}` (stable, incubating, sandbox)"),
            )),
        }
    }
    let (lists, list_errors) = Lists::load_partial(dir);
    errors.extend(list_errors);

    let mut rules = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for maturity in Maturity::ALL {
        if !wanted.contains(&maturity) {
            continue;
        }
        let files = match read_sorted(&dir.join(maturity.as_str()), true) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for file in files {
            let src = match std::fs::read_to_string(&file) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(RuleError::new(
                        &file,
                        None,
                        None,
                        format!("cannot read: {e}"),
                    ));
                    continue;
                }
            };
            match parse_rule(&src, &file, maturity, catalog, &lists) {
                Ok(rule) => {
                    if let Some(first) = seen.get(&rule.id) {
                        let line = SpannedTable::parse(&src)
                            .ok()
                            .and_then(|t| t.key("id").map(|k| line_of(&src, k.span().start)));
                        errors.push(RuleError::new(
                            &file,
                            line,
                            Some(&rule.id),
                            format!("duplicate id: already used by {}", first.display()),
                        ));
                    } else {
                        seen.insert(rule.id.clone(), file.clone());
                        rules.push(rule);
                    }
                }
                Err(errs) => errors.extend(errs),
            }
        }
    }
    if errors.is_empty() {
        Ok(RuleSet { rules, lists })
    } else {
        // Stable order: by file, then line; problems without a line first within their file.
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(RuleErrors(errors))
    }
}

/// Parses and validates one rule file.
pub fn parse_rule(
    src: &str,
    file: &Path,
    maturity: Maturity,
    catalog: &[FeatureDef],
    lists: &Lists,
) -> Result<Rule, Vec<RuleError>> {
    let table = SpannedTable::parse(src)
        .map_err(|(line, reason)| vec![RuleError::new(file, line, None, reason)])?;
    let mut p = Fields {
        src,
        file,
        table: &table,
        id: None,
        errors: Vec::new(),
    };

    let id = p.required_str("id");
    if let Some((id, line)) = &id {
        let valid = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
        if valid {
            p.id = Some(id.clone());
        } else {
            p.error(Some(*line), format!("id: `{id}` must match [a-z0-9_.]+"));
        }
    }
    for key in table.unknown_keys(RULE_KEYS) {
        let line = line_of(src, key.span().start);
        let msg = match super::expr::closest(key.get_ref(), RULE_KEYS.iter().copied()) {
            Some(close) => format!("unknown key `{}` (did you mean `{close}`?)", key.get_ref()),
            None => format!("unknown key `{}`", key.get_ref()),
        };
        p.error(Some(line), msg);
    }
    let name = p.required_str("name");
    if let Some((n, line)) = &name {
        if n.trim().is_empty() {
            p.error(
                Some(*line),
                "name: must not be empty (it is the alert title)",
            );
        }
    }
    let description = p.optional_str("description");

    let severity = p.required_str("severity").and_then(|(s, line)| {
        let sev = Severity::parse(&s);
        if sev.is_none() {
            let levels = ["low", "medium", "high", "critical"];
            let hint = super::expr::closest(&s, levels.into_iter())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            p.error(
                Some(line),
                format!("severity: `{s}` is not one of low, medium, high, critical{hint}"),
            );
        }
        sev
    });

    let mitre = p.required_str_array("mitre").map(|(ids, line)| {
        for t in &ids {
            if !is_mitre_technique(t) {
                p.error(
                    Some(line),
                    format!("mitre: `{t}` is not an ATT&CK technique id (T1078, T1110.003)"),
                );
            }
        }
        ids
    });

    let when = p.required_str("when").and_then(|(src_when, line)| {
        match compile(&src_when, catalog, lists) {
            Ok(expr) => Some((expr, src_when)),
            Err(e) => {
                p.error(Some(line), format!("when: {}", e.message));
                None
            }
        }
    });

    let actions = match p.optional_str_array("actions") {
        None => Some(vec![ResponseAction::Alert]),
        Some((names, line)) => {
            let mut actions = Vec::with_capacity(names.len());
            let mut ok = true;
            for n in &names {
                match ResponseAction::parse(n) {
                    Some(a) if actions.contains(&a) => {
                        p.error(Some(line), format!("actions: `{n}` is listed twice"));
                        ok = false;
                    }
                    Some(a) => actions.push(a),
                    None => {
                        p.error(
                            Some(line),
                            format!(
                                "actions: `{n}` is not one of alert, revoke_session, revoke_account"
                            ),
                        );
                        ok = false;
                    }
                }
            }
            if names.is_empty() {
                p.error(
                    Some(line),
                    "actions: empty; a rule must do something (use mode = \"shadow\" to only record)",
                );
                ok = false;
            }
            ok.then_some(actions)
        }
    };

    let suppress_ms = match p.optional_str("suppress") {
        None => Some(3_600_000),
        Some((s, line)) => match parse_duration_ms(&s) {
            Ok(ms) => Some(ms),
            Err(why) => {
                p.error(Some(line), format!("suppress: `{s}`: {why}"));
                None
            }
        },
    };

    let mode = match p.optional_str("mode") {
        None => Some(Mode::Active),
        Some((s, line)) => match s.as_str() {
            "active" => Some(Mode::Active),
            "shadow" => Some(Mode::Shadow),
            _ => {
                p.error(Some(line), format!("mode: `{s}` is not active or shadow"));
                None
            }
        },
    };

    let false_positives = match p.optional_str_array("false_positives") {
        Some((fps, line)) => {
            if fps.is_empty() && maturity == Maturity::Stable {
                p.error(
                    Some(line),
                    "false_positives: a stable rule must name its known false positives",
                );
            }
            fps
        }
        None => {
            if maturity == Maturity::Stable && table.get("false_positives").is_none() {
                p.error(
                    None,
                    "missing key `false_positives` (required for stable rules)",
                );
            }
            Vec::new()
        }
    };

    let explain = match p.optional_str_array("explain") {
        None => Some(Vec::new()),
        Some((names, line)) => {
            let mut idx = Vec::with_capacity(names.len());
            for n in &names {
                match catalog.iter().position(|d| d.name == n.as_str()) {
                    Some(k) => idx.push(k),
                    None => p.error(
                        Some(line),
                        format!("explain: {}", unknown_feature(n, catalog)),
                    ),
                }
            }
            Some(idx)
        }
    };

    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    match (
        id,
        name,
        severity,
        mitre,
        when,
        actions,
        suppress_ms,
        mode,
        explain,
    ) {
        (
            Some((id, _)),
            Some((name, _)),
            Some(severity),
            Some(mitre),
            Some((when, when_src)),
            Some(actions),
            Some(suppress_ms),
            Some(mode),
            Some(explain),
        ) => Ok(Rule {
            id,
            name,
            description: description.map(|(d, _)| d),
            severity,
            mitre,
            when,
            when_src,
            actions,
            suppress_ms,
            mode,
            maturity,
            file: file.to_path_buf(),
            false_positives,
            explain,
        }),
        // Every `None` above recorded an error, so this is unreachable in practice; keep a
        // real error rather than a panic.
        _ => Err(vec![RuleError::new(file, None, None, "incomplete rule")]),
    }
}

/// Reads the fields of one rule file, recording errors as it goes.
struct Fields<'a> {
    src: &'a str,
    file: &'a Path,
    table: &'a SpannedTable,
    id: Option<String>,
    errors: Vec<RuleError>,
}

impl Fields<'_> {
    fn error(&mut self, line: Option<usize>, reason: impl Into<String>) {
        self.errors
            .push(RuleError::new(self.file, line, self.id.as_deref(), reason));
    }

    fn key_line(&self, key: &str) -> usize {
        self.table
            .key(key)
            .map(|k| line_of(self.src, k.span().start))
            .unwrap_or(1)
    }

    fn required_str(&mut self, key: &str) -> Option<(String, usize)> {
        if self.table.get(key).is_none() {
            self.error(None, format!("missing key `{key}`"));
            return None;
        }
        self.optional_str(key)
    }

    fn optional_str(&mut self, key: &str) -> Option<(String, usize)> {
        let v = self.table.get(key)?;
        let line = self.key_line(key);
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_owned(), line)),
            None => {
                let found = v.get_ref().type_str();
                self.error(
                    Some(line),
                    format!("{key}: expected a string, found {found}"),
                );
                None
            }
        }
    }

    fn required_str_array(&mut self, key: &str) -> Option<(Vec<String>, usize)> {
        if self.table.get(key).is_none() {
            self.error(
                None,
                format!("missing key `{key}` (it may be an empty array)"),
            );
            return None;
        }
        self.optional_str_array(key)
    }

    fn optional_str_array(&mut self, key: &str) -> Option<(Vec<String>, usize)> {
        let v = self.table.get(key)?;
        let line = self.key_line(key);
        let Some(items) = v.get_ref().as_array() else {
            let found = v.get_ref().type_str();
            self.error(
                Some(line),
                format!("{key}: expected an array of strings, found {found}"),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str() {
                Some(s) => out.push(s.to_owned()),
                None => {
                    self.error(Some(line), format!("{key}: {item} is not a string"));
                    return None;
                }
            }
        }
        Some((out, line))
    }
}

/// `T1078` or `T1110.003`.
fn is_mitre_technique(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

/// Parses a suppression window: one or more `<integer><unit>` with units `s`, `m`, `h`, `d`
/// (`"90s"`, `"1h30m"`, `"0s"`).
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Err("empty duration; write e.g. \"1h\" or \"0s\"".into());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit_ms: i64 = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            other => return Err(format!("unknown unit `{other}` (use s, m, h, d)")),
        };
        if digits.is_empty() {
            return Err(format!("`{c}` needs a number before it"));
        }
        let n: i64 = digits.parse().map_err(|_| "number too large".to_string())?;
        total = n
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| "duration too large".to_string())?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err("a unit must follow the number (s, m, h, d)".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("0s"), Ok(0));
        assert_eq!(parse_duration_ms("90s"), Ok(90_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
        assert!(parse_duration_ms("1").is_err());
        assert!(parse_duration_ms("h").is_err());
        assert!(parse_duration_ms("1w").is_err());
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("-1h").is_err());
        assert!(parse_duration_ms("99999999999999999999d").is_err());
    }

    #[test]
    fn mitre_ids() {
        assert!(is_mitre_technique("T1078"));
        assert!(is_mitre_technique("T1110.003"));
        assert!(!is_mitre_technique("t1078"));
        assert!(!is_mitre_technique("T10"));
        assert!(!is_mitre_technique("T1110.03"));
    }

    #[test]
    fn lines_of_offsets() {
        let s = "a\nbb\nccc";
        assert_eq!(line_of(s, 0), 1);
        assert_eq!(line_of(s, 2), 2);
        assert_eq!(line_of(s, 7), 3);
        assert_eq!(line_of(s, 999), 3);
    }
}
