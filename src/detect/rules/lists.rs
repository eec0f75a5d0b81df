//! Named lists (`rules/lists/<name>.toml`): the tuning points a rule refers to as
//! `list.NAME` (VPN ASNs, tenant networks, allowed accounts), so operators change them without
//! editing rules. Each list is stored in the shape its lookup needs: sorted numbers, sorted
//! strings, or merged address ranges.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;

use super::error::{line_of, RuleError, RuleErrors, SpannedTable};
use super::tree::RuleTree;
use crate::detect::value::Value;

/// What a list holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// Numbers (e.g. ASNs), matched by `num` features.
    Num,
    /// Strings (e.g. accounts, country codes), matched by `str` features.
    Str,
    /// Addresses and networks (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`), matched by `ip` features.
    Cidr,
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListKind::Num => "num",
            ListKind::Str => "str",
            ListKind::Cidr => "cidr",
        })
    }
}

/// Why a string is not a network or an address (see [`CidrSet::parse_net`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// Not `address/prefix-length`.
    #[error(transparent)]
    Net(#[from] ipnet::AddrParseError),
    /// Not an address.
    #[error(transparent)]
    Addr(#[from] std::net::AddrParseError),
}

/// A set of networks as sorted, merged, inclusive address ranges: one binary search per lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl CidrSet {
    /// Parses `a.b.c.d/n`, `x::/n` or a bare address (a single-host network). Host bits after
    /// the prefix are ignored, as routers do: `10.1.2.3/8` is `10.0.0.0/8`.
    pub fn parse_net(s: &str) -> Result<IpNet, NetError> {
        let s = s.trim();
        if s.contains('/') {
            Ok(s.parse::<IpNet>()?.trunc())
        } else {
            Ok(IpNet::from(s.parse::<IpAddr>()?.to_canonical()))
        }
    }

    /// Builds the set from networks, in any order, overlapping or not.
    pub fn from_nets(nets: impl IntoIterator<Item = IpNet>) -> CidrSet {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        CidrSet {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    /// True when `ip` is inside one of the networks. IPv4-mapped IPv6 addresses
    /// (`::ffff:192.0.2.7`) match the IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }

    /// Number of disjoint ranges after merging.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

fn merge<T: Ord + Copy + num_like::Succ>(mut r: Vec<(T, T)>) -> Vec<(T, T)> {
    r.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            // Overlapping or adjacent: one range.
            Some(last) if lo <= last.1.succ() => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn in_ranges<T: Ord + Copy>(r: &[(T, T)], x: T) -> bool {
    let i = r.partition_point(|(lo, _)| *lo <= x);
    i > 0 && x <= r[i - 1].1
}

mod num_like {
    /// The next value, saturating: lets adjacent ranges merge.
    pub trait Succ {
        fn succ(self) -> Self;
    }
    impl Succ for u32 {
        fn succ(self) -> Self {
            self.saturating_add(1)
        }
    }
    impl Succ for u128 {
        fn succ(self) -> Self {
            self.saturating_add(1)
        }
    }
}

/// Numbers sorted for [`contains_num`]: NaN dropped (it equals nothing), `-0` stored as `0`
/// (they are equal, but a total order would tell them apart), duplicates removed.
pub(crate) fn sorted_nums(values: impl IntoIterator<Item = f64>) -> Box<[f64]> {
    let mut v: Vec<f64> = values
        .into_iter()
        .filter(|x| !x.is_nan())
        .map(|x| x + 0.0)
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.into()
}

/// Exact membership in a slice built by [`sorted_nums`].
pub(crate) fn contains_num(sorted: &[f64], n: f64) -> bool {
    // `+ 0.0` turns -0 into 0, matching how the slice was built.
    let n = n + 0.0;
    sorted.binary_search_by(|x| x.total_cmp(&n)).is_ok()
}

/// The values of one list, in lookup form.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    Num(Box<[f64]>),
    Str(Box<[Box<str>]>),
    Cidr(CidrSet),
}

/// One named list.
#[derive(Clone, Debug, PartialEq)]
pub struct List {
    description: String,
    values: Values,
    len: usize,
}

impl List {
    /// A `num` list.
    pub fn num(description: &str, values: impl IntoIterator<Item = f64>) -> List {
        let v = sorted_nums(values);
        List {
            description: description.to_owned(),
            len: v.len(),
            values: Values::Num(v),
        }
    }

    /// A `str` list.
    pub fn str<S: AsRef<str>>(description: &str, values: impl IntoIterator<Item = S>) -> List {
        let mut v: Vec<Box<str>> = values.into_iter().map(|s| s.as_ref().into()).collect();
        v.sort();
        v.dedup();
        List {
            description: description.to_owned(),
            len: v.len(),
            values: Values::Str(v.into()),
        }
    }

    /// A `cidr` list.
    pub fn cidr(description: &str, nets: impl IntoIterator<Item = IpNet>) -> List {
        let nets: Vec<IpNet> = nets.into_iter().collect();
        List {
            description: description.to_owned(),
            len: nets.len(),
            values: Values::Cidr(CidrSet::from_nets(nets)),
        }
    }

    /// What the list holds.
    pub fn kind(&self) -> ListKind {
        match self.values {
            Values::Num(_) => ListKind::Num,
            Values::Str(_) => ListKind::Str,
            Values::Cidr(_) => ListKind::Cidr,
        }
    }

    /// The list's `description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// How many values the file gave (after removing duplicates for `num` and `str`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a list with no values (an override point nobody filled yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when `v` is in the list. A missing value or one of another kind is never in it.
    pub fn contains(&self, v: Value<'_>) -> bool {
        match (&self.values, v) {
            (Values::Num(xs), Value::Num(n)) => contains_num(xs, n),
            (Values::Str(xs), Value::Str(s)) => xs.binary_search_by(|x| (**x).cmp(s)).is_ok(),
            (Values::Cidr(c), Value::Ip(ip)) => c.contains(ip),
            _ => false,
        }
    }
}

/// Every named list of a rules directory, by name.
#[derive(Clone, Debug, Default)]
pub struct Lists {
    by_name: BTreeMap<String, Arc<List>>,
}

impl Lists {
    /// No lists.
    pub fn new() -> Lists {
        Lists::default()
    }

    /// Adds or replaces the list `name`.
    pub fn insert(&mut self, name: &str, list: List) {
        self.by_name.insert(name.to_owned(), Arc::new(list));
    }

    /// The list `name` (without `list.`).
    pub fn get(&self, name: &str) -> Option<&Arc<List>> {
        self.by_name.get(name)
    }

    /// Names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Number of lists.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when there are no lists.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Loads `<rules_dir>/lists/*.toml` (a missing folder means no lists). Every problem in
    /// every file is reported, each with its file and line.
    pub fn load(rules_dir: &Path) -> Result<Lists, RuleErrors> {
        let (lists, errors) = Lists::load_partial(RuleTree::Dir(rules_dir));
        if errors.is_empty() {
            Ok(lists)
        } else {
            Err(RuleErrors(errors))
        }
    }

    /// Like [`Lists::load`], but keeps the good lists next to the errors, so rules can still
    /// be checked against them in the same pass.
    pub(crate) fn load_partial(tree: RuleTree<'_>) -> (Lists, Vec<RuleError>) {
        let mut lists = Lists::new();
        let mut errors = Vec::new();
        let files = match tree.toml_files("lists", false) {
            Ok(files) => files,
            Err(e) => return (lists, vec![e]),
        };
        for path in files {
            let src = match tree.read(&path) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(RuleError::new(
                        &path,
                        None,
                        None,
                        format!("cannot read: {e}"),
                    ));
                    continue;
                }
            };
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                errors.push(RuleError::new(
                    &path,
                    None,
                    None,
                    format!("list name `{name}` (the file name) must be [a-z_][a-z0-9_]* to be usable as `list.NAME`"),
                ));
                continue;
            }
            let (list, errs) = parse_list(&src);
            // A list with bad values still has a kind: keep its good values so the rules that
            // use it are checked against the right kind instead of reporting it unknown.
            if let Some(list) = list {
                lists.insert(&name, list);
            }
            errors.extend(
                errs.into_iter()
                    .map(|(line, reason)| RuleError::new(&path, line, None, reason)),
            );
        }
        (lists, errors)
    }
}

