//! Responding to alerts: the [`Responder`] records each alert for the API, applies
//! the revocation it asks for to the [`RevocationStore`], and queues webhook deliveries and the
//! outbound revocation call in the durable [`Outbox`]; tokio tasks deliver from there.
//!
//! The pipeline hands alerts over through a bounded channel ([`Responder::submit`]): it never
//! waits for a disk or a network, only for channel space when the responder is behind
//! (backpressure instead of unbounded memory). The blast-radius [`guard`] runs earlier, in the
//! pipeline, so that `replay` applies it too.
//!
//! An [`Outlet`] (the Kafka sink, in `tocsin run`) hears back from the responder: every
//! revocation change it records, automatic or by hand, to publish on the revocations topic in
//! the one shape the API serves ([`Revocation`]); and, for an alert handed over with an output
//! epoch ([`Responder::blocking_submit_in`]), the moment everything it causes is durable (the
//! revocation log and the outbox fsynced), so that a checkpoint never covers an alert whose
//! webhooks or revocation exist only in memory.
//!
//! | module | owns |
//! |---|---|
//! | [`guard`] | the cap on automatic revocations |
//! | [`revoke`] | the revocation store: check, stream, durable log |
//! | [`outbox`] | the durable delivery queue, backoff and the dead-letter file |
//! | [`webhook`] | webhook formats and Standard Webhooks signing |
//! | [`http`] | the client of outbound calls (no redirects) |
//! | [`recent`] | the recent-alerts log behind the alerts API and feedback |
//! | [`kafka`] | the Kafka source's one way out: responder, alerts, revocations and dead-letter topics |

pub mod guard;
pub mod http;
pub mod kafka;
pub mod outbox;
pub mod recent;
pub mod revoke;
pub mod webhook;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::OnceLock;

use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::alert::Alert;
use crate::metrics::Metrics;
use crate::settings::{secret_from_env, RevocationSettings, Settings, SinksSettings};
use crate::source::kafka::Epoch;

use outbox::{
    AfterFailure, Job, Outbox, OutboxError, OutboxSettings, Pending, REVOCATION_DESTINATION,
};
use recent::RecentAlerts;
use revoke::{revocation_id, NewRevocation, Revocation, RevocationStore, StoreError};
use webhook::{DeliveryError, WebhookSink};

/// Alerts waiting between the pipeline and the responder; beyond, `submit` waits.
const INTAKE_CAPACITY: usize = 4_096;

/// Why the responder could not start: a configuration or state-directory problem.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    /// A webhook sink is misconfigured.
    #[error(transparent)]
    Sink(#[from] webhook::SinkConfigError),
    /// `[revocation]` is misconfigured.
    #[error("revocation: {0}")]
    Revocation(String),
    /// The revocation store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbox could not be opened.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// `[ssf]` is misconfigured or its state unusable.
    #[error(transparent)]
    Ssf(#[from] crate::ssf::SsfError),
}

/// Hears back from the responder (the Kafka sink in `tocsin run`). Called from blocking tasks.
pub trait Outlet: Send + Sync {
    /// A revocation was recorded, lifted, or asked for again by a re-processed alert: publish
    /// its latest state. `epoch` is the output epoch of the alert behind it; `None` for a change
    /// made by hand through the API.
    fn revocation(&self, rev: &Revocation, epoch: Option<Epoch>);

    /// The alert handed over in `epoch` has been acted on: `Ok` once everything it causes is
    /// durable, `Err` when part of it could not be written (no checkpoint may then cover it).
    fn handled(&self, epoch: Epoch, durable: Result<(), String>);
}

/// An alert on its way into the responder, with the output epoch it was raised in, if any.
type Intake = (Alert, Option<Epoch>);

/// The responder stopped: the alert was not taken.
#[derive(Debug, thiserror::Error)]
#[error("the responder has stopped; alert {0} not taken")]
pub struct Stopped(pub String);

/// What the responder needs from the configuration: its own sections, and where state lives.
#[derive(Clone, Copy, Debug)]
pub struct ResponderSettings<'a> {
    /// `[state] dir`: the revocation store and the outbox live there.
    pub state_dir: &'a Path,
    /// `[sinks]`: the webhooks.
    pub sinks: &'a SinksSettings,
    /// `[revocation]`: the operator's endpoint and how long a revocation lasts.
    pub revocation: &'a RevocationSettings,
    /// `[outbox]`: delivery attempts, backoff and bounds.
    pub outbox: &'a OutboxSettings,
    /// `[api] recent_alerts`: how many alerts the API's list keeps.
    pub recent_alerts: usize,
    /// `[ssf]`: Shared Signals, when configured.
    pub ssf: Option<&'a crate::settings::SsfSettings>,
}

