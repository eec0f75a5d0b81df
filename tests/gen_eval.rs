//! `tocsin gen` and `tocsin eval` together: the generator is deterministic (the `classic`
//! profile byte for byte as it always was), its output is valid native traffic from the fixture
//! world, its ground truth names exactly what it emitted, the `tune` and `holdout` profiles
//! produce every look-alike family and attack kind, and the backtest computes its figures as
//! expected on known cases.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tocsin::alert::{Alert, ResponseAction, Severity};
use tocsin::eval::{evaluate, evaluate_labelled};
use tocsin::gen::net::Atlas;
use tocsin::gen::{
    generate, generate_profile, AttackKind, AttackLabel, AttackTruth, GenConfig, Labels, Lookalike,
    Profile, SessionTruth, Truth, TruthEvent, TruthSummary,
};
use tocsin::timefmt;
use tocsin::world::{NetKind, Network, NETWORKS};

/// The run most tests share (generated and parsed once: debug builds are slow).
fn small_run() -> (&'static [Value], &'static Truth) {
    static RUN: OnceLock<(Vec<Value>, Truth)> = OnceLock::new();
    let (events, truth) = RUN.get_or_init(|| {
        let (out, truth) = run(&small());
        (lines(&out), truth)
    });
    (events, truth)
}

fn run(cfg: &GenConfig) -> (Vec<u8>, Truth) {
    let mut out = Vec::new();
    let summary = generate(cfg, &mut |e| {
        e.write_json(&mut out)?;
        out.push(b'\n');
        Ok(())
    })
    .expect("writing to a Vec cannot fail");
    (out, summary.truth)
}

/// Small enough for a debug build, long enough for the warm-up and every attack kind.
fn small() -> GenConfig {
    GenConfig {
        accounts: 400,
        days: 10,
        seed: 42,
        ..GenConfig::default()
    }
}

fn lines(out: &[u8]) -> Vec<Value> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("every line is JSON"))
        .collect()
}

fn network_of(atlas: &Atlas, ip: IpAddr) -> Option<NetKind> {
    atlas
        .prefixes
        .iter()
        .find(|p| {
            let one = Atlas {
                prefixes: vec![**p],
            };
            one.contains(ip)
        })
        .map(|p| p.network().kind)
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let cfg = GenConfig {
        accounts: 150,
        days: 9,
        seed: 7,
        ..GenConfig::default()
    };
    let (a, ta) = run(&cfg);
    let (b, tb) = run(&cfg);
    assert!(!a.is_empty());
    assert!(a == b, "same seed gave different events");
    assert_eq!(ta, tb);
    let (c, _) = run(&GenConfig { seed: 8, ..cfg });
    assert!(a != c, "another seed gave the same events");
}

#[test]
fn choosing_attacks_leaves_honest_traffic_unchanged() {
    let cfg = GenConfig {
        accounts: 150,
        days: 9,
        seed: 3,
        ..GenConfig::default()
    };
    let (all, t_all) = run(&cfg);
    let (none, t_none) = run(&GenConfig {
        attacks: Vec::new(),
        ..cfg
    });
    assert!(t_none.attacks.is_empty());
    assert_eq!(t_all.summary.legit_sessions, t_none.summary.legit_sessions);
    let attack_ids: HashSet<String> = t_all
        .attacks
        .iter()
        .flat_map(|a| a.events.iter().map(|e| e.id.clone()))
        .collect();
    // Strip ids (they number the whole stream) and compare the honest events.
    let honest = |out: &[u8], skip: &HashSet<String>| -> Vec<Value> {
        lines(out)
            .into_iter()
            .filter(|v| !skip.contains(v["id"].as_str().unwrap_or("")))
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect()
    };
    let a = honest(&all, &attack_ids);
    let n = honest(&none, &HashSet::new());
    assert_eq!(a.len(), n.len());
    // Hijacks share the victim's session, so compare everything but sessions' attack events.
    assert!(a == n, "honest traffic changed when attacks were added");
}

