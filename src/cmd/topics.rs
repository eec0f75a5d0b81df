//! `tocsin topics create`: creates every Kafka topic a configuration needs, for brokers that do
//! not create topics on first use (tansu, many managed services). Idempotent: a topic that
//! already exists is left as it is and reported; one whose partition count breaks
//! co-partitioning (input and state changelog) is an error.
//!
//! | topic | partitions | settings |
//! |---|---|---|
//! | each of `[source.kafka] topics` | `--partitions` | broker defaults |
//! | dead letters, alerts, revocations | `--partitions` | broker defaults |
//! | `<group_id>-state-changelog` (with `[state] changelog = "kafka"`) | `--partitions` | `cleanup.policy=compact`, `segment.ms=3600000` |
//!
//! The changelog must have exactly as many partitions as the input: partition *p* of the
//! changelog holds the state of input partition *p*.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::{CmdError, CmdResult};
use crate::settings::{Changelog, Settings};
use crate::source::kafka::client_config;

/// `segment.ms` of the state changelog: one hour.
const CHANGELOG_SEGMENT_MS: &str = "3600000";

/// `tocsin topics …`
#[derive(Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// Create every topic the configuration needs (input, outputs, dead letters, state
    /// changelog); topics that exist are left alone.
    Create(CreateArgs),
}

/// Arguments of `tocsin topics create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Configuration file (default: `tocsin.toml` when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Partitions of every topic created (the most instances that can share the input).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,
    /// Replication factor of every topic created.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub replication: i32,
}

/// One topic to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPlan {
    /// Its name.
    pub name: String,
    /// `cleanup.policy=compact`.
    pub compact: bool,
    /// Must have exactly the requested partitions (co-partitioned with the input).
    pub co_partitioned: bool,
}

/// The topics `settings` need, in a fixed order, without duplicates.
pub fn plan(settings: &Settings) -> Vec<TopicPlan> {
    let Some(kafka) = &settings.source.kafka else {
        return Vec::new();
    };
    let mut out: Vec<TopicPlan> = Vec::new();
    let mut add = |name: &str, compact: bool, co_partitioned: bool| {
        if !name.is_empty() && !out.iter().any(|t| t.name == name) {
            out.push(TopicPlan {
                name: name.to_string(),
                compact,
                co_partitioned,
            });
        }
    };
    let changelog = settings.state.changelog == Changelog::Kafka;
    for t in &kafka.topics {
        add(t, false, changelog);
    }
    add(&kafka.dead_letter_topic, false, false);
    add(&kafka.alerts_topic, false, false);
    add(&kafka.revocations_topic, false, false);
    if changelog {
        add(&kafka.changelog_topic(), true, true);
    }
    out
}

/// Runs `tocsin topics …`.
pub fn run(cmd: TopicsCommand) -> CmdResult {
    match cmd {
        TopicsCommand::Create(args) => create(args),
    }
}

fn create(args: CreateArgs) -> CmdResult {
    let settings = Settings::load_or_default(args.config.as_deref())
        .map_err(|e| CmdError::Usage(e.to_string()))?;
    let kafka = settings.source.kafka.as_ref().ok_or_else(|| {
        CmdError::Usage("`tocsin topics create` needs a [source.kafka] section".into())
    })?;
    let plan = plan(&settings);
    let admin: AdminClient<DefaultClientContext> = client_config(kafka)
        .map_err(|e| CmdError::Usage(e.to_string()))?
        .create()
        .map_err(|e| CmdError::Failed(anyhow::anyhow!("kafka admin client: {e}")))?;
    let new: Vec<NewTopic> = plan
        .iter()
        .map(|t| {
            let n = NewTopic::new(
                &t.name,
                args.partitions,
                TopicReplication::Fixed(args.replication),
            );
            if t.compact {
                // Compaction never touches the active segment: rolling it hourly keeps what a
                // restore reads to about two snapshots plus an hour of checkpoints.
                n.set("cleanup.policy", "compact")
                    .set("segment.ms", CHANGELOG_SEGMENT_MS)
            } else {
                n
            }
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CmdError::Failed(e.into()))?;
    // Bounded: an unreachable broker fails the command instead of hanging it.
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(30)))
        .request_timeout(Some(Duration::from_secs(30)));
    let results = rt
        .block_on(admin.create_topics(&new, &options))
        .map_err(|e| CmdError::Failed(anyhow::anyhow!("creating topics: {e}")))?;
    let mut existing = Vec::new();
    for (t, r) in plan.iter().zip(results) {
        match r {
            Ok(_) => println!(
                "created {} ({} partitions{})",
                t.name,
                args.partitions,
                if t.compact { ", compacted" } else { "" }
            ),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => existing.push(t),
            Err((name, e)) => {
                return Err(CmdError::Failed(anyhow::anyhow!("creating {name}: {e}")))
            }
        }
    }
    check_existing(&admin, &existing, args.partitions)?;
    Ok(ExitCode::SUCCESS)
}

/// Reports topics that already existed; fails if a co-partitioned one has another partition
/// count than asked (its state and its input would no longer line up).
fn check_existing(
    admin: &AdminClient<DefaultClientContext>,
    existing: &[&TopicPlan],
    partitions: i32,
) -> Result<(), CmdError> {
    for t in existing {
        let md = admin
            .inner()
            .fetch_metadata(Some(&t.name), Duration::from_secs(10))
            .map_err(|e| CmdError::Failed(anyhow::anyhow!("reading {}: {e}", t.name)))?;
        let count = md
            .topics()
            .iter()
            .find(|m| m.name() == t.name)
            .map_or(0, |m| m.partitions().len()) as i32;
        if t.co_partitioned && count != partitions {
            return Err(CmdError::Usage(format!(
                "{} exists with {count} partitions, not {partitions}: the input and the state \
                 changelog must have the same number of partitions",
                t.name
            )));
        }
        println!("exists {} ({count} partitions)", t.name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, toml_text).unwrap();
        Settings::load(&p).unwrap()
    }

    #[test]
    fn the_plan_covers_every_topic_once() {
        let s = settings(
            "[state]\nchangelog = \"kafka\"\n[source.kafka]\nbrokers = \"b:9092\"\n\
             topics = [\"in\"]\ngroup_id = \"g\"\nalerts_topic = \"in\"\nrevocations_topic = \"\"\n",
        );
        let names: Vec<(String, bool, bool)> = plan(&s)
            .into_iter()
            .map(|t| (t.name, t.compact, t.co_partitioned))
            .collect();
        assert_eq!(
            names,
            vec![
                ("in".to_string(), false, true),
                ("tocsin-dead-letter".to_string(), false, false),
                ("g-state-changelog".to_string(), true, true),
            ]
        );
    }

    #[test]
    fn without_changelog_there_is_no_changelog_topic() {
        let s = settings("[source.kafka]\nbrokers = \"b:9092\"\ntopics = [\"in\"]\n");
        assert!(plan(&s).iter().all(|t| !t.compact && !t.co_partitioned));
    }
}
