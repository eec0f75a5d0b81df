//! A loaded rule and the set of them: what a rule file becomes once [`super::file`] has
//! validated it and [`super::expr`] has compiled its `when`.

use std::path::PathBuf;

use super::expr::Expr;
use super::lists::Lists;
use crate::alert::{ResponseAction, Severity};

/// How far a rule is trusted (its folder under the rules directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Maturity {
    /// On by default: tested, known false positives written down.
    Stable,
    /// Being tuned; opt in.
    Incubating,
    /// Experiments; opt in.
    Sandbox,
}

impl Maturity {
    /// Every maturity, in load order.
    pub const ALL: [Maturity; 3] = [Maturity::Stable, Maturity::Incubating, Maturity::Sandbox];

    /// The folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Stable => "stable",
            Maturity::Incubating => "incubating",
            Maturity::Sandbox => "sandbox",
        }
    }

    /// Parses a folder name.
    pub fn parse(s: &str) -> Option<Maturity> {
        Maturity::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Whether a rule's alerts are acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Alerts go out and actions run.
    Active,
    /// Alerts are recorded with `mode = "shadow"`; nothing is sent or revoked.
    Shadow,
}

/// One loaded, compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique id, `[a-z0-9_.]+`; the alert's `rule`.
    pub id: String,
    /// The alert title.
    pub name: String,
    /// What the rule detects and why.
    pub description: Option<String>,
    /// The alert severity.
    pub severity: Severity,
    /// MITRE ATT&CK technique ids.
    pub mitre: Vec<String>,
    /// The compiled condition.
    pub when: Expr,
    /// The condition as written, for explanations and `rules check` output.
    pub when_src: String,
    /// What to do when it fires (never empty; `["alert"]` by default).
    pub actions: Vec<ResponseAction>,
    /// No second alert for the same account within this window, in ms (0 = never suppress).
    pub suppress_ms: i64,
    /// Active or shadow.
    pub mode: Mode,
    /// The folder it was loaded from.
    pub maturity: Maturity,
    /// The file it came from.
    pub file: PathBuf,
    /// Known honest look-alikes.
    pub false_positives: Vec<String>,
    /// Extra catalog indices to show in reasons, after the ones `when` reads.
    pub explain: Vec<usize>,
}

/// The rules of a directory and the lists they use.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// Rules in load order: by maturity, then file path.
    pub rules: Vec<Rule>,
    /// The named lists.
    pub lists: Lists,
}

impl RuleSet {
    /// How many rules have this maturity.
    pub fn count(&self, maturity: Maturity) -> usize {
        self.rules.iter().filter(|r| r.maturity == maturity).count()
    }
}