#[test]
fn output_is_valid_native_traffic_in_time_order_from_the_world() {
    let (events, truth) = small_run();
    let atlas = Atlas::new();
    assert_eq!(events.len() as u64, truth.summary.events);
    let mut last = i64::MIN;
    let mut ids = HashSet::new();
    let mut v6 = 0;
    let (mut logins, mut with_device) = (0u64, 0u64);
    for e in events {
        let ts = timefmt::parse_rfc3339(e["ts"].as_str().expect("ts")).expect("RFC 3339 ts");
        assert!(ts >= last, "events out of order at {e}");
        last = ts;
        assert!(
            ids.insert(e["id"].as_str().expect("id").to_string()),
            "duplicate id {e}"
        );
        assert!(!e["account"].as_str().expect("account").is_empty());
        let ip: Option<IpAddr> = e["ip"].as_str().map(|s| s.parse().expect("valid ip"));
        if let Some(ip) = ip {
            assert!(atlas.contains(ip), "{ip} is in no world prefix");
            v6 += ip.is_ipv6() as u32;
        }
        match e["type"].as_str().expect("type") {
            "login" => {
                assert!(
                    matches!(e["outcome"].as_str(), Some("success" | "failure")),
                    "{e}"
                );
                assert!(ip.is_some(), "login without ip: {e}");
                assert!(e["user_agent"].is_string(), "login without user agent: {e}");
                logins += 1;
                with_device += e["device_id"].is_string() as u64;
            }
            "mfa" => assert!(e["outcome"].is_string()),
            "access" => {
                assert!(matches!(
                    e["action"].as_str(),
                    Some("read" | "search" | "export" | "print" | "update" | "delete")
                ));
                assert!(e["resource"].is_string());
                assert!(e["count"].as_u64().expect("count") >= 1);
                assert!(e["session"].is_string(), "access outside a session: {e}");
            }
            "logout" => assert!(e["session"].is_string()),
            other => panic!("unexpected type {other}"),
        }
    }
    assert!(v6 > 0, "no IPv6 client at all");
    // Real SaaS logs carry a device id on only part of the logins.
    let share = with_device as f64 / logins as f64;
    assert!(
        (0.4..0.8).contains(&share),
        "device_id on {share:.2} of logins"
    );
    let all: HashSet<&str> = NETWORKS.iter().map(|n| n.cidr).collect();
    assert!(all.len() > 10);
}

#[test]
fn truth_names_exactly_what_was_emitted() {
    let cfg = small();
    let (events, truth) = small_run();
    let by_id: HashMap<&str, &Value> = events
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    let warm_up_end = cfg.start_ms + 7 * timefmt::DAY_MS;
    let mut attack_ids = HashSet::new();
    for a in &truth.attacks {
        assert!(!a.events.is_empty(), "{} has no events", a.id);
        assert_eq!(a.start, a.events[0].ts);
        assert_eq!(a.end, a.events.last().unwrap().ts);
        assert!(
            timefmt::parse_rfc3339(&a.start).unwrap() >= warm_up_end,
            "{} in warm-up",
            a.id
        );
        let mut prev = i64::MIN;
        for t in &a.events {
            let e = by_id
                .get(t.id.as_str())
                .unwrap_or_else(|| panic!("{} not emitted", t.id));
            assert_eq!(e["ts"].as_str().unwrap(), t.ts);
            assert_eq!(e["account"].as_str().unwrap(), t.account);
            assert_eq!(e["count"].as_u64().unwrap_or(0), t.count as u64);
            let ts = timefmt::parse_rfc3339(&t.ts).unwrap();
            assert!(ts >= prev, "{} events out of order", a.id);
            prev = ts;
            assert!(attack_ids.insert(t.id.clone()), "{} in two attacks", t.id);
            if let Some(s) = e["session"].as_str() {
                assert!(a.sessions.iter().any(|x| x == s));
            }
            assert!(a
                .source_ips
                .iter()
                .any(|ip| Some(ip.as_str()) == e["ip"].as_str()));
        }
    }
    // Attack events are never counted as legitimate.
    let legit_logins = events
        .iter()
        .filter(|e| e["type"] == "login" && !attack_ids.contains(e["id"].as_str().unwrap()))
        .count() as u64;
    assert_eq!(legit_logins, truth.summary.legit_logins);
    let legit_sessions = events
        .iter()
        .filter(|e| {
            e["type"] == "login"
                && e["outcome"] == "success"
                && !attack_ids.contains(e["id"].as_str().unwrap())
        })
        .count() as u64;
    assert_eq!(legit_sessions, truth.summary.legit_sessions);
    // The file form reads back identically.
    let mut buf = Vec::new();
    truth.write(&mut buf).unwrap();
    assert_eq!(&Truth::read(&buf[..]).unwrap(), truth);
}