impl<'a> ResponderSettings<'a> {
    /// The responder's part of `settings`.
    pub fn of(settings: &'a Settings) -> ResponderSettings<'a> {
        ResponderSettings {
            state_dir: &settings.state.dir,
            sinks: &settings.sinks,
            revocation: &settings.revocation,
            outbox: &settings.outbox,
            recent_alerts: settings.api.recent_alerts,
            ssf: settings.ssf.as_ref(),
        }
    }
}

/// The operator's revocation endpoint (`[revocation] url`).
struct OperatorEndpoint {
    url: reqwest::Url,
    bearer: Option<String>,
    timeout: Duration,
}

impl OperatorEndpoint {
    async fn send(
        &self,
        client: &reqwest::Client,
        idempotency_key: &str,
        body: &str,
    ) -> Result<(), DeliveryError> {
        let mut req = client
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", idempotency_key);
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        match req.body(body.to_owned()).send().await {
            Ok(resp) => DeliveryError::from_status(resp.status()),
            Err(e) => Err(DeliveryError::from_transport(e)),
        }
    }
}

struct Inner {
    store: Arc<RevocationStore>,
    recent: Arc<RecentAlerts>,
    metrics: Arc<Metrics>,
    sinks: Vec<WebhookSink>,
    operator: Option<OperatorEndpoint>,
    outbox_settings: OutboxSettings,
    // A plain mutex, locked only inside blocking tasks or for in-memory bookkeeping; never
    // held across `.await`.
    outbox: Mutex<Outbox>,
    wake: Notify,
    client: reqwest::Client,
    outlet: OnceLock<Arc<dyn Outlet>>,
    guard: OnceLock<guard::Guard>,
    ssf: Option<Arc<crate::ssf::Ssf>>,
}

/// Turns alerts into revocations and deliveries. Cheap to clone; every clone feeds the same
/// tasks. Create it inside a tokio runtime.
#[derive(Clone)]
pub struct Responder {
    inner: Arc<Inner>,
    intake: mpsc::Sender<Intake>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Wall-clock time, epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Responder {
    /// Opens the revocation store and the outbox in the state directory, builds the sinks, and starts
    /// the intake and delivery tasks; they stop when `shutdown` completes. Pending deliveries
    /// from a previous run resume at once.
    pub fn start(
        settings: ResponderSettings<'_>,
        metrics: Arc<Metrics>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Responder, RespondError> {
        let dir = settings.state_dir;
        let now = now_ms();
        let store = Arc::new(RevocationStore::open(
            dir,
            settings.revocation.ttl_secs,
            now,
        )?);
        let outbox = Outbox::open(dir, settings.outbox.clone())?;
        let mut sinks: Vec<WebhookSink> = Vec::new();
        for (i, s) in settings.sinks.webhook.iter().enumerate() {
            let mut sink = WebhookSink::from_settings(i, s)?;
            // Names key the outbox: two sinks on one host get distinct names.
            if sinks.iter().any(|o| o.name == sink.name) || sink.name == REVOCATION_DESTINATION {
                sink.name = format!("{}-{}", sink.name, i + 1);
            }
            sinks.push(sink);
        }
        let operator = match &settings.revocation.url {
            Some(url) => Some(OperatorEndpoint {
                url: reqwest::Url::parse(url)
                    .map_err(|e| RespondError::Revocation(format!("url: {e}")))?,
                bearer: match &settings.revocation.token_env {
                    Some(var) => Some(
                        secret_from_env("revocation.token_env", var)
                            .map_err(|e| RespondError::Revocation(e.to_string()))?,
                    ),
                    None => None,
                },
                timeout: Duration::from_secs(10),
            }),
            None => None,
        };
        let client = http::client().map_err(|e| RespondError::Http(e.to_string()))?;
        metrics.set_outbox_depth(outbox.len());
        let ssf = match settings.ssf {
            Some(s) => Some(Arc::new(crate::ssf::Ssf::open(s, dir, metrics.clone())?)),
            None => None,
        };
        let inner = Arc::new(Inner {
            store,
            recent: Arc::new(RecentAlerts::new(settings.recent_alerts)),
            metrics,
            sinks,
            operator,
            outbox_settings: settings.outbox.clone(),
            outbox: Mutex::new(outbox),
            wake: Notify::new(),
            client,
            outlet: OnceLock::new(),
            guard: OnceLock::new(),
            ssf,
        });
        let (tx, rx) = mpsc::channel(INTAKE_CAPACITY);
        let shutdown = Shared::new(shutdown);
        let tasks = vec![
            tokio::spawn(intake(inner.clone(), rx, shutdown.clone())),
            tokio::spawn(deliver_loop(inner.clone(), shutdown.clone())),
            tokio::spawn(housekeeping(inner.clone(), shutdown)),
        ];
        Ok(Responder {
            inner,
            intake: tx,
            tasks: Arc::new(Mutex::new(tasks)),
        })
    }

    /// Hands an alert over; waits only when the intake channel is full (backpressure).
    pub async fn submit(&self, alert: Alert) -> Result<(), Stopped> {
        self.intake
            .send((alert, None))
            .await
            .map_err(|e| Stopped(e.0 .0.id))
    }

    /// Hands an alert raised in `epoch` over from a thread outside the runtime (blocks while
    /// the channel is full); the [`Outlet`] hears when it is durable. Must not be called from
    /// async code.
    pub fn blocking_submit_in(&self, alert: Alert, epoch: Epoch) -> Result<(), Stopped> {
        self.intake
            .blocking_send((alert, Some(epoch)))
            .map_err(|e| Stopped(e.0 .0.id))
    }

    /// Sets the blast-radius guard the pipeline checks alerts with, for the API to reset (once;
    /// later calls are ignored).
    pub fn set_guard(&self, guard: guard::Guard) {
        let _ = self.inner.guard.set(guard);
    }

    /// An operator acknowledges the guard's trips (`POST /v1/guard/reset`). `None` when no
    /// guard was set.
    pub fn reset_guard(&self) -> Option<guard::GuardReset> {
        let done = self.inner.guard.get()?.reset();
        tracing::warn!(global = ?done.global_tripped_since, tenants = ?done.tenants_tripped, "blast-radius guard reset by an operator");
        Some(done)
    }

    /// Sets who hears about revocations and durable alerts (once; later calls are ignored).
    pub fn set_outlet(&self, outlet: Arc<dyn Outlet>) {
        let _ = self.inner.outlet.set(outlet);
    }

    /// The revocation store (for the API and checkpoints).
    pub fn revocations(&self) -> Arc<RevocationStore> {
        self.inner.store.clone()
    }

    /// The recent-alerts log (for the API).
    pub fn recent_alerts(&self) -> Arc<RecentAlerts> {
        self.inner.recent.clone()
    }

    /// The metrics the responder updates.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.inner.metrics.clone()
    }

    /// Shared Signals, when `[ssf]` is configured.
    pub fn ssf(&self) -> Option<Arc<crate::ssf::Ssf>> {
        self.inner.ssf.clone()
    }

    /// Queues Shared Signals pushes in the durable outbox (a stream enabled again, a
    /// verification). `Err` when the outbox could not be written.
    pub async fn enqueue_ssf(&self, jobs: Vec<crate::ssf::PushJob>) -> Result<(), String> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let now = now_ms();
            jobs.into_iter()
                .try_for_each(|j| inner.enqueue(inner.ssf_job(j), now))
        })
        .await
        .map_err(|e| e.to_string())??;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Deliveries waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.inner.outbox.lock().len()
    }

    /// A revocation made by hand (the API): recorded durably, counted as manual, and sent to
    /// the operator's endpoint like an automatic one. Not subject to the guard: a human decided.
    pub async fn revoke_manual(&self, new: NewRevocation) -> Result<Arc<Revocation>, StoreError> {
        let inner = self.inner.clone();
        let now = now_ms();
        let id = manual_revocation_id(&new, now);
        let rev = tokio::task::spawn_blocking(move || {
            let (rev, fresh) = inner.store.revoke(id, new, now)?;
            if fresh {
                inner.metrics.revocation(true);
                tracing::info!(revocation_id = %rev.id, account = ?rev.account, scope = rev.scope.as_str(), "manual revocation");
                inner.publish(&rev, None);
                // A full outbox is counted and logged inside; the revocation stands.
                let _ = inner.enqueue_revocation(&rev, now);
                let _ = inner.signal_revocation(&rev, now);
            }
            Ok::<_, StoreError>(rev)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        self.inner.wake.notify_one();
        Ok(rev)
    }

    /// Lifts a revocation by hand. `None` when the id is unknown.
    pub async fn lift(&self, id: String) -> Result<Option<Arc<Revocation>>, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let r = inner.store.lift(&id, now_ms())?;
            if let Some(r) = &r {
                tracing::info!(revocation_id = %r.id, account = ?r.account, "revocation lifted by hand");
                inner.publish(r, None);
            }
            Ok(r)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Waits for the responder's tasks to finish after shutdown (the outbox keeps whatever
    /// was not delivered for the next start).
    pub async fn join(&self) {
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// What receivers of Shared Signals hear about a revocation.
pub fn revoked_signal(rev: &Revocation) -> crate::ssf::Signal {
    crate::ssf::Signal::Revoked {
        id: rev.id.clone(),
        alert_id: rev.alert_id.clone(),
        account: rev.account.clone(),
        session: rev.session.clone(),
        reason: rev.reason.clone(),
        at_ms: rev.created_at,
    }
}

/// A manual revocation's id: over what it covers and when it was made, so two separate manual
/// revocations of one account are two records.
fn manual_revocation_id(new: &NewRevocation, now_ms: i64) -> String {
    let scope = format!(
        "manual\0{}\0{}\0{now_ms}",
        new.account,
        new.session.as_deref().unwrap_or("")
    );
    revocation_id(&scope, new.scope)
}

impl Inner {
    /// Everything an alert causes, synchronously (run in a blocking task: it writes to disk);
    /// then tells the outlet, for an alert of an epoch.
    fn handle(&self, alert: Alert, epoch: Option<Epoch>) {
        let durable = self.act(alert, epoch);
        if let (Some(outlet), Some(epoch)) = (self.outlet.get(), epoch) {
            outlet.handled(epoch, durable);
        }
    }

    fn publish(&self, rev: &Revocation, epoch: Option<Epoch>) {
        if let Some(outlet) = self.outlet.get() {
            outlet.revocation(rev, epoch);
        }
    }

    /// Records the alert, its revocation and its deliveries. `Err` names what could not be
    /// written to disk (a full outbox is not an error here: it is refused, counted and logged).
    fn act(&self, alert: Alert, epoch: Option<Epoch>) -> Result<(), String> {
        match self.recent.push(&alert) {
            Ok(true) => {}
            // The same detection again in this process: already acted on.
            Ok(false) => return Ok(()),
            // Not in the API's history, but still acted on: never dropped.
            Err(e) => {
                tracing::error!(alert_id = %alert.id, error = %e, "alert not kept for the API")
            }
        }
        self.metrics.set_recent_alerts(self.recent.len());
        let alert = &alert;
        self.metrics.alert(&alert.rule, alert.severity.as_str());
        if alert.rule == guard::GUARD_RULE {
            self.metrics.guard_trip();
            tracing::error!(alert_id = %alert.id, title = %alert.title, "blast-radius guard tripped");
        }
        let now = now_ms();
        let mut durable = Ok(());
        if let Some(new) = NewRevocation::from_alert(alert) {
            let id = revocation_id(&alert.id, new.scope);
            match self.store.revoke(id, new, now) {
                Ok((rev, fresh)) => {
                    if fresh {
                        self.metrics.revocation(false);
                        tracing::info!(revocation_id = %rev.id, account = ?rev.account, scope = rev.scope.as_str(), alert_id = %alert.id, "revoked");
                    }
                    // Not fresh: the alert is re-processed after a crash, which may have come
                    // between the log and the outbox or the topic. Asking again is safe: the
                    // record keeps its id and the call its `Idempotency-Key`; a revocation
                    // lifted since is not asked for again.
                    if fresh || rev.lifted_at.is_none() {
                        self.publish(&rev, epoch);
                        durable = durable.and(self.enqueue_revocation(&rev, now));
                        durable = durable.and(self.signal_revocation(&rev, now));
                    }
                }
                Err(e) => {
                    tracing::error!(alert_id = %alert.id, error = %e, "revocation not recorded");
                    durable = Err(format!("revocation of alert {}: {e}", alert.id));
                }
            }
        }
        for sink in &self.sinks {
            if sink.accepts(alert) {
                durable = durable.and(self.enqueue(sink.job(alert), now));
            }
        }
        // A shadow rule's alert is recorded, never acted on: receivers do not hear of it.
        let shadow = alert.mode.as_deref() == Some("shadow");
        if !shadow
            && !alert.account.is_empty()
            && self
                .ssf
                .as_ref()
                .is_some_and(|s| s.wants_alert(alert.severity))
        {
            let signal = crate::ssf::Signal::Alert {
                id: alert.id.clone(),
                account: alert.account.clone(),
                session: alert.session.clone(),
                severity: alert.severity,
                title: alert.title.clone(),
                at_ms: crate::timefmt::parse_rfc3339(&alert.ts).unwrap_or(now),
            };
            durable = durable.and(self.signal(&signal, now));
        }
        durable
    }

    /// Tells Shared Signals receivers about a revocation (session revoked; for an automatic one
    /// also that the password must change).
    fn signal_revocation(&self, rev: &Revocation, now: i64) -> Result<(), String> {
        if self.ssf.is_none() {
            return Ok(());
        }
        self.signal(&revoked_signal(rev), now)
    }

    /// Signs `signal`'s SETs for every stream: poll and paused streams keep theirs in the
    /// streams file, pushes wait in the outbox like every other delivery.
    fn signal(&self, signal: &crate::ssf::Signal, now: i64) -> Result<(), String> {
        let Some(ssf) = &self.ssf else {
            return Ok(());
        };
        let jobs = ssf.emit(signal, now).inspect_err(|e| {
            tracing::error!(error = %e, "shared signals not recorded");
        })?;
        jobs.into_iter()
            .try_for_each(|j| self.enqueue(self.ssf_job(j), now))
    }

    fn ssf_job(&self, j: crate::ssf::PushJob) -> Job {
        Job {
            destination: format!("{}{}", crate::ssf::DESTINATION_PREFIX, j.stream_id),
            delivery_id: j.jti,
            body: j.set,
            max_attempts: self
                .ssf
                .as_ref()
                .map_or(1, |s| s.settings().push_max_attempts),
        }
    }

    fn enqueue_revocation(&self, rev: &Revocation, now: i64) -> Result<(), String> {
        if self.operator.is_none() {
            return Ok(());
        }
        self.enqueue(
            Job {
                destination: REVOCATION_DESTINATION.to_string(),
                delivery_id: rev.id.clone(),
                body: rev.outbound_body(),
                max_attempts: self.outbox_settings.revocation_max_attempts,
            },
            now,
        )
    }

    /// Queues a delivery. `Err` only when the outbox could not be written; a full outbox
    /// refuses, counts and logs, and that is the documented outcome.
    fn enqueue(&self, job: Job, now: i64) -> Result<(), String> {
        let destination = job.destination.clone();
        let mut outbox = self.outbox.lock();
        let result = match outbox.enqueue(job, now) {
            Ok(_) => Ok(()),
            Err(e @ OutboxError::Full { .. }) => {
                self.metrics.outbox_refused(&destination);
                tracing::error!(destination = %destination, error = %e, "delivery refused: outbox full");
                Ok(())
            }
            Err(e) => {
                self.metrics.outbox_refused(&destination);
                tracing::error!(destination = %destination, error = %e, "delivery not queued: outbox unwritable");
                Err(e.to_string())
            }
        };
        self.metrics.set_outbox_depth(outbox.len());
        result
    }

    async fn attempt(&self, p: &Pending) -> Result<(), DeliveryError> {
        if let Some(stream) = p
            .job
            .destination
            .strip_prefix(crate::ssf::DESTINATION_PREFIX)
        {
            return match &self.ssf {
                Some(ssf) => ssf
                    .push(&self.client, stream, &p.job.delivery_id, &p.job.body)
                    .await
                    .map_err(|e| DeliveryError {
                        permanent: e.permanent,
                        message: e.message,
                    }),
                None => Err(DeliveryError {
                    permanent: true,
                    message: "[ssf] is no longer configured".into(),
                }),
            };
        }
        if p.job.destination == REVOCATION_DESTINATION {
            return match &self.operator {
                Some(op) => op.send(&self.client, &p.job.delivery_id, &p.job.body).await,
                None => Err(DeliveryError {
                    permanent: true,
                    message: "revocation.url is no longer configured".into(),
                }),
            };
        }
        match self.sinks.iter().find(|s| s.name == p.job.destination) {
            Some(sink) => {
                sink.send(
                    &self.client,
                    &p.job.delivery_id,
                    &p.job.body,
                    now_ms() / 1000,
                )
                .await
            }
            None => Err(DeliveryError {
                permanent: true,
                message: format!("webhook {} is no longer configured", p.job.destination),
            }),
        }
    }
}

/// A shutdown future every task can await.
#[derive(Clone)]
struct Shared(tokio::sync::watch::Receiver<bool>);

impl Shared {
    fn new(f: impl Future<Output = ()> + Send + 'static) -> Shared {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            f.await;
            let _ = tx.send(true);
        });
        Shared(rx)
    }

    async fn wait(&mut self) {
        // An error means the sender is gone, which only happens after sending `true`.
        let _ = self.0.wait_for(|&v| v).await;
    }
}

async fn intake(inner: Arc<Inner>, mut rx: mpsc::Receiver<Intake>, mut shutdown: Shared) {
    loop {
        let taken = tokio::select! {
            a = rx.recv() => match a {
                Some(a) => a,
                None => break,
            },
            () = shutdown.wait() => break,
        };
        handle_one(&inner, taken).await;
        inner.wake.notify_one();
    }
    // Alerts already accepted are still handled: the pipeline was told they were taken.
    rx.close();
    while let Ok(taken) = rx.try_recv() {
        handle_one(&inner, taken).await;
    }
}

async fn handle_one(inner: &Arc<Inner>, (alert, epoch): Intake) {
    let worker = inner.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || worker.handle(alert, epoch)).await {
        tracing::error!(error = %e, "alert handling panicked");
        // Whatever it did is unknown: no checkpoint may cover the alert.
        if let (Some(outlet), Some(epoch)) = (inner.outlet.get(), epoch) {
            outlet.handled(epoch, Err(format!("alert handling panicked: {e}")));
        }
    }
}

