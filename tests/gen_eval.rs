//! `tocsin gen` and `tocsin eval` together: the generator is deterministic, its output is valid
//! native traffic from the fixture world, its ground truth names exactly what it emitted, and
//! the backtest scores a known set of alerts as expected.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use serde_json::Value;
use tocsin::alert::{Alert, ResponseAction, Severity};
use tocsin::eval::evaluate;
use tocsin::gen::net::Atlas;
use tocsin::gen::{generate, AttackKind, GenConfig, Truth};
use tocsin::timefmt;
use tocsin::world::{NetKind, NETWORKS};

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
    for kind in AttackKind::ALL {
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
