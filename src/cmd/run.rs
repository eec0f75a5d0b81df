//! `tocsin run`: the long-running pipeline over Kafka.
//!
//! Loads the configuration, builds the [`Pipeline`], restores the checkpoint and consumes until
//! SIGTERM or SIGINT; then it stops consuming, lets the workers drain, writes a checkpoint,
//! commits the offsets and exits 0. Shutdown is bounded: if draining takes longer than
//! [`SHUTDOWN_LIMIT`] (a broker that stopped answering, say) the process exits 1 without a new
//! checkpoint, which is safe: the next start resumes from the last good one.
//!
//! Decision time (`detected_at`) is the wall clock; baselines follow event time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{CmdError, CmdResult};
use crate::api::{TlsConfig, Tokens};
use crate::checkpoint::CheckpointStore;
use crate::engine::{self, ResponderSink};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::respond::Responder;
use crate::settings::Settings;
use crate::source::kafka::{KafkaSource, SourceOptions};

/// Longest time between the stop signal and the process exit.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// Arguments of `tocsin run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (default: `tocsin.toml` when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Rules directory (overrides `[rules] dir`).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Checkpoint interval in milliseconds (overrides `[state] checkpoint_interval_secs`; for
    /// tests that need checkpoints more often than once a second).
    #[arg(long, hide = true, value_name = "MS")]
    pub checkpoint_interval_ms: Option<u64>,
}

/// Runs `tocsin run`.
pub fn run(args: RunArgs) -> CmdResult {
    let mut settings = Settings::load_or_default(args.config.as_deref())
        .map_err(|e| CmdError::Usage(e.to_string()))?;
    if let Some(dir) = &args.rules {
        settings.rules.dir = dir.clone();
    }
    let Some(kafka) = settings.source.kafka.clone() else {
        return Err(CmdError::Usage(
            "`tocsin run` needs a [source.kafka] section in the configuration".into(),
        ));
    };
    let tokens =
        Tokens::from_settings(&settings.api.tokens).map_err(|e| CmdError::Usage(e.to_string()))?;
    let tls =
        TlsConfig::from_settings(&settings.api).map_err(|e| CmdError::Usage(e.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = std::net::TcpListener::bind(settings.api.listen).map_err(|e| {
        CmdError::Usage(format!(
            "api.listen: cannot listen on {}: {e}",
            settings.api.listen
        ))
    })?;
    let metrics = Arc::new(Metrics::new());
    let pipeline = Arc::new(
        Pipeline::from_settings(&settings)
            .map_err(|e| CmdError::Usage(e.to_string()))?
            .with_metrics(metrics.clone()),
    );
    // The responder (webhooks, outbound revocation, revocation store) and the API run on a small
    // tokio runtime; the Kafka workers are plain threads and hand alerts over through a bounded
    // channel.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tocsin-respond")
        .enable_all()
        .build()
        .map_err(|e| CmdError::Failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    let responder = {
        let _enter = rt.enter();
        Responder::start(&settings, metrics.clone(), engine::stopped(stop.clone()))
            .map_err(|e| CmdError::Usage(e.to_string()))?
    };
    let options = SourceOptions {
        checkpoint_interval: match args.checkpoint_interval_ms {
            Some(ms) => Duration::from_millis(ms.max(1)),
            None => Duration::from_secs(settings.state.checkpoint_interval_secs.max(1)),
        },
        ..SourceOptions::default()
    };
    let source = KafkaSource::new(
        kafka,
        pipeline.clone(),
        CheckpointStore::new(&settings.state.dir),
        engine::state_parts(&pipeline, &responder),
        Arc::new(ResponderSink(responder.clone())),
        options,
    );
    let local = listener.local_addr().ok();
    let api = engine::spawn_api(
        rt.handle(),
        engine::ApiEndpoint {
            listener,
            tokens,
            tls,
        },
        pipeline,
        responder.clone(),
        source.ready_flag(),
        stop.clone(),
    )
    .map_err(|e| CmdError::Failed(anyhow::anyhow!("cannot start the API: {e}")))?;
    if let Some(addr) = local {
        tracing::info!(%addr, "API listening");
        eprintln!("api: listening on {scheme}://{addr}");
    }

    watch_signals(stop.clone())?;
    let result = source.run(&stop);
    // Whatever ended the source, stop the API and let the responder put every alert it was
    // handed into its durable outbox before the process exits.
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        let _ = tokio::time::timeout(SHUTDOWN_LIMIT / 2, responder.join()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), api).await;
    });
    let summary = result?;
    eprintln!(
        "run: {} records, {} events, {} not applicable, {} dead letters, {} alerts, {} revocations, {} checkpoints",
        summary.records,
        summary.events,
        summary.not_applicable,
        summary.dead_letters,
        summary.alerts,
        summary.revocations,
        summary.checkpoints
    );
    Ok(ExitCode::SUCCESS)
}

/// Sets `stop` on the first SIGTERM or SIGINT and arms the shutdown deadline. The signal
/// handling runs on its own small runtime thread; the pipeline itself needs no async runtime.
fn watch_signals(stop: Arc<AtomicBool>) -> Result<(), CmdError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::Failed(anyhow::anyhow!("cannot start signal handling: {e}")))?;
    use tokio::signal::unix::{signal, SignalKind};
    // Registered before returning, so a signal sent right after start is not lost.
    let (mut term, mut int) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })
        .map_err(|e| CmdError::Failed(anyhow::anyhow!("cannot watch SIGTERM/SIGINT: {e}")))?;
    std::thread::Builder::new()
        .name("tocsin-signals".into())
        .spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: draining"),
                    _ = int.recv() => tracing::info!("SIGINT: draining"),
                }
            });
            stop.store(true, Ordering::Relaxed);
            std::thread::sleep(SHUTDOWN_LIMIT);
            eprintln!(
                "tocsin: error: shutdown did not finish within {} s; exiting without a final checkpoint",
                SHUTDOWN_LIMIT.as_secs()
            );
            std::process::exit(1);
        })
        .map_err(|e| CmdError::Failed(anyhow::anyhow!("cannot start signal handling: {e}")))?;
    Ok(())
}
