//! Alert webhooks: one [`WebhookSink`] per `[[sinks.webhook]]`. It decides which alerts a
//! destination wants (`min_severity`), renders the body once (`json`: the alert object;
//! `ocsf`: an OCSF Detection Finding, class 2004; `slack`: a readable message), and sends it
//! signed per the Standard Webhooks convention. Retrying is the outbox's business: this module
//! only says whether a failure is worth retrying.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use sha2::{Digest, Sha256};

use crate::alert::{Alert, Severity};
use crate::settings::{
    secret_from_env, webhook_secret_key, WebhookFormat, WebhookSecretError, WebhookSettings,
};

use super::outbox::Job;

/// A webhook sink that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[error("sinks.webhook[{index}]: {message}")]
pub struct SinkConfigError {
    /// Position of the sink in the configuration.
    pub index: usize,
    /// What is wrong (never the secret itself).
    pub message: String,
}

/// Why one delivery attempt failed, and whether trying again can help.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// True when the receiver refused the request for good (a 4xx other than 408 and 429):
    /// retrying cannot help, the delivery goes to the dead-letter file.
    pub permanent: bool,
    /// What happened, for logs and the dead-letter file.
    pub message: String,
}

impl DeliveryError {
    /// Classifies an HTTP status: 2xx delivered; 408, 429 and 5xx retried; other 4xx permanent.
    pub fn from_status(status: reqwest::StatusCode) -> Result<(), DeliveryError> {
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        let permanent = status.is_client_error() && code != 408 && code != 429;
        let message = if status.is_redirection() {
            // Redirects are not followed (see `respond::http`): the receiver must be
            // configured with its final URL.
            format!("HTTP {code} (redirect not followed)")
        } else {
            format!("HTTP {code}")
        };
        Err(DeliveryError { permanent, message })
    }

    /// A transport failure (refused connection, timeout, reset): always worth retrying.
    ///
    /// The message keeps the causes but never the URL: reqwest's own text names the full URL,
    /// and a webhook URL may carry a token (Slack incoming webhooks are nothing but one, others
    /// take `?token=`); this message goes to logs, the outbox and the dead-letter file.
    pub fn from_transport(e: reqwest::Error) -> DeliveryError {
        let what = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        let e = e.without_url();
        let mut message = format!("{what}: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        DeliveryError {
            permanent: false,
            message,
        }
    }
}

/// One configured webhook destination.
pub struct WebhookSink {
    /// Unique name (metrics, logs, the outbox).
    pub name: String,
    url: reqwest::Url,
    format: WebhookFormat,
    min_severity: Severity,
    headers: HeaderMap,
    secret: Option<Vec<u8>>,
    /// Attempts before the dead-letter file.
    pub max_attempts: u32,
    timeout: Duration,
}