#[test]
fn every_attack_kind_is_injected_and_looks_like_itself() {
    let (events, truth) = small_run();
    let atlas = Atlas::new();
    let by_id: HashMap<&str, &Value> = events
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    for kind in AttackKind::CLASSIC {
        let of_kind: Vec<_> = truth
            .attacks
            .iter()
            .filter(|a| a.kind == kind.as_str())
            .collect();
        assert!(!of_kind.is_empty(), "no {} attack", kind.as_str());
        for a in of_kind {
            let first = by_id[a.events[0].id.as_str()];
            let records: u64 = a.events.iter().map(|e| e.count as u64).sum();
            let ip: IpAddr = a.source_ips[0].parse().unwrap();
            match kind {
                AttackKind::Infostealer => {
                    assert_eq!(first["outcome"], "success", "first try: {first}");
                    assert_eq!(network_of(&atlas, ip), Some(NetKind::Hosting));
                    assert!(records >= 200, "bulk export: {records}");
                }
                AttackKind::ResidentialProxy => {
                    assert_eq!(network_of(&atlas, ip), Some(NetKind::Residential));
                    assert!(records >= 200);
                }
                AttackKind::UaCopy => {
                    // The victim's own user agent, without its device id.
                    let victim_ua = events.iter().find(|e| {
                        e["account"] == first["account"]
                            && e["type"] == "login"
                            && e["user_agent"] == first["user_agent"]
                            && !a
                                .events
                                .iter()
                                .any(|t| Some(t.id.as_str()) == e["id"].as_str())
                    });
                    assert!(victim_ua.is_some(), "ua_copy UA never used by the victim");
                    assert!(first["device_id"].is_null());
                }
                AttackKind::CredentialStuffing | AttackKind::PasswordSpraying => {
                    assert!(a.accounts.len() >= 5, "{} accounts", a.accounts.len());
                    assert_eq!(a.source_ips.len(), 1);
                    let failures = a
                        .events
                        .iter()
                        .filter(|e| e.outcome.as_deref() == Some("failure"))
                        .count();
                    assert!(failures * 2 > a.events.len() / 2, "mostly failures");
                }
                AttackKind::BruteForce => {
                    let failures = a
                        .events
                        .iter()
                        .filter(|e| e.outcome.as_deref() == Some("failure"))
                        .count();
                    assert!(failures >= 20);
                }
                AttackKind::SessionHijack => {
                    // The session is the victim's: it also has honest events from elsewhere.
                    let s = &a.sessions[0];
                    let honest = events.iter().find(|e| {
                        e["session"].as_str() == Some(s.as_str())
                            && e["type"] == "login"
                            && e["outcome"] == "success"
                    });
                    let honest = honest.expect("hijacked session has the owner's login");
                    assert!(!a
                        .events
                        .iter()
                        .any(|t| Some(t.id.as_str()) == honest["id"].as_str()));
                    assert_ne!(honest["ip"], first["ip"]);
                }
                AttackKind::LowAndSlow => {
                    assert!(a.sessions.len() >= 2, "spread over days");
                    assert!(a.events.iter().all(|e| e.count <= 60));
                }
                AttackKind::DormantTakeover => {
                    let earlier = events.iter().take_while(|e| e["id"] != first["id"]);
                    let mut earlier = earlier;
                    assert!(
                        !earlier.any(|e| e["account"] == first["account"]),
                        "dormant account was active before"
                    );
                }
                AttackKind::MfaFatigue => unreachable!("not a classic kind"),
            }
        }
    }
}

