//! The rule language and rule files (documented for rule authors in `rules/README.md`).
//!
//! A rule's `when` is a small typed expression over the feature catalog. It is parsed
//! (`syntax`), type-checked and compiled once at load ([`expr`]) into a flat program that
//! evaluates per event without allocating. Rule files and named lists are read from a rules
//! directory ([`mod@file`], [`lists`]) with every problem reported by file, line and rule id.
//!
//! This module stops at "does this rule hold for this event": computing features, suppression
//! windows and alert building belong to the rest of `detect`.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::alert::{ResponseAction, Severity};

pub mod expr;
pub mod file;
pub mod lists;
mod syntax;

pub use expr::{compile, Expr, ExprError};
pub use file::{load_dir, parse_duration_ms, parse_rule, RuleError, RuleErrors};
pub use lists::{CidrSet, List, ListKind, Lists};

/// The type of a feature or expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// `true` / `false`.
    Bool,
    /// A number (f64): counts, distances, speeds, scores.
    Num,
    /// A string: country codes, account names, browser families.
    Str,
    /// An IPv4 or IPv6 address.
    Ip,
}

/// One feature's value for one event. Borrowed from the feature source, so reading a feature
/// never allocates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A bool feature.
    Bool(bool),
    /// A num feature.
    Num(f64),
    /// A str feature.
    Str(&'a str),
    /// An ip feature.
    Ip(IpAddr),
    /// Not known for this event (e.g. `geo.country` without a GeoIP database).
    Missing,
}

/// A documented feature that rules can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureDef {
    /// Dotted name used in rules, e.g. `geo.country`.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// What it means, for `rules/README.md`.
    pub doc: &'static str,
}

/// The features of one event, by catalog index. Implementations return [`Value::Missing`]
/// for an index they do not know rather than panicking.
pub trait FeatureSource {
    /// The value of the catalog's feature number `index`.
    fn feature(&self, index: usize) -> Value<'_>;
}

/// The catalog `tocsin rules check` validates against: the detector's feature catalog.
pub fn catalog() -> &'static [FeatureDef] {
    crate::detect::features::FEATURES
}

#[cfg(test)]
const fn feature(name: &'static str, ty: Type, doc: &'static str) -> FeatureDef {
    FeatureDef { name, ty, doc }
}

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

#[cfg(test)]
mod tests;