impl WebhookSink {
    /// Builds the sink for `[[sinks.webhook]]` number `index`, reading its secret from the
    /// environment when configured so.
    pub fn from_settings(
        index: usize,
        s: &WebhookSettings,
    ) -> Result<WebhookSink, SinkConfigError> {
        let err = |message: String| SinkConfigError { index, message };
        let url = reqwest::Url::parse(&s.url).map_err(|e| err(format!("url: {e}")))?;
        let name = match &s.name {
            Some(n) => n.clone(),
            None => url.host_str().unwrap_or("webhook").to_string(),
        };
        let secret = match (&s.secret, &s.secret_env) {
            (Some(v), _) => {
                Some(decode_secret(v.expose()).map_err(|e| err(format!("secret {e}")))?)
            }
            (None, Some(var)) => Some(
                decode_secret(&secret_from_env("secret_env", var).map_err(|e| err(e.to_string()))?)
                    .map_err(|e| err(format!("secret_env: the secret in {var} {e}")))?,
            ),
            (None, None) => None,
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &s.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| err(format!("headers.{k}: {e}")))?;
            let value =
                HeaderValue::from_str(v.expose()).map_err(|e| err(format!("headers.{k}: {e}")))?;
            headers.insert(name, value);
        }
        Ok(WebhookSink {
            name,
            url,
            format: s.format,
            min_severity: s.min_severity,
            headers,
            secret,
            max_attempts: s.max_attempts.max(1),
            timeout: Duration::from_millis(s.timeout_ms.max(1)),
        })
    }

    /// True when this destination wants `alert`: severity at or above `min_severity`, and not
    /// from a rule in shadow mode (shadow alerts are recorded for the API and `replay`, never
    /// pushed at analysts).
    pub fn accepts(&self, alert: &Alert) -> bool {
        alert.mode.is_none() && alert.severity >= self.min_severity
    }

    /// The delivery id: stable per alert and destination, so every retry (and a restart's
    /// re-send) carries the same `webhook-id` and receivers can de-duplicate.
    pub fn delivery_id(&self, alert_id: &str) -> String {
        let mut h = Sha256::new();
        h.update((alert_id.len() as u64).to_le_bytes());
        h.update(alert_id.as_bytes());
        h.update(self.name.as_bytes());
        format!("msg_{}", hex::encode(&h.finalize()[..16]))
    }

    /// The request body for `alert` in this destination's format.
    pub fn render(&self, alert: &Alert) -> String {
        match self.format {
            WebhookFormat::Json => alert.to_json(),
            WebhookFormat::Ocsf => ocsf_detection_finding(alert).to_string(),
            WebhookFormat::Slack => slack_message(alert).to_string(),
        }
    }

    /// The outbox job delivering `alert` here.
    pub fn job(&self, alert: &Alert) -> Job {
        Job {
            destination: self.name.clone(),
            delivery_id: self.delivery_id(&alert.id),
            body: self.render(alert),
            max_attempts: self.max_attempts,
        }
    }

    /// Makes one signed attempt, stamped `unix_secs`.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        delivery_id: &str,
        body: &str,
        unix_secs: i64,
    ) -> Result<(), DeliveryError> {
        let mut req = client
            .post(self.url.clone())
            .timeout(self.timeout)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", delivery_id)
            .header("webhook-timestamp", unix_secs.to_string());
        if let Some(secret) = &self.secret {
            req = req.header(
                "webhook-signature",
                sign(secret, delivery_id, unix_secs, body.as_bytes()),
            );
        }
        match req.body(body.to_owned()).send().await {
            Ok(resp) => DeliveryError::from_status(resp.status()),
            Err(e) => Err(DeliveryError::from_transport(e)),
        }
    }
}