fn alert(
    account: &str,
    session: Option<&str>,
    ts: &str,
    severity: Severity,
    revoke: bool,
) -> Alert {
    let mut actions = vec![ResponseAction::Alert];
    if revoke {
        actions.push(ResponseAction::RevokeSession);
    }
    Alert {
        id: format!("al_{account}_{ts}"),
        rule: "test.perfect".into(),
        title: "test".into(),
        severity,
        risk: 1.0,
        ts: ts.into(),
        detected_at: ts.into(),
        account: account.into(),
        tenant: None,
        session: session.map(str::to_string),
        ip: None,
        geo: None,
        device: None,
        reasons: Vec::new(),
        actions,
        mitre: Vec::new(),
        events: Vec::new(),
        mode: None,
    }
}

#[test]
fn eval_scores_a_perfect_detector_and_one_false_alarm() {
    let (events, truth) = small_run();
    // A detector that revokes each attack at its first event...
    let mut alerts: Vec<Alert> = truth
        .attacks
        .iter()
        .map(|a| {
            let mut al = alert(
                &a.events[0].account,
                None,
                &a.events[0].ts,
                Severity::High,
                true,
            );
            al.events = vec![a.events[0].id.clone()];
            al
        })
        .collect();
    // ...and cries wolf once on an honest session.
    let attack_ids: HashSet<&str> = truth
        .attacks
        .iter()
        .flat_map(|a| a.events.iter().map(|e| e.id.as_str()))
        .collect();
    let honest = events
        .iter()
        .find(|e| {
            e["type"] == "login"
                && e["outcome"] == "success"
                && !attack_ids.contains(e["id"].as_str().unwrap())
        })
        .unwrap();
    alerts.push(alert(
        honest["account"].as_str().unwrap(),
        honest["session"].as_str(),
        honest["ts"].as_str().unwrap(),
        Severity::High,
        true,
    ));
    let r = evaluate(truth, &alerts);
    assert_eq!(r.all.instances as usize, truth.attacks.len());
    assert_eq!(r.all.detected, r.all.instances);
    assert_eq!(r.all.alerted_at_first_event, r.all.instances);
    assert_eq!(r.all.delay_max_s, Some(0.0));
    // Revoked at the first event: only records of that very event count (a hijack's first
    // event is already a search listing up to 100 records).
    let with_records: Vec<_> = truth
        .attacks
        .iter()
        .filter(|a| a.events.iter().any(|e| e.count > 0))
        .collect();
    let contained = with_records
        .iter()
        .filter(|a| a.events[0].count < 50)
        .count();
    assert_eq!(
        r.all.revoked_before_50_records,
        Some(contained as f64 / with_records.len() as f64)
    );
    assert_eq!(r.false_alerts.total, 1);
    assert_eq!(r.false_alerts.sessions_revoked, 1);
    let expected = 10_000.0 / truth.summary.legit_logins as f64;
    assert!((r.false_alerts.per_10k_logins.high - expected).abs() < 1e-9);
}

#[test]
fn classic_profile_is_pinned_byte_for_byte() {
    // Tests, the demo and the benches depend on these bytes: `tocsin gen --seed 1 --accounts
    // 200 --days 10` and its truth, as they were before the other profiles existed.
    let cfg = GenConfig {
        accounts: 200,
        days: 10,
        seed: 1,
        ..GenConfig::default()
    };
    let (events, truth) = run(&cfg);
    let mut written = Vec::new();
    truth.write(&mut written).unwrap();
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    assert_eq!(
        hex(&events),
        "4977868d3d70ac72845babe0083fa2132c18ef926504a64c444b6d3a93082010"
    );
    assert_eq!(
        hex(&written),
        "1de5e3071e725a732f142522e517df80db2c9a0f0413755df9c6cc9d77636db6"
    );
}

