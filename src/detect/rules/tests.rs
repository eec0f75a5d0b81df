//! Compiling and evaluating `when` expressions over a small catalog: what a rule author sees
//! (errors, suggestions) and what an event gets (truth tables, missing values, arithmetic,
//! membership, precedence), plus property tests that no input panics the compiler or evaluator.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

static CATALOG: &[FeatureDef] = &[
    feature("a", Type::Bool, "test bool"),
    feature("b", Type::Bool, "test bool"),
    feature("c", Type::Bool, "test bool"),
    feature("n", Type::Num, "test number"),
    feature("m", Type::Num, "test number"),
    feature("geo.country", Type::Str, "country"),
    feature("asn.number", Type::Num, "asn"),
    feature("event.ip", Type::Ip, "client address"),
    feature("device.new", Type::Bool, "new device"),
];

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const N: usize = 3;
const M: usize = 4;
const COUNTRY: usize = 5;
const ASN: usize = 6;
const IP: usize = 7;

/// An event: one optional value per catalog entry.
#[derive(Clone, Debug, Default)]
struct Event {
    values: [Option<Owned>; 9],
}

#[derive(Clone, Debug)]
enum Owned {
    Bool(bool),
    Num(f64),
    Str(String),
    Ip(IpAddr),
}

impl Event {
    fn with(mut self, k: usize, v: Owned) -> Event {
        self.values[k] = Some(v);
        self
    }
    fn b(self, k: usize, v: bool) -> Event {
        self.with(k, Owned::Bool(v))
    }
    fn n(self, k: usize, v: f64) -> Event {
        self.with(k, Owned::Num(v))
    }
    fn s(self, k: usize, v: &str) -> Event {
        self.with(k, Owned::Str(v.to_owned()))
    }
    fn ip(self, v: &str) -> Event {
        self.with(IP, Owned::Ip(v.parse().expect("test address")))
    }
}

impl FeatureSource for Event {
    fn feature(&self, index: usize) -> Value<'_> {
        match self.values.get(index) {
            Some(Some(Owned::Bool(b))) => Value::Bool(*b),
            Some(Some(Owned::Num(n))) => Value::Num(*n),
            Some(Some(Owned::Str(s))) => Value::Str(s),
            Some(Some(Owned::Ip(ip))) => Value::Ip(*ip),
            _ => Value::Missing,
        }
    }
}

fn lists() -> Lists {
    let mut l = Lists::new();
    l.insert("vpn_asns", List::num("VPN providers", [9009.0, 60068.0]));
    l.insert("home_countries", List::str("", ["FR", "BE"]));
    let nets = ["10.0.0.0/8", "2001:db8::/32"].map(|s| CidrSet::parse_net(s).expect("net"));
    l.insert("tenant_networks", List::cidr("", nets));
    l
}

