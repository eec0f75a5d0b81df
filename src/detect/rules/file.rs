//! Rule files on disk: finding them (sorted, per maturity folder), reading each TOML file with
//! the position of every key, validating every field, and reporting *all* problems with file,
//! line and rule id, the way a rule author fixes them in one pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{line_of, RuleError, RuleErrors, SpannedTable};
use super::expr::{closest, compile, unknown_feature, Expr};
use super::lists::Lists;
use super::rule::{Maturity, Mode, Rule, RuleSet};
use super::tree::RuleTree;
use crate::alert::{ResponseAction, Severity};
use crate::detect::value::FeatureDef;

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
/// simply empty, but a missing `dir`, or one that holds no rule of these maturities, is an
/// error naming it (an engine without rules would watch and never alert).
pub fn load_dir(
    dir: &Path,
    maturities: &[String],
    catalog: &[FeatureDef],
) -> Result<RuleSet, RuleErrors> {
    if !dir.is_dir() {
        return Err(RuleErrors(vec![RuleError::new(
            dir,
            None,
            None,
            "no such rules directory",
        )]));
    }
    load(RuleTree::Dir(dir), maturities, catalog)
}

/// Loads the rules of the given maturities from the rules tree built into the binary.
pub fn load_built_in(maturities: &[String], catalog: &[FeatureDef]) -> Result<RuleSet, RuleErrors> {
    load(RuleTree::BuiltIn, maturities, catalog)
}

