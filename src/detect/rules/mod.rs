//! Rules (issue 3): being built on branch `rules`. Until it lands, this file holds only the
//! catalog types of the shared spec (`briefs/RULE_LANGUAGE.md`) so `detect` compiles.

use std::net::IpAddr;

/// A feature's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// true/false.
    Bool,
    /// A number (f64).
    Num,
    /// Text.
    Str,
    /// An IP address.
    Ip,
}

/// A feature's value for one event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// true/false.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Str(&'a str),
    /// An address.
    Ip(IpAddr),
    /// Unknown for this event.
    Missing,
}

/// One entry of the feature catalog.
#[derive(Clone, Copy, Debug)]
pub struct FeatureDef {
    /// Dotted name used in rules.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// One line for `rules/README.md`.
    pub doc: &'static str,
}

/// Gives feature values for one event, by catalog index.
pub trait FeatureSource {
    /// The value of catalog entry `index`.
    fn feature(&self, index: usize) -> Value<'_>;
}

// ---- Temporary stand-in for the `rules` branch API (replaced on merge). ----
use crate::alert::{ResponseAction, Severity};
use std::path::{Path, PathBuf};

/// Stand-in.
#[derive(Clone, Debug, Default)]
pub struct Expr {
    features: Vec<usize>,
}
impl Expr {
    /// Stand-in.
    pub fn eval(&self, _f: &dyn FeatureSource) -> bool {
        false
    }
    /// Stand-in.
    pub fn features(&self) -> &[usize] {
        &self.features
    }
}
/// Stand-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Stand-in.
    Active,
    /// Stand-in.
    Shadow,
}
/// Stand-in.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stand-in.
    pub id: String,
    /// Stand-in.
    pub name: String,
    /// Stand-in.
    pub severity: Severity,
    /// Stand-in.
    pub mitre: Vec<String>,
    /// Stand-in.
    pub when: Expr,
    /// Stand-in.
    pub actions: Vec<ResponseAction>,
    /// Stand-in.
    pub suppress_ms: i64,
    /// Stand-in.
    pub mode: Mode,
    /// Stand-in.
    pub file: PathBuf,
    /// Stand-in.
    pub explain: Vec<usize>,
}
/// Stand-in.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// Stand-in.
    pub rules: Vec<Rule>,
}
/// Stand-in.
#[derive(Debug, thiserror::Error)]
#[error("rules")]
pub struct RuleErrors;
/// Stand-in.
pub fn load_dir(_d: &Path, _m: &[String], _c: &[FeatureDef]) -> Result<RuleSet, RuleErrors> {
    Ok(RuleSet::default())
}
