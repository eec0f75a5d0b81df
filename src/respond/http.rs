//! The HTTP client of every outbound call (alert webhooks, the operator's revocation endpoint).
//!
//! Redirects are never followed: a signed alert or a bearer token goes to the configured URL
//! and nowhere else, so a receiver (or whoever took its name) answering `307` cannot send them
//! to another server. A `3xx` is a failed attempt like a `5xx`, retried per the outbox's policy
//! and recorded. Which URLs are allowed (https, or http to loopback, or the opt-in) is checked
//! at configuration load (`settings::check_outbound_url`); this module stops at the client.

use std::time::Duration;

/// The client shared by every outbound destination.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("tocsin/", env!("CARGO_PKG_VERSION")))
        .build()
}
