//! Logins without a client address, end to end: some exports drop the address (an ECS document
//! without `source.ip`, an Okta event whose `client.ipAddress` is `"null"` and whose chain is
//! empty, a managed identity's Entra sign-in). Such a login is used for the account, device and
//! time; its geo and network features are missing, never invented; it is counted in
//! `tocsin_events_without_ip_total`. Vendor records that are not sign-ins are counted in
//! `tocsin_not_applicable_records_total`, not as errors.

use std::sync::Arc;

use tocsin::metrics::Metrics;
use tocsin::pipeline::{Pipeline, RecordStats, Skip};
use tocsin::settings::Settings;
use tocsin::source::decode::Format;

fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn pipeline(metrics: &Arc<Metrics>) -> (Pipeline, tempfile::TempDir) {
    let root = env!("CARGO_MANIFEST_DIR");
    let state = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.geoip.city = vec![format!("{root}/testdata/geo/GeoLite2-City-Test.mmdb").into()];
    settings.geoip.asn = Some(format!("{root}/testdata/geo/GeoLite2-ASN-Test.mmdb").into());
    settings.state.dir = state.path().to_path_buf();
    let p = Pipeline::from_settings(&settings)
        .unwrap()
        .with_metrics(metrics.clone());
    (p, state)
}

/// Processes one record; returns the refusals it caused.
fn feed(
    pipeline: &Pipeline,
    format: Format,
    record: &str,
    stats: &mut RecordStats,
    alerts: &mut Vec<tocsin::alert::Alert>,
) -> Vec<String> {
    let mut refused = Vec::new();
    pipeline.process_record(format, record.as_bytes(), None, stats, alerts, &mut |s| {
        if let Skip::Rejected(r) = s {
            refused.push(r.to_string());
        }
    });
    refused
}

#[test]
fn logins_without_address_are_used_counted_and_raise_nothing_invented() {
    let metrics = Arc::new(Metrics::new());
    let (pipeline, _state) = pipeline(&metrics);
    let mut stats = RecordStats::default();
    let mut alerts = Vec::new();
    let mut refused = Vec::new();
    let mut run = |format: Format, record: &str, stats: &mut RecordStats, alerts: &mut Vec<_>| {
        refused.extend(feed(&pipeline, format, record, stats, alerts));
    };
    // Dr Martin's ten usual logins, with addresses.
    let history = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/formats/native/takeover.jsonl"
    ))
    .unwrap();
    for line in history.lines().take(10) {
        run(Format::Native, line, &mut stats, &mut alerts);
    }
    assert!(alerts.is_empty(), "{alerts:?}");
    // Her usual browser, at a usual hour, without an address: in every shape that drops it.
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
    let native = format!(
        r#"{{"ts":"2025-11-17T08:02:00Z","type":"login","outcome":"success","account":"dr.martin@cabinet-rouen.fr","tenant":"cabinet-rouen","session":"s-x1","user_agent":"{ua}"}}"#
    );
    let ecs = format!(
        r#"{{"@timestamp":"2025-11-17T08:05:00Z","event":{{"category":["authentication"],"type":["start"],"outcome":"success"}},"user":{{"name":"dr.martin@cabinet-rouen.fr"}},"user_agent":{{"original":"{ua}"}}}}"#
    );
    let okta = format!(
        r#"{{"eventType":"user.session.start","published":"2025-11-17T08:07:00.000Z","actor":{{"alternateId":"dr.martin@cabinet-rouen.fr"}},"client":{{"ipAddress":"null","userAgent":{{"rawUserAgent":"{ua}"}}}},"outcome":{{"result":"SUCCESS"}},"request":{{"ipChain":[]}}}}"#
    );
    run(Format::Native, &native, &mut stats, &mut alerts);
    run(Format::Ecs, &ecs, &mut stats, &mut alerts);
    run(Format::Okta, &okta, &mut stats, &mut alerts);
    assert!(
        alerts.is_empty(),
        "a missing address is no evidence: {alerts:?}"
    );

    // An Okta sign-on policy evaluation is no sign-in: counted apart, never an error.
    run(
        Format::Okta,
        r#"{"eventType":"policy.evaluate_sign_on","published":"2025-11-17T08:07:00Z","actor":{"alternateId":"dr.martin@cabinet-rouen.fr"},"outcome":{"result":"ALLOW"}}"#,
        &mut stats,
        &mut alerts,
    );
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(stats.events, 13);
    assert_eq!(stats.not_applicable, 1);

    let page = metrics.render();
    assert_eq!(
        sample(&page, "tocsin_events_without_ip_total{type=\"login\"}"),
        3.0,
        "{page}"
    );
    assert_eq!(
        sample(&page, "tocsin_not_applicable_records_total"),
        1.0,
        "{page}"
    );
    assert_eq!(sample(&page, "tocsin_rejected_events_total"), 0.0);
}
