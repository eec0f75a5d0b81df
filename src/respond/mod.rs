//! Responding to alerts (issue 6): webhooks, revocation, the blast-radius guard.

pub mod guard;
