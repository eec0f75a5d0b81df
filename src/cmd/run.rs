//! `tocsin run`: the long-running pipeline over Kafka.
//!
//! Loads the configuration and starts the [`Engine`] (pipeline, responder, Kafka source, API),
//! which restores the checkpoint and consumes until SIGTERM or SIGINT; then the engine stops
//! consuming, lets the workers drain, writes a checkpoint, commits the offsets, lets the
//! responder put what it holds into its outbox and stops the API; the process exits 0.
//! Shutdown is bounded: if draining takes longer than [`SHUTDOWN_LIMIT`] (a broker that stopped
//! answering, say) the process exits 1 without a new checkpoint, which is safe: the next start
//! resumes from the last good one.
//!
//! Decision time (`detected_at`) is the wall clock; baselines follow event time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{CmdError, CmdResult};
use crate::engine::{Engine, EngineError, EngineOptions};
use crate::settings::Settings;

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
        settings.rules.dir = Some(dir.clone());
    }
    let options = EngineOptions {
        checkpoint_interval: args
            .checkpoint_interval_ms
            .map(|ms| Duration::from_millis(ms.max(1))),
        ..EngineOptions::default()
    };
    key_names(&settings)?;
    let stop = Arc::new(AtomicBool::new(false));
    let engine = Engine::start(&settings, options, stop.clone()).map_err(engine_error)?;
    eprintln!(
        "rules: {} loaded from {}",
        engine.pipeline().detector().rules().rules.len(),
        rules_origin(&settings)
    );
    eprintln!("api: listening on {}", engine.api_url());
    if let Err(e) = watch_signals(stop) {
        let _ = engine.stop();
        return Err(e);
    }
    let summary = engine.wait().map_err(engine_error)?;
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

/// Keys account and tenant names with the state directory's key (created on first start),
/// before anything hashes a name.
fn key_names(settings: &Settings) -> Result<(), CmdError> {
    use super::name_key::{load_or_create, NameKey};
    match load_or_create(&settings.state.dir).map_err(|e| CmdError::Usage(e.to_string()))? {
        NameKey::Keyed(key) => {
            if !crate::baseline::set_name_key(key) {
                return Err(CmdError::Failed(anyhow::anyhow!(
                    "another name key is already in use in this process"
                )));
            }
        }
        NameKey::Unkeyed => tracing::warn!(
            "account names are hashed unkeyed: this state directory predates keyed names \
             (start from an empty state directory to key them)"
        ),
    }
    Ok(())
}

/// Where the rules came from, for the start-up line.
pub(crate) fn rules_origin(settings: &Settings) -> String {
    match &settings.rules.dir {
        Some(dir) => dir.display().to_string(),
        None => crate::detect::rules::BUILT_IN_ROOT.to_owned(),
    }
}

/// A configuration problem exits 2, anything else 1.
fn engine_error(e: EngineError) -> CmdError {
    if e.is_usage() {
        CmdError::Usage(e.to_string())
    } else {
        CmdError::Failed(e.into())
    }
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
