//! Property tests for the rule language against the detector's real feature catalog and the
//! shipped named lists: what a careless or hostile rule author (or a rules directory someone
//! else can write to) can feed the compiler, and how compiled rules behave on any event.
//!
//! - arbitrary text and token soup never panic the compiler, and every refusal has a message
//!   and a position inside the source;
//! - every well-typed generated expression compiles, and evaluates without panic on events with
//!   any mix of missing, extreme (NaN, ±inf, -0) and ordinary values;
//! - evaluation obeys the documented logic of missing values: `!`, `&&` and `||` act on the
//!   truth of their operands (a missing bool is false), so rule authors can reason locally;
//! - arbitrary rule files never panic `parse_rule`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use tocsin::detect::rules::{
    self, parse_rule, FeatureSource, ListKind, Lists, Maturity, Type, Value,
};

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| {
        Lists::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
            .expect("the shipped lists load")
    })
}

fn names_of(ty: Type) -> Vec<&'static str> {
    rules::catalog()
        .iter()
        .filter(|f| f.ty == ty)
        .map(|f| f.name)
        .collect()
}

fn list_names(kind: ListKind) -> Vec<String> {
    let lists = lists();
    lists
        .names()
        .filter(|n| lists.get(n).is_some_and(|l| l.kind() == kind))
        .map(str::to_owned)
        .collect()
}

/// A number literal as a rule author writes it.
fn num_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100_000).prop_map(|n| n.to_string()),
        (0.0f64..1e6).prop_map(|x| format!("{x:.3}")),
        Just("1e3".to_owned()),
        Just("0".to_owned()),
        Just("1e308".to_owned()),
    ]
}

/// A string literal with the escapes the language knows.
fn str_literal() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ._@é\"\\\\-]{0,12}".prop_map(|s| {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    })
}

fn cidr_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 4]>(), 0u8..=32).prop_map(|(b, p)| format!("\"{}/{p}\"", Ipv4Addr::from(b))),
        any::<[u8; 4]>().prop_map(|b| format!("\"{}\"", Ipv4Addr::from(b))),
        (any::<[u16; 8]>(), 0u8..=128).prop_map(|(s, p)| format!("\"{}/{p}\"", Ipv6Addr::from(s))),
    ]
}

fn pick(names: Vec<String>) -> BoxedStrategy<String> {
    if names.is_empty() {
        Just(String::new()).boxed()
    } else {
        prop::sample::select(names).boxed()
    }
}

/// A well-typed `num` expression.
fn num_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => prop::sample::select(names_of(Type::Num)).prop_map(str::to_owned),
        1 => num_literal(),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.prop_map(|a| format!("-{a}")),
        ]
    })
}

