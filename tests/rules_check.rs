//! Loading rule directories as a rule author meets them: every bad rule is rejected with its
//! file, line, rule id and reason, all problems are reported in one pass, good rules load with
//! their defaults, and `tocsin rules check` prints the same and exits 0 / 1 / 2.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tocsin::alert::{ResponseAction, Severity};
use tocsin::detect::rules::{
    load_dir, FeatureDef, FeatureSource, Maturity, Mode, RuleErrors, RuleSet, Type, Value,
};

static CATALOG: &[FeatureDef] = &[
    FeatureDef {
        name: "login.success",
        ty: Type::Bool,
        doc: "",
    },
    FeatureDef {
        name: "device.new",
        ty: Type::Bool,
        doc: "",
    },
    FeatureDef {
        name: "account.logins",
        ty: Type::Num,
        doc: "",
    },
    FeatureDef {
        name: "geo.country",
        ty: Type::Str,
        doc: "",
    },
    FeatureDef {
        name: "asn.number",
        ty: Type::Num,
        doc: "",
    },
    FeatureDef {
        name: "ip",
        ty: Type::Ip,
        doc: "",
    },
];

const GOOD_RULE: &str = r#"id = "stolen_password.new_device"
name = "Successful login from a never-seen device"
severity = "high"
mitre = ["T1078"]
when = "login.success && device.new && account.logins >= 5"
false_positives = ["a new phone"]
"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().expect("file has a folder")).expect("mkdir");
    fs::write(path, text).expect("write");
}

/// A rules directory holding `files` (relative path, text).
fn rules_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    dir
}

fn all() -> Vec<String> {
    ["stable", "incubating", "sandbox"]
        .map(String::from)
        .to_vec()
}

fn load(dir: &Path) -> Result<RuleSet, RuleErrors> {
    load_dir(dir, &all(), CATALOG)
}