async fn deliver_loop(inner: Arc<Inner>, mut shutdown: Shared) {
    let permits = Arc::new(Semaphore::new(inner.outbox_settings.concurrency.max(1)));
    let mut due = Vec::new();
    loop {
        let now = now_ms();
        let next = {
            let mut outbox = inner.outbox.lock();
            outbox.take_due(now, permits.available_permits(), &mut due);
            outbox.next_due_ms()
        };
        for p in due.drain(..) {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let inner = inner.clone();
            tokio::spawn(async move {
                deliver_one(&inner, p).await;
                drop(permit);
                inner.wake.notify_one();
            });
        }
        // Sleep until the next entry is due or something changes; a ceiling guards against
        // clock jumps. With every permit taken, only a finished delivery (which wakes us) can
        // make progress, so do not poll.
        let wait = match next {
            _ if permits.available_permits() == 0 => 60_000,
            Some(t) => (t - now).clamp(0, 60_000) as u64,
            None => 60_000,
        };
        tokio::select! {
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(wait.max(1))) => {}
            () = shutdown.wait() => break,
        }
    }
}

/// Forgets revocations long expired or lifted, so the store stays bounded in a long run.
async fn housekeeping(inner: Arc<Inner>, mut shutdown: Shared) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => break,
        }
        let store = inner.store.clone();
        if let Ok(n) = tokio::task::spawn_blocking(move || store.forget_old(now_ms())).await {
            if n > 0 {
                tracing::debug!(forgotten = n, "old revocations forgotten");
            }
        }
    }
}