fn expr(src: &str) -> Expr {
    compile(src, CATALOG, &lists()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn eval(src: &str, ev: &Event) -> bool {
    expr(src).eval(ev)
}

fn error(src: &str) -> ExprError {
    compile(src, CATALOG, &lists()).expect_err(src)
}

#[test]
fn boolean_operators_follow_their_truth_tables() {
    for a in [false, true] {
        for b in [false, true] {
            let ev = Event::default().b(A, a).b(B, b);
            assert_eq!(eval("a && b", &ev), a && b, "{a} && {b}");
            assert_eq!(eval("a || b", &ev), a || b, "{a} || {b}");
            assert_eq!(eval("!a", &ev), !a);
            assert_eq!(eval("a == b", &ev), a == b);
            assert_eq!(eval("a != b", &ev), a != b);
        }
    }
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_and() {
    // a || b && c: with a=true, b=false, c=false the grouping decides the answer.
    let ev = Event::default().b(A, true).b(B, false).b(C, false);
    assert!(eval("a || b && c", &ev));
    assert!(!eval("(a || b) && c", &ev));
    // !a && b: `!` applies to `a` only.
    let ev = Event::default().b(A, false).b(B, false);
    assert!(!eval("!a && b", &ev));
    assert!(eval("!(a && b)", &ev));
}

#[test]
fn arithmetic_precedence_and_unary_minus() {
    let ev = Event::default().n(N, 2.0).n(M, 3.0);
    assert!(eval("n + m * 2 == 8", &ev));
    assert!(eval("(n + m) * 2 == 10", &ev));
    assert!(
        eval("n - m - 1 == -2", &ev),
        "subtraction is left-associative"
    );
    assert!(
        eval("m / n * 2 == 3", &ev),
        "division is left-associative with *"
    );
    assert!(eval("-n * m == -6", &ev));
    assert!(eval("- -n == 2", &ev));
    assert!(eval("1e3 > n * 100", &ev));
}

#[test]
fn comparisons_on_numbers() {
    let ev = Event::default().n(N, 5.0);
    for (src, want) in [
        ("n < 5", false),
        ("n <= 5", true),
        ("n > 4.5", true),
        ("n >= 5.5", false),
        ("n == 5", true),
        ("n != 5", false),
    ] {
        assert_eq!(eval(src, &ev), want, "{src}");
    }
}

#[test]
fn missing_values_make_comparisons_false_and_bools_false() {
    let none = Event::default();
    // A comparison with a missing operand is false, whichever operator.
    for src in [
        "n < 1",
        "n >= 1",
        "n == 0",
        "n != 0",
        "geo.country == \"FR\"",
        "geo.country != \"FR\"",
    ] {
        assert!(
            !eval(src, &none),
            "{src} must be false when the feature is missing"
        );
    }
    // So its negation is true: documented behaviour.
    assert!(eval("!(geo.country == \"FR\")", &none));
    // A missing bool is false.
    assert!(!eval("a", &none));
    assert!(eval("!a", &none));
    assert!(
        !eval("a == false", &none),
        "missing is not equal to false either"
    );
    // Arithmetic with a missing operand is missing, so the comparison is false.
    let half = Event::default().n(N, 1.0);
    assert!(!eval("n + m > 0", &half));
    assert!(!eval("n + m <= 0", &half));
    assert!(!eval("-m < 0", &half));
    // `in` with a missing operand is false.
    assert!(!eval("geo.country in [\"FR\"]", &none));
    assert!(!eval("asn.number in list.vpn_asns", &none));
    assert!(!eval("event.ip in list.tenant_networks", &none));
}

#[test]
fn division_by_zero_is_missing_not_infinite() {
    let ev = Event::default().n(N, 10.0).n(M, 0.0);
    assert!(!eval("n / m > 3", &ev));
    assert!(!eval("n / m <= 3", &ev));
    assert!(eval("n / (m + 2) == 5", &ev));
}

#[test]
fn membership_in_literal_sets() {
    let ev = Event::default()
        .s(COUNTRY, "BE")
        .n(ASN, 60068.0)
        .b(A, true)
        .ip("192.0.2.7");
    assert!(eval(r#"geo.country in ["FR", "BE", "CH"]"#, &ev));
    assert!(
        !eval(r#"geo.country in ["FR", "be"]"#, &ev),
        "strings match exactly"
    );
    assert!(eval("asn.number in [9009, 60068]", &ev));
    assert!(!eval("asn.number in [9009]", &ev));
    assert!(eval("a in [true]", &ev));
    assert!(!eval("a in [false]", &ev));
    assert!(eval(r#"event.ip in ["192.0.2.0/24", "10.0.0.0/8"]"#, &ev));
    assert!(!eval(r#"event.ip in ["198.51.100.0/24"]"#, &ev));
    assert!(eval(r#"event.ip == "192.0.2.7""#, &ev));
    assert!(eval(r#"event.ip != "192.0.2.8""#, &ev));
}

#[test]
fn membership_in_named_lists_of_each_kind() {
    let ev = Event::default()
        .s(COUNTRY, "FR")
        .n(ASN, 9009.0)
        .ip("10.20.30.40");
    assert!(eval("geo.country in list.home_countries", &ev));
    assert!(eval("asn.number in list.vpn_asns", &ev));
    assert!(eval("event.ip in list.tenant_networks", &ev));
    let ev = Event::default()
        .s(COUNTRY, "NG")
        .n(ASN, 36873.0)
        .ip("2001:db9::1");
    assert!(!eval("geo.country in list.home_countries", &ev));
    assert!(!eval("asn.number in list.vpn_asns", &ev));
    assert!(!eval("event.ip in list.tenant_networks", &ev));
    assert!(eval("!(event.ip in list.tenant_networks)", &ev));
    // An IPv4 client seen through a dual-stack socket still matches the IPv4 network.
    let mapped = Event::default().ip("::ffff:10.1.1.1");
    assert!(eval("event.ip in list.tenant_networks", &mapped));
}

#[test]
fn the_spec_example_rule_reads_as_intended() {
    static SPEC: &[FeatureDef] = &[
        feature("login.success", Type::Bool, ""),
        feature("account.logins", Type::Num, ""),
        feature("device.new", Type::Bool, ""),
        feature("asn.new", Type::Bool, ""),
        feature("asn.tenant_known", Type::Bool, ""),
    ];
    let when = "login.success && account.logins >= 5 && device.new && asn.new && !asn.tenant_known";
    let e = compile(when, SPEC, &Lists::new()).expect("spec example compiles");
    assert_eq!(e.features(), &[0, 1, 2, 3, 4]);
    let attack = Event::default()
        .b(0, true)
        .n(1, 40.0)
        .b(2, true)
        .b(3, true)
        .b(4, false);
    assert!(e.eval(&attack));
    let clinic_network = attack.clone().b(4, true);
    assert!(!e.eval(&clinic_network));
    let new_account = attack.clone().n(1, 2.0);
    assert!(!e.eval(&new_account));
    // Without a tenant baseline `asn.tenant_known` is missing, hence false, so `!` is true.
    let mut unknown_tenant = attack;
    unknown_tenant.values[4] = None;
    assert!(e.eval(&unknown_tenant));
}

#[test]
fn a_conjunction_records_the_bool_features_it_requires() {
    assert_eq!(expr("a").required(), &[A]);
    assert_eq!(
        expr("a && n > 1 && (b || c) && !c && b").required(),
        &[A, B]
    );
    // However the chain is grouped, it is one conjunction.
    assert_eq!(expr("(a && b) && (c && n > 1)").required(), &[A, B, C]);
    assert!(expr("a || b").required().is_empty());
    assert!(expr("!a").required().is_empty());
    assert!(expr("n > 1").required().is_empty());
}

#[test]
fn long_chains_keep_their_grouping_and_short_circuit_semantics() {
    let ev = Event::default().b(A, true).b(B, false).b(C, true);
    assert!(!eval("a && b && c", &ev));
    assert!(eval("a && (b || c) && c", &ev));
    assert!(eval("b || b || c", &ev));
    assert!(!eval("b || (a && b) || !c", &ev));
    // A missing operand is false wherever it sits in the chain.
    assert!(!eval("a && c && m > 0", &ev));
    assert!(eval("m > 0 || a", &ev));
}

#[test]
fn features_are_listed_once_in_order_of_first_use() {
    let e = expr("n > 3 && (geo.country == \"FR\" || n < 1) && a");
    assert_eq!(e.features(), &[N, COUNTRY, A]);
}

#[test]
fn unknown_feature_suggests_the_closest_name() {
    let e = error("a && geo.contry == \"FR\"");
    assert_eq!(e.offset, 5);
    assert_eq!(
        e.message,
        "unknown feature `geo.contry` (did you mean `geo.country`?)"
    );
    let e = error("list.vpn_asns == 3");
    assert!(e.message.contains("is a list, not a value"), "{e}");
    let e = error("zzzzzz");
    assert_eq!(
        e.message, "unknown feature `zzzzzz`",
        "no far-fetched suggestion"
    );
}

#[test]
fn type_errors_point_at_the_operand() {
    let e = error("device.new > 3");
    assert_eq!(e.offset, 0);
    assert!(
        e.message.contains("needs num") && e.message.contains("bool"),
        "{e}"
    );
    let e = error("a && n");
    assert_eq!(e.offset, 5);
    assert!(e.message.contains("`&&` needs bool"), "{e}");
    let e = error("geo.country == 3");
    assert_eq!(e.offset, 15);
    assert!(e.message.contains("str == num"), "{e}");
    let e = error("!n");
    assert!(e.message.contains("`!` needs bool"), "{e}");
    let e = error("-a == 1");
    assert!(e.message.contains("unary `-` needs num"), "{e}");
    let e = error("n + geo.country > 1");
    assert_eq!(e.offset, 4);
    assert!(e.message.contains("`+` needs num, but this is str"), "{e}");
    let e = error(r#"geo.country in ["FR", 3]"#);
    assert_eq!(e.offset, 22);
    assert!(e.message.contains("needs str literals"), "{e}");
    let e = error(r#"event.ip == "not-an-ip""#);
    assert!(e.message.contains("not an IP address"), "{e}");
    let e = error(r#"event.ip in ["10.0.0.0/99"]"#);
    assert!(e.message.contains("not an address or network"), "{e}");
}

#[test]
fn a_rule_must_be_a_condition() {
    let e = error("n + 1");
    assert!(e.message.contains("must be a condition (bool)"), "{e}");
    assert!(e.message.contains("num"), "{e}");
    assert!(error("geo.country").message.contains("str"));
}

#[test]
fn lists_must_exist_and_match_the_kind() {
    let e = error("asn.number in list.vpn_asn");
    assert_eq!(e.offset, 14);
    assert_eq!(
        e.message,
        "unknown list `list.vpn_asn` (did you mean `list.vpn_asns`?)"
    );
    let e = error("geo.country in list.vpn_asns");
    assert!(
        e.message.contains("is a `num` list") && e.message.contains("str"),
        "{e}"
    );
    let e = error("event.ip in list.home_countries");
    assert!(e.message.contains("needs a `cidr` list"), "{e}");
    let e = error("a in list.home_countries");
    assert!(e.message.contains("bool cannot be looked up"), "{e}");
}

#[test]
fn syntax_errors_carry_the_column() {
    let e = error("a &&");
    assert_eq!(e.offset, 4);
    assert!(e.message.starts_with("syntax error at column 5:"), "{e}");
    // A `when` written as a multi-line TOML string reports the line inside the expression.
    let e = error("login &&\n  (a || == b)");
    assert!(
        e.message
            .starts_with("syntax error at line 2, column 9 of the expression:"),
        "{e}"
    );
}

#[test]
fn a_feature_source_that_lies_about_types_never_makes_a_rule_fire() {
    struct Liar;
    impl FeatureSource for Liar {
        fn feature(&self, _: usize) -> Value<'_> {
            Value::Str("surprise")
        }
    }
    for src in [
        "a",
        "n > 1",
        "n + 1 > 0",
        "asn.number in list.vpn_asns",
        "event.ip in [\"10.0.0.0/8\"]",
    ] {
        assert!(!expr(src).eval(&Liar), "{src}");
    }
    assert!(expr("!a").eval(&Liar), "a non-bool reads as not true");
}

// ---- property tests ----

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "b",
        "n",
        "m",
        "geo.country",
        "event.ip",
        "asn.number",
        "device.new",
        "nope.x",
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
        "list.vpn_asns",
        "list.tenant_networks",
        "list.missing",
        "true",
        "false",
        "0",
        "1.5",
        "1e3",
        "\"FR\"",
        "\"10.0.0.0/8\"",
        "\"\\\"\"",
        "\"",
        "=",
        "&",
        ".",
        "é",
    ])
}

/// Well-typed expressions of the test catalog, by construction.
fn num_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("n".to_owned()),
        Just("m".to_owned()),
        Just("asn.number".to_owned()),
        (-1000.0f64..1000.0).prop_map(|x| format!("{x}")),
        Just("0".to_owned()),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
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

fn bool_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("device.new".to_owned()),
        Just("true".to_owned()),
        (
            num_expr(),
            prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]),
            num_expr()
        )
            .prop_map(|(x, op, y)| format!("{x} {op} {y}")),
        Just(r#"geo.country in ["FR", "NG"]"#.to_owned()),
        Just("geo.country == \"FR\"".to_owned()),
        Just("asn.number in list.vpn_asns".to_owned()),
        Just("event.ip in list.tenant_networks".to_owned()),
        Just("event.ip in [\"192.0.2.0/24\"]".to_owned()),
    ];
    leaf.prop_recursive(4, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} || {b}")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn event() -> impl Strategy<Value = Event> {
    let num = prop_oneof![
        Just(None),
        any::<f64>().prop_map(Some),
        (-10.0f64..10.0).prop_map(Some)
    ];
    (
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        num.clone(),
        num.clone(),
        num,
        prop::option::of(prop::sample::select(vec!["FR", "NG", ""])),
        prop::option::of(any::<[u8; 4]>()),
    )
        .prop_map(|(a, b, n, m, asn, country, ip)| {
            let mut e = Event::default();
            e.values[A] = a.map(Owned::Bool);
            e.values[B] = b.map(Owned::Bool);
            e.values[N] = n.map(Owned::Num);
            e.values[M] = m.map(Owned::Num);
            e.values[ASN] = asn.map(Owned::Num);
            e.values[COUNTRY] = country.map(|c| Owned::Str(c.to_owned()));
            e.values[IP] = ip.map(|o| Owned::Ip(IpAddr::from(o)));
            e
        })
}

proptest! {
    #[test]
    fn random_text_never_panics_the_compiler(src in "\\PC{0,64}") {
        let _ = compile(&src, CATALOG, &lists());
    }

    #[test]
    fn random_token_soups_never_panic_the_compiler(tokens in prop::collection::vec(token(), 0..40)) {
        let src = tokens.join(" ");
        if let Err(e) = compile(&src, CATALOG, &lists()) {
            prop_assert!(e.offset <= src.len());
            prop_assert!(src.is_char_boundary(e.offset));
        }
    }

    #[test]
    fn well_typed_expressions_compile_and_evaluate(src in bool_expr(), ev in event()) {
        let e = compile(&src, CATALOG, &lists()).map_err(|e| TestCaseError::fail(format!("{src}: {e}")))?;
        let holds = e.eval(&ev);
        // `!` is an exact complement, even with missing values.
        let not = compile(&format!("!({src})"), CATALOG, &lists()).expect("negation compiles");
        prop_assert_eq!(not.eval(&ev), !holds);
    }
}

#[test]
fn compiled_rules_can_be_shared_across_pipeline_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Expr>();
    shareable::<Rule>();
    shareable::<RuleSet>();
}

#[test]
fn negative_zero_is_zero_in_sets() {
    let ev = Event::default().n(N, -0.0);
    assert!(eval("n in [0]", &ev));
    assert!(eval("n == 0", &ev));
}
