//! Revocations across a crash: the revocation log, not the older checkpoint, decides what is in
//! force after a restart, and cursors served to `/v1/revocations?since=` pollers never go back.
//!
//! The crash is real: the test runs itself as a child process that revokes, checkpoints, revokes
//! by hand, lifts the first revocation, and aborts (no drop, no clean shutdown, like `kill -9`).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use tocsin::checkpoint::{CheckpointStore, Snapshot, SourceOffsets};
use tocsin::engine::RevocationState;
use tocsin::respond::revoke::{NewRevocation, RevocationStore, Scope};

const CHILD: &str = "TOCSIN_TEST_REVOCATION_CHILD";
const T0: i64 = 1_762_817_462_000;

fn new(account: &str, session: Option<&str>, scope: Scope) -> NewRevocation {
    NewRevocation {
        account: account.into(),
        session: session.map(Into::into),
        scope,
        reason: "test".into(),
        alert_id: None,
        ttl_ms: None,
    }
}

fn offsets() -> SourceOffsets {
    [(("auth-events".to_string(), 0), 42)].into_iter().collect()
}

/// The child's life: what it does before it dies.
fn live_and_crash(dir: &Path) -> ! {
    let store = Arc::new(RevocationStore::open(dir, 3600, T0).unwrap());
    store
        .revoke(
            "rv_auto".into(),
            new("dr.a", Some("s1"), Scope::Session),
            T0,
        )
        .unwrap();
    let part = RevocationState(store.clone());
    CheckpointStore::new(dir)
        .write(&offsets(), &[("revocations", &part as &dyn Snapshot)])
        .unwrap();
    store
        .revoke(
            "rv_manual".into(),
            new("dr.m", None, Scope::Account),
            T0 + 1,
        )
        .unwrap();
    store.lift("rv_auto", T0 + 2).unwrap();
    std::process::abort();
}

#[test]
fn a_restart_keeps_manual_revocations_and_lifts_made_after_the_checkpoint() {
    if let Ok(dir) = std::env::var(CHILD) {
        live_and_crash(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_restart_keeps_manual_revocations_and_lifts_made_after_the_checkpoint",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must crash, not exit");

    // The restart, in the engine's order: open the store (its log), then restore the checkpoint.
    let store = Arc::new(RevocationStore::open(dir.path(), 3600, T0 + 10).unwrap());
    let part = RevocationState(store.clone());
    let resumed = CheckpointStore::new(dir.path())
        .restore(&[("revocations", &part as &dyn Snapshot)])
        .unwrap();
    assert_eq!(resumed, Some(offsets()));

    let now = T0 + 20;
    let manual = store.check("dr.m", Some("any"), now);
    assert_eq!(
        manual.map(|r| r.id.clone()).as_deref(),
        Some("rv_manual"),
        "the manual revocation made after the checkpoint is in force"
    );
    assert!(
        store.check("dr.a", Some("s1"), now).is_none(),
        "the lift made after the checkpoint holds: the revocation does not come back"
    );
    assert!(store.get("rv_auto").unwrap().lifted_at.is_some());

    // A poller that read everything before the crash saw cursors 1 (revoke), 2 (manual) and
    // 3 (lift); what comes after the restart is strictly above.
    let mut seen = Vec::new();
    let next = store.list(0, 100, &mut seen);
    let cursors: Vec<u64> = seen.iter().map(|r| r.cursor).collect();
    assert_eq!(cursors, vec![2, 3]);
    assert_eq!(next, 3);
    let (fresh, _) = store
        .revoke("rv_after".into(), new("dr.b", None, Scope::Account), now)
        .unwrap();
    assert_eq!(
        fresh.cursor, 4,
        "cursors keep increasing across the restart"
    );
    let mut after = Vec::new();
    store.list(next, 100, &mut after);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, "rv_after");

    // And once more: a second restart from the same (old) checkpoint changes nothing.
    drop(store);
    let store = Arc::new(RevocationStore::open(dir.path(), 3600, now + 1).unwrap());
    let part = RevocationState(store.clone());
    CheckpointStore::new(dir.path())
        .restore(&[("revocations", &part as &dyn Snapshot)])
        .unwrap();
    assert_eq!(store.last_cursor(), 4);
    assert!(store.check("dr.a", Some("s1"), now + 2).is_none());
    assert!(store.check("dr.b", None, now + 2).is_some());
}

#[test]
fn a_checkpoint_restored_without_its_log_brings_its_revocations_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    {
        let store = Arc::new(RevocationStore::open(dir.path(), 3600, T0).unwrap());
        store
            .revoke("rv_1".into(), new("dr.a", None, Scope::Account), T0)
            .unwrap();
        store
            .revoke("rv_2".into(), new("dr.b", None, Scope::Account), T0)
            .unwrap();
        CheckpointStore::new(elsewhere.path())
            .write(
                &offsets(),
                &[("revocations", &RevocationState(store) as &dyn Snapshot)],
            )
            .unwrap();
    }
    // Another machine: the checkpoint without the log.
    let fresh_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RevocationStore::open(fresh_dir.path(), 3600, T0).unwrap());
    let part = RevocationState(store.clone());
    CheckpointStore::new(elsewhere.path())
        .restore(&[("revocations", &part as &dyn Snapshot)])
        .unwrap();
    assert!(store.check("dr.b", None, T0 + 1).is_some());
    assert_eq!(store.last_cursor(), 2);
    // Taken into the log: a restart without the checkpoint keeps them.
    drop(part);
    drop(store);
    let store = RevocationStore::open(fresh_dir.path(), 3600, T0 + 2).unwrap();
    assert_eq!(store.len(), 2);
}