async fn deliver_one(inner: &Arc<Inner>, p: Pending) {
    let result = inner.attempt(&p).await;
    let dest = p.job.destination.clone();
    let worker = inner.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut outbox = worker.outbox.lock();
        let r = match &result {
            Ok(()) => outbox.delivered(p.seq).map(|()| None),
            Err(e) => outbox
                .failed(p.seq, &e.message, e.permanent, now_ms())
                .map(Some),
        };
        // Counted under the outbox lock, so a reader who sees the outbox drained also sees
        // every delivery that drained it.
        let label = match &r {
            Ok(None) => Some("delivered"),
            Ok(Some(AfterFailure::Retry(_))) => Some("retry"),
            Ok(Some(_)) => Some("dead_letter"),
            Err(_) => None,
        };
        if let Some(label) = label {
            worker.metrics.delivery(&p.job.destination, label);
        }
        worker.metrics.set_outbox_depth(outbox.len());
        (r, result)
    })
    .await;
    let Ok((bookkeeping, result)) = outcome else {
        tracing::error!(destination = %dest, "outbox bookkeeping panicked");
        return;
    };
    match (bookkeeping, result) {
        (Ok(None), _) => {}
        (Ok(Some(AfterFailure::Retry(at))), Err(e)) => {
            tracing::warn!(destination = %dest, error = %e, retry_in_ms = at - now_ms(), "delivery failed; will retry");
        }
        (Ok(Some(_)), _) => {}
        (Err(e), _) => {
            tracing::error!(destination = %dest, error = %e, "outbox bookkeeping failed")
        }
    }
}
