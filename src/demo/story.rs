//! The demo told on a terminal: each step as it happens, then the summary. Colour only when
//! stdout is a terminal and `NO_COLOR` is unset; the words are the same either way.

use std::fmt::Display;
use std::io::Write;

use owo_colors::{OwoColorize, Style};

use super::{DemoReport, Note, Observer, TakeoverReport};
use crate::alert::{Alert, Severity};

/// False alerts shown one per line before the rest are only counted.
const FALSE_ALERTS_SHOWN: usize = 8;

/// Writes the story to `out`.
pub struct Story<W: Write> {
    out: W,
    colour: bool,
    false_alerts: usize,
}

impl<W: Write> Story<W> {
    /// A story on `out`, coloured or not.
    pub fn new(out: W, colour: bool) -> Story<W> {
        Story {
            out,
            colour,
            false_alerts: 0,
        }
    }

    fn paint(&self, s: impl Display, style: Style) -> String {
        if self.colour {
            s.style(style).to_string()
        } else {
            s.to_string()
        }
    }

    fn line(&mut self, s: &str) {
        // A closed stdout (`| head`) must not stop the demo half-way.
        let _ = writeln!(self.out, "{s}");
        let _ = self.out.flush();
    }

    fn severity(&self, s: Severity) -> String {
        let style = match s {
            Severity::Critical => Style::new().on_red().white().bold(),
            Severity::High => Style::new().red().bold(),
            Severity::Medium => Style::new().yellow(),
            Severity::Low => Style::new().dimmed(),
        };
        self.paint(format!("[{}]", s.as_str()), style)
    }

    fn takeover_alert(
        &mut self,
        alert: &Alert,
        attack: &crate::gen::AttackTruth,
        local: &str,
        zone: &str,
    ) {
        let bold = Style::new().bold();
        let dim = Style::new().dimmed();
        let head = format!(
            "  {}  {}  {} {} {}  risk {:.2}",
            self.paint(local, bold),
            self.paint("⚠ TAKEOVER", Style::new().red().bold()),
            self.paint(&alert.account, bold),
            self.severity(alert.severity),
            alert.rule,
            alert.risk,
        );
        self.line(&head);
        self.line(&format!("         {}", self.paint(&alert.title, dim)));
        let place = alert.geo.as_ref().map_or_else(
            || "unknown place".to_string(),
            |g| {
                let city = g.city.as_deref().unwrap_or("?");
                let country = g.country.as_deref().unwrap_or("?");
                let asn = match (g.asn, g.as_org.as_deref()) {
                    (Some(n), Some(org)) => format!(" — AS{n} {org}"),
                    (Some(n), None) => format!(" — AS{n}"),
                    _ => String::new(),
                };
                format!("{city}, {country}{asn}")
            },
        );
        let ip = alert.ip.map(|ip| format!(" ({ip})")).unwrap_or_default();
        self.line(&format!("         from    {place}{ip}"));
        if let Some(d) = &alert.device {
            self.line(&format!(
                "         device  {} on {} ({})",
                d.browser.as_deref().unwrap_or("?"),
                d.os.as_deref().unwrap_or("?"),
                d.kind.as_deref().unwrap_or("?"),
            ));
        }
        self.line(&format!(
            "         when    {local} local time ({zone}), {}",
            alert.ts
        ));
        for (i, r) in alert.reasons.iter().enumerate() {
            let label = if i == 0 { "why     " } else { "        " };
            let weight = r
                .weight
                .map(|w| format!("  {}", self.paint(format!("{w:+.1}"), Style::new().red())))
                .unwrap_or_default();
            let baseline = r
                .baseline
                .as_deref()
                .map(|b| format!(" {}", self.paint(format!("(baseline: {b})"), dim)))
                .unwrap_or_default();
            self.line(&format!("         {label}• {}{baseline}{weight}", r.text));
        }
        self.line(&format!(
            "         {}",
            self.paint(
                format!(
                    "ground truth: {} ({}), first attacker event at {}",
                    attack.id, attack.kind, attack.start
                ),
                dim
            )
        ));
    }

