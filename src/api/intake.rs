//! HTTP intake: events posted to the API become records of the Kafka topic the engine consumes.
//!
//! - `POST /v1/events?format=NAME`: a body of JSON lines, or one JSON array (or a vendor
//!   document the `document` reader knows: `{"Records": [...]}`, an Entra `value` page, a
//!   Google `items` page), in any input format. Auth0 custom-webhook log streams post here
//!   with `format=auth0`, the `Authorization` header holding the ingest token.
//! - `GET /v1/hooks/okta`: Okta Event Hook verification (`X-Okta-Verification-Challenge` →
//!   `{"verification": ...}`); `POST /v1/hooks/okta`: an Event Hook delivery, its
//!   `data.events[]` decoded as Okta System Log events. Okta sends the header configured in the
//!   hook; configured as `Authorization: Bearer <ingest token>`, it is checked like any token.
//!
//! Each record is validated by the same decoder the Kafka source uses; the events of accepted
//! records are produced, in the native schema and keyed by account, to `[intake] topic`, and
//! the answer waits for the brokers' acknowledgement: `200` lists the refused and
//! not-applicable records; `503` says nothing is guaranteed stored (the sender retries: at
//! least once, never lost once acknowledged). There is no second store beside Kafka.
//!
//! Where this stops: authentication is the API's (`auth`, role `ingest`); what the engine does
//! with the events is the source's and the pipeline's.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::event::Format;
use crate::settings::{IntakeSettings, KafkaSettings};
use crate::source::decode::{self, document, Decoded};

use super::error::{ApiError, QueryParams};
use super::ApiState;

/// True for the routes only ingest tokens may use.
pub fn is_intake_path(path: &str) -> bool {
    path == "/v1/events" || path.starts_with("/v1/hooks/")
}

/// The producer and the limits of the intake routes.
pub struct Intake {
    producer: FutureProducer,
    topic: String,
    limits: IntakeSettings,
}

/// Why the intake could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// `[intake] enabled` without `[source.kafka]`.
    #[error("[intake] needs [source.kafka]: posted events are produced to its brokers")]
    NoKafka,
    /// No topic to produce to.
    #[error("[intake] topic: none given and [source.kafka] topics is empty")]
    NoTopic,
    /// The engine would not read native events from the intake topic.
    #[error(
        "[intake] produces native events to {topic:?}, which the engine reads as {format:?}: \
         set [source.kafka] format = \"native\" or [intake] topic to another topic"
    )]
    NotNative {
        /// The topic.
        topic: String,
        /// The source's format.
        format: &'static str,
    },
    /// A limit of zero.
    #[error("[intake] {0} must be at least 1")]
    Zero(&'static str),
    /// The producer could not be created.
    #[error("[intake] Kafka producer: {0}")]
    Kafka(String),
}

impl Intake {
    /// The intake of `settings`, producing with the connection settings of `kafka`.
    pub fn new(
        kafka: Option<&KafkaSettings>,
        settings: &IntakeSettings,
    ) -> Result<Intake, IntakeError> {
        let kafka = kafka.ok_or(IntakeError::NoKafka)?;
        for (name, v) in [
            ("max_body_bytes", settings.max_body_bytes as u64),
            ("max_records", settings.max_records as u64),
            ("ack_timeout_ms", settings.ack_timeout_ms),
        ] {
            if v == 0 {
                return Err(IntakeError::Zero(name));
            }
        }
        let topic = match &settings.topic {
            Some(t) => t.clone(),
            None => kafka.topics.first().cloned().ok_or(IntakeError::NoTopic)?,
        };
        if kafka.topics.contains(&topic) && kafka.format != Format::Native {
            return Err(IntakeError::NotNative {
                topic,
                format: kafka.format.as_str(),
            });
        }
        let mut c = crate::source::kafka::client_config(kafka)
            .map_err(|e| IntakeError::Kafka(e.to_string()))?;
        // Idempotent, all in-sync replicas: an acknowledged event is stored once. The message
        // timeout bounds how long a request waits on an unreachable cluster.
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", settings.ack_timeout_ms.to_string());
        let producer = c
            .create()
            .map_err(|e: rdkafka::error::KafkaError| IntakeError::Kafka(e.to_string()))?;
        Ok(Intake {
            producer,
            topic,
            limits: settings.clone(),
        })
    }

    /// Largest request body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.limits.max_body_bytes
    }

    /// Produces `events` (key, native JSON) and waits for every acknowledgement; the number
    /// stored, or the first failure.
    async fn produce(&self, events: &[(String, Vec<u8>)]) -> Result<usize, String> {
        // Every record is queued first, then the acknowledgements are awaited: the batch costs
        // one round trip to the brokers, not one per event.
        let mut pending = Vec::with_capacity(events.len());
        for (key, payload) in events {
            let record = FutureRecord::to(&self.topic).key(key).payload(payload);
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => return Err(e.to_string()),
            }
        }
        let mut stored = 0;
        let mut first_error = None;
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => stored += 1,
                Ok(Err((e, _))) => {
                    first_error.get_or_insert_with(|| e.to_string());
                }
                Err(_cancelled) => {
                    first_error.get_or_insert_with(|| "the producer was dropped".to_string());
                }
            }
        }
        match first_error {
            None => Ok(stored),
            Some(e) => Err(e),
        }
    }
}

/// The outcome of one request's records.
#[derive(Default)]
struct Batch {
    records: usize,
    events: Vec<(String, Vec<u8>)>,
    rejected: Vec<serde_json::Value>,
    not_applicable: Vec<serde_json::Value>,
}