/// A well-typed `bool` expression over the real catalog and shipped lists.
fn bool_expr() -> impl Strategy<Value = String> {
    let num_lists = list_names(ListKind::Num);
    let str_lists = list_names(ListKind::Str);
    let cidr_lists = list_names(ListKind::Cidr);
    let str_operand = || {
        prop_oneof![
            3 => prop::sample::select(names_of(Type::Str)).prop_map(str::to_owned),
            1 => str_literal(),
        ]
    };
    let ip_feature = || prop::sample::select(names_of(Type::Ip)).prop_map(str::to_owned);
    let mut leaves: Vec<BoxedStrategy<String>> = vec![
        prop::sample::select(names_of(Type::Bool))
            .prop_map(str::to_owned)
            .boxed(),
        prop::sample::select(vec!["true".to_owned(), "false".to_owned()]).boxed(),
        (
            num_expr(),
            prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            num_expr(),
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}"))
            .boxed(),
        (
            str_operand(),
            prop::sample::select(vec!["==", "!="]),
            str_operand(),
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}"))
            .boxed(),
        (num_expr(), prop::collection::vec(num_literal(), 1..5))
            .prop_map(|(a, xs)| format!("{a} in [{}]", xs.join(", ")))
            .boxed(),
        (str_operand(), prop::collection::vec(str_literal(), 1..5))
            .prop_map(|(a, xs)| format!("{a} in [{}]", xs.join(", ")))
            .boxed(),
        (ip_feature(), prop::collection::vec(cidr_literal(), 1..4))
            .prop_map(|(a, xs)| format!("{a} in [{}]", xs.join(", ")))
            .boxed(),
        (ip_feature(), any::<[u8; 4]>())
            .prop_map(|(a, b)| format!("{a} == \"{}\"", Ipv4Addr::from(b)))
            .boxed(),
    ];
    if !num_lists.is_empty() {
        leaves.push(
            (num_expr(), pick(num_lists))
                .prop_map(|(a, l)| format!("{a} in list.{l}"))
                .boxed(),
        );
    }
    if !str_lists.is_empty() {
        leaves.push(
            (str_operand(), pick(str_lists))
                .prop_map(|(a, l)| format!("{a} in list.{l}"))
                .boxed(),
        );
    }
    if !cidr_lists.is_empty() {
        leaves.push(
            (ip_feature(), pick(cidr_lists))
                .prop_map(|(a, l)| format!("{a} in list.{l}"))
                .boxed(),
        );
    }
    let leaf = prop::strategy::Union::new(leaves);
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["&&", "||"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

/// One event's features: per catalog index, a value of the right type or missing.
#[derive(Clone, Debug)]
struct Features(Vec<Option<Owned>>);

#[derive(Clone, Debug)]
enum Owned {
    Bool(bool),
    Num(f64),
    Str(String),
    Ip(IpAddr),
}

impl FeatureSource for Features {
    fn feature(&self, index: usize) -> Value<'_> {
        match self.0.get(index) {
            Some(Some(Owned::Bool(b))) => Value::Bool(*b),
            Some(Some(Owned::Num(x))) => Value::Num(*x),
            Some(Some(Owned::Str(s))) => Value::Str(s),
            Some(Some(Owned::Ip(ip))) => Value::Ip(*ip),
            _ => Value::Missing,
        }
    }
}

fn value_of(ty: Type) -> BoxedStrategy<Owned> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Owned::Bool).boxed(),
        Type::Num => prop_oneof![
            4 => (-1e6f64..1e6).prop_map(Owned::Num),
            1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, f64::MAX, f64::MIN_POSITIVE])
                .prop_map(Owned::Num),
        ]
        .boxed(),
        Type::Str => prop_oneof![
            "[A-Z]{2}|[a-z._@]{0,12}|\\PC{0,8}",
            prop::sample::select(vec!["FR".to_owned(), "export".to_owned(), String::new()]),
        ]
        .prop_map(Owned::Str)
        .boxed(),
        Type::Ip => prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
        ]
        .prop_map(Owned::Ip)
        .boxed(),
    }
}

/// An event with every feature present, missing, or extreme, independently.
fn features() -> impl Strategy<Value = Features> {
    let per_feature: Vec<_> = rules::catalog()
        .iter()
        .map(|f| prop::option::weighted(0.7, value_of(f.ty)))
        .collect();
    per_feature.prop_map(Features)
}