    fn summary(&mut self, r: &DemoReport) {
        let bold = Style::new().bold();
        let ok = Style::new().green().bold();
        let bad = Style::new().red().bold();
        self.line("");
        self.line(&self.paint("Summary", bold));
        self.line(&format!(
            "  events          {} on {} through Kafka, {} events/s; {} events of history learned",
            thousands(r.events),
            r.day,
            thousands(r.events_per_sec.round() as u64),
            thousands(r.history_events)
        ));
        if r.alerts_by_rule.is_empty() {
            self.line("  alerts          none");
        }
        for (i, (rule, n)) in r.alerts_by_rule.iter().enumerate() {
            let label = if i == 0 {
                "alerts by rule "
            } else {
                "               "
            };
            self.line(&format!("  {label} {n:>4}  {rule}"));
        }
        let detected = r.takeovers.iter().filter(|t| t.detected).count();
        let revoked = r.takeovers.iter().filter(|t| t.revoked).count();
        let n = r.takeovers.len();
        let style = if n > 0 && detected == n && revoked == n {
            ok
        } else {
            bad
        };
        self.line(&format!(
            "  takeovers       {}",
            self.paint(
                format!("{detected}/{n} detected, {revoked}/{n} revoked"),
                style
            )
        ));
        for t in &r.takeovers {
            self.line(&format!("                  {}", takeover_line(t)));
        }
        self.line(&format!(
            "  false alerts    {} (alerts matching no attack in the ground truth)",
            r.false_alerts
        ));
        let fr = if r.false_revocations == 0 { ok } else { bad };
        self.line(&format!(
            "  revocations     {} sessions revoked at the SaaS: {} of attackers, {}",
            r.revocations,
            r.true_revocations,
            self.paint(format!("{} of honest users", r.false_revocations), fr)
        ));
        self.line(&format!(
            "  webhooks        {} received by the SOC, {} signatures verified",
            r.webhooks_received, r.webhooks_verified
        ));
        self.line(&format!(
            "  shared signals  {} revoked sessions sent as CAEP session-revoked SETs, verified by the SaaS's SSF receiver",
            r.shared_signals_verified
        ));
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        self.line(&format!(
            "  latency         event produced → alert emitted ({} alerts): p50 {} · p90 {} · p99 {} · max {}",
            r.latency_ms.count,
            f(r.latency_ms.p50),
            f(r.latency_ms.p90),
            f(r.latency_ms.p99),
            f(r.latency_ms.max)
        ));
        self.line(&format!("  wall time       {:.1} s", r.wall_secs));
        for i in &r.incomplete {
            self.line(&format!(
                "  {}",
                self.paint(format!("incomplete: {i}"), bad)
            ));
        }
    }