fn run_profile(cfg: &GenConfig, profile: Profile) -> (Vec<u8>, Truth, Labels) {
    let mut out = Vec::new();
    let summary = generate_profile(cfg, profile, &mut |e| {
        e.write_json(&mut out)?;
        out.push(b'\n');
        Ok(())
    })
    .expect("writing to a Vec cannot fail");
    (out, summary.truth, summary.labels)
}

#[test]
fn labelled_profiles_are_deterministic_per_seed() {
    for profile in [Profile::Tune, Profile::Holdout] {
        let cfg = GenConfig {
            accounts: 120,
            days: 9,
            seed: 7,
            ..GenConfig::default()
        };
        let (a, ta, la) = run_profile(&cfg, profile);
        let (b, tb, lb) = run_profile(&cfg, profile);
        assert!(!a.is_empty());
        assert!(a == b, "{profile:?}: same seed gave different events");
        assert_eq!((ta, la), (tb, lb), "{profile:?}");
        let (c, _, _) = run_profile(&GenConfig { seed: 8, ..cfg }, profile);
        assert!(a != c, "{profile:?}: another seed gave the same events");
    }
}

#[test]
fn labelled_profiles_leave_honest_traffic_alone_when_attacks_change() {
    let cfg = GenConfig {
        accounts: 120,
        days: 9,
        seed: 5,
        ..GenConfig::default()
    };
    let (all, t_all, l_all) = run_profile(&cfg, Profile::Holdout);
    let (none, t_none, l_none) = run_profile(
        &GenConfig {
            attacks: Vec::new(),
            ..cfg
        },
        Profile::Holdout,
    );
    assert!(t_none.attacks.is_empty() && l_none.attacks.is_empty());
    assert_eq!(l_all.sessions, l_none.sessions);
    let attack_ids: HashSet<String> = t_all
        .attacks
        .iter()
        .flat_map(|a| a.events.iter().map(|e| e.id.clone()))
        .collect();
    let honest = |out: &[u8], skip: &HashSet<String>| -> Vec<Value> {
        lines(out)
            .into_iter()
            .filter(|v| !skip.contains(v["id"].as_str().unwrap_or("")))
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("id");
                v
            })
            .collect()
    };
    assert!(honest(&all, &attack_ids) == honest(&none, &HashSet::new()));
}

/// The world row of `ip`, from `one_each`: one single-prefix atlas per row.
fn network(one_each: &[Atlas], ip: IpAddr) -> Option<&'static Network> {
    one_each
        .iter()
        .find(|a| a.contains(ip))
        .map(|a| a.prefixes[0].network())
}

