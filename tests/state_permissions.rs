//! The state directory holds account names, networks, revocations, alert bodies and dead
//! letters: it is `0700`, and every file the engine writes in it `0600`, including files and a
//! directory left wider by an older version.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tocsin::checkpoint::{CheckpointStore, Snapshot, SourceOffsets};
use tocsin::engine::RevocationState;
use tocsin::respond::outbox::{Job, Outbox, OutboxSettings, DEAD_LETTER_FILE};
use tocsin::respond::revoke::{NewRevocation, RevocationStore, Scope};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn job(n: u32) -> Job {
    Job {
        destination: "soc".into(),
        delivery_id: format!("msg_{n}"),
        body: format!("{{\"n\":{n}}}"),
        max_attempts: 1,
    }
}

fn exercise(state: &Path) {
    let store = Arc::new(RevocationStore::open(state, 3600, 0).unwrap());
    store
        .revoke(
            "rv_1".into(),
            NewRevocation {
                account: "dr.martin@cabinet-rouen".into(),
                session: None,
                scope: Scope::Account,
                reason: "test".into(),
                alert_id: None,
                ttl_ms: None,
            },
            0,
        )
        .unwrap();
    let mut outbox = Outbox::open(state, OutboxSettings::default()).unwrap();
    outbox.enqueue(job(1), 0).unwrap();
    let seq = outbox.enqueue(job(2), 0).unwrap();
    outbox.failed(seq, "HTTP 410", true, 0).unwrap();
    let offsets: SourceOffsets = [(("auth-events".to_string(), 0), 1)].into_iter().collect();
    CheckpointStore::new(state)
        .write(
            &offsets,
            &[("revocations", &RevocationState(store) as &dyn Snapshot)],
        )
        .unwrap();
}

fn assert_private(state: &Path) {
    assert_eq!(mode(state), 0o700, "the state directory");
    let mut files = 0;
    for e in std::fs::read_dir(state).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        files += 1;
    }
    assert_eq!(files, 4, "checkpoint, revocations, outbox, dead letters");
}

#[test]
fn the_state_directory_is_0700_and_every_file_in_it_0600() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    exercise(&state);
    assert_private(&state);
}

#[test]
fn state_left_world_readable_is_narrowed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let letters = state.join(DEAD_LETTER_FILE);
    std::fs::write(&letters, b"{\"old\":true}\n").unwrap();
    std::fs::set_permissions(&letters, std::fs::Permissions::from_mode(0o644)).unwrap();
    exercise(&state);
    assert_private(&state);
}