impl Batch {
    /// Decodes record `n` (1-based) as the Kafka source would.
    fn add(&mut self, format: Format, n: usize, record: &[u8]) {
        self.records += 1;
        decode::decode(format, record, &mut |r| match r {
            Ok(Decoded::Event(e)) => {
                let mut json = Vec::with_capacity(256);
                e.write_json(&mut json)
                    .expect("writing to a Vec cannot fail");
                self.events.push((e.account.into_owned(), json));
            }
            Ok(Decoded::NotApplicable(why)) => {
                self.not_applicable.push(json!({ "record": n, "why": why }))
            }
            Err(rej) => self
                .rejected
                .push(json!({ "record": n, "reason": rej.kind.as_str(), "detail": rej.detail })),
        });
    }
}

#[derive(Deserialize)]
pub(super) struct FormatParam {
    format: Option<String>,
}

fn intake(st: &ApiState) -> Result<&Arc<Intake>, ApiError> {
    st.intake
        .as_ref()
        .ok_or_else(|| ApiError::not_found("event intake is not enabled ([intake] enabled = true)"))
}

/// Reads the body within the intake's limit (413 above it).
async fn body(intake: &Intake, body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, intake.limits.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body over {} bytes ([intake] max_body_bytes)",
                    intake.limits.max_body_bytes
                ),
            )
        })
}

/// `POST /v1/events?format=NAME`
pub(super) async fn post_events(
    State(st): State<ApiState>,
    QueryParams(q): QueryParams<FormatParam>,
    req: Request,
) -> Result<Response, ApiError> {
    let intake = intake(&st)?.clone();
    let format = match q.format {
        Some(f) => parse_format(&f)?,
        None => Format::Native,
    };
    let bytes = body(&intake, req.into_body()).await?;
    let mut batch = Batch::default();
    let mut too_many = false;
    let max = intake.limits.max_records;
    // Records are numbered from 1 in the answer: the line of a JSON-lines body, the element of
    // an array.
    let mut count = 0;
    let mut each = |n: usize, record: &[u8]| {
        count += 1;
        if count > max {
            too_many = true;
        } else {
            batch.add(format, n, record);
        }
    };
    if document::is_document(&bytes) {
        document::for_each_record(&bytes, &mut |i, record| each(i as usize + 1, record))
            .map_err(|r| ApiError::bad_request(format!("body: {r}")))?;
    } else {
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                each(i + 1, line);
            }
        }
    }
    if too_many {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("more than {max} records in one request ([intake] max_records)"),
        ));
    }
    answer(&st, &intake, batch).await
}

fn parse_format(name: &str) -> Result<Format, ApiError> {
    <Format as clap::ValueEnum>::from_str(name, false).map_err(|_| {
        let names: Vec<&str> = <Format as clap::ValueEnum>::value_variants()
            .iter()
            .map(|f| f.as_str())
            .collect();
        ApiError::bad_request(format!(
            "format {name:?} is not one of {}",
            names.join(", ")
        ))
    })
}

/// Produces the batch's events and answers: 200 once the brokers hold them all, 503 if not.
/// Counted in `tocsin_intake_records_total`.
async fn answer(st: &ApiState, intake: &Intake, batch: Batch) -> Result<Response, ApiError> {
    let m = &st.metrics;
    m.intake_records("rejected", batch.rejected.len());
    m.intake_records("not_applicable", batch.not_applicable.len());
    let stored = if batch.events.is_empty() {
        0
    } else {
        intake.produce(&batch.events).await.map_err(|e| {
            m.intake_records("unavailable", batch.events.len());
            tracing::warn!(error = %e, events = batch.events.len(), "intake: the brokers did not acknowledge a batch");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event store (Kafka) did not acknowledge the batch; nothing is guaranteed stored: retry",
            )
        })?
    };
    m.intake_records("stored", stored);
    Ok(Json(json!({
        "records": batch.records,
        "events_stored": stored,
        "rejected": batch.rejected,
        "not_applicable": batch.not_applicable,
    }))
    .into_response())
}

/// `GET /v1/hooks/okta`: the one-time verification of an Okta Event Hook.
pub(super) async fn okta_verify(
    State(st): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    intake(&st)?;
    let challenge = headers
        .get("x-okta-verification-challenge")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing header X-Okta-Verification-Challenge"))?;
    Ok(Json(json!({ "verification": challenge })).into_response())
}

#[derive(Deserialize)]
struct OktaHook<'a> {
    #[serde(borrow)]
    data: Option<OktaHookData<'a>>,
}

#[derive(Deserialize)]
struct OktaHookData<'a> {
    #[serde(borrow)]
    events: Option<Vec<&'a RawValue>>,
}

/// `POST /v1/hooks/okta`: an Event Hook delivery, `data.events[]` in Okta's System Log shape.
pub(super) async fn okta_events(
    State(st): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let intake = intake(&st)?.clone();
    let bytes = body(&intake, req.into_body()).await?;
    let hook: OktaHook<'_> = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("body is not an Okta Event Hook delivery: {e}"))
    })?;
    let events = hook
        .data
        .and_then(|d| d.events)
        .ok_or_else(|| ApiError::bad_request("body has no data.events array"))?;
    if events.len() > intake.limits.max_records {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "more than {} events in one delivery ([intake] max_records)",
                intake.limits.max_records
            ),
        ));
    }
    let mut batch = Batch::default();
    for (i, raw) in events.iter().enumerate() {
        batch.add(Format::Okta, i + 1, raw.get().as_bytes());
    }
    answer(&st, &intake, batch).await
}