/// A 200-account, 30-day run of `profile`: every family, every attack kind, valid traffic.
fn check_profile(profile: Profile, seed: u64, countries: &[&str]) {
    let cfg = GenConfig {
        accounts: 200,
        days: 30,
        seed,
        ..GenConfig::default()
    };
    let (out, truth, labels) = run_profile(&cfg, profile);
    let events = lines(&out);
    assert_eq!(events.len() as u64, truth.summary.events);
    // Valid, ordered traffic from the world.
    let atlas = Atlas::full();
    let one_each: Vec<Atlas> = atlas
        .prefixes
        .iter()
        .map(|p| Atlas { prefixes: vec![*p] })
        .collect();
    let mut last = i64::MIN;
    let mut sessions: HashMap<&str, &str> = HashMap::new();
    let attack_ids: HashSet<&str> = truth
        .attacks
        .iter()
        .flat_map(|a| a.events.iter().map(|e| e.id.as_str()))
        .collect();
    for e in &events {
        let ts = timefmt::parse_rfc3339(e["ts"].as_str().unwrap()).unwrap();
        assert!(ts >= last, "{profile:?}: out of order at {e}");
        last = ts;
        if let Some(ip) = e["ip"].as_str() {
            let ip: IpAddr = ip.parse().unwrap();
            let n = network(&one_each, ip).unwrap_or_else(|| panic!("{ip} in no world prefix"));
            let honest = !attack_ids.contains(e["id"].as_str().unwrap());
            if honest && matches!(n.kind, NetKind::Business | NetKind::Hospital) {
                assert!(countries.contains(&n.country), "{profile:?}: {e}");
            }
        }
        if let Some(s) = e["session"].as_str() {
            sessions.insert(s, e["account"].as_str().unwrap());
        }
    }
    // Honest logins and sessions are counted as the summary says.
    let honest_logins: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "login" && !attack_ids.contains(e["id"].as_str().unwrap()))
        .collect();
    assert_eq!(honest_logins.len() as u64, truth.summary.legit_logins);
    let successes = honest_logins
        .iter()
        .filter(|e| e["outcome"] == "success")
        .count();
    assert_eq!(successes as u64, truth.summary.legit_sessions);
    // Every family, and every labelled session exists with its account.
    let mut seen = HashSet::new();
    for s in &labels.sessions {
        assert_eq!(sessions.get(s.session.as_str()), Some(&s.account.as_str()));
        assert!(s.start <= s.end);
        for f in &s.families {
            seen.insert(Lookalike::parse(f).unwrap_or_else(|| panic!("unknown family {f}")));
        }
    }
    for f in Lookalike::ALL {
        assert!(seen.contains(&f), "{profile:?}: no {} session", f.as_str());
    }
    // Every attack kind, each with its label.
    for kind in AttackKind::ALL {
        let a = truth.attacks.iter().find(|a| a.kind == kind.as_str());
        let a = a.unwrap_or_else(|| panic!("{profile:?}: no {} attack", kind.as_str()));
        let l = labels.attacks.iter().find(|l| l.id == a.id).unwrap();
        assert_eq!(l.kind, a.kind);
        assert!(!l.variant.is_empty() && l.params.contains_key("local_hour"));
    }
    assert_eq!(labels.attacks.len(), truth.attacks.len());
    let fatigue = truth
        .attacks
        .iter()
        .find(|a| a.kind == "mfa_fatigue")
        .unwrap();
    let refused = fatigue
        .events
        .iter()
        .filter(|e| e.kind == "mfa" && e.outcome.as_deref() == Some("failure"))
        .count();
    assert!(refused >= 2, "MFA fatigue without pushes: {fatigue:?}");
    // The truth file reads back with its labels.
    let mut buf = Vec::new();
    truth.write_labelled(&labels, &mut buf).unwrap();
    let (t2, l2) = Truth::read_labelled(&buf[..]).unwrap();
    assert_eq!((&t2, &l2), (&truth, &labels));
    assert_eq!(Truth::read(&buf[..]).unwrap(), truth);
}

#[test]
fn tune_has_every_family_and_attack_kind_in_200_accounts_30_days() {
    check_profile(Profile::Tune, 3, &["FR", "BE", "CH"]);
}

#[test]
fn holdout_has_every_family_and_attack_kind_in_200_accounts_30_days() {
    check_profile(Profile::Holdout, 3, &["ES", "PT"]);
}

const T0: i64 = 1_762_817_462_000; // 2025-11-10T23:31:02Z

fn at(offset_s: i64) -> String {
    timefmt::rfc3339(T0 + offset_s * 1000)
}