/// A Standard Webhooks secret: `whsec_<base64>` is decoded; anything else is used as raw bytes.
/// Empty, undecodable and short (under 24 bytes) keys are refused.
pub fn decode_secret(s: &str) -> Result<Vec<u8>, WebhookSecretError> {
    webhook_secret_key(s)
}

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn sign(secret: &[u8], id: &str, unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// OCSF severity ids: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
fn ocsf_severity_id(s: Severity) -> u8 {
    match s {
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// The alert as an OCSF Detection Finding (category 2 Findings, class 2004, activity 1 Create).
pub fn ocsf_detection_finding(a: &Alert) -> serde_json::Value {
    let time = crate::timefmt::parse_rfc3339(&a.detected_at).unwrap_or(0);
    let event_time = crate::timefmt::parse_rfc3339(&a.ts).unwrap_or(time);
    let severity_id = ocsf_severity_id(a.severity);
    let risk_score = (a.risk.clamp(0.0, 1.0) * 100.0).round() as u8;
    let attacks: Vec<_> = a
        .mitre
        .iter()
        .map(|t| serde_json::json!({"technique": {"uid": t}}))
        .collect();
    let mut src = serde_json::Map::new();
    if let Some(ip) = a.ip {
        src.insert("ip".into(), serde_json::json!(ip.to_string()));
    }
    if let Some(g) = &a.geo {
        src.insert(
            "location".into(),
            serde_json::json!({"country": g.country, "city": g.city, "lat": g.lat, "long": g.lon}),
        );
        if let Some(asn) = g.asn {
            src.insert(
                "autonomous_system".into(),
                serde_json::json!({"number": asn, "name": g.as_org}),
            );
        }
    }
    let mut evidence = serde_json::json!({
        "actor": {"user": {"name": a.account}, "session": {"uid": a.session}},
    });
    if !src.is_empty() {
        evidence["src_endpoint"] = serde_json::Value::Object(src);
    }
    if let Some(d) = &a.device {
        evidence["device"] = serde_json::json!({"uid": d.id, "os": {"name": d.os}, "type": d.kind});
    }
    let desc: Vec<&str> = a.reasons.iter().map(|r| r.text.as_str()).collect();
    serde_json::json!({
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "time": time,
        "severity_id": severity_id,
        "severity": capitalised(a.severity.as_str()),
        "status_id": 1,
        "status": "New",
        "is_alert": true,
        "risk_score": risk_score,
        "message": a.title,
        "metadata": {
            "version": "1.4.0",
            "product": {"name": "Tocsin", "vendor_name": "Tocsin", "version": env!("CARGO_PKG_VERSION")},
            "uid": a.id,
        },
        "finding_info": {
            "uid": a.id,
            "title": a.title,
            "desc": desc.join("; "),
            "first_seen_time": event_time,
            "analytic": {"name": a.rule, "uid": a.rule, "type_id": 1, "type": "Rule"},
            "attacks": attacks,
            "related_events_count": a.events.len(),
        },
        "evidences": [evidence],
        "unmapped": {"tocsin": a},
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The alert as a Slack message: a `text` fallback and blocks an analyst can read at a glance.
///
/// Every string from the alert goes through [`slack_text`]: account, tenant, session and the
/// reasons' text come from the input events (anyone who can type a user name writes them), and
/// Slack reads `<!channel>`, `<https://x|label>` and `<@U123>` in them as mentions and links.
pub fn slack_message(a: &Alert) -> serde_json::Value {
    let emoji = match a.severity {
        Severity::Critical => ":rotating_light:",
        Severity::High => ":red_circle:",
        Severity::Medium => ":large_orange_circle:",
        Severity::Low => ":white_circle:",
    };
    let headline = format!(
        "{emoji} [{}] {} — {}",
        a.severity.as_str().to_uppercase(),
        slack_text(&a.title),
        slack_text(&a.account)
    );
    let reasons: String = a
        .reasons
        .iter()
        .map(|r| format!("• {}\n", slack_text(&r.text)))
        .collect();
    let place = a
        .geo
        .as_ref()
        .map(|g| {
            [g.city.as_deref(), g.country.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .map_or_else(|| "unknown".into(), |p| slack_text(&p));
    let actions: Vec<&str> = a.actions.iter().map(|x| x.as_str()).collect();
    let field =
        |k: &str, v: String| serde_json::json!({"type": "mrkdwn", "text": format!("*{k}*\n{v}")});
    serde_json::json!({
        "text": headline,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(&format!("{} {}", a.severity.as_str().to_uppercase(), without_controls(&a.title)), 150)}},
            {"type": "section", "fields": [
                field("Account", slack_text(&a.account)),
                field("Tenant", a.tenant.as_deref().map_or_else(|| "-".into(), slack_text)),
                field("From", format!("{} ({place})", a.ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into()))),
                field("Risk", format!("{:.2}", a.risk)),
                field("Session", a.session.as_deref().map_or_else(|| "-".into(), slack_text)),
                field("Actions", actions.join(", ")),
            ]},
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Why*\n{reasons}"), 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("rule `{}` · alert `{}` · {}", slack_text(&a.rule), slack_text(&a.id), slack_text(&a.ts))}]},
        ],
    })
}

/// Untrusted text made inert for Slack's mrkdwn: `&`, `<` and `>` escaped as Slack asks (so
/// no `<!channel>`, `<@user>` or `<url|fake label>`), and control characters (line breaks,
/// ESC) and bidirectional overrides (which reorder what an analyst reads) replaced by a space.
pub fn slack_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if is_unprintable(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text for a plain-text field: control characters and bidirectional overrides replaced by a
/// space.
fn without_controls(s: &str) -> String {
    s.chars()
        .map(|c| if is_unprintable(c) { ' ' } else { c })
        .collect()
}

/// Control characters, and the bidirectional embedding, override and isolate marks.
fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Slack rejects over-long block texts; cut at a character boundary.
fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Alert {
        Alert {
            id: "al_1".into(),
            rule: "stolen_password.new_device_new_asn".into(),
            title: "First-try login from a never-seen device and network".into(),
            severity: Severity::High,
            risk: 0.97,
            ts: "2025-11-10T23:31:02Z".into(),
            detected_at: "2025-11-10T23:31:03Z".into(),
            account: "dr.martin@cabinet-rouen".into(),
            tenant: Some("cabinet-rouen".into()),
            session: Some("s-8f2c".into()),
            ip: Some("203.0.113.7".parse().unwrap()),
            geo: Some(crate::alert::AlertGeo {
                country: Some("NG".into()),
                city: Some("Lagos".into()),
                asn: Some(36873),
                ..Default::default()
            }),
            device: None,
            reasons: vec![crate::alert::Reason {
                feature: "geo.new_country".into(),
                value: serde_json::json!("NG"),
                baseline: Some("FR 97%".into()),
                weight: Some(3.1),
                text: "first login from NG; usual countries FR, BE".into(),
            }],
            actions: vec![crate::alert::ResponseAction::Alert],
            mitre: vec!["T1078".into()],
            events: vec!["ev_1".into()],
            mode: None,
        }
    }

    #[test]
    fn ocsf_body_is_a_detection_finding_with_the_alert_inside() {
        let v = ocsf_detection_finding(&sample());
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["category_uid"], 2);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["time"], 1_762_817_463_000i64);
        assert_eq!(v["finding_info"]["uid"], "al_1");
        assert_eq!(v["finding_info"]["attacks"][0]["technique"]["uid"], "T1078");
        assert_eq!(
            v["evidences"][0]["src_endpoint"]["location"]["country"],
            "NG"
        );
        assert_eq!(v["unmapped"]["tocsin"]["id"], "al_1");
    }

    #[test]
    fn slack_body_reads_as_who_where_and_why() {
        let v = slack_message(&sample());
        let text = v["text"].as_str().unwrap();
        assert!(
            text.contains("HIGH") && text.contains("dr.martin@cabinet-rouen"),
            "{text}"
        );
        let all = v.to_string();
        assert!(
            all.contains("Lagos, NG") && all.contains("first login from NG"),
            "{all}"
        );
    }

    #[test]
    fn slack_body_makes_untrusted_text_inert() {
        let mut a = sample();
        a.account = "<!channel> <https://evil.example|Reset your password> & co\r\nFAKE".into();
        a.tenant = Some("<@U024BE7LH>".into());
        a.session = Some("s-1\u{1b}[31m<!here>".into());
        a.reasons[0].text = "first login from <https://evil.example|NG>".into();
        a.title = "Title\nwith a break\u{202e}".into();
        let v = slack_message(&a);
        let all = v.to_string();
        for injected in [
            "<!channel>",
            "<https://",
            "<@U024",
            "<!here>",
            "\\r",
            "\\u001b",
        ] {
            assert!(!all.contains(injected), "{injected} in {all}");
        }
        let account = v["blocks"][1]["fields"][0]["text"].as_str().unwrap();
        assert_eq!(
            account,
            "*Account*\n&lt;!channel&gt; &lt;https://evil.example|Reset your password&gt; &amp; co  FAKE"
        );
        assert!(!v["text"].as_str().unwrap().contains('\n'), "{v}");
        assert!(!v["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains('\n'));
        let why = v["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(why.contains("&lt;https://evil.example|NG&gt;"), "{why}");
        let session = v["blocks"][1]["fields"][4]["text"].as_str().unwrap();
        assert_eq!(session, "*Session*\ns-1 [31m&lt;!here&gt;");
    }

    #[test]
    fn whsec_secret_is_base64_decoded_and_raw_is_kept() {
        // base64("a-24-byte-signing-key-ok")
        assert_eq!(
            decode_secret("whsec_YS0yNC1ieXRlLXNpZ25pbmcta2V5LW9r").unwrap(),
            b"a-24-byte-signing-key-ok"
        );
        assert_eq!(
            decode_secret("plain-raw-secret-of-24-b").unwrap(),
            b"plain-raw-secret-of-24-b"
        );
    }

    #[test]
    fn empty_malformed_and_short_secrets_are_refused() {
        assert_eq!(decode_secret(""), Err(WebhookSecretError::Empty));
        assert_eq!(decode_secret("whsec_"), Err(WebhookSecretError::Empty));
        assert_eq!(
            decode_secret("whsec_not base64!"),
            Err(WebhookSecretError::NotBase64)
        );
        assert_eq!(
            decode_secret("whsec_aGVsbG8="),
            Err(WebhookSecretError::TooShort(5))
        );
        assert_eq!(decode_secret("plain"), Err(WebhookSecretError::TooShort(5)));
    }

    #[test]
    fn signature_matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification's reference libraries.
        let secret = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn status_classification_retries_what_can_succeed_later() {
        use reqwest::StatusCode as S;
        assert!(DeliveryError::from_status(S::NO_CONTENT).is_ok());
        assert!(
            !DeliveryError::from_status(S::INTERNAL_SERVER_ERROR)
                .unwrap_err()
                .permanent
        );
        assert!(
            !DeliveryError::from_status(S::TOO_MANY_REQUESTS)
                .unwrap_err()
                .permanent
        );
        assert!(
            !DeliveryError::from_status(S::REQUEST_TIMEOUT)
                .unwrap_err()
                .permanent
        );
        assert!(DeliveryError::from_status(S::GONE).unwrap_err().permanent);
    }
}