/// Parses one list file: the list (from its good values, when its kind is known) and the
/// problems as `(line, reason)`.
fn parse_list(src: &str) -> (Option<List>, Vec<(Option<usize>, String)>) {
    let table = match SpannedTable::parse(src) {
        Ok(t) => t,
        Err(e) => return (None, vec![e]),
    };
    let mut errors = Vec::new();
    for key in table.unknown_keys(&["kind", "description", "values"]) {
        errors.push((
            Some(line_of(src, key.span().start)),
            format!(
                "unknown key `{}` (a list has kind, description, values)",
                key.get_ref()
            ),
        ));
    }
    let kind = match table.get("kind") {
        None => {
            errors.push((Some(1), "missing key `kind` (num, str or cidr)".to_owned()));
            None
        }
        Some(v) => match v.get_ref().as_str() {
            Some("num") => Some(ListKind::Num),
            Some("str") => Some(ListKind::Str),
            Some("cidr") => Some(ListKind::Cidr),
            _ => {
                errors.push((
                    Some(line_of(src, v.span().start)),
                    format!(
                        "kind: expected \"num\", \"str\" or \"cidr\", found {}",
                        v.get_ref()
                    ),
                ));
                None
            }
        },
    };
    let description = match table.get("description") {
        None => String::new(),
        Some(v) => match v.get_ref().as_str() {
            Some(s) => s.to_owned(),
            None => {
                errors.push((
                    Some(line_of(src, v.span().start)),
                    "description: expected a string".to_owned(),
                ));
                String::new()
            }
        },
    };
    let values = match table.get("values") {
        None => {
            errors.push((
                Some(1),
                "missing key `values` (an array, may be empty)".to_owned(),
            ));
            None
        }
        Some(v) => match v.get_ref().as_array() {
            Some(a) => Some((line_of(src, v.span().start), a)),
            None => {
                errors.push((
                    Some(line_of(src, v.span().start)),
                    "values: expected an array".to_owned(),
                ));
                None
            }
        },
    };
    let (Some(kind), Some((line, values))) = (kind, values) else {
        return (None, errors);
    };
    let mut bad = |i: usize, v: &toml::Value, want: &str| {
        errors.push((Some(line), format!("values[{i}]: {v} is not {want}")));
    };
    let list = match kind {
        ListKind::Num => {
            let mut xs = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                match v {
                    toml::Value::Integer(n) => xs.push(*n as f64),
                    toml::Value::Float(f) if f.is_finite() => xs.push(*f),
                    other => bad(i, other, "a number"),
                }
            }
            List::num(&description, xs)
        }
        ListKind::Str => {
            let mut xs = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                match v.as_str() {
                    Some(s) => xs.push(s),
                    None => bad(i, v, "a string"),
                }
            }
            List::str(&description, xs)
        }
        ListKind::Cidr => {
            let mut nets = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                match v.as_str().map(CidrSet::parse_net) {
                    Some(Ok(n)) => nets.push(n),
                    Some(Err(e)) => bad(i, v, &format!("an address or network ({e})")),
                    None => bad(i, v, "a string such as \"10.0.0.0/8\""),
                }
            }
            List::cidr(&description, nets)
        }
    };
    (Some(list), errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Value<'static> {
        Value::Ip(s.parse().expect("test address"))
    }

    #[test]
    fn cidr_set_matches_inside_and_not_outside_including_mapped_v4() {
        let nets = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "192.0.2.7",
            "2001:db8::/32",
            "172.16.0.0/13",
            "172.24.0.0/13",
        ]
        .iter()
        .map(|s| CidrSet::parse_net(s).expect("test net"));
        let list = List::cidr("", nets);
        assert!(list.contains(ip("10.255.255.255")));
        assert!(list.contains(ip("192.0.2.7")));
        assert!(!list.contains(ip("192.0.2.8")));
        assert!(list.contains(ip("::ffff:10.2.3.4")));
        assert!(list.contains(ip("2001:db8:1::1")));
        assert!(!list.contains(ip("2001:db9::1")));
        assert!(
            list.contains(ip("172.31.255.255")),
            "adjacent /13s merge into a /12"
        );
        assert!(!list.contains(ip("172.32.0.0")));
        assert!(!list.contains(ip("11.0.0.0")));
        assert!(!list.contains(Value::Missing));
        let Values::Cidr(set) = &list.values else {
            unreachable!("built as cidr")
        };
        assert_eq!(set.ranges(), 4, "10/8 swallows 10.1/16; the /13s merge");
    }

    #[test]
    fn host_bits_are_masked_and_bad_networks_are_refused() {
        let n = CidrSet::parse_net("10.1.2.3/8").expect("masked");
        assert_eq!(n.to_string(), "10.0.0.0/8");
        assert!(CidrSet::parse_net("10.0.0.0/33").is_err());
        assert!(CidrSet::parse_net("10.0.0/8").is_err());
        assert!(CidrSet::parse_net("vpn").is_err());
    }

    #[test]
    fn num_and_str_lists_match_exactly() {
        let asns = List::num("", [9009.0, 60068.0, 9009.0]);
        assert_eq!(asns.len(), 2);
        assert!(asns.contains(Value::Num(60068.0)));
        assert!(!asns.contains(Value::Num(60069.0)));
        assert!(!asns.contains(Value::Str("9009")));
        let zero = List::num("", [-0.0, f64::NAN]);
        assert_eq!(zero.len(), 1, "NaN equals nothing, so it is dropped");
        assert!(zero.contains(Value::Num(0.0)) && zero.contains(Value::Num(-0.0)));
        let accounts = List::str("", ["b", "a"]);
        assert!(accounts.contains(Value::Str("a")));
        assert!(!accounts.contains(Value::Str("A")));
    }

    #[test]
    fn list_file_errors_name_lines_and_values() {
        let src = "kind = \"cidr\"\ndescription = \"x\"\nvalues = [\"10.0.0.0/8\", \"nope\"]\ncolour = 1\n";
        let (list, errs) = parse_list(src);
        assert_eq!(errs.len(), 2, "{errs:?}");
        let list = list.expect("kind is known, so the good values are kept");
        assert_eq!((list.kind(), list.len()), (ListKind::Cidr, 1));
        assert!(
            errs.iter()
                .any(|(l, m)| *l == Some(3) && m.contains("values[1]")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|(l, m)| *l == Some(4) && m.contains("unknown key `colour`")),
            "{errs:?}"
        );
        let (list, errs) = parse_list("kind = \"ints\"\nvalues = []\n");
        assert!(list.is_none());
        assert!(errs[0].1.contains("kind"), "{errs:?}");
        let (ok, errs) = parse_list("kind = \"num\"\nvalues = [9009, 60068.0]\n");
        assert!(errs.is_empty(), "{errs:?}");
        let ok = ok.expect("good list");
        assert_eq!(ok.kind(), ListKind::Num);
        assert!(ok.contains(Value::Num(60068.0)));
    }
}
