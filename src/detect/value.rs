//! The vocabulary the feature catalog ([`super::features`]) and the rule language
//! ([`super::rules`]) share: the types of features and expressions, one feature's value for one
//! event, a feature's definition and the trait through which rules read an event's features.
//!
//! It depends on nothing else in `detect`, so the catalog and the rules both build on it
//! without depending on each other's internals.

use std::net::IpAddr;

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
