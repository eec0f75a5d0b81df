//! Tocsin detects stolen-password account takeovers in real time and contains them: it reads
//! login and data-access events, keeps a behavioural baseline per account, scores every event,
//! raises explained alerts and revokes the attacker's session.
//!
//! # Layout
//!
//! The tree follows the pipeline:
//!
//! | module | owns |
//! |---|---|
//! | [`event`] | the one normalised event every stage shares |
//! | [`source`] | files and Kafka in; decoders for the native and vendor formats |
//! | [`enrich`] | GeoIP (`.mmdb`) and user-agent enrichment, cached |
//! | [`baseline`] | per-account, per-tenant and population state; pure, event-time |
//! | [`detect`] | features, the risk score, the rule language |
//! | [`engine`] | what `run` and `demo` share around the pipeline: checkpoint parts, responder, API |
//! | [`pipeline`] | decode → enrich → detect → guard, shared by every command |
//! | [`alert`] | the alert object (README.md, "An alert") and its deterministic id |
//! | [`checkpoint`] | durable snapshots of the state with the source offsets they reflect |
//! | [`respond`] | webhooks, revocation, the durable outbox, the blast-radius guard |
//! | [`api`] | the HTTP API (axum) |
//! | [`metrics`] | every Prometheus metric, named in one place |
//! | [`gen`] | realistic synthetic traffic with labelled attacks |
//! | [`eval`] | precision, recall and latency of alerts against ground truth |
//! | [`settings`] | the TOML configuration, every section of it; a leaf that imports no stage |
//! | [`demo`] | `tocsin demo`: the whole system on loopback, playing a day with a takeover |
//! | [`cli`], [`cmd`] | the command line; `cmd::rules::fixtures` runs the rule fixtures |
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
pub mod timefmt;
pub mod world;
