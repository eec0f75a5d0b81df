//! The rule language and rule files (documented for rule authors in `rules/README.md`).
//!
//! A rule's `when` is a small typed expression over the feature catalog. It is parsed
//! (`syntax`), type-checked and compiled once at load ([`expr`]) into a flat program that
//! evaluates per event without allocating. Rule files and named lists are read from a rules
//! directory or from the tree built into the binary ([`tree`], [`mod@file`], [`lists`]) with
//! every problem reported by file, line and rule id ([`error`]); a loaded rule is a [`Rule`]
//! ([`rule`]).
//!
//! The modules depend on each other in one direction only: `error` on none of them, `syntax`
//! on `error`, `tree` on `error`, `lists` on `error` and `tree`, `expr` on `syntax` and
//! `lists`, `rule` on `expr` and `lists`, `file` on all of these. The types features and rules
//! share (`Type`, `Value`, `FeatureDef`, `FeatureSource`) live in [`crate::detect::value`] and
//! are re-exported here.
//!
//! This module stops at "does this rule hold for this event": computing features, suppression
//! windows and alert building belong to the rest of `detect`.

pub mod error;
pub mod expr;
pub mod file;
pub mod lists;
pub mod rule;
mod syntax;
pub mod tree;

pub use crate::detect::value::{FeatureDef, FeatureSource, Type, Value};
pub use error::{ExprError, RuleError, RuleErrors};
pub use expr::{compile, Expr};
pub use file::{load, load_built_in, load_dir, parse_duration_ms, parse_rule, DurationError};
pub use lists::{CidrSet, List, ListKind, Lists, NetError};
pub use rule::{Maturity, Mode, Rule, RuleSet};
pub use tree::{RuleTree, BUILT_IN_ROOT};

/// The catalog `tocsin rules check` validates against: the detector's feature catalog.
pub fn catalog() -> &'static [FeatureDef] {
    crate::detect::features::FEATURES
}

#[cfg(test)]
const fn feature(name: &'static str, ty: Type, doc: &'static str) -> FeatureDef {
    FeatureDef { name, ty, doc }
}

#[cfg(test)]
mod tests;