    /// Prints the summary of a finished demo.
    pub fn finish(&mut self, report: &DemoReport) {
        self.summary(report);
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn takeover_line(t: &TakeoverReport) -> String {
    let mut s = format!("{} {} ", t.attack_id, t.account);
    if !t.detected {
        s.push_str("NOT detected");
        return s;
    }
    s.push_str(&format!("detected by {}", t.rule.as_deref().unwrap_or("?")));
    match (t.revoked, t.records_before_revocation) {
        (true, Some(n)) => s.push_str(&format!(
            ", revoked after {} of {} records",
            thousands(n),
            thousands(t.records_total)
        )),
        _ => s.push_str(&format!(
            ", not revoked ({} records read)",
            thousands(t.records_total)
        )),
    }
    if let Some(ms) = t.event_to_revocation_ms {
        s.push_str(&format!(", {ms:.0} ms event → revocation"));
    }
    s
}

impl<W: Write> Observer for Story<W> {
    fn note(&mut self, note: Note<'_>) {
        match note {
            Note::Alert {
                alert,
                takeover,
                local_time,
                zone,
                first,
            } => self.alert_note(alert, takeover, local_time, zone, first),
            Note::Webhook { .. }
            | Note::Revocation { .. }
            | Note::Check { .. }
            | Note::SharedSignal { .. } => self.delivery_note(note),
            _ => self.step_note(note),
        }
    }
}

impl<W: Write> Story<W> {
    /// The demo's steps: learning, joining, streaming, processed.
    fn step_note(&mut self, note: Note<'_>) {
        let step = Style::new().cyan().bold();
        let dim = Style::new().dimmed();
        let ok = Style::new().green().bold();
        match note {
            Note::Learning { days, accounts } => {
                self.line(&self.paint(
                    "Tocsin demo: a day of a medical SaaS, with a stolen-password takeover in it",
                    Style::new().bold(),
                ));
                self.line("");
                self.line(&format!(
                    "{} learning {days} days of history of {accounts} accounts through the pipeline…",
                    self.paint("▸", step)
                ));
            }
            Note::Learned {
                events,
                alerts,
                secs,
            } => {
                self.line(&format!(
                    "  {} {} events learned in {secs:.1} s (generation included); {alerts} alerts while learning, not sent",
                    self.paint("✓", ok),
                    thousands(events)
                ));
            }
            Note::Joining {
                brokers,
                soc,
                saas,
                api,
            } => {
                self.line(&format!(
                    "{} engine up, everything on loopback:",
                    self.paint("▸", step)
                ));
                self.line(&format!(
                    "    Kafka   librdkafka mock cluster at {brokers}, topic {}",
                    super::TOPIC
                ));
                self.line(&format!(
                    "    SOC     webhook receiver {soc} (checks signatures itself)"
                ));
                self.line(&format!("    SaaS    revocation endpoint {saas}"));
                self.line(&format!("    API     {api}"));
                self.line(&format!(
                    "  {}",
                    self.paint(
                        "waiting for the consumer group to get its partitions (the broker's initial rebalance delay, ~3 s)…",
                        dim
                    )
                ));
            }
            Note::Subscribed { stream_id } => self.line(&format!(
                "    SSF     the SaaS subscribed to shared signals (CAEP session-revoked, push stream {stream_id})"
            )),
            Note::Streaming { events, day, speed } => {
                let pace = if speed > 0.0 {
                    format!("at {speed}× event time")
                } else {
                    "as fast as possible".to_string()
                };
                self.line(&format!(
                    "{} streaming {day}: {} events produced to Kafka in event-time order, {pace}",
                    self.paint("▸", step),
                    thousands(events as u64)
                ));
                self.line("");
            }
            Note::Processed => {
                self.line(&format!(
                    "  {}",
                    self.paint(
                        "the engine has processed the whole day; waiting for the last deliveries",
                        dim
                    )
                ));
            }
            _ => {}
        }
    }

    /// An alert of the played day: the first on a takeover tells its story, a false one a line.
    fn alert_note(
        &mut self,
        alert: &Alert,
        takeover: Option<&crate::gen::AttackTruth>,
        local_time: &str,
        zone: &str,
        first: bool,
    ) {
        let dim = Style::new().dimmed();
        let bad = Style::new().red().bold();
        match takeover {
            Some(attack) if first => self.takeover_alert(alert, attack, local_time, zone),
            Some(attack) => self.line(&format!(
                "  {local_time}  {} same takeover ({}): {} {} {}",
                self.paint("⚠", bad),
                attack.id,
                alert.account,
                self.severity(alert.severity),
                alert.rule
            )),
            None => {
                self.false_alerts += 1;
                if self.false_alerts <= FALSE_ALERTS_SHOWN {
                    let place = alert
                        .geo
                        .as_ref()
                        .map(|g| {
                            format!(
                                "{}, {}",
                                g.city.as_deref().unwrap_or("?"),
                                g.country.as_deref().unwrap_or("?")
                            )
                        })
                        .unwrap_or_default();
                    self.line(&format!(
                        "  {local_time}  {} {} {} {} {}",
                        self.paint("·", dim),
                        alert.account,
                        self.severity(alert.severity),
                        alert.rule,
                        self.paint(
                            format!("{place} — no attack in the ground truth (false alert)"),
                            dim
                        )
                    ));
                } else if self.false_alerts == FALSE_ALERTS_SHOWN + 1 {
                    self.line(&self.paint(
                        "         … further false alerts are counted in the summary",
                        dim,
                    ));
                }
            }
        }
    }

    /// What reached the SOC, the SaaS and the API.
    fn delivery_note(&mut self, note: Note<'_>) {
        let dim = Style::new().dimmed();
        let ok = Style::new().green().bold();
        let bad = Style::new().red().bold();
        match note {
            Note::Webhook {
                webhook_id,
                alert,
                verified,
                takeover,
            } => {
                if !takeover && verified.is_ok() {
                    return;
                }
                let who = alert.map_or("?", |a| a.account.as_str());
                let check = match verified {
                    Ok(()) => self.paint("signature verified ✓", ok),
                    Err(e) => self.paint(format!("signature REJECTED ✗ ({e})"), bad),
                };
                self.line(&format!(
                    "         → SOC   signed alert on {who} received, {check}, webhook-id {webhook_id}"
                ));
            }
            Note::Revocation {
                account,
                session,
                scope,
                takeover,
                first,
            } => match takeover {
                _ if !first => {}
                Some(t) => {
                    self.line(&format!(
                        "         → SaaS  {} of {} {account} ({scope} scope)",
                        self.paint("revocation accepted", ok),
                        session.map_or("every session".to_string(), |s| format!("session {s}")),
                    ));
                    let ms = t
                        .event_to_revocation_ms
                        .map_or("?".to_string(), |ms| format!("{ms:.0} ms"));
                    let records = t
                        .records_before_revocation
                        .map_or("?".to_string(), thousands);
                    self.line(&format!(
                        "                 {} from the event being produced to the revocation; the attacker had read {} of the {} records it went on to touch",
                        self.paint(ms, Style::new().bold()),
                        self.paint(records, Style::new().bold()),
                        thousands(t.records_total)
                    ));
                }
                None => self.line(&format!(
                    "         {} SaaS revoked {} {account} on a false alert",
                    self.paint("!", bad),
                    session.unwrap_or("every session")
                )),
            },
            Note::SharedSignal {
                event,
                account,
                session,
                jti,
                verified,
            } => {
                let check = match verified {
                    Ok(()) => self.paint("signature verified against jwks_uri ✓", ok),
                    Err(e) => self.paint(format!("REFUSED ✗ ({e})"), bad),
                };
                self.line(&format!(
                    "         → SSF   CAEP {event} SET for {account} {} received, {check}, jti {jti}",
                    session.map_or("(every session)".to_string(), |s| format!("session {s}")),
                ));
            }
            Note::Check { request, answer } => {
                self.line(&format!("         → API   GET {request}"));
                self.line(&format!("                 {}", self.paint(answer, dim)));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(324_284), "324,284");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_missed_takeover_is_said_plainly() {
        let mut out = Vec::new();
        let mut story = Story::new(&mut out, false);
        let report = DemoReport {
            takeovers: vec![TakeoverReport {
                attack_id: "atk-001".into(),
                account: "dr.a@x".into(),
                records_total: 900,
                ..TakeoverReport::default()
            }],
            ..DemoReport::default()
        };
        story.finish(&report);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("0/1 detected, 0/1 revoked"), "{text}");
        assert!(text.contains("atk-001 dr.a@x NOT detected"), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour when not asked: {text}");
    }
}