fn hand_attack(
    id: &str,
    kind: &str,
    account: &str,
    session: &str,
    counts: &[(i64, u32)],
) -> AttackTruth {
    let events: Vec<TruthEvent> = counts
        .iter()
        .enumerate()
        .map(|(i, &(s, n))| TruthEvent {
            id: format!("{id}-e{i}"),
            ts: at(s),
            count: n,
            kind: if n > 0 { "access" } else { "login" }.into(),
            account: account.into(),
            outcome: None,
        })
        .collect();
    AttackTruth {
        record: "attack".into(),
        id: id.into(),
        kind: kind.into(),
        account: account.into(),
        accounts: Vec::new(),
        tenant: None,
        sessions: vec![session.into()],
        source_ips: vec!["198.51.100.9".into()],
        start: events[0].ts.clone(),
        end: events.last().unwrap().ts.clone(),
        events,
    }
}

fn hand_session(
    account: &str,
    session: &str,
    families: &[&str],
    from: i64,
    to: i64,
) -> SessionTruth {
    SessionTruth {
        record: "session".into(),
        session: session.into(),
        account: account.into(),
        families: families.iter().map(|f| f.to_string()).collect(),
        start: at(from),
        end: at(to),
    }
}

fn hand_label(id: &str, kind: &str, variant: &str) -> AttackLabel {
    AttackLabel {
        record: "attack_label".into(),
        id: id.into(),
        kind: kind.into(),
        variant: variant.into(),
        params: Default::default(),
    }
}

fn ruled(mut a: Alert, rule: &str) -> Alert {
    a.rule = rule.into();
    a
}

