//! `tocsin_alerts_total` counts each alert once when the pipeline and the responder share one
//! metrics registry, as they do in `tocsin run` (the engine wires them this way): the
//! detecting pipeline does not count, the responder does.

use std::sync::Arc;
use std::time::Duration;

use tocsin::metrics::Metrics;
use tocsin::pipeline::{Pipeline, RecordStats};
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::Settings;
use tocsin::source::decode::Format;

/// The sum of every `tocsin_alerts_total{...}` sample in a Prometheus text page.
fn alerts_total(page: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with("tocsin_alerts_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_alert_is_counted_once_through_pipeline_and_responder() {
    let root = env!("CARGO_MANIFEST_DIR");
    let state = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.geoip.city = vec![format!("{root}/testdata/geo/GeoLite2-City-Test.mmdb").into()];
    settings.geoip.asn = Some(format!("{root}/testdata/geo/GeoLite2-ASN-Test.mmdb").into());
    settings.state.dir = state.path().to_path_buf();

    let metrics = Arc::new(Metrics::new());
    let pipeline = Pipeline::from_settings(&settings)
        .unwrap()
        .with_metrics(metrics.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let responder = Responder::start(ResponderSettings::of(&settings), metrics.clone(), async {
        let _ = stopped.await;
    })
    .unwrap();

    let input = std::fs::read(format!("{root}/testdata/formats/native/takeover.jsonl")).unwrap();
    let mut stats = RecordStats::default();
    let mut alerts = Vec::new();
    for line in input.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        pipeline.process_record(
            Format::Native,
            line,
            None,
            &mut stats,
            &mut alerts,
            &mut |_| {},
        );
    }
    let raised = alerts.len();
    assert!(raised >= 2, "the takeover is detected: {raised} alerts");
    for a in alerts {
        responder.submit(a).await.unwrap();
    }
    for _ in 0..500 {
        if alerts_total(&metrics.render()) >= raised as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let any second count land before judging.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let page = metrics.render();
    assert_eq!(alerts_total(&page), raised as f64, "{page}");
    let _ = stop.send(());
    responder.join().await;
}