/// Loads the rules of the given maturities, with the lists, from `tree`.
pub fn load(
    tree: RuleTree<'_>,
    maturities: &[String],
    catalog: &[FeatureDef],
) -> Result<RuleSet, RuleErrors> {
    let dir = &tree.root();
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
    let (lists, list_errors) = Lists::load_partial(tree);
    errors.extend(list_errors);

    let mut rules = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for maturity in Maturity::ALL {
        if !wanted.contains(&maturity) {
            continue;
        }
        let files = match tree.toml_files(maturity.as_str(), true) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for file in files {
            let src = match tree.read(&file) {
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
    if errors.is_empty() && rules.is_empty() {
        errors.push(RuleError::new(
            dir,
            None,
            None,
            format!(
                "holds no rule of maturity {} (rule files are `.toml` files under stable/, \
                 incubating/ or sandbox/)",
                wanted
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
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
    // Fields are read in this order so that problems on the same line (or on none) are
    // reported in it.
    let id = p.id();
    p.unknown_keys();
    let name = p.name();
    let description = p.optional_str("description");
    let severity = p.severity();
    let mitre = p.mitre();
    let when = p.when(catalog, lists);
    let actions = p.actions();
    let suppress_ms = p.suppress();
    let mode = p.mode();
    let false_positives = p.false_positives(maturity);
    let explain = p.explain(catalog);

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

/// One method per rule field: each validates its field, records what is wrong and returns
/// the value when it is usable.
impl Fields<'_> {
    /// `id`: `[a-z0-9_.]+`; once valid, every later error names it.
    fn id(&mut self) -> Option<(String, usize)> {
        let id = self.required_str("id");
        if let Some((id, line)) = &id {
            let valid = !id.is_empty()
                && id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                });
            if valid {
                self.id = Some(id.clone());
            } else {
                self.error(Some(*line), format!("id: `{id}` must match [a-z0-9_.]+"));
            }
        }
        id
    }

    /// Keys a rule file may not have, with the closest known one as a hint.
    fn unknown_keys(&mut self) {
        let table = self.table;
        for key in table.unknown_keys(RULE_KEYS) {
            let line = line_of(self.src, key.span().start);
            let msg = match closest(key.get_ref(), RULE_KEYS.iter().copied()) {
                Some(close) => format!("unknown key `{}` (did you mean `{close}`?)", key.get_ref()),
                None => format!("unknown key `{}`", key.get_ref()),
            };
            self.error(Some(line), msg);
        }
    }

    /// `name`: the alert title, not blank.
    fn name(&mut self) -> Option<(String, usize)> {
        let name = self.required_str("name");
        if let Some((n, line)) = &name {
            if n.trim().is_empty() {
                self.error(
                    Some(*line),
                    "name: must not be empty (it is the alert title)",
                );
            }
        }
        name
    }

    /// `severity`: low, medium, high or critical.
    fn severity(&mut self) -> Option<Severity> {
        self.required_str("severity").and_then(|(s, line)| {
            let sev = Severity::parse(&s);
            if sev.is_none() {
                let levels = ["low", "medium", "high", "critical"];
                let hint = closest(&s, levels.into_iter())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.error(
                    Some(line),
                    format!("severity: `{s}` is not one of low, medium, high, critical{hint}"),
                );
            }
            sev
        })
    }

    /// `mitre`: ATT&CK technique ids (may be empty).
    fn mitre(&mut self) -> Option<Vec<String>> {
        self.required_str_array("mitre").map(|(ids, line)| {
            for t in &ids {
                if !is_mitre_technique(t) {
                    self.error(
                        Some(line),
                        format!("mitre: `{t}` is not an ATT&CK technique id (T1078, T1110.003)"),
                    );
                }
            }
            ids
        })
    }

    /// `when`: compiled against the catalog and the lists; the source is kept too.
    fn when(&mut self, catalog: &[FeatureDef], lists: &Lists) -> Option<(Expr, String)> {
        self.required_str("when").and_then(|(src_when, line)| {
            match compile(&src_when, catalog, lists) {
                Ok(expr) => Some((expr, src_when)),
                Err(e) => {
                    self.error(Some(line), format!("when: {}", e.message));
                    None
                }
            }
        })
    }

    /// `actions`: `["alert"]` when absent; never empty, no action twice.
    fn actions(&mut self) -> Option<Vec<ResponseAction>> {
        let (names, line) = match self.optional_str_array("actions") {
            None => return Some(vec![ResponseAction::Alert]),
            Some(found) => found,
        };
        let mut actions = Vec::with_capacity(names.len());
        let mut ok = true;
        for n in &names {
            match ResponseAction::parse(n) {
                Some(a) if actions.contains(&a) => {
                    self.error(Some(line), format!("actions: `{n}` is listed twice"));
                    ok = false;
                }
                Some(a) => actions.push(a),
                None => {
                    self.error(
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
            self.error(
                Some(line),
                "actions: empty; a rule must do something (use mode = \"shadow\" to only record)",
            );
            ok = false;
        }
        ok.then_some(actions)
    }

    /// `suppress`: a duration, an hour when absent.
    fn suppress(&mut self) -> Option<i64> {
        match self.optional_str("suppress") {
            None => Some(3_600_000),
            Some((s, line)) => match parse_duration_ms(&s) {
                Ok(ms) => Some(ms),
                Err(why) => {
                    self.error(Some(line), format!("suppress: `{s}`: {why}"));
                    None
                }
            },
        }
    }

    /// `mode`: active (the default) or shadow.
    fn mode(&mut self) -> Option<Mode> {
        match self.optional_str("mode") {
            None => Some(Mode::Active),
            Some((s, line)) => match s.as_str() {
                "active" => Some(Mode::Active),
                "shadow" => Some(Mode::Shadow),
                _ => {
                    self.error(Some(line), format!("mode: `{s}` is not active or shadow"));
                    None
                }
            },
        }
    }

    /// `false_positives`: required, and not empty, for stable rules.
    fn false_positives(&mut self, maturity: Maturity) -> Vec<String> {
        match self.optional_str_array("false_positives") {
            Some((fps, line)) => {
                if fps.is_empty() && maturity == Maturity::Stable {
                    self.error(
                        Some(line),
                        "false_positives: a stable rule must name its known false positives",
                    );
                }
                fps
            }
            None => {
                if maturity == Maturity::Stable && self.table.get("false_positives").is_none() {
                    self.error(
                        None,
                        "missing key `false_positives` (required for stable rules)",
                    );
                }
                Vec::new()
            }
        }
    }

    /// `explain`: extra catalog features to show in reasons.
    fn explain(&mut self, catalog: &[FeatureDef]) -> Option<Vec<usize>> {
        let Some((names, line)) = self.optional_str_array("explain") else {
            return Some(Vec::new());
        };
        let mut idx = Vec::with_capacity(names.len());
        for n in &names {
            match catalog.iter().position(|d| d.name == n.as_str()) {
                Some(k) => idx.push(k),
                None => self.error(
                    Some(line),
                    format!("explain: {}", unknown_feature(n, catalog)),
                ),
            }
        }
        Some(idx)
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

/// Why a duration (a rule's `suppress`) was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing at all.
    #[error("empty duration; write e.g. \"1h\" or \"0s\"")]
    Empty,
    /// A unit other than `s`, `m`, `h`, `d`.
    #[error("unknown unit `{0}` (use s, m, h, d)")]
    UnknownUnit(char),
    /// A unit with no number before it.
    #[error("`{0}` needs a number before it")]
    NoNumber(char),
    /// A number that does not fit.
    #[error("number too large")]
    NumberTooLarge,
    /// A total that does not fit.
    #[error("duration too large")]
    TooLarge,
    /// A number with no unit after it.
    #[error("a unit must follow the number (s, m, h, d)")]
    NoUnit,
}

/// Parses a suppression window: one or more `<integer><unit>` with units `s`, `m`, `h`, `d`
/// (`"90s"`, `"1h30m"`, `"0s"`).
pub fn parse_duration_ms(s: &str) -> Result<i64, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
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
            other => return Err(DurationError::UnknownUnit(other)),
        };
        if digits.is_empty() {
            return Err(DurationError::NoNumber(c));
        }
        let n: i64 = digits.parse().map_err(|_| DurationError::NumberTooLarge)?;
        total = n
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or(DurationError::TooLarge)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(DurationError::NoUnit);
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
}
