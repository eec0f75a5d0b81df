//! Tocsin detects stolen-password account takeovers in real time and contains them: it reads
//! login and data-access events, keeps a behavioural baseline per account, scores every event,
//! raises explained alerts and revokes the attacker's session.
//!
//! # Layout
//!
//! The tree follows the pipeline; an event's path through it, file by file, is in
//! `docs/architecture.md`. Arrows only point down this table's stages (no import cycle between
//! top-level modules): `settings` and the value types at the bottom, the engine and commands on
//! top.
//!
//! | module | owns |
//! |---|---|
//! | [`event`] | the one normalised event every stage shares, and the input formats' names |
//! | [`source`] | reading: files and stdin, the Kafka consumer (dispatch, workers, checkpoint epochs, rebalance), decoders for the native and vendor formats |
//! | [`enrich`] | GeoIP (`.mmdb`) and user-agent enrichment, cached |
//! | [`baseline`] | per-account, per-tenant and population state; its [`baseline::store`] owns the maps, their lock order, learning, eviction, snapshots, feedback and the account view |
//! | [`detect`] | the driver: read state → features (by family) → risk score → rules → explained alerts |
//! | [`pipeline`] | decode → enrich → detect → guard, shared by every command |
//! | [`respond`] | the blast-radius guard, the revocation store, the durable outbox, webhooks, and the Kafka source's one output sink |
//! | [`api`] | the HTTP API (axum) |
//! | [`ssf`] | OpenID Shared Signals: signed security events to receivers (push, poll), and from identity providers |
//! | [`engine`] | the one assembly of the long-running engine (`Engine::start` / `wait` / `stop`), used by `run`, `demo` and the Kafka tests |
//! | [`alert`] | the alert object (README.md, "An alert") and its deterministic id |
//! | [`checkpoint`] | durable snapshots of the state with the source offsets they reflect |
//! | [`statedir`] | the state directory's permissions: `0700`, its files `0600` |
//! | [`metrics`] | every Prometheus metric, named in one place |
//! | [`gen`] | realistic synthetic traffic with labelled attacks |
//! | [`eval`] | precision, recall and latency of alerts against ground truth |
//! | [`settings`] | the TOML configuration, every section of it; a leaf that imports no stage |
//! | [`demo`] | `tocsin demo`: the engine on loopback, playing a day with a takeover |
//! | [`cli`], [`cmd`] | the command line; `cmd::rules::fixtures` runs the rule fixtures through the pipeline |
//! | [`timefmt`], [`world`] | timestamps; the fixture world's places and networks (tests, `gen`, demo) |
//!
//! `event`, `enrich`, `baseline` and `detect` know nothing of tokio, Kafka or HTTP: they take
//! `now` as an argument, so tests and benches need no runtime.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alert;
pub mod api;
pub mod baseline;
pub mod checkpoint;
pub mod cli;
pub mod cmd;
pub mod demo;
pub mod detect;
pub mod engine;
pub mod enrich;
pub mod eval;
pub mod event;
pub mod gen;
pub mod metrics;
pub mod pipeline;
pub mod respond;
pub mod settings;
pub mod source;
pub mod ssf;
pub mod statedir;
pub mod timefmt;
pub mod world;