/// Tokens of the language, shuffled into mostly-wrong programs that still get past the lexer.
fn token_soup() -> impl Strategy<Value = String> {
    let mut tokens: Vec<String> = [
        "&&",
        "||",
        "!",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "(",
        ")",
        "[",
        "]",
        ",",
        "in",
        "list.",
        "true",
        "false",
        "1",
        "1.5",
        "1e3",
        "\"FR\"",
        "\"10.0.0.0/8\"",
        "\"\\\"\"",
        ".",
        "list.vpn_asns",
        "list.nope",
        "geo.contry",
        "\n",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    tokens.extend(rules::catalog().iter().map(|f| f.name.to_owned()));
    prop::collection::vec(prop::sample::select(tokens), 0..40).prop_map(|t| t.join(" "))
}

fn assert_refusal_is_usable(src: &str, e: &rules::ExprError) {
    assert!(!e.message.trim().is_empty(), "empty message for {src:?}");
    assert!(
        e.offset <= src.len(),
        "offset {} past the end of {src:?}",
        e.offset
    );
    let (line, column) = e.line_column(src);
    assert!(line >= 1 && column >= 1);
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_the_compiler(src in "\\PC{0,200}") {
        if let Err(e) = rules::compile(&src, rules::catalog(), lists()) {
            assert_refusal_is_usable(&src, &e);
        }
    }

    #[test]
    fn token_soup_never_panics_the_compiler(src in token_soup(), f in features()) {
        match rules::compile(&src, rules::catalog(), lists()) {
            Ok(expr) => { let _ = expr.eval(&f); }
            Err(e) => assert_refusal_is_usable(&src, &e),
        }
    }

    #[test]
    fn well_typed_expressions_compile_and_evaluate(src in bool_expr(), f in features()) {
        let expr = rules::compile(&src, rules::catalog(), lists());
        prop_assert!(expr.is_ok(), "refused a well-typed expression {:?}: {:?}", src, expr.err());
        let expr = expr.expect("checked above");
        let _ = expr.eval(&f);
        let all_missing = Features(Vec::new());
        let _ = expr.eval(&all_missing);
        for &index in expr.features() {
            prop_assert!(index < rules::catalog().len());
        }
    }

    #[test]
    fn boolean_operators_act_on_the_truth_of_their_operands(
        a in bool_expr(),
        b in bool_expr(),
        f in features(),
    ) {
        let compile = |s: &str| rules::compile(s, rules::catalog(), lists()).expect("well-typed");
        let (ea, eb) = (compile(&a).eval(&f), compile(&b).eval(&f));
        prop_assert_eq!(compile(&format!("!({a})")).eval(&f), !ea, "!({})", a);
        prop_assert_eq!(compile(&format!("({a}) && ({b})")).eval(&f), ea && eb);
        prop_assert_eq!(compile(&format!("({a}) || ({b})")).eval(&f), ea || eb);
    }

    #[test]
    fn arbitrary_rule_files_never_panic_the_loader(
        id in "[a-z_.]{0,12}|\\PC{0,12}",
        severity in prop::sample::select(vec!["low", "high", "critical", "urgent", ""]),
        when in prop_oneof![bool_expr(), token_soup(), "\\PC{0,40}"],
        actions in prop::collection::vec(prop::sample::select(vec!["alert", "revoke_session", "revoke_account", "reboot"]), 0..3),
        suppress in "[0-9]{0,20}[smhdy]?|-1h|\\PC{0,6}",
        mode in prop::sample::select(vec!["active", "shadow", "loud"]),
        extra in prop::sample::select(vec!["", "unknown_key = 1\n", "mitre = \"T1078\"\n", "[table]\n", "when = \"true\"\n"]),
        garbage in prop::option::weighted(0.2, "\\PC{0,80}"),
    ) {
        let quote = |s: &str| toml_quote(s);
        let src = match garbage {
            Some(g) => g,
            None => format!(
                "id = {}\nname = \"n\"\nseverity = {}\nmitre = [\"T1078\"]\nwhen = {}\nactions = [{}]\nsuppress = {}\nmode = {}\nfalse_positives = [\"x\"]\n{extra}",
                quote(&id),
                quote(severity),
                quote(&when),
                actions.iter().map(|a| quote(a)).collect::<Vec<_>>().join(", "),
                quote(&suppress),
                quote(mode),
            ),
        };
        if let Err(errors) = parse_rule(&src, Path::new("rules/stable/x.toml"), Maturity::Stable, rules::catalog(), lists()) {
            prop_assert!(!errors.is_empty(), "an error result with no error");
        }
    }
}

/// A TOML basic string holding `s` exactly.
fn toml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn every_shipped_rule_compiles_against_the_real_catalog() {
    // The generated-expression tests use the same catalog and lists; if the shipped rules did
    // not load, the properties above would be checked against something other than production.
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let all: Vec<String> = Maturity::ALL
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    let loaded = rules::load_dir(&rules_dir, &all, rules::catalog());
    assert!(loaded.is_ok(), "{:?}", loaded.err());
}

#[test]
fn pathological_nesting_is_refused_without_exhausting_the_stack() {
    // Runs on a test thread's default stack: a recursive parser without a depth limit would
    // overflow it and abort the whole process, which `rules check` must never do.
    let deep = 20_000;
    let cases = [
        format!("{}true{}", "(".repeat(deep), ")".repeat(deep)),
        format!("{}true", "!".repeat(deep)),
        format!("{}1 > 0", "-".repeat(deep)),
        format!("{}true", "!(".repeat(deep)),
        vec!["login.success"; deep].join(" && "),
    ];
    for src in &cases {
        let err = rules::compile(src, rules::catalog(), lists())
            .expect_err("a 20,000-level expression is refused");
        assert_refusal_is_usable(src, &err);
    }
    // Within the limit, nesting is fine.
    let ok = format!("{}true{}", "(".repeat(64), ")".repeat(64));
    assert!(rules::compile(&ok, rules::catalog(), lists()).is_ok());
}
