//! Fuzz target: arbitrary text as a rule's `when` expression.
//!
//! Compiled against the detector's real feature catalog and the shipped named lists (so
//! `list.vpn_asns` and friends resolve as in production). An expression that compiles is then
//! evaluated on an event with every feature missing and on one with a value of the right type
//! for every feature, taken from the input bytes: evaluation must never panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tocsin::detect::rules::{self, FeatureSource, List, Lists, Type, Value};

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        Lists::load(&shipped).unwrap_or_else(|_| {
            // The shipped lists failed to load: fall back to one list of each kind.
            let mut lists = Lists::new();
            lists.insert("vpn_asns", List::num("test", [9009.0, 60068.0]));
            lists.insert("allowed_accounts", List::str("test", ["a@b"]));
            lists.insert(
                "tenant_networks",
                List::cidr("test", ["10.0.0.0/8".parse().expect("literal net")]),
            );
            lists
        })
    })
}

/// Every feature missing: the state of an event seen before any enrichment.
struct Missing;

impl FeatureSource for Missing {
    fn feature(&self, _: usize) -> Value<'_> {
        Value::Missing
    }
}

/// A value of the catalog's type for every feature, drawn from the fuzz input.
struct Drawn<'a> {
    bytes: &'a [u8],
    text: &'a str,
}

impl FeatureSource for Drawn<'_> {
    fn feature(&self, index: usize) -> Value<'_> {
        let b = self
            .bytes
            .get(index % self.bytes.len().max(1))
            .copied()
            .unwrap_or(0);
        match rules::catalog().get(index).map(|f| f.ty) {
            Some(Type::Bool) => Value::Bool(b & 1 == 1),
            Some(Type::Num) => Value::Num(match b % 6 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => -0.0,
                3 => f64::MAX,
                _ => f64::from(b) - 3.0,
            }),
            Some(Type::Str) => Value::Str(self.text),
            Some(Type::Ip) if b & 1 == 0 => Value::Ip(IpAddr::V4(Ipv4Addr::new(10, b, 0, 1))),
            Some(Type::Ip) => Value::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            None => Value::Missing,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match rules::compile(src, rules::catalog(), lists()) {
        Ok(expr) => {
            let _ = expr.eval(&Missing);
            let _ = expr.eval(&Drawn {
                bytes: data,
                text: src,
            });
        }
        Err(e) => {
            assert!(!e.message.is_empty(), "empty compile error");
            let _ = e.line_column(src);
        }
    }
});