#[test]
fn eval_computes_family_rule_and_variant_figures_on_a_hand_made_case() {
    let truth = Truth {
        attacks: vec![
            hand_attack(
                "atk-001",
                "infostealer",
                "a@t",
                "s1",
                &[(0, 0), (60, 30), (120, 500)],
            ),
            hand_attack(
                "atk-002",
                "residential_proxy",
                "b@t",
                "s2",
                &[(0, 0), (60, 40), (200, 400)],
            ),
            hand_attack("atk-003", "ua_copy", "c@t", "s3", &[(0, 0), (60, 300)]),
            hand_attack(
                "atk-004",
                "residential_proxy",
                "d@t",
                "s4",
                &[(0, 0), (30, 100)],
            ),
        ],
        summary: TruthSummary {
            events: 10_000,
            legit_logins: 1000,
            legit_sessions: 400,
            accounts: 20,
            days: 30,
            seed: 1,
        },
    };
    let labels = Labels {
        attacks: vec![
            hand_label("atk-001", "infostealer", "plain"),
            hand_label("atk-002", "residential_proxy", "proxy_city"),
            hand_label("atk-003", "ua_copy", "copied_ua"),
            hand_label("atk-004", "residential_proxy", "proxy_country"),
        ],
        sessions: vec![
            hand_session("x@t", "s-h1", &["mobile_carrier"], 1000, 2000),
            hand_session(
                "x@t",
                "s-h2",
                &["mobile_carrier", "night_shift"],
                3000,
                4000,
            ),
            hand_session("y@t", "s-h3", &["night_shift"], 3000, 4000),
            hand_session("z@t", "s-h4", &["forgotten_password"], 5000, 5600),
            hand_session("w@t", "s-h5", &["integration"], 6000, 6100),
        ],
    };
    let ts = |s: i64| at(s);
    let alerts = vec![
        // Attacks: the plain infostealer revoked after 30 records, the city proxy after 440,
        // the country proxy alerted without revocation, the copied user agent missed.
        ruled(
            alert("a@t", Some("s1"), &ts(60), Severity::High, true),
            "r.true",
        ),
        ruled(
            alert("b@t", Some("s2"), &ts(200), Severity::High, true),
            "r.true",
        ),
        ruled(
            alert("d@t", Some("s4"), &ts(10), Severity::Medium, false),
            "r.true",
        ),
        // False alerts.
        ruled(
            alert("x@t", Some("s-h1"), &ts(1100), Severity::High, true),
            "r.a",
        ),
        ruled(
            alert("x@t", Some("s-h1"), &ts(1200), Severity::Low, false),
            "r.b",
        ),
        ruled(
            alert("x@t", Some("s-h2"), &ts(3100), Severity::Medium, false),
            "r.b",
        ),
        ruled(
            alert("y@t", Some("s-h3"), &ts(3100), Severity::Critical, false),
            "r.a",
        ),
        // On the failed attempts before z's session: counts against it.
        ruled(alert("z@t", None, &ts(5100), Severity::High, true), "r.c"),
        ruled(
            alert("q@t", Some("s-ord"), &ts(7000), Severity::Low, false),
            "r.b",
        ),
        ruled(alert("q@t", None, &ts(9000), Severity::Low, false), "r.b"),
    ];
    let r = evaluate_labelled(&truth, &labels, &alerts);
    assert_eq!(r.true_alerts, 3);
    let f = &r.false_alerts;
    assert_eq!(f.total, 7);
    assert!((f.per_10k_logins_any - 70.0).abs() < 1e-9);
    // h1 (high), h3 (critical), h4 (high, attributed) of 400 sessions; h1 and h4 revoked.
    assert!((f.sessions_alerted_high_or_critical_share - 3.0 / 400.0).abs() < 1e-12);
    assert_eq!(f.sessions_revoked, 2);
    let rules: Vec<(&str, u64, u64)> = f
        .top_rules
        .iter()
        .map(|x| (x.rule.as_str(), x.alerts, x.high_or_critical))
        .collect();
    assert_eq!(rules, vec![("r.b", 4, 0), ("r.a", 2, 2), ("r.c", 1, 1)]);
    assert!((f.top_rules[0].per_10k_logins - 40.0).abs() < 1e-9);

    let fam: Vec<(&str, u64, u64, u64, u64)> = r
        .families
        .iter()
        .map(|x| {
            (
                x.family.as_str(),
                x.sessions,
                x.alerted_high_or_critical,
                x.revoked,
                x.alerted,
            )
        })
        .collect();
    assert_eq!(
        fam,
        vec![
            ("forgotten_password", 1, 1, 1, 1),
            ("mobile_carrier", 2, 1, 1, 2),
            ("night_shift", 2, 1, 0, 2),
            ("ordinary", 395, 0, 0, 1),
            ("integration", 1, 0, 0, 0),
        ]
    );
    let mobile = &r.families[1];
    assert!((mobile.alerted_high_or_critical_share - 0.5).abs() < 1e-12);
    assert!((mobile.revoked_share - 0.5).abs() < 1e-12);
    assert!((r.families[3].alerted_share - 1.0 / 395.0).abs() < 1e-12);

    type Row<'a> = (&'a str, &'a str, u32, u32, u32, Option<f64>);
    let var: Vec<Row> = r
        .variants
        .iter()
        .map(|v| {
            (
                v.kind.as_str(),
                v.variant.as_str(),
                v.instances,
                v.detected,
                v.revoked,
                v.revoked_before_50_records,
            )
        })
        .collect();
    assert_eq!(
        var,
        vec![
            ("infostealer", "plain", 1, 1, 1, Some(1.0)),
            ("residential_proxy", "proxy_city", 1, 1, 1, Some(0.0)),
            ("residential_proxy", "proxy_country", 1, 1, 0, Some(0.0)),
            ("ua_copy", "copied_ua", 1, 0, 0, Some(0.0)),
        ]
    );
    let proxies = r
        .kinds
        .iter()
        .find(|k| k.kind == "residential_proxy")
        .unwrap();
    assert_eq!(
        (proxies.instances, proxies.detected, proxies.revoked),
        (2, 2, 1)
    );
    let table = r.to_table();
    for needle in [
        "forgotten_password",
        "proxy_city",
        "r.b",
        "per 10k legitimate logins: 70.00",
    ] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
    // Without labels the same alerts give the classic figures and no family table.
    let plain = evaluate(&truth, &alerts);
    assert!(plain.families.is_empty());
    assert_eq!(plain.false_alerts.total, 7);
    assert_eq!(
        plain.false_alerts.sessions_revoked, 1,
        "z's alert has no session to count against"
    );
}