/// The errors of a directory holding one stable rule file `text`, rendered as a user sees them.
fn errors_of_rule(text: &str) -> Vec<String> {
    let dir = rules_dir(&[("stable/r.toml", text)]);
    let errs = load(dir.path()).expect_err("the rule is bad");
    errs.0
        .iter()
        .map(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
        .collect()
}

fn with_line(key: &str, value: &str) -> String {
    GOOD_RULE
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn syntax_error_names_file_line_rule_and_column() {
    let errs = errors_of_rule(&with_line("when", r#""login.success && && device.new""#));
    assert_eq!(
        errs,
        ["DIR/stable/r.toml:5: rule stolen_password.new_device: when: syntax error at column 18: expected a value, found `&&`"]
    );
}

#[test]
fn unknown_feature_suggests_the_closest_name() {
    let errs = errors_of_rule(&with_line("when", r#""login.success && device.nwe""#));
    assert_eq!(
        errs,
        ["DIR/stable/r.toml:5: rule stolen_password.new_device: when: unknown feature `device.nwe` (did you mean `device.new`?)"]
    );
}

#[test]
fn type_error_is_rejected() {
    let errs = errors_of_rule(&with_line("when", r#""device.new > 3""#));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("DIR/stable/r.toml:5: rule stolen_password.new_device: when: "),
        "{errs:?}"
    );
    assert!(
        errs[0].contains("`>` needs num, but this is bool"),
        "{errs:?}"
    );
}

#[test]
fn a_rule_that_is_not_a_condition_is_rejected() {
    let errs = errors_of_rule(&with_line("when", r#""account.logins + 1""#));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains(":5: ") && errs[0].contains("must be a condition (bool)"),
        "{errs:?}"
    );
}

#[test]
fn unknown_key_is_rejected_with_its_line() {
    let text = format!("{GOOD_RULE}severty = \"low\"\n");
    let errs = errors_of_rule(&text);
    assert_eq!(
        errs,
        ["DIR/stable/r.toml:7: rule stolen_password.new_device: unknown key `severty` (did you mean `severity`?)"]
    );
}

#[test]
fn bad_severity_is_rejected() {
    let errs = errors_of_rule(&with_line("severity", r#""urgent""#));
    assert_eq!(
        errs,
        ["DIR/stable/r.toml:3: rule stolen_password.new_device: severity: `urgent` is not one of low, medium, high, critical"]
    );
}

#[test]
fn bad_suppression_duration_is_rejected() {
    let errs = errors_of_rule(&format!("{GOOD_RULE}suppress = \"1w\"\n"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("DIR/stable/r.toml:7: rule stolen_password.new_device: suppress: `1w`"),
        "{errs:?}"
    );
    let errs = errors_of_rule(&format!("{GOOD_RULE}suppress = \"60\"\n"));
    assert!(errs[0].contains("a unit must follow"), "{errs:?}");
}

#[test]
fn missing_required_keys_and_wrong_types_are_all_reported() {
    let errs = errors_of_rule("id = \"x\"\nmitre = \"T1078\"\nwhen = 3\n");
    let joined = errs.join("\n");
    for needle in [
        "missing key `name`",
        "missing key `severity`",
        ":2: rule x: mitre: expected an array of strings, found string",
        ":3: rule x: when: expected a string, found integer",
        "missing key `false_positives` (required for stable rules)",
    ] {
        assert!(joined.contains(needle), "{needle} not in:\n{joined}");
    }
}

#[test]
fn each_optional_field_is_validated_on_its_own_line() {
    let text = format!(
        "{GOOD_RULE}actions = [\"alert\", \"block_ip\"]\nmode = \"loud\"\nexplain = [\"geo.countri\"]\n"
    )
    .replace("mitre = [\"T1078\"]", "mitre = [\"T1078\", \"1078\"]")
    .replace("false_positives = [\"a new phone\"]", "false_positives = []");
    let errs = errors_of_rule(&text);
    let rule = "DIR/stable/r.toml";
    let id = "rule stolen_password.new_device";
    assert_eq!(
        errs,
        [
            format!("{rule}:4: {id}: mitre: `1078` is not an ATT&CK technique id (T1078, T1110.003)"),
            format!("{rule}:6: {id}: false_positives: a stable rule must name its known false positives"),
            format!("{rule}:7: {id}: actions: `block_ip` is not one of alert, revoke_session, revoke_account"),
            format!("{rule}:8: {id}: mode: `loud` is not active or shadow"),
            format!("{rule}:9: {id}: explain: unknown feature `geo.countri` (did you mean `geo.country`?)"),
        ]
    );
}

#[test]
fn invalid_toml_is_reported_with_its_line() {
    let errs = errors_of_rule("id = \"x\"\nname = \"unterminated\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("DIR/stable/r.toml:2: invalid TOML"),
        "{errs:?}"
    );
}

#[test]
fn duplicate_id_names_both_files() {
    let dir = rules_dir(&[
        ("stable/a.toml", GOOD_RULE),
        (
            "incubating/b.toml",
            &GOOD_RULE.replace("severity = \"high\"", "severity = \"low\""),
        ),
    ]);
    let errs = load(dir.path()).expect_err("duplicate");
    assert_eq!(errs.0.len(), 1, "{errs}");
    let e = &errs.0[0];
    assert!(e.file.ends_with("incubating/b.toml"));
    assert_eq!(e.line, Some(1));
    assert_eq!(e.rule.as_deref(), Some("stolen_password.new_device"));
    assert!(
        e.reason.starts_with("duplicate id: already used by "),
        "{e}"
    );
    assert!(e.reason.ends_with("stable/a.toml"), "{e}");
}

const VPN_LIST: &str = "kind = \"num\"\ndescription = \"VPN ASNs\"\nvalues = [9009, 60068]\n";

#[test]
fn unknown_list_is_rejected_with_a_suggestion() {
    let rule = with_line("when", r#""login.success && asn.number in list.vpn_asn""#);
    let dir = rules_dir(&[("stable/r.toml", &rule), ("lists/vpn_asns.toml", VPN_LIST)]);
    let errs = load(dir.path()).expect_err("unknown list");
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].line, Some(5));
    assert_eq!(
        errs.0[0].reason,
        "when: unknown list `list.vpn_asn` (did you mean `list.vpn_asns`?)"
    );
}

#[test]
fn list_of_the_wrong_kind_is_rejected() {
    let rule = with_line("when", r#""geo.country in list.vpn_asns""#);
    let dir = rules_dir(&[("stable/r.toml", &rule), ("lists/vpn_asns.toml", VPN_LIST)]);
    let errs = load(dir.path()).expect_err("wrong kind");
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert!(
        errs.0[0].reason.contains("list `vpn_asns` is a `num` list"),
        "{errs}"
    );
}

#[test]
fn bad_list_files_are_reported_with_file_and_line() {
    let dir = rules_dir(&[
        (
            "lists/tenant_networks.toml",
            "kind = \"cidr\"\nvalues = [\"10.0.0.0/8\", \"10.0.0/8\"]\n",
        ),
        ("lists/Bad-Name.toml", VPN_LIST),
    ]);
    let errs = load(dir.path()).expect_err("bad lists");
    let text = errs.to_string();
    assert_eq!(errs.0.len(), 2, "{text}");
    assert!(
        text.contains("Bad-Name.toml: list name `Bad-Name`"),
        "{text}"
    );
    assert!(text.contains("tenant_networks.toml:2: values[1]"), "{text}");
}

#[test]
fn every_problem_in_every_file_is_reported_in_file_order() {
    let dir = rules_dir(&[
        ("stable/b.toml", &with_line("severity", "\"urgent\"")),
        (
            "stable/a.toml",
            &format!("{}\nextra = 1\n", with_line("when", "\"geo.contry == 1\"")),
        ),
        ("sandbox/c.toml", "id = \"Bad Id\"\n"),
    ]);
    let errs = load(dir.path()).expect_err("three bad files");
    let files: Vec<String> = errs
        .0
        .iter()
        .map(|e| {
            e.file
                .strip_prefix(dir.path())
                .expect("inside")
                .display()
                .to_string()
        })
        .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "errors come in file order");
    assert!(files.iter().any(|f| f == "stable/a.toml"));
    assert!(files.iter().any(|f| f == "stable/b.toml"));
    assert!(files.iter().any(|f| f == "sandbox/c.toml"));
    let a: Vec<_> = errs
        .0
        .iter()
        .filter(|e| e.file.ends_with("stable/a.toml"))
        .collect();
    assert_eq!(a.len(), 2, "unknown feature and unknown key, both: {errs}");
    assert!(
        errs.0
            .iter()
            .any(|e| e.reason.contains("`Bad Id` must match")),
        "{errs}"
    );
}

/// Features for the loaded-rule evaluation check.
struct Login {
    success: bool,
    new_device: bool,
    logins: f64,
}

impl FeatureSource for Login {
    fn feature(&self, index: usize) -> Value<'_> {
        match index {
            0 => Value::Bool(self.success),
            1 => Value::Bool(self.new_device),
            2 => Value::Num(self.logins),
            _ => Value::Missing,
        }
    }
}

#[test]
fn good_rules_load_with_defaults_and_evaluate() {
    let shadow = r#"id = "experiments.any_new_device"
name = "Any new device"
severity = "low"
mitre = []
when = "device.new"
mode = "shadow"
suppress = "0s"
actions = ["alert", "revoke_session"]
explain = ["geo.country", "asn.number"]
"#;
    let dir = rules_dir(&[
        ("stable/login/new_device.toml", GOOD_RULE),
        ("sandbox/any_new_device.toml", shadow),
        ("lists/vpn_asns.toml", VPN_LIST),
        ("stable/README.md", "not a rule"),
    ]);
    let set = load(dir.path()).expect("good rules load");
    assert_eq!(set.rules.len(), 2);
    assert_eq!(set.lists.len(), 1);
    assert_eq!(set.count(Maturity::Stable), 1);
    assert_eq!(set.count(Maturity::Sandbox), 1);

    let r = &set.rules[0];
    assert_eq!(r.id, "stolen_password.new_device");
    assert_eq!(
        r.maturity,
        Maturity::Stable,
        "stable rules load first, from nested folders too"
    );
    assert_eq!(r.severity, Severity::High);
    assert_eq!(r.actions, [ResponseAction::Alert], "default actions");
    assert_eq!(r.suppress_ms, 3_600_000, "default suppression is 1h");
    assert_eq!(r.mode, Mode::Active);
    assert_eq!(r.when.features(), &[0, 1, 2]);
    let attacker = Login {
        success: true,
        new_device: true,
        logins: 40.0,
    };
    let owner = Login {
        success: true,
        new_device: false,
        logins: 40.0,
    };
    assert!(r.when.eval(&attacker));
    assert!(!r.when.eval(&owner));

    let s = &set.rules[1];
    assert_eq!(s.maturity, Maturity::Sandbox);
    assert_eq!(s.mode, Mode::Shadow);
    assert_eq!(s.suppress_ms, 0);
    assert_eq!(
        s.actions,
        [ResponseAction::Alert, ResponseAction::RevokeSession]
    );
    assert_eq!(s.explain, [3, 4]);
    assert!(
        s.false_positives.is_empty(),
        "only stable rules must list false positives"
    );
}

#[test]
fn only_the_requested_maturities_load_and_a_directory_without_rules_is_refused() {
    let dir = rules_dir(&[
        ("stable/a.toml", GOOD_RULE),
        ("incubating/b.toml", "this is not even TOML ="),
    ]);
    let set =
        load_dir(dir.path(), &["stable".to_owned()], CATALOG).expect("incubating is not loaded");
    assert_eq!(set.rules.len(), 1);
    let empty = tempfile::tempdir().expect("tempdir");
    // An engine without rules would watch and never alert: refused, naming the directory.
    let errs = load(empty.path()).expect_err("an empty directory holds no rule");
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert_eq!(errs.0[0].file, empty.path());
    assert!(errs.0[0].reason.contains("holds no rule"), "{errs}");
    // So is a directory with rules of other maturities only.
    let errs = load_dir(
        rules_dir(&[("sandbox/a.toml", GOOD_RULE)]).path(),
        &["stable".to_owned()],
        CATALOG,
    )
    .expect_err("no stable rule");
    assert!(
        errs.0[0]
            .reason
            .contains("holds no rule of maturity stable"),
        "{errs}"
    );
    let gone = empty.path().join("gone");
    let errs = load(&gone).expect_err("missing");
    assert!(errs.to_string().contains(gone.to_str().unwrap()), "{errs}");
    let errs = load_dir(dir.path(), &["stabel".to_owned()], CATALOG).expect_err("typo");
    assert!(
        errs.0[0].reason.contains("unknown maturity `stabel`"),
        "{errs}"
    );
}

// ---- the binary ----

fn tocsin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .output()
        .expect("run tocsin");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn rules_check_reports_every_bad_rule_and_exits_1() {
    // Features of the built-in catalog: login.success, device.new, geo.country.
    let dir = rules_dir(&[
        ("stable/new_country.toml", "id = \"new_country\"\nname = \"New country\"\nseverity = \"medium\"\nmitre = [\"T1078\"]\nwhen = \"login.success && geo.contry == \\\"FR\\\"\"\nfalse_positives = [\"travel\"]\n"),
        ("incubating/typed.toml", "id = \"typed\"\nname = \"Typed\"\nseverity = \"low\"\nmitre = []\nwhen = \"device.new > 3\"\n"),
    ]);
    let (code, stdout, stderr) = tocsin(&["rules", "check", &path_arg(dir.path())]);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    let d = path_arg(dir.path());
    assert!(
        stderr.contains(&format!(
            "{d}/incubating/typed.toml:5: rule typed: when: `>` needs num, but this is bool"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{d}/stable/new_country.toml:5: rule new_country: when: unknown feature `geo.contry` (did you mean `geo.country`?)")),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("2 errors in 2 files"),
        "{stderr}"
    );
}

#[test]
fn rules_check_summarises_a_good_directory_and_exits_0() {
    let rule = "id = \"new_device\"\nname = \"New device\"\nseverity = \"high\"\nmitre = [\"T1078\"]\nwhen = \"login.success && device.new && !(asn.number in list.vpn_asns)\"\nfalse_positives = [\"a new phone\"]\n";
    let dir = rules_dir(&[
        ("stable/new_device.toml", rule),
        ("lists/vpn_asns.toml", VPN_LIST),
    ]);
    let (code, stdout, stderr) = tocsin(&["rules", "check", &path_arg(dir.path())]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.trim(),
        "ok: 1 rules (stable 1, incubating 0, sandbox 0), 1 lists"
    );
}

#[test]
fn rules_check_on_a_missing_directory_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing: PathBuf = dir.path().join("nope");
    let (code, _, stderr) = tocsin(&["rules", "check", &path_arg(&missing)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("does not exist"), "{stderr}");
}

// ---- evaluation allocates nothing ----

/// Counts heap allocations made by the current thread, so the check below is not disturbed by
/// tests running in parallel.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; the counter is a const-
// initialised thread local, which never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

struct Full {
    country: String,
}

impl FeatureSource for Full {
    fn feature(&self, index: usize) -> Value<'_> {
        match index {
            0 | 1 => Value::Bool(true),
            2 => Value::Num(40.0),
            3 => Value::Str(&self.country),
            4 => Value::Num(9009.0),
            5 => Value::Ip("10.1.2.3".parse().expect("address")),
            _ => Value::Missing,
        }
    }
}

#[test]
fn evaluating_a_rule_allocates_nothing() {
    let mut lists = tocsin::detect::rules::Lists::new();
    lists.insert("vpn_asns", tocsin::detect::rules::List::num("", [9009.0]));
    let nets = ["10.0.0.0/8"].map(|s| tocsin::detect::rules::CidrSet::parse_net(s).expect("net"));
    lists.insert(
        "tenant_networks",
        tocsin::detect::rules::List::cidr("", nets),
    );
    let when = r#"login.success && device.new && account.logins / 2 + 1 >= 5
        && geo.country in ["FR", "BE"] && !(geo.country == "NG")
        && asn.number in list.vpn_asns && ip in list.tenant_networks && ip in ["10.0.0.0/8"]"#;
    let expr = tocsin::detect::rules::compile(when, CATALOG, &lists).expect("compiles");
    let event = Full {
        country: "FR".to_owned(),
    };
    let before = ALLOCATIONS.with(|c| c.get());
    let mut fired = 0;
    for _ in 0..1000 {
        fired += usize::from(expr.eval(&event));
    }
    let after = ALLOCATIONS.with(|c| c.get());
    assert_eq!(fired, 1000);
    assert_eq!(after - before, 0, "eval allocated");
    // The counter itself works: one box is one allocation.
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(ALLOCATIONS.with(|c| c.get()), after + 1);
}
